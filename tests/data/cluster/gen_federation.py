"""Records what a graphite-web 1.1.10 member answers to a frontend's federation requests,
and checks a graphite-web 1.1.10 frontend in front of a lonsdaleite member.

Usage: python gen_federation.py LONSDALEITE_BINARY OUT_JSON
Run by gen_federation.sh inside a venv holding graphite-web 1.1.10, whisper 1.1.10,
Django 3.2, gunicorn and msgpack.

1. Writes whisper files with whisper 1.1.10 (points from a fixed seed, `now` = T0).
2. Starts graphite-web 1.1.10 (A) on them and records its answers to what a frontend sends
   a member: /metrics/find and /render with local=1 and format=pickle|msgpack (from,
   until, now as the frontend sends them), /metrics/index.json?local=1 and the tag
   autocompletion with local=1 (after registering tagged series with /tags/tagSeries).
3. Starts lonsdaleite (L) on copies of the same files and graphite-web 1.1.10 (B) with no
   data and CLUSTER_SERVERS = [L], and checks that B's /render json, /metrics/find
   (treejson, completer), index.json and tag autocompletion answers equal A's.
4. Starts lonsdaleite (F) with no data and `[cluster] servers = [A]` and checks the same
   of F: lonsdaleite as the frontend of a graphite-web member, asking it for msgpack
   and, with a second F, for pickle. A difference in 3 or 4
   stops the script (after writing OUT_JSON).

OUT_JSON holds the files' description (so the test can write the same files), the
requests and A's answers (bodies in base64), and the frontend comparisons.
"""
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import whisper

T0 = 1_700_000_000

FILES = [
    # name, retentions, xff, aggregation
    ("servers.web1.cpu.user", "10s:1h,60s:1d", 0.5, "average"),
    ("servers.web1.cpu.system", "10s:1h,60s:1d", 0.5, "average"),
    ("servers.web2.cpu.user", "10s:1h,60s:1d", 0.5, "average"),
    ("servers.db1.load", "10s:1h,60s:1d", 0.0, "max"),
    ("servers.db1.disk.used", "10s:1h,60s:1d", 0.5, "last"),
    ("apps.api.hits", "60s:2d", 0.0, "sum"),
]

TAGGED = [
    "disk.used;datacenter=dc1;rack=a1;server=web01",
    "disk.used;datacenter=dc1;rack=b2;server=web02",
    "cpu.load;datacenter=dc2;server=db01",
]


def points_for(rnd, retentions):
    step = 60 if retentions.startswith("60s") else 10
    pts = []
    for t in range(T0 - 6000, T0, step):
        r = rnd.random()
        if r < 0.15:
            continue
        if r < 0.5:
            v = float(rnd.randint(-50, 5000))
        else:
            v = round(rnd.uniform(-10, 1000), rnd.choice([1, 3, 6]))
        pts.append((t, v))
    return pts


def make_files(root):
    rnd = random.Random(14)
    desc = []
    for name, ret, xff, agg in FILES:
        path = os.path.join(root, *name.split(".")) + ".wsp"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        archives = [whisper.parseRetentionDef(r) for r in ret.split(",")]
        whisper.create(path, archives, xFilesFactor=xff, aggregationMethod=agg)
        pts = points_for(rnd, ret)
        whisper.update_many(path, pts, now=T0)
        desc.append({"name": name, "archives": archives, "xff": xff,
                     "aggregation": agg, "points": pts})
    return desc


def q(path, pairs):
    return path + "?" + urllib.parse.urlencode(pairs)


