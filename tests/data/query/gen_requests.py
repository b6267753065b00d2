"""Generates requests.jsonl.gz: whole /render requests answered by graphite-web 1.1.10 over
whisper files, for tests/query_requests.rs.

Usage (graphite-web 1.1.10 and whisper 1.1.10 from PyPI in a venv, not shipped here):
    python3 -m venv /work/venv-gw
    /work/venv-gw/bin/pip install --no-deps graphite-web==1.1.10 whisper==1.1.10
    /work/venv-gw/bin/pip install 'django<4' pytz six pyparsing urllib3 django-tagging==0.4.3
    /work/venv-gw/bin/python gen_requests.py OUT_DIR

The series of STORE are written into whisper files (whisper 1.1.10's `create` and
`update_many` with now=WRITTEN) under a temporary WHISPER_DIR, and every request goes
through graphite-web's own Django view (`/render/?target=…&from=…&until=…&now=…&format=json`)
with the test client, in graphite's default settings (ENFORCE_INPUT_VALIDATION = False: a
failed argument check is logged and the call goes on), no request cache: its option parsing, its finder and whisper reader (which read up to the
request's `now`), its evaluator with one request context for all targets, and its JSON view
with maxDataPoints. Nothing is stubbed but the cairo module (only needed to draw).

Requests: the hand-picked CASES (each named for the difference it pins down), then RANDOM
targets made by a seeded generator: 1 to 3 nested functions over the paths of STORE, with
random from/until/now/maxDataPoints/xFilesFactor.

Output, gzip'd JSON lines: first {"written": WRITTEN, "archives": [[spp, points]], "xff",
"method", "series": {name: [[t, value]]}, "sha256": {name: hex}} (values as Python's repr,
so they read back exactly; the files' digests, so the test knows it wrote the same files), then one line per request: {"name", "params": [[key, value]], "status",
"body"} where body is graphite's answer text (the JSON body on 200, the message on 400,
the exception's line of the error page on 500).
"""
import gzip
import hashlib
import html
import json
import os
import random
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = tempfile.mkdtemp(prefix="gw-requests-")
open(os.path.join(WORK, "cairo.py"), "w").close()
WHISPER_DIR = os.path.join(WORK, "whisper")
STORAGE = os.path.join(WORK, "storage")
os.makedirs(os.path.join(STORAGE, "log", "webapp"), exist_ok=True)
with open(os.path.join(WORK, "gen_requests_settings.py"), "w") as f:
    f.write(
        "SECRET_KEY = 'gen-requests'\n"
        "STORAGE_DIR = %r\nLOG_DIR = %r\nWHISPER_DIR = %r\n"
        "STANDARD_DIRS = [WHISPER_DIR]\nCARBONLINK_HOSTS = []\nREPLICATION_FACTOR = 0\n"
        "TIME_ZONE = 'UTC'\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': %r}}\n"
        % (STORAGE, os.path.join(STORAGE, "log", "webapp"), WHISPER_DIR,
           os.path.join(STORAGE, "graphite.db")))
sys.path.insert(0, WORK)
os.environ["GRAPHITE_SETTINGS_MODULE"] = "gen_requests_settings"
os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
os.environ["TZ"] = "UTC"

import django  # noqa: E402

django.setup()

import whisper  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

call_command("migrate", verbosity=0, interactive=False)

WRITTEN = 1700000000  # the files' "now" when written
ARCHIVES = [(10, 3 * 360), (60, 24 * 60)]  # 10s:3h, 1m:1d
XFF = 0.5
METHOD = "average"
rnd = random.Random(19)


def values(n, lo, hi, none_rate=0.05, digits=1):
    return [None if rnd.random() < none_rate else round(rnd.uniform(lo, hi), digits)
            for _ in range(n)]


def counter(n, step_max):
    v, out = 0.0, []
    for _ in range(n):
        v += round(rnd.uniform(0, step_max), 1)
        out.append(None if rnd.random() < 0.03 else v)
    return out


def integers(n, lo, hi):
    return [None if rnd.random() < 0.05 else float(rnd.randint(lo, hi)) for _ in range(n)]


