"""Generates glob.jsonl: graphite-web 1.1.10's globbing over whisper directories.

Usage: python3 gen_glob.py FINDERS_INIT_PY > glob.jsonl
FINDERS_INIT_PY is graphite-web 1.1.10's webapp/graphite/finders/__init__.py (not shipped
here): its expand_braces and match_entries (Python's fnmatch) decide every node. Records:
  {"kind": "fnmatch", "pattern", "name", "match"}   fnmatch.fnmatchcase of this Python
  {"kind": "braces", "pattern", "variants"}         expand_braces, sorted
  {"kind": "names", "names"}                        the metric names written as .wsp files
  {"kind": "find", "pattern", "results": [[path, is_leaf], ...]} sorted, as the standard
  finder walks the directory tree: braces per node, wildcards matched with match_entries
  against sub-directories (and `<name>.wsp` files for the last node), `**` for any depth.
"""
import fnmatch
import json
import os
import sys
import tempfile

ns = {}
exec(compile(open(sys.argv[1]).read(), "finders_init.py", "exec"), ns)
expand_braces, match_entries = ns["expand_braces"], ns["match_entries"]

NAMES = [
    "a.b.c", "a.b.d", "a.bb.c", "a.c", "a.c.x", "a.1.c", "a.2.c", "a.10.c",
    "servers.web1.cpu.user", "servers.web1.cpu.system", "servers.web2.cpu.user",
    "servers.db1.cpu.user", "servers.web1.load", "servers.web-3.load",
    "x.[y].z", "x.y!.z", "x.^y.z", "x.-y.z", "x.y-z", "x.Y", "x.yy", "x.y",
    "stats.counters.foo.count", "stats.counters.foo.rate", "stats.timers.foo.mean_90",
    "stats.gauges.foo", "stats.gauges.bar", "stats_counts.foo",
    "d.e.f.g.h", "d.e.g", "d.x.g", "d.g",
    "u.é", "u.ü.v", "sp.a b",
]

FN_PATTERNS = ["*", "?", "a*", "*a", "a?c", "[abc]", "[a-c]", "[!a-c]", "[^a]", "[]]", "[!]]",
               "[]a]", "[", "[a", "a]", "[z-a]", "[!z-a]", "[a-]", "[-a]", "[a-c-e]", "[!]",
               "[\\]", "[a\\-z]", "[&~|]", "[[]", "*[0-9]", "[0-9]*", "**", "*?*", "a*b*c",
               "[a-cx-z]", "[!a-cx-z]", "[--0]", "[a-b-c]", "[c-a-x]", "\\*", "é*", "[é]"]
FN_NAMES = ["", "a", "b", "c", "d", "z", "x", "-", "]", "^", "[", "!", "&", "~", "|", "\\",
            "0", "5", "ab", "abc", "axbyc", "a-c", "é", "éa", "*", "1a", "a1", "aa", "ba", "[a"]


def emit(**rec):
    print(json.dumps(rec, ensure_ascii=False))


for p in FN_PATTERNS:
    for n in FN_NAMES:
        emit(kind="fnmatch", pattern=p, name=n, match=fnmatch.fnmatchcase(n, p))

for p in ["{a,b}", "{a,b}c{d,e}", "{a,{b,c}}", "x{,y}", "{a", "a}", "}{a,b}{", "{}", "{,}",
          "{a,b", "{{a,b}}", "{a,b}{a,b}", "pre{1,2,3}post", "{a*,[bc]}"]:
    emit(kind="braces", pattern=p, variants=sorted(set(expand_braces(p))))


def find(root, pattern):
    parts = pattern.replace("\\", "").split(".")
    out = set()

    def walk(cur, rel, parts):
        raw, rest = parts[0], parts[1:]
        for pat in expand_braces(raw):
            wild = "[" in pat or "*" in pat or "?" in pat
            entries = list(os.scandir(cur))
            subdirs = [e.name for e in entries if e.is_dir()]
            files = [e.name for e in entries if e.is_file()]
            if pat == "**":
                dirs = [os.path.relpath(d, cur) for d, _, _ in os.walk(cur)]
                dirs = ["" if d == "." else d for d in dirs]
                nxt = rest if rest else ["*"]
                for d in dirs:
                    walk(os.path.join(cur, d), rel + ([p for p in d.split(os.sep)] if d else []), nxt)
                continue
            matching_dirs = match_entries(subdirs, pat) if wild else ([pat] if pat in subdirs else [])
            if rest:
                for d in matching_dirs:
                    walk(os.path.join(cur, d), rel + [d], rest)
            else:
                if wild:
                    leaf_files = match_entries(files, pat + ".*")
                else:
                    leaf_files = [pat + ".wsp"] if pat + ".wsp" in files else []
                for f in leaf_files:
                    out.add((".".join(rel + [f.split(".")[0]]), True))
                for d in matching_dirs:
                    out.add((".".join(rel + [d]), False))

    walk(root, [], parts)
    # graphite keeps the (unescaped) pattern text for fields written with an escaped
    # wildcard (util.find_escaped_pattern_fields)
    escaped = [i for i, part in enumerate(pattern.split("."))
               if any(part.find(c) > 0 and part[part.find(c) - 1] == "\\" for c in "*?[{")]
    renamed = set()
    for path, leaf in out:
        nodes = path.split(".")
        for i in escaped:
            if i < len(nodes):
                nodes[i] = parts[i]
        renamed.add((".".join(nodes), leaf))
    return sorted(renamed, key=lambda r: (r[0], r[1]))


with tempfile.TemporaryDirectory() as root:
    for name in NAMES:
        parts = name.split(".")
        d = os.path.join(root, *parts[:-1])
        os.makedirs(d, exist_ok=True)
        open(os.path.join(d, parts[-1] + ".wsp"), "w").close()
    emit(kind="names", names=NAMES)
    for p in ["a.b.c", "a.*.c", "a.*", "a.b*", "a.?.c", "a.[0-9].c", "a.[!0-9].c", "a.{b,c}",
              "a.{b,c}.*", "a.{b,bb}.{c,d}", "a.{,b}b.c", "*", "*.*", "servers.web*.cpu.user",
              "servers.*.cpu.*", "servers.{web,db}*.cpu.user", "servers.web[12].*",
              "servers.web-[0-9].load", "x.*", "x.[[]y].z", "x.[!a-z]*.z", "x.[^y]*.z",
              "x.[-y]*", "x.y*", "x.[yY]", "x.{y,Y}", "stats.*.foo.*", "stats*.*",
              "stats.{counters,gauges}.*", "d.**", "d.**.g", "**.g", "d.**.h", "a.**.c",
              "d.e.**", "u.*", "u.é", "u.?.v", "sp.*", "nomatch.*", "a.b.c.d", "a", "a.",
              "a\\.b.c", "a.b\\*", "x.\\[y].z", "a.\\{b,c}", "a.1{0,}.c", "servers.web1.{cpu,load}"]:
        emit(kind="find", pattern=p, results=find(root, p))
