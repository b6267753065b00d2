//! Reading a member's pickled answer (`format=pickle`, graphite-web's default) as a
//! frontend, safely: only the values graphite's answers hold are built, never an
//! arbitrary object.
//!
//! What an answer may hold (graphite-web's `SafeUnpickler` allows the same, less its
//! `TimeSeries` and `Tags` classes, which no 1.1 member sends): lists, tuples, dicts,
//! strings (`str`, and Python 2's byte strings read as UTF-8), ints, floats, bools,
//! `None`, and graphite's `graphite.intervals.IntervalSet` and `Interval` objects (in find
//! answers). The result is the [`rmpv::Value`] the same answer in msgpack decodes to, so
//! one reader ([`super::federation_client::decode_find`] and `decode_render`) serves
//! both formats: an `Interval` becomes `[start, end]`, an `IntervalSet` its list of them.
//!
//! Opcodes of protocols 0 to 5 that build those values are read; any other (`REDUCE`,
//! `INST`, a class other than the two above, extensions, persistent ids, out-of-band
//! buffers…) refuses the answer, naming it. Bounds: objects live in one arena indexed by
//! the memo and the stack (a reference copies nothing); at most [`MAX_MARKS`] open marks;
//! turning the arena into the result stops at [`MAX_DEPTH`] levels and at a number of
//! values proportional to the answer's size (a memo reference repeated many times cannot
//! blow it up).

use rmpv::Value;

/// Open `MARK`s at once.
const MAX_MARKS: usize = 64;
/// Nesting of the result.
const MAX_DEPTH: usize = 32;
/// Values the result may hold per byte of the answer.
const MAX_VALUES_PER_BYTE: usize = 4;

/// One object of the pickle.
#[derive(Debug, Clone)]
enum Node {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    /// `graphite.intervals.<name>`, the class itself.
    Class(&'static str),
    /// An instance of a graphite class with its attributes (set by `BUILD`).
    Object(&'static str, Vec<(usize, usize)>),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Node>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: std::collections::HashMap<u64, usize>,
}

fn err(what: impl Into<String>) -> String {
    format!("bad pickle: {}", what.into())
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| err("cut short"))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, String> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| err("a line without end"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| err("a line not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn push(&mut self, node: Node) {
        self.arena.push(node);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self) -> Result<usize, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(err("stack underflow"));
        }
        Ok(self.stack.pop().unwrap_or_default())
    }

    fn top(&self) -> Result<usize, String> {
        self.stack.last().copied().ok_or_else(|| err("empty stack"))
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>, String> {
        let m = self.marks.pop().ok_or_else(|| err("no mark"))?;
        Ok(self.stack.split_off(m))
    }

    fn string(&mut self, n: usize) -> Result<(), String> {
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| err("a string not UTF-8"))?;
        self.push(Node::Str(s.to_string()));
        Ok(())
    }

