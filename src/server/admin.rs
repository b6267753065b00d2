//! etsy statsd's management interface: line commands over TCP (default port 8126).
//!
//! Commands: `help`, `stats`, `counters`, `timers`, `gauges`, `sets`, `delcounters`,
//! `deltimers`, `delgauges`, `delsets` (exact keys or `prefix.*`, several per line),
//! `health [up|down]`, `config`, `quit`. Unlike etsy, each LINE is a command, so
//! pipelined commands are answered in order, and `last_*` stats print "seconds ago"
//! only when the event happened (etsy prints a huge number for "never").
//!
//! `health` is etsy's, which its cluster proxy (`proxy.js`) polls on every node: it
//! answers `health: up` or `health: down`; `health up` / `health down` (any case) switch
//! it first, another argument is ignored. A node marked down keeps receiving and flushing;
//! the proxy drops it from its ring at its next check (docs/cluster.md). A command sent
//! without a newline is answered once the client stops sending.
//!
//! `forget NAME…` (lonsdaleite's own, for `cluster rebalance --admin`): the names whose
//! whisper files are gone leave the name index, so `/metrics/find` stops listing series
//! that were moved to another node; a name whose file still exists stays. Answers
//! `forgot: N kept: M`.
//!
//! Runs on the side thread (tokio); shards answer through their control channels.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::protocol::framing::LineFramer;
use crate::protocol::statsd::Kind;
use crate::route::forward::ForwardStats;
use crate::shard::stats::ShardCounters;
use crate::shard::Control;

/// What the admin interface can see and change.
pub struct AdminState {
    pub shards: Vec<mpsc::Sender<Control>>,
    pub config: Arc<Config>,
    pub forward: Arc<ForwardStats>,
    pub healthy: AtomicBool,
    /// Unix time the server started.
    pub started: u64,
    /// Every shard's storage counters (empty when storage is off).
    pub storage: Vec<Arc<crate::storage::stats::StoreStats>>,
    /// The names found on disk at start, once the scan is done.
    pub index: crate::storage::index::ScanSlot,
    /// The previous run did not stop cleanly ([`super::running`]).
    pub unclean_start: bool,
}

