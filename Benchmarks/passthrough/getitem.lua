-- wrk script: the same GetItem request over and over, with the headers an SDK sends (a static SigV4-shaped
-- Authorization header: the fixed-response upstream and moto never check the signature).
-- Strongly consistent unless CONSISTENT=0, so that the proxy forwards every request (pass-through cost);
-- with CONSISTENT=0 the proxy answers from its item cache after the first request (hit cost).
wrk.method = "POST"
local consistent = os.getenv("CONSISTENT") ~= "0"
wrk.body = '{"TableName":"bench","Key":{"pk":{"S":"p000001"},"sk":{"S":"s0001"}}'
  .. (consistent and ',"ConsistentRead":true}' or '}')
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "DynamoDB_20120810.GetItem"
wrk.headers["X-Amz-Date"] = "20260101T000000Z"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/dynamodb/aws4_request, "
  .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" .. string.rep("0", 64)

local errors = 0
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d requests=%d errors=%d non200=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, errors))
end
