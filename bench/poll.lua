-- wrk script for bench/cheap_polling.sh: GET /api/v1/operations/{id}
-- cycling over the ids of a file, optionally with If-None-Match.
--
--   wrk ... -s bench/poll.lua http://127.0.0.1:18080 -- IDS_FILE MODE [DONE_FILE]
--
-- IDS_FILE: one "<id>\t<etag>" per line (the ETag with its quotes).
-- MODE: "200" sends plain GETs and expects 200 to every one;
--       "304" sends If-None-Match: <that id's ETag> and expects 304.
-- DONE_FILE (bench/population.sh's warm-up): one pass, then stop. Once as
--       many answers as ids have arrived the thread stops and creates
--       DONE_FILE, so every id has been requested at least once (with -t1;
--       a few more requests, at most one per connection, may wrap around).
--       wrk's main thread still sleeps for the whole -d duration, so the
--       caller sends wrk SIGINT once DONE_FILE exists.
-- Every answer with another status is counted and reported by done() on a
-- line "WRK_RESULT {json}" that the shell script reads.

local ids, etags = {}, {}
local mode = "200"
local expected = 200
local next_index = 0
local done_file = nil
local stopped = false
unexpected = 0        -- globals, read from the main state by done()
first_unexpected = 0  -- the first unexpected status seen, 0 if none
responses = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   mode = args[2] or "200"
   expected = tonumber(mode)
   done_file = args[3]
   if file == nil then
      error("usage: -- IDS_FILE 200|304 [DONE_FILE]")
   end
   for line in io.lines(file) do
      local id, etag = line:match("^(%S+)\t(.+)$")
      if id then
         ids[#ids + 1] = id
         etags[#etags + 1] = etag
      end
   end
   if #ids == 0 then
      error("no ids in " .. file)
   end
end

function request()
   next_index = next_index % #ids + 1
   local headers = {}
   if mode == "304" then
      headers["If-None-Match"] = etags[next_index]
   end
   return wrk.format("GET", "/api/v1/operations/" .. ids[next_index], headers)
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= expected then
      unexpected = unexpected + 1
      if first_unexpected == 0 then
         first_unexpected = status
      end
   end
   if done_file and responses >= #ids and not stopped then
      stopped = true
      local f = io.open(done_file, "w")
      f:write(responses, "\n")
      f:close()
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local unexpected_total, responses_total, first = 0, 0, 0
   for _, thread in ipairs(threads) do
      unexpected_total = unexpected_total + thread:get("unexpected")
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
      '"max_us":%d,"unexpected_status":%d,"first_unexpected_status":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      mode, summary.requests, responses_total, seconds, summary.requests / seconds,
      summary.bytes, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, unexpected_total, first,
      e.connect, e.read, e.write, e.status, e.timeout))
end
