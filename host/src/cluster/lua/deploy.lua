-- A new version N+1 of one function, made current; versions beyond `keep` (never the current)
-- and blobs no version uses any more are deleted.
-- KEYS: function hash, function set, log, blob refs, blob, log sequence
-- ARGV: expected sequence, spec JSON, sha256, "tenant/name", keep, log max length, blob key
--       prefix, node id
local fn, fns, log, refs, blob, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if current_seq(seq) ~= tonumber(ARGV[1]) then return {'stale'} end
if redis.call('EXISTS', blob) == 0 then return {'no_blob'} end
local v = redis.call('HINCRBY', fn, 'next', 1)
redis.call('HSET', fn, 'v:' .. v, ARGV[2], 'current', v)
redis.call('SADD', fns, ARGV[4])
redis.call('PERSIST', blob)
redis.call('HINCRBY', refs, ARGV[3], 1)
local all = versions(fn)
for i = 1, #all - tonumber(ARGV[5]) do
  if all[i] ~= v then
    local sha = sha_of(fn, all[i])
    redis.call('HDEL', fn, 'v:' .. all[i])
    unref(refs, ARGV[7], sha)
  end
end
local id, n = append(log, seq, ARGV[6], ARGV[4], 'deploy', v, ARGV[8])
return {'ok', id, n, v}
