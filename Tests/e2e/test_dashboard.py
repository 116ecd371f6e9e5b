"""The monitoring dashboard (GET ADMIN/): what a browser renders from GET ADMIN/stats.

The page is loaded in headless Chromium (`--dump-dom` after a virtual-time budget that covers a few 2 s polls) and
the rendered DOM is checked, not the page source: the figures the page shows, the SVG lines it drew, the error
banner. The real proxy is checked after real traffic; the states it cannot easily be put in (empty history, nulls,
/stats failing) are checked against dashboard_dev.py's fake /stats, serving the same page read from
Sources/Server/DashboardPage.swift.

Chromium ("chromium" or "chromium-browser") is required when $CI is set; elsewhere these tests skip without it.
The last screenshots of the real proxy's page are kept at /tmp/dynamo-cache-dashboard.png (1400 x 1000) and
/tmp/dynamo-cache-dashboard-phone.png (390 wide).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import time
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser

import pytest

from dashboard_dev import DevServer, page_html
from e2e_support import admin_request, create_table, header

KEPT_SCREENSHOT = "/tmp/dynamo-cache-dashboard.png"              # 1400 x 1000
KEPT_PHONE_SCREENSHOT = "/tmp/dynamo-cache-dashboard-phone.png"   # 390 wide
DASH = "–"
NUMBER = r"\d{1,3}(?:,\d{3})*"                      # the page's integer format: 1,234,567
MS = re.compile(r"^\d+(?:\.\d+)? ms$")
BYTES = re.compile(r"^\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB)$")
PERCENT = re.compile(r"^\d+\.\d%$")


# ---------------------------------------------------------------------------------------------------------------
# Chromium and the rendered DOM
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI is set but neither chromium nor chromium-browser is on PATH: the dashboard must be "
                    "checked in a real browser in CI (apt-get install chromium)", pytrace=False)
    pytest.skip("neither chromium nor chromium-browser is on PATH (apt-get install chromium); "
                "the dashboard needs a browser to be checked")


def run_chromium(binary: str, url: str, profile_dir: str, *args: str) -> str:
    """One headless Chromium run; returns stdout. The virtual-time budget lets the page poll /stats ~4 times."""
    argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--hide-scrollbars", f"--user-data-dir={profile_dir}",
            "--virtual-time-budget=8000", *args, url]
    r = subprocess.run(argv, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError(f"chromium exited {r.returncode}: {argv}\nstderr: {r.stderr.decode(errors='replace')[-2000:]}")
    return r.stdout.decode("utf-8", "replace")


class Dom(HTMLParser):
    """The rendered document, reduced to what the checks need: text and attributes of every element with an id,
    and the <path class="line ..."> and <text> elements inside each <svg id=...>."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.text: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.lines: dict[str, list[tuple[str, str]]] = {}    # svg id -> [(class, d)]
        self.svg_text: dict[str, dict[str, str]] = {}        # svg id -> {class or "": text}
        self._stack: list[tuple[str, str | None]] = []
        self._svg_text_class: str | None = None
        self.feed(html)
        self.close()

    def _svg(self) -> str | None:
        return next((i for t, i in reversed(self._stack) if t == "svg"), None)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.attrs[a["id"]] = a
            self.text.setdefault(a["id"], "")
        svg = self._svg()
        if tag == "path" and svg and "line" in (a.get("class") or "").split():
            self.lines.setdefault(svg, []).append((a.get("class") or "", a.get("d") or ""))
        if tag == "text" and svg:
            self._svg_text_class = a.get("class") or ""
        if tag not in self.VOID:
            self._stack.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "text":
            self._svg_text_class = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data):
        for _, ident in self._stack:
            if ident:
                self.text[ident] += data
        svg = self._svg()
        if svg and self._svg_text_class is not None:
            self.svg_text.setdefault(svg, {})[self._svg_text_class] = data

    def get(self, ident: str) -> str:
        assert ident in self.text, f"rendered page has no element #{ident}"
        return " ".join(self.text[ident].split())

    def banner_shown(self) -> bool:
        return "hidden" not in self.attrs.get("banner", {"hidden": ""})

    def points(self, svg: str, series: int | None = None) -> list[tuple[float, float]]:
        """Every (x, y) the lines of one chart were drawn through (of one series: class s0, s1, ...)."""
        pts = []
        for cls, d in self.lines.get(svg, []):
            if series is None or f"s{series}" in cls.split():
                pts += [(float(x), float(y)) for x, y in re.findall(r"[ML]\s*(-?[\d.]+)[ ,](-?[\d.]+)", d)]
        return pts


