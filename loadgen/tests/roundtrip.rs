//! Runs the library against receivers inside the test, over 127.0.0.1 with port-0 sockets:
//! exact delivery of a bounded UDP run, TCP and carbon framing, and both verification paths
//! (a fake admin port, a fake server flushing its count to the carbon listener).

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::carbon::CarbonCounter;
use loadgen::mix::Mix;
use loadgen::payload::{Pool, PoolSpec, Protocol};
use loadgen::run::{run, Report, RunConfig, Verify};
use loadgen::send::SendPlan;

fn config(target: SocketAddr, protocol: Protocol, threads: usize, count: u64) -> RunConfig {
    RunConfig {
        pool: PoolSpec {
            protocol,
            names: 500,
            mix: Mix::parse("c=60,ms=20,g=10,s=10").expect("mix"),
            sample_rate: 1.0,
            tags: 1,
            per_packet: 25,
            lines: 2000,
            seed: 9,
            prefix: "rt".into(),
            timestamp: 1_700_000_000,
            history: 1,
            step: 60,
        },
        send: SendPlan {
            target,
            protocol,
            threads,
            // slow enough that the receiving thread keeps up on a busy 2-core machine
            rate: 50_000.0,
            count: Some(count),
            duration: None,
            batch: 64,
            sockets: 1,
        },
        verify: Verify::None,
        settle_quiet: Duration::from_millis(300),
        settle_max: Duration::from_secs(10),
        server_pid: None,
    }
}

/// A UDP receiver with a large buffer that collects lines until `stop` is set.
fn udp_receiver() -> (
    SocketAddr,
    Arc<AtomicBool>,
    std::thread::JoinHandle<Vec<Vec<u8>>>,
) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let _ = loadgen::net::set_recv_buffer(rx.as_raw_fd(), 8 << 20);
    rx.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let addr = rx.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let h = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            match rx.recv(&mut buf) {
                Ok(n) => lines.extend(
                    buf[..n]
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(<[u8]>::to_vec),
                ),
                Err(_) if s.load(Ordering::Relaxed) => return lines,
                Err(_) => {}
            }
        }
    });
    (addr, stop, h)
}

fn quiet_run(cfg: &RunConfig) -> Report {
    run(cfg, &mut |_| {}).expect("run")
}

#[test]
fn udp_run_delivers_exactly_the_lines_reported_one_thread() {
    let (addr, stop, h) = udp_receiver();
    let cfg = config(addr, Protocol::StatsdUdp, 1, 3_010);
    let r = quiet_run(&cfg);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let got = h.join().expect("receiver");
    assert_eq!(r.lines_sent, 3_010);
    assert_eq!(r.errors, 0);
    assert_eq!(got.len() as u64, r.lines_sent);
    // one thread starts at the pool's beginning: 2000 pool lines, then 1010 more from the start
    let pool = Pool::build(&cfg.pool).expect("pool");
    let once: Vec<Vec<u8>> = pool.iter_lines().map(<[u8]>::to_vec).collect();
    let expect: Vec<Vec<u8>> = once.iter().cycle().take(3_010).cloned().collect();
    let mut a = got.clone();
    let mut b = expect;
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // 121 datagrams: 120 full, one cut to 10 lines
    assert_eq!(r.datagrams, 121);
}

#[test]
fn udp_run_with_two_threads_and_plain_send() {
    let (addr, stop, h) = udp_receiver();
    let mut cfg = config(addr, Protocol::StatsdUdp, 2, 2_001);
    cfg.send.batch = 1;
    let r = quiet_run(&cfg);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let got = h.join().expect("receiver");
    assert_eq!(r.lines_sent, 2_001);
    assert_eq!(got.len() as u64, r.lines_sent);
    let pool_lines: std::collections::HashSet<Vec<u8>> = Pool::build(&cfg.pool)
        .expect("pool")
        .iter_lines()
        .map(<[u8]>::to_vec)
        .collect();
    assert!(got.iter().all(|l| pool_lines.contains(l)));
}

