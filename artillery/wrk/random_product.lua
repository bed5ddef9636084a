-- wrk: GET /reviews/<random product> over the whole data set.
-- Usage: wrk -s random_product.lua http://127.0.0.1:3000 -- <products> [query]
local products = 1000000
local query = ""

function init(args)
  products = tonumber(args[1]) or products
  query = args[2] or ""
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  local id = math.random(1, products)
  return wrk.format("GET", "/reviews/" .. id .. query)
end
