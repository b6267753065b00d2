#!/usr/bin/env python3
"""Soak test of lonsdaleite under mixed load with faults injected (issue 13 item 6).

Runs `lonsdaleite serve` for DURATION seconds with StatsD counters (UDP), carbon plaintext
(TCP), carbon pickle (TCP) and renders (HTTP) all the time, and injects, in turn:
a hostile /metrics/find, a pickle bomb, 300 names no file can hold, the forward target
going down and coming back, part of the whisper tree becoming unwritable, SIGHUP, a
SIGKILL and restart, and a SIGTERM and restart. Then it stops the load, lets the last
flush happen, stops the server and counts:

- every carbon and pickle point sent against the points found in the whisper files
  (each (series, timestamp) is sent once);
- every StatsD counter increment sent against the sum of the stats_counts files;
- what the SIGKILL can have lost: the points in the caches and the StatsD interval in
  progress at the kill (the admin stats polled every second before it), which is the
  only loss allowed;
- RSS and CPU of the server every second (timeline.csv).

Usage (from bench/soak.sh, which builds the binaries first):
  soak.py BIN OUTDIR [--duration 600] [--statsd-rate 20000] [--carbon-rate 5000]
Needs: Python 3 with the `whisper` package (tests/run-all installs it), root for chattr.
"""
import argparse
import atexit
import json
import os
import pickle
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import whisper


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, file=sys.stderr, flush=True)


class Server:
    """One `lonsdaleite serve` process on loopback ports chosen by the kernel."""

    def __init__(self, binary, data_dir, config, forward, log_path):
        self.binary, self.data_dir, self.config, self.forward = binary, data_dir, config, forward
        self.log_path = log_path
        self.proc = None
        self.addrs = {}
        # Bumped at every start: a sender holding a connection to an earlier process drops
        # it before sending, so no batch is written into a connection whose server was
        # killed (TCP would take it, and the kernel drop it, without the sender knowing).
        self.generation = 0

    def start(self):
        args = [self.binary, "serve", "--config", self.config, "--data-dir", self.data_dir,
                "--statsd-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
                "--carbon-addr", "127.0.0.1:0", "--pickle-addr", "127.0.0.1:0",
                "--http-addr", "127.0.0.1:0", "--forward", self.forward]
        self.stderr = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.stderr)
        STARTED.append(self.proc)
        self.addrs = {}
        while "admin" not in self.addrs:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise SystemExit("server exited at start; see server.log")
            f = line.split()
            if f[:1] == ["listening"]:
                host, port = f[3].rsplit(":", 1)
                self.addrs[f"{f[1]} {f[2]}"] = (host, int(port))
                if f[1] == "admin":
                    self.addrs["admin"] = (host, int(port))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.generation += 1
        log("server", self.proc.pid, "listening", {k: v[1] for k, v in self.addrs.items()})

    def stats(self):
        try:
            with socket.create_connection(self.addrs["admin"], timeout=5) as s:
                s.sendall(b"stats\n")
                data = b""
                while b"END" not in data:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return {}
        out = {}
        for line in data.decode().splitlines():
            k, _, v = line.partition(": ")
            try:
                out[k] = int(v)
            except ValueError:
                pass
        return out

    def usage(self):
        """(RSS KiB, CPU seconds) from /proc."""
        try:
            status = open(f"/proc/{self.proc.pid}/status").read()
            rss = int(next(l for l in status.splitlines() if l.startswith("VmRSS:")).split()[1])
            st = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
            cpu = (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")
            return rss, cpu
        except (OSError, StopIteration, IndexError):
            return 0, 0.0

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        t0 = time.time()
        code = self.proc.wait(timeout=timeout)
        return code, time.time() - t0


# Every server process started; whatever ends the soak (an error included) kills those
# still running, so a failed soak leaves no server behind.
STARTED = []


@atexit.register
def kill_started():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Sink:
    """The forward target: a TCP listener that counts lines, which can be taken down.
    Down, its port stays bound but not listening (connects are refused), so no other
    process on the machine can take the port before it comes back up."""

    def __init__(self):
        self.lines = 0
        self.lock = threading.Lock()
        self.conns = []
        self.listener, self.port = self.free_port()
        self.up()

    @classmethod
    def free_port(cls):
        """A port below the kernel's ephemeral range, so that neither another process's
        bind to port 0 nor a connect's own local port can take it while the sink is down."""
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
        for port in random.Random().sample(range(max(1024, low - 12000), low), 200):
            try:
                return cls.bound(port), port
            except OSError:
                continue
        raise SystemExit("no free port below the ephemeral range for the forward sink")

    @staticmethod
    def bound(port):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return sock

    def up(self):
        self.listener.listen(16)
        threading.Thread(target=self.accept, args=(self.listener,), daemon=True).start()

    def down(self):
        """Refuses new connections and cuts the open ones, as a stopped carbon would."""
        # shutdown first: close() alone leaves the socket listening while the accept
        # thread is blocked in accept() on it (and the port bound to it).
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        time.sleep(0.05)
        self.listener = self.bound(self.port)
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def accept(self, listener):
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self.read, args=(conn,), daemon=True).start()

    def read(self, conn):
        buf = b""
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            n = buf.count(b"\n")
            buf = buf[buf.rfind(b"\n") + 1:]
            with self.lock:
                self.lines += n


