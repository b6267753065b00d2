"""Creates the whisper tree for render-vs-graphite-web.sh with whisper 1.1.10.

Usage: python3 render_data.py WHISPER_DIR SERVERS METRICS
Makes SERVERS x METRICS files bench/srvNNN/mMMM.wsp of one archive 10s:1d (average,
xFilesFactor 0.5), each filled with a point every 10 s over the last day, up to the real
clock (graphite-web's whisper.fetch clips to its own clock, so the data must be current).
"""
import math
import os
import sys
import time

import whisper

root, servers, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
STEP, POINTS = 10, 8640
now = int(time.time())
last = now - now % STEP
for s in range(servers):
    d = os.path.join(root, "bench", "srv%03d" % s)
    os.makedirs(d, exist_ok=True)
    for m in range(metrics):
        path = os.path.join(d, "m%03d.wsp" % m)
        whisper.create(path, [(STEP, POINTS)], xFilesFactor=0.5, aggregationMethod="average")
        phase = s * metrics + m
        points = [(last - i * STEP, round(50 + 40 * math.sin((i + phase) / 60.0), 3))
                  for i in range(POINTS - 1)]
        whisper.update_many(path, points, now=now)
print("created %d files under %s, last point at %d" % (servers * metrics, root, last))
