-- POST /v1/media/upload with wrk: one multipart/form-data body, built once
-- from the photo's bytes, sent with another account's token on each request
-- (one user's uploads run one at a time by design: a row lock).
--
--   wrk -s bench/lua/upload.lua http://host/v1/media/upload -- \
--       <photo.jpg> <tokens file> <wrk threads> <filter> <caption> [expected status, 201]
--
-- done() prints one line, "lua: sent=N bad=N exhausted=0 status=S body=...",
-- where bad counts answers other than the expected status (S and body: the
-- last one seen).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
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
  local photo = read_file(args[1])
  tokens = read_lines(args[2])
  nthreads = tonumber(args[3])
  local filter, caption = args[4], args[5]
  expected = tonumber(args[6] or "201")

  local boundary = string.format("----wrk-bench-%d-%08x%08x", id, math.random(0, 0x7fffffff), os.time())
  assert(not string.find(photo, boundary, 1, true), "the boundary occurs in the photo")
  local dash = "--" .. boundary .. "\r\n"
  local function field(name, value)
    return dash .. 'Content-Disposition: form-data; name="' .. name .. '"\r\n\r\n' .. value .. "\r\n"
  end
  body = table.concat({
    field("caption", caption),
    field("filter", filter),
    dash .. 'Content-Disposition: form-data; name="photo"; filename="photo.jpg"\r\n'
      .. "Content-Type: image/jpeg\r\n\r\n" .. photo .. "\r\n",
    "--" .. boundary .. "--\r\n",
  })
  headers = { ["Content-Type"] = "multipart/form-data; boundary=" .. boundary }
  sent, bad, last_status, last_body = 0, 0, 0, ""
end

function request()
  if not body then -- wrk calls request() once in its main state, where init() never ran
    return wrk.format("GET", wrk.path)
  end
  local i = sent * nthreads + id
  sent = sent + 1
  return wrk.format("POST", wrk.path .. "?access_token=" .. tokens[(i % #tokens) + 1], headers, body)
end

function response(status, headers, body)
  if status ~= expected then
    bad = bad + 1
    last_status, last_body = status, string.sub(string.gsub(body or "", "%s+", " "), 1, 300)
  end
end

function done(summary, latency, requests)
  local total = { sent = 0, bad = 0, status = 0, body = "" }
  for _, thread in ipairs(threads) do
    total.sent = total.sent + thread:get("sent")
    total.bad = total.bad + thread:get("bad")
    if thread:get("last_status") ~= 0 then
      total.status, total.body = thread:get("last_status"), thread:get("last_body")
    end
  end
  io.write(string.format("lua: sent=%d bad=%d exhausted=0 status=%d body=%s\n",
    total.sent, total.bad, total.status, total.body))
end
