"""Generates functions.jsonl and functions_catalogue.json: graphite-web 1.1.10's render
functions run on literal series, and its /functions parameter declarations.

Usage (graphite-web 1.1.10 from PyPI in a venv, not shipped here):
    python3 -m venv /work/venv-gw
    /work/venv-gw/bin/pip install --no-deps graphite-web==1.1.10
    /work/venv-gw/bin/pip install 'django<4' pytz six pyparsing urllib3 django-tagging==0.4.3
    /work/venv-gw/bin/python gen_functions.py OUT_DIR

graphite's own evaluator (`render/evaluator.py evaluateTarget`) and functions run
unchanged; only the storage is replaced: `fetchData` reads the literal STORE below through
graphite's `_merge_results` (so names, sorting and pathExpression are graphite's), tag
queries are answered by a small matcher whose answers are written into the data, and
events come from a literal list. `cairo` (only needed to draw) is a stand-in module.
ENFORCE_INPUT_VALIDATION is on, so a bad argument is an error as in lonsdaleite.

The first line of functions.jsonl is the store: {"store": {name: {start, step, values}},
"events": [[when, [tags]]]}. Each further line is a case: {target, from, until, now, xff,
templates, tag_queries: [[expressions, names]], and either "expect": [series] or "error":
message}. A series is {name, path, tags: [[k, v]], start, end, step, values,
consolidation, xff}; values are null, integers, or floats written as Python's repr in a
string ("0.1", "nan", "inf"), so that they read back exactly.
"""
import json
import math
import os
import random
import re
import sys
import types
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gw-stubs")
os.makedirs(STUBS, exist_ok=True)
open(os.path.join(STUBS, "cairo.py"), "w").close()
sys.path.insert(0, STUBS)
STORAGE = os.path.join(os.environ.get("TMPDIR", "/tmp"), "gw-storage")
os.makedirs(os.path.join(STORAGE, "log", "webapp"), exist_ok=True)
os.environ["GRAPHITE_STORAGE_DIR"] = STORAGE
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")

import django  # noqa: E402

django.setup()

import pytz  # noqa: E402
from django.conf import settings  # noqa: E402
from graphite.errors import InputParameterError  # noqa: E402
from graphite.finders import match_entries  # noqa: E402
from graphite.functions import SeriesFunctions  # noqa: E402
from graphite.render import datalib, evaluator  # noqa: E402
from graphite.render import functions as gfuncs  # noqa: E402

settings.ENFORCE_INPUT_VALIDATION = True
# the server's zone is the request's (UTC): time.mktime() and parseATTime() then agree
settings.TIME_ZONE = "UTC"
os.environ["TZ"] = "UTC"

NOW = 1700000000
rnd = random.Random(7)


def series_values(n, none_rate=0.1, lo=-50.0, hi=150.0, digits=2):
    out = []
    for _ in range(n):
        if rnd.random() < none_rate:
            out.append(None)
        else:
            out.append(round(rnd.uniform(lo, hi), digits))
    return out


def counter(n, step_max=100.0, reset_at=None, nones=()):
    v, out = 0.0, []
    for i in range(n):
        if reset_at is not None and i == reset_at:
            v = 3.0
        else:
            v += round(rnd.uniform(0, step_max), 1)
        out.append(None if i in nones else v)
    return out


SPAN = 4 * 3600  # every series covers [NOW - SPAN, NOW + 600)


def stored(step, values_fn):
    start = NOW - SPAN - (NOW - SPAN) % step
    n = (SPAN + 600) // step + 1
    return {"start": start, "step": step, "values": values_fn(n)}


