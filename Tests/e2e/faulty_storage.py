"""A storage server that misbehaves on request, in front of a real moto_server.

moto answers every request at once and correctly; DynamoDB sometimes does not. FaultyStorage forwards each request
to moto and, when a fault was injected for the request's operation, does what DynamoDB or the network can do
instead of answering plainly:

    throttle           answer ThrottlingException (or `code`), 400, without forwarding: nothing was written
    unprocessed        BatchWriteItem: forward only the first write of each table, return the rest as
                       UnprocessedItems; BatchGetItem: forward all but the last key of each table, return it as
                       UnprocessedKeys. What moto answered is true of what it was sent.
    error_after_write  forward, then answer 500 InternalServerError: the write happened, the client is told it failed
    drop_after_write   forward, then close the connection without an answer
    slow               wait `seconds`, then forward
    slow_answer        forward, then wait `seconds` before answering: an answer that was true when moto gave it
    truncate           forward, then send the head and half of the body and close
    corrupt            forward, then change the body (`old` -> `new`, same length) and keep moto's x-amz-crc32

Faults are injected with `inject(operation, fault, times=1, when=None, **params)`; `when(body)` narrows a fault to
some requests of the operation. `seen` lists (operation, fault or None) for every request, in order.
"""
from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

LOOPBACK = "127.0.0.1"
PREFIX = "com.amazonaws.dynamodb.v20120810#"


@dataclass
class Fault:
    operation: str
    kind: str
    times: int
    when: Callable[[dict], bool] | None
    params: dict[str, Any] = field(default_factory=dict)


class FaultyStorage:
    def __init__(self, upstream_url: str):
        parsed = urllib.parse.urlparse(upstream_url)
        self.upstream = (parsed.hostname, parsed.port)
        self.faults: list[Fault] = []
        self.seen: list[tuple[str, str | None]] = []
        self.late_answers_read = threading.Event()   # a slow_answer request has had moto's answer
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the proxy's connection pool expects

            def log_message(self, *_args):
                pass

            def do_POST(self):
                owner._handle(self)

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def inject(self, operation: str, kind: str, times: int = 1, when: Callable[[dict], bool] | None = None,
               **params: Any) -> None:
        with self.lock:
            self.faults.append(Fault(operation, kind, times, when, params))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def count(self, operation: str, kind: str | None = None) -> int:
        with self.lock:
            return sum(1 for op, k in self.seen if op == operation and (kind is None or k == kind))

    # ---- one request -------------------------------------------------------------------------------------

    def _take(self, operation: str, body: dict) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and (fault.when is None or fault.when(body)):
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _forward(self, h: http.server.BaseHTTPRequestHandler, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in ("content-length", "connection")}
            headers["Content-Length"] = str(len(body))
            conn.request(h.command, h.path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def _answer(self, h, status: int, headers: list, body: bytes, *, send: bytes | None = None) -> None:
        h.send_response_only(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body if send is None else send)
        h.wfile.flush()

    def _drop(self, h) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        operation = (h.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        fault = self._take(operation, body) if isinstance(body, dict) else None
        with self.lock:
            self.seen.append((operation, fault.kind if fault else None))
        if fault is None:
            self._answer(h, *self._forward(h, raw))
            return
        kind, params = fault.kind, fault.params
        if kind == "throttle":
            code = params.get("code", "ThrottlingException")
            error = json.dumps({"__type": PREFIX + code, "message": "Rate of requests exceeds the allowed throughput."})
            self._answer(h, 400, self._json_headers(error), error.encode())
        elif kind == "unprocessed":
            self._unprocessed(h, operation, body)
        elif kind == "error_after_write":
            self._forward(h, raw)
            error = json.dumps({"__type": PREFIX + "InternalServerError", "message": "Internal server error"})
            self._answer(h, 500, self._json_headers(error), error.encode())
        elif kind == "drop_after_write":
            self._forward(h, raw)
            self._drop(h)
        elif kind == "slow":
            time.sleep(params["seconds"])
            self._answer(h, *self._forward(h, raw))
        elif kind == "slow_answer":
            answer = self._forward(h, raw)
            self.late_answers_read.set()
            time.sleep(params["seconds"])
            self._answer(h, *answer)
        elif kind == "truncate":
            status, headers, answer = self._forward(h, raw)
            self._answer(h, status, headers, answer, send=answer[: len(answer) // 2])
            self._drop(h)
        elif kind == "corrupt":
            status, headers, answer = self._forward(h, raw)
            old, new = params["old"].encode(), params["new"].encode()
            assert len(old) == len(new) and old in answer, (old, answer)
            self._answer(h, status, headers, answer.replace(old, new, 1))
        else:
            raise ValueError(f"unknown fault {kind}")

    @staticmethod
    def _json_headers(body: str) -> list:
        return [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-RequestId", "FAULT"),
                ("x-amz-crc32", str(zlib.crc32(body.encode())))]

    def _unprocessed(self, h, operation: str, body: dict) -> None:
        items = body.get("RequestItems", {})
        sent, left = {}, {}
        for table, value in items.items():
            if operation == "BatchWriteItem":
                sent[table], rest = value[:1], value[1:]
                if rest:
                    left[table] = rest
            else:
                keys = value["Keys"]
                sent[table] = dict(value, Keys=keys[:-1]) if len(keys) > 1 else None
                left[table] = dict(value, Keys=keys[-1:])
        sent = {t: v for t, v in sent.items() if v}
        if sent:
            status, headers, answer = self._forward(h, json.dumps(dict(body, RequestItems=sent)).encode())
            result = json.loads(answer)
        else:
            status, headers, result = 200, [("Content-Type", "application/x-amz-json-1.0")], {"Responses": {}}
        if status == 200:
            result["UnprocessedItems" if operation == "BatchWriteItem" else "UnprocessedKeys"] = left
        out = json.dumps(result).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"] + [("x-amz-crc32", str(zlib.crc32(out)))]
        self._answer(h, status, headers, out)
