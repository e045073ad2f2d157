-- Shared by the registry's scripts (prepended to each). Every change checks the log's sequence
-- number against the one the node last applied, so a node only commits on top of the state it
-- has seen; every change appends one log entry with the next sequence number.
local function current_seq(seq)
  return tonumber(redis.call('GET', seq) or '0')
end

local function append(log, seq, maxlen, member, op, version, node)
  local n = redis.call('INCR', seq)
  local id = redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*',
    'fn', member, 'op', op, 'version', version, 'seq', n, 'node', node)
  return id, n
end

-- A component's blob lives while some version refers to it.
local function unref(refs, prefix, sha)
  if redis.call('HINCRBY', refs, sha, -1) <= 0 then
    redis.call('HDEL', refs, sha)
    redis.call('DEL', prefix .. sha)
  end
end

-- A function's version numbers, ascending.
local function versions(fn)
  local out = {}
  for _, k in ipairs(redis.call('HKEYS', fn)) do
    local v = string.match(k, '^v:(%d+)$')
    if v then table.insert(out, tonumber(v)) end
  end
  table.sort(out)
  return out
end

local function sha_of(fn, v)
  return cjson.decode(redis.call('HGET', fn, 'v:' .. v)).sha256
end
