-- A token bucket per caller, on Redis's clock (every web worker sees the same time): rate tokens a
-- second, at most burst at once. take(key, rate, burst, n) takes n (default 1; at most burst, so a
-- request larger than the burst can still pass once the bucket is full): 0 if it could, else the
-- milliseconds until there are enough, taking nothing. Shared by the rate limiter and the
-- sale-recording script.
local function take(key, rate, burst, n)
  n = math.min(n or 1, burst)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  local wait = 0
  if tokens >= n then tokens = tokens - n else wait = math.ceil((n - tokens) / rate * 1000) end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  return wait
end
