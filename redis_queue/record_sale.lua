-- Records sales and queues them for apply, each in one atomic step with its record, so a sale that
-- got 202 is never recorded without being queued (or queued without being recorded). One call
-- records the one sale of POST /api/sales/ or up to RECORD_CHUNK sales of a batch: one script run
-- for all of them, in order, so a repeat within the call is recognised as one.
-- KEYS[1] the apply stream, KEYS[2] the drain-kick marker; for sale i (from 0) KEYS[3 + 2i] its
-- record hash and KEYS[4 + 2i] its device's queued sales (a sorted set: external_id by received time).
-- ARGV[1] how many sales (n), ARGV[2] milliseconds between drain kicks, ARGV[3] the most sales the
-- stream may hold, ARGV[4] the share of maxmemory above which nothing new is recorded; for sale i
-- ARGV[5 + 6i] ... ARGV[10 + 6i]: fingerprint, device, received_at, external_id, the sale as JSON,
-- received_at as Unix seconds.
-- Optionally, after the sales' keys, the caller's request bucket and its sales bucket (KEYS[3 + 2n],
-- KEYS[4 + 2n]; rate and burst of each after the sales' arguments; take() comes from
-- token_bucket.lua): one round trip both counts the request and records its sale.
-- Answers {'limited', wait_ms} (nothing recorded), or {kick, answers}: kick 1 if a drain should be
-- triggered now, and for each sale {'new'}, {'repeat', record}, {'conflict'} or {'full', what}.
local n = tonumber(ARGV[1])
local bucket = 3 + 2 * n
if KEYS[bucket] then
  local after = 5 + 6 * n
  local wait = take(KEYS[bucket], tonumber(ARGV[after]), tonumber(ARGV[after + 1]))
  if wait == 0 and KEYS[bucket + 1] then
    wait = take(KEYS[bucket + 1], tonumber(ARGV[after + 2]), tonumber(ARGV[after + 3]))
  end
  if wait > 0 then
    return {'limited', wait}
  end
end
-- Push back before Redis is full: the drain (stream reads, acknowledgements, status writes,
-- Celery's triggers) must always find room to run, or nothing is ever freed again. Memory is read
-- once a call (a call adds at most RECORD_CHUNK sales), the stream's length counted as it grows.
local queued = redis.call('XLEN', KEYS[1])
local memory_full = nil
local answers = {}
local recorded = false
for i = 0, n - 1 do
  local record, device_queue, a = KEYS[3 + 2 * i], KEYS[4 + 2 * i], 5 + 6 * i
  local known = redis.call('HGET', record, 'fingerprint')
  if known then
    if known ~= ARGV[a] then
      answers[i + 1] = {'conflict'}
    else
      answers[i + 1] = {'repeat', redis.call('HGETALL', record)}
    end
  elseif queued >= tonumber(ARGV[3]) then
    answers[i + 1] = {'full', 'queue'}
  else
    if memory_full == nil then
      local info = redis.call('INFO', 'memory')
      local limit = tonumber(string.match(info, 'maxmemory:(%d+)'))
      memory_full = limit > 0 and tonumber(string.match(info, 'used_memory:(%d+)')) >= limit * tonumber(ARGV[4])
    end
    if memory_full then
      answers[i + 1] = {'full', 'memory'}
    else
      redis.call('HSET', record, 'fingerprint', ARGV[a], 'device', ARGV[a + 1], 'received_at', ARGV[a + 2],
        'status', 'queued')
      redis.call('XADD', KEYS[1], '*', 'external_id', ARGV[a + 3], 'sale', ARGV[a + 4])
      redis.call('ZADD', device_queue, ARGV[a + 5], ARGV[a + 3])
      queued = queued + 1
      recorded = true
      answers[i + 1] = {'new'}
    end
  end
end
local kick = 0
if recorded and redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  kick = 1
end
return {kick, answers}
