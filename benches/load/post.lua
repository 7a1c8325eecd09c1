-- wrk script: POSTs the file named by $PAYLOAD; with $DELAY_MS each connection waits that long
-- between requests (a fixed offered rate); prints one RESULT line for load.sh to parse.
local f = assert(io.open(os.getenv("PAYLOAD"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

local pause = tonumber(os.getenv("DELAY_MS") or "0")
function delay()
  return pause
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f mbps=%.2f p50_ms=%.3f p99_ms=%.3f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    summary.requests * #body / (summary.duration / 1e6) / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.errors.status))
end
