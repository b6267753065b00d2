//! Who may change state over HTTP: the cross-site rule and `http.write_token`.
//!
//! Every handler that changes state runs [`guard`] before it reads the body or touches a
//! database: `POST /events/`, `POST /tags/tagSeries`, `POST /tags/tagMultiSeries`,
//! `POST /tags/delSeries`, `POST /dashboard/save/<name>` and `POST`/`DELETE
//! /dashboard/delete/<name>`. Other methods on those paths change nothing (405, checked by
//! the handlers). Reading endpoints never call it, so Grafana, which only reads, is not
//! affected.
//!
//! The rule ([`check`]), in order; the first failure wins:
//!
//! 1. `Sec-Fetch-Site` (sent by browsers): `same-origin` and `none` pass; `same-site`,
//!    `cross-site` and anything else are refused.
//! 2. `Origin` (sent by browsers on every POST/DELETE): `null`, or a `scheme://host[:port]`
//!    whose host and port differ from the `Host` header's, is refused. A missing port is
//!    the scheme's default (80/443), on both sides.
//! 3. When `http.write_token` is not empty, the request carries it as
//!    `Authorization: Bearer <token>` or `X-Lonsdaleite-Token: <token>`, compared in
//!    constant time (the SHA-256 digests of both sides are compared whole, so the time
//!    shows neither where they differ nor their length beyond 64-byte blocks). Missing →
//!    401 with `WWW-Authenticate: Bearer`, wrong → 403.
//!
//! A request without `Sec-Fetch-Site` and `Origin` (curl, scripts, Grafana's server-side
//! proxy) passes 1 and 2: only a browser can be tricked into sending a request on a
//! user's behalf, and browsers name where it comes from. A page cannot forge or remove
//! those headers (they are forbidden header names); a cross-site page that tries a custom
//! header such as the token's must first pass a CORS preflight, which this server never
//! grants. Behind a reverse proxy, the proxy must pass the client's `Host` on (nginx:
//! `proxy_set_header Host $host;`), or the web page's own writes are refused.
//!
//! Refusals answer with a plain-text message naming why and are logged at debug
//! (`lonsdaleite::http::csrf`); nothing is counted.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The header that may carry the write token instead of `Authorization: Bearer`.
pub const TOKEN_HEADER: &str = "x-lonsdaleite-token";

/// Why a state-changing request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `Sec-Fetch-Site` names another site or origin (HTTP 403).
    #[error("cross-site request refused: Sec-Fetch-Site is {0:?}; only same-origin pages may change state")]
    FetchSite(String),
    /// `Origin: null`: an opaque origin (sandboxed frame, file:, privacy redirect) (HTTP 403).
    #[error("cross-site request refused: Origin is null; only same-origin pages may change state")]
    NullOrigin,
    /// `Origin` names another host or port than `Host` (HTTP 403).
    #[error("cross-site request refused: Origin {origin} does not match Host {host}")]
    Origin { origin: String, host: String },
    /// `http.write_token` is set and the request carries no token (HTTP 401).
    #[error(
        "write refused: this server's http.write_token is set; send it as \
         'Authorization: Bearer <token>' or 'X-Lonsdaleite-Token: <token>'"
    )]
    NoToken,
    /// The request carries a token that is not `http.write_token` (HTTP 403).
    #[error("write refused: the token sent does not match http.write_token")]
    WrongToken,
}

