-- After Redis lost its data: a node offers the version it serves of a function the registry
-- no longer knows. The first offer wins; later ones change nothing.
-- KEYS: function hash, function set, log, blob refs, blob, log sequence
-- ARGV: version, spec JSON, sha256, "tenant/name", log max length, node id
local fn, fns, log, refs, blob, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
if redis.call('EXISTS', fn) == 1 then return {'exists'} end
if redis.call('EXISTS', blob) == 0 then return {'no_blob'} end
redis.call('HSET', fn, 'v:' .. ARGV[1], ARGV[2], 'current', ARGV[1], 'next', ARGV[1])
redis.call('SADD', fns, ARGV[4])
redis.call('PERSIST', blob)
redis.call('HINCRBY', refs, ARGV[3], 1)
local id, n = append(log, seq, ARGV[5], ARGV[4], 'seed', ARGV[1], ARGV[6])
return {'ok', id, n, tonumber(ARGV[1])}
