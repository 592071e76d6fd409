-- The steady-state scenarios of the benchmark harness, for wrk:
--
--   wrk -t2 -c16 -d10s -s scenario.lua URL -- SCENARIO DATA_DIR BASE_PATH TOKEN
--
-- DATA_DIR holds what seeding left: `ids` and `names` (one user per line, same order),
-- `group` (the id of the group of 1,000 members) and `patch_group` (an id of a group to
-- add and remove members on). BASE_PATH is the SCIM base path on the server
-- (`/realms/bench/scim/v2`). At the end, one JSON line with the figures is printed.

local scenario, data, base, token
local ids, names
local counter = 0
local bodies = {}

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

-- The lines of a file of equal-length lines, kept as one string. A table of a million
-- strings made every garbage collection of the load generator pause its thread for
-- ~100 ms, which showed up as the server's p99 at a million users.
local function records(path)
  local file = assert(io.open(path, "rb"))
  local blob = file:read("*a")
  file:close()
  local width = assert(blob:find("\n", 1, true), path .. " is empty") - 1
  assert(#blob % (width + 1) == 0, path .. ": lines of different lengths")
  return {
    n = #blob / (width + 1),
    at = function(i)
      local from = (i - 1) * (width + 1) + 1
      return blob:sub(from, from + width - 1)
    end,
  }
end

local function user_body(name)
  return '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","externalId":"' .. name .. '","name":{"givenName":"Bench","familyName":"User"},' ..
    '"emails":[{"value":"' .. name .. '@bench.example","type":"work","primary":true}],"active":true}'
end

local function members_body(from, to)
  local members = {}
  for i = from, to do members[#members + 1] = '{"value":"' .. ids.at(i) .. '"}' end
  return '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"bench-1000",' ..
    '"externalId":"bench-1000","members":[' .. table.concat(members, ",") .. ']}'
end

-- Seeded per run: the warm-up and the measured run of a scenario must not make the same
-- "new" users (each thread's names carry its random id).
math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1e6))

function setup(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
end

function init(args)
  scenario, data, base, token = args[1], args[2], args[3], args[4]
  ids = records(data .. "/ids")
  names = records(data .. "/names")
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/scim+json"
  math.randomseed(tonumber(wrk.thread:get("id")))
  if scenario == "put_group" then
    -- Two member lists that differ in 10 members: each PUT swaps 10 out and 10 in.
    bodies[0] = members_body(1, 1000)
    bodies[1] = members_body(11, 1010)
    group = lines(data .. "/group")[1]
  elseif scenario == "patch_member" then
    group = lines(data .. "/patch_group")[1]
  end
end

local function pick()
  return math.random(1, ids.n)
end

function request()
  counter = counter + 1
  if scenario == "health" then
    -- No guest, no store: the floor this machine and wrk set under the other figures.
    return wrk.format("GET", "/healthz")
  elseif scenario == "get" then
    return wrk.format("GET", base .. "/Users/" .. ids.at(pick()))
  elseif scenario == "filter" then
    return wrk.format("GET", base .. "/Users?filter=userName%20eq%20%22" .. names.at(pick()) .. "%22&count=10")
  elseif scenario == "list" then
    local start = math.random(1, math.max(1, ids.n - 100))
    return wrk.format("GET", base .. "/Users?startIndex=" .. start .. "&count=100")
  elseif scenario == "list_in_order" then
    -- One connection per thread (run with -t equal to -c), paging forward as an IdP's
    -- import does, from a random page, wrapping at the end.
    if not next_start or next_start > ids.n then
      next_start = next_start and 1 or (math.random(0, math.floor(ids.n / 100)) * 100 + 1)
    end
    local start = next_start
    next_start = next_start + 100
    return wrk.format("GET", base .. "/Users?startIndex=" .. start .. "&count=100")
  elseif scenario == "post_new" then
    local name = "new-" .. wrk.thread:get("id") .. "-" .. counter
    return wrk.format("POST", base .. "/Users", nil, user_body(name))
  elseif scenario == "post_new_realms" then
    -- The same, each request to one of ten realms (bench0 … bench9) in turn.
    local name = "new-" .. wrk.thread:get("id") .. "-" .. counter
    local realm_base = base:gsub("/realms/bench/", "/realms/bench" .. (counter % 10) .. "/")
    return wrk.format("POST", realm_base .. "/Users", nil, user_body(name))
  elseif scenario == "post_existing" then
    return wrk.format("POST", base .. "/Users", nil, user_body(names.at(pick())))
  elseif scenario == "put_group" then
    return wrk.format("PUT", base .. "/Groups/" .. group, nil, bodies[counter % 2])
  elseif scenario == "patch_member" then
    local op = (counter % 2 == 0) and "remove" or "add"
    local id = ids.at(pick())
    local body
    if op == "add" then
      body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"' .. id .. '"}]}]}'
    else
      body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \\"' .. id .. '\\"]"}]}'
    end
    return wrk.format("PATCH", base .. "/Groups/" .. group, nil, body)
  end
  error("unknown scenario " .. tostring(scenario))
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
