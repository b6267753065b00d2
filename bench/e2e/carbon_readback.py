"""The measured window of carbon-vs-carbon-cache.sh, the same for every server: it starts
the sender and ends at the first moment every point sent can be read back from the whisper
files. The servers' own counters play no part.

Usage:
  carbon_readback.py run  WHISPER_DIR NAMES HISTORY STEP NEWEST POLL TIMEOUT OUT.json -- SENDER...
  carbon_readback.py check WHISPER_DIR NAMES HISTORY STEP NEWEST

`run` notes the time (time.time()), runs SENDER (loadgen; its stdout goes to OUT.json's
neighbour `loadgen.json`), and once the sender has exited (a server cannot have stored the
last line before it was sent) reads the files in passes: every POLL seconds after the end
of a pass it looks at each series not yet complete. A series is complete when archive 0 of
its file holds all HISTORY timestamps NEWEST - k*STEP (k < HISTORY, aligned down to the
archive's resolution): first a 12-byte read of the newest point's slot, and only when that
holds, one read of the archive to check every expected slot. The window ends at the read
that found the last series complete; the true moment lies after the previous pass looked at
that series, so OUT.json also gives that bound (`end_uncertainty_s`). Files are kept open
once they exist (a created file is only ever written in place afterwards).

`check` does one full pass (untimed) and prints "COMPLETE/NAMES", for the raw output.

Names are loadgen's: PREFIX bench, bench/gNN/metricNNNNNNN.wsp with NN = index mod 100.
Timestamps: loadgen writes NEWEST = its clock in seconds at start on the last pass; the
caller starts it where NEWEST and NEWEST+2 fall into the same archive slot, so the aligned
timestamps are known exactly.
"""
import json
import os
import resource
import struct
import subprocess
import sys
import time

HEADER = struct.Struct(">LLfL")
ARCHIVE = struct.Struct(">LLL")
POINT_TS = struct.Struct(">L")


def path_of(root, i):
    return os.path.join(root, "bench", "g%02d" % (i % 100), "metric%07d.wsp" % i)


class Series:
    """One whisper file being watched: its descriptor and archive 0's geometry."""

    __slots__ = ("path", "fd", "offset", "spp", "points")

    def __init__(self, path):
        self.path = path
        self.fd = None
        self.offset = None

    def open(self, keep):
        """True when the file exists and its header is complete."""
        if self.offset is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        head = os.pread(fd, HEADER.size + ARCHIVE.size, 0)
        if len(head) < HEADER.size + ARCHIVE.size:
            os.close(fd)
            return False
        _, _, _, count = HEADER.unpack_from(head, 0)
        offset, spp, points = ARCHIVE.unpack_from(head, HEADER.size)
        if count == 0 or offset == 0 or spp == 0 or points == 0:
            os.close(fd)  # header still being written
            return False
        self.offset, self.spp, self.points = offset, spp, points
        if keep:
            self.fd = fd
        else:
            os.close(fd)
        return True

    def read(self, pos, size):
        if self.fd is not None:
            return os.pread(self.fd, size, pos)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return os.pread(fd, size, pos)
        finally:
            os.close(fd)


class Expect:
    """The HISTORY aligned timestamps every series must hold."""

    def __init__(self, history, step, newest):
        self.history, self.step, self.newest = history, step, newest
        self.cache = {}

    def for_resolution(self, spp, points):
        key = (spp, points)
        if key not in self.cache:
            if self.step % spp:
                raise SystemExit("STEP %d is not a multiple of archive 0's %d s" % (self.step, spp))
            stride = self.step // spp
            if (self.history - 1) * stride >= points:
                raise SystemExit("HISTORY x STEP does not fit archive 0 (%d points of %d s)" % (points, spp))
            newest = self.newest - self.newest % spp
            oldest = newest - (self.history - 1) * self.step
            stamps = [oldest + k * self.step for k in range(self.history)]
            # byte j of each expected timestamp, oldest first (compared as one bytes object)
            columns = [bytes((t >> (24 - 8 * j)) & 0xFF for t in stamps) for j in range(4)]
            self.cache[key] = (newest, oldest, stride, columns)
        return self.cache[key]

    def newest_present(self, s):
        newest, _, _, _ = self.for_resolution(s.spp, s.points)
        base = POINT_TS.unpack(s.read(s.offset, 4))[0]
        if base == 0:
            return False
        slot = ((newest - base) // s.spp) % s.points
        got = s.read(s.offset + 12 * slot, 4)
        return len(got) == 4 and POINT_TS.unpack(got)[0] == newest

    def all_present(self, s):
        _, oldest, stride, columns = self.for_resolution(s.spp, s.points)
        buf = s.read(s.offset, 12 * s.points)
        if len(buf) < 12 * s.points:
            return False
        base = POINT_TS.unpack_from(buf, 0)[0]
        if base == 0:
            return False
        first = ((oldest - base) // s.spp) % s.points
        rotated = buf[12 * first:] + buf[:12 * first]
        end = 12 * stride * self.history
        return all(rotated[j:end:12 * stride] == columns[j] for j in range(4))


def complete(s, expect, keep):
    return s.open(keep) and expect.newest_present(s) and expect.all_present(s)


def main():
    mode, root = sys.argv[1], sys.argv[2]
    names, history, step, newest = (int(x) for x in sys.argv[3:7])
    expect = Expect(history, step, newest)
    series = [Series(path_of(root, i)) for i in range(names)]
    if mode == "check":
        ok = sum(1 for s in series if complete(s, expect, False))
        print("%d/%d" % (ok, names))
        return
    poll, timeout, out = float(sys.argv[7]), float(sys.argv[8]), sys.argv[9]
    sender = sys.argv[sys.argv.index("--") + 1:]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = names + 64
    if soft < want <= hard or hard == resource.RLIM_INFINITY:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    keep = resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want
    with open(os.path.join(os.path.dirname(out), "loadgen.json"), "wb") as lg:
        t_start = time.time()
        code = subprocess.call(sender, stdout=lg)
    t_sent = time.time()
    if code != 0:
        raise SystemExit("sender exited with %d: %s" % (code, " ".join(sender)))
    todo = list(range(names))
    last_look = {}
    passes = 0
    t_end = None
    end_lower = None
    deadline = t_sent + timeout
    while todo:
        passes += 1
        left = []
        for i in todo:
            t = time.time()
            if complete(series[i], expect, keep):
                t_end, end_lower = t, last_look.get(i, t_sent)
            else:
                last_look[i] = t
                left.append(i)
        todo = left
        if not todo:
            break
        if time.time() > deadline:
            break
        time.sleep(poll)
    result = {
        "rule": "window = sender start .. first read at which every series' file held all "
                "HISTORY points (archive 0), polled every %.3f s after each pass" % poll,
        "t_start": t_start,
        "t_sent": t_sent,
        "t_end": t_end,
        "end_uncertainty_s": None if t_end is None else round(t_end - end_lower, 6),
        "passes": passes,
        "complete": names - len(todo),
        "names": names,
        "timed_out": bool(todo),
        "descriptors_kept_open": keep,
    }
    with open(out, "w") as f:
        json.dump(result, f)
        f.write("\n")
    if todo:
        raise SystemExit("%d of %d series incomplete after %.0f s" % (len(todo), names, timeout))


main()
