//! Carbon's pickle protocol, receiving side: a decoder for only the pickle subset that
//! carbon clients send, never arbitrary objects.
//!
//! API (the pickle receiver in the server calls these; nothing here reads the clock):
//!
//! - [`split_frame`]`(buf, max)`: carbon's framing, a 4-byte big-endian length then the
//!   pickle. `Ok(None)` until a whole frame is buffered; [`PickleError::TooLarge`] when the
//!   announced length exceeds `max` (carbon closes the connection; default [`MAX_MESSAGE`]).
//! - [`decode`]`(body, now, &limits)`: one pickle → one entry per element of the top-level
//!   list, in order: a [`Point`] or the [`BadPickleItem`] reason it was skipped. A
//!   [`PickleError`] rejects the whole message (carbon logs "invalid pickle" and ignores it).
//!   Names borrow `body` unless an escape had to be decoded. [`PickleError::name`] names
//!   the kind of rejection for a counter.
//! - [`BadPickleItem::ALL`] / [`BadPickleItem::name`]: the per-element drop reasons and
//!   their counter names.
//!
//! Accepted opcodes (protocols 0 to 5): `PROTO`, `FRAME`, `STOP`, `MARK`, `POP`,
//! `POP_MARK`, `DUP`; `NONE`, `NEWTRUE`, `NEWFALSE`; `INT`, `BININT`, `BININT1`,
//! `BININT2`, `LONG`, `LONG1`, `LONG4`; `FLOAT`, `BINFLOAT`; `STRING`, `BINSTRING`,
//! `SHORT_BINSTRING` (Python 2 `str`, decoded as UTF-8 as carbon's unpickler does);
//! `UNICODE`, `BINUNICODE`, `SHORT_BINUNICODE`, `BINUNICODE8`; `BINBYTES`,
//! `SHORT_BINBYTES`, `BINBYTES8`, `BYTEARRAY8`; `EMPTY_LIST`, `LIST`, `APPEND`, `APPENDS`;
//! `EMPTY_TUPLE`, `TUPLE`, `TUPLE1`–`TUPLE3`; `PUT`, `BINPUT`, `LONG_BINPUT`, `MEMOIZE`,
//! `GET`, `BINGET`, `LONG_BINGET`. Every other opcode (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`,
//! `BUILD`, `INST`, `OBJ`, `NEWOBJ`, `NEWOBJ_EX`, `EXT1`–`EXT4`, `PERSID`, `BINPERSID`,
//! dict and set opcodes, out-of-band buffers) is [`PickleError::Forbidden`], naming it.
//!
//! Bounds: the body is at most `limits.max_message` bytes; every opcode creates at most one
//! object and objects are shared by index (a memo `GET` or `DUP` copies nothing), so the
//! decoder's own memory is linear in the body size; at most `limits.max_depth` open
//! `MARK`s; no recursion. What the points would take (each name at its full length every
//! time a reference repeats it) is counted before any is built and capped at
//! `limits.max_expansion` times the body ([`PickleError::TooExpanded`]).
//!
//! Per element, as carbon's `MetricPickleReceiver.stringReceived`: the element must unpack
//! as `(name, (timestamp, value))` (lists or tuples), both numbers go through Python's
//! `float()` (ints, floats, bools, numeric strings), then the plaintext rules of
//! [`finish_point`] apply (NaN dropped, `-1` = now, truncation to `i64`).
//!
//! Where we differ (carbon in brackets): a `bytes` name is accepted as is [`AttributeError`,
//! connection dropped]; a string in place of a pair is not unpacked character by character;
//! an int too large for a float, or a non-finite timestamp, skips the element [the
//! connection is dropped]; protocol-0 `INT`/`LONG` accept decimal digits only [C `strtol`
//! base 0 would also read `0x10` and octal `010`]; strings must be valid Unicode (no lone
//! surrogates); only a list or tuple is accepted at the top level; a memo index larger
//! than the message is refused [the C unpickler tries to allocate that much: `MemoryError`,
//! or success for moderately large ones]; an opcode that crosses the end of a protocol-4
//! frame is refused [Python's pure unpickler refuses it too; the C one over `BytesIO`
//! drops the bytes and misreads the rest].

use std::borrow::Cow;
use std::collections::HashMap;

use crate::protocol::carbon::{finish_point, BadCarbonLine, Point};
use crate::py::parse::float as python_float;

/// Carbon's default `PICKLE_RECEIVER_MAX_LENGTH`: 1 MiB.
pub const MAX_MESSAGE: usize = 1 << 20;

/// Default cap on open `MARK`s; a list of pairs needs 3 at protocol 0, 1 from protocol 2.
pub const MAX_DEPTH: usize = 64;