/// Accept admin connections forever.
pub async fn serve(listener: TcpListener, state: Arc<AdminState>) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                tokio::spawn(connection(sock, state.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(mut sock: TcpStream, state: Arc<AdminState>) {
    let mut framer = LineFramer::new(4096);
    let mut buf = vec![0u8; 4096];
    loop {
        let mut lines = Vec::new();
        let Ok(n) = sock.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            // etsy answers a command sent without a newline (`printf health | nc -q1`):
            // the last one is answered when the client stops sending.
            framer.finish(|l| lines.push(String::from_utf8_lossy(l).into_owned()));
        } else {
            framer.push(&buf[..n], |l| {
                lines.push(String::from_utf8_lossy(l).into_owned());
            });
        }
        for line in lines {
            let (reply, quit) = command(&line, &state).await;
            if sock.write_all(reply.as_bytes()).await.is_err() || quit {
                return;
            }
        }
        if n == 0 {
            return;
        }
    }
}

/// Answer one command line. Returns the reply and whether to close the connection.
pub async fn command(line: &str, state: &AdminState) -> (String, bool) {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else {
        return (String::new(), false);
    };
    let args: Vec<&str> = words.collect();
    let reply = match cmd {
        "help" => "Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, delgauges, delsets, health, config, forget, quit\n\n".to_owned(),
        "stats" => stats(state).await,
        "counters" => view(state, Kind::Counter).await,
        "timers" => view(state, Kind::Timer).await,
        "gauges" => view(state, Kind::Gauge).await,
        "sets" => view(state, Kind::Set).await,
        "delcounters" => delete(state, Kind::Counter, &args).await,
        "deltimers" => delete(state, Kind::Timer, &args).await,
        "delgauges" => delete(state, Kind::Gauge, &args).await,
        "delsets" => delete(state, Kind::Set, &args).await,
        "health" => {
            // etsy lower-cases the argument (`health DOWN` works); any other argument
            // leaves the state as it is, and the answer is the state either way.
            match args.first() {
                Some(a) if a.eq_ignore_ascii_case("up") => state.healthy.store(true, Ordering::Relaxed),
                Some(a) if a.eq_ignore_ascii_case("down") => state.healthy.store(false, Ordering::Relaxed),
                _ => {}
            }
            format!("health: {}\n", if state.healthy.load(Ordering::Relaxed) { "up" } else { "down" })
        }
        "config" => {
            format!("{}\nEND\n\n", toml::to_string(&*state.config).unwrap_or_else(|e| format!("# cannot render config: {e}")))
        }
        "forget" => {
            let mut slot = state.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match slot.as_mut() {
                Some((index, _)) => forget(index, &state.config.data_dir, &args),
                None => "forgot: 0 kept: 0 (the start-up scan is still running; try again)\n".to_owned(),
            }
        }
        "quit" => return (String::new(), true),
        _ => "ERROR\n".to_owned(),
    };
    (reply, false)
}

/// Sum of every shard's counters.
pub async fn totals(state: &AdminState) -> ShardCounters {
    let mut total = ShardCounters::default();
    for s in &state.shards {
        let (reply, rx) = oneshot::channel();
        if s.send(Control::Counters { reply }).await.is_ok() {
            if let Ok(c) = rx.await {
                total.add(&c);
            }
        }
    }
    total
}

async fn stats(state: &AdminState) -> String {
    let t = totals(state).await;
    let now = crate::clock::now().as_secs();
    let ago = |then: u64| {
        if then == 0 {
            "never".to_owned()
        } else {
            now.saturating_sub(then).to_string()
        }
    };
    let f = &state.forward;
    let load = |a: &std::sync::atomic::AtomicI64| a.load(Ordering::Relaxed).max(0) as u64;
    let mut s = String::new();
    let _ = writeln!(s, "uptime: {}", now.saturating_sub(state.started));
    let _ = writeln!(s, "messages.last_msg_seen: {}", ago(t.last_msg_seen));
    let _ = writeln!(s, "messages.bad_lines_seen: {}", t.bad_lines);
    let _ = writeln!(s, "messages.metrics_received: {}", t.lines);
    let _ = writeln!(s, "messages.packets_received: {}", t.packets);
    let _ = writeln!(s, "messages.kernel_drops: {}", t.kernel_drops);
    let _ = writeln!(s, "messages.series_overflow: {}", t.series_overflow);
    let _ = writeln!(s, "messages.truncated_datagrams: {}", t.truncated_datagrams);
    let _ = writeln!(s, "messages.tcp_lines_too_long: {}", t.tcp_lines_too_long);
    let _ = writeln!(
        s,
        "statsd.lost_intervals: {}",
        u8::from(state.unclean_start)
    );
    for (i, reason) in crate::protocol::statsd::BadLine::ALL.iter().enumerate() {
        let _ = writeln!(
            s,
            "messages.bad_lines.{}: {}",
            reason.name(),
            t.bad_by_reason.get(i).copied().unwrap_or(0)
        );
    }
    if !state.config.forward.addr.is_empty() {
        let _ = writeln!(s, "graphite.last_flush: {}", ago(load(&f.last_flush)));
        let _ = writeln!(
            s,
            "graphite.last_exception: {}",
            ago(load(&f.last_exception))
        );
        let _ = writeln!(
            s,
            "graphite.flush_time: {}",
            f.flush_time_ms.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "graphite.flush_length: {}",
            f.flush_length.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "graphite.backlog_bytes: {}",
            f.backlog_bytes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "graphite.dropped_points: {}",
            f.dropped_points.load(Ordering::Relaxed)
        );
    }
    if !state.storage.is_empty() {
        let fields: [(&str, crate::storage::stats::StatField); 12] = [
            ("carbon.metrics_received", |x| &x.metrics_received),
            ("carbon.bad_lines", |x| &x.bad_lines),
            ("storage.committed_points", |x| &x.committed_points),
            ("storage.update_operations", |x| &x.update_operations),
            ("storage.creates", |x| &x.creates),
            ("storage.errors", |x| &x.errors),
            ("storage.cache_size", |x| &x.cache_size),
            ("storage.cache_queues", |x| &x.cache_queues),
            ("storage.cache_overflow", |x| &x.cache_overflow),
            ("storage.bad_names", |x| &x.bad_names),
            ("storage.lost_in_shutdown", |x| &x.lost_in_shutdown),
            ("storage.update_micros", |x| &x.update_micros),
        ];
        for (name, field) in fields
            .into_iter()
            .chain(crate::storage::stats::JOURNAL_FIELDS)
        {
            let _ = writeln!(
                s,
                "{name}: {}",
                crate::storage::stats::total(&state.storage, field)
            );
        }
        for (i, reason) in crate::protocol::unpickle::PickleError::NAMES
            .iter()
            .enumerate()
        {
            let refused: u64 = state
                .storage
                .iter()
                .map(|x| x.pickle_refused[i].load(Ordering::Relaxed))
                .sum();
            let _ = writeln!(s, "carbon.pickle.{reason}: {refused}");
        }
        let sum = |field: &dyn Fn(&crate::storage::stats::StoreStats) -> u64| -> u64 {
            state.storage.iter().map(|x| field(x)).sum()
        };
        for (i, reason) in crate::storage::layout::LayoutError::REASONS
            .iter()
            .enumerate()
        {
            let n = sum(&|x| x.bad_name_reasons[i].load(Ordering::Relaxed));
            let _ = writeln!(s, "storage.bad_names.{reason}: {n}");
        }
        for (i, cause) in crate::storage::writer::WriteError::DROP_CAUSES
            .iter()
            .enumerate()
        {
            let n = sum(&|x| x.dropped[i].load(Ordering::Relaxed));
            let _ = writeln!(s, "storage.dropped.{cause}: {n}");
        }
        let n = sum(&|x| x.quarantined.load(Ordering::Relaxed));
        let _ = writeln!(s, "storage.quarantined: {n}");
        let last = state
            .storage
            .iter()
            .map(|x| x.last_commit_unix_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let _ = writeln!(s, "storage.last_commit_unix_ms: {last}");
        for (id, x) in state.storage.iter().enumerate() {
            let open = x.connections.load(Ordering::Relaxed);
            let _ = writeln!(s, "carbon.shard.{id}.connections: {open}");
        }
    }
    if let Ok(guard) = state.index.lock() {
        match guard.as_ref() {
            Some((_, r)) => {
                let _ = writeln!(s, "index.series: {}", r.series);
                let _ = writeln!(s, "index.tagged_files: {}", r.tagged);
                let _ = writeln!(s, "index.scan_seconds: {:.3}", r.elapsed.as_secs_f64());
            }
            None => {
                let _ = writeln!(s, "index.series: scanning");
            }
        }
    }
    s.push_str("END\n\n");
    s
}

async fn view(state: &AdminState, kind: Kind) -> String {
    let mut all: Vec<(String, String)> = Vec::new();
    for s in &state.shards {
        let (reply, rx) = oneshot::channel();
        if s.send(Control::View { kind, reply }).await.is_ok() {
            if let Ok(v) = rx.await {
                all.extend(v);
            }
        }
    }
    all = merge_views(kind, all);
    let mut out = String::from("{");
    for (i, (k, v)) in all.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        if k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            out.push_str(k);
        } else {
            let _ = write!(out, "'{}'", k.replace('\\', "\\\\").replace('\'', "\\'"));
        }
        out.push_str(": ");
        out.push_str(v);
    }
    out.push_str(if all.is_empty() {
        "}\nEND\n\n"
    } else {
        "\n}\nEND\n\n"
    });
    out
}

