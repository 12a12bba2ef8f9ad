-- wrk script for bench/poll_limits.sh's hyper baseline: the request is the
-- static one of the command line (wrk's fast path: no request() or
-- response() function, so no Lua runs per request); done() only prints the
-- same "WRK_RESULT {json}" line as poll.lua. Answers that are not 2xx/3xx
-- are wrk's "status" errors, reported as unexpected.

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      'WRK_RESULT {"mode":"static","requests":%d,"responses_seen":%d,"duration_s":%.3f,' ..
      '"rps":%.1f,"bytes":%d,"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"unexpected_status":%d,"first_unexpected_status":0,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      summary.requests, summary.requests, seconds, summary.requests / seconds,
      summary.bytes, latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, e.status,
      e.connect, e.read, e.write, e.status, e.timeout))
end
