//! A ring member as the relay's config names it: `HOST[:PORT][=INSTANCE]`.
//!
//! The spelling is carbon-c-relay's cluster member syntax (`10.0.0.1:2003=a`,
//! `[::1]:2004=b`, `graphite-3`), read by the same rules: the port is what follows the
//! last `:` unless the address ends in `]`, it defaults to 2003 and must be 1–65535; an
//! IPv6 address sits in brackets, which are not part of the host. carbon's own
//! `DESTINATIONS = host:port:instance` entries are written `host:port=instance` here.
//!
//! The host is kept as written: both rings hash the text of the host, not an address it
//! resolves to, so `localhost` and `127.0.0.1` are different members. The instance is
//! kept verbatim too; the relay's rewriting of an all-digit instance (`=007` is `7` to
//! carbon-c-relay) belongs to its ring ([`super::ring`]), not to the spelling.

use std::fmt;

/// The relay's port when a member names none (carbon-c-relay's `GRAPHITE_PORT`).
pub const DEFAULT_PORT: u16 = 2003;

/// The form every error names.
pub const EXPECTED: &str = "HOST[:PORT][=INSTANCE], e.g. 10.0.0.1, 10.0.0.1:2003=a or [::1]:2004";

/// One ring member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The host as written, without an IPv6 address's brackets.
    pub host: String,
    /// The port (part of the `fnv1a_ch` key of carbon-c-relay, of no other key).
    pub port: u16,
    /// The instance after `=`, verbatim; `None` when the spec has no `=`.
    pub instance: Option<String>,
}

/// Why a member spec was refused; each names the spec and [`EXPECTED`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("empty node spec: expected {EXPECTED}")]
    Empty,
    #[error("node `{0}` has no host: expected {EXPECTED}")]
    NoHost(String),
    #[error("node `{0}` has an empty instance after `=`: expected {EXPECTED}")]
    EmptyInstance(String),
    #[error("node `{spec}`: invalid port `{port}` (1-65535): expected {EXPECTED}")]
    BadPort { spec: String, port: String },
    #[error("node `{0}`: an IPv6 address goes in brackets, e.g. [::1]:2003: expected {EXPECTED}")]
    BareIpv6(String),
    #[error("node `{0}`: expected `]` after the IPv6 address, then nothing or `:PORT`: expected {EXPECTED}")]
    Bracket(String),
    #[error("node `{0}`: whitespace or control characters: expected {EXPECTED}")]
    BadChar(String),
}

impl Node {
    /// Parses `HOST[:PORT][=INSTANCE]`.
    pub fn parse(spec: &str) -> Result<Self, NodeError> {
        if spec.is_empty() {
            return Err(NodeError::Empty);
        }
        if spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NodeError::BadChar(spec.to_owned()));
        }
        let (addr, instance) = match spec.split_once('=') {
            Some((_, "")) => return Err(NodeError::EmptyInstance(spec.to_owned())),
            Some((addr, inst)) => (addr, Some(inst.to_owned())),
            None => (spec, None),
        };
        let (host, port) = if let Some(inner) = addr.strip_prefix('[') {
            let Some((host, after)) = inner.split_once(']') else {
                return Err(NodeError::Bracket(spec.to_owned()));
            };
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(NodeError::Bracket(spec.to_owned())),
                },
            };
            (host, port)
        } else {
            match addr.split_once(':') {
                Some((_, rest)) if rest.contains(':') => {
                    return Err(NodeError::BareIpv6(spec.to_owned()))
                }
                Some((host, port)) => (host, Some(port)),
                None => (addr, None),
            }
        };
        if host.is_empty() {
            return Err(NodeError::NoHost(spec.to_owned()));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => parse_port(p).ok_or_else(|| NodeError::BadPort {
                spec: spec.to_owned(),
                port: p.to_owned(),
            })?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            instance,
        })
    }

    /// `HOST:PORT` as carbon-c-relay prints a member (an IPv6 host in brackets).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Digits only (no sign), 1–65535; leading zeros allowed, as the relay's `strtol` takes them.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = p.trim_start_matches('0');
    if digits.len() > 5 {
        return None;
    }
    match digits.parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// `HOST:PORT[=INSTANCE]`, the host bracketed when it holds a `:`.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address())?;
        if let Some(i) = &self.instance {
            write!(f, "={i}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Node {
    type Err = NodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16, instance: Option<&str>) -> Node {
        Node {
            host: host.into(),
            port,
            instance: instance.map(Into::into),
        }
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(Node::parse("10.0.0.1"), Ok(node("10.0.0.1", 2003, None)));
        assert_eq!(
            Node::parse("10.0.0.1:2103"),
            Ok(node("10.0.0.1", 2103, None))
        );
        assert_eq!(
            Node::parse("10.0.0.1=a"),
            Ok(node("10.0.0.1", 2003, Some("a")))
        );
        assert_eq!(
            Node::parse("graphite-1:2004=b"),
            Ok(node("graphite-1", 2004, Some("b")))
        );
        assert_eq!(Node::parse("[::1]"), Ok(node("::1", 2003, None)));
        assert_eq!(
            Node::parse("[::1]:2005=007"),
            Ok(node("::1", 2005, Some("007")))
        );
        assert_eq!(Node::parse("h:02003"), Ok(node("h", 2003, None)));
        // The instance is everything after the first `=`.
        assert_eq!(Node::parse("h=a=b"), Ok(node("h", 2003, Some("a=b"))));
    }

    #[test]
    fn refused_forms() {
        assert_eq!(Node::parse(""), Err(NodeError::Empty));
        assert!(matches!(Node::parse(":2003"), Err(NodeError::NoHost(_))));
        assert!(matches!(Node::parse("[]:2003"), Err(NodeError::NoHost(_))));
        assert!(matches!(
            Node::parse("h="),
            Err(NodeError::EmptyInstance(_))
        ));
        for bad in ["h:", "h:0", "h:65536", "h:x", "h:+1", "h:-1", "h:99999999"] {
            assert!(
                matches!(Node::parse(bad), Err(NodeError::BadPort { .. })),
                "{bad}"
            );
        }
        assert!(matches!(Node::parse("::1"), Err(NodeError::BareIpv6(_))));
        assert!(matches!(Node::parse("[::1"), Err(NodeError::Bracket(_))));
        assert!(matches!(
            Node::parse("[::1]2003"),
            Err(NodeError::Bracket(_))
        ));
        assert!(matches!(Node::parse("a b"), Err(NodeError::BadChar(_))));
        assert!(matches!(Node::parse("a\0b"), Err(NodeError::BadChar(_))));
        let msg = Node::parse("h:x").unwrap_err().to_string();
        assert!(msg.contains("HOST[:PORT][=INSTANCE]"), "{msg}");
    }

    #[test]
    fn display_round_trips() {
        for spec in [
            "10.0.0.1:2003",
            "10.0.0.1:2003=a",
            "[::1]:2004=b",
            "[fe80::1]:2003",
        ] {
            let n = Node::parse(spec).unwrap();
            assert_eq!(n.to_string(), spec);
            assert_eq!(Node::parse(&n.to_string()).unwrap(), n);
        }
        assert_eq!(Node::parse("[::1]").unwrap().address(), "[::1]:2003");
    }
}
