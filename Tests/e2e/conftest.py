"""Session fixtures of the DynamoCache end-to-end differential suite.

Topology (all on 127.0.0.1, fresh free ports):

    boto3 / aws cli ──► moto_server A                       ("direct" side)
    boto3 / aws cli ──► dynamo-cache serve ──► moto_server B ("proxy" side)

The proxy binary is $DYNAMO_CACHE_BIN, else <repo>/.build/debug/dynamo-cache.
It is required: if it is missing or does not start, every test fails with the
reason. Only with DYNAMO_CACHE_E2E_DIRECT_ONLY=1 does the "proxy" side point at
moto_server B directly (to develop the suite itself); proxy-only tests then
skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from e2e_support import (  # noqa: E402
    CACHE_HEADER_COUNTS, DifferenceError, FAKE_KEY, FAKE_SECRET, REGION, MotoServer, Pair, ProxyProcess, unique,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN = os.path.join(REPO_ROOT, ".build", "debug", "dynamo-cache")
DIRECT_ONLY = os.environ.get("DYNAMO_CACHE_E2E_DIRECT_ONLY") == "1"

_state: dict = {}


def proxy_binary() -> str:
    return os.environ.get("DYNAMO_CACHE_BIN") or DEFAULT_BIN


@pytest.fixture(scope="session")
def log_dir():
    d = tempfile.mkdtemp(prefix="dynamo-cache-e2e-")
    _state["log_dir"] = d
    yield d


@pytest.fixture(scope="session", autouse=True)
def aws_env(log_dir):
    """Fake credentials and an isolated AWS config, whatever the user's environment holds."""
    cfg = os.path.join(log_dir, "aws-config")
    with open(cfg, "w") as f:
        f.write(f"[default]\nregion = {REGION}\n")
    creds = os.path.join(log_dir, "aws-credentials")
    with open(creds, "w") as f:
        f.write(f"[default]\naws_access_key_id = {FAKE_KEY}\naws_secret_access_key = {FAKE_SECRET}\n")
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k.startswith("AWS_"):
                mp.delenv(k)
        mp.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY)
        mp.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", cfg)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_RETRY_MODE", "standard")
        mp.setenv("AWS_MAX_ATTEMPTS", "1")
        mp.setenv("AWS_PAGER", "")
        yield


@pytest.fixture(scope="session")
def motos(log_dir, aws_env):
    started = []
    try:
        started.append(MotoServer(REPO_ROOT, log_dir, "moto-A"))
        started.append(MotoServer(REPO_ROOT, log_dir, "moto-B"))
        yield started[0], started[1]
    finally:
        for m in started:
            m.stop()


@pytest.fixture(scope="session")
def proxy(motos, log_dir):
    """The proxy in front of moto B (None in DIRECT_ONLY mode)."""
    if DIRECT_ONLY:
        yield None
        return
    binary = proxy_binary()
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"dynamo-cache binary not found or not executable: {binary}\n"
                    f"Build it (swift build --product dynamo-cache) or set DYNAMO_CACHE_BIN. "
                    f"To exercise only the suite itself (direct vs direct) set "
                    f"DYNAMO_CACHE_E2E_DIRECT_ONLY=1.", pytrace=False)
    try:
        p = ProxyProcess(binary, motos[1].url, log_dir, "proxy-main")
    except RuntimeError as e:
        pytest.fail(f"dynamo-cache did not start: {e}", pytrace=False)
    _state["proxy"] = p
    try:
        yield p
    finally:
        code = p.stop()
        _state["proxy_exit"] = code


@pytest.fixture(scope="session")
def pair(motos, proxy) -> Pair:
    a, b = motos
    p = Pair(a.url, proxy.data_url if proxy else b.url, proxy_is_real=proxy is not None)
    _state["pair"] = p
    return p


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail a test with every direct/proxy difference it recorded (see Pair.differences)."""
    p = _state.get("pair")
    if p is not None:
        p.differences.clear()
    try:
        result = yield
    except BaseException as e:
        found = _take_differences(p)
        if found and not isinstance(e, pytest.skip.Exception):
            raise DifferenceError(found + f"\n\n(the test then stopped on {type(e).__name__}: {e})") from e
        raise
    found = _take_differences(p)
    if found:
        raise DifferenceError(found)
    return result


def _take_differences(p) -> str:
    if p is None or not p.differences:
        return ""
    found, p.differences[:] = list(p.differences), []
    return f"{len(found)} difference(s) between direct and proxy:\n\n" + "\n\n".join(found)


@pytest.fixture(scope="session")
def endpoints(pair):
    """(direct URL, proxy-side URL)."""
    return pair.direct.endpoint, pair.proxy.endpoint


@pytest.fixture
def real_proxy(proxy):
    if proxy is None:
        pytest.skip("DYNAMO_CACHE_E2E_DIRECT_ONLY=1: proxy-only check needs the real dynamo-cache binary")
    return proxy


@pytest.fixture(scope="session")
def binary():
    return proxy_binary()


@pytest.fixture
def name(request):
    """A table name unique to this test (same on both sides)."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return unique(base)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    d = _state.get("log_dir")
    if d:
        mode = "DIRECT_ONLY (proxy side = moto B directly)" if DIRECT_ONLY else f"proxy binary {proxy_binary()}"
        terminalreporter.write_line(f"e2e: {mode}; server logs in {d}")
        counts = {v: n for (side, v), n in CACHE_HEADER_COUNTS.items() if side == "proxy"}
        if counts:
            terminalreporter.write_line("e2e: x-dynamo-cache on proxied boto3 calls: " + ", ".join(
                f"{v or '(absent)'}={n}" for v, n in sorted(counts.items(), key=lambda kv: str(kv[0]))))
        if "proxy_exit" in _state:
            terminalreporter.write_line(f"e2e: main proxy exit code after SIGTERM: {_state['proxy_exit']}")
    if exitstatus == 0 and d:
        shutil.rmtree(d, ignore_errors=True)
