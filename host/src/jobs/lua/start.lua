-- A worker took a queue entry: run it (status running, one more attempt), skip it (finished or
-- cancelled, or gone), or give up on it (max attempts reached: the worker fails it).
-- KEYS: job hash, queue stream
-- ARGV: entry id, group, now ms, max attempts, waiting-set key prefix
local st = redis.call('HGET', KEYS[1], 'status')
if (not st) or st == 'done' or st == 'failed' or st == 'cancelled' then
  redis.call('XACK', KEYS[2], ARGV[2], ARGV[1])
  redis.call('XDEL', KEYS[2], ARGV[1])
  return {'skip'}
end
local f = redis.call('HMGET', KEYS[1], 'function', 'tenant', 'caller', 'callback', 'created',
  'attempts', 'head', 'body')
local attempts = tonumber(f[6] or '0')
local verdict = 'run'
if attempts >= tonumber(ARGV[4]) then
  verdict = 'dead'
else
  attempts = attempts + 1
  redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[3], 'attempts', attempts)
end
redis.call('ZREM', ARGV[5] .. f[1], string.match(KEYS[1], '[^:]+$'))
return {verdict, f[1], f[2], f[3], f[4], f[5], attempts, f[7], f[8]}
