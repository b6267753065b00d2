"""Generates attime.jsonl: what graphite-web 1.1.10's parseATTime / parseTimeOffset return.

Usage: python3 gen_attime.py ATTIME_PY > attime.jsonl
ATTIME_PY is graphite-web 1.1.10's webapp/graphite/render/attime.py (not shipped here); it
needs pytz. Each line: {"kind": "at"|"offset", "input", "now", "tz", "result"} where
result is epoch seconds (at), seconds (offset), or {"error": message}.
"""
import json
import sys
import types
from datetime import datetime

import pytz

conf = types.ModuleType("django.conf")
conf.settings = types.SimpleNamespace(TIME_ZONE="UTC")
sys.modules["django"] = types.ModuleType("django")
sys.modules["django.conf"] = conf
ns = {"__name__": "attime"}
exec(compile(open(sys.argv[1]).read(), "attime.py", "exec"), ns)
parseATTime, parseTimeOffset = ns["parseATTime"], ns["parseTimeOffset"]

NOWS = [1710506096, 1700000000, 1704067199, 1709164800, 951782400]  # Fri 2024-03-15 12:34:56 ...
ZONES = ["UTC", "Etc/GMT+5", "Etc/GMT-10"]
INPUTS = """now
NOW
 now 
-1h
-1hour
-1hours
-7d
-7days
-30min
-30minutes
-2weeks
-2w
-1mon
-1month
-3months
-1y
-1year
-1s
-10sec
-10seconds
-1m
-5m
-1ms
-1mi
-1hour30min
-1h30m
+1h
1h
-1d+2h
-1h-2min
now-5min
now+5min
now-1
-
+
-h
-1.5h
12:00_20240101
12:0020240101
9:00_20240101
9:0020240101
23:59_20240229
12:00_20230229
24:00_20240101
12:60_20240101
20240101
20240229
20230229
19000101
19010101
20241301
20240001
20240132
20240131
1700000000
0
1
946684800
99999999999
999999999999999999
12345678
yesterday
today
tomorrow
noon
midnight
teatime
noon+1h
midnight+1h
midnight-1h
midnight_tomorrow
midnight tomorrow
midnight_tomorrow+3h
teatime yesterday
teatimeyesterday
noon yesterday
noon_tomorrow-30min
3pm
3am
12am
12pm
11pm
13pm
0am
3pmyesterday
8:30
8:30pm
8:30am
08:30
8:5
8:
12:00pm
12:00am
12:00pm_20240101
monday
mon
tuesday
wednesday
thursday
friday
saturday
sunday
sun
friday-1d
monkey
jan1
jan15
january15
january 15
jan
janx
feb29
feb30
dec31
march2024
03/04/24
03/04/2024
3/4/24
03/04/69
03/04/70
03/04/1950
03/04/99
02/30/24
13/01/24
03/04
03/04/24/1
noon_03/04/24
3pm_03/04/24
3pm 03/04/24
8am_jan1
foo
now_foo
nowx
yesterday+1d
-1d_2h
-1,000s
-1_000s
-1 000s
-0s
-00h
-1H
12:00_20240101-1d
20240101+1d
""".split("\n")
OFFSETS = ["", "5min", "-5min", "+5min", "1h", "-1d", "1m", "5MIN", "1H", "-1hour30min", "10s",
           "2w", "3mon", "1y", "-", "h", "1", "1.5h", "x1h", "1h-1h", "30seconds", "1minutes", "7days"]


def emit(kind, inp, now, tz, fn):
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001
        r = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps({"kind": kind, "input": inp, "now": now, "tz": tz, "result": r}))


def at(inp, now, tz):
    zone = pytz.timezone(tz)
    now_dt = datetime.fromtimestamp(now, zone)
    return int(parseATTime(inp, zone, now_dt).timestamp())


for inp in INPUTS:
    if inp == "":
        continue
    for now in NOWS:
        for tz in ZONES:
            emit("at", inp, now, tz, lambda: at(inp, now, tz))
for off in OFFSETS:
    emit("offset", off, 0, "UTC", lambda: int(parseTimeOffset(off).total_seconds()))
