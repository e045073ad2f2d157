-- A node says it is alive (on Redis's clock); nodes silent for a day are forgotten.
-- KEYS: node details hash, last-seen sorted set, log sequence
-- ARGV: node id, details JSON, node ttl ms
-- Returns the live nodes and the log's sequence number.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 86400000)) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local live = redis.call('ZCOUNT', KEYS[2], now - tonumber(ARGV[3]), '+inf')
return {live, tonumber(redis.call('GET', KEYS[3]) or '0')}