/// Combine the shards' partial views of one kind into one view per key.
fn merge_views(kind: Kind, mut rows: Vec<(String, String)>) -> Vec<(String, String)> {
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, String)> = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        match out.last_mut() {
            Some((lk, lv)) if *lk == k => match kind {
                Kind::Counter => {
                    if let (Ok(a), Ok(b)) = (lv.parse::<f64>(), v.parse::<f64>()) {
                        let mut s = Vec::new();
                        crate::protocol::number::write_js_number(&mut s, a + b);
                        *lv = String::from_utf8_lossy(&s).into_owned();
                    }
                }
                Kind::Gauge => {}
                Kind::Timer | Kind::Set => {
                    let inner = |s: &str| {
                        s.trim()
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .trim()
                            .to_owned()
                    };
                    let (a, b) = (inner(lv), inner(&v));
                    *lv = match (a.is_empty(), b.is_empty()) {
                        (true, _) => format!("[ {b} ]"),
                        (_, true) => format!("[ {a} ]"),
                        _ => format!("[ {a}, {b} ]"),
                    };
                }
            },
            _ => out.push((k, v)),
        }
    }
    out
}

async fn delete(state: &AdminState, kind: Kind, patterns: &[&str]) -> String {
    let mut out = String::new();
    for pattern in patterns {
        let mut deleted = Vec::new();
        for s in &state.shards {
            let (reply, rx) = oneshot::channel();
            if s.send(Control::Delete {
                kind,
                pattern: (*pattern).to_owned(),
                reply,
            })
            .await
            .is_ok()
            {
                if let Ok(v) = rx.await {
                    deleted.extend(v);
                }
            }
        }
        deleted.sort();
        deleted.dedup();
        if deleted.is_empty() {
            let _ = writeln!(out, "metric {pattern} not found");
        }
        for k in deleted {
            let _ = writeln!(out, "deleted: {k}");
        }
    }
    out.push_str("END\n\n");
    out
}

/// `forget`: removes from `index` each of `names` whose file under `data_dir` is gone.
fn forget(
    index: &mut crate::query::glob::NameIndex,
    data_dir: &std::path::Path,
    names: &[&str],
) -> String {
    let (mut forgot, mut kept) = (0, 0);
    for name in names {
        match crate::storage::layout::metric_path(data_dir, name) {
            Ok(path) if path.exists() => kept += 1,
            Ok(_) => forgot += usize::from(index.remove(name)),
            Err(_) => {}
        }
    }
    format!("forgot: {forgot} kept: {kept}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forget_drops_only_names_whose_file_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("whisper/a/kept.wsp");
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        std::fs::write(&kept, b"").unwrap();
        let mut index = crate::query::glob::NameIndex::new();
        for n in ["a.kept", "a.moved", "b.moved"] {
            index.insert(n);
        }
        let reply = forget(
            &mut index,
            dir.path(),
            &["a.kept", "a.moved", "b.moved", "never.known"],
        );
        assert_eq!(reply, "forgot: 2 kept: 1\n");
        assert_eq!(index.all(), ["a.kept"]);
    }
}
