-- wrk: GET /reviews/<random product>?rating=<random star> over the largest
-- products (the lowest ids: the generator gives them the most reviews).
-- Usage: wrk -s filtered.lua http://127.0.0.1:3000 -- <products>
local products = 100

function init(args)
  products = tonumber(args[1]) or products
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  local id = math.random(1, products)
  return wrk.format("GET", "/reviews/" .. id .. "?rating=" .. math.random(1, 5))
end
