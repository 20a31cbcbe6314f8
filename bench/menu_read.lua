-- wrk script: GET /api/v1/menu with a bearer token (env: BENTO_TOKEN).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENTO_TOKEN")
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  for status, count in pairs(statuses) do
    io.write(string.format("status %d: %d\n", status, count))
  end
end