def pct(r) -> str:
    """The page's ratio format: (r * 100).toFixed(1) + "%" (toFixed rounds an exact tie up, as ROUND_HALF_UP)."""
    if r is None:
        return DASH
    return f"{Decimal(r * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def check_chart(dom: Dom, svg: str, min_points: int, series: int | None = None) -> None:
    pts = dom.points(svg, series)
    assert len(pts) >= min_points, (f"chart #{svg} (series {series}): {len(pts)} drawn point(s), expected >= "
                                    f"{min_points}; lines: {dom.lines.get(svg)}")
    vb = [float(v) for v in (dom.attrs[svg].get("viewbox") or dom.attrs[svg].get("viewBox") or "").split()]
    assert len(vb) == 4, f"chart #{svg}: viewBox {dom.attrs[svg]}"
    for x, y in pts:
        assert 0 <= x <= vb[2] and 0 <= y <= vb[3], f"chart #{svg}: point ({x}, {y}) outside the viewBox {vb}"
    labels = dom.svg_text.get(svg, {})
    for cls in ("ymin", "ymax", "xmin", "xmax"):
        assert labels.get(cls, "").strip(), f"chart #{svg}: no {cls} axis label (labels: {labels})"


# ---------------------------------------------------------------------------------------------------------------
# The page itself
# ---------------------------------------------------------------------------------------------------------------

def test_page_is_self_contained():
    """No external script, style, font or image, one relative fetch, safe inside Swift's #\"\"\" raw string."""
    html = page_html()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "<title>DynamoCache</title>" in html
    assert len(html.encode()) < 25_000, f"page is {len(html.encode())} bytes"
    for pattern in (r"\bsrc\s*=", r"\bhref\s*=", r"url\(", r"@import", r"https?://", r"XMLHttpRequest", r"WebSocket",
                    r"import\s*\("):
        assert not re.search(pattern, html, re.I), f"page references something external: {pattern}"
    assert re.findall(r"fetch\(([^,)]*)", html) == ['"stats"'], "the page must fetch only the relative URL stats"
    assert '"""' not in html and "\\#" not in html, "page would end or interpolate the Swift raw string"


