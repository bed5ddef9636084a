-- wrk: the storefront mix (artillery/README.md) as single requests.
-- Usage: wrk -s storefront.lua URL -- <products> <records>
local products, records = 100000, 1000000
local body = '{"rating":4,"summary":"Load test review","body":"Written by the wrk storefront script to exercise the write path under load.","recommend":true,"name":"wrk","email":"load@example.com"}'

function init(args)
  products = tonumber(args[1]) or products
  records = tonumber(args[2]) or products * 10
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
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
