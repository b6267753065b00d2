"""Generates render.jsonl: the bodies graphite-web 1.1.10 writes for format=json/csv/raw.

Usage: python3 gen_render.py VIEWS_PY DATALIB_PY > render.jsonl
VIEWS_PY and DATALIB_PY are graphite-web 1.1.10's webapp/graphite/render/views.py and
datalib.py (not shipped here). Their renderViewJson, renderViewCsv, renderViewRaw and the
Tags/TimeSeries classes are taken out with `ast` and run with small stand-ins for Django
(HttpResponse collects the text; settings.DEFAULT_XFILES_FACTOR = 0; no tag database).
Values are written as Python repr strings ("1.0", "nan", "inf") or null, Python ints
(what countSeries, isNonNull, … make) as JSON integers.
"""
import ast
import csv
import io
import json
import math
import random
import sys
import types
from collections import UserDict
from datetime import datetime

import pytz


def take(path, names):
    tree = ast.parse(open(path).read())
    body = [n for n in tree.body if getattr(n, "name", None) in names]
    return compile(ast.Module(body=body, type_ignores=[]), path, "exec")


class HttpResponse(io.StringIO):
    def __init__(self, content="", content_type=None):
        super().__init__()
        self.write(content)
        self.content_type = content_type


ns = {
    "__name__": "render", "csv": csv, "math": math, "json": json, "datetime": datetime,
    "HttpResponse": HttpResponse, "UserDict": UserDict, "re": __import__("re"),
    "text_type": str, "log": types.SimpleNamespace(debug=lambda *a: None),
    "settings": types.SimpleNamespace(DEFAULT_XFILES_FACTOR=0),
    "STORE": types.SimpleNamespace(tagdb=None),
}
exec(take(sys.argv[2], {"Tags", "TimeSeries"}), ns)
exec(take(sys.argv[1], {"renderViewJson", "renderViewCsv", "renderViewRaw"}), ns)
TimeSeries = ns["TimeSeries"]

rnd = random.Random(42)


def rand_value():
    r = rnd.random()
    if r < 0.15:
        return None
    if r < 0.2:
        return rnd.choice([float("nan"), float("inf"), float("-inf"), 0.0, -0.0])
    if r < 0.5:
        return float(rnd.randint(-1000, 100000))
    if r < 0.7:
        return rnd.uniform(-1e3, 1e3)
    return rnd.choice([1.0, 10.0]) * 10 ** rnd.randint(-12, 22) * rnd.random()


def series_case(name, start, step, n, values=None, tags=None, cf="average", xff=0.0, short=0):
    if values is None:
        values = [rand_value() for _ in range(n)]
    return {"name": name, "tags": tags if tags is not None else [["name", name]],
            "start": start, "end": start + step * (len(values) - short), "step": step,
            "values": values, "consolidation": cf, "xff": xff}


def build(cases):
    out = []
    for c in cases:
        ts = TimeSeries(c["name"], c["start"], c["end"], c["step"], list(c["values"]),
                        consolidate=c["consolidation"], tags=dict(c["tags"]),
                        xFilesFactor=c["xff"])
        out.append(ts)
    return out


def enc(v):
    """Python ints stay JSON integers; floats are repr strings."""
    if v is None or isinstance(v, int):
        return v
    return repr(v)


def emit(fmt, cases, options, tz="UTC"):
    data = build(cases)
    opts = dict(options)
    opts["tzinfo"] = pytz.timezone(tz)
    try:
        if fmt == "json":
            body = ns["renderViewJson"](opts, data).getvalue()
        elif fmt == "csv":
            body = ns["renderViewCsv"](opts, data).getvalue()
        else:
            body = ns["renderViewRaw"](opts, data).getvalue()
    except Exception as e:  # graphite answers 500
        body = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps({
        "format": fmt, "tz": tz, "options": options,
        "series": [dict(c, values=[enc(v) for v in c["values"]]) for c in cases],
        "body": body,
    }))


T0 = 1700000000
# shapes: (description, list of series)
shapes = [
    [],
    [series_case("a.b", T0, 60, 0)],
    [series_case("a.b", T0, 60, 0), series_case("a.c", T0, 60, 0)],
    [series_case("a.b", T0, 60, 5)],
    [series_case("a.b", T0, 60, 5, values=[1.0, None, float("nan"), float("inf"), float("-inf")])],
    [series_case("servers.web1.load", T0 + 40, 60, 2, values=[1.0, None])],
    [series_case("a.b", T0, 60, 0), series_case("a.c", T0, 60, 3)],
    [series_case('we"ird\\name, é😀\n\x7f', T0, 10, 4,
                 tags=[["name", 'we"ird\\name, é😀\n\x7f'], ["k", "v"]])],
    [series_case("scale(a.b,NaN,Infinity,)", T0, 10, 3)],
    [series_case("disk.used;dc=x;rack=a1", T0, 10, 3,
                 tags=[["dc", "x"], ["rack", "a1"], ["name", "disk.used"]])],
    [series_case("a.b", T0, 1, 720), series_case("a.c", T0 + 7, 10, 60)],
    [series_case("x", T0 + 3, 7, 100, cf=cf) for cf in ["average", "sum", "min", "max", "first", "last", "avg_zero"]],
    [series_case("x", T0, 10, 100, xff=0.5), series_case("y", T0, 10, 37, cf="sum", xff=0.9)],
    [series_case("x", T0, 60, 30, values=[float(i) for i in range(30)])],
    [series_case("short", T0, 60, 10, short=3), series_case("long", T0, 60, 10, short=-2)],
]
for i in range(12):
    shapes.append([series_case("r.%d.%d" % (i, j), T0 + rnd.randint(0, 100), rnd.choice([1, 10, 60]),
                               rnd.randint(0, 50)) for j in range(rnd.randint(1, 3))])

# Python ints mixed with floats, under every consolidation (a bucket's sum is an int
# when all its values are; max/min/first/last keep the one they pick; an average is a float).
mixed = [2, 2.5, None, 3, 1.0, 0, 7, 7.0, -1, 4, 7.0, 7, None, None, 12, 3]
shapes.append([series_case("ints.%s" % cf, T0, 60, 0, values=list(mixed), cf=cf)
               for cf in ["average", "sum", "min", "max", "first", "last", "avg_zero"]])
shapes.append([series_case("countSeries(a.*)", T0 + 20, 10, 0, values=[3] * 40)])

option_sets = [{}, {"pretty": 1}, {"jsonp": "cb"}, {"noNullPoints": 1},
               {"noNullPoints": 1, "pretty": 1}, {"maxDataPoints": 1}, {"maxDataPoints": 2},
               {"maxDataPoints": 7}, {"maxDataPoints": 10}, {"maxDataPoints": 100},
               {"maxDataPoints": 1000}, {"maxDataPoints": 10, "noNullPoints": 1}]
for shape in shapes:
    for opts in option_sets:
        emit("json", [dict(c) for c in shape], opts)
    emit("raw", shape, {})
    emit("csv", shape, {})
    emit("csv", shape, {}, tz="Etc/GMT+5")
