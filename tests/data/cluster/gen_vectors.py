"""Placements printed by the real tools, for tests/cluster_ring.rs.

Usage (gen_vectors.sh runs it): python3 gen_vectors.py CARBON_LIB_DIR OUT_DIR

Writes into OUT_DIR:
  names.txt   the metric names every placement section covers, one a line (UTF-8, no
              spaces): generated from a fixed seed, plus "probe" names whose hash lands on
              a ring position that two points share (or just above one), where the two
              implementations can differ.
  relay.txt   carbon-c-relay's placements, from its test mode: `carbon-c-relay -t -f CONF`
              with one `cluster c <ring> [replication N] <members> ;` and `match * send to
              c stop;`, the names on stdin, the member it prints under each name recorded.
  carbon.txt  carbon 1.1.10's placements: its own ConsistentHashingRouter (routers.py,
              on hashing.py's ConsistentHashRing) with REPLICATION_FACTOR and
              DIVERSE_REPLICAS=True, getDestinations(name) for every name.
  intake.txt  carbon-c-relay's daemon: lines "NAME INDEX 1700000000" sent over TCP to a
              running relay whose cluster members are local listeners; recorded per line:
              the name sent, the name the member received, and which member got it.

Section format of relay.txt and carbon.txt:
  section <ring> replicas=<N>
  node <HOST[:PORT][=INSTANCE]>        one per member, in config order
  owners <i>[,<j>...] ...              member indexes (0-based) for each name of
                                       names.txt in order, owner first; split over lines
"""
import hashlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types

RELAY = "carbon-c-relay"
LONG_INSTANCE = "x" * 260

# Member sets, in config order. Instances are spelled as the relay's config spells them.
SETS = {
    "three": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
    "four_instances": ["10.0.0.1:2003=a", "10.0.0.1:2103=b", "10.0.0.2:2003=a", "10.0.0.2:2103=b"],
    "ten_numbered": ["192.168.1.%d:2004=%s" % (i, "03" if i == 3 else str(i)) for i in range(1, 11)],
    "ten_ports_one_host": ["127.0.0.1:%d" % (2003 + i) for i in range(10)],
    "mixed": ["10.0.0.5", "10.0.0.1=b", "10.0.0.2", "10.0.0.3=a", "10.0.0.4=10",
              "[::1]:2005=c", "localhost:2006"],
    "odd_instances": ["10.0.1.1=9", "10.0.1.2=10", "10.0.1.3=1a", "10.0.1.4=4294967297",
                      "10.0.1.5=" + LONG_INSTANCE],
    "three_reversed": ["10.0.0.3", "10.0.0.2", "10.0.0.1"],
}

# (set, ring, replicas)
RELAY_SECTIONS = [
    (s, ring, 1)
    for s in ["three", "four_instances", "ten_numbered", "ten_ports_one_host", "mixed", "odd_instances"]
    for ring in ["carbon_ch", "fnv1a_ch", "jump_fnv1a_ch"]
] + [
    ("four_instances", "carbon_ch", 2), ("four_instances", "fnv1a_ch", 2),
    ("four_instances", "jump_fnv1a_ch", 2), ("ten_numbered", "carbon_ch", 3),
    ("ten_numbered", "jump_fnv1a_ch", 3),
]
# carbon refuses ten_ports_one_host: ('127.0.0.1', None) ten times.
CARBON_SECTIONS = [
    (s, ring, 1)
    for s in ["three", "three_reversed", "four_instances", "ten_numbered", "mixed", "odd_instances"]
    for ring in ["carbon_ch", "fnv1a_ch"]
] + [("four_instances", "carbon_ch", 2), ("ten_numbered", "carbon_ch", 3),
     ("ten_numbered", "fnv1a_ch", 2)]


def parse_spec(spec):
    """HOST[:PORT][=INSTANCE] -> (host, port, instance or None), as the relay reads it."""
    addr, _, inst = spec.partition("=")
    inst = inst or None
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = int(rest[1:]) if rest else 2003
    elif ":" in addr:
        host, port = addr.split(":")
        port = int(port)
    else:
        host, port = addr, 2003
    return host, port, inst


