"""Oracle for tests/carbon_pickle.rs: Python's own unpickler plus carbon's per-element rules.

Modes (argv[1]):
  cases     write length-prefixed (pickle, expected) pairs for fixed payloads, protocols 0-5
  judge     read length-prefixed pickles on stdin, write one length-prefixed expected text each

Expected text: "ERROR" when the message is rejected whole, else one line per element:
"<name hex> <timestamp> <value as 16 hex digits of its IEEE bits>" or the drop reason.

The per-element rules are carbon 1.1's MetricPickleReceiver/metricReceived, with
lonsdaleite's documented deviations: bytes names are kept, strings are never unpacked as
pairs, OverflowError and non-finite timestamps skip the element.
"""
import io
import math
import pickle
import struct
import sys

NOW = 1700000000


class Restricted(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError("global %s.%s refused" % (module, name))


def element(raw):
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        return "not_a_pair"
    metric, pair = raw
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        return "not_a_pair"
    try:
        ts, value = float(pair[0]), float(pair[1])
    except (ValueError, TypeError, OverflowError):
        return "bad_number"
    if isinstance(metric, str):
        name = metric.encode("utf-8")
    elif isinstance(metric, (bytes, bytearray)):
        name = bytes(metric)
    else:
        return "bad_name"
    if value != value:
        return "nan_value"
    if math.isinf(ts) or ts != ts:
        return "timestamp_range"
    t = int(ts)
    if t == -1:
        t = NOW
    if not -(2**63) <= t < 2**63:
        return "timestamp_range"
    return "%s %d %s" % (name.hex(), t, struct.pack(">d", value).hex())


def judge(data):
    try:
        obj = Restricted(io.BytesIO(data), encoding="utf-8").load()
    except Exception:
        return "ERROR"
    if not isinstance(obj, (list, tuple)):
        return "ERROR"
    return "\n".join(element(raw) for raw in obj)


def frame(b):
    return struct.pack(">I", len(b)) + b


def payloads():
    shared = ("shared.name", (1700000000, 2.5))
    inner = [1700000001, 3]
    yield []
    yield [("a.b.c", (1700000000, 1.5))]
    yield ("tuple.top", (1, 2)),
    yield [("n%d" % i, (1700000000 + i, i * 0.25)) for i in range(1200)]
    yield [shared, shared, ["shared.list", inner], ["shared.list2", inner]]
    yield [
        ("neg", (-5, -0.0)),
        ("now", (-1, 7)),
        ("now2", (-1.9, 7)),
        ("trunc", (1700000000.99, 1)),
        ("big.ts", (2**63, 1)),
        ("big.ts2", (2**63 - 1, 1)),
        ("min.ts", (-(2**63), 1)),
        ("huge.value", (1, 2**70)),
        ("huge.neg", (1, -(2**200) - 12345)),
        ("overflow", (1, 2**2000)),
        ("inf.ts", (float("inf"), 1)),
        ("nan.value", (1, float("nan"))),
        ("inf.value", (1, float("-inf"))),
        ("bool", (True, False)),
        ("str.numbers", ("1700000000", " 1_5.5 ")),
        ("bad.str", ("x", 1)),
        ("none", (None, 1)),
        ("list.value", (1, [2])),
        ("triple", (1, 2, 3)),
        ("single",),
        "plain string",
        7,
        None,
        (1, (2, 3)),
        ("uni\u00e9\u4e2d\U0001f600", (1, 2)),
        ("esc\\ape\n'\"\r\x00\x1a", (1, 2)),
        ("i32", (2**31 - 1, -(2**31))),
        ("i32b", (2**31, -(2**31) - 1)),
        ("small", (255, 256)),
        ("small2", (65535, 65536)),
    ]


def cases():
    out = sys.stdout.buffer
    for payload in payloads():
        for proto in range(0, 6):
            p = pickle.dumps(payload, protocol=proto)
            out.write(frame(p) + frame(judge(p).encode()))
    # bytes names exist from protocol 3 on (earlier protocols pickle bytes via a GLOBAL)
    for proto in range(3, 6):
        p = pickle.dumps([(b"bytes.name", (1, 2)), ("x", (b"3", bytearray(b"4")))], protocol=proto)
        out.write(frame(p) + frame(judge(p).encode()))
    p = pickle.dumps([(b"bytes.name", (1, 2))], protocol=2)
    out.write(frame(p) + frame(judge(p).encode()))


def judge_stream():
    # A mutated length (BYTEARRAY8, BINBYTES8, FRAME, ...) makes the C unpickler allocate
    # that many bytes before it finds the message shorter: capped here, the allocation
    # fails with MemoryError, which judge() reports as "ERROR", the answer the truncated
    # read would give with unbounded memory (a run without the cap took 24 GB).
    import resource
    cap = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    data = sys.stdin.buffer.read()
    out = sys.stdout.buffer
    i = 0
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        out.write(frame(judge(data[i + 4 : i + 4 + n]).encode()))
        i += 4 + n


if __name__ == "__main__":
    {"cases": cases, "judge": judge_stream}[sys.argv[1]]()
