"""Concurrent dashboard renders for render-concurrent.sh: batches of CONCURRENCY mixed
Grafana-like /render requests fired at once, the same batches against each server.

Usage:
  render_concurrent.py plan SEED BATCHES CONCURRENCY SERVERS METRICS > plan.json
  render_concurrent.py run plan.json NAME=URL NAME=URL ... > results.jsonl
  render_concurrent.py compare plan.json URL_A URL_B NOW      (answers equal? absolute times)
  render_concurrent.py table results.jsonl                    (Markdown table)

plan: BATCHES batches (plus one warm-up batch, index -1) of CONCURRENCY requests, drawn
with random.Random(SEED) from Grafana-like panels over the tree bench.srvNNN.mMMM
(SERVERS x METRICS series):
  window   from=-1h, -3h, -6h, -12h, -24h, -2d or -7d (until now)
  targets  1 to 200 series per request: one series, one server's metrics (METRICS), one
           metric over every server (SERVERS), or 2..8 servers' metrics by brace list;
           each drawn raw, under aliasByNode(...,1), or aggregated by sumSeries,
           averageSeries or maxSeries
  maxDataPoints  a panel width from 300 to 1900 px, as Grafana sends it
  format=json
run: for each batch, for each server in turn (the order alternates between batches), all
CONCURRENCY requests start together (one thread and one connection each, a barrier before
sending); a request is timed from its send to its last body byte and must answer 200 with a
JSON list body. Per request one JSON line; per (server, batch) the batch time (first send to
last byte: what a dashboard waits for). The summary line per server gives p50/p99 of the
request times and of the batch times over the measured batches (nearest rank).
"""
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

WINDOWS = ["-1h", "-3h", "-6h", "-12h", "-24h", "-2d", "-7d"]


def pct(xs, p):
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def plan(seed, batches, concurrency, servers, metrics):
    rng = random.Random(seed)

    def srv(i):
        return "srv%03d" % i

    def pattern():
        kind = rng.choice(["one", "server", "metric", "servers"])
        if kind == "one":
            return "bench.%s.m%03d" % (srv(rng.randrange(servers)), rng.randrange(metrics)), 1
        if kind == "server":
            return "bench.%s.*" % srv(rng.randrange(servers)), metrics
        if kind == "metric":
            return "bench.*.m%03d" % rng.randrange(metrics), servers
        k = rng.randint(2, min(8, servers))
        chosen = sorted(rng.sample(range(servers), k))
        return "bench.{%s}.*" % ",".join(srv(i) for i in chosen), k * metrics

    out = []
    for b in range(-1, batches):
        reqs = []
        for _ in range(concurrency):
            pat, n = pattern()
            wrap = rng.choice(["raw", "alias", "sumSeries", "averageSeries", "maxSeries"])
            target = {"raw": pat, "alias": "aliasByNode(%s,1)" % pat}.get(wrap, "%s(%s)" % (wrap, pat))
            window = rng.choice(WINDOWS)
            width = rng.randrange(300, 1901)
            query = urllib.parse.urlencode({"target": target, "from": window, "until": "now",
                                            "maxDataPoints": width, "format": "json"})
            reqs.append({"path": "/render?" + query, "series": n, "window": window,
                         "target": target, "maxDataPoints": width})
        out.append({"batch": b, "requests": reqs})
    return out


def one(base, path, start, result, i):
    host = urllib.parse.urlsplit(base).netloc
    conn = http.client.HTTPConnection(host, timeout=600)
    conn.connect()
    start.wait()
    t = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    dt = time.perf_counter() - t
    conn.close()
    ok = r.status == 200 and body[:1] == b"["
    result[i] = (t, dt, len(body), r.status, ok, body[:200] if not ok else b"")


