//! The HTTP requests that change state on the real binary (`POST /events/`,
//! `/tags/tagSeries|tagMultiSeries|delSeries`, `/dashboard/save|delete`): a browser's
//! cross-site request is refused with 403 and changes nothing, curl's (no `Origin`, no
//! `Sec-Fetch-Site`) and the same-origin page's pass, other methods change nothing, and
//! `http.write_token` guards them when set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{HttpReply, Server};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
/// What a browser sends with a form or `fetch` POST from another site.
const EVIL: [(&str, &str); 2] = [
    ("Origin", "https://evil.example"),
    ("Sec-Fetch-Site", "cross-site"),
];

fn post(server: &Server, target: &str, headers: &[(&str, &str)], body: &str) -> HttpReply {
    let mut all = vec![FORM];
    all.extend_from_slice(headers);
    server.http_request("POST", target, &all, body.as_bytes())
}

fn tagged(server: &Server, expr: &str) -> String {
    let r = server.get(&format!("/tags/findSeries?expr={expr}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn events(server: &Server) -> String {
    let r = server.get("/events/get_data");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn assert_refused(r: &HttpReply, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.text().contains(needle), "{needle:?} not in {}", r.text());
}

#[test]
fn browsers_cross_site_writes_are_refused_and_change_nothing() {
    let server = Server::start(&[]);
    let addr = server.http.unwrap();

    // curl: no Origin, no Sec-Fetch-Site.
    let r = post(&server, "/tags/tagSeries", &[], "path=cpu;a=1");
    assert_eq!((r.status, r.text().as_str()), (200, "\"cpu;a=1\""));

    // A cross-site form post, and each of its two headers alone.
    for headers in [&EVIL[..], &EVIL[..1], &EVIL[1..]] {
        let r = post(&server, "/tags/delSeries", headers, "path=cpu;a=1");
        assert_refused(&r, 403, "cross-site request refused");
        let r = post(&server, "/tags/tagSeries", headers, "path=cpu;a=2");
        assert_refused(&r, 403, "cross-site request refused");
        let r = post(&server, "/tags/tagMultiSeries", headers, "path=cpu;a=3");
        assert_refused(&r, 403, "cross-site request refused");
    }
    let r = post(&server, "/tags/delSeries", &EVIL[..1], "path=cpu;a=1");
    assert_eq!(
        r.text(),
        format!(
            "cross-site request refused: Origin https://evil.example does not match Host {addr}\n"
        )
    );
    for headers in [
        [("Origin", "null")],
        [("Sec-Fetch-Site", "same-site")],
        [("Origin", "http://127.0.0.1:1")],
    ] {
        let r = post(&server, "/tags/delSeries", &headers, "path=cpu;a=1");
        assert_refused(&r, 403, "cross-site request refused");
    }
    assert_eq!(tagged(&server, "name=cpu"), "[\"cpu;a=1\"]");

    // GET never deletes: 405 naming POST, as graphite-web.
    for method in ["GET", "HEAD", "PUT", "DELETE"] {
        let r = server.http_request(method, "/tags/delSeries?path=cpu;a=1", &[], b"");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST"), "{method}");
    }
    assert_eq!(tagged(&server, "name=cpu"), "[\"cpu;a=1\"]");

    // Events: the cross-site post adds nothing; curl's and the same-origin page's do.
    let event = r#"{"what": "deploy", "tags": "web"}"#;
    let r = server.http_request("POST", "/events/", &EVIL, event.as_bytes());
    assert_refused(&r, 403, "cross-site request refused");
    assert_eq!(events(&server), "[]");
    let r = server.http_request("PUT", "/events/", &[], event.as_bytes());
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(events(&server), "[]");
    let r = server.http_request("POST", "/events/", &[], event.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let origin = format!("http://{addr}");
    let same = [
        ("Origin", origin.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let r = server.http_request("POST", "/events/", &same, event.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(events(&server).matches("\"what\": \"deploy\"").count(), 2);

    // Dashboards: the same rule; GET on delete changes nothing.
    let r = post(&server, "/dashboard/save/ops", &EVIL, "state=%7B%7D");
    assert_refused(&r, 403, "cross-site request refused");
    assert_eq!(server.get("/dashboard/load/ops").status, 404);
    let r = post(&server, "/dashboard/save/ops", &same, "state=%7B%7D");
    assert_eq!(r.status, 200, "{}", r.text());
    for (method, headers, status) in [
        ("POST", &EVIL[..], 403),
        ("DELETE", &EVIL[..], 403),
        ("GET", &[][..], 405),
    ] {
        let r = server.http_request(method, "/dashboard/delete/ops", headers, b"");
        assert_eq!(r.status, status, "{method}: {}", r.text());
        assert_eq!(server.get("/dashboard/load/ops").status, 200, "{method}");
    }
    let r = server.get("/dashboard/delete/ops");
    assert!(
        r.header("allow").is_some_and(|a| a.contains("POST")),
        "{:?}",
        r.headers
    );
    let r = server.get("/dashboard/save/ops?state=%7B%22x%22%3A1%7D");
    assert_eq!(r.status, 405);
    let r = server.http_request("DELETE", "/dashboard/delete/ops", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());

    // The curl-like delete works.
    let r = post(&server, "/tags/delSeries", &[], "path=cpu;a=1");
    assert_eq!((r.status, r.text().as_str()), (200, "true"));
    assert_eq!(tagged(&server, "name=cpu"), "[]");
    server.stop();
}

#[test]
fn write_token_guards_writes_not_reads() {
    let conf = tempfile::tempdir().unwrap();
    let file = conf.path().join("lonsdaleite.toml");
    std::fs::write(&file, "[http]\nwrite_token = \"s3cret\"\n").unwrap();
    let server = Server::start(&["--config", file.to_str().unwrap()]);

    let r = post(&server, "/tags/tagSeries", &[], "path=cpu;a=1");
    assert_refused(&r, 401, "http.write_token");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = post(
        &server,
        "/tags/tagSeries",
        &[("Authorization", "Bearer guess")],
        "path=cpu;a=1",
    );
    assert_refused(&r, 403, "http.write_token");
    let r = server.http_request("POST", "/events/", &[], br#"{"what": "x"}"#);
    assert_refused(&r, 401, "http.write_token");
    // Reading is never asked for the token.
    assert_eq!(tagged(&server, "name=cpu"), "[]");
    assert_eq!(events(&server), "[]");

    let r = post(
        &server,
        "/tags/tagSeries",
        &[("Authorization", "Bearer s3cret")],
        "path=cpu;a=1",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "\"cpu;a=1\""));
    let r = server.http_request(
        "POST",
        "/events/",
        &[("X-Lonsdaleite-Token", "s3cret")],
        br#"{"what": "x"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tagged(&server, "name=cpu"), "[\"cpu;a=1\"]");
    assert!(events(&server).contains("\"what\": \"x\""));
    // The right token does not make a cross-site request acceptable.
    let mut headers = EVIL.to_vec();
    headers.push(("Authorization", "Bearer s3cret"));
    let r = post(&server, "/tags/delSeries", &headers, "path=cpu;a=1");
    assert_refused(&r, 403, "cross-site request refused");
    assert_eq!(tagged(&server, "name=cpu"), "[\"cpu;a=1\"]");

    // The admin port shows that a token is set, not the token.
    let config = server.admin("config\n", "END", 1);
    assert!(config.contains("write_token = \"(hidden)\""), "{config}");
    assert!(!config.contains("s3cret"), "{config}");
    server.stop();
}
