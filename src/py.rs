//! Python's number formatting and parsing, written once for every place that must print or
//! read numbers exactly as graphite-web, whisper's scripts, carbon or Logster do.
//!
//! - [`format`](mod@format): `repr(float)` (shortest round-trip digits, `CPython`'s half-way tie rule),
//!   `'%.<p>g' % x`, `'%f' % x`, `str(list)`, and `json.dumps` of a float.
//! - [`parse`]: `float(str)` (Unicode digits, `_` between digits, Python's whitespace) and
//!   `int(str)`.
//!
//! Pure: no I/O, no clock; nothing else in the crate is imported.

pub mod format;
pub mod parse;