/// Default cap on what a message decodes to, as a multiple of its size (see
/// [`Limits::max_expansion`]).
pub const MAX_EXPANSION: usize = 32;

/// What one decoded element costs besides its name: its timestamp and value.
const POINT_BYTES: usize = 16;

/// Resource bounds for [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_message: usize,
    /// Most `MARK`s open at once.
    pub max_depth: usize,
    /// Most bytes the points of one message may take once decoded (each name at its full
    /// length however often a memo reference or `DUP` repeats it, plus 16 bytes a point),
    /// as a multiple of the message's size. Carbon clients memoize a name sent with many
    /// points, so a legitimate batch decodes to a few times its size; a crafted one (one
    /// long name, thousands of `DUP`s) to thousands of times.
    pub max_expansion: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: MAX_MESSAGE,
            max_depth: MAX_DEPTH,
            max_expansion: MAX_EXPANSION,
        }
    }
}

/// Why a whole message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// The frame or body is longer than allowed.
    #[error("pickle message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// The body ended before `STOP` or inside an opcode's argument.
    #[error("pickle data was truncated")]
    Truncated,
    /// A valid pickle opcode outside the accepted subset.
    #[error("pickle opcode {name} (0x{opcode:02x}) at offset {offset} is not accepted")]
    Forbidden {
        opcode: u8,
        name: &'static str,
        offset: usize,
    },
    /// A byte that is no pickle opcode.
    #[error("invalid pickle opcode 0x{opcode:02x} at offset {offset}")]
    UnknownOpcode { opcode: u8, offset: usize },
    /// `PROTO` above 5.
    #[error("unsupported pickle protocol {0}")]
    Protocol(u8),
    /// More than `max_depth` open `MARK`s.
    #[error("more than {0} nested MARKs")]
    TooDeep(usize),
    /// An accepted opcode whose argument or stack state is wrong.
    #[error("pickle opcode {name} at offset {offset}: {problem}")]
    Malformed {
        name: &'static str,
        offset: usize,
        problem: &'static str,
    },
    /// The unpickled object is not a list or tuple.
    #[error("pickle holds {0}, not a list of points")]
    NotAList(&'static str),
    /// The points would take more than `limits.max_expansion` times the message's size.
    #[error("pickle message of {len} bytes decodes to {decoded} bytes of points, over the limit of {max} (carbon.pickle_max_expansion)")]
    TooExpanded {
        len: usize,
        decoded: usize,
        max: usize,
    },
}

impl PickleError {
    /// `snake_case` name of the kind, for a self-metric such as `carbon.bad_pickles.<name>`.
    pub fn name(&self) -> &'static str {
        match self {
            PickleError::TooLarge { .. } => "too_large",
            PickleError::Truncated => "truncated",
            PickleError::Forbidden { .. } => "forbidden_opcode",
            PickleError::UnknownOpcode { .. } => "unknown_opcode",
            PickleError::Protocol(_) => "protocol",
            PickleError::TooDeep(_) => "too_deep",
            PickleError::Malformed { .. } => "malformed",
            PickleError::NotAList(_) => "not_a_list",
            PickleError::TooExpanded { .. } => "too_expanded",
        }
    }

    /// Every kind's name, in a stable order (for counters).
    pub const NAMES: &'static [&'static str] = &[
        "too_large",
        "truncated",
        "forbidden_opcode",
        "unknown_opcode",
        "protocol",
        "too_deep",
        "malformed",
        "not_a_list",
        "too_expanded",
    ];

    /// Whether the connection is closed after this refusal (carbon closes it for an
    /// oversized frame; a message that would expand past its budget is treated alike).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            PickleError::TooLarge { .. } | PickleError::TooExpanded { .. }
        )
    }
}

/// Why one element of an otherwise valid message gave no point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadPickleItem {
    /// Not a 2-item list or tuple whose second item is a 2-item list or tuple.
    NotAPair,
    /// The timestamp or value is not something Python's `float()` accepts.
    BadNumber,
    /// The name is neither a string nor bytes.
    BadName,
    /// The value is NaN (carbon drops these silently).
    NanValue,
    /// The timestamp is infinite, NaN or outside the `i64` range.
    TimestampRange,
}

impl BadPickleItem {
    /// Every drop reason, in a stable order.
    pub const ALL: &'static [BadPickleItem] = &[
        BadPickleItem::NotAPair,
        BadPickleItem::BadNumber,
        BadPickleItem::BadName,
        BadPickleItem::NanValue,
        BadPickleItem::TimestampRange,
    ];

    /// `snake_case` name, for a self-metric such as `carbon.bad_pickle_items.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            BadPickleItem::NotAPair => "not_a_pair",
            BadPickleItem::BadNumber => "bad_number",
            BadPickleItem::BadName => "bad_name",
            BadPickleItem::NanValue => "nan_value",
            BadPickleItem::TimestampRange => "timestamp_range",
        }
    }
}

