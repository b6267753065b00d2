"""Generates layout.json: how graphite-web 1.1.10's LineGraph lays out and draws graphs.

Usage: python3 gen_layout.py GLYPH_PY DATALIB_PY > layout.json
GLYPH_PY and DATALIB_PY are graphite-web 1.1.10's webapp/graphite/render/glyph.py and
datalib.py (not shipped here). glyph.py runs unchanged with cairocffi (pip install cairocffi
pytz six; the system's libcairo and fontconfig, whose "Sans" is DejaVu Sans) and small
stand-ins for Django's settings and graphite.util; TimeSeries is taken out of datalib.py with
`ast`. For each case the graph is drawn to a PNG surface while a subclass records:
- every text drawn, as its left edge and baseline after alignment, and its rotation;
- the paths stroked or filled while drawing the series (graphite's "lines" part), with the
  colour they are drawn in;
- the plot area and the y axis (top, bottom, step, label values and labels).
Graph parameters are typed as graphite-web's parseOptions types them.
"""
import ast
import io
import json
import math
import sys
import types
from collections import UserDict

settings = types.SimpleNamespace(
    DATE_FORMAT="%m/%d", LEGEND_MAX_ITEMS=10, TIME_ZONE="UTC",
    GRAPHTEMPLATES_CONF="/nonexistent/graphTemplates.conf", DEFAULT_XFILES_FACTOR=0,
)
for name in ["django", "django.conf", "graphite", "graphite.render", "graphite.render.datalib",
             "graphite.util"]:
    sys.modules[name] = types.ModuleType(name)
sys.modules["django.conf"].settings = settings
sys.modules["graphite.util"].json = json
sys.modules["graphite.util"].BytesIO = io.BytesIO


def take(path, names):
    tree = ast.parse(open(path).read())
    body = [n for n in tree.body if getattr(n, "name", None) in names]
    return compile(ast.Module(body=body, type_ignores=[]), path, "exec")


ns = {"__name__": "datalib", "UserDict": UserDict, "settings": settings,
      "STORE": types.SimpleNamespace(tagdb=None), "re": __import__("re"),
      "log": types.SimpleNamespace(debug=lambda *a: None)}
exec(take(sys.argv[2], {"Tags", "TimeSeries"}), ns)
TimeSeries = ns["TimeSeries"]
sys.modules["graphite.render.datalib"].TimeSeries = TimeSeries

glyph = types.ModuleType("glyph")
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), glyph.__dict__)


class Ctx:
    """Forwards to the cairo context; records the path operations of the lines part."""

    def __init__(self, ctx, owner):
        self._ctx = ctx
        self._owner = owner
        self._subpaths = []
        self._rgba = None

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def _rec(self):
        return self._owner.phase == "lines"

    def set_source_rgba(self, r, g, b, a):
        self._rgba = [round(r * 255), round(g * 255), round(b * 255), round(a, 4)]
        return self._ctx.set_source_rgba(r, g, b, a)

    def move_to(self, x, y):
        if self._rec():
            self._subpaths.append([[x, y]])
        return self._ctx.move_to(x, y)

    def line_to(self, x, y):
        if self._rec():
            if self._ctx.has_current_point() and self._subpaths:
                self._subpaths[-1].append([x, y])
            else:
                self._subpaths.append([[x, y]])
        return self._ctx.line_to(x, y)

    def rectangle(self, *a):
        if self._rec():
            self._subpaths.append([])
        return self._ctx.rectangle(*a)

    def _end(self, kind):
        if self._rec() and kind != "clip":
            self._owner.drawn.append({"kind": kind, "rgba": self._rgba, "paths": self._subpaths})
        self._subpaths = []

    def stroke(self):
        self._end("stroke")
        return self._ctx.stroke()

    def fill(self):
        self._end("fill")
        return self._ctx.fill()

    def clip(self):
        self._end("clip")
        return self._ctx.clip()


class Recorder(glyph.LineGraph):
    phase = "start"

    def setupCairo(self, outputFormat="png"):
        super().setupCairo(outputFormat)
        self.texts = []
        self.drawn = []
        self.ctx = Ctx(self.ctx, self)

    def encodeHeader(self, text):
        self.phase = text
        return super().encodeHeader(text)

    def drawText(self, text, x, y, font={}, color={}, align="left", valign="top", border=False, rotate=0):
        if font:
            self.setFont(**font)
        e = self.getExtents(text)
        h = {"left": 0, "center": e["width"] / 2, "right": e["width"]}[align.lower()]
        v = {"top": e["maxAscent"], "middle": e["maxHeight"] / 2 - e["maxDescent"],
             "bottom": -e["maxDescent"], "baseline": 0}[valign.lower()]
        if rotate == 0:
            self.texts.append([text, x - h, y + v, 0])
        else:
            self.texts.append([text, x, y, rotate])
        return super().drawText(text, x, y, font, color, align, valign, border, rotate)


