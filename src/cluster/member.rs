//! A federation member as graphite-web's `CLUSTER_SERVERS` spells it:
//! `[http://]HOST:PORT[/PREFIX][?format=msgpack|pickle&local=1&noTags=1]` (`finders/remote.py`
//! `parse_host`: the query string's last value of each key wins).
//!
//! - `format`: what the member is asked to answer finds and renders in, `msgpack` (the
//!   default here; graphite-web's own default is `pickle`, and every graphite-web 1.1
//!   member and every lonsdaleite node answers both) or `pickle`.
//! - `local` (default `1`): sent as is with every request; `0` lets a graphite-web member
//!   fan out again.
//! - `noTags`: the member has no tag database: `seriesByTag` targets are resolved by the
//!   frontend's own tag index and the names sent instead.
//!
//! `https://` is refused (no TLS client here). Pure: no I/O.

use std::fmt;

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `HOST:PORT` as written (an IPv6 address in brackets); connected to as is.
    pub authority: String,
    /// A path the API lives under (`/graphite`), without a trailing `/`; usually empty.
    pub prefix: String,
    /// The `local` value sent.
    pub local: String,
    /// `noTags` was given.
    pub no_tags: bool,
    /// `msgpack` or `pickle`.
    pub format: String,
}

/// Why a member spec was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberError {
    pub spec: String,
    pub message: String,
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} (expected [http://]HOST:PORT[/PREFIX][?format=msgpack|pickle&local=1&noTags=1])",
            self.spec, self.message
        )
    }
}

impl std::error::Error for MemberError {}

impl Member {
    /// Parses one `CLUSTER_SERVERS` entry.
    pub fn parse(spec: &str) -> Result<Self, MemberError> {
        let err = |message: &str| MemberError {
            spec: spec.to_string(),
            message: message.to_string(),
        };
        let rest = if let Some(r) = spec.strip_prefix("http://") {
            r
        } else if spec.starts_with("https://") {
            return Err(err(
                "https is not supported (no TLS client here): use http://",
            ));
        } else if spec.contains("://") {
            return Err(err("only http:// members are supported"));
        } else {
            spec
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, prefix) = match location.find('/') {
            Some(i) => (&location[..i], location[i..].trim_end_matches('/')),
            None => (location, ""),
        };
        let port = if let Some(v6) = authority.strip_prefix('[') {
            v6.split_once("]:").map(|(_, p)| p)
        } else {
            authority.rsplit_once(':').map(|(_, p)| p).filter(|_| {
                // A bare IPv6 address has more than one colon.
                authority.matches(':').count() == 1
            })
        };
        let host_ok = !authority.is_empty() && !authority.starts_with(':');
        match port.map(str::parse::<u16>) {
            Some(Ok(p)) if p > 0 && host_ok => {}
            _ => return Err(err("a host and a port (1-65535) are required")),
        }
        let mut member = Member {
            authority: authority.to_string(),
            prefix: prefix.to_string(),
            local: "1".to_string(),
            no_tags: false,
            format: "msgpack".to_string(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "format" => v.clone_into(&mut member.format),
                "local" => v.clone_into(&mut member.local),
                "noTags" => member.no_tags = !v.is_empty(),
                other => return Err(err(&format!("unknown parameter {other:?}"))),
            }
        }
        match member.format.as_str() {
            "msgpack" | "pickle" => Ok(member),
            other => Err(err(&format!(
                "unknown format {other:?} (msgpack or pickle)"
            ))),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let m = Member::parse("10.0.0.1:8080").unwrap();
        assert_eq!(
            (
                m.authority.as_str(),
                m.prefix.as_str(),
                m.local.as_str(),
                m.no_tags
            ),
            ("10.0.0.1:8080", "", "1", false)
        );
        let m = Member::parse("http://web1:80/graphite/?format=pickle&local=0&noTags=1").unwrap();
        assert_eq!(
            (
                m.authority.as_str(),
                m.prefix.as_str(),
                m.local.as_str(),
                m.no_tags
            ),
            ("web1:80", "/graphite", "0", true)
        );
        assert_eq!(m.format, "pickle");
        assert_eq!(Member::parse("h:1").unwrap().format, "msgpack");
        assert_eq!(Member::parse("[::1]:8080").unwrap().authority, "[::1]:8080");
        for bad in [
            "",
            "host",
            "host:0",
            "host:x",
            ":80",
            "::1:80",
            "https://h:1",
            "ftp://h:1",
            "h:1?format=json",
            "h:1?bogus=1",
        ] {
            assert!(Member::parse(bad).is_err(), "{bad}");
        }
    }
}