# 10 s points for the last 3 h, 60 s points from 3 h to 15 h back
FINE = 3 * 360
COARSE = 12 * 60


def series(make):
    fine = make(FINE)
    coarse = make(COARSE)
    pts = []
    for i, v in enumerate(coarse):
        t = WRITTEN - 3 * 3600 - (COARSE - i) * 60
        if v is not None:
            pts.append((t, v))
    for i, v in enumerate(fine):
        t = WRITTEN - (FINE - 1 - i) * 10
        if v is not None:
            pts.append((t, v))
    return pts


STORE = {
    "bars.web1.cpu.user": series(lambda n: values(n, 0, 100)),
    "bars.web1.cpu.system": series(lambda n: values(n, 0, 40)),
    "bars.web2.cpu.user": series(lambda n: values(n, 0, 100, none_rate=0.25)),
    "bars.web2.cpu.system": series(lambda n: values(n, 0, 40, none_rate=0.25)),
    "bars.web3.cpu.user": series(lambda n: values(n, 20, 80, none_rate=0.0)),
    "bars.web3.cpu.system": series(lambda n: values(n, 0, 10, none_rate=0.0)),
    "bars.web4.cpu.user": series(lambda n: values(n, 0, 100)),
    "bars.web4.cpu.system": series(lambda n: values(n, -5, 5, digits=3)),
    "bars.web1.net.bytes_rx": series(lambda n: counter(n, 5000.0)),
    "bars.web2.net.bytes_rx": series(lambda n: [None if v is None else v + 0.37 for v in counter(n, 123456.7)]),
    "bars.db.latency.p50": series(lambda n: values(n, 1, 20, none_rate=0.1, digits=3)),
    "bars.db.latency.p90": series(lambda n: values(n, 10, 90, none_rate=0.1, digits=3)),
    "bars.db.conns": series(lambda n: integers(n, 0, 50)),
    "bars.db.errors": series(lambda n: [None if rnd.random() < 0.7 else float(rnd.randint(1, 3)) for _ in range(n)]),
}

