//! Timer aggregates and etsy's timer statistics (`lib/process_metrics.js` semantics).
//!
//! A [`TimerAgg`] holds one interval of one timer series:
//! - `weight`: Σ 1/rate over the values (etsy's `timer_counters`), emitted as `count`;
//! - exact values, up to `timer_max_samples` per series per interval; the statistics are
//!   then computed exactly as etsy does (sorted values, prefix sums in sorted order), so the
//!   output is bit-for-bit etsy's;
//! - beyond the cap, an HDR histogram ([`Hdr`]): values in microseconds as `u64` with 3
//!   significant digits, plus exact running `n`, sum, sum of squares, min, max and a Welford
//!   mean/variance. Rank statistics (`upper_P`, `lower_topP`, `median`), the partial sums
//!   (`sum_P`, `mean_P`, `sum_squares_P`) and histogram bins then come from the buckets:
//!   each value they use is within 0.1 % + 0.0005 ms of a value actually recorded at that
//!   rank (docs/statsd.md states the bound).
//!
//! Merging (partials from other shards) concatenates exact values while the total stays
//! within the cap, else switches to the histogram and adds.
//!
//! Emission order per timer (etsy): for each percentile `count_P mean_P upper_P|lower_topP
//! sum_P sum_squares_P`; then `std upper lower count count_ps sum sum_squares mean median`;
//! then `histogram.bin_*`. An empty timer emits only `count 0` and `count_ps 0`.

use hdrhistogram::Histogram;

use super::snapshot::{Dec, Enc, SnapshotError};
use crate::config::{Bin, HistogramRule, StatsdConfig};
use crate::protocol::number::write_js_number;

/// Derived timer settings, built once from the config.
#[derive(Debug)]
pub(crate) struct TimerSpec {
    pcts: Vec<PctSpec>,
    /// Whether each of [`FIXED`] is emitted (the `calculated_timer_metrics` filter).
    fixed: [bool; 9],
    histogram_enabled: bool,
    rules: Vec<BinRule>,
    flush_secs: f64,
    pub max_samples: usize,
}

/// One configured percentile with its five stat names.
#[derive(Debug)]
struct PctSpec {
    p: f64,
    names: [Vec<u8>; 5],
    enabled: [bool; 5],
}

/// One histogram rule: substring to match and the bins (bound, `histogram.bin_<b>` name).
#[derive(Debug)]
struct BinRule {
    metric: Vec<u8>,
    bins: Vec<(Option<f64>, Vec<u8>)>,
}

/// The fixed stats, in emission order.
const FIXED: [&[u8]; 9] = [
    b"std",
    b"upper",
    b"lower",
    b"count",
    b"count_ps",
    b"sum",
    b"sum_squares",
    b"mean",
    b"median",
];
const COUNT: usize = 3;
const COUNT_PS: usize = 4;

impl TimerSpec {
    pub fn new(cfg: &StatsdConfig) -> Self {
        let filters = &cfg.calculated_timer_metrics;
        // etsy's calculatedTimerMetrics: empty = every stat, otherwise only those listed.
        let enabled = |name: &[u8]| {
            filters.is_empty()
                || filters
                    .iter()
                    .any(|f| f.as_bytes() == filter_key(name).as_slice())
        };
        let pcts = cfg
            .percent_threshold
            .iter()
            .map(|&p| {
                let clean = clean_pct(p);
                let bound: &[u8] = if p > 0.0 { b"upper_" } else { b"lower_" };
                let names = [&b"count_"[..], b"mean_", bound, b"sum_", b"sum_squares_"]
                    .map(|stem| [stem, &clean[..]].concat());
                let enabled = [0, 1, 2, 3, 4].map(|i| enabled(&names[i]));
                PctSpec { p, names, enabled }
            })
            .collect();
        let rules = cfg.histogram.iter().map(bin_rule).collect();
        Self {
            pcts,
            fixed: FIXED.map(enabled),
            histogram_enabled: enabled(b"histogram"),
            rules,
            flush_secs: cfg.flush_interval.as_secs_f64(),
            max_samples: cfg.timer_max_samples.max(1),
        }
    }