def relay_instance(inst):
    """The relay's lexer reads an all-digit instance with atoi and prints it with %d."""
    if inst is None or not inst.isdigit():
        return inst
    v = min(int(inst), 2 ** 63 - 1) & 0xFFFFFFFF
    return str(v - 2 ** 32 if v >= 2 ** 31 else v)


def address(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# ---------------------------------------------------------------- names

def generated_names(rng):
    words = ["api", "web", "db", "cache", "queue", "auth", "search", "billing", "edge", "mail"]
    metrics = ["cpu.user", "cpu.system", "memory.used", "disk.sda.reads", "net.eth0.rx_bytes",
               "requests.count", "latency.p99", "latency.mean", "errors.5xx", "gc.pause_ms"]
    out = []
    for i in range(2400):
        kind = i % 8
        if kind == 0:
            out.append("servers.%s-%02d.%s" % (rng.choice(words), rng.randrange(100), rng.choice(metrics)))
        elif kind == 1:
            out.append("stats.timers.%s.%s.%s" % (rng.choice(words), rng.choice(words), rng.choice(["upper_90", "mean", "count"])))
        elif kind == 2:
            out.append("collectd.host%d.%s" % (rng.randrange(10000), rng.choice(metrics)))
        elif kind == 3:
            out.append("m%d" % rng.randrange(10 ** 9))
        elif kind == 4:
            parts = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-") for _ in range(rng.randrange(1, 12)))
                     for _ in range(rng.randrange(1, 8))]
            out.append(".".join(parts))
        elif kind == 5:
            out.append("%s.%s;host=h%d;dc=%s" % (rng.choice(words), rng.choice(metrics), rng.randrange(50), rng.choice(["eu", "us"])))
        elif kind == 6:
            uni = rng.choice(["ümlaut", "日本語", "naïve", "😀", "ßtraße", "κόσμε", "\u00a0nbsp", "é\u0301"])
            out.append("intl.%s.%d" % (uni, rng.randrange(1000)))
        else:
            odd = rng.choice(["a..b", ".lead", "trail.", "x/y", "with:colon", "#hash", "q?x=1", "a;", "[br]", "~t", "a@b"])
            out.append("odd.%s.%d" % (odd, rng.randrange(1000)))
    out += ["a", "b", "0", "x" * 300, "y" * 255, "foo.bar", "carbon.agents.host.cpuUsage"]
    return out


def fold(h):
    return (h >> 16) ^ (h & 0xFFFF)


def fnv32(data):
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def md5_16(data):
    return int(hashlib.md5(data).hexdigest()[:4], 16)


def tie_targets():
    """Positions shared by two points of some member set (by either implementation's key
    texts), with the two above: keys hashing there are where the rings can differ."""
    md5_targets, fnv_targets = set(), set()
    for specs in SETS.values():
        nodes = [parse_spec(s) for s in specs]
        seen_md5, seen_fnv = {}, {}
        for n, (host, port, inst) in enumerate(nodes):
            relay_inst = relay_instance(inst)
            for i in range(100):
                keys_md5 = [repr((host, inst)) + ":%d" % i]
                if relay_inst is not None:
                    keys_md5.append(("('%s', '%s'):%d" % (host, relay_inst, i))[:255])
                keys_fnv = ["%d-%s" % (i, inst)]
                keys_fnv.append(("%d-%s" % (i, relay_inst) if relay_inst else "%d-%s:%d" % (i, host, port))[:255])
                for k in keys_md5:
                    p = md5_16(k.encode())
                    if seen_md5.setdefault(p, n) != n:
                        md5_targets.update([p, p + 1, p + 2])
                for k in keys_fnv:
                    p = fold(fnv32(k.encode()))
                    if seen_fnv.setdefault(p, n) != n:
                        fnv_targets.update([p, p + 1, p + 2])
    return md5_targets, fnv_targets


