//! Load average from `/proc/loadavg` (Diamond's `loadavg` collector).
//!
//! Names: `loadavg.01`, `loadavg.05`, `loadavg.15` and the same divided by the
//! number of CPUs (`loadavg.01_normalized`, …), two decimals; then
//! `loadavg.processes_running` and `loadavg.processes_total`, whole numbers.
//! The file is parsed here rather than by procfs, whose `f32` fields would not
//! round like the kernel's two-decimal text; the CPU count comes from the
//! `cpuN` lines of `/proc/stat`.

use std::path::Path;

use super::sample::{parse_error, read_file, CollectError, Collector, Point};

const REL: &str = "proc/loadavg";

/// One reading of `/proc/loadavg`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadAvg {
    pub load: [f64; 3],
    pub running: u64,
    pub total: u64,
    /// CPUs the load is normalized by.
    pub cpu_count: usize,
}

/// Parses `/proc/loadavg` (`0.52 0.58 0.59 1/234 5678`).
pub fn parse(text: &str, cpu_count: usize) -> Result<LoadAvg, String> {
    let mut w = text.split_whitespace();
    let mut load = [0.0; 3];
    for l in &mut load {
        let f = w.next().ok_or("too few fields")?;
        *l = f.parse().map_err(|_| format!("bad load `{f}`"))?;
    }
    let procs = w.next().ok_or("no process counts")?;
    let (r, t) = procs
        .split_once('/')
        .ok_or_else(|| format!("bad process counts `{procs}`"))?;
    Ok(LoadAvg {
        load,
        running: r.parse().map_err(|_| format!("bad count `{r}`"))?,
        total: t.parse().map_err(|_| format!("bad count `{t}`"))?,
        cpu_count,
    })
}

/// Reads `<root>/proc/loadavg`, and `<root>/proc/stat` for the CPU count.
pub fn read(root: &Path) -> Result<LoadAvg, CollectError> {
    let stat = read_file(root, "proc/stat", Collector::Loadavg)?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let text = read_file(root, REL, Collector::Loadavg)?;
    parse(&text, cpus.max(1)).map_err(|m| parse_error(root, REL, Collector::Loadavg, m))
}

pub fn points(l: &LoadAvg, out: &mut Vec<Point>) {
    let n = l.cpu_count.max(1) as f64;
    for (name, v) in ["01", "05", "15"].iter().zip(l.load) {
        out.push(Point::new(format!("loadavg.{name}"), v, 2));
    }
    for (name, v) in ["01", "05", "15"].iter().zip(l.load) {
        out.push(Point::new(format!("loadavg.{name}_normalized"), v / n, 2));
    }
    out.push(Point::new("loadavg.processes_running", l.running as f64, 0));
    out.push(Point::new("loadavg.processes_total", l.total as f64, 0));
}