impl Refusal {
    /// 401 for a missing token (with `WWW-Authenticate: Bearer`), 403 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoToken => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut r = super::text(status, self.to_string());
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// [`check`], logging a refusal at debug with the request's `path`; the refusal is the
/// answer to send (`into_response`).
pub fn guard(path: &str, headers: &HeaderMap, write_token: &str) -> Result<(), Refusal> {
    check(headers, write_token).inspect_err(|refusal| {
        tracing::debug!(path, reason = %refusal, "state-changing request refused");
    })
}

/// [`guard`] as middleware (`axum::middleware::from_fn_with_state(write_token, layer)`),
/// for routes whose handlers only change state.
pub async fn layer(State(write_token): State<Arc<str>>, req: Request, next: Next) -> Response {
    if let Err(refused) = guard(req.uri().path(), req.headers(), &write_token) {
        return refused.into_response();
    }
    next.run(req).await
}

/// The rule of the module doc: may a request with these headers change state?
pub fn check(headers: &HeaderMap, write_token: &str) -> Result<(), Refusal> {
    for site in headers.get_all("sec-fetch-site") {
        let site = lossy(site);
        if !matches!(site.trim(), "same-origin" | "none") {
            return Err(Refusal::FetchSite(site));
        }
    }
    let host = headers.get(header::HOST).map(lossy);
    for origin in headers.get_all(header::ORIGIN) {
        let origin = lossy(origin);
        let origin = origin.trim();
        if origin == "null" {
            return Err(Refusal::NullOrigin);
        }
        let same = host.as_deref().is_some_and(|h| same_authority(origin, h));
        if !same {
            return Err(Refusal::Origin {
                origin: origin.to_owned(),
                host: host.clone().unwrap_or_else(|| "(none sent)".to_owned()),
            });
        }
    }
    if write_token.is_empty() {
        return Ok(());
    }
    let mut sent = false;
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .into_iter()
        .filter_map(|v| bearer(v.as_bytes()));
    let custom = headers
        .get_all(TOKEN_HEADER)
        .into_iter()
        .map(|v| v.as_bytes().trim_ascii());
    for token in bearer.chain(custom) {
        sent = true;
        if same_secret(token, write_token.as_bytes()) {
            return Ok(());
        }
    }
    Err(if sent {
        Refusal::WrongToken
    } else {
        Refusal::NoToken
    })
}

fn lossy(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    (scheme.eq_ignore_ascii_case(b"bearer") && rest.first().is_some_and(u8::is_ascii_whitespace))
        .then(|| rest.trim_ascii())
}

/// Equal secrets, in time independent of where they differ and of their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// `host` and port of an authority (`name`, `name:80`, `[::1]:8080`); None when malformed.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        match after {
            "" => (inside, None),
            _ => (inside, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host, port))
}

