-- wrk script for benchmarks/bench_tasks_api.py: a mix of task lists and optimistic edits.
--
--   ZHIKONG_WRK_OUT=out.json wrk -t2 -c200 -d30s -s benchmarks/tasks_mix.lua http://HOST:PORT \
--       -- TOKEN FIRST_ID LAST_ID WRITE_SHARE TAG
--   ZHIKONG_WRK_OUT=peer.json wrk -t2 -c200 -d10s -s benchmarks/tasks_mix.lua http://HOST:PORT -- health
--
-- Each request is, at random, a list (GET /api/tasks?limit=20&offset=<0..199>) or, with probability
-- WRITE_SHARE, an edit (PATCH /api/tasks/<id> with the version this thread last saw and a description
-- unique to the edit: TAG, the thread number and a counter). Responses are classified by body (a list
-- page, an accepted edit, a refused edit: 409) and counted per status. An accepted edit's body gives (id, version, description); a
-- refused one ("task N is at version V ...") tells the current version, used for the next edit of
-- that task. With the single argument "health" every request is the peer, GET /api/health.
-- done() writes one JSON object to $ZHIKONG_WRK_OUT: counts, the edits sent and the edits accepted,
-- which the harness checks against the database (no update lost). wrk stops with requests in flight:
-- an edit sent but not answered may or may not have landed.

-- $ZHIKONG_WRK_THINK_MS (optional): each connection waits a random think time (exponential, this
-- mean, in ms) before each request, like a user between clicks; 0 or unset: back to back.

local thread_no = 0
local threads = {}

function setup(thread)
  thread_no = thread_no + 1
  thread:set("tno", thread_no)
  table.insert(threads, thread)
end

function init(args)
  health = args[1] == "health"
  token = args[1]
  first_id = tonumber(args[2])
  last_id = tonumber(args[3])
  write_share = tonumber(args[4]) or 0
  tag = args[5] or "w"
  sent = {}
  math.randomseed(1000 + tno)
  versions = {}
  edits = 0
  sent_list, sent_update = 0, 0
  counts = {}
  accepted = {}
  think_ms = tonumber(os.getenv("ZHIKONG_WRK_THINK_MS") or "0") or 0
  list_headers = { ["Authorization"] = "Bearer " .. token }
  patch_headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
end

function delay()
  if think_ms <= 0 then
    return 0
  end
  -- capped below uvicorn's 5 s keep-alive timeout, so the server never closes an idle connection
  return math.min(4000, math.floor(-think_ms * math.log(1 - math.random())))
end

function request()
  if health then
    sent_list = sent_list + 1
    return wrk.format("GET", "/api/health")
  end
  if math.random() >= write_share then
    sent_list = sent_list + 1
    return wrk.format("GET", "/api/tasks?limit=20&offset=" .. math.random(0, 199), list_headers)
  end
  local id = math.random(first_id, last_id)
  edits = edits + 1
  sent_update = sent_update + 1
  local desc = tag .. tno .. "-" .. edits
  table.insert(sent, id .. " " .. desc)
  local body = string.format('{"version":%d,"description":"%s"}', versions[id] or 1, desc)
  return wrk.format("PATCH", "/api/tasks/" .. id, patch_headers, body)
end

local function count(key)
  counts[key] = (counts[key] or 0) + 1
end

function response(status, headers, body)
  local head = string.sub(body, 1, 10)
  if health then
    count("health " .. status)
  elseif status == 200 and string.find(head, '"total"', 1, true) then
    count("list 200")
  elseif status == 200 and string.find(head, '"id"', 1, true) then
    local id = tonumber(string.match(body, '"id":(%d+)'))
    local version = tonumber(string.match(body, '"version":(%d+)'))
    local desc = string.match(body, '"description":"(%a+%d+%-%d+)"')
    if id and version and desc then
      count("update 200")
      versions[id] = version
      table.insert(accepted, id .. " " .. version .. " " .. desc)
    else
      count("update 200 unparsed")
    end
  elseif status == 409 then
    count("update 409")
    local id, version = string.match(body, "task (%d+) is at version (%d+)")
    if id then
      versions[tonumber(id)] = tonumber(version)
    end
  else
    count("other " .. status)
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '(["\\])', "\\%1") .. '"'
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("ZHIKONG_WRK_OUT") or "wrk-out.json", "w")
  local all_counts, all_accepted, all_sent = {}, {}, {}
  local sent_l, sent_u = 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do
      all_counts[k] = (all_counts[k] or 0) + v
    end
    for _, line in ipairs(t:get("accepted")) do
      table.insert(all_accepted, json_string(line))
    end
    for _, line in ipairs(t:get("sent")) do
      table.insert(all_sent, json_string(line))
    end
    sent_l = sent_l + t:get("sent_list")
    sent_u = sent_u + t:get("sent_update")
  end
  local parts = {}
  for k, v in pairs(all_counts) do
    table.insert(parts, json_string(k) .. ":" .. v)
  end
  local e = summary.errors
  out:write(string.format(
    '{"duration_us":%d,"requests":%d,"sent_list":%d,"sent_update":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"counts":{%s},"accepted":[%s],"sent":[%s]}\n',
    summary.duration, summary.requests, sent_l, sent_u,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    table.concat(parts, ","), table.concat(all_accepted, ","),
    table.concat(all_sent, ",")))
  out:close()
end