class Connection:
    """One sender's TCP connection to the server's `listener`, made again after an error
    and whenever the server has been started again (see Server.generation)."""

    def __init__(self, load, listener):
        self.load, self.listener = load, listener
        self.sock, self.generation = None, 0

    def send(self, data):
        """Sends all of `data`, waiting out pauses and restarts."""
        server = self.load.server
        while True:
            try:
                if self.sock is not None and self.generation != server.generation:
                    self.sock.close()
                    self.sock = None
                if self.sock is None:
                    self.generation = server.generation
                    self.sock = socket.create_connection(server.addrs[self.listener], timeout=10)
                self.sock.sendall(data)
                return
            except OSError:
                self.sock = None
                self.load.wait_running()
                time.sleep(0.05)


class Load:
    """The senders. Each (series, timestamp) of carbon and pickle is sent once; StatsD
    counters count their increments. `paused` stops every sender (around restarts)."""

    def __init__(self, args, base_ts):
        self.args = args
        self.base_ts = base_ts
        self.stop = threading.Event()
        self.paused = threading.Event()
        self.server = None
        self.statsd_sent = 0
        self.carbon_sent = {}  # series -> count of points sent (timestamps base_ts..)
        self.pickle_sent = {}
        self.renders = [0, 0, 0.0]  # ok, failed, worst seconds
        self.lock = threading.Lock()

    def wait_running(self):
        while self.paused.is_set() and not self.stop.is_set():
            time.sleep(0.01)

    def statsd(self):
        rate = self.args.statsd_rate
        per = 25
        names = [f"soak.c.k{i}" for i in range(self.args.statsd_keys)]
        i = 0
        t0 = time.time()
        while not self.stop.is_set():
            self.wait_running()
            addr = self.server.addrs["statsd udp"]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                for _ in range(50):
                    lines = "\n".join(f"{names[(i + j) % len(names)]}:1|c" for j in range(per))
                    try:
                        s.sendto(lines.encode(), addr)
                        with self.lock:
                            self.statsd_sent += per
                    except OSError:
                        pass
                    i += per
            # pace
            ahead = self.statsd_sent / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def carbon_points(self, table, prefix, n, series):
        """`n` new points, each a fresh (series, timestamp)."""
        out = []
        for _ in range(n):
            k = len(out) + sum(table.values())
            name = f"{prefix}.s{k % series}"
            step = table.get(name, 0)
            table[name] = step + 1
            out.append((name, self.base_ts + step, float(step % 97 + 1)))
        return out

    def carbon(self):
        rate = self.args.carbon_rate
        sent = 0
        t0 = time.time()
        conn = Connection(self, "carbon tcp")
        while not self.stop.is_set():
            self.wait_running()
            with self.lock:
                pts = self.carbon_points(self.carbon_sent, "soak.carbon", 500, self.args.carbon_series)
            text = "".join(f"{n} {v} {t}\n" for n, t, v in pts).encode()
            conn.send(text)
            sent += len(pts)
            ahead = sent / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)

    def pickles(self):
        conn = Connection(self, "pickle tcp")
        while not self.stop.is_set():
            self.wait_running()
            with self.lock:
                pts = self.carbon_points(self.pickle_sent, "soak.pickle", 200, self.args.carbon_series // 4)
            body = pickle.dumps([(n, (t, v)) for n, t, v in pts], protocol=2)
            msg = struct.pack("!L", len(body)) + body
            conn.send(msg)
            time.sleep(0.2)

    def renders_loop(self):
        targets = ["soak.carbon.s1", "sumSeries(soak.carbon.s1*)", "soak.c.*"]
        i = 0
        while not self.stop.is_set():
            self.wait_running()
            host, port = self.server.addrs["http tcp"]
            t = targets[i % len(targets)]
            i += 1
            url = f"http://{host}:{port}/render?target={t}&from=-1h&format=json"
            t0 = time.time()
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    r.read()
                ok = True
            except OSError:
                ok = False
            took = time.time() - t0
            with self.lock:
                self.renders[0 if ok else 1] += 1
                self.renders[2] = max(self.renders[2], took)
            time.sleep(0.2)


def fault_find(srv):
    host, port = srv.addrs["http tcp"]
    q = "{,}" * 30 + "x"
    t0 = time.time()
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics/find?query={urllib.parse.quote(q)}", timeout=30) as r:
            code = r.status
    except urllib.error.HTTPError as e:
        code = e.code
    except OSError as e:
        code = str(e)
    return f"hostile find answered {code} in {time.time() - t0:.2f}s"


def fault_pickle_bomb(srv):
    name = "a" * 20000 + "\\u0041"
    bomb = b"](" + f"(V{name}\n(I{int(time.time())}\nF1.0\ntt".encode() + b"2" * 10000 + b"e."
    with socket.create_connection(srv.addrs["pickle tcp"], timeout=10) as c:
        c.sendall(struct.pack("!L", len(bomb)) + bomb)
        c.settimeout(10)
        closed = c.recv(1) == b""
    return f"pickle bomb of {len(bomb)} bytes: connection closed {closed}"


def fault_bad_names(srv):
    t = int(time.time())
    text = "".join(f"soak.bad.{'x' * 300}.m{i} 1 {t}\n" for i in range(300))
    with socket.create_connection(srv.addrs["carbon tcp"], timeout=10) as c:
        c.sendall(text.encode())
    return "300 names with a 300-byte element sent"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("outdir")
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--statsd-rate", type=int, default=20000)
    ap.add_argument("--statsd-keys", type=int, default=500)
    ap.add_argument("--carbon-rate", type=int, default=5000)
    ap.add_argument("--carbon-series", type=int, default=4000)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="soak.")
    data = os.path.join(work, "data")
    conf = os.path.join(work, "lonsdaleite.toml")
    with open(conf, "w") as f:
        f.write('[statsd]\nflush_interval = "2s"\n')
    with open(os.path.join(work, "storage-schemas.conf"), "w") as f:
        f.write("[soak_carbon]\npattern = ^soak\\.(carbon|pickle)\\.\nretentions = 1s:3h\n"
                "[statsd]\npattern = ^stats\nretentions = 1s:3h\n[rest]\npattern = .*\nretentions = 60s:1d\n")
    sink = Sink()
    srv = Server(args.binary, data, conf, f"127.0.0.1:{sink.port}",
                 os.path.join(args.outdir, "server.log"))
    srv.start()
    # Carbon points walk forward from here, about one step a second per series. The 3 h
    # archive must still hold the first of them when they are counted at the end (run,
    # restarts and final waits): whisper's fetch leaves out what is older than 3 h.
    base_ts = int(time.time()) - 3 * 3600 + args.duration + 900
    load = Load(args, base_ts)
    load.server = srv
    threads = [threading.Thread(target=f, daemon=True) for f in
               (load.statsd, load.carbon, load.pickles, load.renders_loop)]
    for t in threads:
        t.start()

    timeline = open(os.path.join(args.outdir, "timeline.csv"), "w")
    timeline.write("seconds,rss_kib,cpu_seconds,statsd_sent,carbon_sent,cache_points,event\n")
    events, lost_at_kill = [], None
    last_stats = {}
    plan = {60: "find", 90: "pickle", 120: "names", 180: "forward_down", 240: "forward_up",
            270: "unwritable", 330: "writable", 360: "sighup", 420: "sigkill", 480: "sigterm"}
    scale = args.duration / 600
    plan = {int(k * scale): v for k, v in plan.items()}
    started = time.time()
    cpu_before = 0.0
    blocked = []  # the files made immutable, chosen among those that exist at the time
    sent_at = []  # (unix time, statsd increments sent so far), every second
    while time.time() - started < args.duration:
        time.sleep(1)
        s = int(time.time() - started)
        stats = srv.stats()
        if stats:
            last_stats = stats
        rss, cpu = srv.usage()
        sent_at.append((time.time(), load.statsd_sent))
        due = [k for k in sorted(plan) if k <= s]
        ev = plan.pop(due[0]) if due else ""
        note = ""
        if ev == "find":
            # In a thread: a server that hangs on it must not stop the soak's clock.
            threading.Thread(target=lambda: log(fault_find(srv)), daemon=True).start()
            note = "hostile find sent"
        elif ev == "pickle":
            note = fault_pickle_bomb(srv)
        elif ev == "names":
            note = fault_bad_names(srv)
        elif ev == "forward_down":
            sink.down()
            note = "forward target down"
        elif ev == "forward_up":
            sink.up()
            note = "forward target up"
        elif ev == "unwritable":
            pickle_dir = os.path.join(data, "whisper", "soak", "pickle")
            blocked = sorted(os.path.join(pickle_dir, f) for f in os.listdir(pickle_dir))[:10]
            r = subprocess.run(["chattr", "+i", *blocked], capture_output=True)
            note = f"chattr +i on {len(blocked)} pickle series' files: exit {r.returncode}"
        elif ev == "writable":
            subprocess.run(["chattr", "-i", *blocked], capture_output=True)
            note = "writable again"
        elif ev == "sighup":
            srv.signal(signal.SIGHUP)
            note = "SIGHUP"
        elif ev == "sigkill":
            load.paused.set()
            time.sleep(0.5)
            before = srv.stats() or last_stats
            boundary = int(time.time()) // 2 * 2
            at_boundary = max((n for t, n in sent_at if t <= boundary), default=0)
            lost_at_kill = {
                "cache_points": before.get("storage.cache_size", 0),
                "statsd_increments_since_the_last_flush": load.statsd_sent - at_boundary,
            }
            cpu_before += srv.usage()[1]
            srv.signal(signal.SIGKILL)
            srv.wait(30)
            srv.start()
            load.paused.clear()
            note = f"SIGKILL with {lost_at_kill['cache_points']} points cached; restarted"
        elif ev == "sigterm":
            load.paused.set()
            time.sleep(0.5)
            cpu_before += srv.usage()[1]
            srv.signal(signal.SIGTERM)
            code, took = srv.wait(60)
            srv.start()
            load.paused.clear()
            note = f"SIGTERM: exit {code} after {took:.1f}s; restarted"
        if note:
            log(note)
            events.append((s, note))
        timeline.write(f"{s},{rss},{cpu_before + cpu:.2f},{load.statsd_sent},"
                       f"{sum(load.carbon_sent.values())},{stats.get('storage.cache_size', '')},{note}\n")
        timeline.flush()
    load.stop.set()
    time.sleep(1)
    log("load stopped; waiting two flushes")
    time.sleep(5)
    final_stats = srv.stats()
    cpu_total = cpu_before + srv.usage()[1]
    srv.signal(signal.SIGTERM)
    code, took = srv.wait(60)
    log(f"final SIGTERM: exit {code} after {took:.1f}s")

    # Count what is on disk.
    root = os.path.join(data, "whisper")

    def stored(name, want_from, count):
        path = os.path.join(root, *name.split(".")) + ".wsp"
        if not os.path.exists(path):
            return 0
        (start, end, step), values = whisper.fetch(path, want_from - 1, want_from + count + 1)
        return sum(1 for i, v in enumerate(values) if v is not None and want_from <= start + i * step < want_from + count)

    carbon_sent = sum(load.carbon_sent.values()) + sum(load.pickle_sent.values())
    carbon_found = sum(stored(n, base_ts, c) for n, c in load.carbon_sent.items())
    carbon_found += sum(stored(n, base_ts, c) for n, c in load.pickle_sent.items())
    now = int(time.time())
    counted = 0.0
    for i in range(args.statsd_keys):
        path = os.path.join(root, "stats_counts", "soak", "c", f"k{i}.wsp")
        if os.path.exists(path):
            _, values = whisper.fetch(path, now - 3 * 3600 + 10, now)
            counted += sum(v for v in values if v is not None)
    summary = {
        "duration_s": args.duration,
        "carbon_and_pickle_points": {"sent": carbon_sent, "found": carbon_found,
                                     "missing": carbon_sent - carbon_found},
        "statsd_counter_increments": {"sent": load.statsd_sent, "found": int(counted),
                                      "missing": load.statsd_sent - int(counted)},
        "lost_at_sigkill_upper_bound": lost_at_kill,
        "renders": {"ok": load.renders[0], "failed": load.renders[1], "worst_s": round(load.renders[2], 2)},
        "forward_lines_received": sink.lines,
        "server_cpu_seconds": round(cpu_total, 1),
        "final_stats": {k: v for k, v in final_stats.items() if any(
            k.startswith(p) for p in ("storage.", "carbon.", "messages.", "graphite."))},
        "events": events,
        "final_exit": {"code": code, "seconds": round(took, 1)},
    }
    with open(os.path.join(args.outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    import urllib.parse  # noqa: F401  (used by fault_find)
    main()
