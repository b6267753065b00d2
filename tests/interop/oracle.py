#!/usr/bin/env python3
"""Runs whisper operations with PyPI whisper 1.1.10 for lonsdaleite's interop tests.

Reads one JSON object from stdin: {"dir": DIR, "programs": [[op, ...], ...]}. Each program
runs on its own file DIR/<index>.wsp. Floats travel as 16 hex digits (big-endian IEEE-754
bits) so NaN, infinities and -0.0 survive JSON. Ops:

  {"op": "create", "archives": [[spp, points], ...], "xff": HEX, "method": NAME}
  {"op": "update", "ts": INT, "value": HEX, "now": INT}
  {"op": "update_many", "points": [[INT, HEX], ...], "now": INT}
  {"op": "fetch", "from": INT, "until": INT|null, "now": INT, "archive": STR|null}
  {"op": "set_aggregation", "method": NAME|null, "xff": HEX|null}
  {"op": "info"}
  {"op": "merge", "src": INDEX, "from": INT|null, "until": INT|null, "now": INT}
  {"op": "bytes"}
  {"op": "set_order", "values": [INT, ...]}

Writes one JSON object: {"results": [[result, ...], ...]} where a result is
{"ok": VALUE} or {"error": EXCEPTION_CLASS_NAME}.
"""
import json
import struct
import sys

try:
    import whisper
except ImportError:
    sys.stderr.write("python module 'whisper' is missing: run tests/run-all, which installs "
                     "PyPI whisper==1.1.10 (or: python3 -m pip install whisper==1.1.10)\n")
    sys.exit(3)


def f2h(x):
    return struct.pack(">d", x).hex()


def h2f(h):
    return struct.unpack(">d", bytes.fromhex(h))[0]


def run(path, op, paths):
    kind = op["op"]
    if kind == "create":
        whisper.create(path, [tuple(a) for a in op["archives"]],
                       xFilesFactor=h2f(op["xff"]), aggregationMethod=op["method"])
        return None
    if kind == "update":
        whisper.update(path, h2f(op["value"]), op["ts"], now=op["now"])
        return None
    if kind == "update_many":
        whisper.update_many(path, [(t, h2f(v)) for t, v in op["points"]], now=op["now"])
        return None
    if kind == "fetch":
        r = whisper.fetch(path, op["from"], op["until"], now=op["now"],
                          archiveToSelect=op["archive"])
        if r is None:
            return None
        (start, end, step), values = r
        return [[start, end, step], [None if v is None else f2h(v) for v in values]]
    if kind == "set_aggregation":
        xff = op["xff"]
        old = whisper.setAggregationMethod(
            path, op["method"] if op["method"] is not None else whisper.info(path)["aggregationMethod"],
            None if xff is None else h2f(xff))
        return old
    if kind == "info":
        i = whisper.info(path)
        return {
            "aggregationMethod": i["aggregationMethod"],
            "maxRetention": i["maxRetention"],
            "xFilesFactor": f2h(i["xFilesFactor"]),
            "archives": [[a["offset"], a["secondsPerPoint"], a["points"], a["retention"], a["size"]]
                         for a in i["archives"]],
        }
    if kind == "merge":
        whisper.merge(paths[op["src"]], path, op["from"], op["until"], now=op["now"])
        return None
    if kind == "bytes":
        with open(path, "rb") as fh:
            return fh.read().hex()
    if kind == "set_order":
        return list(set(op["values"]))
    raise ValueError("unknown op %r" % kind)


def main():
    request = json.load(sys.stdin)
    programs = request["programs"]
    paths = ["%s/%d.wsp" % (request["dir"], i) for i in range(len(programs))]
    results = []
    for path, program in zip(paths, programs):
        out = []
        for op in program:
            try:
                out.append({"ok": run(path, op, paths)})
            except Exception as exc:  # the class name is what the tests compare
                out.append({"error": type(exc).__name__})
        results.append(out)
    json.dump({"results": results}, sys.stdout)


main()
