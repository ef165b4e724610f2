-- The HTTP workloads of `make bench` (driven by bench/bench.py): writes and
-- reads of 64-byte values over BENCH_KEYS distinct keys "bench/%08d",
-- against raftkv's HTTP/JSON API or etcd's JSON gateway. Every request is
-- built once in init(), so the client spends its CPU on the wire, not in Lua.
--
-- Environment:
--   BENCH_API    raftkv | etcd
--   BENCH_OP     put (random keys) | load (each key in turn) | get (random)
--   BENCH_LOCAL  1: reads served without coordination (raftkv ?stale=true,
--                etcd "serializable"); else linearizable
--   BENCH_KEYS   number of keys (10000)
--   BENCH_FIRST  load: the key to start at (0)
--
-- raftkv: POST /kv {"key","value"}; GET /kv/<key>.
-- etcd:   POST /v3/kv/put and /v3/kv/range, keys and values in base64.
-- done() prints one line "BENCH key=value ..." that bench.py parses;
-- latencies in microseconds; status_errors counts replies with status > 399.

local api = os.getenv("BENCH_API") or "raftkv"
local op = os.getenv("BENCH_OP") or "put"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "10000")
local stale = os.getenv("BENCH_LOCAL") == "1"
local value = string.rep("v", 64)
local reqs = {}
local next_key = tonumber(os.getenv("BENCH_FIRST") or "0")

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
   local out = {}
   for i = 1, #s, 3 do
      local a, b, c = s:byte(i, i + 2)
      local n = a * 65536 + (b or 0) * 256 + (c or 0)
      local q = {}
      for j = 1, 4 do
         local d = math.floor(n / 64 ^ (4 - j)) % 64
         q[j] = B64:sub(d + 1, d + 1)
      end
      if not b then q[3] = "=" end
      if not c then q[4] = "=" end
      out[#out + 1] = table.concat(q)
   end
   return table.concat(out)
end

local function build(key)
   local json = { ["Content-Type"] = "application/json" }
   if api == "raftkv" then
      if op == "get" then
         local q = stale and "?stale=true" or ""
         return wrk.format("GET", "/kv/" .. key .. q)
      end
      return wrk.format("POST", "/kv", json,
                        '{"key":"' .. key .. '","value":"' .. value .. '"}')
   end
   if op == "get" then
      return wrk.format("POST", "/v3/kv/range", json,
                        '{"key":"' .. base64(key) .. '"' ..
                        (stale and ',"serializable":true}' or '}'))
   end
   return wrk.format("POST", "/v3/kv/put", json,
                     '{"key":"' .. base64(key) .. '","value":"' ..
                     base64(value) .. '"}')
end

function init(args)
   math.randomseed(1)
   for i = 1, nkeys do
      reqs[i] = build(string.format("bench/%08d", i - 1))
   end
end

function request()
   if op == "load" then
      next_key = next_key % nkeys + 1
      return reqs[next_key]
   end
   return reqs[math.random(nkeys)]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f " ..
      "status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, latency:percentile(50),
      latency:percentile(99), e.status, e.connect, e.read, e.write,
      e.timeout))
end
