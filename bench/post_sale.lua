-- wrk script: POST one valid sale per request, each with a fresh external_id.
-- Environment: SALESYNC_TOKEN (a till token), SALESYNC_PRODUCTS (comma-separated product ids),
-- SALESYNC_BATCH (sales per request: 1 posts the body of /api/sales/, more builds {"sales": [...]}).
local token = os.getenv("SALESYNC_TOKEN")
local batch = tonumber(os.getenv("SALESYNC_BATCH") or "1")
local products = {}
for id in string.gmatch(os.getenv("SALESYNC_PRODUCTS") or "1", "%d+") do
  products[#products + 1] = id
end

local threads = {}
local counter = 0
local prefix = ""
statuses = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  -- Seed from the clock and this thread's own Lua state, and put a per-thread random prefix in
  -- front of a counter: ids are unique within a thread and, with 2^48 prefixes, across them.
  local seed = os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000 + thread_no * 7919
  math.randomseed(seed)
  prefix = string.format("%08x-%04x-4%03x-", math.random(0, 0x7fffffff), math.random(0, 0xffff),
                         math.random(0, 0xfff))
  statuses = {}
end

local function external_id()
  counter = counter + 1
  return string.format("%s%04x-%012x", prefix, 0x8000 + math.random(0, 0x3fff), counter)
end

local function sale()
  local product = products[math.random(#products)]
  local hot = products[math.random(math.min(5, #products))]
  return string.format('{"external_id":"%s","source_device":"wrk","items":[' ..
    '{"product":%s,"quantity":"1","unit_price":"2.50"},{"product":%s,"quantity":"2"}]}',
    external_id(), product, hot)
end

function request()
  local body
  if batch <= 1 then
    body = sale()
  else
    local sales = {}
    for i = 1, batch do sales[i] = sale() end
    body = '{"sales":[' .. table.concat(sales, ",") .. ']}'
  end
  local path = batch <= 1 and "/api/sales/" or "/api/sales/batch/"
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
                                   ["Authorization"] = "Token " .. token}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, n in pairs(s) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {}
  for status, n in pairs(counts) do parts[#parts + 1] = string.format('"%d":%d', status, n) end
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"mean_us":%.1f,"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99), latency.mean,
    table.concat(parts, ",")))
end
