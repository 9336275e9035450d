//! Versions on the page against a real gateway process: a user finds a lost or spoiled file's
//! versions and gets the exact bytes back (restore, download), brings back a deleted file or a
//! whole deleted folder from the trash, puts a folder back as it was at a moment; the
//! administrator sees versions' space and decides on a ransomware guard trip. Every endpoint
//! refuses whoever may not use it (no session, a forged one, a stale or missing CSRF token,
//! another user, by id or by path), malformed and oversized input gets a JSON error, and a flood
//! of requests is answered, bounded, with nothing lost. The browser run (headless Chromium) is
//! `browser_restores_a_version_and_a_deleted_file`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microcloud_tests::page::{
    assert_refused_without_session_or_csrf, browser_tools, onboard, Client, ADMIN_PASSWORD,
};
use microcloud_tests::{content_for, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A moment (ns since the epoch) in RFC 3339, UTC, to the nanosecond, as the page's picker sends
/// it (the picker to the second; the tests need finer).
fn rfc3339(ns: i128) -> String {
    let secs = ns.div_euclid(1_000_000_000) as i64;
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// A moment between two changes: the clock is read with a pause on either side, so that the
/// gateway's own timestamps of the changes fall clearly before and after it.
async fn moment() -> String {
    tokio::time::sleep(Duration::from_millis(30)).await;
    let t = rfc3339(now_ns());
    tokio::time::sleep(Duration::from_millis(30)).await;
    t
}

/// Text-like content (not random, so the guard weighs its overwrite as an ordinary one).
fn text(name: &str, len: usize) -> Vec<u8> {
    format!("{name}: the quick brown fox jumps over the lazy dog.\n")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(len)
        .collect()
}

/// A gateway with an administrator (`owner`) and two users made on the page, each signed in.
struct Setup {
    gw: Gateway,
    admin: Client,
    alice: Client,
    bob: Client,
    http: reqwest::Client,
}

async fn setup(data: &Path) -> Setup {
    let gw = Gateway::start(data, &["--no-uplink"]);
    let mut admin = Client::new(&gw);
    onboard(&mut admin, data).await;
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        let a = admin
            .call(
                Method::POST,
                "/api/users",
                Some(json!({"name": name, "password": PASSWORD, "admin": false})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let mut c = Client::new(&gw);
        assert_eq!(c.sign_in(name, PASSWORD).await.status, 200);
        users.push(c);
    }
    let bob = users.pop().unwrap();
    let alice = users.pop().unwrap();
    Setup {
        gw,
        admin,
        alice,
        bob,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    /// A WebDAV request as `user` (Basic credentials, as a tablet's app sends them).
    async fn dav(&self, user: &str, method: &str, path: &str, body: Vec<u8>) -> StatusCode {
        self.dav_bytes(user, method, path, body).await.0
    }

    async fn dav_bytes(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let r = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{}", self.gw.dav(), path.trim_start_matches('/')),
            )
            .basic_auth(user, Some(PASSWORD))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status(), r.bytes().await.unwrap().to_vec())
    }

    async fn put(&self, user: &str, path: &str, body: &[u8]) {
        let s = self.dav(user, "PUT", path, body.to_vec()).await;
        assert!(s == 201 || s == 204, "PUT {path} as {user}: {s}");
    }

    /// The file's bytes over WebDAV, and its status.
    async fn get(&self, user: &str, path: &str) -> (StatusCode, Vec<u8>) {
        self.dav_bytes(user, "GET", path, vec![]).await
    }

    async fn assert_content(&self, user: &str, path: &str, want: &[u8]) {
        let (s, got) = self.get(user, path).await;
        assert_eq!(s, 200, "GET {path} as {user}");
        assert_eq!(
            blake3::hash(&got),
            blake3::hash(want),
            "{path}: {} bytes, {} wanted",
            got.len(),
            want.len()
        );
    }
}

/// The versions of `path` as `c` sees them.
async fn versions(c: &mut Client, path: &str) -> Value {
    let a = c
        .call(Method::GET, &format!("/api/versions?path={path}"), None)
        .await;
    assert_eq!(a.status, 200, "versions of {path}: {}", a.body);
    a.json()
}

/// A version's bytes downloaded through the page, with the answer's headers.
async fn download(c: &Client, id: i64) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = c
        .request(Method::GET, &format!("/api/versions/{id}/content"))
        .send()
        .await
        .unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.bytes().await.unwrap().to_vec())
}

fn hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

