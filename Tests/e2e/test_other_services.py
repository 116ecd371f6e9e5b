"""Requests that are not DynamoDB at all must be forwarded unchanged (moto serves S3, STS and /moto-api/ on the same port)."""

import http.client
import re
from urllib.parse import urlparse

from e2e_support import compare_raw, header, Raw, unique

# Volatile parts of the XML answers: wall-clock times and per-request ids.
XML_VOLATILE = re.compile(rb"<(CreationDate|LastModified|RequestId|HostId)>[^<]*</\1>")


def xml_norm(body: bytes) -> bytes:
    return XML_VOLATILE.sub(rb"<\1>volatile</\1>", body)


def test_s3_bucket_and_object(pair):
    bucket = unique("e2e-bucket")
    kw = dict(json_body=False, body_normaliser=xml_norm)
    pair.call("s3", "create_bucket", Bucket=bucket, extra_headers=("location",), **kw)
    a, b = pair.call("s3", "list_buckets", **kw)
    assert bucket in [x["Name"] for x in a.parsed["Buckets"]]
    payload = bytes(range(256)) * 64  # binary, not UTF-8
    pair.call("s3", "put_object", Bucket=bucket, Key="dir/obj.bin", Body=payload, extra_headers=("etag",), **kw)
    a, b = pair.call("s3", "get_object", Bucket=bucket, Key="dir/obj.bin",
                     extra_headers=("etag", "content-length"), **kw)
    assert a.raw.body == payload and b.raw.body == payload
    a, b = pair.call("s3", "list_objects_v2", Bucket=bucket, **kw)
    assert b"<Key>dir/obj.bin</Key>" in b.raw.body
    pair.call("s3", "get_object", Bucket=bucket, Key="missing", expect_error="NoSuchKey", **kw)
    pair.call("s3", "head_bucket", Bucket=bucket + "-missing", expect_error="404", **kw)
    pair.call("s3", "delete_object", Bucket=bucket, Key="dir/obj.bin", **kw)
    pair.call("s3", "delete_bucket", Bucket=bucket, **kw)


def test_sts_query_protocol(pair):
    """A form-encoded (query protocol) POST with an XML answer."""
    a, b = pair.call("sts", "get_caller_identity", json_body=False, body_normaliser=xml_norm)
    assert a.parsed["Account"] == b.parsed["Account"] == "123456789012"


def _get(url: str, path: str) -> Raw:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return Raw(r.status, dict(r.getheaders()), r.read())
    finally:
        conn.close()


def test_moto_api_get(endpoints):
    direct, proxied = endpoints
    a, b = _get(direct, "/moto-api/"), _get(proxied, "/moto-api/")
    assert a.status == 200 and b"<title>Moto</title>" in a.body
    compare_raw(a, b, "GET /moto-api/", json_body=False)