/// Carbon's framing: `Ok(Some((body, consumed)))` once `buf` holds the 4-byte big-endian
/// length and that many bytes; `Ok(None)` while incomplete.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(&[u8], usize)>, PickleError> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*head) as usize;
    if len > max {
        return Err(PickleError::TooLarge { len, max });
    }
    Ok(buf.get(4..4 + len).map(|body| (body, 4 + len)))
}

/// Decode one pickle body into its points; see the module documentation.
pub fn decode<'a>(
    body: &'a [u8],
    now: i64,
    limits: &Limits,
) -> Result<Vec<Result<Point<'a>, BadPickleItem>>, PickleError> {
    if body.len() > limits.max_message {
        return Err(PickleError::TooLarge {
            len: body.len(),
            max: limits.max_message,
        });
    }
    let mut m = Machine {
        body,
        pos: 0,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        max_depth: limits.max_depth,
        frame_end: None,
        op_at: 0,
        op_name: "",
    };
    let top = m.run()?;
    let items = match &m.objs[top as usize] {
        Obj::List(items) | Obj::Tuple(items) => items,
        other => return Err(PickleError::NotAList(other.kind())),
    };
    // Counted before any name is copied: the cost is what the points would hold.
    let decoded = items.iter().map(|&i| m.decoded_size(i)).sum::<usize>();
    let max = limits.max_expansion.saturating_mul(body.len());
    if decoded > max {
        return Err(PickleError::TooExpanded {
            len: body.len(),
            decoded,
            max,
        });
    }
    Ok(items.iter().map(|&i| m.point(i, now)).collect())
}

/// An unpickled object; containers refer to other objects by index.
#[derive(Debug)]
enum Obj<'a> {
    None,
    Bool(bool),
    Int(i64),
    /// An int outside `i64`, as Python's `float()` would convert it (infinite where
    /// Python raises `OverflowError`).
    Big(f64),
    Float(f64),
    /// Text, as UTF-8.
    Str(Cow<'a, [u8]>),
    Bytes(&'a [u8]),
    List(Vec<u32>),
    Tuple(Vec<u32>),
}

impl Obj<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Obj::None => "None",
            Obj::Bool(_) => "a bool",
            Obj::Int(_) | Obj::Big(_) => "an int",
            Obj::Float(_) => "a float",
            Obj::Str(_) => "a str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "a list",
            Obj::Tuple(_) => "a tuple",
        }
    }
}

struct Machine<'a> {
    body: &'a [u8],
    pos: usize,
    objs: Vec<Obj<'a>>,
    stack: Vec<u32>,
    marks: Vec<usize>,
    memo: HashMap<u64, u32>,
    max_depth: usize,
    /// End of the current protocol-4 frame: nothing may be read across it.
    frame_end: Option<usize>,
    /// Offset and name of the opcode being run, for errors.
    op_at: usize,
    op_name: &'static str,
}

/// Names of the opcodes that are valid pickle but outside the accepted subset.
fn forbidden_name(op: u8) -> Option<&'static str> {
    Some(match op {
        b'c' => "GLOBAL",
        0x93 => "STACK_GLOBAL",
        b'R' => "REDUCE",
        b'b' => "BUILD",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'}' => "EMPTY_DICT",
        b'd' => "DICT",
        b's' => "SETITEM",
        b'u' => "SETITEMS",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    })
}

impl<'a> Machine<'a> {
    fn malformed(&self, problem: &'static str) -> PickleError {
        PickleError::Malformed {
            name: self.op_name,
            offset: self.op_at,
            problem,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        // Python's unpickler refuses a read that crosses the end of a frame ("pickle
        // exhausted before end of frame"); carbon's (C, over BytesIO) loses the bytes.
        if let Some(fe) = self.frame_end {
            if self.pos >= fe {
                self.frame_end = None;
            } else if end > fe {
                return Err(self.malformed("an opcode crosses the end of its frame"));
            }
        }
        let s = self.body.get(self.pos..end).ok_or(PickleError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take_array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take_array()?))
    }

    fn len_u64(&mut self) -> Result<usize, PickleError> {
        let n = u64::from_le_bytes(self.take_array()?);
        // Longer than the body can never be satisfied.
        usize::try_from(n).map_err(|_| PickleError::Truncated)
    }

    fn len_i32(&mut self) -> Result<usize, PickleError> {
        let n = i32::from_le_bytes(self.take_array()?);
        usize::try_from(n).map_err(|_| self.malformed("negative byte count"))
    }

