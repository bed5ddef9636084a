-- wrk: the storefront mix (artillery/README.md) as single requests.
-- Usage: wrk -s storefront.lua URL -- <products> <records> <rated> [posts]
-- <rated>: the file `artillery/characteristics.py wrk URL <products> mix`
-- (or `posts`) wrote from the service's meta: the products to post reviews
-- to, drawn as the mix draws them, each with its characteristic ids. Each
-- new review rates every characteristic of its product (1 to 5 at random),
-- as the API requires. With `posts`, every request is a new review (what
-- scripts/bench-backends.sh measures a store's writes with).
--
-- Besides wrk's own summary it prints one line `wrk-run {...}` (JSON) when
-- the run is done: its measured duration, requests, socket errors, every
-- status answered with its count, and wrk's whole latency histogram
-- ([microseconds, count] pairs), so artillery/report.py can merge several
-- runs into exact percentiles and count statuses one by one.
local products, records = 100000, 1000000
local posts_only = false
local text = '"rating":4,"summary":"Load test review","body":"Written by the wrk storefront script to exercise the write path under load.","recommend":true,"name":"wrk","email":"load@example.com"'
-- { product, ids }: the products to post to, with their characteristic ids.
local rated = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- The products of the file <rated>, each with its characteristic ids.
local function read_rated(path)
  local file = path and io.open(path)
  if not file then
    error("storefront.lua: give the file of characteristics as the third argument "
      .. "(artillery/characteristics.py wrk URL PRODUCTS mix > FILE); got " .. tostring(path))
  end
  for line in file:lines() do
    local product, list = line:match("^(%d+) ([%d,]*)$")
    if not product then error("storefront.lua: not a line of characteristics: " .. line) end
    local ids = {}
    for id in list:gmatch("%d+") do table.insert(ids, id) end
    table.insert(rated, { product = product, ids = ids })
  end
  file:close()
  if #rated == 0 then error("storefront.lua: no products in " .. path) end
end

function init(args)
  products = tonumber(args[1]) or products
  records = tonumber(args[2]) or products * 10
  read_rated(args[3])
  posts_only = args[4] == "posts"
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  statuses = {}
end

-- A new review of one of the products of <rated>, rating each of its
-- characteristics (none for a service whose meta has none).
local function post()
  local to = rated[math.random(#rated)]
  local body = "{" .. text
  if #to.ids > 0 then
    local each = {}
    for i, id in ipairs(to.ids) do each[i] = '"' .. id .. '":' .. math.random(1, 5) end
    body = body .. ',"characteristics":{' .. table.concat(each, ",") .. "}"
  end
  return wrk.format("POST", "/reviews/" .. to.product, { ["Content-Type"] = "application/json" }, body .. "}")
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
    return post()
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
  return post()
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
