//! What carbon-c-relay's daemon does to a metric name before it routes it, and which
//! part of the result its rings hash (`dispatcher.c`, 3.7, default `-c -_:#`).
//!
//! The relay rewrites the name of every line it receives, and forwards the rewritten line:
//! - separators: leading `.`s are dropped, a run of `.`s becomes one, a `.` just before
//!   the value is dropped;
//! - characters: `[A-Za-z0-9]` and the allowed `-_:#` are kept, every other byte of the
//!   name (each byte of a UTF-8 character, a NUL) becomes `_`;
//! - tags: with the default allowed characters tag support is on, and from the first `;`
//!   on the text is kept as it is (but for `.` runs, still made one, and a `.` right
//!   after the `;`, dropped).
//!
//! The ring then hashes the rewritten name up to the first `;` (or all of it, untagged):
//! every series of one tagged name goes to one member. `carbon-c-relay -t` (test mode)
//! does none of this: it hashes the text up to the first space as given. [`relay_intake`]
//! computes the daemon's side; the test mode's key is the name itself.
//!
//! carbon 1.1 rewrites nothing and hashes the whole name, tags included (its default
//! `TAG_RELAY_NORMALIZED = False`).

/// carbon-c-relay's default `-c`: the characters allowed next to `[A-Za-z0-9]`.
pub const RELAY_ALLOWED: &[u8] = b"-_:#";

/// A name as carbon-c-relay's daemon forwards and hashes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intake {
    /// The name the relay forwards (and the member stores).
    pub name: Vec<u8>,
    /// How many leading bytes of `name` the ring hashes (up to the first `;`).
    pub key_len: usize,
}

impl Intake {
    /// The bytes the ring hashes.
    pub fn key(&self) -> &[u8] {
        &self.name[..self.key_len]
    }
}

/// The relay's rewrite of `name` (the text before the first space of a line; a space or
/// tab in `name` ends it here too). `None` when nothing is left of it: the relay would
/// read the value as the name, or drop the line.
pub fn relay_intake(name: &[u8]) -> Option<Intake> {
    let mut out: Vec<u8> = Vec::with_capacity(name.len());
    // Where the hashed part ends: set at the `;` of tags, or at the end of the name.
    let mut key_end: Option<usize> = None;
    let mut tags_possible = true;
    for &c in name {
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => break,
            b'.' => {
                let Some(&last) = out.last() else { continue };
                if last != b'.' && key_end != Some(out.len() - 1) {
                    out.push(b'.');
                }
            }
            b';' if tags_possible => {
                tags_possible = false;
                key_end = Some(out.len());
                out.push(b';');
            }
            0 => out.push(b'_'),
            c if key_end.is_some() || c.is_ascii_alphanumeric() || RELAY_ALLOWED.contains(&c) => {
                out.push(c);
            }
            _ => out.push(b'_'),
        }
    }
    if out.is_empty() {
        return None;
    }
    let key_len = if let Some(end) = key_end {
        end
    } else {
        // The space before the value: a `.` just before it goes.
        if out.last() == Some(&b'.') {
            out.pop();
        }
        out.len()
    };
    Some(Intake { name: out, key_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake(name: &str) -> (String, String) {
        let i = relay_intake(name.as_bytes()).unwrap();
        (
            String::from_utf8(i.name.clone()).unwrap(),
            String::from_utf8(i.key().to_vec()).unwrap(),
        )
    }

    #[test]
    fn clean_names_pass_unchanged() {
        assert_eq!(
            intake("a.b-c_d:e#f.G9"),
            ("a.b-c_d:e#f.G9".into(), "a.b-c_d:e#f.G9".into())
        );
    }

    #[test]
    fn separators() {
        assert_eq!(intake("..a...b.").0, "a.b");
        assert_eq!(intake(".a.b..").0, "a.b");
        assert_eq!(intake("a.").1, "a");
    }

    #[test]
    fn characters() {
        assert_eq!(intake("a/b@c").0, "a_b_c");
        assert_eq!(intake("ü").0, "__");
        assert_eq!(relay_intake(b"a\0b").unwrap().name, b"a_b");
    }

    #[test]
    fn tags_are_kept_and_not_hashed() {
        assert_eq!(intake("a.b;x=y/z"), ("a.b;x=y/z".into(), "a.b".into()));
        // Only the first `;` starts tags; the name part is still rewritten.
        assert_eq!(intake("a@b;x=1;y=2"), ("a_b;x=1;y=2".into(), "a_b".into()));
        // Runs of dots collapse in tags too, a dot right after `;` goes, a dot before
        // `;` stays.
        assert_eq!(intake("a.;.x=1..5"), ("a.;x=1.5".into(), "a.".into()));
        assert_eq!(intake(";x=1"), (";x=1".into(), String::new()));
    }

    #[test]
    fn the_name_ends_at_whitespace() {
        assert_eq!(intake("a.b c").0, "a.b");
        assert_eq!(intake("a.b\tc").0, "a.b");
    }

    #[test]
    fn nothing_left() {
        assert_eq!(relay_intake(b""), None);
        assert_eq!(relay_intake(b"..."), None);
        assert_eq!(relay_intake(b" a"), None);
    }
}
