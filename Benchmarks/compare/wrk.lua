-- wrk script for Benchmarks/compare/run.py: GetItem of a uniformly random loaded key, or Query of a
-- uniformly random partition among the first QUERY_PKS. The request bytes are those run.py warms the
-- caches with (nginx keys its cache on the exact body). No response() hook: it would make wrk parse
-- every body and slow the client down; wrk counts non-2xx answers itself (summary.errors.status).
-- Keys as `dynamo-cache bench` lays out its table: item i is pk "p%06d" (i // PER_PK), sk i % PER_PK (N).
--
--   OP=GetItem|Query TABLE=bench ITEMS=10000 PER_PK=10 QUERY_PKS=10 wrk -t1 -c8 -d10s -s wrk.lua URL
--   TABLE=dynamo-cache-bench ...   against a proxy in front of the table `dynamo-cache bench` prepares
local op = os.getenv("OP") or "GetItem"
local tbl = os.getenv("TABLE") or "bench"
local items = tonumber(os.getenv("ITEMS") or "10000")
local per_pk = tonumber(os.getenv("PER_PK") or "10")
local query_pks = tonumber(os.getenv("QUERY_PKS") or "10")

-- moto routes a request by the SigV4 credential scope and never checks the signature (without an
-- Authorization header it answers as S3), so a static, well-formed header is enough. DynamoCache keeps
-- apart what each access key reads: warm it with the same key (AKIDBENCH; for `dynamo-cache bench`,
-- AWS_ACCESS_KEY_ID=AKIDBENCH).
local headers = {
  ["Content-Type"] = "application/x-amz-json-1.0",
  ["X-Amz-Target"] = "DynamoDB_20120810." .. op,
  ["X-Amz-Date"] = "20260101T000000Z",
  ["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/dynamodb/aws4_request, "
    .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" .. string.rep("0", 64),
}

local function body(i)
  if op == "Query" then
    return string.format('{"TableName":"%s","KeyConditionExpression":"pk = :p",'
      .. '"ExpressionAttributeValues":{":p":{"S":"p%06d"}}}', tbl, i)
  end
  return string.format('{"TableName":"%s","Key":{"pk":{"S":"p%06d"},"sk":{"N":"%d"}}}',
    tbl, math.floor(i / per_pk), i % per_pk)
end

local n = (op == "Query") and query_pks or items
local memo = {}   -- formatted requests, built once per key so the client spends its time sending

function init(args)
  math.randomseed(os.time())
end

function request()
  local i = math.random(0, n - 1)
  local r = memo[i]
  if not r then
    r = wrk.format("POST", "/", headers, body(i))
    memo[i] = r
  end
  return r
end

-- One line run.py parses; latencies in microseconds.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"non2xx":%d,"socket_errors":%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
