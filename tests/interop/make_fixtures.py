#!/usr/bin/env python3
"""Regenerates tests/data/whisper/ with PyPI whisper 1.1.10 (run from the repository root).

Each fixture is a whisper file plus, in expected.json, the operations that built it and
what whisper's fetch returned from it, so tests/whisper_fixtures.rs can check lonsdaleite
against the reference without Python. Floats are 16 hex digits (big-endian IEEE-754 bits).
"""
import json
import os
import struct

import whisper

OUT = "tests/data/whisper"
NOW = 1700000000


def h(x):
    return struct.pack(">d", x).hex()


FIXTURES = {
    # the golden vector of shared/reference/graphite.md section 1.10
    "golden": {
        "archives": [[60, 5], [300, 3]], "xff": 0.5, "method": "sum",
        "ops": [["update_many", [[NOW - 60 * i, float(i)] for i in range(5)], NOW],
                ["update", [NOW - 200, 42.0], NOW]],
    },
    # three archives, a float32 xFilesFactor threshold, wrap-around and a lower-archive write
    "three_archives_avg_zero": {
        "archives": [[10, 12], [60, 12], [300, 12]], "xff": 0.2, "method": "avg_zero",
        "ops": [["update_many", [[NOW - 7 * i, (i % 5) - 2.0] for i in range(40)], NOW],
                ["update_many", [[NOW + 130 - 11 * i, float(i)] for i in range(30)], NOW + 130],
                ["update", [NOW - 2000, 9.5], NOW + 130]],
    },
    # every slot of a small ring written twice over, plus NaN and infinities
    "wrapped_absmax": {
        "archives": [[1, 10], [5, 6]], "xff": 0.0, "method": "absmax",
        "ops": [["update_many", [[NOW - i, float(-i) if i % 3 else float("nan")] for i in range(25)], NOW],
                ["update_many", [[NOW + 7, float("inf")], [NOW + 6, float("-inf")]], NOW + 7]],
    },
}


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    for name, spec in FIXTURES.items():
        path = os.path.join(OUT, name + ".wsp")
        if os.path.exists(path):
            os.unlink(path)
        whisper.create(path, [tuple(a) for a in spec["archives"]], spec["xff"], spec["method"])
        ops = []
        last_now = NOW
        for kind, arg, now in spec["ops"]:
            last_now = now
            if kind == "update_many":
                whisper.update_many(path, arg, now=now)
                ops.append({"op": kind, "points": [[t, h(v)] for t, v in arg], "now": now})
            else:
                whisper.update(path, arg[1], arg[0], now=now)
                ops.append({"op": kind, "ts": arg[0], "value": h(arg[1]), "now": now})
        info = whisper.info(path)
        fetches = []
        for a in info["archives"]:
            spp = a["secondsPerPoint"]
            for start in (last_now - a["retention"], last_now - a["retention"] // 2):
                r = whisper.fetch(path, start, None, now=last_now, archiveToSelect=str(spp))
                (f, u, s), values = r
                fetches.append({"from": start, "now": last_now, "archive": str(spp),
                                "window": [f, u, s],
                                "values": [None if v is None else h(v) for v in values]})
        expected[name] = {"archives": spec["archives"], "xff": h(spec["xff"]), "method": spec["method"],
                          "ops": ops, "fetches": fetches}
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True)
        fh.write("\n")


main()