def member_requests():
    """What a graphite-web frontend sends a member (finders/remote.py, readers/remote.py)."""
    reqs = []
    finds = ["servers.*", "servers.web1.cpu.*", "servers.*.cpu.user", "servers.{web1,db1}.*",
             "*.*.*", "nothing.here", "apps.api.hits"]
    for fmt in ("pickle", "msgpack"):
        for i, pattern in enumerate(finds):
            pairs = [("local", "1"), ("format", fmt), ("query", pattern)]
            if i % 2 == 0:
                pairs += [("from", T0 - 3600), ("until", T0)]
            reqs.append(("find", q("/metrics/find/", pairs)))
    renders = [
        (["servers.web1.cpu.user"], T0 - 1800, T0),
        (["servers.*.cpu.*", "servers.db1.load"], T0 - 3000, T0 - 600),
        (["servers.web1.cpu.user", "servers.db1.*"], T0 - 7200, T0),
        (["apps.api.hits"], T0 - 7200, T0 - 60),
        (["nothing.*"], T0 - 600, T0),
        (["sumSeries(servers.*.cpu.user)"], T0 - 900, T0),
        (["servers.db1.disk.used", "servers.web{1,2}.cpu.user"], T0 - 5000, T0 - 4000),
    ]
    for fmt in ("pickle", "msgpack"):
        for targets, start, end in renders:
            pairs = [("format", fmt), ("local", "1"), ("noCache", "1"),
                     ("from", start), ("until", end)]
            pairs += [("target", t) for t in targets]
            pairs.append(("now", T0))
            reqs.append(("render", q("/render/", pairs)))
    reqs.append(("index", "/metrics/index.json?local=1"))
    for pairs in (
        [("tagPrefix", ""), ("limit", "100"), ("local", "1")],
        [("tagPrefix", "d"), ("limit", "100"), ("local", "1"), ("expr", "name=disk.used")],
        [("tagPrefix", ""), ("limit", "2"), ("local", "1"), ("expr", "datacenter=dc1")],
    ):
        reqs.append(("tags", q("/tags/autoComplete/tags", pairs)))
    for pairs in (
        [("tag", "server"), ("valuePrefix", ""), ("limit", "100"), ("local", "1")],
        [("tag", "server"), ("valuePrefix", "web"), ("limit", "100"), ("local", "1"),
         ("expr", "datacenter=dc1")],
        [("tag", "rack"), ("valuePrefix", ""), ("limit", "1"), ("local", "1")],
    ):
        reqs.append(("values", q("/tags/autoComplete/values", pairs)))
    return reqs


def frontend_requests():
    """What a user asks a frontend: json renders across functions, finds, index.json."""
    reqs = []
    targets = [
        "servers.web1.cpu.user",
        "servers.*.cpu.*",
        "sumSeries(servers.*.cpu.user)",
        "aliasByNode(servers.*.cpu.*,1)",
        "movingAverage(servers.db1.load,5)",
        "apps.api.hits",
        "summarize(apps.api.hits,'10min','sum')",
        "nothing.*",
    ]
    for t in targets:
        for start, end in ((T0 - 1800, T0), (T0 - 7200, T0 - 600)):
            reqs.append(q("/render", [("target", t), ("from", start), ("until", end),
                                      ("now", T0), ("format", "json")]))
    reqs.append(q("/render", [("target", "servers.web1.cpu.*"), ("target", "apps.api.hits"),
                              ("from", T0 - 3600), ("until", T0), ("now", T0),
                              ("format", "json")]))
    for pattern in ("servers.*", "servers.web1.cpu.*", "*.*.*", "servers.*.cpu.user"):
        reqs.append(q("/metrics/find", [("query", pattern)]))
        reqs.append(q("/metrics/find", [("query", pattern), ("format", "completer")]))
    reqs.append("/metrics/index.json")
    reqs.append(q("/tags/autoComplete/tags", [("tagPrefix", ""), ("limit", "100")]))
    reqs.append(q("/tags/autoComplete/tags", [("expr", "datacenter=dc1")]))
    reqs.append(q("/tags/autoComplete/values", [("tag", "server"), ("valuePrefix", "")]))
    reqs.append(q("/tags/autoComplete/values", [("tag", "rack"), ("expr", "name=disk.used")]))
    return reqs


def comparable(path, body):
    """graphite-web lists the finds' nodes in a random order before sorting them by node
    name (`Store._list_nodes` shuffles): nodes of one name come in any order. completer
    answers are compared with those put in path order."""
    if "format=completer" not in path:
        return body
    doc = json.loads(body)
    doc["metrics"].sort(key=lambda m: (m["name"], m["path"]))
    return json.dumps(doc).encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path, data=None):
    req = urllib.request.Request(base + path, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def wait_http(base, proc, log):
    for _ in range(300):
        if proc.poll() is not None:
            sys.exit("server exited: " + open(log).read())
        try:
            urllib.request.urlopen(base + "/version", timeout=1).read()
            return
        except Exception:
            time.sleep(0.2)
    sys.exit("server did not start: " + open(log).read())


def start_graphite(work, name, whisper_dir, cluster):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "storage", "log"))
    with open(os.path.join(d, "fed_settings.py"), "w") as f:
        f.write(f"""SECRET_KEY = "federation-{name}"
STORAGE_DIR = {os.path.join(d, 'storage')!r}
LOG_DIR = {os.path.join(d, 'storage', 'log')!r}
WHISPER_DIR = {whisper_dir!r}
CARBONLINK_HOSTS = []
CLUSTER_SERVERS = {cluster!r}
""")
    env = dict(os.environ, PYTHONPATH=d, GRAPHITE_SETTINGS_MODULE="fed_settings",
               DJANGO_SETTINGS_MODULE="graphite.settings", TZ="UTC")
    subprocess.run([sys.executable, "-m", "django", "migrate", "--noinput"], cwd=d, env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    log = os.path.join(d, "gunicorn.out")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
         "graphite.wsgi:application"],
        cwd=d, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_http(base, proc, log)
    return proc, base