#[tokio::test]
async fn a_user_finds_the_versions_of_a_file_and_gets_the_exact_bytes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    // Three contents: the first two large enough for blob files, the last inline in the catalog.
    let v1 = content_for("report v1", 300_000);
    let v2 = content_for("report v2", 200_000);
    let v3 = text("report v3", 1_000);
    s.dav("alice", "MKCOL", "/work", vec![]).await;
    for v in [&v1, &v2, &v3] {
        s.put("alice", "/work/report.pdf", v).await;
    }

    let l = versions(&mut s.alice, "/work/report.pdf").await;
    assert_eq!(l["path"], "/work/report.pdf");
    assert_eq!(l["current"]["blake3"], hex(&v3), "{l}");
    assert_eq!(l["current"]["size"], v3.len());
    let vs = l["versions"].as_array().unwrap();
    assert_eq!(vs.len(), 2, "{l}");
    assert_eq!(
        (
            vs[0]["blake3"].clone(),
            vs[0]["size"].clone(),
            vs[0]["kind"].clone()
        ),
        (json!(hex(&v2)), json!(v2.len()), json!("overwrite")),
        "newest first: {l}"
    );
    assert_eq!(vs[1]["blake3"], hex(&v1));
    assert!(vs[0]["until"].as_i64().unwrap() >= vs[1]["until"].as_i64().unwrap());
    let (id1, id2) = (vs[1]["id"].as_i64().unwrap(), vs[0]["id"].as_i64().unwrap());

    // Download: the exact bytes, as an attachment named like the file, never run as the page.
    for (id, want) in [(id1, &v1), (id2, &v2)] {
        let (st, h, got) = download(&s.alice, id).await;
        assert_eq!(st, 200);
        assert_eq!(blake3::hash(&got), blake3::hash(want));
        let cd = h["content-disposition"].to_str().unwrap();
        assert!(
            cd.starts_with("attachment") && cd.contains("report.pdf"),
            "{cd}"
        );
        assert_eq!(h["x-microcloud-blake3"].to_str().unwrap(), hex(want));
        assert!(h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox"));
        assert_eq!(h["content-type"], "application/octet-stream");
    }

    // Restore the first: exactly its bytes are back, and what was there is kept in turn.
    let a = s
        .alice
        .call(Method::POST, &format!("/api/versions/{id1}/restore"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = a.json();
    assert_eq!(r["report"]["restored"], 1, "{r}");
    assert_eq!(r["blake3"], hex(&v1));
    s.assert_content("alice", "/work/report.pdf", &v1).await;
    let l = versions(&mut s.alice, "/work/report.pdf").await;
    assert_eq!(l["current"]["blake3"], hex(&v1));
    let vs = l["versions"].as_array().unwrap();
    assert_eq!(vs.len(), 3, "{l}");
    assert_eq!(
        (vs[0]["blake3"].clone(), vs[0]["kind"].clone()),
        (json!(hex(&v3)), json!("rollback")),
        "the replaced content is a version: {l}"
    );
    // And the inline one (kept in the catalog) downloads and restores as exactly.
    let id3 = vs[0]["id"].as_i64().unwrap();
    let (st, _, got) = download(&s.alice, id3).await;
    assert_eq!((st, got), (StatusCode::OK, v3.clone()));
    let a = s
        .alice
        .call(Method::POST, &format!("/api/versions/{id3}/restore"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    s.assert_content("alice", "/work/report.pdf", &v3).await;
    // Restoring what is there already changes nothing.
    let a = s
        .alice
        .call(Method::POST, &format!("/api/versions/{id3}/restore"), None)
        .await;
    assert_eq!(a.json()["report"]["unchanged"], 1, "{}", a.body);

    // A file with no versions yet, a folder, a path that never held anything.
    s.put("alice", "/fresh.txt", b"fresh").await;
    let l = versions(&mut s.alice, "/fresh.txt").await;
    assert_eq!(
        (l["versions"].clone(), l["current"]["size"].clone()),
        (json!([]), json!(5))
    );
    let a = s
        .alice
        .call(Method::GET, "/api/versions?path=/work", None)
        .await;
    assert_eq!(
        (a.status, a.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("path"))
    );
    for p in ["/nothing.txt", "/no/such/folder/file.txt"] {
        let a = s
            .alice
            .call(Method::GET, &format!("/api/versions?path={p}"), None)
            .await;
        assert_eq!(a.status, 404, "{p}: {}", a.body);
        assert!(a.json()["error"].is_string());
    }
}

#[tokio::test]
async fn another_user_can_neither_list_nor_download_nor_restore_nor_roll_back_anothers_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    let secret_old = content_for("alice's old diary", 100_000);
    let secret_new = content_for("alice's new diary", 100_000);
    s.put("alice", "/diary.txt", &secret_old).await;
    s.put("alice", "/diary.txt", &secret_new).await;
    s.put("alice", "/gone.txt", b"deleted by alice").await;
    assert_eq!(s.dav("alice", "DELETE", "/gone.txt", vec![]).await, 204);
    let l = versions(&mut s.alice, "/diary.txt").await;
    let id = l["versions"][0]["id"].as_i64().unwrap();
    let gone = s.alice.call(Method::GET, "/api/trash", None).await.json()["entries"][0]["id"]
        .as_i64()
        .unwrap();

    for vid in [id, gone] {
        // By id: not found (a 403 would tell bob the id is someone's).
        let (st, _, body) = download(&s.bob, vid).await;
        assert_eq!(st, 404, "bob downloads alice's version #{vid}");
        assert!(!body.windows(32).any(|w| w == &secret_old[..32]));
        let a = s
            .bob
            .call(Method::POST, &format!("/api/versions/{vid}/restore"), None)
            .await;
        assert_eq!(a.status, 404, "bob restores alice's version: {}", a.body);
        assert!(a.json()["error"].as_str().unwrap().contains("no version"));
        // Nor can the administrator reach into alice's versions through the page.
        let (st, _, _) = download(&s.admin, vid).await;
        assert_eq!(st, 404, "the admin downloads alice's version by id");
    }
    // By path: bob's own space, where nothing of alice is.
    for p in ["/diary.txt", "/../alice/diary.txt", "/alice/diary.txt"] {
        let a = s
            .bob
            .call(Method::GET, &format!("/api/versions?path={p}"), None)
            .await;
        assert!(
            a.status == 404 || a.status == 400,
            "{p}: {} {}",
            a.status,
            a.body
        );
        assert!(!a.body.contains(&hex(&secret_old)));
    }
    let a = s.bob.call(Method::GET, "/api/trash", None).await;
    assert_eq!(a.json()["entries"], json!([]), "bob's trash: {}", a.body);
    let a = s
        .bob
        .call(
            Method::POST,
            "/api/trash/restore",
            Some(json!({"path": "/gone.txt"})),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = s
        .bob
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/diary.txt", "at": rfc3339(now_ns() - 1_000_000_000)})),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = s
        .bob
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/", "at": rfc3339(now_ns() - 60_000_000_000)})),
        )
        .await;
    assert_eq!(a.status, 200, "bob's whole (empty) space: {}", a.body);
    // Nor the guard, which is the administrator's.
    for (m, p, b) in [
        (Method::GET, "/api/guard", None),
        (
            Method::POST,
            "/api/guard/1",
            Some(json!({"action": "rollback"})),
        ),
    ] {
        let a = s.bob.call(m, p, b).await;
        assert_eq!(a.status, 403, "{p}: {}", a.body);
    }

    // Alice's files are as she left them, her trash still holds her file.
    s.assert_content("alice", "/diary.txt", &secret_new).await;
    assert_eq!(s.get("alice", "/gone.txt").await.0, 404);
    let t = s.alice.call(Method::GET, "/api/trash", None).await.json();
    assert_eq!(t["entries"].as_array().unwrap().len(), 1, "{t}");
    let (st, _, got) = download(&s.alice, id).await;
    assert_eq!(
        (st, blake3::hash(&got)),
        (StatusCode::OK, blake3::hash(&secret_old))
    );
}

#[tokio::test]
async fn every_versions_endpoint_needs_a_session_and_changes_a_fresh_csrf_token() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    s.put("alice", "/a.txt", b"one").await;
    s.put("alice", "/a.txt", b"two").await;
    let id = versions(&mut s.alice, "/a.txt").await["versions"][0]["id"]
        .as_i64()
        .unwrap();
    let content = format!("/api/versions/{id}/content");
    let restore = format!("/api/versions/{id}/restore");
    let at = rfc3339(now_ns() - 3_600_000_000_000);
    let user_endpoints: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/versions?path=/a.txt", None),
        (Method::GET, &content, None),
        (Method::POST, &restore, None),
        (Method::GET, "/api/trash", None),
        (
            Method::POST,
            "/api/trash/restore",
            Some(json!({"path": "/a.txt"})),
        ),
        (
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/", "at": at})),
        ),
    ];
    assert_refused_without_session_or_csrf(&s.gw, &s.alice, &user_endpoints).await;
    let admin_endpoints: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/status", None),
        (Method::GET, "/api/guard", None),
        (
            Method::POST,
            "/api/guard/1",
            Some(json!({"action": "keep"})),
        ),
    ];
    assert_refused_without_session_or_csrf(&s.gw, &s.admin, &admin_endpoints).await;
    // None of it changed anything.
    s.assert_content("alice", "/a.txt", b"two").await;
    assert_eq!(
        versions(&mut s.alice, "/a.txt").await["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn malformed_and_oversized_input_gets_a_clear_json_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    s.put("alice", "/a.txt", b"one").await;
    s.put("alice", "/a.txt", b"two").await;
    let a = &mut s.alice;
    // Bad moments: not RFC 3339, no offset, in the future, before the retention.
    let future = rfc3339(now_ns() + 3_600_000_000_000);
    for at in [
        "yesterday",
        "2025-03-01",
        "2025-03-01T14:30:00",
        "2025-02-30T14:30:00Z",
        "",
        &"1".repeat(10_000),
        &future,
        "2001-01-01T00:00:00Z",
    ] {
        let r = a
            .call(
                Method::POST,
                "/api/rollback",
                Some(json!({"path": "/a.txt", "at": at})),
            )
            .await;
        assert_eq!(r.status, 400, "at {:.40}: {}", at, r.body);
        assert_eq!(r.json()["field"], "at", "{}", r.body);
    }
    let r = a
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/a.txt", "at": "2001-01-01T00:00:00Z"})),
        )
        .await;
    assert!(
        r.json()["error"].as_str().unwrap().contains("retention"),
        "{}",
        r.body
    );
    // Path traversal, in the query and in bodies (and as an attacker sends it, undecoded).
    for p in [
        "/../../etc/passwd",
        "/a/../../b",
        "..",
        "/./a.txt",
        "a\u{0}b",
    ] {
        let q = percent(p);
        let r = a
            .call(Method::GET, &format!("/api/versions?path={q}"), None)
            .await;
        assert_eq!(r.status, 400, "versions {p:?}: {}", r.body);
        assert_eq!(r.json()["field"], "path");
        let r = a
            .call(Method::GET, &format!("/api/trash?path={q}"), None)
            .await;
        assert_eq!(r.status, 400, "trash {p:?}: {}", r.body);
        for (url, body) in [
            ("/api/trash/restore", json!({"path": p})),
            (
                "/api/rollback",
                json!({"path": p, "at": rfc3339(now_ns() - 1_000_000_000)}),
            ),
        ] {
            let r = a.call(Method::POST, url, Some(body)).await;
            assert_eq!(r.status, 400, "{url} {p:?}: {}", r.body);
            assert_eq!(r.json()["field"], "path", "{}", r.body);
        }
    }
    let cookie = a.cookie.clone().unwrap();
    let r = microcloud_tests::raw(
        s.gw.addr,
        &format!(
            "GET /api/versions?path=/../../../etc/passwd HTTP/1.1\nHost: x\nCookie: mc_session={cookie}"
        ),
        b"",
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // Ids that are no ids.
    for id in ["abc", "0", "-1", "1e3", "99999999999999999999", "%2e%2e"] {
        for (m, p) in [
            (Method::GET, format!("/api/versions/{id}/content")),
            (Method::POST, format!("/api/versions/{id}/restore")),
        ] {
            let r = a.call(m, &p, None).await;
            assert_eq!(r.status, 404, "{p}: {}", r.body);
            assert!(r.json()["error"].is_string(), "{p}");
        }
    }
    // Bodies: missing, not JSON, wrong shape, huge.
    for (url, body) in [
        ("/api/rollback", None),
        ("/api/rollback", Some(json!({"path": "/a.txt"}))),
        ("/api/rollback", Some(json!({"path": 5, "at": "x"}))),
        ("/api/trash/restore", Some(json!([1, 2]))),
    ] {
        let r = a.call(Method::POST, url, body).await;
        assert_eq!(r.status, 400, "{url}: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("malformed"));
    }
    let r = a
        .request(Method::POST, "/api/rollback")
        .header("content-type", "application/json")
        .body("{\"path\": [[[[[[[[[[")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for url in ["/api/rollback", "/api/trash/restore"] {
        let r = a
            .call(
                Method::POST,
                url,
                Some(json!({"path": "x".repeat(300_000), "at": "2025-01-01T00:00:00Z"})),
            )
            .await;
        assert_eq!(r.status, 413, "{url}: {:.200}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("KiB"));
    }
    // A long path within the body limit: refused by the naming rule, with the reason.
    let r = a
        .call(
            Method::POST,
            "/api/trash/restore",
            Some(json!({"path": format!("/{}", "x/".repeat(1000))})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("path"))
    );
    // The guard's decisions: only two words, only real trips.
    let r = s
        .admin
        .call(
            Method::POST,
            "/api/guard/1",
            Some(json!({"action": "nuke"})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("action"))
    );
    // Trips that do not exist.
    for url in ["/api/guard/424242", "/api/guard/x"] {
        let r = s
            .admin
            .call(Method::POST, url, Some(json!({"action": "keep"})))
            .await;
        assert_eq!(r.status, 404, "{url}: {}", r.body);
    }
    // Nothing in the trash here; nothing was ever here.
    for (url, body) in [
        ("/api/trash/restore", json!({"path": "/a.txt"})),
        (
            "/api/rollback",
            json!({"path": "/never", "at": rfc3339(now_ns() - 1_000_000_000)}),
        ),
    ] {
        let r = s.alice.call(Method::POST, url, Some(body)).await;
        assert_eq!(r.status, 404, "{url}: {}", r.body);
    }
    // The box is still fine, and still has the file as it was.
    s.assert_content("alice", "/a.txt", b"two").await;
}

/// Percent-encodes everything but unreserved characters and '/', for query values.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_trash_brings_back_a_file_and_a_whole_folder_and_a_folder_goes_back_to_a_moment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    // A folder with files at two levels, large and small, then deleted in one go.
    let files: Vec<(String, Vec<u8>)> = [
        ("/photos/a.jpg", 150_000),
        ("/photos/b.jpg", 70_000),
        ("/photos/notes.txt", 300),
        ("/photos/2024/c.jpg", 90_000),
        ("/photos/2024/d é.jpg", 10),
    ]
    .iter()
    .map(|(p, n)| (p.to_string(), content_for(p, *n)))
    .collect();
    for d in ["/photos", "/photos/2024"] {
        assert_eq!(s.dav("alice", "MKCOL", d, vec![]).await, 201);
    }
    for (p, b) in &files {
        s.put("alice", p, b).await;
    }
    s.put("alice", "/keep.txt", b"kept").await;
    assert_eq!(s.dav("alice", "DELETE", "/photos", vec![]).await, 204);
    assert_eq!(s.get("alice", "/photos/a.jpg").await.0, 404);

    let t = s.alice.call(Method::GET, "/api/trash", None).await.json();
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(entries.len(), files.len(), "{t}");
    for (p, b) in &files {
        let e = entries
            .iter()
            .find(|e| e["path"] == p.as_str())
            .unwrap_or_else(|| panic!("{p} is not in the trash: {t}"));
        assert_eq!(e["blake3"], hex(b));
        assert_eq!(e["kind"], "delete");
    }
    let sub = s
        .alice
        .call(Method::GET, "/api/trash?path=/photos/2024", None)
        .await
        .json();
    assert_eq!(sub["entries"].as_array().unwrap().len(), 2, "{sub}");
    // A deleted file's bytes can be had from the trash before bringing it back.
    let id = entries[0]["id"].as_i64().unwrap();
    let want = files
        .iter()
        .find(|(p, _)| entries[0]["path"] == p.as_str())
        .unwrap();
    let (st, _, got) = download(&s.alice, id).await;
    assert_eq!(
        (st, blake3::hash(&got)),
        (StatusCode::OK, blake3::hash(&want.1))
    );

    // The whole folder back in one step: every file with its hash.
    let a = s
        .alice
        .call(
            Method::POST,
            "/api/trash/restore",
            Some(json!({"path": "/photos"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["report"]["restored"], files.len());
    for (p, b) in &files {
        s.assert_content("alice", p, b).await;
    }
    assert_eq!(
        s.alice.call(Method::GET, "/api/trash", None).await.json()["entries"],
        json!([])
    );

    // One file, deleted and brought back.
    assert_eq!(s.dav("alice", "DELETE", "/keep.txt", vec![]).await, 204);
    let a = s
        .alice
        .call(
            Method::POST,
            "/api/trash/restore",
            Some(json!({"path": "/keep.txt"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    s.assert_content("alice", "/keep.txt", b"kept").await;

    // A folder as it was at a moment: changed files get their content of then, deleted ones come
    // back, new ones go; files elsewhere are untouched.
    assert_eq!(s.dav("alice", "MKCOL", "/work", vec![]).await, 201);
    let a1 = content_for("a1", 80_000);
    let b1 = text("b1", 500);
    s.put("alice", "/work/a.txt", &a1).await;
    s.put("alice", "/work/b.txt", &b1).await;
    let then = moment().await;
    let a2 = content_for("a2", 81_000);
    s.put("alice", "/work/a.txt", &a2).await;
    assert_eq!(s.dav("alice", "DELETE", "/work/b.txt", vec![]).await, 204);
    s.put("alice", "/work/c.txt", b"made after").await;
    s.put("alice", "/keep.txt", b"changed after, elsewhere")
        .await;
    let after = moment().await;
    let a = s
        .alice
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/work", "at": then})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r = a.json()["report"].clone();
    assert_eq!(
        (r["restored"].clone(), r["removed"].clone()),
        (json!(2), json!(1)),
        "{r}"
    );
    s.assert_content("alice", "/work/a.txt", &a1).await;
    s.assert_content("alice", "/work/b.txt", &b1).await;
    assert_eq!(s.get("alice", "/work/c.txt").await.0, 404);
    s.assert_content("alice", "/keep.txt", b"changed after, elsewhere")
        .await;
    // And it can be undone: the folder as it was just before the rollback.
    let a = s
        .alice
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/work", "at": after})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    s.assert_content("alice", "/work/a.txt", &a2).await;
    s.assert_content("alice", "/work/c.txt", b"made after")
        .await;
    assert_eq!(s.get("alice", "/work/b.txt").await.0, 404);
    // RFC 3339 with another offset names the same moment.
    let a = s
        .alice
        .call(
            Method::POST,
            "/api/rollback",
            Some(json!({"path": "/work/a.txt", "at": then.replace('Z', "+00:00")})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    s.assert_content("alice", "/work/a.txt", &a1).await;

    // The dashboard counts what versions keep.
    let st = s.admin.call(Method::GET, "/api/status", None).await.json();
    assert!(st["versions"]["versions"].as_u64().unwrap() > 0, "{st}");
    assert!(st["versions"]["bytes"].as_u64().is_some(), "{st}");
    assert_eq!(st["versions"]["keep_days"], 30);
    assert_eq!(st["guard"], json!([]));
}

/// Reads in the flood (with 40 restores beside them).
const FLOOD_READS: usize = 150;

/// Another client with `c`'s session (its own connections).
fn signed_in_copy(gw: &Gateway, c: &Client) -> Client {
    let mut f = Client::new(gw);
    f.cookie = c.cookie.clone();
    f.csrf = c.csrf.clone();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_requests_is_answered_bounded_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    // A file rewritten 520 times: its versions' answer stays bounded.
    let mut contents = Vec::new();
    for i in 0..520 {
        let b = format!("version {i:04}").into_bytes();
        s.put("alice", "/busy.txt", &b).await;
        contents.push(b);
    }
    let l = versions(&mut s.alice, "/busy.txt").await;
    assert_eq!(l["versions"].as_array().unwrap().len(), 500, "bounded");
    assert_eq!(
        (l["total"].clone(), l["truncated"].clone()),
        (json!(519), json!(true))
    );
    let body_len = serde_json::to_string(&l).unwrap().len();
    assert!(body_len < 400_000, "an answer of {body_len} bytes");

    // Many readers and restorers at once: every request answered, each restore exact.
    let ids: Vec<i64> = l["versions"].as_array().unwrap()[..40]
        .iter()
        .map(|v| v["id"].as_i64().unwrap())
        .collect();
    let want: std::collections::HashMap<i64, String> = l["versions"].as_array().unwrap()[..40]
        .iter()
        .map(|v| {
            (
                v["id"].as_i64().unwrap(),
                v["blake3"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    // Each flood has a client of its own, dropped after it, so that its connections close: the
    // gateway holds at most 256 per address, and 190 at once stay under that.
    let flood = signed_in_copy(&s.gw, &s.alice);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..FLOOD_READS {
        let req = match i % 3 {
            0 => flood.request(Method::GET, "/api/versions?path=/busy.txt"),
            1 => flood.request(
                Method::GET,
                &format!("/api/versions/{}/content", ids[i % ids.len()]),
            ),
            _ => flood.request(Method::GET, "/api/trash"),
        };
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let st = r.status();
            (i, st, r.bytes().await.unwrap().to_vec())
        }));
    }
    for &id in &ids {
        let req = flood.request(Method::POST, &format!("/api/versions/{id}/restore"));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let st = r.status();
            (
                usize::MAX - id as usize,
                st,
                r.bytes().await.unwrap().to_vec(),
            )
        }));
    }
    let mut restored = 0;
    for t in tasks {
        let (i, st, body) = t.await.unwrap();
        assert_eq!(
            st,
            200,
            "request {i}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        if i < FLOOD_READS && i % 3 == 1 {
            let id = ids[i % ids.len()];
            assert_eq!(
                blake3::hash(&body).to_hex().to_string(),
                want[&id],
                "version {id}"
            );
        }
        if i >= FLOOD_READS {
            restored += 1;
        }
    }
    assert_eq!(restored, ids.len());
    println!(
        "{} requests answered in {:?}",
        FLOOD_READS + ids.len(),
        started.elapsed()
    );
    // Nothing lost: the file holds one of the restored contents, and every content it ever had
    // is still the current content or a version.
    let l = versions(&mut s.alice, "/busy.txt").await;
    let cur = l["current"]["blake3"].as_str().unwrap().to_owned();
    assert!(
        want.values().any(|h| *h == cur),
        "the file holds a restored version"
    );
    let total = l["total"].as_u64().unwrap();
    assert_eq!(
        total,
        519 + ids.len() as u64,
        "every restore kept what it replaced"
    );
    drop(flood);
    // A flood of bad requests too: refused, and the box still answers the honest one.
    let flood = signed_in_copy(&s.gw, &s.alice);
    let mut tasks = Vec::new();
    for i in 0..150 {
        let req = flood
            .request(Method::POST, "/api/rollback")
            .header("content-type", "application/json")
            .body(if i % 2 == 0 {
                json!({"path": "/../x", "at": "now"}).to_string()
            } else {
                "x".repeat(100_000)
            });
        tasks.push(tokio::spawn(
            async move { req.send().await.map(|r| r.status()) },
        ));
    }
    for t in tasks {
        let st = t.await.unwrap().unwrap();
        assert!(st == 400 || st == 413, "{st}");
    }
    let (st, got) = s.get("alice", "/busy.txt").await;
    assert_eq!((st, hex(&got)), (StatusCode::OK, cur));
}

#[tokio::test]
async fn the_dashboard_warns_of_a_guard_trip_and_the_admin_rolls_the_user_back_in_one_step() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path()).await;
    let names: Vec<String> = (0..30)
        .map(|i| format!("/docs/letter {i:02}.txt"))
        .collect();
    assert_eq!(s.dav("alice", "MKCOL", "/docs", vec![]).await, 201);
    for n in &names {
        s.put("alice", n, &text(n, 4000)).await;
    }
    // The burst starts in a second of its own (the guard rolls back to before that second).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // "Encrypted": every file overwritten with random bytes.
    for n in &names {
        s.put("alice", n, &content_for(n, 4000)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let trip = loop {
        let st = s.admin.call(Method::GET, "/api/status", None).await.json();
        if let Some(t) = st["guard"].as_array().and_then(|g| g.first()) {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "the guard did not trip: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(trip["user"], "alice", "{trip}");
    assert!(trip["changes"].as_u64().unwrap() >= 20, "{trip}");
    assert_eq!(trip["window_s"], 600);
    assert!(trip["since_rfc3339"].is_string());
    let id = trip["id"].as_i64().unwrap();
    let st = s.admin.call(Method::GET, "/api/status", None).await.json();
    assert!(
        st["versions"]["pinned"].as_u64().unwrap() >= 30,
        "pinned: {st}"
    );
    let g = s.admin.call(Method::GET, "/api/guard", None).await.json();
    assert_eq!(g["trips"][0]["id"], id);

    // Alice (not an administrator) cannot decide; a stale token cannot either.
    let a = s
        .alice
        .call(
            Method::POST,
            &format!("/api/guard/{id}"),
            Some(json!({"action": "keep"})),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let mut stale = Client::new(&s.gw);
    stale.cookie = s.admin.cookie.clone();
    stale.csrf = Some("stale".into());
    let a = stale
        .call(
            Method::POST,
            &format!("/api/guard/{id}"),
            Some(json!({"action": "rollback"})),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);

    // Roll alice back to before the burst: every file has its text again, in one step.
    let a = s
        .admin
        .call(
            Method::POST,
            &format!("/api/guard/{id}"),
            Some(json!({"action": "rollback"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["report"]["restored"], names.len(), "{}", a.body);
    for n in &names {
        s.assert_content("alice", n, &text(n, 4000)).await;
    }
    // Decided once only; the warning is gone.
    let a = s
        .admin
        .call(
            Method::POST,
            &format!("/api/guard/{id}"),
            Some(json!({"action": "keep"})),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let st = s.admin.call(Method::GET, "/api/status", None).await.json();
    assert_eq!(st["guard"], json!([]), "{st}");
    // The rollback itself is undoable: the "encrypted" contents are versions now.
    let l = versions(&mut s.alice, &percent(&names[0])).await;
    assert!(
        l["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["blake3"] == hex(&content_for(&names[0], 4000))),
        "{l}"
    );
}

/// The browser's part, given to node on its standard input as an ES module (run in tests/web,
/// where playwright-core is installed). Environment: MC_URL, MC_USER, MC_PASSWORD, CHROMIUM,
/// MC_SCREENSHOTS, MC_ADMIN, MC_ADMIN_PASSWORD. It signs in, opens the Versions drawer of
/// `report.txt` (overwritten twice beforehand), restores the oldest version, then restores
/// `deleted.txt` from the Trash; then the administrator's dashboard warns that bob's files were
/// all changed, and "Roll bob back" puts them back. The test checks the bytes over WebDAV.
const BROWSER_RUN: &str = r#"
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
const env = process.env;
const BASE = env.MC_URL.replace(/\/+$/, '');
const problems = [];
const SIZES = { tablet: { width: 1024, height: 768 }, phone: { width: 390, height: 844 } };
async function shot(page, name) {
  const junk = await page.evaluate(() => { const t = document.body.innerText; const m = t.match(/\b(null|undefined|NaN|\[object Object\])\b/); return m ? t.slice(Math.max(0, m.index - 60), m.index + 20) : null; });
  if (junk) throw new Error(`the ${name} screen shows ${JSON.stringify(junk)}`);
  if (!env.MC_SCREENSHOTS) return;
  fs.mkdirSync(env.MC_SCREENSHOTS, { recursive: true });
  const before = page.viewportSize();
  for (const [size, vp] of Object.entries(SIZES)) {
    await page.setViewportSize(vp);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (wide > 1) throw new Error(`the ${name} screen is ${wide} px wider than a ${size}`);
    await page.screenshot({ path: path.join(env.MC_SCREENSHOTS, `${size}-${name}.png`), fullPage: true, animations: 'disabled' });
  }
  await page.setViewportSize(before);
}
const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: ['--no-sandbox'] });
let failed = false;
try {
  const ctx = await browser.newContext({ viewport: SIZES.tablet });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => problems.push(`JavaScript error: ${String(e.message || e).split('\n')[0]}`));
  page.on('dialog', async (d) => { problems.push(`a ${d.type()} dialog`); await d.dismiss().catch(() => {}); });
  await page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
  await page.getByTestId('input-signin-name').fill(env.MC_USER);
  await page.getByTestId('input-signin-password').fill(env.MC_PASSWORD);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('page-files').waitFor();
  console.log('signed in, files page shows');

  // The Versions drawer of report.txt: the current content and two versions, newest first.
  await page.getByTestId('versions-report.txt').click();
  const drawer = page.getByTestId('versions-drawer');
  await drawer.waitFor();
  await drawer.getByTestId('versions-current-hash').waitFor();
  const rows = drawer.locator('[data-testid^="version-row-"]');
  await rows.nth(1).waitFor();
  if (await rows.count() !== 2) throw new Error(`${await rows.count()} versions shown, 2 expected`);
  // A device name that is markup shows as text.
  const dev = await drawer.locator('[data-testid^="version-device-"]').first().innerText();
  if (dev !== env.MC_DEVICE_TEXT) throw new Error(`device shows as "${dev}"`);
  if (await drawer.locator('img').count()) throw new Error('markup from the box became an element');
  await shot(page, 'versions-drawer');
  const oldest = rows.nth(1);
  const id = (await oldest.getAttribute('data-testid')).replace('version-row-', '');
  const href = await drawer.getByTestId(`version-download-${id}`).getAttribute('href');
  const dl = await page.evaluate(async (u) => { const r = await fetch(u); const b = new Uint8Array(await r.arrayBuffer()); return [r.status, r.headers.get('content-disposition'), b.length]; }, href);
  if (dl[0] !== 200 || !String(dl[1]).startsWith('attachment') || dl[2] !== Number(env.MC_OLDEST_LEN)) throw new Error(`download answered ${JSON.stringify(dl)}`);
  await drawer.getByTestId(`version-restore-${id}`).click();
  await page.waitForFunction(() => (document.querySelector('[data-testid="versions-msg"]')?.textContent || '').startsWith('Restored'));
  // The restore kept what was there: three versions now.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="version-row-"]').length === 3);
  console.log(`restored version ${id}`);
  await drawer.getByTestId('versions-close').click();
  await drawer.waitFor({ state: 'detached' });

  // "Restore this folder as it was at…": the picker and its confirmation (cancelled here).
  await page.getByTestId('rollback-open').click();
  await page.getByTestId('rollback-at').waitFor();
  await page.getByTestId('rollback-submit').click();
  await page.getByTestId('rollback-question').waitFor();
  await shot(page, 'rollback-confirm');
  await page.getByTestId('rollback-no').click();

  // The Trash: deleted.txt is there, grouped under Home; Restore brings it back.
  await page.getByTestId('open-trash').click();
  await page.getByTestId('page-trash').waitFor();
  await page.getByTestId('trash-group-/').waitFor();
  await page.getByTestId('trash-row-/deleted.txt').waitFor();
  await shot(page, 'trash');
  await page.getByTestId('trash-restore-/deleted.txt').click();
  await page.waitForFunction(() => (document.querySelector('[data-testid="trash-msg"]')?.textContent || '').startsWith('Restored'));
  await page.getByTestId('trash-empty').waitFor();
  console.log('restored deleted.txt from the trash');
  await page.getByTestId('trash-back').click();
  await page.getByTestId('file-row-deleted.txt').waitFor();

  // The administrator's dashboard: versions' space, and the guard's warning about bob, whose
  // files were all overwritten with random bytes; one action rolls him back.
  const actx = await browser.newContext({ viewport: SIZES.tablet });
  const admin = await actx.newPage();
  admin.setDefaultTimeout(20000);
  admin.on('pageerror', (e) => problems.push(`admin: JavaScript error: ${String(e.message || e).split('\n')[0]}`));
  await admin.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
  await admin.getByTestId('input-signin-name').fill(env.MC_ADMIN);
  await admin.getByTestId('input-signin-password').fill(env.MC_ADMIN_PASSWORD);
  await admin.getByTestId('signin-submit').click();
  await admin.getByTestId('versions-count').waitFor();
  const banner = admin.locator('[data-testid^="guard-trip-"]').first();
  await banner.waitFor();
  const tid = (await banner.getAttribute('data-testid')).replace('guard-trip-', '');
  const said = await admin.getByTestId(`guard-text-${tid}`).innerText();
  if (!/^bob changed \d+ files in 10 minutes since /.test(said)) throw new Error(`the warning says "${said}"`);
  const action = await admin.getByTestId(`guard-rollback-${tid}`).innerText();
  if (!action.startsWith('Roll bob back to before ')) throw new Error(`the action says "${action}"`);
  await shot(admin, 'guard-warning');
  await admin.getByTestId(`guard-rollback-${tid}`).click();
  // The confirmation survives the dashboard's refreshes.
  await admin.waitForTimeout(1500);
  await admin.getByTestId(`guard-rollback-yes-${tid}`).click();
  await admin.waitForFunction(() => (document.querySelector('[data-testid="guard-result"]')?.textContent || '').includes('back as they were before'));
  await banner.waitFor({ state: 'detached' });
  console.log(`rolled bob back (trip ${tid})`);
} catch (e) {
  failed = true;
  console.error(`FAILED: ${e.message}`);
} finally {
  await browser.close();
}
for (const p of problems) console.error(`problem: ${p}`);
process.exit(failed || problems.length ? 1 : 0);
"#;

/// The Versions drawer and the Trash in a real Chromium: a file overwritten twice (over
/// WebDAV, from a device whose name is markup) has its oldest version restored from the drawer,
/// a deleted file is restored from the Trash, the dashboard's guard warning rolls another user
/// back, and WebDAV then serves exactly those bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_restores_a_version_and_a_deleted_file() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let (web, chromium) = browser_tools(&repo);
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path()).await;
    // A device of alice's whose name is markup: the drawer must show it as text.
    let device = "<img src=x onerror=alert(1)>";
    let mut alice = Client::new(&s.gw);
    alice.sign_in("alice", PASSWORD).await;
    let a = alice
        .call(Method::POST, "/api/devices", Some(json!({"name": device})))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let device_password = a.json()["password"].as_str().unwrap().to_owned();
    let put = |body: Vec<u8>, path: &'static str| {
        s.http
            .put(format!("{}{path}", s.gw.dav()))
            .basic_auth("alice", Some(&device_password))
            .body(body)
            .send()
    };
    let v1 = content_for("report one", 120_000);
    let v2 = content_for("report two", 130_000);
    let v3 = content_for("report three", 140_000);
    for v in [&v1, &v2, &v3] {
        assert!(put(v.clone(), "report.txt")
            .await
            .unwrap()
            .status()
            .is_success());
    }
    // Bob's files, all "encrypted" in a burst: the guard trips.
    let bobs: Vec<String> = (0..25).map(|i| format!("/letter {i:02}.txt")).collect();
    for n in &bobs {
        s.put("bob", n, &text(n, 3000)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for n in &bobs {
        s.put("bob", n, &content_for(n, 3000)).await;
    }
    let gone = content_for("deleted", 5_000);
    assert!(put(gone.clone(), "deleted.txt")
        .await
        .unwrap()
        .status()
        .is_success());
    assert_eq!(s.dav("alice", "DELETE", "/deleted.txt", vec![]).await, 204);

    let shots = repo.join("target/web-screenshots");
    let mut child = tokio::process::Command::new("node")
        .args(["--input-type=module", "-"])
        .current_dir(&web)
        .env("CHROMIUM", &chromium)
        .env("MC_URL", format!("http://{}", s.gw.addr))
        .env("MC_USER", "alice")
        .env("MC_PASSWORD", PASSWORD)
        .env("MC_DEVICE_TEXT", device)
        .env("MC_OLDEST_LEN", v1.len().to_string())
        .env("MC_ADMIN", "owner")
        .env("MC_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MC_SCREENSHOTS", &shots)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(BROWSER_RUN.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(240), child.wait_with_output())
        .await
        .expect("the browser run ended within 240 s")
        .unwrap();
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser run failed (see above)");

    // What the page did is true on WebDAV, byte for byte.
    s.assert_content("alice", "/report.txt", &v1).await;
    s.assert_content("alice", "/deleted.txt", &gone).await;
    for n in &bobs {
        s.assert_content("bob", n, &text(n, 3000)).await;
    }
    for name in [
        "versions-drawer",
        "rollback-confirm",
        "trash",
        "guard-warning",
    ] {
        for size in ["tablet", "phone"] {
            let f = shots.join(format!("{size}-{name}.png"));
            assert!(
                std::fs::metadata(&f).is_ok_and(|m| m.len() > 1000),
                "{} missing",
                f.display()
            );
        }
    }
}