STORE = {
    "a.b.c1": stored(60, lambda n: series_values(n)),
    "a.b.c2": stored(60, lambda n: series_values(n, none_rate=0.3)),
    "a.d.c1": stored(60, lambda n: series_values(n, none_rate=0.0, lo=0, hi=10, digits=0)),
    "a.d.c3": stored(60, lambda n: series_values(n, none_rate=0.05, lo=-1e6, hi=1e6, digits=4)),
    "m.x": stored(60, lambda n: series_values(n)),
    "m.y": stored(120, lambda n: series_values(n)),
    "m.z": stored(90, lambda n: series_values(n)),
    "m.w": stored(10, lambda n: series_values(n, none_rate=0.2)),
    "cnt.a": stored(10, lambda n: counter(n, reset_at=n // 2, nones=(5, 6, 40))),
    "cnt.b": stored(60, lambda n: counter(n, step_max=5000.0)),
    "cnt.wrap": stored(60, lambda n: [float((i * 70) % 256) for i in range(n)]),
    "e.none": stored(60, lambda n: [None] * n),
    "e.sparse": stored(60, lambda n: [None if i % 7 else float(i) for i in range(n)]),
    "e.zero": stored(60, lambda n: [0.0 if i % 3 else None for i in range(n)]),
    "hits.web1": stored(60, lambda n: series_values(n, none_rate=0.1, lo=0, hi=5)),
    "hits.web2": stored(30, lambda n: series_values(n, none_rate=0.1, lo=0, hi=5)),
    "srv.web1.cpu.user": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "srv.web1.cpu.system": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "srv.web2.cpu.user": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "srv.web2.cpu.system": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "srv.db10.cpu.user": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "srv.db9.cpu.user": stored(60, lambda n: series_values(n, lo=0, hi=100)),
    "Mixed.Case.Name": stored(60, lambda n: series_values(n)),
    "disk.used;dc=x;rack=a1": stored(60, lambda n: series_values(n, lo=0, hi=1000)),
    "disk.used;dc=y;rack=a2": stored(60, lambda n: series_values(n, lo=0, hi=1000)),
    "disk.used;dc=x;rack=a3": stored(60, lambda n: series_values(n, lo=0, hi=1000)),
    "disk.free;dc=x;rack=a1": stored(60, lambda n: series_values(n, lo=0, hi=1000)),
    "full.q1": stored(60, lambda n: series_values(n, none_rate=0.0)),
    "full.q2": stored(60, lambda n: series_values(n, none_rate=0.0)),
    "full.q3": stored(60, lambda n: series_values(n, none_rate=0.0)),
    "full.q4": stored(60, lambda n: series_values(n, none_rate=0.0, lo=40, hi=60)),
    "edge.const": stored(60, lambda n: [5.0] * n),
    "edge.prefix": stored(60, lambda n: [None] * (n - n // 8) + series_values(n // 8, none_rate=0.0)),
    "edge.big": stored(60, lambda n: series_values(n, none_rate=0.1, lo=1e16, hi=1e18, digits=0)),
    "edge.tiny": stored(60, lambda n: series_values(n, none_rate=0.1, lo=-1e-9, hi=1e-9, digits=15)),
    "edge.neg": stored(60, lambda n: series_values(n, none_rate=0.1, lo=-100, hi=-1)),
    "edge.one": stored(60, lambda n: [None] * (n - 40) + [7.5] + [None] * 39),
}

EVENTS = [
    [NOW - 3000, ["deploy"]],
    [NOW - 3000, ["deploy", "web"]],
    [NOW - 1200, ["web"]],
    [NOW - 10, ["db"]],
    [NOW - 5000, ["deploy"]],
]


def fetch_one(name, frm, until):
    d = STORE[name]
    step = d["step"]
    fi = frm - frm % step + step
    ui = until - until % step + step
    vals = []
    for t in range(fi, ui, step):
        i = (t - d["start"]) // step
        vals.append(d["values"][i] if 0 <= i < len(d["values"]) and (t - d["start"]) % step == 0 else None)
    return (fi, ui, step), vals


def find(pattern):
    nodes = pattern.split(".")
    names = []
    for name in STORE:
        parts = name.split(".")
        if len(parts) != len(nodes):
            continue
        if all(match_entries([p], n) for p, n in zip(parts, nodes)):
            names.append(name)
    return sorted(names)


def tag_match(expr, tags):
    m = re.match(r"^([^!=]+)(!=~|=~|!=|=)(.*)$", expr)
    tag, op, value = m.group(1), m.group(2), m.group(3)
    have = tags.get(tag)
    if op == "=":
        return have == value if value else have is None
    if op == "!=":
        return have != value
    if op == "=~":
        return have is not None and re.match(value, have) is not None
    return have is None or re.match(value, have) is None


CURRENT = {}


def tag_query(exprs):
    out = []
    for name in STORE:
        if ";" not in name:
            continue
        metric, *rest = name.split(";")
        tags = dict(s.split("=", 1) for s in rest)
        tags["name"] = metric
        if all(tag_match(e, tags) for e in exprs):
            out.append(name)
    out.sort()
    CURRENT["tag_queries"].append([list(exprs), out])
    return out


def fake_fetch(requestContext, pathExpr, timer=None):
    start, end, now = datalib.timebounds(requestContext)
    if pathExpr.startswith("seriesByTag("):
        from graphite.render.grammar import grammar
        exprs = [t.string[1:-1] for t in grammar.parseString(pathExpr).expression.call.args if t.string]
        names = tag_query(exprs)
    else:
        names = find(pathExpr)
    prefetched = [(n, fetch_one(n, start, end)) for n in names]
    return datalib._merge_results(pathExpr, start, end, prefetched, {}, requestContext)


evaluator.fetchData = fake_fetch
evaluator.prefetchData = lambda *a, **k: None


class FakeEvent:
    def __init__(self, when):
        self.when = datetime.fromtimestamp(when, pytz.utc)


def find_events(start, end, tags=None):
    out = []
    s, e = datalib.epoch(start) if hasattr(datalib, "epoch") else None, None
    for when, etags in EVENTS:
        dt = datetime.fromtimestamp(when, pytz.utc)
        if not (start <= dt <= end):
            continue
        if tags and not all(t in etags for t in tags):
            continue
        out.append(FakeEvent(when))
    return out


gfuncs.models = types.SimpleNamespace(Event=types.SimpleNamespace(find_events=find_events))


def num(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return repr(v)
    return v


def record(s):
    return {
        "name": s.name,
        "path": s.pathExpression,
        "tags": [[k, str(v)] for k, v in s.tags.items()],
        "start": s.start,
        "end": s.end,
        "step": s.step * s.valuesPerPoint,
        "values": [num(v) for v in s],
        "consolidation": s.consolidationFunc,
        "xff": s.xFilesFactor,
    }


def run(target, frm=NOW - 3600, until=NOW, xff=0, templates=None):
    CURRENT["tag_queries"] = []
    ctx = {
        "startTime": datetime.fromtimestamp(frm, pytz.utc),
        "endTime": datetime.fromtimestamp(until, pytz.utc),
        "now": datetime.fromtimestamp(NOW, pytz.utc),
        "localOnly": False,
        "template": dict(templates or {}),
        "tzinfo": pytz.utc,
        "xFilesFactor": xff,
        "targets": [target],
    }
    case = {"target": target, "from": frm, "until": until, "now": NOW, "xff": xff,
            "templates": sorted((templates or {}).items())}
    try:
        result = evaluator.evaluateTarget(ctx, target)
        case["expect"] = [record(s) for s in result]
    except Exception as e:  # graphite's errors: InputParameterError, or a crash (500)
        case["error"] = "%s: %s" % (type(e).__name__, e)
    case["tag_queries"] = CURRENT["tag_queries"]
    return case


TARGETS = [
    # Combine
    "sumSeries(a.b.*)", "sum(a.*.c1)", "sumSeries(a.b.c1,a.d.c1)", "sumSeries(a.b.*,a.d.*)",
    "sumSeries(m.*)", "sumSeries(m.x,m.y)", "sumSeries(m.x,m.z)", "sumSeries(m.w,m.x)",
    "sumSeries(e.none)", "sumSeries(nothing.here)", "sumSeries(e.*)",
    "averageSeries(a.b.*)", "avg(m.*)", "averageSeries(e.none,e.sparse)",
    "maxSeries(a.*.*)", "minSeries(a.*.*)", "diffSeries(a.b.c1,a.b.c2)", "diffSeries(a.*.*)",
    "multiplySeries(a.b.c1,a.d.c1)", "multiplySeries(a.b.c1)", "multiplySeries(m.x,m.y)",
    "countSeries(a.*.*)", "countSeries(m.*)", "countSeries()", "countSeries(nothing)",
    "stddevSeries(a.*.*)", "rangeOfSeries(a.*.*)",
    "divideSeries(a.b.c1,a.d.c1)", "divideSeries(a.*.*,a.d.c1)", "divideSeries(a.b.*,nothing)",
    "divideSeries(a.b.c1,a.b.*)", "divideSeries(m.x,m.y)", "divideSeries(a.b.c1,e.zero)",
    "asPercent(a.b.*)", "asPercent(a.b.*,a.d.c1)", "asPercent(a.b.*,100)", "asPercent(a.b.*,100.0)",
    "asPercent(a.*.c1,a.b.*)", "asPercent(m.x,m.y)", "asPercent(srv.*.cpu.*,None,1)",
    "asPercent(srv.*.cpu.*,srv.*.cpu.user,1)", "pct(a.b.c1,a.d.c1)",
    "asPercent(srv.web*.cpu.*,srv.*.cpu.user,1)", "asPercent(a.b.*,a.*.*)",
    "aggregate(a.b.*,'sum')", "aggregate(a.*.*,'avg_zero')", "aggregate(a.*.*,'median')",
    "aggregate(a.*.*,'count')", "aggregate(a.*.*,'range')", "aggregate(a.*.*,'multiply')",
    "aggregate(a.*.*,'last')", "aggregate(a.*.*,'current')", "aggregate(a.*.*,'total')",
    "aggregate(a.*.*,'rangeOf')", "aggregate(a.*.*,'stddev')", "aggregate(a.*.*,'diff')",
    "aggregate(a.*.*,'min',0.9)", "aggregate(a.*.*,'max',xFilesFactor=0.5)",
    "aggregate(a.*.*,'sumSeries')", "aggregate(a.*.*,'nope')", "aggregate(m.*,'average')",
    "aggregate(disk.used;*,'sum')",
    "groupByNode(srv.*.cpu.*,1)", "groupByNode(srv.*.cpu.*,1,'sum')", "groupByNode(srv.*.cpu.*,-1,'max')",
    "groupByNode(srv.*.cpu.*,3,'sumSeries')", "groupByNode(scale(srv.*.cpu.*,2),1,'sum')",
    "groupByNodes(srv.*.cpu.*,'sum',1,3)", "groupByNodes(srv.*.cpu.*,'average')",
    "groupByNodes(srv.*.cpu.*,'avg',-2,0)", "groupByNode(srv.*.cpu.*,1,'countSeries')",
    "groupByNode(srv.*.cpu.*,1,'bogus')",
    "groupByTags(seriesByTag('name=disk.used'),'sum','dc')",
    "groupByTags(seriesByTag('name=~disk.*'),'average','name')",
    "groupByTags(seriesByTag('name=~disk.*'),'max','dc','rack')",
    "groupByTags(seriesByTag('dc=x'),'sum','name','dc')",
    "groupByNode(seriesByTag('dc=x'),'rack','sum')",
    "sumSeriesWithWildcards(srv.*.cpu.*,1)", "sumSeriesWithWildcards(srv.*.cpu.*,1,3)",
    "averageSeriesWithWildcards(srv.*.cpu.*,3)", "multiplySeriesWithWildcards(srv.web*.cpu.*,1)",
    "aggregateWithWildcards(srv.*.cpu.*,'max',1)", "group(a.b.*,m.x)",
    # Transform
    "absolute(a.b.*)", "derivative(a.b.c1)", "derivative(cnt.*)", "integral(a.b.c2)",
    "integral(e.sparse)", "nonNegativeDerivative(cnt.*)", "nonNegativeDerivative(cnt.wrap,255)",
    "nonNegativeDerivative(cnt.wrap,maxValue=255)", "nonNegativeDerivative(cnt.wrap,None,10)",
    "nonNegativeDerivative(cnt.wrap,255,10)", "nonNegativeDerivative(cnt.wrap,200)",
    "perSecond(cnt.*)", "perSecond(cnt.wrap,255)", "perSecond(cnt.wrap,minValue=20)",
    "perSecond(m.w)", "keepLastValue(a.b.c2)", "keepLastValue(a.b.c2,1)", "keepLastValue(e.sparse,3)",
    "keepLastValue(e.sparse,6)", "keepLastValue(cnt.a)",
    "offset(a.b.c1,10)", "offset(a.b.c1,-2.5)", "offset(a.b.c1,1e20)", "scale(a.b.*,2)",
    "scale(a.b.c1,0.5)", "scale(a.b.c1,-1.25e-7)", "scale(a.b.c1,123456789)", "scale(a.b.c1,'3')",
    "scaleToSeconds(m.*,1)", "scaleToSeconds(m.w,30.5)", "scaleToSeconds(cnt.b,3600)",
    "transformNull(a.b.c2)", "transformNull(a.b.c2,0)", "transformNull(a.b.c2,-1.5)",
    "transformNull(e.sparse,default=7)", "transformNull(a.b.c2,1,a.b.c1)",
    "transformNull(a.b.c2,referenceSeries=e.none)", "transformNull(e.none,5,e.sparse)",
    "summarize(a.b.c1,'10min')", "summarize(a.b.c1,'10min','max')", "summarize(a.b.c1,'10min','max',true)",
    "summarize(a.b.c2,'7min','avg')", "summarize(a.b.c2,'1h','last',alignToFrom=true)",
    "summarize(m.w,'5min','count')", "summarize(a.b.c1,'1d')", "summarize(a.b.c1,'90s','median')",
    "summarize(e.none,'10min')", "summarize(a.b.c1,'10min','bogus')", "summarize(a.b.c1,'5m')",
    "hitcount(hits.web1,'5min')", "hitcount(hits.web2,'7min')", "hitcount(hits.*,'1h')",
    "hitcount(hits.web1,'45s')", "hitcount(hits.web1,'10min',true)", "hitcount(hits.web2,'1h',alignToInterval=true)",
    "timeShift(a.b.c1,'1h')", "timeShift(a.b.*,'-30min')", "timeShift(a.b.c1,'+10min')",
    "timeShift(a.b.c1,'1h',false)", "timeShift(sumSeries(a.b.*),'2h')", "timeShift(nothing,'1h')",
    "timeShift(a.b.c1,'1d')", "timeShift(scale(m.y,2),'25min',resetEnd=false)",
    "invert(a.d.c1)", "squareRoot(a.b.c1)", "isNonNull(a.b.c2)", "offsetToZero(a.b.c1)",
    "offsetToZero(e.none)",
    "pow(a.b.c1,2)", "pow(a.b.c1,0.5)", "pow(a.d.c1,-1)", "exp(a.d.c1)", "add(a.b.c1,2.7)",
    "add(a.b.c1,-3)", "sigmoid(a.d.c1)", "logit(scale(a.d.c1,0.1))", "round(a.b.c1)",
    "round(a.b.c1,1)", "round(a.d.c3,-2)", "round(a.b.c1,0)", "delay(a.b.c1,3)", "delay(a.b.c1,-2)",
    "delay(a.b.c1,0)", "delay(a.b.c1,100)", "log(a.b.c1)", "log(a.d.c1,2)", "minMax(a.b.c1)",
    "minMax(e.zero)", "interpolate(a.b.c2)", "interpolate(e.sparse,3)", "interpolate(e.sparse)",
    "powSeries(a.d.c1,a.b.c1)", "powSeries(m.x,m.y)", "percentileOfSeries(a.*.*,50)",
    "percentileOfSeries(a.*.*,90,true)", "percentileOfSeries(m.*,75)",
    "aggregateSeriesLists(a.b.*,srv.web1.cpu.*,'sum')", "aggregateSeriesLists(a.b.*,a.d.*,'max',0.5)",
    "sumSeriesLists(a.b.*,srv.web1.cpu.*)", "diffSeriesLists(a.b.*,srv.web2.cpu.*)",
    "multiplySeriesLists(a.b.*,m.x)", "divideSeriesLists(a.b.*,srv.web1.cpu.*)",
    "divideSeriesLists(m.x,m.y)",
    "removeAbovePercentile(a.b.*,50)", "removeBelowPercentile(a.b.c1,25)", "removeAbovePercentile(e.none,50)",
    "removeBetweenPercentile(full.*,30)", "removeBetweenPercentile(full.*,70)",
    "removeBetweenPercentile(full.*,99)", "mostDeviant(a.*.*,2)",
    "aggregateLine(a.b.c1)", "aggregateLine(a.b.*,'max',true)", "aggregateLine(e.none,'sum')",
    "timeStack(a.b.c1,'10min',0,3)", "timeStack(a.b.*,'1h',1,3)", "timeStack(a.b.c1)",
    "timeStack(a.b.c1,'-20min',2,4)", "integralByInterval(a.b.c1,'10min')", "integralByInterval(m.w,'1h')",
    "exponentialMovingAverage(a.b.c1,5)", "exponentialMovingAverage(a.b.c2,'5min')",
    "exponentialMovingAverage(m.*,3)", "stdev(a.b.c1,5)", "stdev(a.b.c2,10,0.5)", "stdev(e.sparse,4)",
    "sin('wave')", "sin('wave',3,120)", "sinFunction('w',2)", "time('t')", "timeFunction('t',300)",
    "weightedAverage(srv.*.cpu.user,srv.*.cpu.system,1)", "weightedAverage(a.b.*,a.d.*)",
    "weightedAverage(srv.web*.cpu.user,srv.web*.cpu.system,1,3)",
    "averageOutsidePercentile(a.*.*,30)", "averageOutsidePercentile(full.*,80)",
    "useSeriesAbove(full.*,100,'full\\.q(\\d)','a.b.c\\1')", "useSeriesAbove(full.*,1000,'q','x')",
    "holtWintersForecast(a.b.c1,'1h','10min')", "holtWintersForecast(a.b.*,'30min','5min')",
    "holtWintersConfidenceBands(a.b.c1,3,'1h','10min')", "holtWintersConfidenceBands(a.b.*,2,'1h','15min')",
    "holtWintersConfidenceArea(a.b.c1,3,'1h','10min')", "holtWintersAberration(a.b.c1,1,'1h','10min')",
    "holtWintersAberration(a.b.*,2,'1h','20min')", "holtWintersForecast(e.sparse,'1h','30min')",
    "holtWintersConfidenceArea(a.b.*,3,'1h','10min')",
    "smartSummarize(a.b.c1,'10min')", "smartSummarize(a.b.c2,'7min','max')",
    "smartSummarize(a.b.c1,'1h','avg','hours')", "smartSummarize(a.b.c1,'10min','sum','minutes')",
    "smartSummarize(m.w,'5min','count','days')", "smartSummarize(a.b.c1,'10min','sum','1d')",
    "linearRegression(a.b.c1)", "linearRegression(a.b.*,'1699990000')",
    "linearRegression(a.b.c2,'1699990000','1699993600')", "linearRegression(e.none)",
    "linearRegression(m.*,'20:00_20231114','21:00_20231114')",
    "timeSlice(a.b.*,'1699997600','1699999000')",
    "timeSlice(a.b.c1,'21:40_20231114','22:00_20231114')", "timeSlice(a.b.c1,'bad')",
    "verticalLine('1699998000','deploy','red')",
    "verticalLine('1699990000','x')", "verticalLine('22:00_20231114','at ten')",
    "aliasQuery(a.b.c1,'a\\.b\\.c1','a.d.c1','value %d')", "aliasQuery(a.b.*,'b','d','%.1f units')",
    "aliasQuery(a.b.*,'b','d','v=%s %%')", "aliasQuery(a.b.c1,'c1','nothing','%d')",
    "applyByNode(srv.*.cpu.*,1,'sumSeries(%.cpu.*)')", "applyByNode(srv.*.cpu.*,1,'sumSeries(%.cpu.*)','%.total')",
    "applyByNode(srv.web*.cpu.*,3,'scale(%,2)')",
    "cactiStyle(a.b.*)", "cactiStyle(a.b.*,'si')", "cactiStyle(a.d.c3,'binary','B')",
    "cactiStyle(a.b.*,None,'req')", "cactiStyle(e.*)", "legendValue(a.d.c3,'avg','last','si')",
    "legendValue(a.d.*,'max','binary')", "legendValue(a.b.c1,'bogus')",
    "compressPeriodicGaps(e.sparse)", "compressPeriodicGaps(a.b.c1)", "compressPeriodicGaps(e.zero)",
    "reduceSeries(mapSeries(srv.*.cpu.*,1),'asPercent',3,'user','system')",
    "reduceSeries(mapSeries(srv.web*.cpu.*,1),'divideSeries',3,'system','user')",
    "reduce(map(srv.web*.cpu.*,1),'sumSeries',-1,'user','system')",
    "reduceSeries(map(srv.*.cpu.*,'name'),'sumSeries',1,'web1','web2')",
    "reduceSeries(mapSeries(srv.*.cpu.*,1),'asPercent',3,'user','nope')",
    "reduceSeries(mapSeries(srv.web*.cpu.*,1),'nonexistent',3,'user')",
    "reduceSeries(srv.*.cpu.*,'sumSeries',3,'user')",
    "sumSeries(edge.*)", "averageSeries(edge.*)", "maxSeries(edge.*)", "minSeries(edge.*)",
    "diffSeries(edge.*)", "multiplySeries(edge.*)", "stddevSeries(edge.*)", "countSeries(edge.*)",
    "aggregate(edge.*,'median')", "aggregate(edge.*,'avg_zero')", "aggregate(edge.*,'last')",
    "asPercent(edge.*)", "divideSeries(edge.*,edge.const)", "percentileOfSeries(edge.*,50,true)",
    "groupByNode(edge.*,0,'median')", "movingAverage(edge.*,3)", "movingMedian(edge.*,'4min')",
    "movingSum(edge.*,10,0.5)", "perSecond(edge.*)", "nonNegativeDerivative(edge.*)",
    "derivative(edge.*)", "integral(edge.*)", "summarize(edge.*,'7min','avg')",
    "summarize(edge.*,'13min','last',true)", "hitcount(edge.*,'13min')", "keepLastValue(edge.*,2)",
    "interpolate(edge.*)", "nPercentile(edge.*,10)", "highestMax(edge.*,2)", "lowestAverage(edge.*,2)",
    "sortBy(edge.*,'stddev')", "sortByMinima(edge.*)", "aliasByNode(edge.*,1)", "removeEmptySeries(edge.*,0.5)",
    "stdev(edge.*,5)", "exponentialMovingAverage(edge.*,4)", "holtWintersForecast(edge.*,'1h','10min')",
    "holtWintersConfidenceBands(edge.*,3,'1h','10min')", "linearRegression(edge.*)", "minMax(edge.*)",
    "offsetToZero(edge.*)", "changed(edge.*)", "delay(edge.*,2)", "cactiStyle(edge.*,'si')",
    "legendValue(edge.*,'avg','max','si')", "scale(edge.*,0.001)", "scaleToSeconds(edge.*,7)",
    "transformNull(edge.*,-1)", "removeAbovePercentile(edge.*,80)", "removeBelowPercentile(edge.*,20)",
    "mostDeviant(edge.*,3)", "integralByInterval(edge.*,'20min')", "smartSummarize(edge.*,'25min','max')",
    "log(edge.*)", "pow(edge.*,3)", "squareRoot(edge.*)", "invert(edge.*)", "round(edge.*,3)",
    "isNonNull(edge.*)", "absolute(edge.*)", "sigmoid(edge.tiny)", "exp(edge.tiny)",
    "perSecond(seriesByTag('name=disk.used'))", "summarize(seriesByTag('dc=x'),'10min','max')",
    "movingAverage(seriesByTag('name=disk.used','dc=x'),5)", "aliasByTags(perSecond(seriesByTag('dc=x')),'rack')",
    "timeShift(seriesByTag('name=disk.used'),'1h')", "derivative(seriesByTag('name=disk.free'))",
    "sumSeries(seriesByTag('name=disk.used')) | aliasByTags('name','dc')",
    "groupByTags(perSecond(seriesByTag('name=~disk.*')),'sum','name')",
    "aliasByNode(summarize(seriesByTag('dc=x'),'1h'),0)",
    # Calculate
    "movingAverage(a.b.c1,5)", "movingAverage(a.b.c2,'5min')", "movingAverage(a.b.*,10,0.5)",
    "movingAverage(m.*,3)", "movingAverage(m.w,'90s')", "movingAverage(a.b.c1,'30s')",
    "movingAverage(a.b.c1,'1h')", "movingAverage(a.b.c2,4,xFilesFactor=0.9)",
    "movingSum(a.b.c1,5)", "movingMin(a.b.c2,'10min')", "movingMax(m.y,3)",
    "movingMedian(a.b.c2,6)", "movingMedian(a.b.c2,'7min')", "movingWindow(a.b.c1,5,'stddev')",
    "movingWindow(a.b.c1,'5min','avg_zero',0.5)", "movingAverage(scale(a.b.c1,2),3)",
    "nPercentile(a.b.*,95)", "nPercentile(a.b.c1,50.5)", "nPercentile(a.d.c1,1)",
    "nPercentile(e.none,90)", "nPercentile(a.b.c1,100)",
    # Filter Series / Data / Sorting
    "highestAverage(a.*.*,2)", "highestCurrent(a.*.*,1)", "highestMax(a.*.*,3)",
    "highestMax(e.*,2)", "highest(a.*.*,2,'sum')", "highest(a.*.*)", "lowest(a.*.*,2,'max')",
    "lowestAverage(a.*.*,2)", "lowestCurrent(a.*.*,2)", "highestAverage(a.*.*,10)",
    "limit(a.*.*,2)", "limit(a.*.*,0)", "limit(a.*.*,10)",
    "exclude(a.*.*,'c1')", "exclude(a.*.*,'^a\\.b')", "grep(a.*.*,'c[12]$')", "grep(srv.*.cpu.*,'web\\d')",
    "removeEmptySeries(e.*)", "removeEmptySeries(e.*,0.1)", "removeEmptySeries(a.*.*,0.95)",
    "removeAboveValue(a.b.*,50)", "removeAboveValue(a.b.c1,12.5)", "removeBelowValue(a.b.*,0)",
    "removeBelowValue(a.b.c1,-10.25)",
    "currentAbove(a.*.*,10)", "currentBelow(a.*.*,10)", "averageAbove(a.*.*,20)", "averageBelow(a.*.*,20)",
    "maximumAbove(a.*.*,140)", "maximumBelow(a.*.*,140)", "minimumAbove(a.*.*,-40)", "minimumBelow(a.*.*,-40)",
    "filterSeries(a.*.*,'max','>',100)", "filterSeries(a.*.*,'sum','<=',100)", "filterSeries(a.*.*,'last','!=',3)",
    "filterSeries(e.*,'max','=',0)", "filterSeries(a.*.*,'max','<>',1)", "unique(a.b.*,a.*.c1)",
    "sortByName(srv.*.cpu.user)", "sortByName(srv.*.cpu.user,true)", "sortByName(srv.*.cpu.user,true,true)",
    "sortByName(srv.*.cpu.user,reverse=true)", "sortBy(a.*.*,'max')", "sortBy(a.*.*,'last',true)",
    "sortByTotal(a.*.*)", "sortByMaxima(a.*.*)", "sortByMinima(a.*.*)", "sortByMinima(e.*)",
    # Alias
    "alias(a.b.*,'foo')", "alias(sumSeries(a.b.*),'total')", "aliasByMetric(a.b.*)",
    "aliasByMetric(scale(a.b.c1,2))", "aliasByNode(a.b.*,2)", "aliasByNode(a.b.*,0,2)",
    "aliasByNode(a.b.*,-1)", "aliasByNode(a.b.*,-2,-1)", "aliasByNode(scale(sumSeries(srv.web*.cpu.user),2),1)",
    "aliasByNode(seriesByTag('name=disk.used'),'dc',1)", "aliasByNode(a.b.*,7)",
    "aliasByTags(seriesByTag('name=disk.used'),'rack','name')", "aliasByTags(seriesByTag('dc=x'),1,'dc')",
    "aliasSub(a.b.*,'c(\\d)','x\\1')", "aliasSub(srv.*.cpu.*,'^srv\\.(\\w+)\\.cpu\\.(\\w+)$','\\2 on \\1')",
    "aliasSub(a.b.*,'b','\\g<0>\\g<0>')", "aliasSub(a.b.*,'[','x')",
    "legendValue(a.b.*,'avg')", "legendValue(a.b.c1,'last','max','count')", "legendValue(e.none,'sum')",
    "upper(a.b.c1)", "toUpperCase(a.b.c1,0,2)", "lower(Mixed.Case.Name)", "toLowerCase(Mixed.Case.Name,-1,0)",
    "substr(a.b.c1,1)", "substr(a.b.c1,0,2)", "substr(scale(a.b.c1,2),-2)",
    # Special
    "constantLine(42)", "constantLine(1.5)", "constantLine(-3)", "threshold(80)",
    "threshold(80,'high')", "threshold(1.5,'x','red')",
    "consolidateBy(a.b.*,'max')", "consolidateBy(a.b.c1,'sum')", "consolidateBy(a.b.c1,'bogus')",
    "cumulative(a.b.c1)", "seriesByTag('name=disk.used')", "seriesByTag('name=disk.used','dc=x')",
    "seriesByTag(\"dc!=x\")", "seriesByTag('name=~disk','rack!=~a[12]')", "seriesByTag('name=nothing')",
    "sumSeries(seriesByTag('name=disk.used'))", "scale(seriesByTag('dc=x'),2)",
    "setXFilesFactor(a.b.c1,0.5)", "xFilesFactor(a.b.*,1)", "changed(a.d.c1)", "changed(e.sparse)",
    "fallbackSeries(nothing,a.b.c1)", "fallbackSeries(a.d.c1,a.b.c1)",
    "events('deploy')", "events('*')", "events('deploy','web')", "events('nothing')",
    "identity('x')",
    # Graph
    "color(a.b.c1,'red')", "alpha(a.b.c1,0.5)", "lineWidth(a.b.c1,3)", "dashed(a.b.c1)",
    "dashed(a.b.c1,2)", "secondYAxis(a.b.*)", "drawAsInfinite(e.sparse)", "stacked(a.b.*)",
    "stacked(a.b.*,'mystack')", "areaBetween(a.b.*)", "areaBetween(a.*.*)",
    # Evaluator: nesting, pipes, kwargs, templates, errors
    "a.b.c1 | scale(3) | aliasByNode(2)", "sumSeries(a.b.*) | alias('s')",
    "perSecond(scale(cnt.a,10))", "scale(offset(a.b.c1,1),2)",
    "a.b.c1 | movingAverage(5)", "a.b.* | timeShift('1h') | aliasByNode(2)",
    "seriesByTag('name=disk.used') | sumSeries()", "a.b.* | holtWintersForecast('1h','10min')",
    "sumSeries(a.b.*) | movingAverage('5min') | alias('x')", "a.b.c1|hitcount('10min',true)",
    "noSuchFunction(a.b.c1)", "scale(a.b.c1)", "scale(a.b.c1,2,3)", "scale(a.b.c1,factor=2)",
    "scale(a.b.c1,fator=2)", "limit(a.b.*,1.5)", "alias(a.b.c1)", "movingAverage(a.b.c1,'bad')",
    "timeShift(a.b.c1,'bad')", "divideSeries(a.b.c1,a.b.c1,a.b.c2)", "sortByName(a.b.*,'yes')",
    "template(a.$x.c1)", "template(scale(a.$x.c1,2), x='b')", "template(a.b.$1, 'c2')",
    "template(sumSeries(a.$x.$y), x='b', y='*')",
    # Python ints kept (or not) through further functions
    "sumSeries(countSeries(a.*.*),isNonNull(a.b.c2))", "sumSeries(isNonNull(a.b.*))",
    "maxSeries(isNonNull(a.b.*))", "minSeries(changed(a.b.*))", "sumSeries(isNonNull(a.b.c1),a.b.c2)",
    "maxSeries(isNonNull(a.b.c1),scale(isNonNull(a.b.c2),0.5))", "averageSeries(isNonNull(a.b.*))",
    "aggregate(isNonNull(a.b.*),'last')", "aggregate(isNonNull(a.b.*),'median')",
    "aggregate(isNonNull(a.b.*),'diff')", "aggregate(isNonNull(a.b.*),'range')",
    "aggregate(isNonNull(a.b.*),'multiply')", "groupByNode(isNonNull(a.*.*),1,'sum')",
    "scale(countSeries(a.*.*),2)", "scale(countSeries(a.*.*),0.5)", "offset(isNonNull(a.b.c2),1)",
    "delay(changed(a.b.c1),2)", "alias(countSeries(a.*.*),'x')", "highestMax(changed(a.b.*),1)",
    "removeBelowValue(isNonNull(a.b.c2),1)", "transformNull(isNonNull(a.b.c2))",
    "transformNull(a.b.c2,2.5)", "transformNull(a.b.c2,-1,referenceSeries=a.b.c1)",
    "movingWindow(a.b.c2,5,'count')", "absolute(isNonNull(a.b.c2))",
]

TEMPLATE_CASES = [
    ("template(a.$x.c1)", {"x": "d"}),
    ("template(a.b.$1, 'c2')", {"1": "c1"}),
]

WINDOW_CASES = [
    ("sumSeries(m.*)", NOW - 3599, NOW - 31),
    ("movingAverage(m.*,5)", NOW - 3599, NOW - 31),
    ("summarize(m.*,'7min')", NOW - 3599, NOW - 31),
    ("hitcount(m.*,'7min')", NOW - 3599, NOW - 31),
    ("perSecond(m.*)", NOW - 3599, NOW - 31),
    ("timeShift(m.*,'17min')", NOW - 3599, NOW - 31),
    ("asPercent(m.*)", NOW - 3599, NOW - 31),
    ("holtWintersForecast(m.*,'1h','10min')", NOW - 3599, NOW - 31),
    ("constantLine(1)", NOW - 1, NOW),
    ("smartSummarize(a.b.c1,'1h','sum','hours')", NOW - 7000, NOW),
    ("smartSummarize(a.b.c1,'1d','sum','days')", NOW - 10000, NOW),
    ("timeStack(m.x,'15min',0,4)", NOW - 1800, NOW),
    ("sumSeries(a.b.*)", NOW - 600, NOW),
    ("summarize(a.b.c1,'10min')", NOW - 7200, NOW),
    ("summarize(a.b.c1,'10min','sum',true)", NOW - 7200, NOW),
    ("constantLine(7)", NOW - 601, NOW),
    ("hitcount(hits.web1,'1h',true)", NOW - 7200 + 17, NOW - 60),
    ("movingAverage(m.w,50)", NOW - 1800, NOW - 900),
    ("timeShift(a.b.c1,'30min')", NOW - 900, NOW - 300),
    ("events('*')", NOW - 6000, NOW),
]

XFF_CASES = [
    ("sumSeries(a.b.*)", 0.6), ("averageSeries(e.*)", 0.5), ("summarize(a.b.c2,'10min')", 0.9),
    ("movingAverage(a.b.c2,5)", 0.7), ("consolidateBy(a.b.c2,'max')", 0.5),
]


# graphite's default (ENFORCE_INPUT_VALIDATION = False): a keyword spelled as in the
# Python signature but not as declared is logged and passed on, and works
LENIENT_CASES = [
    "timeShift(a.b.c1,'1h',alignDST=true)", "stacked(a.b.*,stackName='s')",
    "timeShift(a.b.c1,'1h',resetEnd=false,alignDST=false)",
]


def catalogue():
    out = {}
    for name, f in sorted(SeriesFunctions().items()):
        params = getattr(f, "params", None)
        out[name] = {
            "group": getattr(f, "group", "Ungrouped"),
            "params": json.loads(json.dumps([p.toJSON() for p in params] if params else None,
                                            default=str).replace("Infinity", '"1e9999"')),
        }
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    store = {k: dict(d, values=[num(v) for v in d["values"]]) for k, d in STORE.items()}
    lines = [json.dumps({"store": store, "events": EVENTS}, sort_keys=True)]
    for t in TARGETS:
        lines.append(json.dumps(run(t), sort_keys=True))
    for t, tpl in TEMPLATE_CASES:
        lines.append(json.dumps(run(t, templates=tpl), sort_keys=True))
    for t, frm, until in WINDOW_CASES:
        lines.append(json.dumps(run(t, frm=frm, until=until), sort_keys=True))
    for t, xff in XFF_CASES:
        lines.append(json.dumps(run(t, xff=xff), sort_keys=True))
    settings.ENFORCE_INPUT_VALIDATION = False
    for t in LENIENT_CASES:
        lines.append(json.dumps(run(t), sort_keys=True))
    settings.ENFORCE_INPUT_VALIDATION = True
    with open(os.path.join(out_dir, "functions.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out_dir, "functions_catalogue.json"), "w") as f:
        json.dump(catalogue(), f, indent=1, sort_keys=True)
        f.write("\n")


main()
