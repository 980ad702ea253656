-- wrk: hold attempts as fans make them (rehearsal/contest.py): CONTENDERS attempts in a row
-- for each group of 1-4 adjacent seats, in the shuffled order of GROUPS, each with its own
-- Idempotency-Key and a random fan's token; or, when the stage names TRIVIAL_PATH, the same
-- load on that trivial endpoint (the ceiling). `init` loads the stage file written by
-- rehearsal/wrk.py (TOKENS, GROUPS, CONTENDERS, PATH); `done` prints one JSON line for it.
local threads = {}
local counter = 0
statuses = {}  -- global: done() reads it from every thread

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  dofile(args[1])
  math.randomseed(id * 7919 + os.time())
end

function request()
  if TRIVIAL_PATH then
    return wrk.format("GET", TRIVIAL_PATH)
  end
  local group = GROUPS[math.floor(counter / CONTENDERS) % #GROUPS + 1]
  counter = counter + 1
  local seats = {}
  for i = 1, #group do
    seats[#seats + 1] = '"' .. group[i] .. '"'
  end
  local headers = {
    ["Authorization"] = "Bearer " .. TOKENS[math.random(#TOKENS)],
    ["Idempotency-Key"] = "wrk-" .. id .. "-" .. counter,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", PATH, headers, '{"seats":[' .. table.concat(seats, ",") .. ']}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    parts[#parts + 1] = '"' .. status .. '":' .. count
  end
  io.write(string.format(
    'WRK-JSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,'
      .. '"timeout":%d,"status":%d},"latency_us":{"p50":%d,"p75":%d,"p90":%d,"p99":%d,'
      .. '"max":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency.max, table.concat(parts, ",")))
end