    /// Protocol-0 argument: the bytes up to the next `\n`, which is consumed.
    fn line(&mut self) -> Result<&'a [u8], PickleError> {
        let rest = &self.body[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated)?;
        self.pos += n + 1;
        Ok(&rest[..n])
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, obj: Obj<'a>) {
        self.stack.push(self.objs.len() as u32);
        self.objs.push(obj);
    }

    fn pop(&mut self) -> Result<u32, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    fn top(&self) -> Result<u32, PickleError> {
        if self.stack.len() <= self.fence() {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    /// The objects above the last `MARK`, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<u32>, PickleError> {
        let mark = self.marks.pop().ok_or_else(|| self.malformed("no MARK"))?;
        Ok(self.stack.split_off(mark))
    }

    fn tuple_of(&mut self, n: usize) -> Result<(), PickleError> {
        let fence = self.fence();
        if self.stack.len() < fence + n {
            return Err(self.malformed("stack underflow"));
        }
        let items = self.stack.split_off(self.stack.len() - n);
        self.push(Obj::Tuple(items));
        Ok(())
    }

    /// Append `items` to the list just below them on the stack.
    fn extend_top_list(&mut self, items: Vec<u32>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.objs[target as usize] {
            Obj::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err(self.malformed("APPEND target is not a list")),
        }
    }

    fn memo_put(&mut self, idx: u64) -> Result<(), PickleError> {
        // A pickler numbers memo entries 0, 1, 2…, so an index beyond the message size is
        // never written by one; carbon's C unpickler would try to allocate a memo that
        // large (MemoryError). Refuse it.
        if idx > self.body.len() as u64 {
            return Err(self.malformed("memo index larger than the message"));
        }
        let top = self.top()?;
        self.memo.insert(idx, top);
        Ok(())
    }

    fn memo_get(&mut self, idx: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&idx)
            .ok_or_else(|| self.malformed("memo key not found"))?;
        self.stack.push(id);
        Ok(())
    }

    fn utf8(&self, bytes: Cow<'a, [u8]>) -> Result<Obj<'a>, PickleError> {
        if std::str::from_utf8(&bytes).is_err() {
            return Err(self.malformed("string is not valid UTF-8"));
        }
        Ok(Obj::Str(bytes))
    }

    /// Run until `STOP`; the index of the unpickled object.
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per opcode reads best as one match"
    )]
    fn run(&mut self) -> Result<u32, PickleError> {
        loop {
            self.op_at = self.pos;
            let op = self.u8()?;
            if let Some(name) = forbidden_name(op) {
                return Err(PickleError::Forbidden {
                    opcode: op,
                    name,
                    offset: self.op_at,
                });
            }
            self.op_name = opcode_name(op);
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(PickleError::Protocol(proto));
                    }
                }
                0x95 => {
                    // FRAME: a length prefix for what follows; the data is read as usual.
                    if self.frame_end.is_some_and(|fe| self.pos < fe) {
                        return Err(self.malformed("a new frame starts inside the current one"));
                    }
                    let n = self.len_u64()?;
                    if n > self.body.len() - self.pos {
                        return Err(PickleError::Truncated);
                    }
                    self.frame_end = Some(self.pos + n);
                }
                b'.' => return self.pop(),
                b'(' => {
                    if self.marks.len() >= self.max_depth {
                        return Err(PickleError::TooDeep(self.max_depth));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    // POP removes a MARK when the mark is on top (CPython's C unpickler).
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(top);
                }
                b'N' => self.push(Obj::None),
                0x88 => self.push(Obj::Bool(true)),
                0x89 => self.push(Obj::Bool(false)),
                b'I' => {
                    let line = self.line()?;
                    let obj = match line {
                        b"00" => Obj::Bool(false),
                        b"01" => Obj::Bool(true),
                        _ => decimal_int(line).ok_or_else(|| self.malformed("bad INT"))?,
                    };
                    self.push(obj);
                }
                b'L' => {
                    let line = self.line()?;
                    let digits = line.strip_suffix(b"L").unwrap_or(line);
                    let obj = decimal_int(digits).ok_or_else(|| self.malformed("bad LONG"))?;
                    self.push(obj);
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.take_array()?);
                    self.push(Obj::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Obj::Int(i64::from(v)));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.take_array()?);
                    self.push(Obj::Int(i64::from(v)));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let bytes = self.take(n)?;
                    self.push(long_from_le(bytes));
                }
                0x8b => {
                    let n = self.len_i32()?;
                    let bytes = self.take(n)?;
                    self.push(long_from_le(bytes));
                }
                b'F' => {
                    let line = self.line()?;
                    let v = pickle_float(line).ok_or_else(|| self.malformed("bad FLOAT"))?;
                    self.push(Obj::Float(v));
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take_array()?);
                    self.push(Obj::Float(v));
                }
                b'S' => {
                    let line = self.line()?;
                    let quoted = line.len() >= 2
                        && line[0] == line[line.len() - 1]
                        && matches!(line[0], b'\'' | b'"');
                    if !quoted {
                        return Err(self.malformed("STRING argument must be quoted"));
                    }
                    let raw = escape_decode(&line[1..line.len() - 1])
                        .ok_or_else(|| self.malformed("bad escape in STRING"))?;
                    let obj = self.utf8(raw)?;
                    self.push(obj);
                }
                b'T' | b'U' | b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        b'T' => self.len_i32()?,
                        b'X' => self.u32()? as usize,
                        0x8d => self.len_u64()?,
                        _ => usize::from(self.u8()?),
                    };
                    let bytes = self.take(n)?;
                    let obj = self.utf8(Cow::Borrowed(bytes))?;
                    self.push(obj);
                }
                b'V' => {
                    let line = self.line()?;
                    let text = raw_unicode_escape(line)
                        .ok_or_else(|| self.malformed("bad escape in UNICODE"))?;
                    self.push(Obj::Str(text));
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'B' => self.u32()? as usize,
                        b'C' => usize::from(self.u8()?),
                        _ => self.len_u64()?,
                    };
                    let bytes = self.take(n)?;
                    self.push(Obj::Bytes(bytes));
                }
                b']' => self.push(Obj::List(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::List(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_top_list(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if items.is_empty() {
                        // CPython returns before looking at the target's type.
                        self.top()?;
                    } else {
                        self.extend_top_list(items)?;
                    }
                }
                b')' => self.push(Obj::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Obj::Tuple(items));
                }
                0x85 => self.tuple_of(1)?,
                0x86 => self.tuple_of(2)?,
                0x87 => self.tuple_of(3)?,
                b'p' => {
                    let line = self.line()?;
                    let idx = decimal_u64(line).ok_or_else(|| self.malformed("bad PUT index"))?;
                    self.memo_put(idx)?;
                }
                b'q' => {
                    let idx = self.u8()?;
                    self.memo_put(u64::from(idx))?;
                }
                b'r' => {
                    let idx = self.u32()?;
                    self.memo_put(u64::from(idx))?;
                }
                0x94 => self.memo_put(self.memo.len() as u64)?,
                b'g' => {
                    let line = self.line()?;
                    let idx = decimal_u64(line).ok_or_else(|| self.malformed("bad GET index"))?;
                    self.memo_get(idx)?;
                }
                b'h' => {
                    let idx = self.u8()?;
                    self.memo_get(u64::from(idx))?;
                }
                b'j' => {
                    let idx = self.u32()?;
                    self.memo_get(u64::from(idx))?;
                }
                _ => {
                    return Err(PickleError::UnknownOpcode {
                        opcode: op,
                        offset: self.op_at,
                    })
                }
            }
        }
    }

    /// The two items of a list or tuple of length 2.
    fn pair(&self, id: u32) -> Option<(u32, u32)> {
        match &self.objs[id as usize] {
            Obj::List(items) | Obj::Tuple(items) if items.len() == 2 => Some((items[0], items[1])),
            _ => None,
        }
    }

    /// Python's `float(obj)`.
    fn float(&self, id: u32) -> Option<f64> {
        match &self.objs[id as usize] {
            Obj::Bool(b) => Some(f64::from(u8::from(*b))),
            Obj::Int(i) => Some(*i as f64),
            Obj::Big(f) => f.is_finite().then_some(*f),
            Obj::Float(f) => Some(*f),
            Obj::Str(text) => python_float(text),
            // `float(bytes)` strips only ASCII whitespace and reads only ASCII digits.
            Obj::Bytes(b) => {
                if b.iter()
                    .all(|&c| c.is_ascii() && !(0x1c..=0x1f).contains(&c))
                {
                    python_float(b)
                } else {
                    None
                }
            }
            Obj::None | Obj::List(_) | Obj::Tuple(_) => None,
        }
    }

    /// What element `id` would take as a point: its name's length (when it has one) plus
    /// [`POINT_BYTES`].
    fn decoded_size(&self, id: u32) -> usize {
        let name = self
            .pair(id)
            .map_or(0, |(name, _)| match &self.objs[name as usize] {
                Obj::Str(text) => text.len(),
                Obj::Bytes(b) => b.len(),
                _ => 0,
            });
        name + POINT_BYTES
    }

    /// One top-level element → a point, with carbon's per-element checks in its order.
    fn point(&self, id: u32, now: i64) -> Result<Point<'a>, BadPickleItem> {
        let (name, pair) = self.pair(id).ok_or(BadPickleItem::NotAPair)?;
        let (ts, value) = self.pair(pair).ok_or(BadPickleItem::NotAPair)?;
        let ts = self.float(ts).ok_or(BadPickleItem::BadNumber)?;
        let value = self.float(value).ok_or(BadPickleItem::BadNumber)?;
        let name = match &self.objs[name as usize] {
            Obj::Str(text) => text.clone(),
            Obj::Bytes(b) => Cow::Borrowed(*b),
            _ => return Err(BadPickleItem::BadName),
        };
        finish_point(name, ts, value, now).map_err(|e| match e {
            BadCarbonLine::NanValue => BadPickleItem::NanValue,
            _ => BadPickleItem::TimestampRange,
        })
    }
}

