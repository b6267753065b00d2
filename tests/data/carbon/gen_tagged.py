"""Produce tests/data/carbon/tagged.jsonl by running carbon's own TaggedSeries.

Usage: python3 gen_tagged.py CARBON_LIB_DIR > tagged.jsonl

CARBON_LIB_DIR holds carbon 1.1.10's `carbon/util.py` (from the carbon sources, tag
1.1.10). util.py imports twisted and carbon.log at module level for unrelated helpers;
when they are not installed this script puts empty stand-ins for those names on the path.
Each output line: {"in": name, "out": normal name} or {"in": name, "err": reason}, plus
"hashed" and "plain" storage paths (TaggedSeries.encode with hash_only True/False, +".wsp").
"""
import json
import os
import random
import sys
import tempfile
import types


def stub_imports():
    for mod, attrs in {
        "twisted": {},
        "twisted.python": {},
        "twisted.python.util": {"initgroups": None},
        "twisted.scripts": {},
        "twisted.scripts.twistd": {"runApp": None},
        "carbon.log": {"setDebugEnabled": lambda *_: None},
    }.items():
        if mod in sys.modules:
            continue
        try:
            __import__(mod)
        except ImportError:
            m = types.ModuleType(mod)
            m.__dict__.update(attrs)
            sys.modules[mod] = m


def reason(exc):
    msg = str(exc)
    if isinstance(exc, ValueError):
        return "bad_segment"  # split('{', 2) not unpacking into two
    for needle, name in [
        ("no metric found", "no_metric"),
        ("results in an empty string", "empty_name"),
        ("invalid segment", "bad_segment"),
        ("Tag may not be empty", "bad_segment"),
        ("may not be empty", "empty_value"),
        ("is not allowed in", "forbidden_char"),
        ('not allowed to start with "~"', "tilde_value"),
    ]:
        if needle in msg:
            return name
    raise exc


FIXED = [
    "a.b.c", "~a.b", "~~~", "", ".a.b", "/a.b", "a..b", "a;b=1", "a;b=1;c=2", "a;c=2;b=1",
    "a;b=1;a-b=2;a=3", "a;x=1;x=2", "a;x=2;x=1", "a.b;name=x", "~~a.b;name=zz;c=d", ";a=b",
    "a;b", "a;=b", "a;b=", "a;b!=c", "a;b^=c", "a;b=~c", "a;b=c~", "a;b=c=d", "a;", "a;;b=1",
    "~;b=1", "a;b=1;", "stats.example.counts;tag1=value1", "some.metric;tag1=value2;tag2=value.2",
    'm{b="2",a="1"}', 'm{a="1"}', '{a="1"}', 'm{a="1",}', 'm{a="1":,b="2"}', 'm{a="x\\"y"}',
    'm{a="x\\\\y"}', 'm{a="x\\\\\\"y"}', 'm{a="x\\y"}', 'm{a=""}', 'm{a="~x"}', 'm{a="x;y"}',
    'm{=a"}', 'm{a="1"b="2"}', 'm{a{="1"}', 'm{{a="1"}', 'm{a="{"}', 'm{name="z"}',
    '~m{a="1"}', 'm{a!="1"}', 'm{a="1",a="2"}', "caf\u00e9;t\u00e9=\u4e2d", "a;b=1;c=x.y.z",
    "a;b=/x/y", "a;B=1;a=2", "a;a=1;aa=2;a_=3", 'm{a="1", b="2"}', 'x;y={"}',
]

ALPHABET = ["a", "b", "c", ".", ";", "=", "~", "!", "^", "{", "}", '"', "\\", ",", ":", "-",
            "_", "name", "\u00e9", ";a=", ";b=", '="', '",', '"}', "/"]


def random_names(n, seed=1110):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            tags = [(rng.choice("abcxyz-_") * rng.randint(1, 2) + rng.choice(["", "", "", "", "", "", "!", "^", "~"]),
                     rng.choice(["1", "v", "a.b", "=", "x", "2", "9", "~v", ""]))
                    for _ in range(rng.randint(0, 5))]
            name = rng.choice(["m", "m", "~m", "a.b", "a.b", ""]) + "".join(";%s=%s" % t for t in tags)
        elif kind < 0.7:
            tags = [(rng.choice(["a", "b", "c", "d", "name", "a b", ""]),
                     rng.choice(["1", "2", "v", "x\\\"y", "x\\\\y", "", "~z", "p;q", "x\\y"]))
                    for _ in range(rng.randint(0, 4))]
            sep = rng.choice([",", ":,", ", "])
            name = rng.choice(["m", "m", "~m", ""]) + "{" + sep.join('%s="%s"' % t for t in tags) + '"}'[rng.randint(0, 1):]
        else:
            name = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
        out.append(name)
    return out


def main():
    sys.path.insert(0, sys.argv[1])
    stub_imports()
    from carbon.util import TaggedSeries

    seen = set()
    for name in FIXED + random_names(2500):
        if name in seen:
            continue
        seen.add(name)
        row = {"in": name}
        try:
            row["out"] = TaggedSeries.parse(name).path
        except Exception as exc:  # carbon raises plain Exception
            row["err"] = reason(exc)
        path = row.get("out", name)
        if path:
            row["hashed"] = TaggedSeries.encode(path, "/", hash_only=True) + ".wsp"
            row["plain"] = TaggedSeries.encode(path, "/", hash_only=False) + ".wsp"
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
