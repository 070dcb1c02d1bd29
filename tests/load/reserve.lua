-- wrk script: POST /api/v1/bookings/reserve with distinct users and idempotency keys.
-- usage: SETUP=path/to/setup.json wrk -t1 -c64 -d10s -s tests/load/reserve.lua http://127.0.0.1:PORT
-- setup.json comes from tests/load/reserve_setup.py: {"show_id", "zone_id", "tokens": [...]}.
local setup_path = os.getenv("SETUP")
local f = assert(io.open(setup_path, "r"))
local text = f:read("*a")
f:close()
local show_id = text:match('"show_id"%s*:%s*"([^"]+)"')
local zone_id = text:match('"zone_id"%s*:%s*"([^"]+)"')
local tokens = {}
for t in text:match('"tokens"%s*:%s*(%b[])'):gmatch('"([^"]+)"') do tokens[#tokens + 1] = t end

local counter = 0
-- A tag unique to this wrk thread and run: LuaJIT's math.random is unseeded (the same sequence
-- in every run), which made later runs replay the earlier runs' Idempotency-Keys.
local function random_tag()
    local u = io.open("/dev/urandom", "rb")
    local bytes = u:read(8)
    u:close()
    return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
local thread_tag = random_tag()
local body = '{"show_id":"' .. show_id .. '","zone_id":"' .. zone_id .. '","quantity":1}'

-- The request is built by concatenation around a per-token prefix, and there is no response()
-- callback: with one, wrk turns every answer's headers and body into Lua values. Together they
-- cost the generator ~6 µs a request of the two cores it shares with Souk (wrk counts non-2xx
-- answers itself).
local host = wrk.port and (wrk.host .. ":" .. wrk.port) or wrk.host
local prefixes = {}
for i, token in ipairs(tokens) do
    prefixes[i] = "POST /api/v1/bookings/reserve HTTP/1.1\r\n" ..
        "Host: " .. host .. "\r\n" ..
        "Content-Type: application/json\r\n" ..
        "Content-Length: " .. #body .. "\r\n" ..
        "Authorization: Bearer " .. token .. "\r\n" ..
        "Idempotency-Key: " .. thread_tag .. "-"
end
local suffix = "\r\n\r\n" .. body

function request()
    counter = counter + 1
    return prefixes[(counter % #prefixes) + 1] .. counter .. suffix
end

function done(summary, latency, requests)
    io.write(string.format("requests/s: %.0f  p50: %.2f ms  p99: %.2f ms  errors: %d\n",
        summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, summary.errors.status + summary.errors.timeout))
end
