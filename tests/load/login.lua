-- wrk script: POST /api/v1/auth/login rotating over USERS bench users (bench-id-<i>@souk.test,
-- password "bench member pass"), as made by tests/load/bench_identity.sh.
-- usage: USERS=8 wrk -t1 -c8 -d10s -s tests/load/login.lua http://127.0.0.1:PORT
local users = tonumber(os.getenv("USERS") or "8")
local counter = 0

function request()
    counter = counter + 1
    local body = '{"email":"bench-id-' .. (counter % users) .. '@souk.test","password":"bench member pass"}'
    return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
    io.write(string.format("logins/s: %.1f  p50: %.2f ms  p99: %.2f ms  errors: %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.timeout))
end
