-- POST or DELETE /v1/media/{id}/likes with wrk, each request a different
-- (user, media) pair: request i likes media[i % M] as user[i / M], so no pair
-- repeats within a run while there are pairs left (M x U of them), and
-- neighbouring requests hit different media. wrk's threads interleave:
-- thread t of T sends i = t, t + T, t + 2T...
-- With "comments" as the 6th argument it POSTs a comment instead (text=...),
-- over the same (user, media) pairs.
--
--   wrk -s bench/lua/likes.lua http://host/ -- \
--       <POST|DELETE> <tokens file> <media ids file> <wrk threads> [expected status, 200] [likes|comments]
--
-- done() prints "lua: sent=N bad=N exhausted=N status=S body=...": bad counts
-- answers other than the expected status, exhausted the requests sent after
-- the pairs ran out (repeats: the run is not valid).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then
      table.insert(out, line)
    end
  end
  return out
end

function init(args)
  method = args[1]
  tokens = read_lines(args[2])
  media = read_lines(args[3])
  nthreads = tonumber(args[4])
  expected = tonumber(args[5] or "200")
  what = args[6] or "likes"
  body = method == "POST" and "" or nil -- a POST says Content-Length: 0
  headers = nil
  if what == "comments" then
    body = "text=" .. "lovely+light+at+the+pier+%23benchmark"
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  end
  sent, bad, exhausted, last_status, last_body = 0, 0, 0, 0, ""
end

function request()
  if not media then -- wrk calls request() once in its main state, where init() never ran
    return wrk.format("GET", wrk.path)
  end
  local i = sent * nthreads + id
  sent = sent + 1
  if i >= #media * #tokens then
    exhausted = exhausted + 1
  end
  local media_id = media[(i % #media) + 1]
  local token = tokens[(math.floor(i / #media) % #tokens) + 1]
  return wrk.format(method, "/v1/media/" .. media_id .. "/" .. what .. "?access_token=" .. token, headers, body)
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
