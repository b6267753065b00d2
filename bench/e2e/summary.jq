# Markdown table of a bench/e2e run: jq -rs -f bench/e2e/summary.jq runs.jsonl
# Per case (impl, shards, names, protocol):
# - max: of the `max` runs (loadgen unpaced) not marked noisy (else of all), the one in which the
#   server counted the most lines per second;
# - lossless: among all runs in which every line sent was counted and the count settled, the
#   one with the highest rate (other processes can only cost the server lines, so a lossless
#   run stands even when marked noisy).
# Ratios are to etsy statsd with the same names and protocol. A `*` marks a figure from a run
# during which other processes used more CPU than NOISE_MAX allowed.
def r(x): if x == null then "-" else (x | floor | tostring) end;
def f(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
def clean: (map(select(.noisy | not))) as $c | if ($c | length) > 0 then $c else . end;
def rate: if . == null then null else .verify.received / .elapsed_s end;
def star: if . != null and .noisy then "*" else "" end;
def mib(x): if x == null then "-" else (x / 1024 | floor | tostring) end;

map(select(.phase != "warmup"))
| group_by([.impl, .shards, .names, .protocol])
| map({
    impl: .[0].impl, shards: .[0].shards, names: .[0].names, protocol: .[0].protocol,
    max: (map(select(.phase == "max")) | clean | max_by(.server.absorbed_lines_per_s // 0)),
    lossless: (map(select(.verify.received == .lines_sent and .verify.settled))
               | max_by(.verify.received / .elapsed_s))
  })
| (map(select(.impl == "etsy")) | map({key: "\(.names)|\(.protocol)", value: .}) | from_entries) as $etsy
| ["| server | shards | names | protocol | max run: lines/s counted (loss %) | lossless lines/s | × etsy, lossless | × etsy, max | server CPU s per M lines (max run) | kernel drops, datagrams (max run) | others' CPU s / window s (max run) | RSS MiB after / peak |",
   "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  + map(. as $c | ($etsy["\($c.names)|\($c.protocol)"]) as $e
    | ($c.lossless | rate) as $ll
    | ($e.lossless | rate) as $ell
    | ($c.max.server.absorbed_lines_per_s) as $m
    | ($e.max.server.absorbed_lines_per_s) as $em
    | "| \($c.impl) | \($c.shards) | \($c.names) | \($c.protocol) "
      + "| \(r($m))\($c.max | star) (\(f($c.max.verify.loss_pct; 2))) "
      + "| \(if $c.protocol != "statsd-udp" then "n/a (TCP)" else r($ll) end) "
      + "| \(if $ll != null and $ell != null and $c.protocol == "statsd-udp" then f($ll / $ell; 1) else "-" end) "
      + "| \(if $m != null and $em != null then f($m / $em; 1) else "-" end) "
      + "| \(f($c.max.server.cpu_s_per_m_lines; 3)) "
      + "| \(r($c.max.server.kernel_drops)) "
      + "| \(f($c.max.host.others_cpu_s; 2)) / \(f($c.max.host.window_s; 1)) "
      + "| \(mib($c.max.server.rss_kb)) / \(mib($c.max.server.hwm_kb)) |")
| .[]