/// Names of the accepted opcodes, for error messages.
fn opcode_name(op: u8) -> &'static str {
    match op {
        0x80 => "PROTO",
        0x95 => "FRAME",
        b'.' => "STOP",
        b'(' => "MARK",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'N' => "NONE",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        b'I' => "INT",
        b'L' => "LONG",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'M' => "BININT2",
        0x8a => "LONG1",
        0x8b => "LONG4",
        b'F' => "FLOAT",
        b'G' => "BINFLOAT",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x8e => "BINBYTES8",
        0x96 => "BYTEARRAY8",
        b']' => "EMPTY_LIST",
        b'l' => "LIST",
        b'a' => "APPEND",
        b'e' => "APPENDS",
        b')' => "EMPTY_TUPLE",
        b't' => "TUPLE",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        0x94 => "MEMOIZE",
        b'g' => "GET",
        b'h' => "BINGET",
        b'j' => "LONG_BINGET",
        _ => "?",
    }
}

/// `[+-]?digits` without superfluous leading zeros → an int object.
fn decimal_int(text: &[u8]) -> Option<Obj<'static>> {
    let digits = text
        .strip_prefix(b"-")
        .or_else(|| text.strip_prefix(b"+"))
        .unwrap_or(text);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' && digits.iter().any(|&d| d != b'0') {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    if let Ok(i) = s.parse::<i64>() {
        return Some(Obj::Int(i));
    }
    // Correctly rounded like Python's int → float; infinite where Python overflows.
    s.parse::<f64>().ok().map(Obj::Big)
}

