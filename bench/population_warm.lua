-- wrk script of bench/population.sh's warm-up: one closed-loop pass over
-- every id of a file, in the file's order, then stop.
--
--   wrk -t1 -c32 -d240s -s bench/population_warm.lua http://127.0.0.1:18080 -- IDS_FILE DONE_FILE
--
-- IDS_FILE: one "<id>\t<anything>" per line (the format of bench/poll.lua).
-- Each request takes the next id; once as many answers as ids have arrived
-- the thread stops and creates DONE_FILE, so every id has been requested at
-- least once (with -t1; a few more requests, at most one per connection,
-- may wrap around to the first ids). wrk's main thread still sleeps for the
-- whole -d duration, so the caller sends wrk SIGINT once DONE_FILE exists;
-- wrk then prints its summary. Answers that are not 200 are counted; done()
-- prints "WARM_RESULT {json}".

local ids = {}
local next_index = 0
local done_file = nil
local stopped = false
unexpected = 0        -- globals, read from the main state by done()
first_unexpected = 0
responses = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   done_file = args[2]
   if file == nil or done_file == nil then
      error("usage: -- IDS_FILE DONE_FILE")
   end
   for line in io.lines(file) do
      local id = line:match("^(%S+)")
      if id then
         ids[#ids + 1] = id
      end
   end
   if #ids == 0 then
      error("no ids in " .. file)
   end
end

function request()
   next_index = next_index + 1
   if next_index > #ids then
      next_index = 1
   end
   return wrk.format("GET", "/api/v1/operations/" .. ids[next_index])
end

function response(status, headers, body)
   responses = responses + 1
   if status ~= 200 then
      unexpected = unexpected + 1
      if first_unexpected == 0 then
         first_unexpected = status
      end
   end
   if responses >= #ids and not stopped then
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
      'WARM_RESULT {"requests":%d,"responses_seen":%d,"duration_s":%.3f,"rps":%.1f,' ..
      '"p50_us":%d,"p99_us":%d,"max_us":%d,"unexpected_status":%d,"first_unexpected_status":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, responses_total, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(99), latency.max, unexpected_total, first,
      e.connect, e.read, e.write, e.status, e.timeout))
end
