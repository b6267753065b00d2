//! One request's budget: the `[http]` limits applied to the whole request (every target,
//! nested call and glob walk of it), and the stop signal its long loops poll.
//!
//! What it counts, cumulatively from the request's start:
//! - series fetched (`http.max_series`) and values fetched or made by functions beyond
//!   their input (`http.max_points`): [`Budget::charge_series`], [`Budget::charge_points`];
//! - glob candidates tried: brace variants produced and (node, pattern) pairs tested in
//!   the name index walks (`http.max_glob_candidates`): [`Budget::try_candidates`];
//! - the bytes one response may hold (`http.max_response_bytes`), which the encoders
//!   check as they write.
//!
//! Why a request stops early ([`Stop`]): its deadline (`http.timeout`) passed, the server
//! is stopping, or the client went away. Loops call [`Budget::tick`] once per unit of work
//! (a candidate tried, a window computed, a file read); every [`CHECK_EVERY`] ticks it
//! reads the monotonic clock and asks the stop probe the runtime shell gave it, so a tick
//! costs a counter increment. The budget is used by one thread (it is not `Sync`).
//!
//! Size limits are HTTP 400 and stops are 503; each message names its setting.

use std::cell::Cell;
use std::time::Instant;

use crate::query::eval::Limits;

/// Ticks between two looks at the clock and the stop probe.
pub const CHECK_EVERY: u32 = 256;

/// The glob candidates a request may try when no setting says otherwise.
pub const DEFAULT_MAX_CANDIDATES: usize = 2_000_000;

/// Why a request was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Its deadline (`http.timeout`) passed.
    Deadline,
    /// The server is stopping (SIGTERM, SIGINT).
    Stopping,
    /// The client closed the connection.
    Gone,
}

/// A request limit reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    /// A size limit (HTTP 400): `message` says what was too large, `setting` names the
    /// `[http]` setting that allows more.
    #[error("{message} ({setting})")]
    Size {
        setting: &'static str,
        message: String,
    },
    /// The request was stopped (HTTP 503).
    #[error("{}", stop_message(*.0))]
    Stopped(Stop),
}

fn stop_message(stop: Stop) -> &'static str {
    match stop {
        Stop::Deadline => "the request took longer than its time limit (http.timeout)",
        Stop::Stopping => "the server is stopping: the request was cancelled",
        Stop::Gone => "the client went away: the request was cancelled",
    }
}

impl Exceeded {
    /// A size limit of `setting` (e.g. `http.max_series`).
    pub fn size(setting: &'static str, message: impl Into<String>) -> Self {
        Exceeded::Size {
            setting,
            message: message.into(),
        }
    }

    /// Whether the request was stopped (503) rather than too large (400).
    pub fn is_stop(&self) -> bool {
        matches!(self, Exceeded::Stopped(_))
    }
}

/// Asked every [`CHECK_EVERY`] ticks whether the request must stop (the server stopping,
/// the client gone).
pub type Probe = Box<dyn Fn() -> Option<Stop>>;

/// One request's budget; see the module documentation.
pub struct Budget {
    limits: Limits,
    max_response_bytes: Option<usize>,
    max_candidates: Option<usize>,
    probe: Option<Probe>,
    series: Cell<usize>,
    points: Cell<usize>,
    candidates: Cell<usize>,
    ticks: Cell<u32>,
}

