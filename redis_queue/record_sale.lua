-- Records a sale and queues it for apply in one atomic step, so a sale that got 202 is never
-- recorded without being queued (or queued without being recorded).
-- KEYS[1] the sale's record hash, KEYS[2] the apply stream, KEYS[3] the drain-kick marker,
-- KEYS[4] the device's queued sales (a sorted set: external_id by received time)
-- ARGV[1] fingerprint, ARGV[2] device, ARGV[3] received_at, ARGV[4] external_id,
-- ARGV[5] the sale as JSON, ARGV[6] milliseconds between drain kicks,
-- ARGV[7] the most sales the stream may hold, ARGV[8] the share of maxmemory above which
-- nothing new is recorded (take() comes from token_bucket.lua), ARGV[9] received_at as Unix seconds.
-- Optionally KEYS[5] the caller's request bucket (ARGV[10] rate, ARGV[11] burst) and KEYS[6]
-- its sales bucket (ARGV[12] rate, ARGV[13] burst): one round trip both counts the request
-- and records the sale.
if KEYS[5] then
  local wait = take(KEYS[5], tonumber(ARGV[10]), tonumber(ARGV[11]))
  if wait == 0 and KEYS[6] then
    wait = take(KEYS[6], tonumber(ARGV[12]), tonumber(ARGV[13]))
  end
  if wait > 0 then
    return {'limited', wait}
  end
end
local known = redis.call('HGET', KEYS[1], 'fingerprint')
if known then
  if known ~= ARGV[1] then
    return {'conflict'}
  end
  return {'repeat', redis.call('HGETALL', KEYS[1])}
end
-- Push back before Redis is full: the drain (stream reads, acknowledgements, status writes,
-- Celery's triggers) must always find room to run, or nothing is ever freed again.
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[7]) then
  return {'full', 'queue'}
end
local memory = redis.call('INFO', 'memory')
local limit = tonumber(string.match(memory, 'maxmemory:(%d+)'))
if limit > 0 and tonumber(string.match(memory, 'used_memory:(%d+)')) >= limit * tonumber(ARGV[8]) then
  return {'full', 'memory'}
end
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'device', ARGV[2], 'received_at', ARGV[3], 'status', 'queued')
redis.call('XADD', KEYS[2], '*', 'external_id', ARGV[4], 'sale', ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[9], ARGV[4])
local kick = redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[6])
if kick then
  return {'new', 1}
end
return {'new', 0}