    /// The histogram rule for `key` (etsy: the first rule whose metric is a substring of
    /// the key; a rule with no bins disables histograms for the key).
    pub fn rule_for(&self, key: &[u8]) -> Option<u32> {
        let i = self.rules.iter().position(|r| contains(key, &r.metric))?;
        (!self.rules[i].bins.is_empty()).then_some(i as u32)
    }
}

fn bin_rule(r: &HistogramRule) -> BinRule {
    let bins = r
        .bins
        .iter()
        .map(|b| {
            let mut name = b"histogram.bin_".to_vec();
            match *b {
                Bin::Inf => {
                    name.extend_from_slice(b"inf");
                    (None, name)
                }
                Bin::Bound(v) => {
                    let start = name.len();
                    write_js_number(&mut name, v);
                    replace_first(&mut name[start..], b'.', b'_');
                    (Some(v), name)
                }
            }
        })
        .collect();
    BinRule {
        metric: r.metric.as_bytes().to_vec(),
        bins,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn replace_first(s: &mut [u8], from: u8, to: u8) {
    if let Some(b) = s.iter_mut().find(|b| **b == from) {
        *b = to;
    }
}

/// etsy's percentile name suffix: JS text of `p`, first `.` → `_`, first `-` → `top`.
fn clean_pct(p: f64) -> Vec<u8> {
    let mut s = Vec::new();
    write_js_number(&mut s, p);
    replace_first(&mut s, b'.', b'_');
    match s.iter().position(|&b| b == b'-') {
        Some(i) => [&s[..i], b"top", &s[i + 1..]].concat(),
        None => s,
    }
}

/// etsy's filter key: a trailing `_<digits>` or `_top<digits>` becomes `_percent`.
fn filter_key(name: &[u8]) -> Vec<u8> {
    let digits = name.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return name.to_vec();
    }
    let stem = &name[..name.len() - digits];
    let cut = if stem.ends_with(b"_top") {
        stem.len() - 4
    } else if stem.ends_with(b"_") {
        stem.len() - 1
    } else {
        return name.to_vec();
    };
    [&name[..cut], b"_percent"].concat()
}

/// Microseconds as the histogram's unit; the histogram tracks up to `i64::MAX / 2`.
fn to_units(v: f64) -> u64 {
    (v * 1000.0).round().clamp(0.0, (i64::MAX / 2) as f64) as u64
}

/// The bounded-memory form of a timer: HDR buckets plus exact running totals.
#[derive(Debug, Clone)]
pub(crate) struct Hdr {
    hist: Histogram<u64>,
    n: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
    mean: f64,
    m2: f64,
}

impl Hdr {
    fn new() -> Self {
        let mut hist =
            Histogram::new(3).expect("3 significant digits is a valid histogram precision");
        // Grow the range on demand, so memory follows the range of the recorded values.
        hist.auto(true);
        Self {
            hist,
            n: 0,
            sum: 0.0,
            sum_sq: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            mean: 0.0,
            m2: 0.0,
        }
    }

    fn record(&mut self, v: f64) {
        let u = to_units(v);
        if self.hist.record(u).is_err() {
            self.hist.saturating_record(u);
        }
        self.n += 1;
        self.sum += v;
        self.sum_sq += v * v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let delta = v - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (v - self.mean);
    }

    fn absorb(&mut self, o: &Hdr) {
        if o.n == 0 {
            return;
        }
        // The histogram auto-resizes, so adding cannot run out of range.
        let _ = self.hist.add(&o.hist);
        let (na, nb) = (self.n as f64, o.n as f64);
        let n = na + nb;
        let delta = o.mean - self.mean;
        self.mean += delta * nb / n;
        self.m2 += o.m2 + delta * delta * na * nb / n;
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// Buckets as (representative value in ms, count), ascending; representatives are the
    /// bucket's median-equivalent value clamped to the exact [min, max].
    fn buckets(&self) -> Vec<(f64, u64)> {
        self.hist
            .iter_recorded()
            .map(|it| {
                let v = self.hist.median_equivalent(it.value_iterated_to()) as f64 / 1000.0;
                (v.clamp(self.min, self.max), it.count_at_value())
            })
            .collect()
    }
}

/// One interval of one timer series.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimerAgg {
    /// Σ 1/rate (etsy's `timer_counters`).
    pub weight: f64,
    values: Vec<f64>,
    hdr: Option<Box<Hdr>>,
}

impl TimerAgg {
    /// Record one value with its count weight; switches to the histogram past `cap` values.
    #[inline]
    pub fn record(&mut self, v: f64, weight: f64, cap: usize) {
        self.weight += weight;
        if let Some(h) = self.hdr.as_mut() {
            h.record(v);
        } else if self.values.len() < cap {
            self.values.push(v);
        } else {
            self.switch_to_hdr().record(v);
        }
    }

    fn switch_to_hdr(&mut self) -> &mut Hdr {
        let values = std::mem::take(&mut self.values);
        self.hdr.get_or_insert_with(|| {
            let mut h = Hdr::new();
            for v in values {
                h.record(v);
            }
            Box::new(h)
        })
    }

    /// Values recorded this interval.
    pub fn len(&self) -> u64 {
        self.hdr.as_ref().map_or(self.values.len() as u64, |h| h.n)
    }

    /// True when the series switched to the histogram this interval.
    pub fn is_approximate(&self) -> bool {
        self.hdr.is_some()
    }

    /// The exact values (empty once approximate), in arrival order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Add another interval's aggregate of the same series.
    pub fn merge(&mut self, other: TimerAgg, cap: usize) {
        self.weight += other.weight;
        match other.hdr {
            None if self.hdr.is_none() && self.values.len() + other.values.len() <= cap => {
                if self.values.is_empty() {
                    self.values = other.values;
                } else {
                    self.values.extend_from_slice(&other.values);
                }
            }
            None => {
                let h = self.switch_to_hdr();
                for v in other.values {
                    h.record(v);
                }
            }
            Some(o) => self.switch_to_hdr().absorb(&o),
        }
    }

    /// Append the byte form (see [`super::snapshot`]): weight, then the exact values or
    /// the histogram with its running totals.
    pub fn encode(&self, e: &mut Enc) {
        e.f64(self.weight);
        match &self.hdr {
            None => {
                e.u8(0);
                e.u32(self.values.len() as u32);
                for &v in &self.values {
                    e.f64(v);
                }
            }
            Some(h) => {
                e.u8(1);
                e.u64(h.n);
                for v in [h.sum, h.sum_sq, h.min, h.max, h.mean, h.m2] {
                    e.f64(v);
                }
                let recorded: Vec<(u64, u64)> = h
                    .hist
                    .iter_recorded()
                    .map(|it| (it.value_iterated_to(), it.count_at_value()))
                    .collect();
                e.u32(recorded.len() as u32);
                for (value, count) in recorded {
                    e.u64(value);
                    e.u64(count);
                }
            }
        }
    }

    /// Read [`encode`](Self::encode)'s form; each histogram bucket is recorded again at its
    /// highest equivalent value, which lands in the same bucket.
    pub fn decode(d: &mut Dec<'_>) -> Result<Self, SnapshotError> {
        let weight = d.f64()?;
        match d.u8()? {
            0 => {
                let n = d.count(8)?;
                let values = (0..n).map(|_| d.f64()).collect::<Result<Vec<_>, _>>()?;
                Ok(Self {
                    weight,
                    values,
                    hdr: None,
                })
            }
            1 => {
                let mut h = Hdr::new();
                h.n = d.u64()?;
                h.sum = d.f64()?;
                h.sum_sq = d.f64()?;
                h.min = d.f64()?;
                h.max = d.f64()?;
                h.mean = d.f64()?;
                h.m2 = d.f64()?;
                for _ in 0..d.count(16)? {
                    let (value, count) = (d.u64()?, d.u64()?);
                    if h.hist.record_n(value, count).is_err() {
                        h.hist.saturating_record_n(value, count);
                    }
                }
                Ok(Self {
                    weight,
                    values: Vec::new(),
                    hdr: Some(Box::new(h)),
                })
            }
            _ => Err(SnapshotError::Malformed(0)),
        }
    }

    /// Forget this interval (etsy: `timers[key] = []`, `timer_counters[key] = 0`).
    pub fn reset(&mut self) {
        self.weight = 0.0;
        self.hdr = None;
        self.values.clear();
        if self.values.capacity() > 1024 {
            self.values.shrink_to(1024);
        }
    }

    /// Emit etsy's statistics as `(stat name, value)` in etsy's order.
    pub fn emit_stats(
        &mut self,
        spec: &TimerSpec,
        rule: Option<u32>,
        emit: &mut impl FnMut(&[u8], f64),
    ) {
        let rule = rule
            .and_then(|r| spec.rules.get(r as usize))
            .filter(|_| spec.histogram_enabled);
        if let Some(h) = self.hdr.as_deref() {
            emit_approximate(h, self.weight, spec, rule, emit);
        } else if self.values.is_empty() {
            if spec.fixed[COUNT] {
                emit(FIXED[COUNT], 0.0);
            }
            if spec.fixed[COUNT_PS] {
                emit(FIXED[COUNT_PS], 0.0);
            }
        } else {
            self.values.sort_unstable_by(f64::total_cmp);
            emit_exact(&self.values, self.weight, spec, rule, emit);
        }
    }
}

/// Emit the fixed stats block (std .. median) in order, honouring the filter.
fn emit_fixed(spec: &TimerSpec, vals: [f64; 9], emit: &mut impl FnMut(&[u8], f64)) {
    for (i, v) in vals.into_iter().enumerate() {
        if spec.fixed[i] {
            emit(FIXED[i], v);
        }
    }
}

fn emit_pct(pct: &PctSpec, vals: [f64; 5], emit: &mut impl FnMut(&[u8], f64)) {
    for (i, v) in vals.into_iter().enumerate() {
        if pct.enabled[i] {
            emit(&pct.names[i], v);
        }
    }
}

/// etsy's `Math.round(|p| / 100 * n)`, the number of values a percentile covers.
fn pct_count(p: f64, n: usize) -> usize {
    (p.abs() / 100.0 * n as f64).round() as usize
}

/// Exact statistics over sorted values, computed in etsy's order of operations.
fn emit_exact(
    values: &[f64],
    weight: f64,
    spec: &TimerSpec,
    rule: Option<&BinRule>,
    emit: &mut impl FnMut(&[u8], f64),
) {
    let n = values.len();
    let min = values[0];
    let max = values[n - 1];
    let mut cumul = Vec::with_capacity(n);
    let mut cumul_sq = Vec::with_capacity(n);
    let (mut s, mut sq) = (0.0, 0.0);
    for (i, &v) in values.iter().enumerate() {
        if i == 0 {
            (s, sq) = (v, v * v);
        } else {
            s += v;
            sq += v * v;
        }
        cumul.push(s);
        cumul_sq.push(sq);
    }
    for pct in &spec.pcts {
        let (k, bound, sum, sum_sq) = if n > 1 {
            let k = pct_count(pct.p, n);
            if k == 0 {
                continue;
            }
            if pct.p > 0.0 {
                (k, values[k - 1], cumul[k - 1], cumul_sq[k - 1])
            } else if k < n {
                let below = n - k - 1;
                (
                    k,
                    values[n - k],
                    cumul[n - 1] - cumul[below],
                    cumul_sq[n - 1] - cumul_sq[below],
                )
            } else {
                // etsy reads cumulativeValues[-1] here and emits NaN; the top 100 % is everything.
                (k, values[0], cumul[n - 1], cumul_sq[n - 1])
            }
        } else {
            (1, max, min, min * min)
        };
        let mean = if n > 1 { sum / k as f64 } else { min };
        emit_pct(pct, [k as f64, mean, bound, sum, sum_sq], emit);
    }
    let sum = cumul[n - 1];
    let sum_sq = cumul_sq[n - 1];
    let mean = sum / n as f64;
    let diffs: f64 = values
        .iter()
        .fold(0.0, |acc, &v| acc + (v - mean) * (v - mean));
    let mid = n / 2;
    // etsy's arithmetic, kept as written: (a + b) / 2.
    #[allow(clippy::manual_midpoint)]
    let median = if n % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    };
    let std = (diffs / n as f64).sqrt();
    emit_fixed(
        spec,
        [
            std,
            max,
            min,
            weight,
            weight / spec.flush_secs,
            sum,
            sum_sq,
            mean,
            median,
        ],
        emit,
    );
    if let Some(rule) = rule {
        let mut i = 0;
        for (bound, name) in &rule.bins {
            let mut freq = 0u64;
            while i < n && bound.is_none_or(|b| values[i] < b) {
                freq += 1;
                i += 1;
            }
            emit(name, freq as f64);
        }
    }
}