SHA256 = {}
for name, pts in STORE.items():
    path = os.path.join(WHISPER_DIR, *name.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    whisper.create(path, ARCHIVES, xFilesFactor=XFF, aggregationMethod=METHOD)
    whisper.update_many(path, pts, now=WRITTEN)
    with open(path, "rb") as f:
        SHA256[name] = hashlib.sha256(f.read()).hexdigest()

N = WRITTEN  # the request's now in the hand-picked cases

# (name, [targets], from, until, now, extra parameters)
CASES = [
    ("plain", ["bars.web1.cpu.user"], N - 600, N, N, {}),
    # 1. consolidateBy names the series with the caller's word
    ("consolidateBy", ["consolidateBy(bars.web1.cpu.user,'avg')"], N - 600, N, N, {}),
    ("consolidateBy", ["consolidateBy(bars.web*.cpu.user,'average')",
                       "consolidateBy(bars.db.conns,'sum')"], N - 3600, N, N, {"maxDataPoints": "20"}),
    # 2. log() takes a float base though graphite declares an integer
    ("log", ["log(bars.web1.cpu.user,2.5)"], N - 600, N, N, {}),
    ("log", ["log(bars.web*.cpu.system,0.5)", "log(bars.db.conns)", "log(bars.db.conns,2)"],
     N - 1200, N, N, {}),
    # 7. legendValue prints an int-valued aggregate as Python does (60, not 60.0)
    ("legendValue", ["legendValue(isNonNull(bars.web1.cpu.user),'total')"], N - 600, N, N, {}),
    ("legendValue", ["legendValue(countSeries(bars.web*.cpu.user),'max','last','avg','median')",
                     "legendValue(changed(bars.db.conns),'sum','min','count','stddev','range')",
                     "legendValue(identity('id'),'total','diff','multiply')",
                     "legendValue(bars.db.conns,'total','max','median')",
                     "legendValue(isNonNull(bars.web2.cpu.user),'median','total','si')"],
     N - 1210, N, N, {}),
    # 3. the data ends at the request's now (whisper's fetch is given it), not the wall clock
    ("now", ["bars.web1.cpu.user"], N - 600, N + 600, N, {}),
    ("now", ["timeShift(bars.web1.cpu.user,'+10min')", "timeShift(bars.db.*.p90,'+5min')"],
     N - 600, N + 600, N, {}),
    ("now", ["timeShift(bars.web1.cpu.user,'+10min')"], N - 900, N, N, {}),
    ("now", ["summarize(bars.web*.cpu.user,'1min','avg_zero')", "summarize(bars.db.conns,'5min','sum')"],
     N - 1800, N + 600, N - 25, {}),
    ("now", ["bars.web1.cpu.user", "movingAverage(bars.db.latency.p50,5)"], N - 7200, N + 3600,
     N - 3600, {"maxDataPoints": "50"}),
    ("now", ["bars.web3.cpu.user"], N + 60, N + 600, N, {}),
    # 4. setXFilesFactor sets the request's xFilesFactor, for the rest of the request
    ("setXFilesFactor", ["sum(setXFilesFactor(bars.web[1-2].cpu.{user,system},1))"], N - 600, N, N, {}),
    ("setXFilesFactor", ["setXFilesFactor(bars.db.latency.p90,1)",
                         "removeAboveValue(bars.db.latency.p90,50)"], N - 3600, N, N,
     {"maxDataPoints": "50"}),
    ("setXFilesFactor", ["xFilesFactor(bars.web2.cpu.user,0.8)", "bars.web2.cpu.system",
                         "averageSeries(bars.web*.cpu.user)", "movingAverage(bars.web2.cpu.user,5)"],
     N - 1800, N, N, {"maxDataPoints": "40"}),
    ("setXFilesFactor", ["bars.web2.cpu.user", "setXFilesFactor(bars.web3.cpu.user,1)",
                         "bars.web2.cpu.system"], N - 3600, N, N, {"maxDataPoints": "30", "xFilesFactor": "0.2"}),
    # 5. asPercent with a coarser total: graphite computes at 60 s and labels at 10 s (the
    # test relabels graphite's values at 60 s, a documented deliberate difference)
    ("asPercent", ["asPercent(bars.web[12].cpu.user,summarize(bars.web4.cpu.user,'1min'))"],
     N - 600, N, N, {}),
    ("asPercent", ["asPercent(bars.web*.cpu.system,summarize(bars.db.conns,'1min','max'))"],
     N - 1800, N, N, {}),
    # Python ints kept through further functions (found by a 3 000-request random hunt)
    ("ints", ["delay(nonNegativeDerivative(aggregate(bars.web*.cpu.user,'count')),3)",
              "derivative(countSeries(bars.web*.cpu.*))", "offsetToZero(identity('id'))",
              "timeShift(percentileOfSeries(round(identity('id')),90),'+1h')",
              "movingSum(groupByNode(smartSummarize(bars.db.errors,'7min','max'),-1,'count'),'1h')",
              "movingMax(identity('id'),'1h')", "movingWindow(isNonNull(bars.db.errors),12,'diff')",
              "aggregateLine(identity('id'),'sum')", "smartSummarize(isNonNull(bars.web2.cpu.user),'1min','sum')",
              "summarize(changed(bars.db.conns),'5min','max')", "sumSeriesWithWildcards(absolute(identity('id')),1)",
              "round(isNonNull(consolidateBy(constantLine(2.5),'first')),1)",
              "hitcount(identity('id'),'5min',true)", "nPercentile(keepLastValue(identity('id')),5)",
              "interpolate(hitcount(movingSum(identity('id'),12),'7min',true))",
              "timeStack(identity('id'),'1h',0,3)", "diffSeriesLists(identity('id'),identity('id'))",
              "compressPeriodicGaps(groupByNode(identity('id'),-1,'diff'))",
              "group(changed(bars.db.conns),bars.db.latency.p50)", "groupByNode(identity('id'),1,'median')"],
     N - 1800, N, N, {}),
    ("ints", ["linearRegression(identity('id'))", "linearRegression(bars.db.conns)"],
     N - 28801, N - 600, N, {"maxDataPoints": "1"}),
    # holtWinters* results are new series, consolidated by average whatever their input's
    ("holtWinters", ["holtWintersForecast(cumulative(minSeries(bars.db.latency.*)),'1h','10min')",
                     "holtWintersConfidenceBands(consolidateBy(bars.web1.cpu.user,'max'),3,'1h','10min')",
                     "holtWintersAberration(cumulative(bars.web3.cpu.user),2,'1h','10min')",
                     "holtWintersAberration(substr(bars.web*.cpu.*,1,3),2,'1h','10min')"],
     N - 3600, N, N, {"maxDataPoints": "100"}),
    # linearRegression's results are new series too (consolidated by average)
    ("linearRegression", ["linearRegression(cumulative(bars.db.latency.*))",
                          "linearRegression(consolidateBy(bars.web1.cpu.user,'max'))"],
     N - 28775, N + 240, N + 300, {"maxDataPoints": "1"}),
    # cactiStyle's column widths: Python's int(x or 3) of a value in (-1, 0) is 0, "0.00"
    ("cactiStyle", ["cactiStyle(invert(bars.web*.cpu.*))", "cactiStyle(offset(bars.web4.cpu.system,-0.5))"],
     N - 3600, N, N, {"maxDataPoints": "7"}),
    # graphite-web crashes on these (a 500 with an exception); we answer
    ("crash", ["nonNegativeDerivative(bars.web2.net.bytes_rx,1000000000)"], N - 3600, N, N, {}),
    ("crash", ["perSecond(bars.web1.net.bytes_rx,minValue=0)"], N - 3600, N, N, {}),
    ("crash", ["removeBetweenPercentile(bars.web*.cpu.user,30)"], N - 600, N, N, {}),
    ("crash", ["averageOutsidePercentile(group(bars.web1.cpu.user,removeAboveValue(bars.web2.cpu.user,-1)),30)"],
     N - 600, N, N, {}),
    ("crash", ["percentileOfSeries(bars.web*.cpu.user,100,true)"], N - 600, N, N, {}),
    ("crash", ["hitcount(constantLine(5),'1min')"], N - 600, N, N, {}),
    ("crash", ["exp(bars.web2.net.bytes_rx)"], N - 600, N, N, {}),
    # 6. stdev's arithmetic is Python's: exact ints for ints, x**2 for floats
    ("stdev", ["stdev(identity('id'),10)"], N - 600, N, N, {}),
    ("stdev", ["stdev(bars.web2.net.bytes_rx,3)", "stdev(bars.web1.net.bytes_rx,7,0.5)",
               "stdev(bars.web*.cpu.user,5)", "stdev(countSeries(bars.web*.cpu.*),4)",
               "stdev(isNonNull(bars.web2.cpu.user),6,0.9)"], N - 3600, N, N, {}),
]


# --- random targets ---------------------------------------------------------------------

# GEN_REQUESTS_N / GEN_REQUESTS_SEED change them for a larger hunt (not for the stored file)
RANDOM_REQUESTS = int(os.environ.get("GEN_REQUESTS_N", "300"))
rt = random.Random(int(os.environ.get("GEN_REQUESTS_SEED", "1919")))

PATHS = [
    "bars.web1.cpu.user", "bars.web*.cpu.user", "bars.web[12].cpu.{user,system}",
    "bars.web*.cpu.*", "bars.db.latency.*", "bars.db.latency.p90", "bars.db.conns",
    "bars.db.errors", "bars.web*.net.bytes_rx", "bars.web2.net.bytes_rx", "bars.web3.cpu.system",
    "bars.*.cpu.system", "bars.web2.cpu.user", "bars.nothing.here",
]
SINGLE = ["bars.web1.cpu.user", "bars.db.conns", "bars.web3.cpu.system", "bars.db.latency.p50"]
AGG = ["average", "avg", "sum", "min", "max", "median", "last", "count", "diff", "range",
       "multiply", "stddev", "avg_zero", "total", "current"]
INTERVALS = ["30s", "1min", "2min", "5min", "7min", "10min", "1h"]


def num():
    return rt.choice(["0", "1", "2", "3", "0.5", "-1", "10", "2.5", "50", "100", "-20", "1e3"])


def small():
    return str(rt.randint(1, 12))


def pct():
    return rt.choice(["5", "25", "50", "75", "90", "95", "99", "100"])


def q(x):
    return "'%s'" % x


# name: builds the call around the inner target text s
FUNCS = {
    "absolute": lambda s: "absolute(%s)" % s,
    "derivative": lambda s: "derivative(%s)" % s,
    "integral": lambda s: "integral(%s)" % s,
    "nonNegativeDerivative": lambda s: "nonNegativeDerivative(%s)" % s,
    "perSecond": lambda s: "perSecond(%s)" % s,
    "keepLastValue": lambda s: rt.choice(["keepLastValue(%s)" % s, "keepLastValue(%s,%s)" % (s, small())]),
    "offset": lambda s: "offset(%s,%s)" % (s, num()),
    "scale": lambda s: "scale(%s,%s)" % (s, num()),
    "scaleToSeconds": lambda s: "scaleToSeconds(%s,%s)" % (s, rt.choice(["1", "60", "0.5"])),
    "transformNull": lambda s: rt.choice(["transformNull(%s)" % s, "transformNull(%s,%s)" % (s, num())]),
    "summarize": lambda s: "summarize(%s,%s,%s,%s)" % (
        s, q(rt.choice(INTERVALS)), q(rt.choice(["sum", "avg", "max", "min", "last", "count", "avg_zero", "median"])),
        rt.choice(["false", "true"])),
    "hitcount": lambda s: "hitcount(%s,%s%s)" % (s, q(rt.choice(INTERVALS)), rt.choice(["", ",true"])),
    "timeShift": lambda s: "timeShift(%s,%s)" % (s, q(rt.choice(["1min", "-5min", "+10min", "1h", "90s", "+1h"]))),
    "delay": lambda s: "delay(%s,%s)" % (s, rt.choice(["1", "3", "-2"])),
    "invert": lambda s: "invert(%s)" % s,
    "isNonNull": lambda s: "isNonNull(%s)" % s,
    "log": lambda s: rt.choice(["log(%s)" % s, "log(%s,%s)" % (s, rt.choice(["2", "2.5", "10", "0.5"]))]),
    "pow": lambda s: "pow(%s,%s)" % (s, rt.choice(["2", "0.5", "3", "-1"])),
    "squareRoot": lambda s: "squareRoot(%s)" % s,
    "round": lambda s: rt.choice(["round(%s)" % s, "round(%s,%s)" % (s, rt.choice(["1", "2", "-1"]))]),
    "minMax": lambda s: "minMax(%s)" % s,
    "offsetToZero": lambda s: "offsetToZero(%s)" % s,
    "interpolate": lambda s: rt.choice(["interpolate(%s)" % s, "interpolate(%s,%s)" % (s, small())]),
    "sigmoid": lambda s: "sigmoid(%s)" % s,
    "integralByInterval": lambda s: "integralByInterval(%s,%s)" % (s, q(rt.choice(INTERVALS))),
    "changed": lambda s: "changed(%s)" % s,
    "cumulative": lambda s: "cumulative(%s)" % s,
    "consolidateBy": lambda s: "consolidateBy(%s,%s)" % (s, q(rt.choice(["sum", "average", "avg", "min", "max", "first", "last", "avg_zero"]))),
    "setXFilesFactor": lambda s: "setXFilesFactor(%s,%s)" % (s, rt.choice(["0", "0.3", "0.5", "1"])),
    "smartSummarize": lambda s: "smartSummarize(%s,%s,%s)" % (s, q(rt.choice(INTERVALS)), q(rt.choice(["sum", "avg", "max", "last"]))),
    "movingAverage": lambda s: "movingAverage(%s,%s)" % (s, rt.choice([small(), q(rt.choice(INTERVALS))])),
    "movingSum": lambda s: "movingSum(%s,%s)" % (s, rt.choice([small(), q(rt.choice(INTERVALS))])),
    "movingMin": lambda s: "movingMin(%s,%s)" % (s, small()),
    "movingMax": lambda s: "movingMax(%s,%s)" % (s, q(rt.choice(INTERVALS))),
    "movingMedian": lambda s: "movingMedian(%s,%s)" % (s, small()),
    "movingWindow": lambda s: "movingWindow(%s,%s,%s)" % (s, small(), q(rt.choice(AGG))),
    "nPercentile": lambda s: "nPercentile(%s,%s)" % (s, pct()),
    "stdev": lambda s: "stdev(%s,%s)" % (s, small()),
    "exponentialMovingAverage": lambda s: "exponentialMovingAverage(%s,%s)" % (s, small()),
    "aggregateLine": lambda s: "aggregateLine(%s,%s)" % (s, q(rt.choice(["avg", "sum", "max", "min", "last"]))),
    "linearRegression": lambda s: "linearRegression(%s)" % s,
    "sumSeries": lambda s: "sumSeries(%s)" % s,
    "averageSeries": lambda s: "averageSeries(%s)" % s,
    "maxSeries": lambda s: "maxSeries(%s)" % s,
    "minSeries": lambda s: "minSeries(%s)" % s,
    "diffSeries": lambda s: "diffSeries(%s)" % s,
    "multiplySeries": lambda s: "multiplySeries(%s)" % s,
    "stddevSeries": lambda s: "stddevSeries(%s)" % s,
    "rangeOfSeries": lambda s: "rangeOfSeries(%s)" % s,
    "countSeries": lambda s: "countSeries(%s)" % s,
    "percentileOfSeries": lambda s: "percentileOfSeries(%s,%s)" % (s, rt.choice(["50", "90", "10"])),
    "aggregate": lambda s: "aggregate(%s,%s)" % (s, q(rt.choice(AGG))),
    "asPercent": lambda s: rt.choice(["asPercent(%s)" % s, "asPercent(%s,%s)" % (s, rt.choice(SINGLE)),
                                      "asPercent(%s,100)" % s]),
    "divideSeries": lambda s: "divideSeries(%s,%s)" % (s, rt.choice(SINGLE)),
    "groupByNode": lambda s: "groupByNode(%s,%s,%s)" % (s, rt.choice(["1", "2", "-1"]), q(rt.choice(AGG))),
    "sumSeriesWithWildcards": lambda s: "sumSeriesWithWildcards(%s,1)" % s,
    "aggregateWithWildcards": lambda s: "aggregateWithWildcards(%s,%s,1)" % (s, q(rt.choice(AGG))),
    "highestAverage": lambda s: "highestAverage(%s,%s)" % (s, rt.choice(["1", "2"])),
    "lowestCurrent": lambda s: "lowestCurrent(%s,%s)" % (s, rt.choice(["1", "2"])),
    "highestMax": lambda s: "highestMax(%s,%s)" % (s, rt.choice(["1", "3"])),
    "limit": lambda s: "limit(%s,%s)" % (s, rt.choice(["1", "2", "5"])),
    "removeAboveValue": lambda s: "removeAboveValue(%s,%s)" % (s, num()),
    "removeBelowValue": lambda s: "removeBelowValue(%s,%s)" % (s, num()),
    "removeAbovePercentile": lambda s: "removeAbovePercentile(%s,%s)" % (s, pct()),
    "removeBelowPercentile": lambda s: "removeBelowPercentile(%s,%s)" % (s, pct()),
    "averageAbove": lambda s: "averageAbove(%s,%s)" % (s, num()),
    "currentBelow": lambda s: "currentBelow(%s,%s)" % (s, num()),
    "maximumAbove": lambda s: "maximumAbove(%s,%s)" % (s, num()),
    "sortByMaxima": lambda s: "sortByMaxima(%s)" % s,
    "sortByName": lambda s: "sortByName(%s)" % s,
    "sortByTotal": lambda s: "sortByTotal(%s)" % s,
    "removeEmptySeries": lambda s: rt.choice(["removeEmptySeries(%s)" % s, "removeEmptySeries(%s,0.5)" % s]),
    "filterSeries": lambda s: "filterSeries(%s,%s,%s,%s)" % (s, q(rt.choice(["max", "sum", "last", "avg"])),
                                                              q(rt.choice(["<", ">", ">=", "!="])), num()),
    "mostDeviant": lambda s: "mostDeviant(%s,%s)" % (s, rt.choice(["1", "2"])),
    "exclude": lambda s: "exclude(%s,%s)" % (s, q(rt.choice(["web1", "user", "p9"]))),
    "grep": lambda s: "grep(%s,%s)" % (s, q(rt.choice(["web[12]", "system", "db"]))),
    "alias": lambda s: "alias(%s,'x')" % s,
    "aliasByNode": lambda s: "aliasByNode(%s,%s)" % (s, rt.choice(["1", "2", "-1", "0,3"])),
    "aliasByMetric": lambda s: "aliasByMetric(%s)" % s,
    "aliasSub": lambda s: "aliasSub(%s,'web(\\d)','w\\1')" % s,
    "legendValue": lambda s: "legendValue(%s,%s)" % (s, q(rt.choice(["avg", "total", "max", "last", "min"]))),
    "cactiStyle": lambda s: "cactiStyle(%s)" % s,
    "averageOutsidePercentile": lambda s: "averageOutsidePercentile(%s,%s)" % (s, pct()),
    "removeBetweenPercentile": lambda s: "removeBetweenPercentile(%s,%s)" % (s, pct()),
    "sortByMinima": lambda s: "sortByMinima(%s)" % s,
    "lowestAverage": lambda s: "lowestAverage(%s,%s)" % (s, rt.choice(["1", "2"])),
    "highestCurrent": lambda s: "highestCurrent(%s,%s)" % (s, rt.choice(["1", "2"])),
    "currentAbove": lambda s: "currentAbove(%s,%s)" % (s, num()),
    "averageBelow": lambda s: "averageBelow(%s,%s)" % (s, num()),
    "minimumAbove": lambda s: "minimumAbove(%s,%s)" % (s, num()),
    "minimumBelow": lambda s: "minimumBelow(%s,%s)" % (s, num()),
    "maximumBelow": lambda s: "maximumBelow(%s,%s)" % (s, num()),
    "highest": lambda s: "highest(%s,%s,%s)" % (s, rt.choice(["1", "2"]), q(rt.choice(AGG))),
    "lowest": lambda s: "lowest(%s,%s,%s)" % (s, rt.choice(["1", "2"]), q(rt.choice(AGG))),
    "sortBy": lambda s: "sortBy(%s,%s,%s)" % (s, q(rt.choice(AGG)), rt.choice(["false", "true"])),
    "unique": lambda s: "unique(%s,%s)" % (s, rt.choice(PATHS)),
    "group": lambda s: "group(%s,%s)" % (s, rt.choice(SINGLE)),
    "sumSeriesLists": lambda s: "sumSeriesLists(%s,%s)" % (s, s),
    "diffSeriesLists": lambda s: "diffSeriesLists(%s,%s)" % (s, s),
    "multiplySeriesLists": lambda s: "multiplySeriesLists(%s,%s)" % (s, s),
    "divideSeriesLists": lambda s: "divideSeriesLists(%s,%s)" % (s, s),
    "aggregateSeriesLists": lambda s: "aggregateSeriesLists(%s,%s,%s)" % (s, s, q(rt.choice(AGG))),
    "groupByNodes": lambda s: "groupByNodes(%s,%s,1,2)" % (s, q(rt.choice(AGG))),
    "averageSeriesWithWildcards": lambda s: "averageSeriesWithWildcards(%s,1)" % s,
    "multiplySeriesWithWildcards": lambda s: "multiplySeriesWithWildcards(%s,2)" % s,
    "compressPeriodicGaps": lambda s: "compressPeriodicGaps(%s)" % s,
    "holtWintersForecast": lambda s: "holtWintersForecast(%s,'1h','10min')" % s,
    "holtWintersConfidenceBands": lambda s: "holtWintersConfidenceBands(%s,3,'1h','10min')" % s,
    "holtWintersAberration": lambda s: "holtWintersAberration(%s,2,'1h','10min')" % s,
    "timeStack": lambda s: "timeStack(%s,%s,0,3)" % (s, q(rt.choice(["10min", "1h", "5min"]))),
    "substr": lambda s: "substr(%s,1,3)" % s,
    "upper": lambda s: "upper(%s)" % s,
    "lower": lambda s: "lower(%s)" % s,
    "secondYAxis": lambda s: "secondYAxis(%s)" % s,
    "color": lambda s: "color(%s,'red')" % s,
    "lineWidth": lambda s: "lineWidth(%s,2)" % s,
    "dashed": lambda s: "dashed(%s)" % s,
    "drawAsInfinite": lambda s: "drawAsInfinite(%s)" % s,
    "stacked": lambda s: "stacked(%s)" % s,
    "fallbackSeries": lambda s: "fallbackSeries(%s,%s)" % (s, rt.choice(SINGLE)),
    "aliasByTags": lambda s: "aliasByTags(%s,'name')" % s,
    "pct": lambda s: "pct(%s)" % s,
    "sum": lambda s: "sum(%s)" % s,
    "avg": lambda s: "avg(%s)" % s,
}
FUNC_NAMES = sorted(FUNCS)


def random_target(depth):
    if depth == 0:
        r = rt.random()
        if r < 0.04:
            return "constantLine(%s)" % num()
        if r < 0.07:
            return "identity('id')"
        if r < 0.08:
            return rt.choice(["sinFunction('sin',2,30)", "timeFunction('t',60)"])
        return rt.choice(PATHS)
    return FUNCS[rt.choice(FUNC_NAMES)](random_target(depth - 1))


def random_request():
    targets = [random_target(rt.randint(1, 3)) for _ in range(1 if rt.random() < 0.85 else 2)]
    now = N - rt.choice([0, 0, 25, 600, 3600, -300])
    span = rt.choice([300, 600, 1200, 1800, 3600, 3600, 7200, 14400, 28800])
    frm = now - span - rt.randint(0, 59)
    until = rt.choice([now, now, now - 60, now - rt.randint(0, 600), now + 600])
    extra = {}
    if rt.random() < 0.6 or span > 3600:
        extra["maxDataPoints"] = rt.choice(["1", "7", "20", "50", "100"])
    if rt.random() < 0.3:
        extra["xFilesFactor"] = rt.choice(["0", "0.3", "0.5", "0.9", "1"])
    return targets, frm, until, now, extra


RANDOM = [("random",) + random_request() for _ in range(RANDOM_REQUESTS)]


def params(targets, frm, until, now, extra):
    p = [("target", t) for t in targets]
    p += [("from", str(frm)), ("until", str(until)), ("now", str(now)), ("format", "json")]
    p += sorted(extra.items())
    return p


def answer(client, p):
    resp = client.get("/render/", p)
    body = resp.content.decode("utf-8", "replace")
    if resp.status_code == 500:  # the error page: keep the exception's line
        text = html.unescape(re.sub(r"<[^>]+>", "", body))
        found = re.findall(r"^(\w+(?:Error|Exception)\b.*)$", text, re.M)
        body = found[-1] if found else text.strip()[-200:]
    return resp.status_code, body


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    client = Client(raise_request_exception=False)
    lines = [json.dumps({
        "written": WRITTEN, "archives": ARCHIVES, "xff": XFF, "method": METHOD,
        "series": {k: [[t, repr(v)] for t, v in pts] for k, pts in STORE.items()},
        "sha256": SHA256,
    }, sort_keys=True)]
    for name, targets, frm, until, now, extra in CASES + RANDOM:
        p = params(targets, frm, until, now, extra)
        status, body = answer(client, p)
        lines.append(json.dumps({"name": name, "params": p, "status": status, "body": body},
                                sort_keys=True))
    path = os.path.join(out_dir, "requests.jsonl.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode())


main()
