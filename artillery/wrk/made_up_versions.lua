-- wrk: a flood of reads asking for versions no one wrote: GET
-- /reviews/<product>?min_version=<product>:<version>, each request a new
-- version far above any the store has reached (scripts/bench-versions.sh).
-- Usage: wrk -s made_up_versions.lua http://127.0.0.1:3000 -- [product]
local product = 1
local version = 0

function init(args)
  product = tonumber(args[1]) or product
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
  version = 1000000000000 + math.random(1, 1000000000) * 1000
end

function request()
  version = version + 1
  return wrk.format("GET", "/reviews/" .. product .. "?min_version=" .. product .. ":" .. version)
end