/// Sum, sum of squares and the last value of the `k` first values of a bucket walk.
fn walk<'a>(buckets: impl Iterator<Item = &'a (f64, u64)>, k: u64) -> (f64, f64, f64) {
    let (mut sum, mut sq, mut last, mut left) = (0.0, 0.0, 0.0, k);
    for &(v, c) in buckets {
        if left == 0 {
            break;
        }
        let take = c.min(left);
        sum += take as f64 * v;
        sq += take as f64 * v * v;
        last = v;
        left -= take;
    }
    (sum, sq, last)
}

/// The `r`-th smallest value (1-based) of a bucket list.
fn rank(buckets: &[(f64, u64)], r: u64) -> f64 {
    walk(buckets.iter(), r).2
}

/// Statistics from the histogram: ranks and partial sums from buckets, totals exact.
fn emit_approximate(
    h: &Hdr,
    weight: f64,
    spec: &TimerSpec,
    rule: Option<&BinRule>,
    emit: &mut impl FnMut(&[u8], f64),
) {
    let buckets = h.buckets();
    let n = h.n;
    for pct in &spec.pcts {
        let k = if n > 1 {
            pct_count(pct.p, n as usize) as u64
        } else {
            1
        };
        if k == 0 {
            continue;
        }
        let (sum, sum_sq, bound) = if pct.p > 0.0 {
            walk(buckets.iter(), k)
        } else {
            walk(buckets.iter().rev(), k)
        };
        emit_pct(pct, [k as f64, sum / k as f64, bound, sum, sum_sq], emit);
    }
    let mean = h.sum / n as f64;
    let median = if n % 2 == 1 {
        rank(&buckets, n / 2 + 1)
    } else {
        f64::midpoint(rank(&buckets, n / 2), rank(&buckets, n / 2 + 1))
    };
    let std = (h.m2.max(0.0) / n as f64).sqrt();
    emit_fixed(
        spec,
        [
            std,
            h.max,
            h.min,
            weight,
            weight / spec.flush_secs,
            h.sum,
            h.sum_sq,
            mean,
            median,
        ],
        emit,
    );
    if let Some(rule) = rule {
        let mut it = buckets.iter().peekable();
        for (bound, name) in &rule.bins {
            let mut freq = 0u64;
            while let Some(&&(v, c)) = it.peek() {
                if bound.is_some_and(|b| v >= b) {
                    break;
                }
                freq += c;
                it.next();
            }
            emit(name, freq as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn spec(extra: &str) -> TimerSpec {
        let cfg =
            Config::from_toml_str(&format!("[statsd]\n{extra}"), Path::new("t.toml")).unwrap();
        TimerSpec::new(&cfg.statsd)
    }

    fn stats(t: &mut TimerAgg, s: &TimerSpec, key: &[u8]) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        t.emit_stats(s, s.rule_for(key), &mut |n, v| {
            out.push((String::from_utf8(n.to_vec()).unwrap(), v));
        });
        out
    }

    fn get(out: &[(String, f64)], name: &str) -> Option<f64> {
        out.iter().find(|(n, _)| n == name).map(|p| p.1)
    }

    #[test]
    fn names_and_filter_keys() {
        assert_eq!(clean_pct(99.9), b"99_9");
        assert_eq!(clean_pct(-10.0), b"top10");
        assert_eq!(clean_pct(90.0), b"90");
        assert_eq!(filter_key(b"upper_90"), b"upper_percent");
        assert_eq!(filter_key(b"lower_top10"), b"lower_percent");
        assert_eq!(filter_key(b"count_99_9"), b"count_99_percent");
        assert_eq!(filter_key(b"count_ps"), b"count_ps");
        assert_eq!(filter_key(b"x10"), b"x10");
    }

    #[test]
    fn filter_keeps_only_the_listed_stats() {
        let s = spec("percent_threshold = [90, -10]\ncalculated_timer_metrics = [\"upper_percent\", \"std\", \"count_ps\"]");
        let mut t = TimerAgg::default();
        for v in 1..=10 {
            t.record(f64::from(v), 1.0, 100);
        }
        let out = stats(&mut t, &s, b"t");
        let names: Vec<&str> = out.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(names, ["upper_90", "std", "count_ps"]);
    }

    #[test]
    fn minus_hundred_has_no_nan() {
        let s = spec("percent_threshold = [-100]");
        let mut t = TimerAgg::default();
        for v in [1.0, 2.0, 3.0] {
            t.record(v, 1.0, 100);
        }
        let out = stats(&mut t, &s, b"t");
        assert_eq!(get(&out, "sum_top100"), Some(6.0));
        assert_eq!(get(&out, "mean_top100"), Some(2.0));
        assert_eq!(get(&out, "lower_top100"), Some(1.0));
        assert_eq!(get(&out, "sum_squares_top100"), Some(14.0));
    }

    /// The histogram form stays within the documented bound of the exact statistics.
    #[test]
    fn approximate_within_bound() {
        let s = spec("percent_threshold = [90, -10, 50]\nhistogram = [{metric = \"t\", bins = [100, 1000, \"inf\"]}]");
        let values: Vec<f64> = (0..20_000u32)
            .map(|i| f64::from((i * 7919) % 20_000) * 0.137 + 0.25)
            .collect();
        let mut exact = TimerAgg::default();
        let mut approx = TimerAgg::default();
        for &v in &values {
            exact.record(v, 1.0, usize::MAX);
            approx.record(v, 1.0, 1000);
        }
        assert!(approx.is_approximate() && !exact.is_approximate());
        let e = stats(&mut exact, &s, b"t");
        let a = stats(&mut approx, &s, b"t");
        assert_eq!(
            e.iter().map(|p| &p.0).collect::<Vec<_>>(),
            a.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        for ((name, ev), (_, av)) in e.iter().zip(&a) {
            let tol = if name.starts_with("sum_squares") {
                0.002
            } else {
                0.001
            } * ev.abs()
                + 0.0005 * 20_000.0;
            let tol = if name.contains("bin_") { 30.0 } else { tol };
            assert!((ev - av).abs() <= tol, "{name}: exact {ev} approx {av}");
        }
        for name in ["count", "upper", "lower", "count_90"] {
            assert_eq!(get(&e, name), get(&a, name), "{name}");
        }
    }

    #[test]
    fn merge_switches_to_histogram_past_the_cap() {
        let mut a = TimerAgg::default();
        let mut b = TimerAgg::default();
        for v in 0..6 {
            a.record(f64::from(v), 1.0, 10);
            b.record(f64::from(v), 0.5, 10);
        }
        let mut c = a.clone();
        c.merge(b.clone(), 12);
        assert!(!c.is_approximate());
        assert_eq!(c.len(), 12);
        a.merge(b, 10);
        assert!(a.is_approximate());
        assert_eq!(a.len(), 12);
        assert!((a.weight - 9.0).abs() < 1e-12);
        a.reset();
        assert_eq!(a.len(), 0);
        assert!(!a.is_approximate());
    }
}
