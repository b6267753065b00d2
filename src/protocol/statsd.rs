//! StatsD line parser (etsy statsd 0.10 plus DogStatsD tags). API contract; implementation lands next.

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
    /// The key is empty (or empty after sanitising).
    EmptyKey,
    /// The key is not valid UTF-8 (only checked when sanitising is off).
    InvalidKey,
    /// No `|type` field.
    MissingType,
    /// A type other than `c`, `g`, `ms`, `h`, `d`, `s`.
    UnknownType,
    /// The value is not a decimal number.
    BadValue,
    /// The value (or value times 1/rate) is not finite.
    NonFinite,
    /// A negative timer value.
    NegativeTimer,
    /// `@rate` is not a positive finite number, or is repeated.
    BadSampleRate,
    /// A field after the type that is neither `@rate` nor a known DogStatsD extension.
    UnknownField,
}

impl BadLine {
    /// Every drop reason, in a stable order.
    pub const ALL: &'static [BadLine] = &[
        BadLine::EmptyKey,
        BadLine::InvalidKey,
        BadLine::MissingType,
        BadLine::UnknownType,
        BadLine::BadValue,
        BadLine::NonFinite,
        BadLine::NegativeTimer,
        BadLine::BadSampleRate,
        BadLine::UnknownField,
    ];

    /// snake_case name, used as the self-metric `statsd.bad_lines.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            BadLine::EmptyKey => "empty_key",
            BadLine::InvalidKey => "invalid_key",
            BadLine::MissingType => "missing_type",
            BadLine::UnknownType => "unknown_type",
            BadLine::BadValue => "bad_value",
            BadLine::NonFinite => "non_finite",
            BadLine::NegativeTimer => "negative_timer",
            BadLine::BadSampleRate => "bad_sample_rate",
            BadLine::UnknownField => "unknown_field",
        }
    }
}

/// Parser switches.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// etsy's key sanitising.
    pub sanitize: bool,
    /// Sort (and dedupe) DogStatsD tags.
    pub sort_tags: bool,
}

/// A reusable line parser (owns a scratch buffer for keys that must be rewritten).
pub struct Parser {
    opts: ParseOptions,
    scratch: Vec<u8>,
}

impl Parser {
    pub fn new(opts: ParseOptions) -> Self {
        Self {
            opts,
            scratch: Vec::new(),
        }
    }

    /// One line (no '\n'). Calls `f` once per value: a plain line yields one result, etsy's
    /// multi-value `k:1|c:2|ms` one per value. Empty lines yield nothing.
    pub fn parse_line(&mut self, line: &[u8], mut f: impl FnMut(Result<Sample<'_>, BadLine>)) {
        let _ = (self.opts, &mut self.scratch);
        if line.is_empty() {
            return;
        }
        f(Err(BadLine::MissingType));
    }
}
