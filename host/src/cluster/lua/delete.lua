-- Forgets a function and every version of it.
-- KEYS: function hash, function set, log, blob refs, log sequence
-- ARGV: expected sequence, "tenant/name", log max length, blob key prefix, node id
local fn, fns, log, refs, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if current_seq(seq) ~= tonumber(ARGV[1]) then return {'stale'} end
if redis.call('EXISTS', fn) == 0 then return {'gone'} end
for _, v in ipairs(versions(fn)) do
  unref(refs, ARGV[4], sha_of(fn, v))
end
redis.call('DEL', fn)
redis.call('SREM', fns, ARGV[2])
local id, n = append(log, seq, ARGV[3], ARGV[2], 'delete', 0, ARGV[5])
return {'ok', id, n, 0}
