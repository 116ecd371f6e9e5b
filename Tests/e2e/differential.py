"""Seeded, randomised differential fuzzing of DynamoCache's data plane.

The same sequence of DynamoDB operations goes (a) straight to moto_server A and (b) through the proxy to
moto_server B. Both servers start empty, so every answer must be equal after the normalisations of `compare`.
The sequence is a pure function of the seed and of the direct side's answers (the generator reads only those:
pagination keys, and the items it saw, to write conditions that sometimes hold), so a seed replays a run.

Requests go as raw signed HTTP on keep-alive connections, one per side per client, so exact bodies and headers
are seen. Each client has its own tables: each server then sees each table's operations in the same order and
the answers stay deterministic with concurrent clients.

    python3 Tests/e2e/differential.py --ops 100000 --seeds 1,2,3 --clients 4 [--binary PATH]

starts its own two moto servers and proxy (127.0.0.1 only), prints a summary and exits 1 on any difference.
`test_differential.py` runs a short sequence with the suite's session servers.
"""

from __future__ import annotations

import argparse
import base64
import collections
import concurrent.futures
import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import (  # noqa: E402
    CACHE_ANSWERED, CACHE_HEADER_VALUES, LOOPBACK, MotoServer, ProxyProcess, Raw, check_cached_capacity,
    check_crc32, json_diff, normalise, signed_headers, sorted_batch_responses, sorted_sets,
    without_consumed_capacity,
)

TARGET_PREFIX = "DynamoDB_20120810."
REQUEST_TIMEOUT = 30.0
INDEX = "gsi"
MAX_PAGES = 6  # pages followed per Query or Scan, first included

# --------------------------------------------------------------------------
# Value pools. Small key pools make reads find written items and the cache serve hits.
# --------------------------------------------------------------------------

PARTITIONS = ["p0", "p1", "é2", "😀3"]
# Sort key values, each with spellings DynamoDB reads as the same number (the first is the canonical one):
# the proxy must key its cache by value and still answer the server's own spelling.
SORTS = [["1", "1.0", "01"], ["2.5", "2.50", "+2.5"], ["7", "007", "7E0"], ["100", "1e2", "1E+2"],
         ["0", "-0", "0.00"], ["-3", "-3.000", "-.3e1"]]
IDS = ["k0", "k1", "k2", "k3", "k4", "k5", "a b", "ünï"]
BINARY_KEYS = [base64.b64encode(b).decode() for b in (b"\x00", b"\x01\x02", b"\xff\xfe\xfd", b"key", b"\x7f" * 9)]
INDEX_PARTITIONS = ["g0", "g1", "g2"]
INDEX_SORTS = ["1", "2", "2.0", "3", "10"]

# The values of attribute n, the one updates add to: far from the limits, since moto stores a sum beyond them
# (MOTO_STORES "overflow in SET").
ARITHMETIC_NUMBERS = ["0", "1", "-1", "42", "3.14", "-0.5", "2.50", "007", "1e2", "-0", "+5", "0.10", ".5", "5.",
                      "1.0E1", "1000000", "-1234567890.12345678"]
# Canonical and non-canonical spellings, and DynamoDB's extreme magnitudes and precision.
NUMBERS = ["0", "1", "-1", "42", "3.14", "-0.5", "1000000", "2.50", "007", "1e2", "-0", "+5", "0.10", ".5", "5.",
           "1.0E1", "12345678901234567890123456789012345678", "-1234567890.1234567890123456789012345678",
           "9.9999999999999999999999999999999999999E+125", "-9.9999999999999999999999999999999999999E+125",
           "1E-130", "-1E-130", "1E+125", "0.000000000000000000000000000000000000001"]
SMALL_NUMBERS = ["1", "2", "-1", "0.5", "10", "3.25", "-0.25", "1e1", "007"]
STRINGS = ["x", "hello", "héllo wörld", "😀 emoji", "", "  ", 'quote"d', "back\\slash", "tab\tnew\nline",
           "nul\u0000byte", "日本語", "a" * 40]
SET_STRINGS = ["a", "b", "c", "é", "😀", "zz", "A"]
SET_NUMBERS = ["1", "2", "3.5", "-4", "100", "0.01", "1e3"]
SET_BINARIES = [base64.b64encode(b).decode() for b in (b"\x00", b"\x01", b"ab", b"\xff\xff", b"xyz")]
MAP_KEYS = ["x", "y", "z", "name", "é"]

# Attribute names with the type they mostly hold (a random type otherwise, so type errors happen too).
# "name" is a reserved word and "x-y" is no identifier: both need a #placeholder in expressions.
ATTRIBUTES = {"a": None, "b": None, "c": "S", "n": "N", "l": "L", "m": "M", "ss": "SS", "ns": "NS", "bs": "BS",
              "name": None, "x-y": None, "é": None}
RESERVED = {"NAME"}  # the reserved words of the pools above (DynamoDB's list is long; none other is used)
# Number text DynamoDB refuses. moto refuses it too in PutItem, except the last two, which it stores.
BAD_NUMBERS = ["1.2.3", "abc", "1e999", "", "0x10", " 1", "1e", "--1", "1E-131", "NaN", "Infinity",
               "123456789012345678901234567890123456789", "1e126"]
BAD_NUMBERS_MOTO_REFUSES = BAD_NUMBERS[:-2]
# Writes of values DynamoDB refuses but moto stores (its validation is partial). With them the servers hold
# items DynamoDB never could, and the proxy's answers about such items are checked too: only with
# Generator(stored_invalid=True) (CLI --stored-invalid), since the default run keeps to DynamoDB-valid data.
MOTO_STORES = {
    "bad number in SET": "UpdateItem 'SET n = :v' with any malformed number text (:v {\"N\": \"abc\"}) is stored",
    "number out of range": "PutItem with 39 significant digits or a magnitude over 1E+125 is stored",
    "duplicate set element": "SS [a, a], NS [1, 1.0], BS [AA==, AA==] are stored as sent (Put and Update)",
    "empty set": "PutItem with BS [] and UpdateItem 'SET s = :v' with SS [] or BS [] are stored",
    "overflow in SET": "'SET n = :a + :b' beyond 9.99E+125 stores the result when both have a point (moto "
                       "adds them as 28-digit Decimals and checks no range; without a point it fails, HTTP 500)",
    "key of a refused update": "UpdateItem of a missing item refused for an empty set to ADD (a "
                               "ValidationException) leaves the item behind with its key only",
}


_DECIMAL = Context(prec=200, Emax=10**6, Emin=-10**6)  # exact for every number DynamoDB (or moto) holds


def canonical_number(text: str) -> str:
    """A number's value as text, one for all its spellings ("2.50", "+2.5", "25E-1": "2.5"); bad text as is."""
    try:
        d = _DECIMAL.create_decimal(text)
    except InvalidOperation:
        return text
    return "0" if d.is_zero() else str(d.normalize(_DECIMAL))


@dataclass(frozen=True)
class Tables:
    """One client's tables: H (pk S, sk N) with index `gsi` (gk S, gs N), K (id S) and Bk (bk B)."""
    hash_range: str
    hash_only: str
    binary: str

    def all(self) -> list[str]:
        return [self.hash_range, self.hash_only, self.binary]

    @staticmethod
    def named(prefix: str) -> "Tables":
        return Tables(f"{prefix}-H", f"{prefix}-K", f"{prefix}-Bk")


