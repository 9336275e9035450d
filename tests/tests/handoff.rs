//! Several tablets, one person, and work handed on, against a real gateway process: the
//! workspace follows ann from tablet to tablet over the event stream (resumed without gap or
//! duplicate, closed when a tablet is revoked); a send to an offline tablet waits in its inbox;
//! a folder handed to bob arrives byte for byte as a copy or as ownership, exactly one owner at
//! every moment, also when the accepting process is killed at any point. Every endpoint refuses
//! whoever may not use it, and bad input gets a clear error and changes nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use microcloud_tests::page::{
    assert_refused_without_session_or_csrf, box_with_users, pair_tablet, Client, EventStream,
};
use microcloud_tests::{bin, content_for, dav_mkcol, dav_put, microcloud, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

thread_local! {
    // One per test (each runs its own runtime on its own thread): a client's pool belongs to
    // the runtime that made it.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

fn http() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

/// A file's bytes as `user` sees them over WebDAV (`None`: not there).
async fn dav_get(gw: &Gateway, user: &str, path: &str) -> Option<Vec<u8>> {
    let r = reqwest::Client::new()
        .get(format!("{}{}", gw.dav(), path.trim_start_matches('/')))
        .basic_auth(user, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    match r.status() {
        StatusCode::OK => Some(r.bytes().await.unwrap().to_vec()),
        StatusCode::NOT_FOUND => None,
        s => panic!("GET {path} as {user}: {s}"),
    }
}

async fn put_workspace(c: &mut Client, version: i64, doc: Value) -> (StatusCode, Value) {
    let r = c
        .request(Method::PUT, "/api/workspace")
        .header("if-match", format!("\"{version}\""))
        .header("content-type", "application/json")
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (
        status,
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap(),
    )
}

fn pdf_at(page: u32) -> Value {
    json!({"items": [{"path": "/report.pdf", "kind": "pdf", "view": {"page": page, "zoom": 1.25}}], "front": 0})
}

#[tokio::test]
async fn the_workspace_follows_ann_to_her_other_tablet_and_the_stream_resumes_exactly() {
    let data = tempfile::tempdir().unwrap();
    let (gw, _admin, mut users) = box_with_users(data.path(), &["ann", "bob"]).await;
    let mut bob = users.pop().unwrap();
    let mut ann = users.pop().unwrap();
    let (mut t1, _) = pair_tablet(&gw, &mut ann, "tablet-1").await;
    let (mut t2, _) = pair_tablet(&gw, &mut ann, "tablet-2").await;

    let ws = t1.call(Method::GET, "/api/workspace", None).await;
    assert_eq!(ws.status, 200);
    assert_eq!(ws.json()["version"], 0);
    assert_eq!(ws.headers["etag"], "\"0\"");
    assert!(
        ws.json()["event"].is_i64(),
        "the newest event id, to resume after"
    );

    // tablet 2 listens; tablet 1 opens the report at page 7; tablet 2 hears it, naming tablet 1.
    let mut s2 = EventStream::open(&t2, None).await;
    let mine = t2.call(Method::GET, "/api/devices/mine", None).await.json();
    let online: Vec<(&str, bool)> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["name"].as_str().unwrap(), d["online"].as_bool().unwrap()))
        .collect();
    assert_eq!(online, vec![("tablet-1", false), ("tablet-2", true)]);
    let (st, w) = put_workspace(&mut t1, 0, pdf_at(7)).await;
    assert_eq!(st, 200, "{w}");
    assert_eq!(w["version"], 1);
    let e = s2.next(WAIT).await.expect("an event");
    assert_eq!(e.event, "workspace");
    assert_eq!(e.data["device"], "tablet-1");
    assert_eq!(e.data["doc"]["items"][0]["view"]["page"], 7);
    assert_eq!(e.data["doc"]["front"], 0);

    // A write based on the old version is refused with the current one, and changes nothing.
    let (st, w) = put_workspace(&mut t2, 0, pdf_at(1)).await;
    assert_eq!(st, 412, "{w}");
    assert_eq!(w["current"]["version"], 1);
    assert_eq!(w["current"]["doc"]["items"][0]["view"]["page"], 7);
    // Without If-Match: 428; bad documents: 400 naming the field; too big: 413.
    let a = t2
        .request(Method::PUT, "/api/workspace")
        .header("content-type", "application/json")
        .body(pdf_at(2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 428);
    let item = json!({"path": "/a", "kind": "pdf", "view": {}});
    for (doc, field) in [
        (
            json!({"items": vec![item.clone(); 51], "front": 0}),
            "items",
        ),
        (
            json!({"items": [{"path": "/a", "kind": "exe"}], "front": 0}),
            "kind",
        ),
        (json!({"items": [item.clone()], "front": 1}), "front"),
        (
            json!({"items": [{"path": "/../bob/x", "kind": "pdf"}]}),
            "path",
        ),
        (
            json!({"items": [{"path": "/a", "kind": "pdf", "view": {"x": "y".repeat(2000)}}]}),
            "view",
        ),
    ] {
        let (st, w) = put_workspace(&mut t2, 1, doc).await;
        assert_eq!(
            (st, w["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{w}"
        );
    }
    let (st, _) = put_workspace(&mut t2, 1, json!({"items": [], "pad": "x".repeat(70_000)})).await;
    assert_eq!(st, 413);
    let a = t2
        .request(Method::PUT, "/api/workspace")
        .header("if-match", "\"1\"")
        .header("content-type", "application/json")
        .body("{\"items\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 400);
    assert_eq!(
        t2.call(Method::GET, "/api/workspace", None).await.json()["version"],
        1,
        "nothing changed"
    );

    // tablet 2 goes away; tablet 1 turns pages; tablet 2 comes back with the last id it saw and
    // gets exactly the pages it missed, in order, then live ones.
    let last = e.id.unwrap();
    drop(s2);
    for (v, page) in [(1, 8), (2, 9), (3, 10)] {
        let (st, _) = put_workspace(&mut t1, v, pdf_at(page)).await;
        assert_eq!(st, 200);
    }
    let mut s2 = EventStream::open(&t2, Some(last)).await;
    let mut pages = vec![];
    let mut ids = vec![last];
    for _ in 0..3 {
        let e = s2.next(WAIT).await.unwrap();
        pages.push(e.data["doc"]["items"][0]["view"]["page"].as_i64().unwrap());
        ids.push(e.id.unwrap());
    }
    assert_eq!(pages, vec![8, 9, 10]);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicate: {ids:?}"
    );
    let (st, _) = put_workspace(&mut t1, 4, pdf_at(11)).await;
    assert_eq!(st, 200);
    let e = s2.next(WAIT).await.unwrap();
    assert_eq!(e.data["doc"]["items"][0]["view"]["page"], 11);
    // A resume point that is not a number is refused.
    let a = t2
        .request(Method::GET, "/api/events")
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 400);

    // bob's stream hears nothing of ann's, and his workspace is his own.
    let mut sb = EventStream::open(&bob, None).await;
    assert_eq!(
        bob.call(Method::GET, "/api/workspace", None).await.json()["version"],
        0
    );

    // Revoking tablet 2 ends its stream within a second; its requests are refused after.
    let revoked = ann
        .call(Method::DELETE, "/api/devices/ann/tablet-2", None)
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let t0 = Instant::now();
    assert!(s2.next(WAIT).await.is_none(), "the stream ended");
    let took = t0.elapsed();
    println!("the revoked tablet's stream ended {took:?} after the revoke");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let a = t2.call(Method::GET, "/api/workspace", None).await;
    assert_eq!(a.status, 401);
    let (st, _) = put_workspace(&mut t1, 5, pdf_at(12)).await;
    assert_eq!(st, 200);
    // bob hears nothing of it (his next event would be his own).
    let (st, _) = put_workspace(&mut bob, 0, pdf_at(1)).await;
    assert_eq!(st, 200);
    let e = sb.next(WAIT).await.unwrap();
    assert_eq!(e.data["doc"]["items"][0]["view"]["page"], 1, "bob's own");

    // Every endpoint refuses a neighbour without a session, a forged one, and a stale or
    // missing CSRF token.
    assert_refused_without_session_or_csrf(
        &gw,
        &ann,
        &[
            (Method::GET, "/api/workspace", None),
            (Method::PUT, "/api/workspace", Some(pdf_at(1))),
            (Method::GET, "/api/events", None),
            (Method::GET, "/api/devices/mine", None),
            (Method::GET, "/api/inbox", None),
            (
                Method::POST,
                "/api/send",
                Some(json!({"device": "tablet-1", "path": "/a"})),
            ),
            (
                Method::POST,
                "/api/handoff",
                Some(json!({"user": "bob", "path": "/a"})),
            ),
            (Method::POST, "/api/inbox/1/accept", Some(json!({}))),
            (Method::POST, "/api/inbox/1/decline", None),
        ],
    )
    .await;

    // A flood of workspace writes from one tablet: every one answered, the versions in order.
    let mut v = 6;
    for page in 0..200 {
        let (st, w) = put_workspace(&mut t1, v, pdf_at(page)).await;
        assert_eq!(st, 200, "{w}");
        v = w["version"].as_i64().unwrap();
    }
    assert_eq!(v, 206);
    // ... and of streams: a user holds at most 8; the oldest ends.
    let mut streams = vec![];
    for _ in 0..9 {
        streams.push(EventStream::open(&ann, None).await);
    }
    assert!(streams[0].next(WAIT).await.is_none(), "the oldest ended");

    // Open streams do not hold up a stop: SIGTERM ends them, and the gateway exits at once
    // instead of waiting out the 30 s drain of requests in flight.
    let pid = gw.pid().unwrap();
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(streams[8].next(WAIT).await.is_none(), "the stream ended");
    let exited = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    while !exited() {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the gateway still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "the gateway stopped {:?} after SIGTERM with 8 streams open",
        t0.elapsed()
    );
}

async fn entry(c: &mut Client, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let a = c.call(method, path, Some(body)).await;
    let v = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    (a.status, v)
}

async fn send(c: &mut Client, body: Value) -> (StatusCode, Value) {
    entry(c, Method::POST, "/api/send", body).await
}

async fn hand(c: &mut Client, body: Value) -> (StatusCode, Value) {
    entry(c, Method::POST, "/api/handoff", body).await
}

async fn accept(c: &mut Client, id: impl std::fmt::Display) -> (StatusCode, Value) {
    entry(
        c,
        Method::POST,
        &format!("/api/inbox/{id}/accept"),
        json!({}),
    )
    .await
}

async fn decline(c: &mut Client, id: impl std::fmt::Display) -> (StatusCode, Value) {
    entry(
        c,
        Method::POST,
        &format!("/api/inbox/{id}/decline"),
        json!({}),
    )
    .await
}

#[tokio::test]
async fn sends_wait_for_an_offline_tablet_and_hand_offs_arrive_byte_for_byte() {
    let data = tempfile::tempdir().unwrap();
    let (gw, admin, mut users) = box_with_users(data.path(), &["ann", "bob", "cat"]).await;
    let mut cat = users.pop().unwrap();
    let mut bob = users.pop().unwrap();
    let mut ann = users.pop().unwrap();
    let (mut t1, _) = pair_tablet(&gw, &mut ann, "tablet-1").await;
    let (mut t2, _) = pair_tablet(&gw, &mut ann, "tablet-2").await;
    let video = content_for("video", 3 << 20);
    dav_put(&http(), &gw, "ann", "/film.mp4", &video).await;
    dav_mkcol(&http(), &gw, "ann", "/Project").await;
    dav_mkcol(&http(), &gw, "ann", "/Project/sub").await;
    let files: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            let p = format!("/Project/{}f{i}.bin", if i % 2 == 0 { "sub/" } else { "" });
            let body = content_for(&p, 1000 * (i + 1));
            (p, body)
        })
        .collect();
    for (p, b) in &files {
        dav_put(&http(), &gw, "ann", p, b).await;
    }

    // Sent to tablet 2 while it is offline: it waits in its inbox with its position.
    let (st, e) = send(
        &mut t1,
        json!({"device": "tablet-2", "path": "/film.mp4", "view": {"time": 42.5}}),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    assert_eq!(
        (e["state"].as_str(), e["mode"].as_str()),
        (Some("pending"), Some("open"))
    );
    let id = e["id"].as_i64().unwrap();
    let inbox = t2.call(Method::GET, "/api/inbox", None).await.json();
    let got = &inbox["received"][0];
    assert_eq!(got["id"], id);
    assert_eq!(got["view"]["time"], 42.5);
    assert_eq!(got["to"]["device"], "tablet-2");
    assert_eq!(got["from"]["device"], "tablet-1");
    assert!(
        t1.call(Method::GET, "/api/inbox", None).await.json()["received"]
            .as_array()
            .unwrap()
            .is_empty(),
        "tablet 1 was not sent anything"
    );
    // Online now: a second send reaches its stream at once.
    let mut s2 = EventStream::open(&t2, None).await;
    let (st, e2) = send(&mut t1, json!({"device": "tablet-2", "path": "/Project"})).await;
    assert_eq!(st, 201);
    let ev = s2.next(WAIT).await.unwrap();
    assert_eq!(ev.event, "inbox");
    assert_eq!(ev.data["id"], e2["id"]);
    assert_eq!(ev.data["kind"], "folder");
    let (st, opened) = accept(&mut t2, id).await;
    assert_eq!(
        (st, opened["state"].as_str()),
        (StatusCode::OK, Some("opened"))
    );
    let (st, _) = accept(&mut t2, id).await;
    assert_eq!(st, 409, "opened once");

    // Bad sends: to the device one is on, to an unknown one, of a missing path, malformed.
    for (body, status) in [
        (json!({"device": "tablet-1", "path": "/film.mp4"}), 400),
        (json!({"device": "tablet-9", "path": "/film.mp4"}), 404),
        (json!({"device": "tablet-2", "path": "/nope.mp4"}), 404),
        (json!({"device": "tablet-2", "path": "/../bob/x"}), 400),
        (json!({"device": "tablet-2"}), 400),
        (
            json!({"device": "tablet-2", "path": "/film.mp4", "workspace": true}),
            400,
        ),
        (
            json!({"device": "tablet-2", "path": "/film.mp4", "view": {"x": "y".repeat(2000)}}),
            400,
        ),
        (json!({"device": "", "path": "/film.mp4"}), 400),
        (json!({"path": "/film.mp4"}), 400),
    ] {
        let (st, e) = send(&mut t1, body.clone()).await;
        assert_eq!(st.as_u16(), status, "{body}: {e}");
        assert!(e["error"].as_str().is_some_and(|s| !s.is_empty()), "{e}");
    }
    let a = t1
        .request(Method::POST, "/api/send")
        .header("content-type", "application/json")
        .body(format!("{{\"device\": \"{}\"}}", "x".repeat(70_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 413);

    // A copy of a folder for bob: it waits; bob accepts; the bytes are his, ann keeps hers.
    let (st, h) = hand(&mut ann, json!({"user": "bob", "path": "/Project"})).await;
    assert_eq!(st, 201, "{h}");
    assert_eq!(
        (h["files"].as_i64(), h["mode"].as_str()),
        (Some(20), Some("copy"))
    );
    let hid = h["id"].as_i64().unwrap();
    // Not cat's to see or act on; not ann's to accept.
    assert_eq!(accept(&mut cat, hid).await.0, 404);
    assert_eq!(decline(&mut cat, hid).await.0, 404);
    assert!(
        cat.call(Method::GET, "/api/inbox", None).await.json()["received"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(accept(&mut ann, hid).await.0, 404);
    let (st, done) = accept(&mut bob, hid).await;
    assert_eq!(st, 200, "{done}");
    assert_eq!(done["result_path"], "/Project");
    for (p, b) in &files {
        assert_eq!(
            dav_get(&gw, "bob", p).await.as_deref(),
            Some(b.as_slice()),
            "bob's {p}"
        );
        assert_eq!(
            dav_get(&gw, "ann", p).await.as_deref(),
            Some(b.as_slice()),
            "ann's {p}"
        );
    }
    // The sender sees it accepted.
    let sent = ann.call(Method::GET, "/api/inbox", None).await.json();
    assert_eq!(sent["sent"][0]["state"], "accepted");

    // Ownership of the same folder to cat: once she accepts, it is hers and no longer ann's.
    let (st, m) = hand(
        &mut ann,
        json!({"user": "cat", "path": "/Project", "move": true}),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    let mid = m["id"].as_i64().unwrap();
    assert!(
        dav_get(&gw, "ann", &files[0].0).await.is_some(),
        "ann's until cat accepts"
    );
    let (st, done) = accept(&mut cat, mid).await;
    assert_eq!(st, 200, "{done}");
    for (p, b) in &files {
        assert_eq!(
            dav_get(&gw, "cat", p).await.as_deref(),
            Some(b.as_slice()),
            "cat's {p}"
        );
        assert_eq!(dav_get(&gw, "ann", p).await, None, "no longer ann's: {p}");
        assert_eq!(
            dav_get(&gw, "bob", p).await.as_deref(),
            Some(b.as_slice()),
            "bob's copy stays"
        );
    }

    // Bad hand-offs: to oneself, to nobody, of nothing, outside one's space; deleted since;
    // over the recipient's space; declined.
    for (body, status) in [
        (json!({"user": "ann", "path": "/film.mp4"}), 400),
        (json!({"user": "zed", "path": "/film.mp4"}), 404),
        (json!({"user": "bob", "path": "/Project"}), 404),
        (json!({"user": "bob", "path": "/../cat/Project"}), 400),
        (json!({"user": "bob", "path": "/"}), 400),
        (json!({"user": "bob;rm", "path": "/film.mp4"}), 400),
        (json!({"user": "bob", "workspace": true, "move": true}), 400),
    ] {
        let (st, e) = hand(&mut ann, body.clone()).await;
        assert_eq!(st.as_u16(), status, "{body}: {e}");
    }
    let (_, gone) = hand(&mut ann, json!({"user": "bob", "path": "/film.mp4"})).await;
    let r = reqwest::Client::new()
        .delete(format!("{}film.mp4", gw.dav()))
        .basic_auth("ann", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (st, e) = accept(&mut bob, &gone["id"]).await;
    assert_eq!(st, 410, "{e}");
    assert_eq!(dav_get(&gw, "bob", "/film.mp4").await, None);
    dav_put(
        &http(),
        &gw,
        "ann",
        "/big.bin",
        &content_for("big", 2 << 20),
    )
    .await;
    microcloud(
        &[
            "user",
            "space",
            "bob",
            "1M",
            "--data",
            data.path().to_str().unwrap(),
        ],
        "",
    );
    let (_, over) = hand(&mut ann, json!({"user": "bob", "path": "/big.bin"})).await;
    let (st, e) = accept(&mut bob, &over["id"]).await;
    assert_eq!(st, 507, "{e}");
    assert!(e["error"].as_str().unwrap().contains("no room"), "{e}");
    assert_eq!(dav_get(&gw, "bob", "/big.bin").await, None);
    let (st, e) = decline(&mut bob, &over["id"]).await;
    assert_eq!(
        (st, e["state"].as_str()),
        (StatusCode::OK, Some("declined"))
    );
    assert_eq!(accept(&mut bob, &over["id"]).await.0, 409);
    for bad in [
        "/api/inbox/0/accept",
        "/api/inbox/x/accept",
        "/api/inbox/99999/decline",
    ] {
        assert_eq!(
            entry(&mut bob, Method::POST, bad, json!({})).await.0,
            404,
            "{bad}"
        );
    }

    // A revoked tablet can neither send nor read its inbox.
    let r = ann
        .call(Method::DELETE, "/api/devices/ann/tablet-2", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(t2.call(Method::GET, "/api/inbox", None).await.status, 401);
    assert_eq!(
        send(&mut t2, json!({"device": "tablet-1", "path": "/big.bin"}))
            .await
            .0,
        401
    );
    // Sending to a revoked tablet: not found.
    assert_eq!(
        send(&mut t1, json!({"device": "tablet-2", "path": "/big.bin"}))
            .await
            .0,
        404
    );

    // A flood of sends: each answered; at most 500 wait per sender; the inbox lists 200.
    let mut created = 0;
    let mut refused = 0;
    for _ in 0..520 {
        match hand(&mut ann, json!({"user": "bob", "path": "/big.bin"}))
            .await
            .0
            .as_u16()
        {
            201 => created += 1,
            400 => refused += 1,
            s => panic!("status {s}"),
        }
    }
    assert_eq!(created + refused, 520);
    assert!(
        created <= 500 && refused >= 20,
        "{created} created, {refused} refused"
    );
    let inbox = bob.call(Method::GET, "/api/inbox", None).await.json();
    assert_eq!(inbox["received"].as_array().unwrap().len(), 200);
    drop(admin);
}

/// The recipient's and the sender's view of a transfer after a kill: exactly one owns the folder,
/// with every file's bytes, and the entry says which.
fn owners(data: &Path, files: &[(String, Vec<u8>)]) -> (bool, bool, String) {
    let store = microcloud_store::Store::open(data, Default::default()).unwrap();
    let has = |name: &str| {
        let u = store.user(name).unwrap().unwrap().id;
        let found: Vec<bool> = files
            .iter()
            .map(|(p, b)| match store.lookup(u, p) {
                Ok(n) => {
                    assert_eq!(n.hash, Some(*blake3::hash(b).as_bytes()), "{name}'s {p}");
                    true
                }
                Err(_) => false,
            })
            .collect();
        assert!(
            found.iter().all(|f| *f) || found.iter().all(|f| !*f),
            "{name} has part of the folder: {found:?}"
        );
        found[0]
    };
    let (ann, bob) = (has("ann"), has("bob"));
    let bob_id = store.user("bob").unwrap().unwrap().id;
    let state = store.inbox(bob_id, None).unwrap().received[0]
        .state
        .as_str()
        .to_owned();
    (ann, bob, state)
}

#[tokio::test]
async fn a_transfer_killed_at_any_moment_leaves_exactly_one_owner() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    microcloud_tests::add_user(data.path(), "ann");
    microcloud_tests::add_user(data.path(), "bob");
    let gw = Gateway::start(data.path(), &["--no-uplink"]);
    dav_mkcol(&http(), &gw, "ann", "/Big").await;
    let mut files = vec![];
    for dir in 0..10 {
        dav_mkcol(&http(), &gw, "ann", &format!("/Big/d{dir}")).await;
        for i in 0..100 {
            let p = format!("/Big/d{dir}/f{i}.txt");
            let b = content_for(&p, 100 + i);
            files.push((p, b));
        }
    }
    // Sixteen at a time, as a sync client would.
    let client = http();
    for chunk in files.chunks(16) {
        futures_util::future::join_all(
            chunk
                .iter()
                .map(|(p, b)| dav_put(&client, &gw, "ann", p, b)),
        )
        .await;
    }
    drop(gw);

    // Step 1, the send: killed at moments spread over the command's run, it either put the
    // entry in bob's inbox or did not; nothing moved either way.
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .args(args)
            .args(["--data", d])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kills = 0;
    for delay_ms in [0u64, 5, 10, 20, 40, 80, 160] {
        let mut c = run(&["handoff", "ann", "/Big", "--to", "bob", "--move"]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = c.kill();
        let status = c.wait().unwrap();
        kills += usize::from(!status.success());
        let (ann, bob, _) = owners_or_none(data.path(), &files);
        assert!(ann && !bob, "after a killed send ann still owns it alone");
    }
    let store = microcloud_store::Store::open(data.path(), Default::default()).unwrap();
    let bob = store.user("bob").unwrap().unwrap().id;
    let entered = store.inbox(bob, None).unwrap().received.len();
    drop(store);
    println!("{kills} of 7 sends were killed before they finished; {entered} had put the entry in");
    let out = microcloud(
        &[
            "handoff", "ann", "/Big", "--to", "bob", "--move", "--json", "--data", d,
        ],
        "",
    );
    let sent: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sent["files"], 1000);
    let id = sent["id"].as_i64().unwrap().to_string();

    // Step 2, the accept: killed at moments spread over its run; afterwards exactly one owner,
    // the same hashes, and the entry agrees. Repeated until one run finishes.
    let mut before_commit = 0;
    let mut delay = 0u64;
    loop {
        let pending: Vec<String> = {
            let inbox = microcloud(&["inbox", "bob", "--json", "--data", d], "");
            let v: Value = serde_json::from_str(&inbox).unwrap();
            v["received"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["state"] == "pending")
                .map(|e| e["id"].to_string())
                .collect()
        };
        let Some(id) = pending.iter().find(|p| **p == id).cloned() else {
            break;
        };
        let mut c = run(&["inbox", "bob", "--accept", &id]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = c.kill();
        let finished = c.wait().unwrap().success();
        let (ann, bob, state) = owners(data.path(), &files);
        assert!(ann != bob, "exactly one owner (ann {ann}, bob {bob})");
        assert_eq!(bob, state == "accepted", "the entry agrees ({state})");
        if !bob {
            before_commit += 1;
        }
        if finished || bob {
            break;
        }
        delay += 7;
        assert!(delay < 5000, "the accept never got through");
    }
    println!("{before_commit} accepts were killed before their commit");
    let (ann, bob, state) = owners(data.path(), &files);
    assert!(!ann && bob && state == "accepted");
    // The gateway starts on what the kills left, and serves bob his files.
    let gw = Gateway::start(data.path(), &["--no-uplink"]);
    assert_eq!(
        dav_get(&gw, "bob", &files[999].0).await.as_deref(),
        Some(files[999].1.as_slice())
    );
    assert_eq!(dav_get(&gw, "ann", &files[999].0).await, None);
}

/// Whether ann and bob have the folder's first file, before any entry exists.
fn owners_or_none(data: &Path, files: &[(String, Vec<u8>)]) -> (bool, bool, String) {
    let store = microcloud_store::Store::open(data, Default::default()).unwrap();
    let has = |name: &str| {
        let u = store.user(name).unwrap().unwrap().id;
        store.lookup(u, &files[0].0).is_ok()
    };
    (has("ann"), has("bob"), String::new())
}

#[tokio::test]
async fn the_cli_hands_off_and_lists_the_inbox_with_help_and_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    microcloud_tests::add_user(data.path(), "ann");
    microcloud_tests::add_user(data.path(), "bob");
    microcloud(&["device", "add", "ann", "tablet-1", "--data", d], "");
    microcloud(
        &["user", "add", "owner", "--admin", "--data", d],
        &format!("{PASSWORD}\n"),
    );
    let gw = Gateway::start(data.path(), &["--no-uplink"]);
    dav_put(
        &http(),
        &gw,
        "ann",
        "/notes.md",
        b"# Notes\n<script>alert(1)</script>\n",
    )
    .await;
    for cmd in ["handoff", "inbox"] {
        let help = microcloud(&[cmd, "--help"], "");
        assert!(
            help.contains("Usage: microcloud") && help.contains("--data"),
            "{help}"
        );
    }
    let out = microcloud(
        &["handoff", "ann", "/notes.md", "--to", "bob", "--data", d],
        "",
    );
    assert!(out.contains("sent: #1 file \"notes.md\""), "{out}");
    let out = microcloud(
        &[
            "handoff",
            "ann",
            "/notes.md",
            "--to",
            "tablet-1",
            "--data",
            d,
        ],
        "",
    );
    assert!(out.contains("to device tablet-1: pending"), "{out}");
    let listing = microcloud(&["inbox", "bob", "--data", d], "");
    assert!(
        listing.contains("from ann to bob: pending") && listing.contains("--accept ID"),
        "{listing}"
    );
    let out = microcloud(
        &["inbox", "bob", "--accept", "1", "--into", "/", "--data", d],
        "",
    );
    assert!(out.contains("accepted at /notes.md"), "{out}");
    assert_eq!(
        dav_get(&gw, "bob", "/notes.md").await.as_deref(),
        Some(&b"# Notes\n<script>alert(1)</script>\n"[..])
    );
    // Clear one-line errors, no stack trace, nothing changed.
    for (args, says) in [
        (
            vec!["handoff", "ann", "/notes.md", "--to", "ann"],
            "that is you",
        ),
        (
            vec!["handoff", "ann", "/nope", "--to", "bob"],
            "no such file",
        ),
        (
            vec!["handoff", "zed", "/notes.md", "--to", "bob"],
            "no user named",
        ),
        (
            vec!["handoff", "ann", "/notes.md", "--to", "tablet-1", "--move"],
            "--move hands ownership",
        ),
        (vec!["inbox", "bob", "--accept", "1"], "accepted already"),
        (vec!["inbox", "bob", "--accept", "77"], "no inbox entry #77"),
        (vec!["inbox", "ann", "--accept", "1"], "no inbox entry #1"),
    ] {
        let out = std::process::Command::new(bin())
            .args(&args)
            .args(["--data", d])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains(says) && err.starts_with("microcloud: error:"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // The page shows Markdown as a sandboxed page, with the script as text.
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);
    let a = bob
        .call(Method::GET, "/api/preview?path=/notes.md", None)
        .await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains("<h1>Notes</h1>") && a.body.contains("&lt;script&gt;"),
        "{}",
        a.body
    );
    assert!(a.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));
    assert_eq!(
        bob.call(Method::GET, "/api/preview?path=/nope.md", None)
            .await
            .status,
        404
    );
    assert_eq!(
        bob.call(Method::GET, "/api/preview?path=/", None)
            .await
            .status,
        400
    );
    assert_eq!(
        Client::new(&gw)
            .call(Method::GET, "/api/preview?path=/notes.md", None)
            .await
            .status,
        401
    );
}
