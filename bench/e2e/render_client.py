"""Render latency client for render-vs-graphite-web.sh: the same queries against two
servers, interleaved, one request at a time.

Usage: python3 render_client.py ROUNDS NAME=URL[,N] NAME=URL[,N] -- LABEL=PATH ...
       python3 render_client.py compare URL_A URL_B PATH   (are the two JSON answers equal?)
       python3 render_client.py table RESULTS.jsonl        (Markdown table of the summaries)
Each round runs every query on every server (one unmeasured warm-up request, then N
timed requests; N after the comma, per server, scaled down for slow queries by
MAX_SECONDS). A request is timed from sending to the last body byte
(time.perf_counter); it must answer 200 with a JSON body. Prints one JSON line per
(round, server, query) and a summary line per (server, query) with p50/p99 over all
rounds and the per-round p50s (the spread).
"""
import json
import sys
import time
import urllib.request

MAX_SECONDS = 40.0  # time budget of one (round, server, query) cell


def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
        status = r.status
    dt = time.perf_counter() - t
    if status != 200:
        raise SystemExit("%s: HTTP %d" % (url, status))
    json.loads(body)
    return dt, len(body)


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def compare(a, b, path):
    """Both servers' answers to one render query, datapoint by datapoint."""
    answers = []
    for base in (a, b):
        with urllib.request.urlopen(base.rstrip("/") + path, timeout=120) as r:
            answers.append(json.loads(r.read()))
    x, y = answers
    if [s["target"] for s in x] != [s["target"] for s in y]:
        print("names differ: %s / %s" % ([s["target"] for s in x], [s["target"] for s in y]))
        return
    for sx, sy in zip(x, y):
        px, py = sx["datapoints"], sy["datapoints"]
        diff = sum(1 for p, q in zip(px, py) if p[1] != q[1] or (
            (p[0] is None) != (q[0] is None)) or (p[0] is not None and abs(p[0] - q[0]) > 1e-6 * max(1, abs(p[0]))))
        print("%s: %d and %d points, %d differ, nulls %d and %d" % (
            sx["target"], len(px), len(py), diff + abs(len(px) - len(py)),
            sum(p[0] is None for p in px), sum(p[0] is None for p in py)))


def table(path):
    """Markdown table: per query, both servers' p50/p99, the per-round p50s and the ratio."""
    rows = [json.loads(l) for l in open(path) if '"summary"' in l]
    names = []
    for r in rows:
        if r["server"] not in names:
            names.append(r["server"])
    by = {(r["query"], r["server"]): r for r in rows}
    queries = []
    for r in rows:
        if r["query"] not in queries:
            queries.append(r["query"])
    head = "| query |"
    for n in names:
        head += " %s p50 / p99 ms (n) | %s p50 per round |" % (n, n)
    if len(names) == 2:
        head += " ratio p50 (%s / %s) | ratio p99 |" % (names[0], names[1])
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for q in queries:
        line = "| %s |" % q
        for n in names:
            r = by.get((q, n))
            line += " %s / %s (%d) | %s |" % (r["p50_ms"], r["p99_ms"], r["n"],
                                              ", ".join(str(x) for x in r["round_p50_ms"]))
        if len(names) == 2:
            a, b = by[(q, names[0])], by[(q, names[1])]
            line += " %.1f× | %.1f× |" % (a["p50_ms"] / max(b["p50_ms"], 1e-3),
                                         a["p99_ms"] / max(b["p99_ms"], 1e-3))
        print(line)


def main():
    if sys.argv[1] == "compare":
        return compare(*sys.argv[2:5])
    if sys.argv[1] == "table":
        return table(sys.argv[2])
    rounds = int(sys.argv[1])
    sep = sys.argv.index("--")
    servers = []
    for arg in sys.argv[2:sep]:
        name, rest = arg.split("=", 1)
        url, _, n = rest.partition(",")
        servers.append((name, url.rstrip("/"), int(n or 20)))
    queries = [a.split("=", 1) for a in sys.argv[sep + 1:]]
    samples = {}
    round_p50 = {}
    for rnd in range(rounds):
        for label, path in queries:
            for name, base, n in servers:
                url = base + path
                first, size = get(url)  # warm-up, also sizes the run
                count = max(3, min(n, int(MAX_SECONDS / max(first, 1e-4))))
                times = [get(url)[0] for _ in range(count)]
                samples.setdefault((name, label), []).extend(times)
                round_p50.setdefault((name, label), []).append(pct(times, 50))
                print(json.dumps({"round": rnd, "server": name, "query": label, "n": count,
                                  "bytes": size, "p50_ms": round(pct(times, 50) * 1e3, 2),
                                  "p99_ms": round(pct(times, 99) * 1e3, 2),
                                  "min_ms": round(min(times) * 1e3, 2),
                                  "max_ms": round(max(times) * 1e3, 2)}), flush=True)
    for label, _ in queries:
        for name, _, _ in servers:
            xs = samples[(name, label)]
            print(json.dumps({"summary": True, "server": name, "query": label, "n": len(xs),
                              "p50_ms": round(pct(xs, 50) * 1e3, 2),
                              "p99_ms": round(pct(xs, 99) * 1e3, 2),
                              "round_p50_ms": [round(x * 1e3, 2) for x in round_p50[(name, label)]]}),
                  flush=True)


main()
