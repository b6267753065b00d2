"""Prints what a graphite-web frontend's unpickler builds from a member's pickled answer,
as JSON the tests can compare: python3 canon_pickle.py < BODY.

Only graphite's `graphite.intervals.Interval` and `IntervalSet` may be referenced (as
graphite-web's safe unpickler allows them); each instance is written as
{"ClassName": {its attributes}}, a tuple as {"tuple": [...]}, floats and ints as Python's
json writes them (so 1.0 and 1 differ). An interval's values are the clock of the moment
the answer was made, so they are written as "float" (their type); the tests check them
separately. The nodes of a find answer are put in path order within one node name:
graphite-web shuffles the nodes before sorting them by name.
"""
import json
import pickle
import sys


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "graphite.intervals" and name in ("Interval", "IntervalSet"):
            return type(name, (), {})
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def plain(o, masked=False):
    if isinstance(o, list):
        return [plain(x, masked) for x in o]
    if isinstance(o, tuple):
        return {"tuple": [plain(x, masked) for x in o]}
    if isinstance(o, dict):
        return {k: plain(v, masked) for k, v in o.items()}
    if hasattr(o, "__dict__"):
        return {type(o).__name__: plain(vars(o), True)}
    if masked and isinstance(o, float):
        return "float"
    return o


doc = plain(Unpickler(sys.stdin.buffer).load())
if isinstance(doc, list) and all(isinstance(n, dict) and "is_leaf" in n for n in doc):
    doc.sort(key=lambda n: (n["path"].rsplit(".", 1)[-1], n["path"]))
print(json.dumps(doc))
