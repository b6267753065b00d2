"""Creates the whisper tree for render-vs-graphite-web.sh and render-concurrent.sh with whisper.

Usage: python3 render_data.py WHISPER_DIR SERVERS METRICS [RETENTIONS]
Makes SERVERS x METRICS files bench/srvNNN/mMMM.wsp (average, xFilesFactor 0.5) with
RETENTIONS (default 10s:1d; e.g. 10s:1d,1m:7d), each filled up to the real clock
(graphite-web's whisper.fetch clips to its own clock, so the data must be current): a point
every 10 s over the first archive's span, and a point per step of each longer archive over
the rest of its span (whisper writes each point into the archive that covers its age and
aggregates it into the lower ones).
"""
import math
import os
import sys
import time

import whisper

root, servers, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
retentions = sys.argv[4] if len(sys.argv) > 4 else "10s:1d"
archives = [whisper.parseRetentionDef(r) for r in retentions.split(",")]
now = int(time.time())
# (timestamp offsets back from now, one per point): each archive's step over the part of its
# span the archive before it does not cover
offsets = []
covered = 0
for step, points in archives:
    span = step * points
    first = (covered // step + 1) if covered else 0
    offsets.extend(i * step for i in range(first, span // step) if i * step < span)
    covered = span
for s in range(servers):
    d = os.path.join(root, "bench", "srv%03d" % s)
    os.makedirs(d, exist_ok=True)
    for m in range(metrics):
        path = os.path.join(d, "m%03d.wsp" % m)
        whisper.create(path, archives, xFilesFactor=0.5, aggregationMethod="average")
        phase = s * metrics + m
        base = now - now % archives[0][0]
        points = [(base - off, round(50 + 40 * math.sin((off // 10 + phase) / 60.0), 3))
                  for off in offsets if off < archives[-1][0] * archives[-1][1] - archives[-1][0]]
        whisper.update_many(path, points, now=now)
print("created %d files under %s (retentions %s, %d points each), last point at %d" % (
    servers * metrics, root, retentions, len(offsets), now - now % archives[0][0]))
