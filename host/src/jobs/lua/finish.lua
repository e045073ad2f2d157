-- A run's outcome; the first one reported is kept, a later run of the same job changes nothing.
-- KEYS: job hash, queue stream, active counts, dead-letter stream
-- ARGV: entry id, group, status (done|failed), now ms, response head JSON, response body,
--       error, keep ms, dead ('1' when given up after max attempts), job id
local st = redis.call('HGET', KEYS[1], 'status')
redis.call('XACK', KEYS[2], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[1])
if (not st) or st == 'done' or st == 'failed' or st == 'cancelled' then return 0 end
if ARGV[3] == 'done' then
  redis.call('HSET', KEYS[1], 'status', 'done', 'finished', ARGV[4], 'response', ARGV[5],
    'response_body', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'finished', ARGV[4], 'error', ARGV[7])
end
redis.call('HDEL', KEYS[1], 'head', 'body')
redis.call('PEXPIRE', KEYS[1], ARGV[8])
local tenant = redis.call('HGET', KEYS[1], 'tenant') or ''
redis.call('HINCRBY', KEYS[3], '*', -1)
redis.call('HINCRBY', KEYS[3], tenant, -1)
if ARGV[9] == '1' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', 10000, '*', 'id', ARGV[10], 'error', ARGV[7])
end
return 1
