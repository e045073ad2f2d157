-- wrk script: collects every response's Server-Timing header and prints each metric's median
-- (µs) when the run ends. Optional: BODY_FILE (env) is POSTed as the request body.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  timings = {}
  local path = os.getenv("BODY_FILE")
  if path then
    local f = io.open(path, "rb")
    wrk.method = "POST"
    wrk.body = f:read("*all")
    f:close()
  end
end

function response(status, headers, body)
  local h = headers["server-timing"] or headers["Server-Timing"]
  if h then
    table.insert(timings, h)
  end
end

function done(summary, latency, requests)
  local values = {}
  local order = {}
  for _, thread in ipairs(threads) do
    for _, header in ipairs(thread:get("timings")) do
      for name, dur in string.gmatch(header, "([%w_-]+);dur=([%d.]+)") do
        if not values[name] then
          values[name] = {}
          table.insert(order, name)
        end
        table.insert(values[name], tonumber(dur) * 1000)
      end
    end
  end
  local out = {}
  for _, name in ipairs(order) do
    local v = values[name]
    table.sort(v)
    table.insert(out, string.format("%s=%.0fus", name, v[math.floor(#v / 2) + 1]))
  end
  io.write("server-timing medians: " .. table.concat(out, " ") .. "\n")
end