def batch(base, reqs):
    n = len(reqs)
    start = threading.Barrier(n + 1, timeout=120)
    result = [None] * n
    threads = [threading.Thread(target=one, args=(base, q["path"], start, result, i))
               for i, q in enumerate(reqs)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    if any(r is None for r in result):
        raise SystemExit("%s: a request failed (see the traceback above)" % base)
    return result


def run(plan_path, servers):
    batches = json.load(open(plan_path))
    req_times = {name: [] for name, _ in servers}
    batch_times = {name: [] for name, _ in servers}
    for bi, b in enumerate(batches):
        order = servers if bi % 2 == 0 else list(reversed(servers))
        for name, base in order:
            res = batch(base, b["requests"])
            bad = [(q["path"], r[3], r[5]) for q, r in zip(b["requests"], res) if not r[4]]
            if bad:
                raise SystemExit("%s answered %d requests wrongly, e.g. %s" % (name, len(bad), bad[0]))
            t0 = min(r[0] for r in res)
            span = max(r[0] + r[1] for r in res) - t0
            for q, r in zip(b["requests"], res):
                print(json.dumps({"server": name, "batch": b["batch"], "ms": round(r[1] * 1e3, 3),
                                  "bytes": r[2], "series": q["series"], "window": q["window"],
                                  "target": q["target"], "maxDataPoints": q["maxDataPoints"]}))
            print(json.dumps({"server": name, "batch": b["batch"], "batch_ms": round(span * 1e3, 3)}),
                  flush=True)
            if b["batch"] >= 0:
                req_times[name].extend(r[1] for r in res)
                batch_times[name].append(span)
    for name, _ in servers:
        xs, bs = req_times[name], batch_times[name]
        print(json.dumps({"summary": True, "server": name, "requests": len(xs), "batches": len(bs),
                          "p50_ms": round(pct(xs, 50) * 1e3, 2), "p99_ms": round(pct(xs, 99) * 1e3, 2),
                          "max_ms": round(max(xs) * 1e3, 2),
                          "batch_p50_ms": round(pct(bs, 50) * 1e3, 2),
                          "batch_p99_ms": round(pct(bs, 99) * 1e3, 2)}), flush=True)


def compare(plan_path, a, b, now):
    """Every distinct request of the warm-up batch with absolute from/until, both servers."""
    batches = json.load(open(plan_path))
    now = int(now)
    secs = {"h": 3600, "d": 86400}
    same = differ = 0
    for q in batches[0]["requests"]:
        w = q["window"]
        start = now - int(w[1:-1]) * secs[w[-1]]
        query = urllib.parse.urlencode({"target": q["target"], "from": start, "until": now,
                                        "maxDataPoints": q["maxDataPoints"], "format": "json"})
        answers = []
        for base in (a, b):
            host = urllib.parse.urlsplit(base).netloc
            conn = http.client.HTTPConnection(host, timeout=600)
            conn.request("GET", "/render?" + query)
            answers.append(json.loads(conn.getresponse().read()))
            conn.close()
        x, y = answers
        bad = [s["target"] for s in x] != [s["target"] for s in y]
        if not bad:
            for sx, sy in zip(x, y):
                px, py = sx["datapoints"], sy["datapoints"]
                bad |= len(px) != len(py) or any(
                    p[1] != r[1] or (p[0] is None) != (r[0] is None)
                    or (p[0] is not None and abs(p[0] - r[0]) > 1e-6 * max(1, abs(p[0])))
                    for p, r in zip(px, py))
        if bad:
            differ += 1
            print("DIFFERENT: %s from=%d until=%d maxDataPoints=%d" % (q["target"], start, now, q["maxDataPoints"]))
        else:
            same += 1
    print("answers compared (warm-up batch, absolute times): %d identical, %d different" % (same, differ))


def table(path):
    rows = [json.loads(l) for l in open(path) if '"summary"' in l]
    head = "| server | requests (batches) | request p50 ms | request p99 ms | batch p50 ms | batch p99 ms |"
    print(head)
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| %s | %d (%d) | %s | %s | %s | %s |" % (r["server"], r["requests"], r["batches"], r["p50_ms"],
                                                    r["p99_ms"], r["batch_p50_ms"], r["batch_p99_ms"]))
    if len(rows) == 2:
        a, b = rows
        print()
        print("ratio %s / %s: request p50 %.1f×, request p99 %.1f×, batch p50 %.1f×, batch p99 %.1f×" % (
            a["server"], b["server"], a["p50_ms"] / max(b["p50_ms"], 1e-3), a["p99_ms"] / max(b["p99_ms"], 1e-3),
            a["batch_p50_ms"] / max(b["batch_p50_ms"], 1e-3), a["batch_p99_ms"] / max(b["batch_p99_ms"], 1e-3)))


def main():
    cmd = sys.argv[1]
    if cmd == "plan":
        json.dump(plan(*(int(x) for x in sys.argv[2:7])), sys.stdout, indent=1)
    elif cmd == "run":
        run(sys.argv[2], [tuple(a.split("=", 1)) for a in sys.argv[3:]])
    elif cmd == "compare":
        compare(*sys.argv[2:6])
    elif cmd == "table":
        table(sys.argv[2])
    else:
        raise SystemExit(__doc__)


main()
