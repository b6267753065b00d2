"""Generates grammar.jsonl: what graphite-web 1.1.10's own target parser makes of each input.

Usage: python3 gen_grammar.py GRAMMAR_UNSAFE_PY < grammar_inputs.txt > grammar.jsonl
GRAMMAR_UNSAFE_PY is graphite-web 1.1.10's webapp/graphite/render/grammar_unsafe.py (not
shipped here); it needs pyparsing. Each input line is a JSON string. Each output line:
{"target": ..., "prefix": canonical tree of parseString(target) or null if it raises,
 "full": true if parseString(target, parseAll=True) succeeds}.
The canonical tree follows graphite's evaluator (evaluator.py): pipes nest the left side as
the first argument, ints/floats/strings/booleans/None/inf typed as it types them.
"""
import json
import sys
import types

conf = types.ModuleType("django.conf")
conf.settings = types.SimpleNamespace(UTF8_METRICS=False)
sys.modules["django"] = types.ModuleType("django")
sys.modules["django.conf"] = conf
ns = {}
exec(compile(open(sys.argv[1]).read(), "grammar_unsafe.py", "exec"), ns)
grammar = ns["grammar"]


def scalar(t):
    if t.number:
        if t.number.integer:
            return "int(%d)" % int(t.number.integer)
        if t.number.float:
            return "float(%r)" % float(t.number.float)
        return "float(%r)" % float(t.number.scientific[0])
    if t.string:
        return "str(%s)" % t.string[1:-1]
    if t.boolean:
        return "bool(%s)" % ("true" if t.boolean[0] == "true" else "false")
    if t.none:
        return "none"
    if t.infinity:
        return "float(inf)"
    raise ValueError("unknown token")


def args_of(node, piped=None):
    out = []
    if piped is not None:
        out.append(piped)
    for a in node.args or []:
        out.append(canon(a))
    for k in node.kwargs or []:
        out.append("kw(%s=%s)" % (k.argname, canon(k.args[0])))
    return "".join(";" + x for x in out)


def canon(t, piped=None):
    if t.template:
        tp = t.template
        inner = canon_inner(tp)
        lits = [scalar(a) for a in (tp.args or [])]
        kws = ["kw(%s=%s)" % (k.argname, scalar(k.args[0])) for k in (tp.kwargs or [])]
        return "template(%s%s)" % (inner, "".join(";" + x for x in lits + kws))
    if t.expression:
        e = t.expression
        calls = list(e.pipedCalls) if e.pipedCalls else []
        cur = canon_base(e)
        for c in calls:
            cur = "call(%s%s)" % (c.call.funcname, args_of(c.call, cur))
        return cur
    if t.pathExpression:
        return "path(%s)" % t.pathExpression
    if t.call:
        return "call(%s%s)" % (t.call.funcname, args_of(t.call, piped))
    return scalar(t)


def canon_inner(tp):
    if tp.call:
        return "call(%s%s)" % (tp.call.funcname, args_of(tp.call))
    return "path(%s)" % tp.pathExpression


def canon_base(e):
    if e.template:
        return canon(e)
    if e.call:
        return "call(%s%s)" % (e.call.funcname, args_of(e.call))
    return "path(%s)" % e.pathExpression


for line in sys.stdin:
    if not line.strip():
        continue
    target = json.loads(line)
    try:
        prefix = canon(grammar.parseString(target))
    except Exception:
        prefix = None
    try:
        grammar.parseString(target, parseAll=True)
        full = True
    except Exception:
        full = False
    print(json.dumps({"target": target, "prefix": prefix, "full": full}))