/// Unsigned decimal (memo indices).
fn decimal_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Protocol-0 `FLOAT`: `PyOS_string_to_double` on the line; overflow is an error.
fn pickle_float(text: &[u8]) -> Option<f64> {
    if text.contains(&b'_') || !text.is_ascii() {
        return None;
    }
    let s = std::str::from_utf8(text).ok()?;
    let v = s.parse::<f64>().ok()?;
    if v.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(v)
}

/// A little-endian two's-complement integer (`LONG1`/`LONG4`).
fn long_from_le(bytes: &[u8]) -> Obj<'static> {
    let Some(&last) = bytes.last() else {
        return Obj::Int(0);
    };
    let negative = last & 0x80 != 0;
    // Magnitude, little-endian.
    let mut mag = bytes.to_vec();
    if negative {
        let mut carry = true;
        for b in &mut mag {
            let (v, c) = (!*b).overflowing_add(u8::from(carry));
            *b = v;
            carry = c;
        }
    }
    let len = mag.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mag = &mag[..len];
    if len <= 16 {
        let mut buf = [0u8; 16];
        buf[..len].copy_from_slice(mag);
        let m = u128::from_le_bytes(buf);
        let signed = if negative {
            0i128.checked_sub_unsigned(m)
        } else {
            i128::try_from(m).ok()
        };
        if let Some(i) = signed.and_then(|s| i64::try_from(s).ok()) {
            return Obj::Int(i);
        }
        let f = m as f64;
        return Obj::Big(if negative { -f } else { f });
    }
    // Keep the top 128 bits and fold the rest into a sticky bit: rounding 128 bits to a
    // 53-bit mantissa then matches rounding the exact value.
    let mut buf = [0u8; 16];
    buf.copy_from_slice(&mag[len - 16..]);
    let mut m = u128::from_le_bytes(buf);
    if mag[..len - 16].iter().any(|&b| b != 0) {
        m |= 1;
    }
    let shift = i32::try_from(8 * (len - 16)).unwrap_or(i32::MAX);
    let f = (m as f64) * 2f64.powi(shift);
    Obj::Big(if negative { -f } else { f })
}