def create_table_bodies(t: Tables) -> list[dict]:
    def ks(*names: tuple[str, str]) -> list[dict]:
        return [{"AttributeName": n, "KeyType": k} for n, k in names]

    def attrs(*defs: tuple[str, str]) -> list[dict]:
        return [{"AttributeName": n, "AttributeType": ty} for n, ty in defs]

    return [
        {"TableName": t.hash_range, "BillingMode": "PAY_PER_REQUEST",
         "KeySchema": ks(("pk", "HASH"), ("sk", "RANGE")),
         "AttributeDefinitions": attrs(("pk", "S"), ("sk", "N"), ("gk", "S"), ("gs", "N")),
         "GlobalSecondaryIndexes": [{"IndexName": INDEX, "KeySchema": ks(("gk", "HASH"), ("gs", "RANGE")),
                                     "Projection": {"ProjectionType": "ALL"}}]},
        {"TableName": t.hash_only, "BillingMode": "PAY_PER_REQUEST", "KeySchema": ks(("id", "HASH")),
         "AttributeDefinitions": attrs(("id", "S"))},
        {"TableName": t.binary, "BillingMode": "PAY_PER_REQUEST", "KeySchema": ks(("bk", "HASH")),
         "AttributeDefinitions": attrs(("bk", "B"))},
    ]


# --------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-dynamo-cache")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def error_message(self) -> str | None:
        j = self.json()
        if self.status == 200 or not isinstance(j, dict):
            return None
        return j.get("message", j.get("Message"))

    def brief(self, limit: int = 1500) -> str:
        text = self.body[:limit].decode("utf-8", "replace")
        cache = f" x-dynamo-cache={self.cache}" if self.cache else ""
        return f"HTTP {self.status}{cache} {text}{'...' if len(self.body) > limit else ''}"