/// Does `origin` (`scheme://authority`) name the same host and port as the `Host` header?
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    match (split_authority(authority), split_authority(host.trim())) {
        (Some((oh, op)), Some((hh, hp))) => {
            oh.eq_ignore_ascii_case(hh)
                && op.or(default).is_some()
                && op.or(default) == hp.or(default)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn rule(pairs: &[(&'static str, &'static str)], token: &str) -> Result<(), Refusal> {
        check(&headers(pairs), token)
    }

    #[test]
    fn clients_without_browser_headers_pass() {
        assert_eq!(rule(&[], ""), Ok(()));
        assert_eq!(rule(&[("host", "127.0.0.1:8080")], ""), Ok(()));
        // Grafana's proxy and curl send a user agent and perhaps a referer, nothing more.
        assert_eq!(
            rule(
                &[("host", "graphite:8080"), ("user-agent", "Grafana/11")],
                ""
            ),
            Ok(())
        );
    }

    #[test]
    fn sec_fetch_site_only_same_origin_or_none() {
        for ok in ["same-origin", "none"] {
            let h = HeaderMap::from_iter([(
                header::HeaderName::from_static("sec-fetch-site"),
                HeaderValue::from_static(ok),
            )]);
            assert_eq!(check(&h, ""), Ok(()), "{ok}");
        }
        for bad in ["cross-site", "same-site", "", "SAME-ORIGIN"] {
            let mut h = HeaderMap::new();
            h.insert("sec-fetch-site", HeaderValue::from_str(bad).unwrap());
            assert_eq!(check(&h, ""), Err(Refusal::FetchSite(bad.into())), "{bad}");
        }
    }

    #[test]
    fn origin_must_match_host() {
        let same = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://Graphite.Example", "graphite.example"),
            ("http://graphite.example", "graphite.example:80"),
            ("http://graphite.example:80", "graphite.example"),
            ("https://graphite.example", "graphite.example:443"),
            ("https://graphite.example", "graphite.example"),
            ("http://[::1]:8080", "[::1]:8080"),
        ];
        for (origin, host) in same {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
            assert_eq!(check(&h, ""), Ok(()), "{origin} {host}");
        }
        let different = [
            ("https://evil.example", "127.0.0.1:8080"),
            ("http://127.0.0.1:8081", "127.0.0.1:8080"),
            ("http://127.0.0.1", "127.0.0.1:8080"),
            ("https://graphite.example", "graphite.example:80"),
            ("http://graphite.example.evil", "graphite.example"),
            ("http://[::1]:8080", "[::2]:8080"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("chrome-extension://abc", "abc"),
            ("http://127.0.0.1:8080", "127.0.0.1:notaport"),
        ];
        for (origin, host) in different {
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            let want = Refusal::Origin {
                origin: origin.into(),
                host: host.into(),
            };
            assert_eq!(check(&h, ""), Err(want), "{origin} {host}");
        }
        let e = rule(
            &[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:8080"),
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cross-site request refused: Origin https://evil.example does not match Host 127.0.0.1:8080"
        );
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn null_origin_and_origin_without_host_are_refused() {
        assert_eq!(
            rule(&[("origin", "null"), ("host", "a:1")], ""),
            Err(Refusal::NullOrigin)
        );
        assert_eq!(
            rule(&[("origin", "http://a:1")], ""),
            Err(Refusal::Origin {
                origin: "http://a:1".into(),
                host: "(none sent)".into()
            })
        );
        // A second Origin header cannot hide a foreign one.
        assert!(rule(
            &[
                ("host", "a:1"),
                ("origin", "http://a:1"),
                ("origin", "http://b:1")
            ],
            ""
        )
        .is_err());
    }

    #[test]
    fn cross_site_is_refused_before_the_token_is_looked_at() {
        let e = rule(
            &[
                ("host", "a:1"),
                ("origin", "http://b:1"),
                ("authorization", "Bearer s3cret"),
            ],
            "s3cret",
        );
        assert!(matches!(e, Err(Refusal::Origin { .. })), "{e:?}");
    }

    #[test]
    fn write_token() {
        assert_eq!(rule(&[], "s3cret"), Err(Refusal::NoToken));
        assert_eq!(Refusal::NoToken.status(), StatusCode::UNAUTHORIZED);
        assert!(Refusal::NoToken.to_string().contains("http.write_token"));
        for ok in [
            ("authorization", "Bearer s3cret"),
            ("authorization", "bearer   s3cret "),
            ("x-lonsdaleite-token", "s3cret"),
        ] {
            assert_eq!(rule(&[ok], "s3cret"), Ok(()), "{ok:?}");
        }
        for wrong in [
            ("authorization", "Bearer s3cre"),
            ("authorization", "Bearer s3crets"),
            ("x-lonsdaleite-token", "S3CRET"),
        ] {
            assert_eq!(
                rule(&[wrong], "s3cret"),
                Err(Refusal::WrongToken),
                "{wrong:?}"
            );
        }
        // Another scheme, or an empty bearer, is not a token.
        assert_eq!(
            rule(&[("authorization", "Bearer ")], "s3cret"),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            rule(&[("authorization", "Basic czNjcmV0")], "s3cret"),
            Err(Refusal::NoToken)
        );
        assert_eq!(
            rule(&[("authorization", "Bearers3cret")], "s3cret"),
            Err(Refusal::NoToken)
        );
        // One right token among several headers is enough.
        assert_eq!(
            rule(
                &[
                    ("authorization", "Basic x"),
                    ("x-lonsdaleite-token", "s3cret")
                ],
                "s3cret"
            ),
            Ok(())
        );
        // No token asked: one sent is ignored.
        assert_eq!(rule(&[("authorization", "Bearer x")], ""), Ok(()));
        let r = Refusal::NoToken.into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn same_page_write_with_token_passes() {
        assert_eq!(
            rule(
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080"),
                    ("sec-fetch-site", "same-origin"),
                    ("x-lonsdaleite-token", "t"),
                ],
                "t"
            ),
            Ok(())
        );
    }

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(same_secret(b"", b""));
    }
}