@pytest.mark.parametrize("scenario", ["traffic", "empty", "sparse", "flaky", "down"])
def test_dashboard_states(chromium, tmp_path, scenario):
    """Against dashboard_dev.py's fake /stats: traffic with a 459 ms spike shows each cache's hit ratio as its own
    line and p50 and p99 on a log axis with decade lines; a proxy with no traffic shows dashes and "no data yet"
    (never NaN); lookups a moment apart are one line, not stray dots; a failing /stats shows the banner and keeps
    the figures of the last good answer."""
    srv = DevServer()
    try:
        path = "" if scenario == "traffic" else f"/{scenario}"
        dom = Dom(run_chromium(chromium, f"{srv.url}{path}/", str(tmp_path / "profile"), "--dump-dom"))
        served = srv.stats_served.get(path, 0)
    finally:
        srv.stop()
    assert served >= 2, f"the page polled /stats {served} time(s) in 8 s of virtual time"
    assert "NaN" not in str(dom.text) and "undefined" not in str(dom.text), dom.text
    if scenario == "traffic":
        for series in (0, 1, 2):      # item, query, scan
            check_chart(dom, "c-hit", 2, series=series)
        check_chart(dom, "c-lat", 100, series=0)
        check_chart(dom, "c-lat", 100, series=1)
        labels = dom.svg_text.get("c-lat", {})
        assert labels.get("ytick", "").endswith(" ms"), f"no decade line labelled on the latency axis: {labels}"
        assert labels.get("ymax") == "1000 ms", labels     # the 459 ms spike's decade
        p50 = [y for _, y in dom.points("c-lat", 0)]
        p99 = [y for _, y in dom.points("c-lat", 1)]
        # On a linear axis up to 459 ms, p50 (~0.1 ms) would lie on the bottom line; on a log axis it has room.
        assert max(p50) < 134 - 20, f"p50 drawn on the axis: lowest point at y={max(p50)}"
        assert sum(p50) / len(p50) > sum(p99) / len(p99) + 10, "p50 and p99 drawn on top of each other"
        assert dom.svg_text.get("c-rate", {}).get("xtick"), "no time labels between the ends"
        assert re.fullmatch(NUMBER, dom.get("evictions")) and re.fullmatch(NUMBER, dom.get("invalidations"))
    elif scenario == "empty":
        assert not dom.banner_shown(), f"banner shown: {dom.get('banner')!r}"
        for ident in ("item-hit", "item-hit-1m", "query-hit", "scan-hit", "rate", "p50", "p99"):
            assert dom.get(ident) == DASH, f"#{ident} shows {dom.get(ident)!r} with no traffic, expected {DASH!r}"
        assert BYTES.match(dom.get("resident")), dom.get("resident")
        for svg in ("c-hit", "c-rate", "c-lat", "c-mem"):
            assert not dom.points(svg), f"chart #{svg} drew lines from an empty history"
            assert "no data yet" in dom.svg_text.get(svg, {}).get("empty", ""), f"chart #{svg}: {dom.svg_text}"
        assert "hidden" in dom.attrs["streams"], "the stream followers' table shows without followers"
    elif scenario == "sparse":
        assert not dom.banner_shown(), f"banner shown: {dom.get('banner')!r}"
        for svg, series in (("c-hit", 0), ("c-lat", 0), ("c-lat", 1)):
            # Two samples 2 s apart: one line through both (a quiet moment is bridged), no dots.
            dots = [d for cls, d in dom.lines.get(svg, []) if "dot" in cls.split() and f"s{series}" in cls.split()]
            assert len(dom.points(svg, series)) == 2 and not dots, (
                f"chart #{svg}: two samples 2 s apart not drawn as one line: {dom.lines.get(svg)}")
        check_chart(dom, "c-rate", 6)
        assert "hidden" not in dom.attrs["streams"], "no stream followers' table"
        rows = dom.get("streams-rows")
        assert "orders<b>bold</b>" in rows and "following" in rows and "1,234" in rows, rows  # markup shown as text
    else:
        assert dom.banner_shown(), "/stats fails but no banner is shown"
        assert "cannot reach /stats" in dom.get("banner").lower(), dom.get("banner")
        if scenario == "flaky":   # the first answer succeeded: its figures stay on screen
            assert PERCENT.match(dom.get("item-hit")), f"last good figures not kept: {dom.get('item-hit')!r}"
            assert "Showing figures from" in dom.get("banner")
            check_chart(dom, "c-rate", 2)
        else:
            assert dom.get("item-hit") == DASH


# ---------------------------------------------------------------------------------------------------------------
# The real proxy
# ---------------------------------------------------------------------------------------------------------------

def stats(proxy) -> dict:
    r = admin_request(proxy.admin_port, "GET", "/stats")
    assert r.status == 200, f"GET /stats: HTTP {r.status} {r.body[:300]!r}"
    return r.json()


def S(v):
    return {"S": v}


