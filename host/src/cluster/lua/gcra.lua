-- One request against a tenant's bucket (GCRA: the key holds the theoretical arrival time, µs,
-- on Redis's clock, so nodes' clocks do not matter). Returns 0 when admitted, else the µs
-- until a request would be.
-- KEYS: the tenant's bucket
-- ARGV: µs per request (60e6 / requests_per_minute), burst
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local after = tat + interval
if after - now > tolerance then
  return after - now - tolerance
end
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.ceil((after - now) / 1000) + 1)
return 0
