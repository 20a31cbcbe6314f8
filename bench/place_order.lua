-- wrk script: POST /api/v1/orders with a bearer token and a small order body (env: BENTO_TOKEN, BENTO_RID).
local token = os.getenv("BENTO_TOKEN")
local rid = os.getenv("BENTO_RID")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.body = '{"restaurant_id":"' .. rid .. '","items":[{"item_id":"rice","qty":1}],"meal":"lunch"}'

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  for status, count in pairs(statuses) do
    io.write(string.format("status %d: %d\n", status, count))
  end
end
