-- wrk: the storefront mix (artillery/README.md) as single requests.
-- Usage: wrk -s storefront.lua URL -- <products> <records> [posts]
-- With `posts`, every request is a new review (what scripts/bench-backends.sh
-- measures a store's writes with).
--
-- Besides wrk's own summary it prints one line `wrk-run {...}` (JSON) when
-- the run is done: its measured duration, requests, socket errors, every
-- status answered with its count, and wrk's whole latency histogram
-- ([microseconds, count] pairs), so artillery/report.py can merge several
-- runs into exact percentiles and count statuses one by one.
local products, records = 100000, 1000000
local posts_only = false
local body = '{"rating":4,"summary":"Load test review","body":"Written by the wrk storefront script to exercise the write path under load.","recommend":true,"name":"wrk","email":"load@example.com"}'
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  products = tonumber(args[1]) or products
  records = tonumber(args[2]) or products * 10
  posts_only = args[3] == "posts"
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  statuses = {}
end

local function product()
  local hot = math.max(1, math.floor(products / 100))
  if math.random() < 0.8 then
    return math.random(1, hot)
  end
  return math.random(math.floor(products * 0.9) + 1, products)
end

local sorts = { "relevant", "relevant", "relevant", "newest", "helpful" }

function request()
  if posts_only then
    return wrk.format("POST", "/reviews/" .. math.random(1, products), { ["Content-Type"] = "application/json" }, body)
  end
  local r = math.random()
  local id = product()
  if r < 0.70 then
    local page = math.random() < 0.6 and 1 or math.random(2, 3)
    return wrk.format("GET", "/reviews/" .. id .. "?page=" .. page .. "&sort=" .. sorts[math.random(#sorts)])
  elseif r < 0.98 then
    return wrk.format("GET", "/reviews/" .. id .. "/meta")
  elseif r < 0.99 then
    return wrk.format("PUT", "/reviews/" .. math.random(1, records) .. "/helpful")
  end
  return wrk.format("POST", "/reviews/" .. id, { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local out = {}
  for status, n in pairs(counts) do
    table.insert(out, string.format('"%d":%d', status, n))
  end
  local hist = {}
  for i = 1, #latency do
    local us, n = latency(i)
    table.insert(hist, string.format("[%d,%d]", us, n))
  end
  local e = summary.errors
  io.write(string.format(
    'wrk-run {"duration_us":%d,"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"statuses":{%s},"latency_us":[%s]}\n',
    summary.duration, summary.requests, e.connect, e.read, e.write, e.timeout,
    table.concat(out, ","), table.concat(hist, ",")))
end
