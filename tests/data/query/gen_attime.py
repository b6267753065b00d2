"""Generates attime.jsonl: what graphite-web 1.1.10's parseATTime / parseTimeOffset return,
and how pytz (which graphite-web uses for every zone) maps instants and local times.

Usage: python3 gen_attime.py ATTIME_PY > attime.jsonl
ATTIME_PY is graphite-web 1.1.10's webapp/graphite/render/attime.py (not shipped here); it
needs pytz (pip install graphite-web==1.1.10 brings both). Each line: {"kind", "input", "now",
"tz", "result"} where kind is
  "at": parseATTime(input, tz, now) as epoch seconds, or {"error": message};
  "offset": parseTimeOffset(input) in seconds;
  "local": input is epoch seconds; result [Y, M, D, h, m, s, offset east of UTC in s] of
           datetime.fromtimestamp(input, tz);
  "localize": input is "YYYY-MM-DDTHH:MM"; result epoch seconds of tz.localize(dt, is_dst=False),
           which graphite's parseTimeReference calls.
Zones with daylight saving time are exercised around their transitions (the instants come
from pytz's own transition table). Years after 2037 are left out: pytz's tables stop there
and it applies no daylight saving time after, where the IANA rules (and lonsdaleite) do.
Europe/Dublin is left out of "localize" and "at": pytz marks Irish winter time as the
daylight-saving one (negative DST), the bundled database does the opposite.
"""
import json
import sys
import types
from datetime import datetime, timedelta

import pytz

conf = types.ModuleType("django.conf")
conf.settings = types.SimpleNamespace(TIME_ZONE="UTC")
sys.modules["django"] = types.ModuleType("django")
sys.modules["django.conf"] = conf
ns = {"__name__": "attime"}
exec(compile(open(sys.argv[1]).read(), "attime.py", "exec"), ns)
parseATTime, parseTimeOffset = ns["parseATTime"], ns["parseTimeOffset"]

NOWS = [1710506096, 1700000000, 1704067199, 1709164800, 951782400]  # Fri 2024-03-15 12:34:56 ...
ZONES = ["UTC", "Etc/GMT+5", "Etc/GMT-10", "America/New_York", "Europe/Berlin", "Australia/Sydney"]
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


# Around daylight-saving transitions: zone -> (first year, last year) of transitions to use.
DST_ZONES = {
    "America/New_York": (2023, 2025),
    "Europe/Berlin": (2023, 2025),
    "Australia/Sydney": (2023, 2025),
    "Australia/Lord_Howe": (2024, 2024),  # 30-minute daylight saving time
    "America/St_Johns": (2024, 2024),  # -03:30 / -02:30
    "America/Sao_Paulo": (2018, 2019),  # clocks changed at midnight; DST ended 2019
    "Pacific/Apia": (2011, 2011),  # skipped 2011-12-30 entirely
    "Europe/Moscow": (2010, 2014),  # permanent +04 in 2011, +03 in 2014 (no DST flag)
    "US/Eastern": (2024, 2024),  # an alias
    "europe/berlin": (2024, 2024),  # names are case-insensitive
}
LOCAL_ONLY = {"Europe/Dublin": (2023, 2024), "Asia/Kolkata": (1940, 1946)}
DT_INPUTS = ["now", "-1h", "-1d", "+1h", "midnight", "noon", "yesterday", "today", "tomorrow",
             "1am", "2am", "3am", "2:30am", "1:30am", "0:30am", "11pm", "midnight+1h", "noon-1d",
             "monday", "sunday", "saturday"]
EPOCH_STEPS = [-86400, -43200, -3601, -3600, -1800, -1, 0, 1, 1800, 3599, 3600, 7200, 43200, 86400]
NOW_STEPS = [-86400, -7200, -3600, -1, 0, 1800, 3600, 7200, 86400]


def transitions(name, first, last):
    zone = pytz.timezone(name)
    out = []
    for t in getattr(zone, "_utc_transition_times", []):
        if first <= t.year <= last:
            out.append(int((t - datetime(1970, 1, 1)).total_seconds()))
    return out


def local(epoch, tz):
    d = datetime.fromtimestamp(epoch, pytz.timezone(tz))
    return [d.year, d.month, d.day, d.hour, d.minute, d.second, int(d.utcoffset().total_seconds())]


def localize(text, tz):
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    return int(pytz.timezone(tz).localize(dt, is_dst=False).timestamp())


for tz, (first, last) in list(DST_ZONES.items()) + list(LOCAL_ONLY.items()):
    zone = pytz.timezone(tz)
    for t in transitions(tz, first, last):
        for step in EPOCH_STEPS:
            e = t + step
            emit("local", str(e), 0, tz, lambda: local(e, tz))
        if tz in LOCAL_ONLY:
            continue
        # local wall times from 3 h before to 3 h after the transition, every 15 minutes,
        # on both sides' offsets
        before = datetime.fromtimestamp(t - 1, zone).replace(tzinfo=None)
        start = before.replace(minute=0, second=0) - timedelta(hours=3)
        for k in range(4 * 7 + 1):
            text = (start + timedelta(minutes=15 * k)).strftime("%Y-%m-%dT%H:%M")
            emit("localize", text, 0, tz, lambda: localize(text, tz))
        day = before.strftime("%Y%m%d")
        for hm in ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "12:00"]:
            inp = hm + "_" + day
            emit("at", inp, t, tz, lambda: at(inp, t, tz))
        for step in NOW_STEPS:
            now = t + step
            for inp in DT_INPUTS:
                emit("at", inp, now, tz, lambda: at(inp, now, tz))
# instants far apart, local mean time (offsets rounded to whole minutes) included
for tz in ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "Europe/Dublin"]:
    for e in [-2208988800, -1577923200, -631152000, 0, 315532800, 946684800, 1262304000,
              1704067200, 2082758400]:
        emit("local", str(e), 0, tz, lambda: local(e, tz))
