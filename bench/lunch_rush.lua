-- wrk script of the reference workload (issue 10): a lunch rush at one restaurant. Each request is an order of
-- 1-3 distinct random items of the restaurant's 20, quantity 1-2, by one of the logged-in customers at random.
-- env: BENTO_TOKENS (comma-separated bearer tokens), BENTO_RID, BENTO_ITEMS (comma-separated item ids),
--      BENTO_MODE (order | menu: GET /api/v1/restaurants/{rid}/menu | catalog: GET /api/v1/menu?place=taipei |
--      static: GET of the URL's path, the same headers),
--      BENTO_SEED.
-- At the end it prints one line, JSON after the word JSON: requests, errors, status classes and latency
-- percentiles in microseconds.
local function split(s)
  local out = {}
  for part in string.gmatch(s or "", "[^,]+") do out[#out + 1] = part end
  return out
end

local tokens = split(os.getenv("BENTO_TOKENS"))
local items = split(os.getenv("BENTO_ITEMS"))
local rid = os.getenv("BENTO_RID")
local mode = os.getenv("BENTO_MODE") or "order"
math.randomseed(tonumber(os.getenv("BENTO_SEED") or "1"))

request = function()
  local token = tokens[math.random(#tokens)]
  local headers = {["Authorization"] = "Bearer " .. token}
  if mode == "static" then
    return wrk.format("GET", nil, headers) -- the URL's own path (the ceiling: nginx's static file)
  elseif mode == "menu" then
    return wrk.format("GET", "/api/v1/restaurants/" .. rid .. "/menu", headers)
  elseif mode == "catalog" then
    return wrk.format("GET", "/api/v1/menu?place=taipei&limit=20", headers)
  end
  -- 1-3 distinct items: a partial Fisher-Yates shuffle of the item list
  local n = math.random(3)
  local pool = {}
  for i = 1, #items do pool[i] = items[i] end
  local lines = {}
  for i = 1, n do
    local j = math.random(i, #pool)
    pool[i], pool[j] = pool[j], pool[i]
    lines[i] = string.format('{"item_id":"%s","qty":%d}', pool[i], math.random(2))
  end
  headers["Content-Type"] = "application/json"
  local body = string.format('{"restaurant_id":"%s","meal":"lunch","items":[%s]}', rid, table.concat(lines, ","))
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

-- Status counts live in each thread's Lua state; done() (the main state) reads them through setup's handles.
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
s2xx, s4xx, s5xx, sother = 0, 0, 0, 0
response = function(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status >= 400 and status < 500 then s4xx = s4xx + 1
  elseif status >= 500 then s5xx = s5xx + 1
  else sother = sother + 1 end
end

done = function(summary, latency, requests)
  local c = {s2xx = 0, s4xx = 0, s5xx = 0, sother = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(c) do c[k] = c[k] + (t:get(k) or 0) end
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    'JSON {"requests":%d,"seconds":%.3f,"errors":%d,"2xx":%d,"4xx":%d,"5xx":%d,"other":%d,' ..
    '"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration / 1e6, errors, c.s2xx, c.s4xx, c.s5xx, c.sother, latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