def typed(name, val):
    """graphite-web's parseOptions typing; None means unset."""
    if (val.isdigit() or (val.startswith("-") and val[1:].isdigit())) and "color" not in name.lower():
        return int(val)
    if "." in val and (val.replace(".", "", 1).isdigit()
                       or (val.startswith("-") and val[1:].replace(".", "", 1).isdigit())):
        return float(val)
    if val.lower() in ("true", "false"):
        return val.lower() == "true"
    if val.lower() == "default" or val == "":
        return None
    return val


START = 1735689600  # 2025-01-01T00:00:00Z


def wave(n, base, amp, period, nulls=()):
    out = [base + amp * math.sin(i / period) for i in range(n)]
    for a, b in nulls:
        for i in range(a, b):
            out[i] = None
    return [None if v is None else round(v, 3) for v in out]


def s(name, values, step=60, start=START, **options):
    return {"name": name, "start": start, "end": start + step * len(values), "step": step,
            "values": values, "consolidate": options.pop("consolidate", "average"),
            "options": options}


CASES = [
    ("one series, defaults", [], [s("web01.cpu", wave(60, 50, 30, 7))]),
    ("two series and a gap", [], [s("a.b", wave(60, 500, 300, 9, [(20, 25)])),
                                  s("c.d", wave(60, 200, 100, 5))]),
    ("title, vtitle, size", [("title", "Requests"), ("vtitle", "per second"), ("width", "500"),
                              ("height", "300")], [s("x", wave(120, 3000, 2500, 11))]),
    ("si prefixes", [], [s("bytes", wave(60, 5e6, 4e6, 10))]),
    ("binary prefixes", [("yUnitSystem", "binary")], [s("bytes", wave(60, 5e6, 4e6, 10))]),
    ("no prefixes", [("yUnitSystem", "none")], [s("bytes", wave(60, 5e6, 4e6, 10))]),
    ("small values", [], [s("ratio", wave(60, 0.05, 0.04, 6))]),
    ("negative values", [], [s("delta", wave(60, -20, 50, 6))]),
    ("constant", [], [s("flat", [7.0] * 30)]),
    ("all null", [], [s("empty", [None] * 30)]),
    ("yMin yMax", [("yMin", "0"), ("yMax", "200")], [s("x", wave(60, 80, 30, 7))]),
    ("yMax=max", [("yMax", "max")], [s("x", wave(60, 80, 30, 7))]),
    ("yStep and minorY", [("yStep", "25"), ("minorY", "3")], [s("x", wave(60, 80, 30, 7))]),
    ("logBase 10", [("logBase", "10")], [s("x", [10 ** (i / 10) for i in range(1, 40)])]),
    ("staircase", [("lineMode", "staircase")], [s("x", wave(30, 10, 5, 3, [(10, 12)]))]),
    ("connected", [("lineMode", "connected")], [s("x", wave(30, 10, 5, 3, [(0, 2), (10, 14)]))]),
    ("connectedLimit", [("lineMode", "connected"), ("connectedLimit", "2")],
     [s("x", wave(30, 10, 5, 3, [(5, 6), (10, 14)]))]),
    ("drawNullAsZero", [("drawNullAsZero", "true")], [s("x", wave(30, 10, 5, 3, [(10, 14)]))]),
    ("areaMode first", [("areaMode", "first")], [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 30, 20, 8))]),
    ("areaMode all", [("areaMode", "all")], [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 30, 20, 8))]),
    ("areaMode stacked", [("areaMode", "stacked")],
     [s("a", wave(60, 50, 20, 5, [(30, 33)])), s("b", wave(60, 30, 20, 8)), s("c", wave(60, 10, 5, 4))]),
    ("stacked with alpha", [("areaMode", "stacked"), ("areaAlpha", "0.5")],
     [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 30, 20, 8))]),
    ("graphOnly", [("graphOnly", "true")], [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 30, 20, 8))]),
    ("hideAxes", [("hideAxes", "true")], [s("a", wave(60, 50, 20, 5))]),
    ("hideGrid hideLegend", [("hideGrid", "true"), ("hideLegend", "true")], [s("a", wave(60, 50, 20, 5))]),
    ("hideYAxis", [("hideYAxis", "true")], [s("a", wave(60, 50, 20, 5))]),
    ("hideXAxis", [("hideXAxis", "true")], [s("a", wave(60, 50, 20, 5))]),
    ("yAxisSide right", [("yAxisSide", "right"), ("title", "right side")], [s("a", wave(60, 50, 20, 5))]),
    ("colorList and lineWidth", [("colorList", "ff0000,00ff0080"), ("lineWidth", "3")],
     [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 30, 20, 8))]),
    ("series styles", [], [s("a", wave(60, 50, 20, 5), color="purple", lineWidth=2),
                           s("b", wave(60, 30, 20, 8), dashed=4, alpha=0.5)]),
    ("drawAsInfinite", [], [s("a", wave(60, 50, 20, 5)),
                            s("deploys", [1 if i in (10, 40) else 0 for i in range(60)], drawAsInfinite=True)]),
    ("second y axis", [], [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 3000, 2000, 8), secondYAxis=True)]),
    ("second y axis, right options", [("rightColor", "red"), ("leftWidth", "2"), ("vtitleRight", "bytes")],
     [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 3000, 2000, 8), secondYAxis=True)]),
    ("legend columns", [("width", "600")], [s("metric.number.%d" % i, wave(30, i, 1, 3)) for i in range(7)]),
    ("eleven series hide the legend", [], [s("m%d" % i, wave(30, i, 1, 3)) for i in range(11)]),
    ("uniqueLegend", [("uniqueLegend", "true")], [s("same", wave(30, 1, 1, 3)), s("same", wave(30, 5, 1, 3))]),
    ("consolidation average", [], [s("dense", wave(5000, 50, 40, 300), step=10)]),
    ("consolidation max", [], [s("dense", [100.0 if i == 2500 else 10.0 for i in range(5000)], step=10,
                                 consolidate="max")]),
    ("minXStep", [("minXStep", "5")], [s("x", wave(200, 50, 40, 20))]),
    ("ten minutes", [], [s("x", wave(60, 50, 40, 5), step=10)]),
    ("six hours", [], [s("x", wave(360, 50, 40, 30), step=60)]),
    ("one day", [], [s("x", wave(288, 50, 40, 30), step=300)]),
    ("one week", [], [s("x", wave(168, 50, 40, 20), step=3600)]),
    ("two months", [], [s("x", wave(60, 50, 40, 5), step=86400)]),
    ("three years", [], [s("x", wave(156, 50, 40, 9), step=7 * 86400)]),
    ("time zone", [("tz", "Etc/GMT-3")], [s("x", wave(288, 50, 40, 30), step=300)]),
    ("xFormat", [("xFormat", "%H.%M %b")], [s("x", wave(60, 50, 40, 5), step=60)]),
    ("offset series", [], [s("early", wave(60, 50, 20, 5)), s("late", wave(30, 30, 20, 4), start=START + 1800)]),
    ("fontSize", [("fontSize", "14"), ("title", "big")], [s("a", wave(60, 50, 20, 5))]),
    ("margin", [("margin", "30")], [s("a", wave(60, 50, 20, 5))]),
    ("stacked() on two of three", [], [s("a", wave(60, 20, 10, 5), stacked=True),
                                        s("b", [None if v is None else round(v + 20 + 10 * math.sin(i / 5), 3)
                                                for i, v in enumerate(wave(60, 15, 5, 8))], stacked=True),
                                        s("line", wave(60, 30, 20, 6))]),
    ("areaBetween", [], [s("low", wave(60, 20, 5, 5), stacked=True, invisible=True),
                         s("high", wave(60, 40, 5, 7), stacked=True)]),
    ("stacked staircase with an event", [("areaMode", "stacked"), ("lineMode", "staircase")],
     [s("a", wave(30, 10, 5, 3)), s("ev", [1 if i == 15 else 0 for i in range(30)], drawAsInfinite=True),
      s("b", wave(30, 5, 2, 4))]),
    ("yLimit", [("yLimit", "60")], [s("x", wave(60, 50, 30, 7))]),
    ("second axis limits", [("yMinRight", "0"), ("yMaxRight", "10000"), ("yStepLeft", "10")],
     [s("a", wave(60, 50, 20, 5)), s("b", wave(60, 3000, 2000, 8), secondYAxis=True)]),
    ("hideNullFromLegend", [("hideNullFromLegend", "true")], [s("a", wave(30, 5, 2, 3)), s("nothing", [None] * 30)]),
    ("no data", [], []),
]


