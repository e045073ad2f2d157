-- Makes an earlier version current again.
-- KEYS: function hash, log, log sequence
-- ARGV: expected sequence, version, "tenant/name", log max length, node id
local fn, log, seq = KEYS[1], KEYS[2], KEYS[3]
if current_seq(seq) ~= tonumber(ARGV[1]) then return {'stale'} end
if redis.call('HEXISTS', fn, 'v:' .. ARGV[2]) == 0 then return {'gone'} end
redis.call('HSET', fn, 'current', ARGV[2])
local id, n = append(log, seq, ARGV[4], ARGV[3], 'rollback', ARGV[2], ARGV[5])
return {'ok', id, n, tonumber(ARGV[2])}
