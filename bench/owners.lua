-- wrk script for bench/owners.sh: GETs cycling over a file of targets,
-- each with its own bearer token or none.
--
--   wrk ... -s bench/owners.lua http://127.0.0.1:18080 -- TARGETS_FILE LABEL [MIN_BYTES]
--
-- TARGETS_FILE: one "<path>\t<token>" per line; the token "-" sends no
--       Authorization header, any other is sent as "Authorization: Bearer
--       <token>". The requests are formatted once, in init(), so that a
--       request with a token costs the client no more Lua than one without.
-- LABEL: names the run in the result line.
-- MIN_BYTES: an answer whose body is shorter is counted as "short" (a list
--       page of 50 operations is tens of kilobytes, an empty one ~40 bytes);
--       0 or absent: not checked.
-- Every answer but a 200 is counted; done() prints both counts, with the
-- figures of the run, on a line "WRK_RESULT {json}" that the shell script
-- reads (the fields of bench/poll.lua's, plus short_bodies).

local requests = {}
run_label = "run"     -- global too: done() runs in the main state, where init() did not
local min_bytes = 0
local next_index = 0
unexpected = 0        -- globals, read from the main state by done()
first_unexpected = 0  -- the first unexpected status seen, 0 if none
short_bodies = 0
responses = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   run_label = args[2] or "run"
   min_bytes = tonumber(args[3] or "0")
   if file == nil then
      error("usage: -- TARGETS_FILE LABEL [MIN_BYTES]")
   end
   for line in io.lines(file) do
      local path, token = line:match("^(%S+)\t(%S+)$")
      if path then
         local headers = {}
         if token ~= "-" then
            headers["Authorization"] = "Bearer " .. token
         end
         requests[#requests + 1] = wrk.format("GET", path, headers)
      end
   end
   if #requests == 0 then
      error("no targets in " .. file)
   end
end

function request()
   next_index = next_index % #requests + 1
   return requests[next_index]
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= 200 then
      unexpected = unexpected + 1
      if first_unexpected == 0 then
         first_unexpected = status
      end
   elseif min_bytes > 0 and #body < min_bytes then
      short_bodies = short_bodies + 1
   end
end

function done(summary, latency, requests_)
   local unexpected_total, short_total, responses_total, first = 0, 0, 0, 0
   local label = run_label
   for _, thread in ipairs(threads) do
      label = thread:get("run_label")
      unexpected_total = unexpected_total + thread:get("unexpected")
      short_total = short_total + thread:get("short_bodies")
      responses_total = responses_total + thread:get("responses")
      local f = thread:get("first_unexpected")
      if first == 0 and f ~= 0 then
         first = f
      end
   end
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"mode":"%s","requests":%d,"responses_seen":%d,"duration_s":%.3f,' ..
      '"rps":%.1f,"bytes":%d,"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"unexpected_status":%d,"first_unexpected_status":%d,"short_bodies":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      label, summary.requests, responses_total, seconds, summary.requests / seconds,
      summary.bytes, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, unexpected_total, first, short_total,
      e.connect, e.read, e.write, e.status, e.timeout))
end
