# Markdown table of a bench/e2e run: jq -rs -f bench/e2e/summary.jq runs.jsonl
# Per case (impl, shards, names, protocol): the `max` run (loadgen unpaced), and the lossless run
# (every line sent was counted, count settled) with the highest counted rate; ratios are to etsy
# statsd with the same names and protocol.
  def r(x): if x == null then "-" else (x | floor | tostring) end;
  def f(x; n): if x == null then "-" else ((x * pow(10; n) | round) / pow(10; n) | tostring) end;
  group_by([.impl, .shards, .names, .protocol])
  | map({
      impl: .[0].impl, shards: .[0].shards, names: .[0].names, protocol: .[0].protocol,
      max: (map(select(.phase == "max")) | .[0]),
      lossless: (map(select(.phase != "warmup"
                  and .verify.received == .lines_sent and .verify.settled))
                 | max_by(.verify.received / .elapsed_s))
    })
  | . as $all
  | (map(select(.impl == "etsy")) | map({key: "\(.names)|\(.protocol)", value: .}) | from_entries) as $etsy
  | ["| server | shards | names | protocol | max: lines/s counted (loss %) | lossless lines/s | × etsy (lossless) | × etsy (max) | CPU s per M lines (max run) | kernel drops, datagrams (max run) | RSS MiB after | peak RSS MiB |",
     "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    + map(. as $c | ($etsy["\($c.names)|\($c.protocol)"]) as $e
      | ($c.lossless | if . == null then null else .verify.received / .elapsed_s end) as $ll
      | ($e.lossless | if . == null then null else .verify.received / .elapsed_s end) as $ell
      | "| \($c.impl) | \($c.shards) | \($c.names) | \($c.protocol) | \(r($c.max.server.absorbed_lines_per_s)) (\(f($c.max.verify.loss_pct; 2))) | \(if $c.protocol == "statsd-udp" then r($ll) else "n/a (TCP)" end) | \(if $ll != null and $ell != null and $c.protocol == "statsd-udp" then f($ll / $ell; 1) else "-" end) | \(if $e.max.server.absorbed_lines_per_s then f($c.max.server.absorbed_lines_per_s / $e.max.server.absorbed_lines_per_s; 1) else "-" end) | \(f($c.max.server.cpu_s_per_m_lines; 3)) | \(r($c.max.server.kernel_drops)) | \(r(($c.max.server.rss_kb // null) | if . then . / 1024 else null end)) | \(r(($c.max.server.hwm_kb // null) | if . then . / 1024 else null end)) |")
  | .[]