#[test]
fn several_sockets_per_thread_send_from_distinct_ports_in_turn() {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let _ = loadgen::net::set_recv_buffer(rx.as_raw_fd(), 8 << 20);
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let addr = rx.local_addr().expect("addr");
    let receiver = std::thread::spawn(move || {
        let mut per_port: BTreeMap<u16, u64> = BTreeMap::new();
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = rx.recv_from(&mut buf) {
            let lines = buf[..n].split(|b| *b == b'\n').filter(|l| !l.is_empty());
            *per_port.entry(from.port()).or_default() += lines.count() as u64;
        }
        per_port
    });
    // 4 sockets, one datagram per call (batch 1) so each socket gets every 4th datagram
    let mut cfg = config(addr, Protocol::StatsdUdp, 1, 2_000);
    cfg.send.sockets = 4;
    cfg.send.batch = 1;
    let r = quiet_run(&cfg);
    let per_port = receiver.join().expect("receiver");
    assert_eq!(r.lines_sent, 2_000);
    assert_eq!(per_port.len(), 4, "{per_port:?}");
    assert!(per_port.values().all(|&n| n == 500), "{per_port:?}");
}

#[test]
fn tcp_statsd_and_carbon_are_newline_framed() {
    for protocol in [Protocol::StatsdTcp, Protocol::CarbonTcp] {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut all = Vec::new();
            s.read_to_end(&mut all).expect("read");
            all
        });
        let mut cfg = config(addr, protocol, 1, 1_234);
        cfg.send.rate = 0.0;
        let r = quiet_run(&cfg);
        let all = h.join().expect("server");
        assert_eq!(r.lines_sent, 1_234, "{protocol:?}");
        assert_eq!(all.len() as u64, r.bytes);
        assert!(all.ends_with(b"\n"));
        let lines: Vec<&[u8]> = all
            .strip_suffix(b"\n")
            .expect("nl")
            .split(|b| *b == b'\n')
            .collect();
        assert_eq!(lines.len(), 1_234);
        if protocol == Protocol::CarbonTcp {
            assert!(lines.iter().all(|l| l.split(|b| *b == b' ').count() == 3));
        } else {
            assert!(lines.iter().all(|l| l.contains(&b'|')));
        }
    }
}

/// A fake StatsD server: counts UDP lines; answers `stats` on its admin port like lonsdaleite.
fn fake_server(print_metrics_received: bool) -> (SocketAddr, SocketAddr, Arc<AtomicU64>) {
    let (udp, received) = {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let _ = loadgen::net::set_recv_buffer(rx.as_raw_fd(), 8 << 20);
        let addr = rx.local_addr().expect("addr");
        let count = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&count);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok(n) = rx.recv(&mut buf) {
                let lines = buf[..n]
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count();
                c.fetch_add(lines as u64, Ordering::Relaxed);
            }
        });
        (addr, count)
    };
    let admin = TcpListener::bind("127.0.0.1:0").expect("bind");
    let admin_addr = admin.local_addr().expect("addr");
    let c = Arc::clone(&received);
    std::thread::spawn(move || {
        for s in admin.incoming() {
            let Ok(s) = s else { continue };
            let mut r = BufReader::new(&s);
            let mut cmd = String::new();
            while r.read_line(&mut cmd).is_ok_and(|n| n > 0) {
                if cmd.trim() == "stats" {
                    let mut w = &s;
                    let _ = write!(w, "uptime: 5\nmessages.bad_lines_seen: 0\n");
                    if print_metrics_received {
                        let _ = writeln!(
                            w,
                            "messages.metrics_received: {}",
                            c.load(Ordering::Relaxed)
                        );
                    }
                    let _ = w.write_all(b"END\n\n");
                }
                cmd.clear();
            }
        }
    });
    (udp, admin_addr, received)
}

#[test]
fn admin_verification_reports_zero_loss() {
    let (udp, admin, count) = fake_server(true);
    // traffic from before the run must not be counted
    count.store(777, Ordering::Relaxed);
    let mut cfg = config(udp, Protocol::StatsdUdp, 1, 2_500);
    cfg.verify = Verify::Admin(admin);
    let r = quiet_run(&cfg);
    assert_eq!(r.verify.method, "admin");
    assert_eq!(r.verify.before, Some(777));
    assert_eq!(r.verify.received, Some(2_500));
    assert_eq!(r.verify.loss_pct, Some(0.0));
    assert!(r.verify.settled);
}

