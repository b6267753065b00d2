"""Generates pie.json: how graphite-web 1.1.10's PieGraph lays out and draws pie graphs.

Usage: python3 gen_pie.py GLYPH_PY DATALIB_PY > pie.json   (gen_pie.sh runs it in a
graphite-web 1.1.10 venv.) glyph.py runs unchanged with pycairo (Debian's python3-cairo; the
system's fontconfig, whose "Sans" is DejaVu Sans) and small stand-ins for Django's settings
and graphite.util, as gen_layout.py does for the line graphs. For each case the graph is
drawn to a PNG surface while a subclass records:
- every text drawn: its baseline's start after alignment and rotation, and the rotation;
- every slice: the arc's centre, radius and angles, and the colour it is filled with;
- the legend's swatches (rectangles filled) and the plot area.
Graph parameters are typed as graphite-web's parseOptions types them; the data are the
(name, value) pairs renderView hands PieGraph.
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
sys.modules["graphite.render.datalib"].TimeSeries = ns["TimeSeries"]

glyph = types.ModuleType("glyph")
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"), glyph.__dict__)


class Ctx:
    """Forwards to the cairo context; records arcs and filled rectangles."""

    def __init__(self, ctx, owner):
        self._ctx = ctx
        self._owner = owner
        self._rgba = None
        self._arc = None
        self._rect = None

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def set_source_rgba(self, r, g, b, a):
        self._rgba = [round(r * 255), round(g * 255), round(b * 255), round(a, 4)]
        return self._ctx.set_source_rgba(r, g, b, a)

    def arc(self, xc, yc, radius, a1, a2):
        self._arc = [xc, yc, radius, a1, a2]
        return self._ctx.arc(xc, yc, radius, a1, a2)

    def rectangle(self, x, y, w, h):
        self._rect = [x, y, w, h]
        return self._ctx.rectangle(x, y, w, h)

    def fill(self):
        if self._arc is not None:
            self._owner.slices_drawn.append({"arc": self._arc, "rgba": self._rgba})
        elif self._rect is not None and self._owner.phase == "legend":
            self._owner.swatches.append({"rect": self._rect, "rgba": self._rgba})
        self._arc = None
        self._rect = None
        return self._ctx.fill()

    def stroke(self):
        self._arc = None
        self._rect = None
        return self._ctx.stroke()


class Recorder(glyph.PieGraph):
    phase = "start"

    def setupCairo(self, outputFormat="png"):
        super().setupCairo(outputFormat)
        self.texts = []
        self.slices_drawn = []
        self.swatches = []
        self.ctx = Ctx(self.ctx, self)

    def encodeHeader(self, text):
        self.phase = text
        return super().encodeHeader(text)

    def drawSlices(self):
        self.phase = "slices"
        return super().drawSlices()

    def drawText(self, text, x, y, font={}, color={}, align="left", valign="top", border=False, rotate=0):
        if font:
            self.setFont(**font)
        e = self.getExtents(text)
        h = {"left": 0, "center": e["width"] / 2, "right": e["width"]}[align.lower()]
        v = {"top": e["maxAscent"], "middle": e["maxHeight"] / 2 - e["maxDescent"],
             "bottom": -e["maxDescent"], "baseline": 0}[valign.lower()]
        a = math.radians(rotate)
        bx = x - math.sin(a) * v - math.cos(a) * h
        by = y + math.cos(a) * v - math.sin(a) * h
        self.texts.append([text, bx, by, rotate, self.ctx._ctx.get_font_matrix()[0]])
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


three = [("web01.requests", 120.0), ("web02.requests", 80.0), ("web03.requests", 40.0)]
CASES = [
    ("three slices", [], three),
    ("one slice", [], [("only", 7.0)]),
    ("title", [("title", "Requests by host")], three),
    ("two-line title", [("title", "Requests\nby host"), ("fontSize", "12")], three),
    ("rotated labels", [("pieLabels", "rotated")], three),
    ("rotated, many", [("pieLabels", "rotated"), ("width", "500"), ("height", "400")],
     [("s%d" % i, float(i + 1)) for i in range(9)]),
    ("number labels", [("valueLabels", "number")], [("a", 3.5), ("b", 12.0), ("c", 2.0), ("d", 40.25)]),
    ("no labels", [("valueLabels", "none")], three),
    ("valueLabelsMin", [("valueLabelsMin", "30")], three),
    ("valueLabelsColor", [("valueLabelsColor", "white")], three),
    ("hideLegend", [("hideLegend", "true")], three),
    ("colorList and areaAlpha", [("colorList", "ff0000,00ff00,0000ff80"), ("areaAlpha", "0.5")], three),
    ("bgcolor fgcolor", [("bgcolor", "black"), ("fgcolor", "white"), ("title", "dark")], three),
    ("wide", [("width", "600"), ("height", "200")], three),
    ("tall", [("width", "200"), ("height", "500")], three),
    ("margin", [("margin", "40")], three),
    ("fontSize", [("fontSize", "14"), ("title", "big")], three),
    ("legend columns", [("width", "600")], [("metric.number.%d" % i, float(10 + i)) for i in range(7)]),
    ("twelve slices", [], [("m%02d" % i, float(i % 5 + 1)) for i in range(12)]),
    ("tiny slice", [], [("big", 1000.0), ("tiny", 1.0), ("mid", 300.0)]),
    ("zero slice", [], [("a", 5.0), ("zero", 0.0), ("b", 5.0)]),
    ("no data", [], []),
]


def run(label, params, data):
    opts = {"width": 330, "height": 250}
    for k, v in params:
        t = typed(k, v)
        if t is not None:
            opts[k] = t
    opts["data"] = list(data)
    opts["outputFormat"] = "png"
    g = Recorder(**opts)
    out = {"texts": g.texts, "slices": g.slices_drawn, "swatches": g.swatches, "area": g.area}
    return {"case": label, "params": params, "data": data, "expect": out}


def rounded(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, (list, tuple)):
        return [rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    return x


print(json.dumps([rounded(run(*c)) for c in CASES], indent=None))