def probe_names():
    md5_targets, fnv_targets = tie_targets()
    found = {}
    i = 0
    while (md5_targets or fnv_targets) and i < 4_000_000:
        name = "probe.%d" % i
        b = name.encode()
        p = md5_16(b)
        if p in md5_targets:
            md5_targets.discard(p)
            found[name] = 1
        p = fold(fnv32(b))
        if p in fnv_targets:
            fnv_targets.discard(p)
            found[name] = 1
        i += 1
    return sorted(found, key=lambda n: int(n.split(".")[1]))


# ---------------------------------------------------------------- carbon-c-relay -t

def relay_config(ring, replicas, specs):
    repl = " replication %d" % replicas if replicas > 1 else ""
    return "cluster c %s%s\n    %s\n    ;\nmatch * send to c stop;\n" % (ring, repl, "\n    ".join(specs))


def relay_placements(ring, replicas, specs, names, tmp):
    conf = os.path.join(tmp, "relay.conf")
    with open(conf, "w") as f:
        f.write(relay_config(ring, replicas, specs))
    proc = subprocess.run([RELAY, "-t", "-f", conf], input=("\n".join(names) + "\n").encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    index = {address(*parse_spec(s)[:2]): n for n, s in enumerate(specs)}
    lines = proc.stdout.decode().split("\n")
    out = []
    i = lines.index("parsed configuration follows:")
    for name in names:
        while lines[i] != "match":
            i += 1
        assert lines[i + 1] == "    * -> " + name, (lines[i + 1], name)
        assert lines[i + 2] == "    %s(c)" % ring, lines[i + 2]
        owners = [index[lines[i + 3 + r].strip()] for r in range(replicas)]
        assert lines[i + 3 + replicas] == "    stop", lines[i + 3 + replicas]
        out.append(owners)
        i += 4 + replicas
    return out


# ---------------------------------------------------------------- carbon 1.1.10

def stub_imports():
    # carbon.util imports twisted and carbon.log at module level for helpers the router
    # does not use; empty stand-ins when they are not installed.
    for mod, attrs in {
        "twisted": {},
        "twisted.python": {},
        "twisted.python.util": {"initgroups": None},
        "twisted.scripts": {},
        "twisted.scripts.twistd": {"runApp": None},
        "carbon.log": {"setDebugEnabled": lambda *_: None},
    }.items():
        try:
            __import__(mod)
        except ImportError:
            m = types.ModuleType(mod)
            m.__dict__.update(attrs)
            sys.modules[mod] = m


def carbon_placements(ring, replicas, specs, names):
    from carbon.routers import ConsistentHashingRouter

    class Settings:
        REPLICATION_FACTOR = replicas
        DIVERSE_REPLICAS = True
        ROUTER_HASH_TYPE = ring

    router = ConsistentHashingRouter(Settings)
    index = {}
    for n, spec in enumerate(specs):
        host, port, inst = parse_spec(spec)
        router.addDestination((host, port, inst))
        index[(host, inst)] = n
    return [[index[(h, i)] for (h, _, i) in router.getDestinations(name)] for name in names]


# ---------------------------------------------------------------- the relay daemon

INTAKE_NAMES = [
    "a.b.c", "..a...b..", ".lead", "trail.", "a.b.", "a..b;x=1", "a.;x=1", "a;.x=1", "a;x=1..2",
    "a;x=1;y=2", ";x=1", "a/b", "a@b!c$d%e", "a(b)[c]{d}", "a-b_c:d#e", "ümlaut.x",
    "日本語.metric", "emoji.😀", "ctrl.\x01.x", "del.\x7f.x", "q?x=1&y=2", "a;tag=ü/é", "a~b",
    "a|b", "a,b", "a+b", "a*b", "a'b\"c", "a\\b", "a;x=a.b.c", "a;x=.y", "...;x=1",
    "stats.counters.api.requests.count;env=prod;dc=eu",
]


def listen_all(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        socks.append(s)
    return socks


def collect(sock, into, n):
    def serve(conn):
        buf = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                into.append((n, line))

    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def relay_daemon(ring, names, tmp):
    socks = listen_all(4)
    specs = ["127.0.0.1:%d=%s" % (s.getsockname()[1], inst) for s, inst in zip(socks, "abcd")]
    received = []
    for n, s in enumerate(socks):
        threading.Thread(target=collect, args=(s, received, n), daemon=True).start()
    conf = os.path.join(tmp, "daemon.conf")
    with open(conf, "w") as f:
        f.write(relay_config(ring, 1, specs))
    port = free_port()
    # -s: no statistics of its own in the stream; -w 1: one worker.
    relay = subprocess.Popen([RELAY, "-f", conf, "-p", str(port), "-s", "-w", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("the relay did not listen on %d" % port)
        conn.sendall(b"".join(b"%s %d 1700000000\n" % (name.encode(), i) for i, name in enumerate(names)))
        conn.close()
        deadline = time.time() + 20
        while len(received) < len(names) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        relay.terminate()
        relay.wait()
        for s in socks:
            s.close()
    assert len(received) == len(names), "sent %d lines, received %d" % (len(names), len(received))
    rows = [None] * len(names)
    for n, line in received:
        assert line.count(b" ") >= 2, line
        name, value, ts = line.rsplit(b" ", 2)
        rows[int(value)] = (names[int(value)], name.decode(), n)
    return specs, rows


# ---------------------------------------------------------------- output

def write_sections(path, header, sections, placements):
    with open(path, "w") as f:
        f.write(header)
        for (set_name, ring, replicas), owners in zip(sections, placements):
            f.write("\n# %s\nsection %s replicas=%d\n" % (set_name, ring, replicas))
            for spec in SETS[set_name]:
                f.write("node %s\n" % spec)
            tokens = [",".join(str(o) for o in own) for own in owners]
            for k in range(0, len(tokens), 40):
                f.write("owners %s\n" % " ".join(tokens[k:k + 40]))


def main():
    carbon_lib, out_dir = sys.argv[1], sys.argv[2]
    sys.path.insert(0, carbon_lib)
    stub_imports()
    version = subprocess.run([RELAY, "-v"], stdout=subprocess.PIPE, check=True).stdout.decode().split("\n")[0]
    names = generated_names(random.Random(14)) + probe_names()
    assert all(" " not in n and "\n" not in n and "\t" not in n for n in names)
    with open(os.path.join(out_dir, "names.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    with tempfile.TemporaryDirectory() as tmp:
        relay = [relay_placements(ring, r, SETS[s], names, tmp) for s, ring, r in RELAY_SECTIONS]
        write_sections(os.path.join(out_dir, "relay.txt"),
                       "# %s, test mode (-t), by gen_vectors.sh; names.txt in order\n" % version,
                       RELAY_SECTIONS, relay)
        carbon = [carbon_placements(ring, r, SETS[s], names) for s, ring, r in CARBON_SECTIONS]
        write_sections(os.path.join(out_dir, "carbon.txt"),
                       "# carbon 1.1.10 ConsistentHashingRouter (DIVERSE_REPLICAS=True), by gen_vectors.sh; names.txt in order\n",
                       CARBON_SECTIONS, carbon)
        daemon_names = INTAKE_NAMES + names[1:800:7]
        with open(os.path.join(out_dir, "intake.txt"), "w") as f:
            f.write("# %s daemon (default -c -_:#): name sent <TAB> name received <TAB> member, by gen_vectors.sh\n" % version)
            for ring in ["carbon_ch", "jump_fnv1a_ch"]:
                specs, rows = relay_daemon(ring, daemon_names, tmp)
                f.write("\nsection %s replicas=1\n" % ring)
                for spec in specs:
                    f.write("node %s\n" % spec)
                for sent, got, n in rows:
                    f.write("%s\t%s\t%d\n" % (sent, got, n))


if __name__ == "__main__":
    main()