/// Python's `codecs.escape_decode` (protocol-0 `STRING`): `\\ \' \" \a \b \f \n \r \t \v`,
/// `\` + newline removed, 1–3 octal digits (taken modulo 256), `\xhh`; any other escape
/// is kept as is; a trailing lone `\` or a short `\x` is an error.
fn escape_decode(src: &[u8]) -> Option<Cow<'_, [u8]>> {
    if !src.contains(&b'\\') {
        return Some(Cow::Borrowed(src));
    }
    let mut out = Vec::with_capacity(src.len());
    let mut i = 0;
    while i < src.len() {
        if src[i] != b'\\' {
            out.push(src[i]);
            i += 1;
            continue;
        }
        let esc = *src.get(i + 1)?;
        i += 2;
        match esc {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(esc),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(esc - b'0');
                for _ in 0..2 {
                    match src.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let hi = hex_digit(*src.get(i)?)?;
                let lo = hex_digit(*src.get(i + 1)?)?;
                out.push(hi * 16 + lo);
                i += 2;
            }
            _ => {
                out.push(b'\\');
                out.push(esc);
            }
        }
    }
    Some(Cow::Owned(out))
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Python's `raw_unicode_escape` decoding (protocol-0 `UNICODE`) → UTF-8: each byte is a
/// Latin-1 code point, except `\uXXXX` / `\UXXXXXXXX` after an odd run of backslashes.
fn raw_unicode_escape(s: &[u8]) -> Option<Cow<'_, [u8]>> {
    if s.is_ascii() && !s.contains(&b'\\') {
        return Some(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' {
            out.push(char::from(s[i]));
            i += 1;
            continue;
        }
        let run = s[i..].iter().take_while(|&&b| b == b'\\').count();
        let escape_follows = run % 2 == 1 && matches!(s.get(i + run), Some(b'u' | b'U'));
        let literal = if escape_follows { run - 1 } else { run };
        out.extend(std::iter::repeat_n('\\', literal));
        i += run;
        if escape_follows {
            let width = if s[i] == b'u' { 4 } else { 8 };
            let hex = s.get(i + 1..i + 1 + width)?;
            let mut cp = 0u32;
            for &h in hex {
                cp = cp * 16 + u32::from(hex_digit(h)?);
            }
            out.push(char::from_u32(cp)?);
            i += 1 + width;
        }
    }
    Some(Cow::Owned(out.into_bytes()))
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "decoded values are exact")]
mod tests {
    use super::*;

