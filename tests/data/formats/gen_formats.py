"""Generates formats.jsonl: the bodies graphite-web 1.1.10 writes for format=dygraph,
format=rickshaw and format=msgpack.

Usage: python3 gen_formats.py VIEWS_PY DATALIB_PY > formats.jsonl
(gen_formats.sh finds both in a graphite-web 1.1.10 venv and runs this.)
VIEWS_PY and DATALIB_PY are graphite-web 1.1.10's webapp/graphite/render/views.py and
datalib.py. Their renderViewDygraph, renderViewRickshaw, renderViewMsgPack and the
Tags/TimeSeries classes are taken out with `ast` and run with small stand-ins for Django
(HttpResponse collects the body) and the real `msgpack` module. Values are written as
Python repr strings ("1.0", "nan", "inf") or null, Python ints (what countSeries, isNonNull,
... make) as JSON integers; msgpack bodies as hex; a body graphite fails on (HTTP 500) as
{"error": ...}.
"""
import ast
import io
import json
import math
import random
import sys
import types
from collections import UserDict

import msgpack


def take(path, names):
    tree = ast.parse(open(path).read())
    body = [n for n in tree.body if getattr(n, "name", None) in names]
    return compile(ast.Module(body=body, type_ignores=[]), path, "exec")


class HttpResponse(io.BytesIO):
    def __init__(self, content="", content_type=None):
        super().__init__()
        if content:
            self.write(content.encode("utf-8"))
        self.content_type = content_type


ns = {
    "__name__": "render", "math": math, "json": json, "msgpack": msgpack,
    "HttpResponse": HttpResponse, "UserDict": UserDict, "re": __import__("re"),
    "text_type": str, "log": types.SimpleNamespace(debug=lambda *a: None),
    "settings": types.SimpleNamespace(DEFAULT_XFILES_FACTOR=0),
    "STORE": types.SimpleNamespace(tagdb=None),
}
exec(take(sys.argv[2], {"Tags", "TimeSeries"}), ns)
exec(take(sys.argv[1], {"renderViewDygraph", "renderViewRickshaw", "renderViewMsgPack"}), ns)
TimeSeries = ns["TimeSeries"]

rnd = random.Random(17)


def rand_value():
    r = rnd.random()
    if r < 0.15:
        return None
    if r < 0.2:
        return rnd.choice([float("nan"), float("inf"), float("-inf"), 0.0, -0.0])
    if r < 0.3:
        return rnd.randint(-5, 100)  # a Python int
    if r < 0.5:
        return float(rnd.randint(-1000, 100000))
    if r < 0.7:
        return rnd.uniform(-1e3, 1e3)
    return rnd.choice([1.0, 10.0]) * 10 ** rnd.randint(-12, 22) * rnd.random()


def series_case(name, start, step, n, values=None, path=None, cf="average", xff=0.0, short=0):
    if values is None:
        values = [rand_value() for _ in range(n)]
    return {"name": name, "pathExpression": path if path is not None else name,
            "start": start, "end": start + step * (len(values) - short), "step": step,
            "values": values, "consolidation": cf, "xff": xff}


def build(cases):
    out = []
    for c in cases:
        ts = TimeSeries(c["name"], c["start"], c["end"], c["step"], list(c["values"]),
                        consolidate=c["consolidation"], xFilesFactor=c["xff"])
        ts.pathExpression = c["pathExpression"]
        out.append(ts)
    return out


def enc(v):
    """Python ints stay JSON integers; floats are repr strings."""
    if v is None or isinstance(v, int):
        return v
    return repr(v)


VIEWS = {"dygraph": "renderViewDygraph", "rickshaw": "renderViewRickshaw",
         "msgpack": "renderViewMsgPack"}


def emit(fmt, cases, options):
    data = build(cases)
    try:
        resp = ns[VIEWS[fmt]](dict(options), data)
        raw = resp.getvalue()
        body = raw.hex() if fmt == "msgpack" else raw.decode("utf-8")
        content_type = resp.content_type
    except Exception as e:  # graphite answers 500
        body = {"error": "%s: %s" % (type(e).__name__, e)}
        content_type = None
    print(json.dumps({
        "format": fmt, "options": options, "content_type": content_type,
        "series": [dict(c, values=[enc(v) for v in c["values"]]) for c in cases],
        "body": body,
    }))


T0 = 1700000000
shapes = [
    [],
    [series_case("a.b", T0, 60, 0)],
    [series_case("a.b", T0, 60, 0), series_case("a.c", T0, 60, 0)],
    [series_case("a.b", T0, 60, 5)],
    [series_case("a.b", T0, 60, 5, values=[1.0, None, float("nan"), float("inf"), float("-inf")])],
    [series_case("servers.web1.load", T0 + 40, 60, 2, values=[1.0, None])],
    [series_case('we"ird\\name, é😀\n\x7f', T0, 10, 4, path="we*")],
    [series_case("scale(a.b,NaN,Infinity,)", T0, 10, 3, path="a.b")],
    [series_case("disk.used;dc=x;rack=a1", T0, 10, 3)],
    [series_case("x", T0, 60, 30, values=[float(i) for i in range(30)])],
    [series_case("big", T0, 10, 6, values=[1e22, 1e16, 1e15, 123456789012345678.0, 1e-5, 1e-4]),
     series_case("small", T0, 10, 6, values=[5e-324, -0.0, 0.1, 2.5e-7, 1.7976931348623157e308, 3])],
    [series_case("ints", T0, 60, 0, values=[2, 2.5, None, 3, 1.0, 0, -7, 2 ** 40, -(2 ** 33), 200]),
     series_case("sums", T0, 60, 0, values=[0, 127, 128, 255, 256, 65535, 65536, -32, -33, -129])],
    [series_case("countSeries(a.*)", T0 + 20, 10, 0, values=[3] * 40, cf="sum", xff=0.5)],
    # dygraph takes its rows from the first series: shorter or longer ones fail there
    [series_case("short", T0, 60, 10, short=3), series_case("long", T0, 60, 10, short=-2)],
    [series_case("first", T0, 60, 5), series_case("shorter", T0, 60, 3)],
    [series_case("first", T0, 60, 3), series_case("longer", T0, 60, 5)],
    [series_case("a.%d" % i, T0, 60, 20) for i in range(3)],
    [series_case("wide.%d" % i, T0, 1, 100) for i in range(20)],
]
for i in range(10):
    step = rnd.choice([1, 10, 60])
    n = rnd.randint(0, 40)
    start = T0 + rnd.randint(0, 100)
    shapes.append([series_case("r.%d.%d" % (i, j), start, step, n, cf=rnd.choice(["sum", "max", "average"]))
                   for j in range(rnd.randint(1, 3))])

option_sets = [{}, {"jsonp": "cb"}, {"pretty": True}, {"pretty": True, "jsonp": "f.g"},
               {"maxDataPoints": 2}]
for shape in shapes:
    for opts in option_sets:
        emit("dygraph", [dict(c) for c in shape], opts)
        emit("rickshaw", [dict(c) for c in shape], opts)
    emit("msgpack", [dict(c) for c in shape], {})
