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
  {"op": "aggregation", "text": STR}  carbon's storage-aggregation.conf loading (same source)
  {"op": "schemas", "text": STR}      carbon's storage-schemas.conf loading (configparser +
                                      the rules of shared/reference/graphite.md 2.4)

Writes one JSON object: {"results": [[result, ...], ...]} where a result is
{"ok": VALUE} or {"error": EXCEPTION_CLASS_NAME}.
"""
import json
import re
import struct
import sys

try:
    import whisper
except ImportError:
    sys.stderr.write("python module 'whisper' is missing: run tests/run-all, which installs "
                     "PyPI whisper==1.1.10 (or: python3 -m pip install whisper==1.1.10)\n")
    sys.exit(3)


if sys.version_info >= (3, 12):
    # Python 3.12 made sum() of floats compensated (Neumaier). lonsdaleite, like whisper on
    # Python <= 3.11 (Debian bookworm's carbon), adds left to right; pin the oracle to that
    # so the comparison does not depend on the interpreter running the tests.
    def _sum_left_to_right(values, start=0):
        total = start
        for v in values:
            total = total + v
        return total

    whisper.sum = _sum_left_to_right


def f2h(x):
    return struct.pack(">d", x).hex()


def h2f(h):
    return struct.unpack(">d", bytes.fromhex(h))[0]


CARBON_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def carbon_retention(definition):
    """carbon's parseRetentionDef as the reference describes it (units s m h d w y)."""
    parts = definition.strip().split(":")
    if len(parts) != 2:
        raise ValueError(definition)
    precision, points = parts

    def number(text):
        m = re.match(r"^(\d+)([a-z]+)$", text)
        if not m or m.group(2) not in CARBON_UNITS:
            raise ValueError(text)
        return int(m.group(1)) * CARBON_UNITS[m.group(2)]

    precision = int(precision) if precision.isdigit() else number(precision)
    points = int(points) if points.isdigit() else int(number(points) / precision)
    return (precision, points)


def carbon_schemas(text):
    """Sections carbon keeps and skips for a storage-schemas.conf text, or an error."""
    import configparser
    parser = configparser.ConfigParser()
    parser.read_string(text)
    # carbon's OrderedConfigParser lists only lines that start with '[' and end with ']'
    ordered = [line.strip()[1:-1] for line in text.splitlines()
               if line.strip().startswith("[") and line.strip().endswith("]")]
    rules, skipped = [], []
    for section in ordered:
        options = dict(parser.items(section))
        pattern = options.get("pattern")
        if "retentions" not in options:
            skipped.append(section)
            continue
        archives = [carbon_retention(r) for r in options["retentions"].split(",")]
        if not pattern:
            skipped.append(section)
            continue
        try:
            whisper.validateArchiveList(list(archives))
        except whisper.InvalidConfiguration:
            skipped.append(section)
            continue
        re.compile(pattern)
        rules.append([section, pattern, [list(a) for a in archives]])
    # sections configparser defines but carbon's ordering never visits ("[x] # note")
    skipped += [name for name in parser.sections() if name not in ordered]
    return {"rules": rules, "skipped": sorted(skipped)}


def carbon_aggregation(text):
    """Sections carbon keeps and skips for a storage-aggregation.conf text, or an error."""
    import configparser
    parser = configparser.ConfigParser()
    parser.read_string(text)
    ordered = [line.strip()[1:-1] for line in text.splitlines()
               if line.strip().startswith("[") and line.strip().endswith("]")]
    rules, skipped = [], []
    for section in ordered:
        options = dict(parser.items(section))
        pattern = options.get("pattern")
        xff = options.get("xfilesfactor")
        method = options.get("aggregationmethod")
        try:
            if xff is not None:
                xff = float(xff)
                assert 0 <= xff <= 1
            if method is not None:
                assert method in whisper.aggregationMethods
        except ValueError:
            skipped.append(section)
            continue
        if not pattern:
            skipped.append(section)
            continue
        re.compile(pattern)
        rules.append([section, pattern, None if xff is None else f2h(xff), method])
    skipped += [name for name in parser.sections() if name not in ordered]
    return {"rules": rules, "skipped": sorted(skipped)}


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
    if kind == "aggregation":
        return carbon_aggregation(op["text"])
    if kind == "schemas":
        return carbon_schemas(op["text"])
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
