/// The monitoring dashboard served at `GET ADMIN/` by the admin listener.
///
/// One self-contained HTML document: inline CSS, inline JavaScript and inline SVG charts; it loads nothing
/// except `fetch("stats")` every 2 s. The URL is relative on purpose, so the page works behind any host, port
/// or path prefix (as long as the page URL ends in `/`). It reads only the `GET ADMIN/stats` JSON of the
/// monitoring contract; figures are rendered as text (the charts are an addition, not the only copy).
/// `Tests/e2e/test_dashboard.py` renders it in headless Chromium against the real proxy, and
/// `Tests/e2e/dashboard_dev.py` serves it with a fake `/stats` for development; both read this file, so keep
/// the page between the `#"""` line and the `"""#` line, unindented.
package enum DashboardPage {
    /// The complete page (UTF-8). It contains no `"""` and no backslash-hash, so the raw delimiter is safe.
    package static let html: String = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>DynamoCache</title>
        <style>
        :root { --fg: #17202e; --muted: #5b6474; --bg: #f4f5f7; --card: #fff; --line: #e3e6eb;
                --blue: #1d5fd1; --orange: #c2590a; --green: #137a3f; --red: #b42318; }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg);
               font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .4rem 1.2rem; padding: 1rem 1.5rem .5rem; }
        h1 { margin: 0; font-size: 1.35rem; }
        #meta { color: var(--muted); font-size: .85rem; }
        main { padding: 0 1.5rem 1.5rem; }
        #banner { margin: .5rem 1.5rem; padding: .6rem .9rem; border: 1px solid var(--red); border-radius: 6px;
                  background: #fdecea; color: var(--red); font-weight: 600; }
        /* Figures from a failed poll stay visible but dimmed, so nobody mistakes them for live ones. */
        body.stale .figures, body.stale .charts { opacity: .55; }
        /* Twelve cards and four charts: column counts that divide them, so no row is left half empty. */
        .figures { display: grid; gap: .75rem; grid-template-columns: repeat(6, minmax(0, 1fr)); }
        .charts { display: grid; gap: .75rem; margin-top: .75rem; grid-template-columns: repeat(2, minmax(0, 1fr)); }
        @media (max-width: 1180px) { .figures { grid-template-columns: repeat(4, minmax(0, 1fr)); } }
        @media (max-width: 820px) { .figures { grid-template-columns: repeat(3, minmax(0, 1fr)); }
                                    .charts { grid-template-columns: minmax(0, 1fr); } }
        @media (max-width: 560px) { .figures { grid-template-columns: repeat(2, minmax(0, 1fr)); }
                                    header, main { padding-left: .75rem; padding-right: .75rem; } }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .7rem .9rem; }
        .label { color: var(--muted); font-size: .85rem; font-weight: 600; }
        .big { font-size: clamp(1.3rem, 1rem + 1vw, 1.9rem); font-weight: 650; font-variant-numeric: tabular-nums;
               line-height: 1.2; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        .sub { color: var(--muted); font-size: .85rem; font-variant-numeric: tabular-nums; }
        .sub b { color: var(--fg); font-weight: 600; }
        figure { margin: 0; }
        figcaption { display: flex; justify-content: space-between; gap: .5rem; flex-wrap: wrap; }
        figcaption .sub { text-align: right; }
        svg { display: block; width: 100%; height: 160px; margin-top: .3rem; }
        svg text { font-size: 11px; fill: var(--muted); font-variant-numeric: tabular-nums; }
        svg .grid { stroke: var(--line); stroke-width: 1; }
        svg .line { fill: none; stroke-width: 1.8; stroke-linejoin: round; stroke-linecap: round; }
        svg .dot { stroke-width: 5; }
        svg .idle { fill: #eef0f3; }
        .s0 { stroke: var(--blue); } .s1 { stroke: var(--orange); } .s2 { stroke: var(--green); }
        .key0, .key1, .key2 { display: inline-block; width: .8em; height: .25em; vertical-align: middle; margin: 0 .25em 0 .5em; }
        .key0 { background: var(--blue); } .key1 { background: var(--orange); } .key2 { background: var(--green); }
        #streams { margin-top: 1rem; overflow-x: auto; }
        #streams table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
        #streams th, #streams td { text-align: left; padding: .2rem .6rem; border-top: 1px solid var(--line); }
        </style>
        </head>
        <body>
        <header>
          <h1>DynamoCache</h1>
          <span id="meta">connecting…</span>
        </header>
        <div id="banner" role="alert" hidden></div>
        <main>
          <section class="figures" aria-label="Current figures">
            <div class="card"><div class="label">Item cache hit ratio</div><div class="big" id="item-hit">–</div>
              <div class="sub">last minute <b id="item-hit-1m">–</b></div></div>
            <div class="card"><div class="label">Query cache hit ratio</div><div class="big" id="query-hit">–</div>
              <div class="sub">last minute <b id="query-hit-1m">–</b></div></div>
            <div class="card"><div class="label">Scan hit ratio</div><div class="big" id="scan-hit">–</div>
              <div class="sub">last minute <b id="scan-hit-1m">–</b></div></div>
            <div class="card"><div class="label">Requests / s</div><div class="big" id="rate">–</div>
              <div class="sub">total <b id="total">–</b></div></div>
            <div class="card"><div class="label">Latency p50 (1 min)</div><div class="big" id="p50">–</div>
              <div class="sub">p90 <b id="p90">–</b></div></div>
            <div class="card"><div class="label">Latency p99 (1 min)</div><div class="big" id="p99">–</div>
              <div class="sub">max <b id="pmax">–</b></div></div>
            <div class="card"><div class="label">Memory (resident)</div><div class="big" id="resident">–</div>
              <div class="sub">allocated <b id="allocated">–</b></div></div>
            <div class="card"><div class="label">Item cache memory</div><div class="big" id="item-util">–</div>
              <div class="sub"><b id="item-bytes">–</b> of <b id="item-cap">–</b>, <b id="item-entries">–</b> entries</div></div>
            <div class="card"><div class="label">Query cache memory</div><div class="big" id="query-util">–</div>
              <div class="sub"><b id="query-bytes">–</b> of <b id="query-cap">–</b>, <b id="query-entries">–</b> entries</div></div>
            <div class="card"><div class="label">Connections</div><div class="big" id="connections">–</div>
              <div class="sub">client connections now</div></div>
            <div class="card"><div class="label">Errors / faults</div><div class="big" id="errfault">–</div>
              <div class="sub">4xx / 5xx; throttled <b id="throttled">–</b></div></div>
            <div class="card"><div class="label">Evictions</div><div class="big" id="evictions">–</div>
              <div class="sub">invalidated <b id="invalidations">–</b></div></div>
          </section>
          <section class="charts" aria-label="History, one sample per second">
            <figure class="card"><figcaption><span class="label">Hit ratio <i class="key0"></i>item <i class="key1"></i>query
              <i class="key2"></i>scan</span><span class="sub" id="c-hit-text">–</span></figcaption>
              <svg id="c-hit" role="img" aria-label="Hit ratio per second of the item cache, the query cache and scans"></svg></figure>
            <figure class="card"><figcaption><span class="label">Requests / s</span><span class="sub" id="c-rate-text">–</span></figcaption>
              <svg id="c-rate" role="img" aria-label="Requests per second"></svg></figure>
            <figure class="card"><figcaption><span class="label">Latency (log scale) <i class="key0"></i>p50 <i class="key1"></i>p99</span>
              <span class="sub" id="c-lat-text">–</span></figcaption>
              <svg id="c-lat" role="img" aria-label="p50 and p99 latency per second, log scale"></svg></figure>
            <figure class="card"><figcaption><span class="label">Resident memory</span><span class="sub" id="c-mem-text">–</span></figcaption>
              <svg id="c-mem" role="img" aria-label="Resident memory"></svg></figure>
          </section>
          <section class="card" id="streams" aria-label="Stream followers" hidden>
            <div class="label">DynamoDB Stream followers</div>
            <table><thead><tr><th>table</th><th>state</th><th>served from memory</th><th>behind</th><th>lag</th>
              <th>records</th><th>own</th><th>flushes</th><th>errors</th></tr></thead><tbody id="streams-rows"></tbody></table>
          </section>
        </main>
        <script>
        "use strict";
        const POLL_MS = 2000;
        const DASH = "–";

        // Only finite numbers count; anything else (null, missing, a string) is "no value".
        function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
        function pct(r) { r = num(r); return r === null ? DASH : (r * 100).toFixed(1) + "%"; }
        function int(n) {
          n = num(n); if (n === null) return DASH;
          return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
        }
        function ms(v) {
          v = num(v); if (v === null) return DASH;
          if (v === 0) return "0 ms";
          const d = v < 0.1 ? 3 : v < 10 ? 2 : v < 100 ? 1 : 0;
          return v.toFixed(d) + " ms";
        }
        function bytes(b) {
          b = num(b); if (b === null) return DASH;
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let i = 0;
          while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
          return (i === 0 ? String(Math.round(b)) : b.toFixed(Math.abs(b) < 10 ? 2 : Math.abs(b) < 100 ? 1 : 0)) + " " + units[i];
        }
        function clock(t) {
          const d = new Date(t * 1000), p = (x) => String(x).padStart(2, "0");
          return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
        }
        function duration(s) {
          s = num(s); if (s === null) return DASH;
          s = Math.floor(s);
          if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
          if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor(s % 3600 / 60) + "m";
          return Math.floor(s / 86400) + "d " + Math.floor(s % 86400 / 3600) + "h";
        }
        function set(id, text) { document.getElementById(id).textContent = text; }

        // ---- SVG line charts ----
        // The viewBox is the element's real size (redrawn on resize), so axis text is never scaled.
        const H = 160, X0 = 62, Y0 = 8, Y1 = 134;
        // Seconds without a value up to this long are bridged (a quiet moment, not an outage); longer ones are
        // drawn as a shaded gap, and a sample alone between two of them as a dot.
        const BRIDGE_S = 5;

        // series: [[t, value|null], ...] per line. opts: min, max (linear) or log: true (decades from the data).
        function chart(id, series, fmt, opts) {
          const svg = document.getElementById(id);
          const W = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 400), X1 = W - 10;
          svg.setAttribute("viewBox", "0 0 " + W + " " + H);
          const all = series.flat().filter((p) => p[1] !== null && (!opts.log || p[1] > 0));
          const ts = series.flat().map((p) => p[0]);
          let out = '<line class="grid" x1="' + X0 + '" y1="' + Y0 + '" x2="' + X1 + '" y2="' + Y0 + '"/>' +
                    '<line class="grid" x1="' + X0 + '" y1="' + Y1 + '" x2="' + X1 + '" y2="' + Y1 + '"/>';
          if (all.length === 0) {
            svg.innerHTML = out + '<text class="empty" x="' + (X0 + X1) / 2 + '" y="76" text-anchor="middle">no data yet</text>';
            return;
          }
          const vs = all.map((p) => p[1]);
          let lo, hi;
          if (opts.log) {
            // A decade of room below the lowest value when it sits near a decade line, so it never lies on the axis.
            lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vs)) - 0.3));
            hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vs)) + 0.05));
            if (hi <= lo) hi = lo * 10;
          } else {
            lo = opts.min !== undefined ? opts.min : Math.min(...vs);
            hi = opts.max !== undefined ? opts.max : Math.max(...vs);
            if (hi <= lo) { hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1); }
          }
          const f = opts.log ? (v) => Math.log10(Math.max(v, lo)) : (v) => v;
          const tMin = Math.min(...ts), tMax = Math.max(...ts);
          const x = (t) => tMax === tMin ? (X0 + X1) / 2 : X0 + (t - tMin) / (tMax - tMin) * (X1 - X0);
          const y = (v) => Y1 - (f(v) - f(lo)) / (f(hi) - f(lo)) * (Y1 - Y0);
          // Shaded gaps: stretches where no series has a value.
          const times = [...new Set(ts)].sort((a, b) => a - b);
          const has = new Set(all.map((p) => p[0]));
          let gapFrom = null;
          for (const t of times.concat([Infinity])) {
            if (t !== Infinity && !has.has(t)) { if (gapFrom === null) gapFrom = t; continue; }
            if (gapFrom !== null) {
              const gapTo = t === Infinity ? tMax : t;
              if (gapTo - gapFrom > BRIDGE_S) {
                out += '<rect class="idle" x="' + x(gapFrom).toFixed(1) + '" y="' + Y0 + '" width="' +
                       Math.max(1, x(gapTo) - x(gapFrom)).toFixed(1) + '" height="' + (Y1 - Y0) + '"/>';
              }
              gapFrom = null;
            }
          }
          // Decade lines of a log axis, labelled.
          if (opts.log) {
            for (let d = lo * 10; d < hi * 0.999; d *= 10) {
              out += '<line class="grid" x1="' + X0 + '" y1="' + y(d).toFixed(1) + '" x2="' + X1 + '" y2="' + y(d).toFixed(1) + '"/>' +
                     '<text x="' + (X0 - 6) + '" y="' + (y(d) + 4).toFixed(1) + '" text-anchor="end" class="ytick">' + fmt(d) + '</text>';
            }
          }
          // Time labels: both ends and evenly between them (fewer on a narrow chart).
          const ticks = W < 380 ? 3 : 5;
          for (let k = 0; k < ticks; k++) {
            const t = tMin + (tMax - tMin) * k / (ticks - 1), cls = k === 0 ? "xmin" : k === ticks - 1 ? "xmax" : "xtick";
            const anchor = k === 0 ? "start" : k === ticks - 1 ? "end" : "middle";
            if (k > 0 && k < ticks - 1) {
              out += '<line class="grid" x1="' + x(t).toFixed(1) + '" y1="' + Y0 + '" x2="' + x(t).toFixed(1) + '" y2="' + Y1 + '"/>';
            }
            out += '<text x="' + x(t).toFixed(1) + '" y="152" text-anchor="' + anchor + '" class="' + cls + '">' + clock(t) + '</text>';
          }
          series.forEach((pts, i) => {
            // Runs of values, bridged over short silences, become polylines; a sample alone becomes a dot, a
            // zero-length segment drawn with a wide round cap.
            const runs = [];
            let run = [], lastT = null;
            for (const [t, v] of pts) {
              if (v === null || (opts.log && v <= 0)) continue;
              if (lastT !== null && t - lastT > BRIDGE_S + 1 && run.length) { runs.push(run); run = []; }
              run.push(x(t).toFixed(1) + " " + y(v).toFixed(1));
              lastT = t;
            }
            if (run.length) runs.push(run);
            const lines = runs.filter((r) => r.length > 1).map((r) => "M" + r.join(" L")).join(" ");
            const dots = runs.filter((r) => r.length === 1).map((r) => "M" + r[0] + " l0 0").join(" ");
            if (lines) out += '<path class="line s' + i + '" d="' + lines + '"/>';
            if (dots) out += '<path class="line dot s' + i + '" d="' + dots + '"/>';
          });
          out += '<text x="' + (X0 - 6) + '" y="' + (Y0 + 4) + '" text-anchor="end" class="ymax">' + fmt(hi) + '</text>' +
                 '<text x="' + (X0 - 6) + '" y="' + (Y1 + 4) + '" text-anchor="end" class="ymin">' + fmt(lo) + '</text>';
          svg.innerHTML = out; // every interpolated value above is a number we formatted, never text from the server
        }

        // The caption states the same data in words: last value and range.
        function caption(id, vals, fmt) {
          const v = vals.filter((x) => x !== null);
          set(id, v.length ? "last " + fmt(v[v.length - 1]) + " · min " + fmt(Math.min(...v)) + " · max " + fmt(Math.max(...v)) : "no data yet");
        }

        function render(s) {
          const c = s.caches || {}, item = c.item || {}, query = c.query || {};
          const scan = c.scan || {}, req = s.requests || {}, lat = s.latency_ms_1m || {};
          const mem = s.memory || {};
          const hist = Array.isArray(s.history) ? s.history.filter((h) => h && num(h.t) !== null) : [];
          const last = hist.length ? hist[hist.length - 1] : null;

          set("item-hit", pct(item.hit_ratio)); set("item-hit-1m", pct(item.hit_ratio_1m));
          set("query-hit", pct(query.hit_ratio)); set("query-hit-1m", pct(query.hit_ratio_1m));
          set("scan-hit", pct(scan.hit_ratio)); set("scan-hit-1m", pct(scan.hit_ratio_1m));
          set("rate", last ? int(last.requests) : DASH); set("total", int(req.total));
          set("p50", ms(lat.p50)); set("p90", ms(lat.p90)); set("p99", ms(lat.p99)); set("pmax", ms(lat.max));
          set("resident", bytes(mem.resident_bytes)); set("allocated", bytes(mem.allocated_bytes));
          for (const [k, o] of [["item", item], ["query", query]]) {
            set(k + "-util", pct(o.memory_utilization)); set(k + "-bytes", bytes(o.bytes));
            set(k + "-cap", bytes(o.capacity_bytes)); set(k + "-entries", int(o.entries));
          }
          set("connections", int(s.connections));
          set("evictions", int((num(item.evictions) || 0) + (num(query.evictions) || 0)));
          set("invalidations", int((num(item.invalidations) || 0) + (num(query.invalidations) || 0)));
          set("errfault", int(req.errors) + " / " + int(req.faults)); set("throttled", int(req.throttled));
          const alloc = mem.allocator, version = String(mem.version || "").split("-")[0];
          set("meta", "up " + duration(s.uptime_seconds) + (alloc ? " · " + alloc + " " + version : "") +
              " · updated " + clock(Date.now() / 1000));

          const ratioOf = (hits, misses) => hist.map((h) => {
            const a = num(h[hits]), b = num(h[misses]);
            return [h.t, a !== null && b !== null && a + b > 0 ? a / (a + b) : null];
          });
          const ratios = [ratioOf("item_hits", "item_misses"), ratioOf("query_hits", "query_misses"),
                          ratioOf("scan_hits", "scan_misses")];
          const rate = hist.map((h) => [h.t, num(h.requests)]);
          const p50 = hist.map((h) => [h.t, num(h.p50_ms)]), p99 = hist.map((h) => [h.t, num(h.p99_ms)]);
          const res = hist.map((h) => [h.t, num(h.resident_bytes)]);
          chart("c-hit", ratios, (v) => (v * 100).toFixed(0) + "%", { min: 0, max: 1 });
          chart("c-rate", [rate], (v) => int(v) + "/s", { min: 0 });
          chart("c-lat", [p50, p99], ms, { log: true });
          chart("c-mem", [res], bytes, {});
          const lastOf = (r) => { const v = r.filter((p) => p[1] !== null); return v.length ? v[v.length - 1][1] : null; };
          set("c-hit-text", ratios.some((r) => lastOf(r) !== null)
              ? "last item " + pct(lastOf(ratios[0])) + " · query " + pct(lastOf(ratios[1])) + " · scan " + pct(lastOf(ratios[2]))
              : "no data yet");
          caption("c-rate-text", rate.map((p) => p[1]), (v) => int(v) + "/s");
          const l50 = p50.filter((p) => p[1] !== null), l99 = p99.filter((p) => p[1] !== null);
          set("c-lat-text", l99.length ? "last p50 " + ms(l50.length ? l50[l50.length - 1][1] : null) +
              " · p99 " + ms(l99[l99.length - 1][1]) + " · max p99 " + ms(Math.max(...l99.map((p) => p[1]))) : "no data yet");
          caption("c-mem-text", res.map((p) => p[1]), bytes);

          // Table names come from the server: written as text, never as markup.
          const streams = Array.isArray(s.streams) ? s.streams : [];
          document.getElementById("streams").hidden = streams.length === 0;
          const rows = document.getElementById("streams-rows");
          rows.replaceChildren(...streams.map((t) => {
            const sum = (o) => Object.values(o || {}).reduce((a, b) => a + (num(b) || 0), 0);
            const secs = (v) => (num(v) === null ? DASH : num(v).toFixed(1) + " s");
            const tr = document.createElement("tr");
            for (const cell of [t.table, t.state, t.serving ? "yes" : "no", secs(t.since_current_seconds), secs(t.lag_seconds),
                                int(t.records_applied), int(t.own_records), int(sum(t.flushes)), int(sum(t.errors))]) {
              const td = document.createElement("td");
              td.textContent = String(cell);
              tr.appendChild(td);
            }
            if (t.last_error) tr.title = "last error: " + t.last_error;
            return tr;
          }));
        }

        let lastOK = null, lastStats = null;
        // Charts are drawn at their element's width: redraw when a chart's box changes size (a window resize,
        // a rotated phone, the layout settling), not only on window resize events.
        const widths = new Map();
        const observer = new ResizeObserver((entries) => {
          const changed = entries.some((e) => widths.get(e.target.id) !== Math.round(e.contentRect.width));
          for (const e of entries) widths.set(e.target.id, Math.round(e.contentRect.width));
          // The observer already batches changes once per frame.
          if (changed && lastStats) try { render(lastStats); } catch (e) { /* the next poll reports it */ }
        });
        for (const svg of document.querySelectorAll(".charts svg")) observer.observe(svg);

        function problem(msg) {
          const b = document.getElementById("banner");
          b.textContent = msg + (lastOK ? " Showing figures from " + clock(lastOK) + "." : "") + " Retrying every " + POLL_MS / 1000 + " s.";
          b.hidden = false;
          document.body.classList.add("stale");
        }

        async function poll() {
          let s;
          try {
            const r = await fetch("stats", { cache: "no-store", signal: AbortSignal.timeout(5000) });
            if (!r.ok) throw new Error("HTTP " + r.status);
            s = await r.json();
          } catch (e) {
            problem("Cannot reach /stats (" + (e && e.name === "TimeoutError" ? "timed out" : e.message || e) + ").");
            setTimeout(poll, POLL_MS);
            return;
          }
          try {
            render(s);
            lastStats = s;
            lastOK = Date.now() / 1000;
            document.getElementById("banner").hidden = true;
            document.body.classList.remove("stale");
          } catch (e) {
            problem("Cannot render /stats: " + e.message + ".");
          }
          setTimeout(poll, POLL_MS); // after the answer, so a slow proxy never gets overlapping polls
        }
        poll();
        </script>
        </body>
        </html>
        """#
}
