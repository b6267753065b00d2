//! StatsD line parser. API CONTRACT (implementation pending, owned by the statsd-core helper).

/// The four aggregation kinds. `h` and `d` parse as [`Kind::Timer`]; etsy counts them as counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Counter,
    Gauge,
    Timer,
    Set,
}

/// One parsed value of a line (a multi-value line `k:1|c:2|ms` yields several).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `c`: value already multiplied by `1/sample_rate`.
    Counter(f64),
    /// `g`: `delta` is true when the text began with `+` or `-`.
    Gauge { value: f64, delta: bool },
    /// `ms`, `h`, `d`: the value, and the count weight `1/sample_rate`.
    Timer { value: f64, weight: f64 },
    /// `s`: the member's raw bytes.
    Set(&'a [u8]),
}

/// A parsed sample: the normalised key (sanitised, tags sorted, `;k=v` form) and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    pub key: &'a [u8],
    pub value: Value<'a>,
}

/// Why a line (or one value of a multi-value line) was dropped. Also the list of drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadLine {
    Placeholder,
}
