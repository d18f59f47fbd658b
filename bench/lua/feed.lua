-- GET /v1/users/self/feed with wrk, each request as another reader: request i
-- reads as token[i], so while tokens last no reader is read twice in a run
-- (bench/feeds.py drops their feeds first: every request rebuilds one from
-- PostgreSQL). wrk's threads interleave: thread t of T sends i = t, t + T...
--
--   wrk -s bench/lua/feed.lua http://host/ -- <tokens file> <wrk threads> [expected status, 200]
--
-- done() prints "lua: sent=N bad=N exhausted=N status=S body=...": bad counts
-- answers other than the expected status, exhausted the requests sent after
-- the readers ran out (their feeds were warm: the run is not all cold).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      table.insert(tokens, line)
    end
  end
  nthreads = tonumber(args[2])
  expected = tonumber(args[3] or "200")
  sent, bad, exhausted, last_status, last_body = 0, 0, 0, 0, ""
end

function request()
  if not tokens then -- wrk calls request() once in its main state, where init() never ran
    return wrk.format("GET", wrk.path)
  end
  local i = sent * nthreads + id
  sent = sent + 1
  if i >= #tokens then
    exhausted = exhausted + 1
  end
  return wrk.format("GET", "/v1/users/self/feed?access_token=" .. tokens[(i % #tokens) + 1])
end

function response(status, headers, body)
  if status ~= expected then
    bad = bad + 1
    last_status, last_body = status, string.sub(string.gsub(body or "", "%s+", " "), 1, 300)
  end
end

function done(summary, latency, requests)
  local total = { sent = 0, bad = 0, exhausted = 0, status = 0, body = "" }
  for _, thread in ipairs(threads) do
    total.sent = total.sent + thread:get("sent")
    total.bad = total.bad + thread:get("bad")
    total.exhausted = total.exhausted + thread:get("exhausted")
    if thread:get("last_status") ~= 0 then
      total.status, total.body = thread:get("last_status"), thread:get("last_body")
    end
  end
  io.write(string.format("lua: sent=%d bad=%d exhausted=%d status=%d body=%s\n",
    total.sent, total.bad, total.exhausted, total.status, total.body))
end
