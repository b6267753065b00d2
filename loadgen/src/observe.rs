//! `--server-pid`: what the server process spent while it took the load.
//!
//! Contract: a [`ProcSample`] is the process's total CPU time (user + system, all threads, from
//! `/proc/PID/stat`) and its resident memory now and at peak (`VmRSS`, `VmHWM` from
//! `/proc/PID/status`). A run samples once after the baseline count settled, just before the
//! first packet, and once after the final count settled; the difference is the CPU the server
//! used for the run, flushes included. Linux only; elsewhere, or if the process is gone, the
//! sample is an error and the report leaves the fields empty.

use std::io;

use serde::Serialize;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcSample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, KiB.
    pub rss_kb: u64,
    /// Peak resident set size, KiB.
    pub hwm_kb: u64,
    /// Time its threads spent runnable but waiting for a CPU, nanoseconds (sum over
    /// `/proc/PID/task/*/schedstat`, field 2; 0 when the kernel lacks schedstats).
    pub runq_wait_ns: u64,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let bad =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/{what}"));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let cpu_ticks = parse_stat_cpu(&stat).ok_or_else(|| bad("stat"))?;
    let rss_kb = parse_status_kb(&status, "VmRSS").ok_or_else(|| bad("status"))?;
    let hwm_kb = parse_status_kb(&status, "VmHWM").unwrap_or(rss_kb);
    Ok(ProcSample {
        cpu_ticks,
        rss_kb,
        hwm_kb,
        runq_wait_ns: runq_wait_ns(pid),
    })
}

/// Sum of the run-queue wait of every thread of `pid` (threads gone are not counted).
fn runq_wait_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|t| parse_schedstat_wait(&t))
        .sum()
}

/// Field 2 of `/proc/PID/task/TID/schedstat` (`on-CPU ns, waiting ns, timeslices`).
pub fn parse_schedstat_wait(text: &str) -> Option<u64> {
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Whole-machine CPU time from the `cpu` line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostSample {
    /// Everything but idle, iowait and steal.
    pub busy: u64,
    /// Time the hypervisor ran something else while a CPU of this guest wanted to run.
    pub steal: u64,
}

/// Reads `/proc/stat`.
pub fn host_sample() -> io::Result<HostSample> {
    let text = std::fs::read_to_string("/proc/stat")?;
    parse_proc_stat(&text)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "/proc/stat has no cpu line"))
}

/// The aggregate `cpu  user nice system idle iowait irq softirq steal ...` line.
pub fn parse_proc_stat(text: &str) -> Option<HostSample> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, ..] = v[..] else {
        return None;
    };
    Some(HostSample {
        busy: user + nice + system + irq + softirq,
        steal: v.get(7).copied().unwrap_or(0),
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 if unknown.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses, so fields are counted after the last `)`:
/// state is field 3, utime field 14, stime field 15.
pub fn parse_stat_cpu(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // rest starts at field 3; utime is field 14 → index 11
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value in KiB of a `Key:   123 kB` line of `/proc/PID/status`.
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != key {
            return None;
        }
        v.split_ascii_whitespace().next()?.parse().ok()
    })
}

/// The server's side of a run, as far as the kernel and `/proc` tell.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerReport {
    pub pid: Option<u32>,
    /// CPU seconds (user + system, all threads) from the first packet until the final count
    /// settled.
    pub cpu_s: Option<f64>,
    /// `cpu_s` per million lines the server counted (or sent, without verification).
    pub cpu_s_per_m_lines: Option<f64>,
    /// Resident memory after the run, KiB.
    pub rss_kb: Option<u64>,
    /// Peak resident memory of the process so far, KiB.
    pub hwm_kb: Option<u64>,
    /// Receive-buffer drops on the target UDP port during the run (`/proc/net/udp[6]`, all
    /// sockets bound to the port), for UDP targets.
    pub kernel_drops: Option<u64>,
    /// Lines the server counted per second of sending (`received / elapsed_s`).
    pub absorbed_lines_per_s: Option<f64>,
    pub note: Option<String>,
}

/// The whole machine while loadgen was sending (first packet to last), to see whether other
/// work competed with the server and the sender.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostReport {
    /// Seconds of the window.
    pub window_s: f64,
    /// CPU seconds used on the machine (all CPUs, all processes, interrupts included).
    pub busy_cpu_s: Option<f64>,
    /// CPU seconds of this loadgen process.
    pub sender_cpu_s: Option<f64>,
    /// CPU seconds of the server (with `--server-pid`).
    pub server_cpu_s: Option<f64>,
    /// `busy_cpu_s` − server − sender: other processes, plus interrupt time the kernel does
    /// not charge to a process. Near 0 on a quiet machine (without `--server-pid`, includes
    /// the server).
    pub others_cpu_s: Option<f64>,
    /// Seconds the server's threads were runnable but waited for a CPU (schedstat): the delay
    /// that competing work (the sender included) caused the server.
    pub server_runq_wait_s: Option<f64>,
    /// The same for loadgen's threads.
    pub sender_runq_wait_s: Option<f64>,
    /// CPU seconds the hypervisor took from this guest.
    pub steal_cpu_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_from_stat_survives_odd_command_names() {
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(325));
        assert_eq!(parse_stat_cpu("12 (x) S 1 2"), None);
        assert_eq!(parse_stat_cpu("no parens"), None);
    }

    #[test]
    fn host_busy_and_steal_from_proc_stat() {
        let text = "cpu  100 5 50 9000 7 3 2 11 0 0\ncpu0 50 2 25 4500 3 1 1 5 0 0\nintr 1\n";
        assert_eq!(
            parse_proc_stat(text),
            Some(HostSample {
                busy: 160,
                steal: 11
            })
        );
        assert_eq!(parse_proc_stat("cpu0 1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu \n"), None);
        assert!(host_sample().is_ok());
    }

    #[test]
    fn schedstat_wait_is_the_second_field() {
        assert_eq!(parse_schedstat_wait("123 456 7\n"), Some(456));
        assert_eq!(parse_schedstat_wait("123\n"), None);
    }

    #[test]
    fn kib_from_status() {
        let status = "Name:\tnode\nVmHWM:\t  81234 kB\nVmRSS:\t   70000 kB\nThreads:\t7\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(70_000));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(81_234));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kb > 0);
        assert!(s.hwm_kb >= s.rss_kb);
        assert!(ticks_per_second() > 0);
    }
}
