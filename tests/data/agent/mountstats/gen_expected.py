"""Generates ../mountstats.expected: what Diamond's MountStatsCollector sends for t0 -> t1.

Usage: python2.7 gen_expected.py DIAMOND_SRC > ../mountstats.expected
DIAMOND_SRC is the src/ directory of a python-diamond/Diamond checkout (not shipped here).
Diamond's collectors/mountstats/mountstats.py and diamond/metric.py run unchanged; from
diamond/collector.py the base Collector's own methods (config, metric path, publish,
publish_counter, derivative) and str_to_bool are taken with `ast`, with stand-ins for its
constructor (a plain config dict), get_hostname (the `hostname` setting) and publish_metric
(collects the Graphite handler's line, str(metric)). The collector reads t0 then t1 with
`interval` 10 (the readings are 10 s apart); the lines of the second reading are printed,
sorted (Diamond sends them in file order; carbon does not care), with timestamp 1764000010.
Extra arguments are KEY=VALUE collector settings, e.g. include_filters=^/srv.
"""
import ast
import os
import sys
import types
import logging

SRC = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
TS = 1764000010


def take(path, names, cls=None):
    tree = ast.parse(open(path).read())
    body = tree.body
    if cls:
        body = [n for n in body if getattr(n, "name", None) == cls][0].body
    picked = [n for n in body if getattr(n, "name", None) in names]
    return compile(ast.Module(body=picked), path, "exec")


error = types.ModuleType("error")


class DiamondException(Exception):
    pass


error.DiamondException = DiamondException
sys.modules["error"] = error

metric = types.ModuleType("diamond.metric")
exec(compile(open(os.path.join(SRC, "diamond/metric.py")).read(), "metric.py", "exec"),
     metric.__dict__)


class FixedClock(object):
    @staticmethod
    def time():
        return TS


metric.time = FixedClock

collector_path = os.path.join(SRC, "diamond/collector.py")
ns = {"re": __import__("re"), "Metric": metric.Metric, "DiamondException": DiamondException,
      "get_hostname": lambda config, method=None: config["hostname"]}
exec(take(collector_path, {"str_to_bool"}), ns)
methods = dict(ns)
exec(take(collector_path, {"get_default_config", "process_config", "get_metric_path",
                           "metric_allowed", "publish", "publish_counter", "derivative"},
          cls="Collector"), methods)

LINES = []


class Collector(object):
    def __init__(self, overrides):
        self.log = logging.getLogger("mountstats")
        self.last_values = {}
        self.configfile = None
        self.config = self.get_default_config()
        self.config.update(overrides)
        self.process_config()

    def get_hostname(self):
        return self.config["hostname"]

    def publish_metric(self, m):
        LINES.append(str(m))


for name in ("get_default_config", "process_config", "get_metric_path", "metric_allowed",
             "publish", "publish_counter", "derivative"):
    setattr(Collector, name, methods[name])

diamond = types.ModuleType("diamond")
collector = types.ModuleType("diamond.collector")
collector.Collector = Collector
collector.str_to_bool = ns["str_to_bool"]
diamond.collector = collector
diamond.metric = metric
sys.modules.update({"diamond": diamond, "diamond.collector": collector, "diamond.metric": metric})

mod = types.ModuleType("mountstats")
mpath = os.path.join(SRC, "collectors/mountstats/mountstats.py")
exec(compile(open(mpath).read(), mpath, "exec"), mod.__dict__)

settings = {"hostname": "fixture", "interval": 10}
for arg in sys.argv[2:]:
    k, v = arg.split("=", 1)
    settings[k] = [v]
c = mod.MountStatsCollector(settings)
for t in ("t0", "t1"):
    del LINES[:]
    c.MOUNTSTATS = os.path.join(HERE, t, "proc/self/mountstats")
    c.collect()
for line in sorted(LINES):
    sys.stdout.write(line)