#[test]
fn server_report_has_cpu_memory_drops_and_absorbed_rate() {
    // The fake server runs in this process, so this process is the server to observe.
    let (udp, admin, _) = fake_server(true);
    let mut cfg = config(udp, Protocol::StatsdUdp, 1, 1_000);
    cfg.verify = Verify::Admin(admin);
    cfg.server_pid = Some(std::process::id());
    let r = quiet_run(&cfg);
    assert_eq!(r.verify.received, Some(1_000));
    let s = &r.server;
    assert_eq!(s.pid, Some(std::process::id()));
    assert!(s.note.is_none(), "{:?}", s.note);
    assert!(s.cpu_s.is_some_and(|c| c >= 0.0));
    assert!(s.cpu_s_per_m_lines.is_some());
    assert!(s.rss_kb.is_some_and(|k| k > 0));
    assert!(s.hwm_kb >= s.rss_kb);
    // the fake server's socket has a large buffer and is drained: no drops on its port
    assert_eq!(s.kernel_drops, Some(0));
    let h = &r.host;
    assert!(h.window_s >= r.elapsed_s);
    assert!(h.busy_cpu_s.is_some() && h.sender_cpu_s.is_some() && h.server_cpu_s.is_some());
    assert!(h.others_cpu_s.is_some_and(|o| o >= 0.0));
    assert!(h.server_runq_wait_s.is_some_and(|w| w >= 0.0));
    let expected = 1_000.0 / r.elapsed_s;
    assert!(s
        .absorbed_lines_per_s
        .is_some_and(|a| (a - expected).abs() < 1e-6 * expected));
}

#[test]
fn admin_without_metrics_received_falls_back_to_sent_only() {
    let (udp, admin, _) = fake_server(false);
    let mut cfg = config(udp, Protocol::StatsdUdp, 1, 100);
    cfg.verify = Verify::Admin(admin);
    let r = quiet_run(&cfg);
    assert_eq!(r.lines_sent, 100);
    assert_eq!(r.verify.received, None);
    assert!(r
        .verify
        .note
        .as_deref()
        .is_some_and(|n| n.contains("metrics_received")));
}

#[test]
fn carbon_verification_sums_the_servers_flushes() {
    const METRIC: &str = "stats_counts.statsd.metrics_received";
    let counter = Arc::new(
        CarbonCounter::start("127.0.0.1:0".parse().expect("addr"), METRIC).expect("listen"),
    );
    let sink = counter.addr();
    let (udp, _admin, count) = fake_server(true);
    // the fake server flushes every 200 ms: lines processed since the last flush
    std::thread::spawn(move || {
        let mut flushed = 0;
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(200));
            let now = count.load(Ordering::Relaxed);
            if let Ok(mut s) = TcpStream::connect(sink) {
                let _ = write!(s, "stats.gauges.x 1 1\n{METRIC} {} 1\n", now - flushed);
                flushed = now;
            }
        }
    });
    let mut cfg = config(udp, Protocol::StatsdUdp, 1, 4_000);
    cfg.verify = Verify::CarbonListening(Arc::clone(&counter));
    let r = quiet_run(&cfg);
    assert_eq!(r.verify.method, "carbon");
    assert!(r.verify.settled, "{:?}", r.verify);
    assert_eq!(r.verify.received, Some(4_000));
    assert_eq!(r.verify.loss_pct, Some(0.0));
}

#[test]
fn type_mix_of_a_run_matches_the_request() {
    let (addr, stop, h) = udp_receiver();
    let mut cfg = config(addr, Protocol::StatsdUdp, 1, 2_000);
    cfg.pool.mix = Mix::parse("c=50,ms=25,s=25").expect("mix");
    cfg.pool.tags = 0;
    let r = quiet_run(&cfg);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let got = h.join().expect("receiver");
    assert_eq!(got.len() as u64, r.lines_sent);
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut names = std::collections::HashSet::new();
    for l in &got {
        let s = std::str::from_utf8(l).expect("ascii");
        let (name, rest) = s.split_once(':').expect("colon");
        names.insert(name.to_owned());
        *by_type
            .entry(rest.split('|').nth(1).expect("type").to_owned())
            .or_default() += 1;
    }
    // 2000 lines = 4 passes over 500 names
    assert_eq!(names.len(), 500);
    assert_eq!(by_type["c"], 1000);
    assert_eq!(by_type["ms"], 500);
    assert_eq!(by_type["s"], 500);
}
