//! CPU time per state from `/proc/stat`, as percent (Diamond's `cpu` collector).
//!
//! Diamond reports the change of each jiffies counter per second; with the
//! kernel's 100 ticks per second that is the percent of one core spent in the
//! state, so `total` adds up to 100 × cores. We scale by the real tick rate, so
//! the value stays a percent on a kernel with another `USER_HZ`.
//! Names: `cpu.total.<state>`, `cpu.cpu<N>.<state>` (with `percore`), and
//! `cpu.cpu_count`. States as the kernel lists them: user, nice, system, idle,
//! iowait, irq, softirq, steal, guest, `guest_nice`. Two decimals.

use std::path::Path;

use procfs::{CpuTime, ExplicitSystemInfo, FromReadSI, KernelStats};

use super::sample::{delta, parse_error, rate_base, read_file, CollectError, Collector, Point};

const REL: &str = "proc/stat";

/// One CPU line: its name (`total`, `cpu0`, …) and its tick counters by state.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuLine {
    pub name: String,
    pub states: Vec<(&'static str, u64)>,
}

/// The CPU lines of one reading, `total` first.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu {
    pub lines: Vec<CpuLine>,
    /// Ticks per second the counters are in.
    pub ticks_per_second: u64,
}

impl Cpu {
    /// Number of per-core lines.
    pub fn count(&self) -> usize {
        self.lines.iter().filter(|l| l.name != "total").count()
    }
}

fn states(t: &CpuTime) -> Vec<(&'static str, u64)> {
    let mut v = vec![
        ("user", t.user),
        ("nice", t.nice),
        ("system", t.system),
        ("idle", t.idle),
    ];
    let optional = [
        ("iowait", t.iowait),
        ("irq", t.irq),
        ("softirq", t.softirq),
        ("steal", t.steal),
        ("guest", t.guest),
        ("guest_nice", t.guest_nice),
    ];
    v.extend(optional.iter().filter_map(|&(n, x)| x.map(|x| (n, x))));
    v
}

/// Parses the text of `/proc/stat`.
pub fn parse(text: &str, ticks_per_second: u64) -> Result<Cpu, String> {
    let si = ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    };
    let ks = KernelStats::from_read(text.as_bytes(), &si).map_err(|e| e.to_string())?;
    // procfs keeps the per-core lines in file order but drops their names; take
    // them from the file so an offline core does not shift the numbering.
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("cpu") && *w != "cpu")
        .collect();
    if names.len() != ks.cpu_time.len() {
        return Err(format!(
            "{} per-core lines but {} parsed",
            names.len(),
            ks.cpu_time.len()
        ));
    }
    let mut lines = vec![CpuLine {
        name: "total".into(),
        states: states(&ks.total),
    }];
    lines.extend(names.iter().zip(&ks.cpu_time).map(|(n, t)| CpuLine {
        name: (*n).to_owned(),
        states: states(t),
    }));
    Ok(Cpu {
        lines,
        ticks_per_second,
    })
}

/// Reads `<root>/proc/stat`.
pub fn read(root: &Path, ticks_per_second: u64) -> Result<Cpu, CollectError> {
    let text = read_file(root, REL, Collector::Cpu)?;
    parse(&text, ticks_per_second).map_err(|m| parse_error(root, REL, Collector::Cpu, m))
}

/// Percent per state since `prev`, `elapsed` seconds earlier; nothing without `prev`.
pub fn points(prev: Option<&Cpu>, cur: &Cpu, elapsed: f64, percore: bool, out: &mut Vec<Point>) {
    let Some(prev) = rate_base(prev, elapsed) else {
        return;
    };
    out.push(Point::new("cpu.cpu_count", cur.count() as f64, 2));
    let scale = 100.0 / (cur.ticks_per_second.max(1) as f64 * elapsed);
    for line in &cur.lines {
        if !percore && line.name != "total" {
            continue;
        }
        let Some(before) = prev.lines.iter().find(|l| l.name == line.name) else {
            continue;
        };
        for &(state, ticks) in &line.states {
            let Some(&(_, old)) = before.states.iter().find(|(s, _)| *s == state) else {
                continue;
            };
            let value = delta(old, ticks) as f64 * scale;
            out.push(Point::new(format!("cpu.{}.{state}", line.name), value, 2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "cpu  100 0 50 800 10 0 5 0 0 0\ncpu0 100 0 50 800 10 0 5 0 0 0\nctxt 1\nbtime 2\nprocesses 3\n";
    const T2: &str = "cpu  150 0 60 1020 10 0 10 0 0 0\ncpu0 150 0 60 1020 10 0 10 0 0 0\nctxt 1\nbtime 2\nprocesses 3\n";

    #[test]
    fn percent_per_state() {
        let a = parse(T1, 100).unwrap();
        let b = parse(T2, 100).unwrap();
        let mut out = Vec::new();
        points(Some(&a), &b, 2.8, false, &mut out);
        let got: Vec<(String, String)> = out
            .iter()
            .map(|p| (p.path.clone(), format!("{:.2}", p.value)))
            .collect();
        assert_eq!(got[0], ("cpu.cpu_count".into(), "1.00".into()));
        assert_eq!(got[1], ("cpu.total.user".into(), "17.86".into()));
        assert_eq!(got[4], ("cpu.total.idle".into(), "78.57".into()));
        assert_eq!(got.len(), 11);
    }

    #[test]
    fn first_reading_is_a_baseline() {
        let a = parse(T1, 100).unwrap();
        let mut out = Vec::new();
        points(None, &a, 1.0, true, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn core_names_come_from_the_file() {
        let t = "cpu  1 1 1 1\ncpu0 1 1 1 1\ncpu2 1 1 1 1\nctxt 1\nbtime 2\nprocesses 3\n";
        let c = parse(t, 100).unwrap();
        let names: Vec<&str> = c.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["total", "cpu0", "cpu2"]);
        assert_eq!(c.lines[1].states.len(), 4);
    }
}
