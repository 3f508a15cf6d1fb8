-- Records a sale and queues it for apply in one atomic step, so a sale that got 202 is never
-- recorded without being queued (or queued without being recorded).
-- KEYS[1] the sale's record hash, KEYS[2] the apply stream, KEYS[3] the drain-kick marker
-- ARGV[1] fingerprint, ARGV[2] device, ARGV[3] received_at, ARGV[4] external_id,
-- ARGV[5] the sale as JSON, ARGV[6] milliseconds between drain kicks
-- Optionally KEYS[4] the caller's rate-limit bucket, ARGV[7] its rate, ARGV[8] its burst: one
-- round trip both counts the request and records the sale (take() comes from token_bucket.lua).
if KEYS[4] then
  local wait = take(KEYS[4], tonumber(ARGV[7]), tonumber(ARGV[8]))
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
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'device', ARGV[2], 'received_at', ARGV[3], 'status', 'queued')
redis.call('XADD', KEYS[2], '*', 'external_id', ARGV[4], 'sale', ARGV[5])
local kick = redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[6])
if kick then
  return {'new', 1}
end
return {'new', 0}
