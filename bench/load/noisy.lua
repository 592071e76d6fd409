-- A neighbour at full speed: every request misbehaves, in turn: loops until its deadline,
-- eats memory, traps, writes then loops, sleeps in WASI.
--
--   wrk -t1 -c16 -d20s --timeout 30s -s noisy.lua URL -- BASE_PATH TOKEN

local paths = { "/loop", "/eat", "/trap", "/write-then-loop", "/sleep" }
local base
local counter = 0

function init(args)
  base = args[1]
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end

function request()
  counter = counter + 1
  return wrk.format("POST", base .. paths[counter % #paths + 1])
end

function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"non2xx":%d,"socket_errors":%d}\n', summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
