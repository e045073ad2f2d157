-- Cancels a job that is still queued; 1 if it was.
-- KEYS: job hash, active counts
-- ARGV: now ms, keep ms, waiting-set key prefix, job id
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished', ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'tenant', 'function')
redis.call('HDEL', KEYS[1], 'head', 'body')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], '*', -1)
redis.call('HINCRBY', KEYS[2], f[1] or '', -1)
redis.call('ZREM', ARGV[3] .. f[2], ARGV[4])
return 1
