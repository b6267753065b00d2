//! Human-readable lines for progress and summaries (JSON output is the serde form of the
//! report structs, written by `main`).
//!
//! Contract: pure formatting; one line per progress tick, a few lines per summary.

use std::fmt::Write as _;

use crate::run::{Progress, Report};
use crate::sink::SinkReport;

/// `12.35 M` style for rates.
pub fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0} ")
    }
}

/// One progress line.
pub fn progress_line(p: &Progress) -> String {
    format!(
        "[{:>6.1}s] sent {} lines, {} datagrams, {}lines/s now, {} errors",
        p.elapsed.as_secs_f64(),
        p.totals.lines,
        p.totals.datagrams,
        si(p.lines_per_s),
        p.totals.errors
    )
}

/// The end-of-run summary.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} to {}: {} threads, {} names, mix {}, {} lines per packet, pool {} lines / {} bytes built in {:.2}s",
        r.protocol, r.target, r.threads, r.names, r.mix, r.per_packet, r.pool_lines, r.pool_bytes, r.pool_build_s
    );
    let _ = writeln!(
        s,
        "sent {} lines in {} datagrams ({} bytes) in {:.3}s: {}lines/s, {} errors",
        r.lines_sent,
        r.datagrams,
        r.bytes,
        r.elapsed_s,
        si(r.lines_per_s),
        r.errors
    );
    let v = &r.verify;
    if v.method != "none" {
        let src = v.source.map(|a| a.to_string()).unwrap_or_default();
        match (v.received, v.loss_pct) {
            (Some(rec), Some(loss)) => {
                let _ = writeln!(
                    s,
                    "verify ({} {src}): received {rec} of {} lines sent, loss {loss:.4}%{}",
                    v.method,
                    r.lines_sent,
                    if v.settled { "" } else { " (not settled)" }
                );
            }
            (Some(rec), None) => {
                let _ = writeln!(s, "verify ({} {src}): received {rec} lines", v.method);
            }
            _ => {
                let _ = writeln!(s, "verify ({} {src}): no server count available", v.method);
            }
        }
    }
    if let Some(n) = &v.note {
        let _ = writeln!(s, "note: {n}");
    }
    let sv = &r.server;
    if let Some(a) = sv.absorbed_lines_per_s {
        let _ = writeln!(s, "server absorbed {}lines/s of sending time", si(a));
    }
    if let Some(d) = sv.kernel_drops {
        let _ = writeln!(s, "kernel drops on port {}: {d}", r.target.port());
    }
    if let (Some(pid), Some(cpu)) = (sv.pid, sv.cpu_s) {
        let per_m = sv
            .cpu_s_per_m_lines
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.3}"));
        let _ = writeln!(
            s,
            "server pid {pid}: {cpu:.2} CPU s ({per_m} s per million lines), RSS {} MiB, peak {} MiB",
            sv.rss_kb.unwrap_or(0) / 1024,
            sv.hwm_kb.unwrap_or(0) / 1024
        );
    }
    if let Some(n) = &sv.note {
        let _ = writeln!(s, "note: {n}");
    }
    let h = &r.host;
    if let (Some(busy), Some(sender)) = (h.busy_cpu_s, h.sender_cpu_s) {
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "machine while sending ({:.1}s): {busy:.2} CPU s busy: loadgen {sender:.2}, server {}, \
             others {}; run-queue wait: server {} s, loadgen {} s; steal {}",
            h.window_s,
            opt(h.server_cpu_s),
            opt(h.others_cpu_s),
            opt(h.server_runq_wait_s),
            opt(h.sender_runq_wait_s),
            opt(h.steal_cpu_s)
        );
    }
    s
}

/// One sink progress line.
pub fn sink_line(r: &SinkReport) -> String {
    format!(
        "sink: {} lines, {} datagrams, {}lines/s",
        r.lines,
        r.datagrams,
        si(r.lines_per_s)
    )
}

/// The sink's summary.
pub fn sink_summary(r: &SinkReport) -> String {
    let drops = r
        .kernel_drops
        .map_or_else(|| "unknown".to_owned(), |d| d.to_string());
    format!(
        "sink {}: received {} lines in {} datagrams ({} bytes) over {:.3}s: {}lines/s; \
         kernel drops on the port: {drops}; receive buffer {} bytes\n",
        r.addr.map(|a| a.to_string()).unwrap_or_default(),
        r.lines,
        r.datagrams,
        r.bytes,
        r.elapsed_s,
        si(r.lines_per_s),
        r.recv_buffer
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_units() {
        assert_eq!(si(12.0), "12 ");
        assert_eq!(si(1500.0), "1.5 k");
        assert_eq!(si(2_345_678.0), "2.35 M");
    }
}
