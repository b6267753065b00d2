//! The web page's routes on the real binary: the page itself and graphite-web's dashboard
//! API (`/dashboard/save|load|find|delete`), stored in `<data-dir>/lonsdaleite.sqlite`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{percent_encode, Server};

/// One request with a form body; returns the status, the lower-cased headers and the body.
fn call(
    server: &Server,
    method: &str,
    path: &str,
    form: &str,
) -> (u16, Vec<(String, String)>, String) {
    let r = server.http_request(
        method,
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    let text = r.text();
    (r.status, r.headers, text)
}

#[test]
fn page_is_served() {
    let server = Server::start(&[]);
    let (status, head, body) = call(&server, "GET", "/", "");
    assert_eq!(status, 200);
    let kind = |head: &[(String, String)]| {
        head.iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(kind(&head).starts_with("text/html"), "{head:?}");
    assert!(body.contains("<script src=\"/webui/app.js\">"), "{body}");
    for (path, want) in [
        ("/webui/app.js", "text/javascript"),
        ("/webui/app.css", "text/css"),
    ] {
        let (status, head, _) = call(&server, "GET", path, "");
        assert_eq!(status, 200, "{path}");
        assert!(kind(&head).starts_with(want), "{path}: {head:?}");
    }
}

#[test]
fn dashboards_are_saved_listed_loaded_and_deleted() {
    let server = Server::start(&[]);
    let state = r#"{"version": 1, "from": "-6h", "graphs": [{"targets": ["servers.*.load"]}]}"#;
    let form = format!("state={}", percent_encode(state));

    for name in ["web%20hosts", "db", "Web%20Frontends"] {
        let (status, _, body) = call(&server, "POST", &format!("/dashboard/save/{name}"), &form);
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"success":true}"#),
            "{name}"
        );
    }
    // Saving again replaces.
    let (status, _, _) = call(
        &server,
        "POST",
        "/dashboard/save/db",
        "state=%7B%22x%22%3A1%7D",
    );
    assert_eq!(status, 200);

    let (_, _, body) = call(&server, "GET", "/dashboard/find", "");
    assert_eq!(
        body,
        r#"{"dashboards":[{"name":"Web Frontends"},{"name":"db"},{"name":"web hosts"}]}"#
    );
    let (_, _, body) = call(&server, "GET", "/dashboard/find?query=WEB+host", "");
    assert_eq!(body, r#"{"dashboards":[{"name":"web hosts"}]}"#);

    let (status, _, body) = call(&server, "GET", "/dashboard/load/web%20hosts", "");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["state"]["from"], "-6h");
    assert_eq!(v["state"]["graphs"][0]["targets"][0], "servers.*.load");
    let (_, _, body) = call(&server, "GET", "/dashboard/load/db", "");
    assert_eq!(body, r#"{"state":{"x":1}}"#);

    // The rows are in the server's SQLite file, table `dashboards`.
    let db = rusqlite::Connection::open(server.data_dir.path().join("lonsdaleite.sqlite")).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM dashboards", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    drop(db);

    let (status, _, body) = call(&server, "POST", "/dashboard/delete/db", "");
    assert_eq!((status, body.as_str()), (200, r#"{"success":true}"#));
    let (status, _, body) = call(&server, "DELETE", "/dashboard/delete/db", "");
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"Dashboard 'db' does not exist."}"#)
    );
    let (status, _, _) = call(&server, "GET", "/dashboard/load/db", "");
    assert_eq!(status, 404);
    let (_, _, body) = call(&server, "GET", "/dashboard/find", "");
    assert_eq!(
        body,
        r#"{"dashboards":[{"name":"Web Frontends"},{"name":"web hosts"}]}"#
    );
}

#[test]
fn bad_dashboard_requests_are_400_with_the_reason() {
    let server = Server::start(&[]);
    for (path, form, reason) in [
        ("/dashboard/save/x", "", "missing form field 'state'"),
        ("/dashboard/save/x", "state=%5B%5D", "not a JSON object"),
        (
            "/dashboard/save/x",
            "state=%7B%22a%22",
            "invalid dashboard state",
        ),
        (
            "/dashboard/save/a%2Fb",
            "state=%7B%7D",
            "invalid dashboard name",
        ),
        (
            "/dashboard/save/%09",
            "state=%7B%7D",
            "invalid dashboard name",
        ),
        ("/dashboard/load/%20", "", "invalid dashboard name"),
    ] {
        let method = if path.contains("/load/") {
            "GET"
        } else {
            "POST"
        };
        let (status, _, body) = call(&server, method, path, form);
        assert_eq!(status, 400, "{path} {form}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains(reason),
            "{path} {form}: {body}"
        );
    }
    // Nothing was stored.
    let (_, _, body) = call(&server, "GET", "/dashboard/find", "");
    assert_eq!(body, r#"{"dashboards":[]}"#);
}