    fn class(module: &str, name: &str) -> Result<Node, String> {
        match (module, name) {
            ("graphite.intervals", "Interval") => Ok(Node::Class("Interval")),
            ("graphite.intervals", "IntervalSet") => Ok(Node::Class("IntervalSet")),
            _ => Err(err(format!("refused class {module}.{name}"))),
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<(), String> {
        let top = self.top()?;
        if self.memo.len() > self.data.len() {
            return Err(err("memo larger than the answer"));
        }
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), String> {
        let i = *self.memo.get(&key).ok_or_else(|| err("unknown memo key"))?;
        self.stack.push(i);
        Ok(())
    }

    fn append(&mut self, list: usize, items: Vec<usize>) -> Result<(), String> {
        match &mut self.arena[list] {
            Node::List(v) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(err("APPEND to something not a list")),
        }
    }

    fn set_items(&mut self, dict: usize, items: &[usize]) -> Result<(), String> {
        if items.len() % 2 != 0 {
            return Err(err("SETITEMS with an odd count"));
        }
        let pairs = items.chunks(2).map(|p| (p[0], p[1]));
        match &mut self.arena[dict] {
            Node::Dict(v) => {
                v.extend(pairs);
                Ok(())
            }
            _ => Err(err("SETITEM on something not a dict")),
        }
    }

    fn instance(&mut self, cls: usize) -> Result<(), String> {
        match self.arena[cls] {
            Node::Class(name) => {
                self.push(Node::Object(name, Vec::new()));
                Ok(())
            }
            _ => Err(err("NEWOBJ of something not a class")),
        }
    }

    fn run(&mut self) -> Result<usize, String> {
        let mut memo_next = 0u64;
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    self.byte()?; // PROTO
                }
                0x95 => {
                    self.le(8)?; // FRAME: the frame's bytes follow in line
                }
                b'.' => return self.pop(),
                b'(' => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(err("too many marks"));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let t = self.top()?;
                    self.stack.push(t);
                }
                b'N' => self.push(Node::None),
                0x88 => self.push(Node::Bool(true)),
                0x89 => self.push(Node::Bool(false)),
                b'J' => {
                    let v = self.le(4)? as u32 as i32;
                    self.push(Node::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.le(1)?;
                    self.push(Node::Int(v as i64));
                }
                b'M' => {
                    let v = self.le(2)?;
                    self.push(Node::Int(v as i64));
                }
                0x8a => {
                    let n = usize::from(self.byte()?);
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(err("an int past 64 bits"));
                    }
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= i64::from(x) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.push(Node::Int(v));
                }
                b'I' | b'L' => {
                    let text = self.line()?.trim_end_matches('L');
                    let node = match text {
                        "01" => Node::Bool(true),
                        "00" => Node::Bool(false),
                        t => Node::Int(t.parse().map_err(|_| err(format!("int {t:?}")))?),
                    };
                    self.push(node);
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(Node::Float(f64::from_be_bytes(a)));
                }
                b'F' => {
                    let t = self.line()?;
                    let v = crate::py::parse::float(t.as_bytes())
                        .ok_or_else(|| err(format!("float {t:?}")))?;
                    self.push(Node::Float(v));
                }
                0x8c | b'U' => {
                    let n = usize::from(self.byte()?);
                    self.string(n)?;
                }
                b'X' | b'T' => {
                    let n = self.le(4)? as usize;
                    self.string(n)?;
                }
                0x8d => {
                    let n = usize::try_from(self.le(8)?).map_err(|_| err("string too long"))?;
                    self.string(n)?;
                }
                b']' => self.push(Node::List(Vec::new())),
                b')' => self.push(Node::Tuple(Vec::new())),
                b'}' => self.push(Node::Dict(Vec::new())),
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Node::Dict(Vec::new()));
                    let d = self.top()?;
                    self.set_items(d, &items)?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                        return Err(err("stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Node::Tuple(items));
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.append(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.append(list, items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, &[k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, &items)?;
                }
                0x94 => {
                    self.memo_put(memo_next)?;
                    memo_next += 1;
                }
                b'q' => {
                    let k = self.le(1)?;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.le(4)?;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let k = self.line()?.parse().map_err(|_| err("PUT key"))?;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.le(1)?;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.le(4)?;
                    self.memo_get(k)?;
                }
                b'g' => {
                    let k = self.line()?.parse().map_err(|_| err("GET key"))?;
                    self.memo_get(k)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let class = Self::class(module, name)?;
                    self.push(class);
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Node::Str(m), Node::Str(n)) = (&self.arena[module], &self.arena[name])
                    else {
                        return Err(err("STACK_GLOBAL of something not strings"));
                    };
                    let class = Self::class(m, n)?;
                    self.push(class);
                }
                0x81 => {
                    self.pop()?; // the arguments: graphite's classes are built empty
                    let cls = self.pop()?;
                    self.instance(cls)?;
                }
                b'o' => {
                    let items = self.pop_mark()?;
                    let cls = *items.first().ok_or_else(|| err("OBJ without a class"))?;
                    self.instance(cls)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let obj = self.top()?;
                    let Node::Dict(attrs) = self.arena[state].clone() else {
                        return Err(err("BUILD with a state that is not a dict"));
                    };
                    match &mut self.arena[obj] {
                        Node::Object(_, a) => a.extend(attrs),
                        _ => return Err(err("BUILD on something not a graphite object")),
                    }
                }
                other => return Err(err(format!("refused opcode 0x{other:02x}"))),
            }
        }
    }

    /// The arena entry `i` as the msgpack value of the same answer.
    fn value(&self, i: usize, depth: usize, budget: &mut usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(err("nested too deep"));
        }
        *budget = budget
            .checked_sub(1)
            .ok_or_else(|| err("expands past its size"))?;
        let attr = |attrs: &[(usize, usize)], key: &str| {
            attrs
                .iter()
                .find(|(k, _)| matches!(&self.arena[*k], Node::Str(s) if s == key))
                .map(|(_, v)| *v)
        };
        Ok(match &self.arena[i] {
            Node::None => Value::Nil,
            Node::Bool(b) => Value::Boolean(*b),
            Node::Int(n) => Value::from(*n),
            Node::Float(f) => Value::F64(*f),
            Node::Str(s) => Value::from(s.as_str()),
            Node::List(items) | Node::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(|&j| self.value(j, depth + 1, budget))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Dict(pairs) => Value::Map(
                pairs
                    .iter()
                    .map(|&(k, v)| {
                        Ok((
                            self.value(k, depth + 1, budget)?,
                            self.value(v, depth + 1, budget)?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            Node::Class(_) => return Err(err("a class where a value belongs")),
            Node::Object("Interval", attrs) => {
                let (Some(a), Some(b)) = (attr(attrs, "start"), attr(attrs, "end")) else {
                    return Err(err("an Interval without start and end"));
                };
                Value::Array(vec![
                    self.value(a, depth + 1, budget)?,
                    self.value(b, depth + 1, budget)?,
                ])
            }
            Node::Object(_, attrs) => match attr(attrs, "intervals") {
                Some(list) => self.value(list, depth + 1, budget)?,
                None => Value::Array(Vec::new()),
            },
        })
    }
}

/// A member's pickled answer as the value its msgpack twin decodes to.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let mut m = Machine {
        data: body,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    let root = m.run()?;
    let mut budget = body.len().saturating_mul(MAX_VALUES_PER_BYTE).max(16);
    m.value(root, 0, &mut budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::federation::FindNode;
    use crate::query::series::Series;

    /// What this node writes reads back as its msgpack twin.
    #[test]
    fn reads_our_own() {
        let mut a = Series::new("a.b", 10, 40, 10, vec![Some(1.5), None, Some(-2.0)]);
        a.path_expression = "a.*".into();
        let p = decode(&crate::http::pickle::render_pickle(std::slice::from_ref(
            &a,
        )))
        .unwrap();
        let body = crate::http::msgpack::render_msgpack_within(&[a], usize::MAX).unwrap();
        assert_eq!(p, rmpv::decode::read_value(&mut &body[..]).unwrap());
        let nodes = [
            FindNode {
                path: "x".into(),
                is_leaf: false,
                intervals: vec![],
            },
            FindNode {
                path: "x.y".into(),
                is_leaf: true,
                intervals: vec![(1.0, 2.5)],
            },
        ];
        let p = decode(&crate::http::pickle::find_pickle(&nodes)).unwrap();
        let body = crate::http::msgpack::find_msgpack(&nodes);
        assert_eq!(p, rmpv::decode::read_value(&mut &body[..]).unwrap());
    }

    proptest::proptest! {
        /// Any bytes: an answer or an error, never a panic, a hang or a blow-up.
        #[test]
        fn never_panics(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = decode(&body);
        }

        /// Any bytes after a valid prefix of graphite-web's opcodes.
        #[test]
        fn never_panics_after_a_list(tail in proptest::collection::vec(
            proptest::sample::select(b"()]}.NJKGXh\x94\x85\x86\x87aeusbq\x81\x93\x8c\x88".to_vec()), 0..64)) {
            let mut body = b"\x80\x05]\x94(".to_vec();
            body.extend(tail);
            let _ = decode(&body);
        }
    }

    #[test]
    fn refuses_what_is_not_data() {
        // os.system via REDUCE, a foreign class, garbage, a truncated pickle.
        for bad in [
            &b"cos\nsystem\n(S'true'\ntR."[..],
            b"\x80\x02cbuiltins\neval\n.",
            b"\x80\x05\x95",
            b"\x80\x02]q\x00(K\x01",
            b"\x80\x02h\x07.",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        // A list referencing itself cannot make the result grow past the bound.
        assert!(decode(b"\x80\x02]q\x00h\x00ah\x00a.").is_err());
    }
}