def test_dashboard_renders_live_stats(pair, real_proxy, name, chromium, tmp_path):
    # The page the admin listener serves is the one in DashboardPage.swift.
    r = admin_request(real_proxy.admin_port, "GET", "/")
    assert r.status == 200, f"GET ADMIN/: HTTP {r.status} {r.body[:300]!r}"
    assert "text/html" in (header(r.headers, "content-type") or ""), r.headers
    assert r.body.decode() == page_html(), ("GET ADMIN/ is not DashboardPage.html as in the source tree "
                                            "(binary older than Sources/Server/DashboardPage.swift? rebuild)")

    # Real traffic over two seconds, so the history has lookups in more than one sample: a PutItem (stores
    # the item), GetItem hits on it, GetItem misses on absent keys (then hits: absence is cached too).
    create_table(pair, name)
    before = stats(real_proxy)["caches"]["item"]
    pair.ddb("put_item", TableName=name, Item={"pk": S("k1"), "v": S("one")})
    for round_ in range(2):
        for _ in range(3):
            pair.ddb("get_item", TableName=name, Key={"pk": S("k1")})
        pair.ddb("get_item", TableName=name, Key={"pk": S(f"absent-{round_}")})
        pair.ddb("get_item", TableName=name, Key={"pk": S(f"absent-{round_}")})
        time.sleep(1.1)
    after = stats(real_proxy)["caches"]["item"]
    assert after["hits"] >= before["hits"] + 6 and after["misses"] >= before["misses"] + 2, (before, after)

    # Wait (<= 10 s) until the history holds the traffic and a quiet sample after it.
    deadline = time.monotonic() + 10
    while True:
        s = stats(real_proxy)
        hist = s["history"]
        if len(hist) >= 2 and any(h["hits"] + h["misses"] > 0 for h in hist[:-1]):
            break
        assert time.monotonic() < deadline, f"/stats history never showed the traffic: {hist[-5:]}"
        time.sleep(0.5)

    dom = Dom(run_chromium(chromium, f"{real_proxy.admin_url}/", str(tmp_path / "profile"), "--dump-dom"))
    s2 = stats(real_proxy)
    shown = {k: dom.get(k) for k in dom.text if not k.startswith("c-") and k != "banner"}

    assert not dom.banner_shown(), f"error banner shown: {dom.get('banner')!r}"
    assert "NaN" not in str(shown) and "undefined" not in str(shown), shown
    # No lookups happen between the two reads of /stats, so the overall ratios cannot change.
    c = s["caches"]
    for ident, cache in (("item-hit", "item"), ("query-hit", "query"), ("scan-hit", "scan")):
        assert dom.get(ident) == pct(c[cache]["hit_ratio"]), (
            f"#{ident} shows {dom.get(ident)!r}, /stats caches.{cache}.hit_ratio = {c[cache]['hit_ratio']!r}")
    # The last-minute ratio may move as the window slides; it must be one of the values around the render.
    assert dom.get("item-hit-1m") in {pct(c["item"]["hit_ratio_1m"]), pct(s2["caches"]["item"]["hit_ratio_1m"])}
    assert dom.get("item-hit-1m") != DASH, "lookups within the last minute, yet the page shows no 1 min ratio"
    assert re.fullmatch(NUMBER, dom.get("rate")), f"requests/s: {dom.get('rate')!r}"
    assert re.fullmatch(NUMBER, dom.get("total")), f"requests total: {dom.get('total')!r}"
    for ident in ("p50", "p99"):
        assert MS.match(dom.get(ident)), f"latency #{ident}: {dom.get(ident)!r} (/stats: {s['latency_ms_1m']})"
    assert BYTES.match(dom.get("resident")), f"resident memory: {dom.get('resident')!r}"
    for k in ("item", "query"):
        assert PERCENT.match(dom.get(f"{k}-util")), f"{k} cache utilisation: {dom.get(f'{k}-util')!r}"
        assert BYTES.match(dom.get(f"{k}-cap")), f"{k} cache capacity: {dom.get(f'{k}-cap')!r}"
    assert re.fullmatch(NUMBER, dom.get("connections")), dom.get("connections")
    assert re.fullmatch(f"{NUMBER} / {NUMBER}", dom.get("errfault")), dom.get("errfault")

    check_chart(dom, "c-rate", 2)          # every sample has a request count
    check_chart(dom, "c-mem", 2)           # and a resident size
    check_chart(dom, "c-hit", 1)           # only seconds with lookups have a ratio
    check_chart(dom, "c-lat", 1, series=0)  # p50
    check_chart(dom, "c-lat", 1, series=1)  # p99

    # A desktop window and a phone's width; kept for a person to look at (the layout is not judged here).
    for size, kept in (((1400, 1000), KEPT_SCREENSHOT), ((390, 1700), KEPT_PHONE_SCREENSHOT)):
        png = tmp_path / f"dashboard-{size[0]}.png"
        run_chromium(chromium, f"{real_proxy.admin_url}/", str(tmp_path / f"profile-shot-{size[0]}"),
                     f"--screenshot={png}", f"--window-size={size[0]},{size[1]}")
        data = png.read_bytes() if png.exists() else b""
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"no PNG screenshot at {png}"
        width, height = struct.unpack(">II", data[16:24])
        assert (width, height) == size and len(data) > 20_000, (
            f"screenshot {width}x{height}, {len(data)} bytes: looks blank")
        shutil.copyfile(png, kept)
