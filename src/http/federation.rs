//! The values of graphite-web 1.1's cluster protocol, as a member answers a frontend
//! (`/metrics/find/?local=1&format=pickle|msgpack`, `/render/?local=1&format=…`) and as
//! a frontend reads them back.
//!
//! - A find answer is a list of [`FindNode`]: `{'path', 'is_leaf'}`, and for a leaf
//!   `'intervals'`, the time ranges the member holds (`metrics/views.py` `pickle_nodes`,
//!   `msgpack_nodes`). Pickled, the intervals are graphite's `IntervalSet` of `Interval`
//!   objects, as graphite-web pickles them; in msgpack a list of `[start, end]` pairs.
//! - A render answer is a list of one dict per series (`TimeSeries.getInfo`): `name`,
//!   `start`, `end`, `step`, `values` (`None` for gaps), `pathExpression` (the target as
//!   sent), `valuesPerPoint`, `consolidationFunc`, `xFilesFactor`.
//!
//! The encoders are [`super::pickle`] and [`super::msgpack`]; the content types are
//! [`PICKLE`] and [`MSGPACK`] (a frontend decodes msgpack only when the content type is
//! exactly [`MSGPACK`], pickle otherwise).

/// Content type of a pickled answer.
pub const PICKLE: &str = "application/pickle";
/// Content type of a msgpack answer; graphite-web's frontend compares it exactly.
pub const MSGPACK: &str = "application/x-msgpack";

/// One node of a find answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FindNode {
    pub path: String,
    pub is_leaf: bool,
    /// `(start, end)` in seconds (floats, as graphite-web's whisper reader gives them:
    /// `now - maxRetention` to the file's mtime). Only leaves carry any.
    pub intervals: Vec<(f64, f64)>,
}