impl Budget {
    /// A budget with `limits`, no response-size limit, [`DEFAULT_MAX_CANDIDATES`] and no
    /// stop probe.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            max_response_bytes: None,
            max_candidates: Some(DEFAULT_MAX_CANDIDATES),
            probe: None,
            series: Cell::new(0),
            points: Cell::new(0),
            candidates: Cell::new(0),
            ticks: Cell::new(0),
        }
    }

    /// Sets the most bytes one response may hold (`None`: no limit).
    #[must_use]
    pub fn with_response_bytes(mut self, max: Option<usize>) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Sets the most glob candidates the request may try (`None`: no limit).
    #[must_use]
    pub fn with_candidates(mut self, max: Option<usize>) -> Self {
        self.max_candidates = max;
        self
    }

    /// Sets the stop probe.
    #[must_use]
    pub fn with_probe(mut self, probe: impl Fn() -> Option<Stop> + 'static) -> Self {
        self.probe = Some(Box::new(probe));
        self
    }

    /// The limits this budget counts against.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The most bytes one response may hold.
    pub fn max_response_bytes(&self) -> Option<usize> {
        self.max_response_bytes
    }

    /// Fails if the request must stop now (reads the clock).
    pub fn check(&self) -> Result<(), Exceeded> {
        if let Some(stop) = self.probe.as_ref().and_then(|p| p()) {
            return Err(Exceeded::Stopped(stop));
        }
        match self.limits.deadline {
            Some(d) if Instant::now() > d => Err(Exceeded::Stopped(Stop::Deadline)),
            _ => Ok(()),
        }
    }

    /// One unit of work: every [`CHECK_EVERY`] calls, [`Budget::check`].
    pub fn tick(&self) -> Result<(), Exceeded> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t % CHECK_EVERY == 0 {
            self.check()
        } else {
            Ok(())
        }
    }

    /// Series used so far.
    pub fn series_used(&self) -> usize {
        self.series.get()
    }

    /// Values used so far.
    pub fn points_used(&self) -> usize {
        self.points.get()
    }

    /// The values the request may still fetch or make (`usize::MAX` without a limit).
    pub fn points_left(&self) -> usize {
        self.limits
            .max_points
            .map_or(usize::MAX, |max| max.saturating_sub(self.points.get()))
    }

    /// The series the request may still fetch or make (`usize::MAX` without a limit).
    pub fn series_left(&self) -> usize {
        self.limits
            .max_series
            .map_or(usize::MAX, |max| max.saturating_sub(self.series.get()))
    }

    /// Counts `n` more series for `what` (a path expression, a function); fails past
    /// `http.max_series`.
    pub fn charge_series(&self, what: &str, n: usize) -> Result<(), Exceeded> {
        let total = self.series.get().saturating_add(n);
        self.series.set(total);
        match self.limits.max_series {
            Some(max) if total > max => Err(series_error(what, n, total, max)),
            _ => Ok(()),
        }
    }

    /// Counts `n` more values for `what`; fails past `http.max_points`.
    pub fn charge_points(&self, what: &str, n: usize) -> Result<(), Exceeded> {
        let total = self.points.get().saturating_add(n);
        self.points.set(total);
        match self.limits.max_points {
            Some(max) if total > max => Err(points_error(what, n, total, max)),
            _ => Ok(()),
        }
    }

    /// Counts `n` more glob candidates tried (and ticks once); fails past
    /// `http.max_glob_candidates` or when the request must stop.
    pub fn try_candidates(&self, n: usize) -> Result<(), Exceeded> {
        let total = self.candidates.get().saturating_add(n);
        self.candidates.set(total);
        if let Some(max) = self.max_candidates {
            if total > max {
                return Err(Exceeded::size(
                    "http.max_glob_candidates",
                    format!(
                        "the request's patterns try more than {max} candidate names \
                         (brace variants and index nodes)"
                    ),
                ));
            }
        }
        self.tick()
    }
}

/// The `http.max_series` error: `what` brings `n` series, `total` in the request.
pub fn series_error(what: &str, n: usize, total: usize, max: usize) -> Exceeded {
    let message = if n == total {
        format!("{what} matches {n} series, more than the limit of {max} per request")
    } else {
        format!(
            "{what} brings {n} series, {total} in the request, more than the limit of \
             {max} per request"
        )
    };
    Exceeded::size("http.max_series", message)
}

/// The `http.max_points` error: `what` brings `n` values, `total` in the request.
pub fn points_error(what: &str, n: usize, total: usize, max: usize) -> Exceeded {
    let message = if n == total {
        format!("{what} makes {n} values, more than the limit of {max} per request")
    } else {
        format!(
            "{what} makes {n} values, {total} in the request, more than the limit of {max} \
             per request"
        )
    };
    Exceeded::size("http.max_points", message)
}

/// The `http.max_response_bytes` error.
pub fn bytes_error(max: usize) -> Exceeded {
    Exceeded::size(
        "http.max_response_bytes",
        format!(
            "the response would be larger than {max} bytes; ask for fewer series, a shorter \
             window or maxDataPoints"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(series: usize, points: usize) -> Limits {
        Limits {
            max_series: Some(series),
            max_points: Some(points),
            deadline: None,
        }
    }

    #[test]
    fn charges_add_up_across_calls() {
        let b = Budget::new(limits(3, 100));
        assert!(b.charge_series("a.*", 2).is_ok());
        let e = b.charge_series("b.*", 2).unwrap_err();
        assert!(e.to_string().contains("(http.max_series)"), "{e}");
        assert!(e.to_string().contains("4 in the request"), "{e}");
        assert!(b.charge_points("a.*", 60).is_ok());
        assert_eq!(b.points_left(), 40);
        let e = b.charge_points("b.*", 60).unwrap_err();
        assert!(e.to_string().ends_with("(http.max_points)"), "{e}");
        assert!(!e.is_stop());
    }

    #[test]
    fn candidates_are_bounded_and_ticks_see_the_probe() {
        let b = Budget::new(Limits::default()).with_candidates(Some(10));
        assert!(b.try_candidates(10).is_ok());
        let e = b.try_candidates(1).unwrap_err();
        assert!(e.to_string().contains("http.max_glob_candidates"), "{e}");

        let b = Budget::new(Limits::default()).with_probe(|| Some(Stop::Stopping));
        let stopped = (0..CHECK_EVERY).map(|_| b.tick()).find(Result::is_err);
        assert_eq!(stopped, Some(Err(Exceeded::Stopped(Stop::Stopping))));
    }

    #[test]
    fn a_passed_deadline_stops() {
        let b = Budget::new(Limits {
            deadline: Some(Instant::now()),
            ..Limits::default()
        });
        std::thread::sleep(std::time::Duration::from_millis(2));
        let e = b.check().unwrap_err();
        assert!(e.is_stop());
        assert!(e.to_string().contains("http.timeout"), "{e}");
    }
}