class Connection:
    """A keep-alive HTTP/1.1 connection to one side, signing each request as botocore would."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"{LOOPBACK}:{port}"
        self._conn: http.client.HTTPConnection | None = None

    def post(self, op: str, body: bytes) -> Answer:
        # A kept-alive connection the server closed while idle fails before anything was read: sent again once
        # on a new connection (what SDKs do). A fresh connection's failure is raised.
        for attempt in (0, 1):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=REQUEST_TIMEOUT)
            headers = signed_headers(self.host, body, TARGET_PREFIX + op)
            try:
                self._conn.request("POST", "/", body=body, headers=headers)
                resp = self._conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            if answer.headers.get("connection", "").lower() == "close":
                self.close()
            return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

@dataclass
class Step:
    """One request of the sequence. kind labels it in the summary (e.g. Query:index, invalid:bad-number)."""
    op: str
    body: dict
    kind: str


class Expr:
    """The ExpressionAttributeNames and Values of one request: each declared once and only when used (DynamoDB
    refuses unused ones). Names that are not plain identifiers, or are reserved, always get a #placeholder;
    others sometimes, so both spellings of a path reach the proxy."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.names: dict[str, str] = {}
        self.values: dict[str, dict] = {}
        self._aliases: dict[str, str] = {}

    def name(self, attr: str) -> str:
        needs = not (attr.isascii() and attr.replace("_", "a").isalnum() and attr[0].isalpha()) \
            or attr.upper() in RESERVED
        if not needs and self.rng.random() < 0.6:
            return attr
        if attr not in self._aliases:
            alias = f"#n{len(self._aliases)}"
            self._aliases[attr] = alias
            self.names[alias] = attr
        return self._aliases[attr]

    def value(self, av: dict) -> str:
        token = f":v{len(self.values)}"
        self.values[token] = av
        return token

    def apply(self, body: dict) -> dict:
        if self.names:
            body["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            body["ExpressionAttributeValues"] = dict(self.values)
        return body


def item_identity(table: str, key: dict) -> tuple:
    """A key as DynamoDB compares keys: numbers by value (2.5 == 2.50)."""
    parts = []
    for name in sorted(key):
        (ty, v), = key[name].items()
        parts.append((name, ty, canonical_number(v) if ty == "N" else v))
    return table, tuple(parts)


@dataclass(frozen=True)
class Repair:
    """A moto quirk that leaves the servers holding what DynamoDB would not (while the proxy, rightly, keeps what
    it had): recognised from the direct side's answer, and followed by a write that changes no attribute but
    makes the proxy read the item anew (`REMOVE` of an attribute never set, if the item exists)."""
    name: str
    recognise: Callable[[Answer], bool]
    reason: str


REPAIRS: list[Repair] = [
    Repair("update applied in part",
           lambda a: a.status == 400 and a.error_message == "An operand in the update expression has an incorrect "
                                                             "data type",
           "UpdateItem refused for an ADD or DELETE operand of the wrong type: moto keeps the actions it applied "
           "before that one ('SET c = :new ADD ss :ss' on an item whose ss is a BS sets c), and creates a missing "
           "item with its key; DynamoDB applies nothing. (TransactWriteItems rolls back.)"),
]


class Generator:
    """Draws the requests of one client from its own random.Random."""

    def __init__(self, rng: random.Random, tables: Tables, stored_invalid: bool = False):
        self.rng = rng
        self.t = tables
        self.stored_invalid = stored_invalid
        # Items as the direct side last showed them, by item_identity: conditions that hold need real values.
        self.seen: dict[tuple, dict] = {}

    # --- values ---------------------------------------------------------------

    def number(self) -> str:
        return self.rng.choice(NUMBERS)

    def scalar(self) -> dict:
        r = self.rng
        kind = r.choice(["S", "S", "N", "N", "B", "BOOL", "NULL"])
        if kind == "S":
            return {"S": r.choice(STRINGS)}
        if kind == "N":
            return {"N": self.number()}
        if kind == "B":
            return {"B": base64.b64encode(bytes(r.randrange(256) for _ in range(r.randrange(0, 9)))).decode()}
        if kind == "BOOL":
            return {"BOOL": r.random() < 0.5}
        return {"NULL": True}

    def string_set(self) -> dict:
        return {"SS": self.rng.sample(SET_STRINGS, self.rng.randint(1, 4))}

    def number_set(self) -> dict:
        return {"NS": self.rng.sample(SET_NUMBERS, self.rng.randint(1, 4))}

    def binary_set(self) -> dict:
        return {"BS": self.rng.sample(SET_BINARIES, self.rng.randint(1, 3))}

    def value(self, depth: int = 0, kind: str | None = None) -> dict:
        r = self.rng
        if kind is None:
            kind = r.choice(["scalar"] * 5 + ["SS", "NS", "BS"] + (["L", "M"] * 2 if depth < 3 else []))
        if kind == "S":
            return {"S": r.choice(STRINGS)}
        if kind == "N":
            return {"N": self.number()}
        if kind == "SS":
            return self.string_set()
        if kind == "NS":
            return self.number_set()
        if kind == "BS":
            return self.binary_set()
        if kind == "L":
            return {"L": [self.value(depth + 1) for _ in range(r.randint(0, 3))]}
        if kind == "M":
            keys = r.sample(MAP_KEYS, r.randint(0, 3))
            return {"M": {k: self.value(depth + 1) for k in keys}}
        return self.scalar()

    def attribute_value(self, attr: str) -> dict:
        """A value for a named attribute: mostly its usual type; gk and gs always the index's key types."""
        if attr == "gk":
            return {"S": self.rng.choice(INDEX_PARTITIONS)}
        if attr == "gs":
            return {"N": self.rng.choice(INDEX_SORTS)}
        usual = ATTRIBUTES.get(attr)
        value = self.value(kind=usual if usual and self.rng.random() < 0.85 else None)
        return {"N": self.rng.choice(ARITHMETIC_NUMBERS)} if attr == "n" and "N" in value else value

    # --- keys and items ---------------------------------------------------------

    def table(self) -> str:
        return self.rng.choices(self.t.all(), weights=[6, 3, 1])[0]

    def key(self, table: str) -> dict:
        r = self.rng
        if table == self.t.hash_range:
            return {"pk": {"S": r.choice(PARTITIONS)}, "sk": {"N": r.choice(r.choice(SORTS))}}
        if table == self.t.hash_only:
            return {"id": {"S": r.choice(IDS)}}
        return {"bk": {"B": r.choice(BINARY_KEYS)}}

    def key_names(self, table: str) -> list[str]:
        return {self.t.hash_range: ["pk", "sk"], self.t.hash_only: ["id"]}.get(table, ["bk"])

    def attribute_names(self, table: str) -> list[str]:
        names = list(ATTRIBUTES)
        return names + ["gk", "gs"] if table == self.t.hash_range else names

    def item(self, table: str, key: dict | None = None) -> dict:
        item = dict(key or self.key(table))
        for attr in self.rng.sample(self.attribute_names(table), self.rng.randint(0, 6)):
            item[attr] = self.attribute_value(attr)
        return item

    def distinct_keys(self, table: str, n: int) -> list[dict]:
        keys, ids = [], set()
        for _ in range(n * 4):
            k = self.key(table)
            ident = item_identity(table, k)
            if ident not in ids:
                ids.add(ident)
                keys.append(k)
            if len(keys) == n:
                break
        return keys

    def known(self, table: str, key_or_item: dict) -> dict | None:
        return self.seen.get(item_identity(table, {k: key_or_item[k] for k in self.key_names(table)}))

    # --- expressions ------------------------------------------------------------

    def path(self, e: Expr, table: str) -> str:
        """A document path: an attribute, a map member (m.x, m.x.y), a list element (l[0]) or, rarely, a path
        through a non-map or into a key attribute (valid: it selects nothing)."""
        r = self.rng
        roll = r.random()
        if roll < 0.55:
            return e.name(r.choice(self.attribute_names(table) + self.key_names(table)))
        if roll < 0.75:
            p = f"{e.name('m')}.{e.name(r.choice(MAP_KEYS))}"
            return p + f".{e.name(r.choice(MAP_KEYS))}" if r.random() < 0.3 else p
        if roll < 0.88:
            return f"{e.name('l')}[{r.randrange(3)}]"
        if roll < 0.92:
            return f"{e.name('l')}[{r.randrange(3)}][{r.randrange(2)}]"
        return f"{e.name(r.choice(['a', 'c', 'n']))}.{e.name('x')}"

    def projection(self, e: Expr, table: str) -> str:
        paths = []
        for _ in range(self.rng.randint(1, 3)):
            p = self.path(e, table)
            if p not in paths:
                paths.append(p)
        return ", ".join(paths)

    def condition(self, e: Expr, table: str, key: dict | None = None, depth: int = 0) -> str:
        """A condition or filter expression, true or false on the item (values taken from it when known)."""
        r = self.rng
        item = self.known(table, key) if key else None
        roll = r.random()
        if depth < 2 and roll < 0.15:
            op = r.choice(["AND", "OR"])
            return f"({self.condition(e, table, key, depth + 1)}) {op} {self.condition(e, table, key, depth + 1)}"
        if depth < 2 and roll < 0.2:
            return f"NOT {self.condition(e, table, key, depth + 1)}"
        if item and roll < 0.55:
            attr = r.choice(sorted(item))
            if r.random() < 0.5:
                return f"{e.name(attr)} = {e.value(item[attr])}"
            return f"{r.choice(['attribute_exists', 'attribute_not_exists'])}({e.name(attr)})"
        attr = r.choice(self.attribute_names(table) + self.key_names(table))
        choice = r.randrange(8)
        if choice == 0:
            return f"attribute_exists({e.name(attr)})"
        if choice == 1:
            return f"attribute_not_exists({e.name(attr)})"
        if choice == 2:
            return f"{e.name(attr)} = {e.value(self.attribute_value(attr))}"
        if choice == 3:
            return f"{e.name('n')} {r.choice(['<', '<=', '>', '>=', '<>'])} {e.value({'N': r.choice(SMALL_NUMBERS)})}"
        if choice == 4:
            return f"size({e.name(r.choice(['l', 'c', 'ss', 'm']))}) >= {e.value({'N': str(r.randrange(4))})}"
        if choice == 5:
            return f"contains({e.name('ss')}, {e.value({'S': r.choice(SET_STRINGS)})})"
        if choice == 6:
            return f"begins_with({e.name('c')}, {e.value({'S': r.choice(['', 'h', 'x', 'a'])})})"
        ty = r.choice(["S", "N", "L", "M", "SS", "NULL", "BOOL"])
        return f"attribute_type({e.name(attr)}, {e.value({'S': ty})})"

    def key_condition(self, e: Expr, on_index: bool) -> str:
        r = self.rng
        hash_name, range_name = ("gk", "gs") if on_index else ("pk", "sk")
        hash_value = r.choice(INDEX_PARTITIONS) if on_index else r.choice(PARTITIONS)
        parts = [f"{e.name(hash_name)} = {e.value({'S': hash_value})}"]
        if r.random() < 0.6:
            def sort_value() -> dict:
                return {"N": r.choice(INDEX_SORTS) if on_index else r.choice(r.choice(SORTS))}
            op = r.choice(["=", "<", "<=", ">", ">=", "BETWEEN"])
            if op == "BETWEEN":
                low, high = sorted([sort_value(), sort_value()], key=lambda v: Decimal(v["N"]))
                if r.random() < 0.1:  # reversed bounds: refused
                    low, high = high, low
                parts.append(f"{e.name(range_name)} BETWEEN {e.value(low)} AND {e.value(high)}")
            else:
                parts.append(f"{e.name(range_name)} {op} {e.value(sort_value())}")
        return " AND ".join(parts)

    def update_expression(self, e: Expr, table: str) -> str:
        """1-3 actions on distinct attributes, grouped in clauses in a random order."""
        r = self.rng
        clauses: dict[str, list[str]] = collections.defaultdict(list)
        names = self.attribute_names(table)
        for attr in r.sample(names, r.randint(1, 3)):
            a = e.name(attr)
            usual = ATTRIBUTES.get(attr) or ("N" if attr == "gs" else "S")
            roll = r.random()
            if roll < 0.12:
                clauses["REMOVE"].append(a)
            elif usual == "L" and roll < 0.6:
                new = e.value({"L": [self.value(1) for _ in range(r.randint(1, 2))]})
                form = r.randrange(3)
                if form == 0:
                    clauses["SET"].append(f"{a} = list_append({a}, {new})")
                elif form == 1:
                    clauses["SET"].append(f"{a} = list_append({new}, {a})")
                else:
                    clauses["SET"].append(f"{a} = list_append(if_not_exists({a}, {e.value({'L': []})}), {new})")
            elif usual == "L" and roll < 0.75:
                target = f"{a}[{r.randrange(3)}]"
                if r.random() < 0.5:
                    clauses["REMOVE"].append(target)
                else:
                    clauses["SET"].append(f"{target} = {e.value(self.value(1))}")
            elif usual == "M" and roll < 0.6:
                target = f"{a}.{e.name(r.choice(MAP_KEYS))}"
                if r.random() < 0.3:
                    clauses["REMOVE"].append(target)
                else:
                    clauses["SET"].append(f"{target} = {e.value(self.value(1))}")
            elif usual == "N" and roll < 0.7 and attr != "gs":
                d = e.value({"N": r.choice(SMALL_NUMBERS)})
                form = r.randrange(4)
                if form == 0:
                    clauses["ADD"].append(f"{a} {d}")
                elif form == 1:
                    clauses["SET"].append(f"{a} = {a} {r.choice('+-')} {d}")
                else:
                    clauses["SET"].append(f"{a} = if_not_exists({a}, {e.value({'N': '0'})}) + {d}")
            elif usual in ("SS", "NS", "BS") and roll < 0.75:
                item_set = {"SS": self.string_set, "NS": self.number_set, "BS": self.binary_set}[usual]()
                clauses[r.choice(["ADD", "ADD", "DELETE"])].append(f"{a} {e.value(item_set)}")
            elif roll < 0.85:
                clauses["SET"].append(f"{a} = if_not_exists({a}, {e.value(self.attribute_value(attr))})")
            else:
                clauses["SET"].append(f"{a} = {e.value(self.attribute_value(attr))}")
        order = list(clauses)
        r.shuffle(order)
        return " ".join(f"{c} {', '.join(clauses[c])}" for c in order)

    def maybe_capacity(self, body: dict) -> dict:
        if self.rng.random() < 0.04:
            body["ReturnConsumedCapacity"] = self.rng.choice(["TOTAL", "INDEXES"])
        return body

    # --- operations -------------------------------------------------------------

    def next(self) -> Step:
        r = self.rng
        op = r.choices(["GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem",
                        "BatchWriteItem", "TransactWriteItems", "invalid"],
                       weights=[34, 9, 12, 5, 12, 12, 5, 4, 3, 4])[0]
        return getattr(self, "gen_" + op)()

    def gen_GetItem(self) -> Step:
        r = self.rng
        table = self.table()
        e = Expr(r)
        body: dict[str, Any] = {"TableName": table, "Key": self.key(table)}
        if r.random() < 0.35:
            body["ProjectionExpression"] = self.projection(e, table)
        if r.random() < 0.15:
            body["ConsistentRead"] = r.random() < 0.8
        return Step("GetItem", self.maybe_capacity(e.apply(body)), "GetItem")

    def gen_BatchGetItem(self) -> Step:
        r = self.rng
        request: dict[str, Any] = {}
        for table in r.sample(self.t.all(), r.choice([1, 1, 2])):
            e = Expr(r)
            entry: dict[str, Any] = {"Keys": self.distinct_keys(table, r.randint(1, 5))}
            if r.random() < 0.3:
                entry["ProjectionExpression"] = self.projection(e, table)
            if r.random() < 0.1:
                entry["ConsistentRead"] = True
            request[table] = e.apply(entry)
        return Step("BatchGetItem", self.maybe_capacity({"RequestItems": request}), "BatchGetItem")

    def return_values(self, *choices: str) -> dict:
        pick = self.rng.choice((None,) + choices)
        return {} if pick is None else {"ReturnValues": pick}

    def gen_PutItem(self) -> Step:
        r = self.rng
        table = self.table()
        item = self.item(table)
        e = Expr(r)
        body: dict[str, Any] = {"TableName": table, "Item": item, **self.return_values("NONE", "ALL_OLD")}
        if r.random() < 0.3:
            hash_name = self.key_names(table)[0]
            form = r.randrange(3)
            if form < 2:
                function = ["attribute_not_exists", "attribute_exists"][form]
                body["ConditionExpression"] = f"{function}({e.name(hash_name)})"
            else:
                body["ConditionExpression"] = self.condition(e, table, item)
            if r.random() < 0.2:
                body["ReturnValuesOnConditionCheckFailure"] = r.choice(["ALL_OLD", "NONE"])
        return Step("PutItem", self.maybe_capacity(e.apply(body)), "PutItem")

    def gen_UpdateItem(self) -> Step:
        r = self.rng
        table = self.table()
        key = self.key(table)
        e = Expr(r)
        body: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": self.update_expression(e, table),
                                **self.return_values("NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD")}
        if r.random() < 0.25:
            body["ConditionExpression"] = self.condition(e, table, key)
        return Step("UpdateItem", self.maybe_capacity(e.apply(body)), "UpdateItem")

    def gen_DeleteItem(self) -> Step:
        r = self.rng
        table = self.table()
        key = self.key(table)
        e = Expr(r)
        body: dict[str, Any] = {"TableName": table, "Key": key, **self.return_values("NONE", "ALL_OLD")}
        if r.random() < 0.3:
            body["ConditionExpression"] = self.condition(e, table, key)
        return Step("DeleteItem", self.maybe_capacity(e.apply(body)), "DeleteItem")

    def gen_BatchWriteItem(self) -> Step:
        r = self.rng
        request: dict[str, list] = {}
        for table in r.sample(self.t.all(), r.choice([1, 1, 2])):
            request[table] = [{"PutRequest": {"Item": self.item(table, k)}} if r.random() < 0.65
                              else {"DeleteRequest": {"Key": k}}
                              for k in self.distinct_keys(table, r.randint(1, 5))]
        return Step("BatchWriteItem", {"RequestItems": request}, "BatchWriteItem")

    def gen_TransactWriteItems(self) -> Step:
        r = self.rng
        actions, ids = [], set()
        for _ in range(r.randint(1, 4)):
            table = self.table()
            key = self.key(table)
            if item_identity(table, key) in ids:
                continue
            ids.add(item_identity(table, key))
            e = Expr(r)
            kind = r.choice(["Put", "Update", "Delete", "ConditionCheck"])
            if kind == "Put":
                action: dict[str, Any] = {"TableName": table, "Item": self.item(table, key)}
            elif kind == "Update":
                action = {"TableName": table, "Key": key, "UpdateExpression": self.update_expression(e, table)}
            else:
                action = {"TableName": table, "Key": key}
            if kind == "ConditionCheck" or r.random() < 0.3:
                action["ConditionExpression"] = self.condition(e, table, key)
                if r.random() < 0.3:
                    action["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            actions.append({kind: e.apply(action)})
        return Step("TransactWriteItems", {"TransactItems": actions}, "TransactWriteItems")

    def gen_Query(self) -> Step:
        r = self.rng
        on_index = r.random() < 0.35
        e = Expr(r)
        table = self.t.hash_range
        body: dict[str, Any] = {"TableName": table, "KeyConditionExpression": self.key_condition(e, on_index)}
        if on_index:
            body["IndexName"] = INDEX
        self.read_options(e, body, table, consistent_ok=not on_index)
        return Step("Query", self.maybe_capacity(e.apply(body)), "Query:index" if on_index else "Query")

    def gen_Scan(self) -> Step:
        r = self.rng
        on_index = r.random() < 0.2
        table = self.t.hash_range if on_index else self.table()
        e = Expr(r)
        body: dict[str, Any] = {"TableName": table}
        if on_index:
            body["IndexName"] = INDEX
        self.read_options(e, body, table, consistent_ok=not on_index)
        return Step("Scan", self.maybe_capacity(e.apply(body)), "Scan:index" if on_index else "Scan")

    def read_options(self, e: Expr, body: dict, table: str, consistent_ok: bool) -> None:
        r = self.rng
        if r.random() < 0.4:
            body["Limit"] = r.randint(1, 5)
        if "KeyConditionExpression" in body and r.random() < 0.3:
            body["ScanIndexForward"] = False
        if r.random() < 0.1:
            body["Select"] = "COUNT"
        elif r.random() < 0.3:
            body["ProjectionExpression"] = self.projection(e, table)
        if r.random() < 0.3:
            body["FilterExpression"] = self.condition(e, table)
        if consistent_ok and r.random() < 0.1:
            body["ConsistentRead"] = True

    def after(self, step: Step, direct: Answer, page: int) -> Step | None:
        """The request that must follow `step`, if any: the next page of a Query or Scan (from the direct side's
        LastEvaluatedKey, sent to both sides), or else sometimes the same page again (the proxy's query cache
        serves a page only to a repeat with no write to its table in between); or the repair of an UpdateItem
        moto applied in part (REPAIRS)."""
        for repair in REPAIRS:
            if step.op == "UpdateItem" and repair.recognise(direct):
                key_name = self.key_names(step.body["TableName"])[0]
                return Step("UpdateItem", {
                    "TableName": step.body["TableName"], "Key": step.body["Key"],
                    "UpdateExpression": "REMOVE #never", "ConditionExpression": "attribute_exists(#key)",
                    "ExpressionAttributeNames": {"#never": "never-set", "#key": key_name}}, "repair:" + repair.name)
        if step.op not in ("Query", "Scan") or direct.status != 200 or page >= MAX_PAGES:
            return None
        base = step.kind.removesuffix(":repeat").removesuffix(":page")
        last = (direct.json() or {}).get("LastEvaluatedKey")
        if last and self.rng.random() < 0.85:
            return Step(step.op, {**step.body, "ExclusiveStartKey": last}, base + ":page")
        if not step.kind.endswith(":repeat") and self.rng.random() < 0.3:
            return Step(step.op, step.body, step.kind.removesuffix(":page") + ":repeat")
        return None

    # --- invalid requests: both sides must refuse them alike ----------------------

    def gen_invalid(self) -> Step:
        r = self.rng
        kinds = ["bad-number", "missing-key", "wrong-key-type", "extra-key", "empty-set", "unused-name",
                 "reserved-word", "duplicate-batch-key", "index-consistent-read", "update-key-attribute"]
        kind = r.choice(kinds + (["stored"] * 3 if self.stored_invalid else []))
        if kind == "stored":
            return self.gen_stored_invalid()
        t = self.t
        body: dict[str, Any]
        if kind == "bad-number":
            where = r.randrange(4)
            if where == 0:
                body = {"TableName": t.hash_range, "Key": {"pk": {"S": r.choice(PARTITIONS)},
                                                           "sk": {"N": r.choice(BAD_NUMBERS)}}}
                return Step("GetItem", body, "invalid:" + kind)
            if where == 1:
                key = {"pk": {"S": r.choice(PARTITIONS)}, "sk": {"N": r.choice(BAD_NUMBERS)}}
                return Step("BatchGetItem", {"RequestItems": {t.hash_range: {"Keys": [key]}}}, "invalid:" + kind)
            if where == 2:
                body = {"TableName": t.hash_range, "KeyConditionExpression": "pk = :p AND sk > :s",
                        "ExpressionAttributeValues": {":p": {"S": r.choice(PARTITIONS)},
                                                      ":s": {"N": r.choice(BAD_NUMBERS)}}}
                return Step("Query", body, "invalid:" + kind)
            item = {**self.key(t.hash_only), "n": {"N": r.choice(BAD_NUMBERS_MOTO_REFUSES)}}
            return Step("PutItem", {"TableName": t.hash_only, "Item": item}, "invalid:" + kind)
        if kind == "empty-set":  # the form moto refuses without storing anything (MOTO_STORES names others)
            item = {**self.key(t.hash_only), "s": {r.choice(["SS", "NS"]): []}}
            return Step("PutItem", {"TableName": t.hash_only, "Item": item}, "invalid:" + kind)
        if kind in ("missing-key", "wrong-key-type", "extra-key"):
            key = self.key(t.hash_range)
            if kind == "missing-key":
                del key[r.choice(["pk", "sk"])]
            elif kind == "wrong-key-type":
                key[r.choice(["pk", "sk"])] = r.choice([{"N": "1"}, {"S": "1"}, {"B": "AA=="}, {"BOOL": True}])
            else:
                key["a"] = {"S": "x"}
            op = r.choice(["GetItem", "GetItem", "BatchGetItem", "DeleteItem", "PutItem"])
            if op == "BatchGetItem":
                return Step(op, {"RequestItems": {t.hash_range: {"Keys": [self.key(t.hash_range), key]}}},
                            "invalid:" + kind)
            if op == "PutItem":
                return Step(op, {"TableName": t.hash_range, "Item": {**key, "v": {"S": "v"}}}, "invalid:" + kind)
            return Step(op, {"TableName": t.hash_range, "Key": key}, "invalid:" + kind)
        if kind in ("unused-name", "reserved-word"):
            table = r.choice(t.all())
            body = {"TableName": table, "Key": self.key(table)}
            if kind == "unused-name":
                body.update(ProjectionExpression="a, c", ExpressionAttributeNames={"#unused": "b"})
            else:
                body["ProjectionExpression"] = r.choice(["name", "a, name", "m.name", "x-y"])
            if r.random() < 0.5:
                return Step("GetItem", body, "invalid:" + kind)
            table = body.pop("TableName")
            return Step("BatchGetItem", {"RequestItems": {table: {**body, "Keys": [body.pop("Key")]}}},
                        "invalid:" + kind)
        if kind == "duplicate-batch-key":
            table = r.choice(t.all())
            key = self.key(table)
            twin = dict(key)
            if "sk" in key:  # the same number spelt another way is the same key
                value = next(s for s in SORTS if key["sk"]["N"] in s)
                twin["sk"] = {"N": r.choice(value)}
            return Step("BatchGetItem", {"RequestItems": {table: {"Keys": [key, twin]}}}, "invalid:" + kind)
        if kind == "index-consistent-read":
            e = Expr(r)
            body = {"TableName": t.hash_range, "IndexName": INDEX, "ConsistentRead": True,
                    "KeyConditionExpression": self.key_condition(e, True)}
            return Step("Query", e.apply(body), "invalid:" + kind)
        key = self.key(t.hash_range)
        body = {"TableName": t.hash_range, "Key": key, "UpdateExpression": f"SET {r.choice(['pk', 'sk'])} = :v",
                "ExpressionAttributeValues": {":v": {"S": "x"}}}
        return Step("UpdateItem", body, "invalid:" + kind)

    def gen_stored_invalid(self) -> Step:
        """A write of a value DynamoDB refuses and moto stores (MOTO_STORES), on table K."""
        r = self.rng
        t = self.t.hash_only
        kind = r.choice(list(MOTO_STORES))
        if kind == "bad number in SET":
            body = {"TableName": t, "Key": self.key(t), "UpdateExpression": "SET n = :v",
                    "ExpressionAttributeValues": {":v": {"N": r.choice(BAD_NUMBERS)}}}
            return Step("UpdateItem", body, "stored-invalid:" + kind)
        if kind == "number out of range":
            item = {**self.key(t), "n": {"N": r.choice(BAD_NUMBERS[-2:])}}
            return Step("PutItem", {"TableName": t, "Item": item}, "stored-invalid:" + kind)
        if kind == "overflow in SET":
            body = {"TableName": t, "Key": self.key(t), "UpdateExpression": "SET n = :a + :b",
                    "ExpressionAttributeValues": {":a": {"N": "9.9999999999999999999999999999999999999E+125"},
                                                  ":b": {"N": r.choice(["1.5E+125", "9.0E+125"])}}}
            return Step("UpdateItem", body, "stored-invalid:" + kind)
        if kind == "key of a refused update":
            operand = r.choice([{"SS": []}, {"NS": []}, {"BS": []}])
            body = {"TableName": t, "Key": self.key(t), "UpdateExpression": "ADD q :v",
                    "ExpressionAttributeValues": {":v": operand}}
            return Step("UpdateItem", body, "stored-invalid:" + kind)
        if kind == "duplicate set element":
            value = r.choice([{"SS": ["a", "b", "a"]}, {"NS": ["1", "2", "1"]}, {"NS": ["1", "1.0"]},
                              {"BS": ["AA==", "AA=="]}])
        else:
            value = r.choice([{"SS": []}, {"BS": []}])
        if r.random() < 0.5 and value != {"SS": []}:
            return Step("PutItem", {"TableName": t, "Item": {**self.key(t), "ss": value}}, "stored-invalid:" + kind)
        body = {"TableName": t, "Key": self.key(t), "UpdateExpression": "SET ss = :v",
                "ExpressionAttributeValues": {":v": value}}
        return Step("UpdateItem", body, "stored-invalid:" + kind)

    # --- what the direct side showed ----------------------------------------------

    def observe(self, step: Step, direct: Answer) -> None:
        """Remember items as the direct side answered them (for conditions on real values)."""
        if direct.status != 200 or step.kind.startswith(("invalid:", "stored-invalid:")):
            return
        b, body = direct.json() or {}, step.body
        if step.op == "GetItem" and "ProjectionExpression" not in body:
            ident = item_identity(body["TableName"], body["Key"])
            if "Item" in b:
                self.seen[ident] = b["Item"]
            else:
                self.seen.pop(ident, None)
        elif step.op == "PutItem":
            table = body["TableName"]
            self.seen[item_identity(table, {k: body["Item"][k] for k in self.key_names(table)})] = body["Item"]
        elif step.op == "DeleteItem":
            self.seen.pop(item_identity(body["TableName"], body["Key"]), None)
        elif step.op == "UpdateItem":
            ident = item_identity(body["TableName"], body["Key"])
            if body.get("ReturnValues") == "ALL_NEW":
                self.seen[ident] = b.get("Attributes", {})
            else:
                self.seen.pop(ident, None)
        elif step.op == "BatchWriteItem":
            for table, requests in body["RequestItems"].items():
                for req in requests:
                    if "PutRequest" in req:
                        item = req["PutRequest"]["Item"]
                        self.seen[item_identity(table, {k: item[k] for k in self.key_names(table)})] = item
                    else:
                        self.seen.pop(item_identity(table, req["DeleteRequest"]["Key"]), None)
        elif step.op == "TransactWriteItems":
            for action in body["TransactItems"]:
                (kind, a), = action.items()
                if kind == "Put":
                    key = {k: a["Item"][k] for k in self.key_names(a["TableName"])}
                    self.seen[item_identity(a["TableName"], key)] = a["Item"]
                elif kind != "ConditionCheck":
                    self.seen.pop(item_identity(a["TableName"], a["Key"]), None)
        elif step.op in ("Query", "Scan") and "ProjectionExpression" not in body and "Select" not in body:
            table = body["TableName"]
            for it in b.get("Items", []):
                self.seen[item_identity(table, {k: it[k] for k in self.key_names(table)})] = it


# --------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------

def numbers_by_value(value: Any) -> Any:
    """Every N and NS element of an attribute value (or of a structure holding some) as canonical_number."""
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k == "N" and isinstance(v, str):
                return {"N": canonical_number(v)}
            if k == "NS" and isinstance(v, list):
                return {"NS": [canonical_number(x) for x in v if isinstance(x, str)]}
        return {k: numbers_by_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [numbers_by_value(v) for v in value]
    return value


def projected_by_value(step: Step, body: Any) -> Any:
    """Rule (numbers in projected item reads): moto answers a GetItem or BatchGetItem with a ProjectionExpression
    from its stored item re-rendered through Decimal ("1e2" as "1E+2", "007" as "7", "2.50" kept), while its
    whole-item reads keep the stored spelling; the proxy projects the whole item it stored, so it keeps the
    stored spelling. Only the value can be compared there, so numbers of those items are compared by value
    (whole-item reads, Query and Scan keep comparing the spelling)."""
    if not isinstance(body, dict):
        return body
    if step.op == "GetItem" and "ProjectionExpression" in step.body and "Item" in body:
        return {**body, "Item": numbers_by_value(body["Item"])}
    if step.op == "BatchGetItem" and isinstance(body.get("Responses"), dict):
        projected = {t for t, e in step.body["RequestItems"].items() if "ProjectionExpression" in e}
        return {**body, "Responses": {t: numbers_by_value(v) if t in projected else v
                                      for t, v in body["Responses"].items()}}
    return body


def in_order(body: Any) -> Any:
    """Sets sorted, then each table's BatchGetItem items (which hold sets: the other order would sort them by
    their sets' arbitrary order)."""
    return sorted_batch_responses(sorted_sets(body))


def unasked_batch_capacity(step: Step, body: Any) -> Any:
    """Rule (BatchGetItem's unasked ConsumedCapacity): moto adds ConsumedCapacity to every BatchGetItem answer;
    DynamoDB only when asked, and so does the proxy when it composes the answer (a projected miss, fetched
    whole). Left out on both sides when the request did not ask for it."""
    if step.op == "BatchGetItem" and step.body.get("ReturnConsumedCapacity", "NONE") == "NONE":
        return without_consumed_capacity(body)
    return body


def compare(step: Step, direct: Answer, proxy: Answer) -> list[str]:
    """The differences between the two answers, after these normalisations (each says why):

    - set (SS, NS, BS) elements are compared sorted: sets have no order, and moto's changes between reads;
    - each table's items in BatchGetItem's Responses are compared as a multiset: DynamoDB orders them not;
    - on an answer the proxy served from memory (x-dynamo-cache hit or partial), ConsumedCapacity is left out
      (a hit consumes nothing, and moto adds it to BatchGetItem unasked) and checked on its own;
    - numbers of projected GetItem and BatchGetItem items are compared by value (projected_by_value says why);
    - BatchGetItem's ConsumedCapacity is left out when not asked for (unasked_batch_capacity says why);
    - CreateTable and DeleteTable answers have their volatile fields (timestamps, ids) masked.
    Everything else is compared exactly, numbers as text (the proxy must answer the server's own spelling) and
    error messages included (all of them have been equal so far)."""
    problems: list[str] = []
    if direct.status != proxy.status:
        problems.append(f"status: direct={direct.status} proxy={proxy.status}")
    if direct.headers.get("content-type") != proxy.headers.get("content-type"):
        problems.append(f"header content-type: direct={direct.headers.get('content-type')!r} "
                        f"proxy={proxy.headers.get('content-type')!r}")
    if "x-amz-crc32" in direct.headers and "x-amz-crc32" not in proxy.headers:
        problems.append("proxy: no x-amz-crc32 header (the server sent one)")
    for side, answer in (("direct", direct), ("proxy", proxy)):
        problems += check_crc32(Raw(answer.status, answer.headers, answer.body), side)
    if proxy.cache is not None and proxy.cache not in CACHE_HEADER_VALUES:
        problems.append(f"proxy: x-dynamo-cache {proxy.cache!r} not one of {CACHE_HEADER_VALUES}")
    ja, jb = direct.json(), proxy.json()
    if ja is None or jb is None:
        if direct.body != proxy.body:
            problems.append("bodies differ (not both JSON)")
        return problems
    cached = proxy.cache in CACHE_ANSWERED

    def prepare(j: Any) -> Any:
        j = in_order(projected_by_value(step, unasked_batch_capacity(step, j)))
        j = without_consumed_capacity(j) if cached else j
        return normalise(j) if step.op in ("CreateTable", "DeleteTable") else j

    problems += json_diff(prepare(ja), prepare(jb))
    if cached and proxy.status == 200:
        problems += check_cached_capacity(step.body, jb)
    return problems


# --------------------------------------------------------------------------
# Known moto quirks, where the proxy answers a projected read as DynamoDB does and moto does not
# --------------------------------------------------------------------------

Path = list  # a document path: an attribute name, then map member names (str) and list indexes (int)

_PATH_TOKEN = re.compile(r"\s*(?:\[\s*(\d+)\s*\]|(\.)|([^\s.\[\],]+))")


def parse_projection(expression: str, names: dict[str, str]) -> list[Path]:
    """The document paths of a ProjectionExpression, #placeholders replaced by their names."""
    paths = []
    for text in expression.split(","):
        path: Path = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _PATH_TOKEN.match(text, pos)
            if m is None:
                raise ValueError(f"not a document path: {text!r}")
            index, _, name = m.groups()
            if index is not None:
                path.append(int(index))
            elif name is not None:
                path.append(names.get(name, name))
            pos = m.end()
        paths.append(path)
    return paths


def walk(item: dict, path: Path) -> dict | None:
    """The value at `path` in an item, or None when the path is not there (or runs through a non-container)."""
    value = item.get(path[0]) if isinstance(path[0], str) else None
    for element in path[1:]:
        if value is None:
            break
        if isinstance(element, str):
            value = value["M"].get(element) if "M" in value else None
        else:
            value = value["L"][element] if "L" in value and element < len(value["L"]) else None
    return value


class _Branch:
    """A map or list being rebuilt from the projected paths under it."""

    def __init__(self, kind: str):
        self.kind, self.children = kind, {}

    def value(self) -> dict:
        if self.kind == "M":
            return {"M": {k: _built(v) for k, v in self.children.items()}}
        return {"L": [_built(self.children[i]) for i in sorted(self.children)]}


def _built(node: Any) -> dict:
    return node.value() if isinstance(node, _Branch) else node


def documented_projection(item: dict, paths: list[Path]) -> dict:
    """DynamoDB's projection of an item: every path found in it, merged; the list elements selected under one
    list kept in index order (l[2], l[0] gives [l[0], l[2]]); a path not found (or through a scalar) adds
    nothing."""
    top: dict[str, Any] = {}
    for path in paths:
        value = walk(item, path)
        if value is None:
            continue
        parent: Any = top
        key: Any = path[0]
        for element in path[1:]:
            kind = "M" if isinstance(element, str) else "L"
            container = parent[key] if key in parent else None
            if not isinstance(container, _Branch):
                container = _Branch(kind)
                parent[key] = container
            parent, key = container.children, element
        parent[key] = value
    return {k: _built(v) for k, v in top.items()}


@dataclass
class Projected:
    """A projected GetItem or BatchGetItem, with the whole items the direct side holds for its keys."""
    step: Step
    direct: Answer
    tables: dict[str, list[Path] | None]  # table -> its projection's paths (None: whole items)
    raw: dict[str, tuple[str, dict]]      # table -> (ProjectionExpression, ExpressionAttributeNames)
    items: dict[str, list[dict]]          # table -> the whole items found for its keys

    def expected(self) -> dict:
        """DynamoDB's answer to the request, from the whole items."""
        if self.step.op == "GetItem":
            (table, paths), = self.tables.items()
            found = self.items[table]
            if not found:
                return {}
            return {"Item": found[0] if paths is None else documented_projection(found[0], paths)}
        return {"Responses": {t: [i if p is None else documented_projection(i, p) for i in self.items[t]]
                              for t, p in self.tables.items() if t in self.items},
                "UnprocessedKeys": {}}

    def all_paths(self) -> list[Path]:
        return [p for paths in self.tables.values() if paths for p in paths]


def _unused_placeholder_with_index(p: Projected) -> bool:
    m = re.fullmatch(r"Value provided in ExpressionAttributeNames unused in expressions: keys: \{(.*)\}",
                     p.direct.error_message or "")
    return m is not None and p.direct.status == 400 and all(
        any(re.search(re.escape(name) + r"\s*\[", expression) for expression, _ in p.raw.values())
        for name in m.group(1).split(", "))


def _two_indexes_of_one_list(p: Projected) -> bool:
    paths = p.all_paths()
    return p.direct.status == 200 and any(
        a != b and any(isinstance(a[i], int) and isinstance(b[i], int) and a[:i] == b[:i]
                       for i in range(1, min(len(a), len(b))))
        for a in paths for b in paths)


def _consecutive_indexes(p: Projected) -> bool:
    return p.direct.status == 200 and any(
        isinstance(x, int) and isinstance(y, int) for path in p.all_paths() for x, y in zip(path, path[1:]))


def _member_of_a_non_map(p: Projected) -> bool:
    def member_of_non_map(item: dict, path: Path) -> bool:
        for i in range(1, len(path)):
            if isinstance(path[i], str):
                value = walk(item, path[:i])
                if value is not None and "M" not in value:
                    return True
        return False

    return p.direct.status == 500 and any(
        member_of_non_map(item, path) for t, paths in p.tables.items() if paths
        for item in p.items.get(t, []) for path in paths)


@dataclass(frozen=True)
class Quirk:
    name: str
    recognise: Callable[[Projected], bool]
    reason: str


# Each was reproduced with a few raw requests (see the module's tests). A difference is counted as one of
# these only when moto's answer has its signature AND the proxy's answer is DynamoDB's documented one, computed
# from the whole items (Projected.expected); anything else stays a difference.
QUIRKS: list[Quirk] = [
    Quirk("placeholder with index", _unused_placeholder_with_index,
          "ProjectionExpression '#l[0]': moto reports #l as an unused ExpressionAttributeNames key "
          "(ValidationException); DynamoDB accepts it"),
    Quirk("list indexes", _two_indexes_of_one_list,
          "ProjectionExpression 'l[0], l[2]': moto keeps only the last index; DynamoDB keeps both, in index order"),
    Quirk("nested list index", _consecutive_indexes,
          "ProjectionExpression 'l[3][1]': moto answers no attribute; DynamoDB returns {\"l\": [[<element>]]}"),
    Quirk("member of a non-map", _member_of_a_non_map,
          "ProjectionExpression 'a.x' where a is not a map: moto fails (HTTP 500, HTML) when a is a number, "
          "binary, boolean or null, or a string, set or list that contains 'x' (it tests `'x' in value` on the "
          "deserialised value, then indexes it); DynamoDB answers without that path"),
]


def projected_read(step: Step, direct: Answer, whole: Callable[[str, bytes], Answer]) -> Projected | None:
    """For a projected GetItem or BatchGetItem: the whole items, read again from the direct side (a read does
    not change what the servers hold), by `whole(op, body)`. None for other requests or when that read fails."""
    if step.op == "GetItem":
        entries = {step.body["TableName"]: step.body}
    elif step.op == "BatchGetItem":
        entries = step.body["RequestItems"]
    else:
        return None
    if not any("ProjectionExpression" in e for e in entries.values()):
        return None
    tables: dict[str, list[Path] | None] = {}
    raw: dict[str, tuple[str, dict]] = {}
    for table, e in entries.items():
        if "ProjectionExpression" in e:
            raw[table] = (e["ProjectionExpression"], e.get("ExpressionAttributeNames", {}))
            try:
                tables[table] = parse_projection(*raw[table])
            except ValueError:
                return None
        else:
            tables[table] = None
    if step.op == "GetItem":
        answer = whole("GetItem", json.dumps({"TableName": step.body["TableName"], "Key": step.body["Key"],
                                              "ConsistentRead": True}).encode())
        if answer.status != 200:
            return None
        item = (answer.json() or {}).get("Item")
        return Projected(step, direct, tables, raw, {step.body["TableName"]: [item] if item else []})
    request = {t: {"Keys": e["Keys"], "ConsistentRead": True} for t, e in entries.items()}
    answer = whole("BatchGetItem", json.dumps({"RequestItems": request}).encode())
    if answer.status != 200 or (answer.json() or {}).get("UnprocessedKeys"):
        return None
    return Projected(step, direct, tables, raw, (answer.json() or {}).get("Responses", {}))


def explain(step: Step, direct: Answer, proxy: Answer, whole: Callable[[str, bytes], Answer]) -> tuple[str | None,
                                                                                                        list[str]]:
    """For answers that differ: (the quirk that explains it, None) or (None, notes to add to the difference)."""
    if proxy.status != 200:
        return None, []
    p = projected_read(step, direct, whole)
    if p is None:
        return None, []
    for quirk in QUIRKS:
        if quirk.recognise(p):
            got = in_order(without_consumed_capacity(proxy.json()))
            problems = json_diff(in_order(p.expected()), got,
                                 labels=("DynamoDB's projection of the whole items", "proxy"))
            if not problems:
                return quirk.name, []
            return None, [f"moto's answer has the signature of quirk {quirk.name!r}, but the proxy's is not "
                          f"DynamoDB's either:"] + problems
    return None, []


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

@dataclass
class Difference:
    seed: int
    client: int
    index: int
    step: Step
    direct: Answer
    proxy: Answer
    problems: list[str]

    def report(self) -> str:
        return (f"seed {self.seed} client {self.client} op #{self.index} {self.step.kind} ({self.step.op}):\n"
                f"  request: {json.dumps(self.step.body, ensure_ascii=False)}\n"
                + "".join(f"  - {p}\n" for p in self.problems)
                + f"  direct: {self.direct.brief()}\n  proxy:  {self.proxy.brief()}")


@dataclass
class Results:
    """Counts of one run (all seeds and clients), updated under a lock by the client threads."""
    operations: collections.Counter = field(default_factory=collections.Counter)
    cache: collections.Counter = field(default_factory=collections.Counter)
    quirks: collections.Counter = field(default_factory=collections.Counter)
    differences: list[Difference] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped_early: bool = False
    elapsed: float = 0.0
    trace: Any = None  # an open text file: every exchange as a JSON line (to study a run)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, where: tuple[int, int, int], step: Step, direct: Answer, proxy: Answer, quirk: str | None,
               difference: Difference | None) -> None:
        with self.lock:
            if self.trace is not None:
                self.trace.write(json.dumps({
                    "seed": where[0], "client": where[1], "index": where[2], "kind": step.kind, "op": step.op,
                    "request": step.body, "quirk": quirk, "differs": difference is not None,
                    "direct": [direct.status, direct.body.decode("utf-8", "replace")],
                    "proxy": [proxy.status, proxy.cache, proxy.body.decode("utf-8", "replace")]},
                    ensure_ascii=False) + "\n")
            self.operations[step.kind] += 1
            self.cache[proxy.cache or "(absent)"] += 1
            if quirk:
                self.quirks[quirk] += 1
            if difference:
                self.differences.append(difference)

    def summary(self, show: int = 20) -> str:
        lines = [f"operations: {sum(self.operations.values())} in {self.elapsed:.1f}s"
                 + (" (stopped by the time bound)" if self.stopped_early else "")]
        lines += [f"  {k:28} {v}" for k, v in sorted(self.operations.items())]
        lines.append("x-dynamo-cache: " + ", ".join(f"{k}={v}" for k, v in sorted(self.cache.items())))
        lines.append("quirks accepted: " + (", ".join(f"{k}={v}" for k, v in sorted(self.quirks.items()))
                                            or "none"))
        lines.append(f"differences: {len(self.differences)}")
        lines += [d.report() for d in self.differences[:show]]
        if len(self.differences) > show:
            lines.append(f"... and {len(self.differences) - show} more")
        lines += [f"client error: {e}" for e in self.errors]
        return "\n".join(lines)


class ClientRun:
    """One client: its tables, its generator and one connection per side, run on its own thread."""

    def __init__(self, seed: int, client: int, ops: int, direct_port: int, proxy_port: int, prefix: str,
                 results: Results, deadline: float, stop: threading.Event, stored_invalid: bool = False):
        self.seed, self.client, self.ops = seed, client, ops
        self.tables = Tables.named(f"{prefix}-s{seed}-c{client}")
        self.gen = Generator(random.Random(f"{seed}/{client}"), self.tables, stored_invalid)
        self.direct, self.proxy = Connection(direct_port), Connection(proxy_port)
        self.results, self.deadline, self.stop = results, deadline, stop
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"diff-s{seed}-c{client}-direct")
        self.index = 0

    def exchange(self, step: Step) -> Answer:
        body = json.dumps(step.body, ensure_ascii=False).encode()
        # Both sides at once (two servers, so neither order nor state is shared): about half the wall time.
        pending = self.pool.submit(self.direct.post, step.op, body)
        proxy = self.proxy.post(step.op, body)
        direct = pending.result()
        problems = compare(step, direct, proxy)
        quirk, difference = None, None
        if problems:
            quirk, notes = explain(step, direct, proxy, self.direct.post)
            if quirk is None:
                difference = Difference(self.seed, self.client, self.index, step, direct, proxy, problems + notes)
        self.results.record((self.seed, self.client, self.index), step, direct, proxy, quirk, difference)
        self.index += 1
        return direct

    def run(self) -> None:
        try:
            for body in create_table_bodies(self.tables):
                self.exchange(Step("CreateTable", body, "CreateTable"))
            while self.index < self.ops:
                if self.stop.is_set() or time.monotonic() >= self.deadline:
                    self.results.stopped_early = True
                    break
                step, page = self.gen.next(), 1
                while step is not None:
                    direct = self.exchange(step)
                    self.gen.observe(step, direct)
                    step = self.gen.after(step, direct, page)
                    page += 1
            for table in self.tables.all():
                self.exchange(Step("DeleteTable", {"TableName": table}, "DeleteTable"))
        except Exception as e:  # noqa: BLE001 - reported, and the run fails
            with self.results.lock:
                self.results.errors.append(f"seed {self.seed} client {self.client} op #{self.index}: "
                                           f"{type(e).__name__}: {e}")
        finally:
            self.pool.shutdown()
            self.direct.close()
            self.proxy.close()