def start_lonsdaleite(work, binary, whisper_dir, name="ls", members=()):
    """A lonsdaleite node over a copy of `whisper_dir`, or with `members` a frontend with
    no data of its own (storage off, so not even its self-metrics)."""
    data = os.path.join(work, name)
    conf = os.path.join(work, name + ".toml")
    extra = []
    with open(conf, "w") as f:
        # No self-metrics while the script runs (unless it crosses an hour boundary):
        # graphite-web has none, and `*.*.*` would match stats.statsd.*.
        f.write('[statsd]\nflush_interval = "1h"\n[carbon]\nmetric_interval = "1h"\n')
        if members:
            f.write("[cluster]\nservers = [%s]\n" % ", ".join(json.dumps(m) for m in members))
            extra = ["--no-storage"]
            os.makedirs(data)
        else:
            shutil.copytree(whisper_dir, os.path.join(data, "whisper"))
    out = os.path.join(work, name + ".out")
    proc = subprocess.Popen(
        [binary, "serve", "--config", conf, "--shards", "1", "--data-dir", data,
         "--statsd-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
         "--carbon-addr", "127.0.0.1:0", "--pickle-addr", "off", "--http-addr", "127.0.0.1:0"]
        + extra,
        stdout=open(out, "w"), stderr=open(out + ".err", "w"))
    for _ in range(300):
        for line in open(out):
            if line.startswith("listening http tcp "):
                base = "http://" + line.split()[-1]
                wait_http(base, proc, out + ".err")
                return proc, base
        time.sleep(0.1)
    sys.exit("lonsdaleite did not start: " + open(out + ".err").read())


def main():
    binary, out_json = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="gen-federation.")
    procs = []
    try:
        wsp = os.path.join(work, "whisper")
        files = make_files(wsp)
        a, a_base = start_graphite(work, "direct", wsp, [])
        procs.append(a)
        for path in TAGGED:
            status, _, body = get(a_base, "/tags/tagSeries",
                                  urllib.parse.urlencode({"path": path}).encode())
            assert status == 200, (status, body)
        cases = []
        for kind, path in member_requests():
            status, ctype, body = get(a_base, path)
            cases.append({"kind": kind, "path": path, "status": status, "content_type": ctype,
                          "body": base64.b64encode(body).decode()})
        ls, ls_base = start_lonsdaleite(work, binary, wsp)
        procs.append(ls)
        for path in TAGGED:
            status, _, body = get(ls_base, "/tags/tagSeries",
                                  urllib.parse.urlencode({"path": path}).encode())
            assert status == 200, (status, body)
        member = ls_base.replace("http://", "")
        os.makedirs(os.path.join(work, "empty"))
        b, b_base = start_graphite(work, "frontend", os.path.join(work, "empty"), [member])
        procs.append(b)
        frontend = []
        bad = 0
        for path in frontend_requests():
            sa, _, direct = get(a_base, path)
            sb, _, through = get(b_base, path)
            same = sa == sb == 200 and comparable(path, direct) == comparable(path, through)
            if not same:
                bad += 1
                print(f"DIFFERENT {path}\n  direct   {sa} {direct[:400]!r}\n"
                      f"  frontend {sb} {through[:400]!r}", file=sys.stderr)
            frontend.append({"path": path, "direct": direct.decode(), "frontend": through.decode()})
        # lonsdaleite as the frontend, graphite-web (A) its only member, asked for msgpack
        # (lonsdaleite's default) and for pickle (graphite-web's).
        ours = []
        for fmt in ("msgpack", "pickle"):
            spec = a_base.replace("http://", "") + "?format=" + fmt
            f, f_base = start_lonsdaleite(work, binary, wsp, "lsfront-" + fmt, [spec])
            procs.append(f)
            for path in frontend_requests():
                sa, _, direct = get(a_base, path)
                sf, _, through = get(f_base, path)
                same = sa == sf == 200 and comparable(path, direct) == comparable(path, through)
                if not same:
                    bad += 1
                    print(f"DIFFERENT (lonsdaleite frontend, {fmt}) {path}\n"
                          f"  direct   {sa} {direct[:400]!r}\n  frontend {sf} {through[:400]!r}",
                          file=sys.stderr)
                ours.append({"path": path, "format": fmt, "direct": direct.decode(),
                             "frontend": through.decode()})
        doc = {"t0": T0, "files": files, "tagged": TAGGED, "member": cases,
               "frontend": frontend, "lonsdaleite_frontend": ours}
        with open(out_json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        print(f"{len(cases)} member answers, {len(frontend)} + {len(ours)} frontend "
              f"comparisons, {bad} different", file=sys.stderr)
        if bad:
            sys.exit(1)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not os.environ.get("KEEP"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept " + work, file=sys.stderr)


if __name__ == "__main__":
    main()
