"""Latency client for cluster-latency.sh: the same queries against a federation frontend
and a single node, interleaved, one request at a time, over kept-open connections.

Usage: python3 cluster_latency_client.py ROUNDS N NAME=HOST:PORT NAME=HOST:PORT -- LABEL=PATH ...
       python3 cluster_latency_client.py compare HOST:PORT HOST:PORT PATH
       python3 cluster_latency_client.py table RESULTS.jsonl

One http.client.HTTPConnection per server, kept open for the whole run (HTTP/1.1
keep-alive; reopened only if the server closes it, which is counted). Each round runs, for
every query, one unmeasured warm-up request on each server, then N requests alternating
between the servers (A, B, A, B, …), each timed from sending to the last body byte
(time.perf_counter). Every answer must be 200 with a JSON body. Prints one JSON line per
(round, server, query) and a summary per (server, query): p50/p90/p99 over all rounds,
the per-round p50s (the spread) and the reconnects.
"""
import http.client
import json
import sys
import time


class Conn:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.conn = None
        self.reconnects = -1

    def get(self, path):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.conn.connect()
                self.reconnects += 1
            try:
                t = time.perf_counter()
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                dt = time.perf_counter() - t
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if r.status != 200:
                raise SystemExit("%s:%d%s: HTTP %d %r" % (self.host, self.port, path, r.status, body[:200]))
            if r.getheader("connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return dt, body


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def compare(a, b, path):
    """Both servers' json answers to one request: finds as sets of (id, leaf), renders point
    by point."""
    x, y = (json.loads(Conn(s).get(path)[1]) for s in (a, b))
    if path.startswith("/metrics/find"):
        kx = sorted((n["id"], n["leaf"]) for n in x)
        ky = sorted((n["id"], n["leaf"]) for n in y)
        print("find %s: %d and %d nodes, %s" % (path, len(kx), len(ky),
                                              "equal" if kx == ky else "DIFFERENT"))
        return kx == ky
    ok = [s["target"] for s in x] == [s["target"] for s in y]
    for sx, sy in zip(x, y):
        px, py = sx["datapoints"], sy["datapoints"]
        diff = sum(1 for p, q in zip(px, py) if p[1] != q[1] or (p[0] is None) != (q[0] is None)
                   or (p[0] is not None and abs(p[0] - q[0]) > 1e-9 * max(1, abs(p[0]))))
        diff += abs(len(px) - len(py))
        ok = ok and diff == 0
        print("render %s: %s, %d and %d points, %d differ, nulls %d and %d" % (
            path, sx["target"], len(px), len(py), diff,
            sum(p[0] is None for p in px), sum(p[0] is None for p in py)))
    return ok


def table(path):
    rows = [json.loads(l) for l in open(path) if '"summary"' in l]
    names, queries = [], []
    for r in rows:
        if r["server"] not in names:
            names.append(r["server"])
        if r["query"] not in queries:
            queries.append(r["query"])
    by = {(r["query"], r["server"]): r for r in rows}
    head = "| query |"
    for n in names:
        head += " %s p50 / p90 / p99 ms (n) | %s p50 per round |" % (n, n)
    if len(names) == 2:
        head += " ratio p50 %s / %s |" % (names[0], names[1])
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for q in queries:
        line = "| %s |" % q
        for n in names:
            r = by[(q, n)]
            line += " %s / %s / %s (%d) | %s |" % (r["p50_ms"], r["p90_ms"], r["p99_ms"], r["n"],
                                                  ", ".join(str(x) for x in r["round_p50_ms"]))
        if len(names) == 2:
            a, b = by[(q, names[0])], by[(q, names[1])]
            line += " %.2f× |" % (a["p50_ms"] / max(b["p50_ms"], 1e-3))
        print(line)


def main():
    if sys.argv[1] == "compare":
        sys.exit(0 if compare(*sys.argv[2:5]) else 1)
    if sys.argv[1] == "table":
        return table(sys.argv[2])
    rounds, n = int(sys.argv[1]), int(sys.argv[2])
    sep = sys.argv.index("--")
    servers = []
    for arg in sys.argv[3:sep]:
        name, addr = arg.split("=", 1)
        servers.append((name, Conn(addr)))
    queries = [a.split("=", 1) for a in sys.argv[sep + 1:]]
    samples, round_p50 = {}, {}
    for rnd in range(rounds):
        for label, path in queries:
            times = {name: [] for name, _ in servers}
            size = {}
            for name, c in servers:
                size[name] = len(c.get(path)[1])  # warm-up
            for _ in range(n):
                for name, c in servers:
                    dt, body = c.get(path)
                    json.loads(body)
                    times[name].append(dt)
            for name, _ in servers:
                ts = times[name]
                samples.setdefault((name, label), []).extend(ts)
                round_p50.setdefault((name, label), []).append(pct(ts, 50))
                print(json.dumps({"round": rnd, "server": name, "query": label, "n": len(ts),
                                  "bytes": size[name],
                                  "p50_ms": round(pct(ts, 50) * 1e3, 3),
                                  "p90_ms": round(pct(ts, 90) * 1e3, 3),
                                  "p99_ms": round(pct(ts, 99) * 1e3, 3),
                                  "min_ms": round(min(ts) * 1e3, 3),
                                  "max_ms": round(max(ts) * 1e3, 3)}), flush=True)
    for label, _ in queries:
        for name, c in servers:
            xs = samples[(name, label)]
            print(json.dumps({"summary": True, "server": name, "query": label, "n": len(xs),
                              "p50_ms": round(pct(xs, 50) * 1e3, 3),
                              "p90_ms": round(pct(xs, 90) * 1e3, 3),
                              "p99_ms": round(pct(xs, 99) * 1e3, 3),
                              "round_p50_ms": [round(x * 1e3, 2) for x in round_p50[(name, label)]],
                              "reconnects": c.reconnects}), flush=True)


main()
