-- Queues a job unless the queue (in all, or the tenant's share) is full.
-- KEYS: job hash, queue stream, active counts (hash: tenant → jobs queued or running, '*' all),
--       waiting set of the function (id by creation time), the set of functions with jobs
-- ARGV: id, tenant ('' = the operator), max in all, max per tenant, created ms, function,
--       request head JSON, request body, caller, callback, keep ms
if tonumber(redis.call('HGET', KEYS[3], '*') or '0') >= tonumber(ARGV[3]) then return 'full' end
if tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0') >= tonumber(ARGV[4]) then return 'tenant_full' end
redis.call('HINCRBY', KEYS[3], '*', 1)
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HSET', KEYS[1], 'status', 'queued', 'tenant', ARGV[2], 'created', ARGV[5],
  'function', ARGV[6], 'head', ARGV[7], 'body', ARGV[8], 'caller', ARGV[9],
  'callback', ARGV[10], 'attempts', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[11])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[6])
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
return 'ok'