def run(direct_port: int, proxy_port: int, *, seeds: list[int], ops: int, clients: int = 1,
        max_seconds: float = 3600.0, prefix: str | None = None, stop: threading.Event | None = None,
        results: Results | None = None, stored_invalid: bool = False) -> Results:
    """Run `ops` operations per client for each seed (seeds one after another, clients concurrently).
    Stops at `max_seconds` or when `stop` is set; table names start with `prefix` (default: unique);
    stored_invalid: also write the values DynamoDB refuses and moto stores (MOTO_STORES)."""
    prefix = prefix or f"diff-{uuid.uuid4().hex[:8]}"
    stop = stop or threading.Event()
    results = Results() if results is None else results
    start = time.monotonic()
    deadline = start + max_seconds
    threads: list[threading.Thread] = []
    try:
        for seed in seeds:
            runs = [ClientRun(seed, c, ops, direct_port, proxy_port, prefix, results, deadline, stop,
                              stored_invalid) for c in range(clients)]
            threads = [threading.Thread(target=r.run, name=f"diff-s{seed}-c{r.client}", daemon=True) for r in runs]
            for th in threads:
                th.start()
            for th in threads:
                # Joined in slices so that the main thread still sees Ctrl-C; a request is bounded by its timeout.
                while th.is_alive():
                    th.join(0.5)
            if stop.is_set() or time.monotonic() >= deadline:
                results.stopped_early = results.stopped_early or seed != seeds[-1]
                break
    finally:
        stop.set()  # on Ctrl-C: the clients end after their current request
        for th in threads:
            th.join(5.0)
        results.elapsed = time.monotonic() - start
    return results


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    repo_root = os.path.dirname(os.path.dirname(here))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=10_000, help="operations per client and seed")
    p.add_argument("--seeds", default="1", help="comma-separated seeds, run one after another")
    p.add_argument("--clients", type=int, default=1, help="concurrent clients, each with its own tables")
    p.add_argument("--binary", default=os.environ.get("DYNAMO_CACHE_BIN")
                   or os.path.join(repo_root, ".build", "debug", "dynamo-cache"))
    p.add_argument("--max-seconds", type=float, default=3600.0, help="stop the run after this long")
    p.add_argument("--show", type=int, default=20, help="differences printed in full")
    p.add_argument("--trace", help="write every exchange to this file as JSON lines")
    p.add_argument("--stored-invalid", action="store_true",
                   help="also write values DynamoDB refuses and moto stores (MOTO_STORES)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not (os.path.isfile(args.binary) and os.access(args.binary, os.X_OK)):
        p.error(f"dynamo-cache binary not found or not executable: {args.binary} (--binary or DYNAMO_CACHE_BIN)")

    log_dir = tempfile.mkdtemp(prefix="dynamo-cache-differential-")
    stop = threading.Event()
    started: list[Any] = []
    results = Results(trace=open(args.trace, "w", encoding="utf-8") if args.trace else None)

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts a background job with SIGINT ignored, and the run must still stop on it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        a = MotoServer(repo_root, log_dir, "moto-A")
        started.append(a)
        b = MotoServer(repo_root, log_dir, "moto-B")
        started.append(b)
        proxy = ProxyProcess(args.binary, b.url, log_dir, "proxy")
        started.append(proxy)
        print(f"moto A {a.url}, proxy {proxy.data_url} -> moto B {b.url}; logs in {log_dir}", flush=True)
        run(a.port, proxy.data_port, seeds=seeds, ops=args.ops, clients=args.clients,
            max_seconds=args.max_seconds, prefix="diff", stop=stop, results=results,
            stored_invalid=args.stored_invalid)
    except KeyboardInterrupt:
        print("interrupted; the summary so far:", file=sys.stderr)
        print(results.summary(args.show))
        return 130
    finally:
        stop.set()
        for s in reversed(started):
            s.stop()
        if results.trace is not None:
            results.trace.close()
    print(results.summary(args.show))
    if results.differences or results.errors:
        return 1
    shutil.rmtree(log_dir, ignore_errors=True)  # kept, like the suite's, only when something failed
    return 0


if __name__ == "__main__":
    sys.exit(main())