def run(label, params, series):
    opts = {"width": 330, "height": 250}
    for k, v in params:
        t = typed(k, v)
        if t is not None:
            opts[k] = t
    data = []
    for d in series:
        ts = TimeSeries(d["name"], d["start"], d["end"], d["step"], list(d["values"]),
                        consolidate=d["consolidate"])
        for k, v in d["options"].items():
            if k == "color":
                ts.color = v
            else:
                ts.options[k] = v
        data.append(ts)
    opts["data"] = data
    opts["outputFormat"] = "png"
    g = Recorder(**opts)
    out = {"texts": g.texts, "drawn": g.drawn, "area": g.area}
    if hasattr(g, "yLabelValues") and not g.secondYAxis:
        out["y"] = {"top": g.yTop, "bottom": g.yBottom, "step": g.yStep,
                    "labelValues": g.yLabelValues, "labels": g.yLabels}
    if g.secondYAxis:
        out["y"] = {"labels": g.yLabelsL, "labelValues": g.yLabelValuesL, "top": g.yTopL,
                    "bottom": g.yBottomL, "step": g.yStepL}
        out["yRight"] = {"labels": g.yLabelsR, "labelValues": g.yLabelValuesR, "top": g.yTopR,
                         "bottom": g.yBottomR, "step": g.yStepR}
    return {"case": label, "params": params, "series": series, "expect": out}


def rounded(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, list):
        return [rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    return x


print(json.dumps([rounded(run(*c)) for c in CASES], indent=None))
