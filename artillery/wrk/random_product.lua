-- wrk: GET /reviews/<random product> over the whole data set.
-- Usage: wrk -s random_product.lua http://127.0.0.1:3000 -- <products> [suffix] [prefix]
--   suffix: after the id (a query such as "?sort=newest", or "/meta")
--   prefix: before the id (default "/reviews/"; the Atelier list is
--           "/reviews?product_id=", its meta "/reviews/meta?product_id=")
local products = 1000000
local suffix = ""
local prefix = "/reviews/"

function init(args)
  products = tonumber(args[1]) or products
  suffix = args[2] or ""
  prefix = args[3] or prefix
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
  local id = math.random(1, products)
  return wrk.format("GET", prefix .. id .. suffix)
end