    fn one(body: &[u8]) -> Vec<Result<(String, i64, f64), BadPickleItem>> {
        decode(body, 1_000, &Limits::default())
            .unwrap()
            .into_iter()
            .map(|r| {
                r.map(|p| {
                    (
                        String::from_utf8(p.name.into_owned()).unwrap(),
                        p.timestamp,
                        p.value,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn protocol0_list() {
        // pickle.dumps([('a.b', (1700000000, 1.5)), ('c', (-1, float('nan')))], protocol=0)
        let body =
            b"(lp0\n(Va.b\np1\n(I1700000000\nF1.5\ntp2\ntp3\na(Vc\np4\n(I-1\nFnan\ntp5\ntp6\na.";
        assert_eq!(
            one(body),
            vec![
                Ok(("a.b".into(), 1_700_000_000, 1.5)),
                Err(BadPickleItem::NanValue)
            ]
        );
    }

    #[test]
    fn memo_get_shares() {
        // pickle.dumps([('a', (1,2))]*2, protocol=2)
        let body = b"\x80\x02]q\x00(X\x01\x00\x00\x00aq\x01K\x01K\x02\x86q\x02\x86q\x03h\x03e.";
        assert_eq!(
            one(body),
            vec![Ok(("a".into(), 1, 2.0)), Ok(("a".into(), 1, 2.0))]
        );
    }

    #[test]
    fn forbidden_opcodes_are_named() {
        let err = decode(b"\x80\x02cos\nsystem\n.", 0, &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            PickleError::Forbidden {
                opcode: b'c',
                name: "GLOBAL",
                offset: 2
            }
        );
        assert!(err.to_string().contains("GLOBAL"));
        let err = decode(b"}.", 0, &Limits::default()).unwrap_err();
        assert!(matches!(
            err,
            PickleError::Forbidden {
                name: "EMPTY_DICT",
                ..
            }
        ));
    }

    #[test]
    fn longs() {
        assert!(matches!(long_from_le(&[]), Obj::Int(0)));
        assert!(matches!(long_from_le(&[0xff]), Obj::Int(-1)));
        assert!(matches!(long_from_le(&[0x80]), Obj::Int(-128)));
        assert!(matches!(long_from_le(&[0x80, 0x00]), Obj::Int(128)));
        let mut min = [0u8; 8];
        min[7] = 0x80;
        assert!(matches!(long_from_le(&min), Obj::Int(i64::MIN)));
        // 2**70
        let mut b = [0u8; 9];
        b[8] = 0x40;
        assert!(matches!(long_from_le(&b), Obj::Big(f) if f == 2f64.powi(70)));
        // 2**2000 overflows a float.
        let mut huge = vec![0u8; 251];
        huge[250] = 0x01;
        assert!(matches!(long_from_le(&huge), Obj::Big(f) if f.is_infinite()));
    }

    #[test]
    fn escapes() {
        assert_eq!(&*escape_decode(br"a\x41\101\n\q").unwrap(), b"aAA\n\\q");
        assert_eq!(&*escape_decode(br"\777").unwrap(), b"\xff");
        assert!(escape_decode(br"a\").is_none());
        assert!(escape_decode(br"\x4").is_none());
        assert_eq!(
            &*raw_unicode_escape(br"\u0041\\u0041\\\u0041\xe9").unwrap(),
            "A\\\\u0041\\\\A\\xe9".as_bytes()
        );
        assert_eq!(&*raw_unicode_escape(b"\xe9").unwrap(), "\u{e9}".as_bytes());
        assert!(raw_unicode_escape(br"\u00").is_none());
        assert!(raw_unicode_escape(br"\ud800").is_none());
    }

    #[test]
    fn frames() {
        assert_eq!(split_frame(b"\x00\x00", 10), Ok(None));
        assert_eq!(split_frame(b"\x00\x00\x00\x02a", 10), Ok(None));
        assert_eq!(
            split_frame(b"\x00\x00\x00\x02abc", 10),
            Ok(Some((&b"ab"[..], 6)))
        );
        assert_eq!(
            split_frame(b"\x00\x00\x00\x0b", 10),
            Err(PickleError::TooLarge { len: 11, max: 10 })
        );
    }

    /// A list of `copies` references to one element whose name is `name` (protocol 0,
    /// `DUP`s of the element, one `APPENDS`): what issue 13's crafted message looks like.
    pub(super) fn dup_bomb(name: &str, copies: usize) -> Vec<u8> {
        let mut b = b"](".to_vec();
        b.extend_from_slice(format!("(V{name}\n(I1700000000\nF1.0\ntt").as_bytes());
        b.extend(std::iter::repeat_n(b'2', copies));
        b.extend_from_slice(b"e.");
        b
    }

    /// A carbon client's batch: `points` points of one memoized name (protocol 2,
    /// `BINGET` after the first), as `pickle.dumps` writes a list sharing one str.
    pub(super) fn memoized_batch(name: &str, points: u32) -> Vec<u8> {
        let mut b = vec![0x80, 2, b']', b'q', 0, b'('];
        for i in 0..points {
            if i == 0 {
                b.push(b'X');
                b.extend_from_slice(&(name.len() as u32).to_le_bytes());
                b.extend_from_slice(name.as_bytes());
                b.extend_from_slice(&[b'q', 1]);
            } else {
                b.extend_from_slice(&[b'h', 1]);
            }
            b.push(b'J');
            b.extend_from_slice(&(1_700_000_000 + i as i32).to_le_bytes());
            b.push(b'G');
            b.extend_from_slice(&f64::from(i).to_be_bytes());
            b.extend_from_slice(&[0x86, 0x86]);
        }
        b.extend_from_slice(b"e.");
        b
    }

    #[test]
    fn a_message_that_expands_past_its_budget_is_refused_before_any_name_is_copied() {
        // A 20 KB name with an escape (so it is decoded into an owned string), repeated by
        // 10 000 DUPs: 200 MB of names from a 30 KB message.
        let name = format!("{}\\u0041", "a".repeat(20_000));
        let body = dup_bomb(&name, 10_000);
        let err = decode(&body, 1_000, &Limits::default()).unwrap_err();
        assert!(
            matches!(err, PickleError::TooExpanded { decoded, .. } if decoded > 200_000_000),
            "{err}"
        );
        assert!(err.closes_connection());
        assert_eq!(err.name(), "too_expanded");
        // The same shape with a few copies is fine.
        assert_eq!(one(&dup_bomb("a.b", 3)).len(), 4);
    }

    #[test]
    fn a_memoized_batch_of_long_names_fits_the_budget() {
        // 200-byte name, 500 points: about 12 times the message's size once decoded.
        let name = "x".repeat(200);
        let body = memoized_batch(&name, 500);
        let points = one(&body);
        assert_eq!(points.len(), 500);
        assert_eq!(points[499], Ok((name, 1_700_000_499, 499.0)));
        let decoded = 500 * (200 + POINT_BYTES);
        assert!(decoded > 10 * body.len() && decoded < MAX_EXPANSION * body.len());
    }

    #[test]
    fn every_refusal_has_a_listed_name() {
        for e in [
            PickleError::TooLarge { len: 1, max: 0 },
            PickleError::Truncated,
            PickleError::Protocol(9),
            PickleError::TooDeep(1),
            PickleError::NotAList("None"),
            PickleError::TooExpanded {
                len: 1,
                decoded: 2,
                max: 1,
            },
        ] {
            assert!(PickleError::NAMES.contains(&e.name()), "{e}");
        }
    }
}
