//! The page against careless and hostile clients, on a real gateway process: floods of wrong
//! passwords and setup codes are refused cheaply (429, no argon2) and the right credential works
//! once the backoff has passed; a user signing in over and over ends only their own oldest
//! sessions; the `/metrics` scrape token needs an administrator and a fresh CSRF token; names
//! typed at sign-in never reach the log unless they are users'.
//!
//! Every test client is 127.0.0.1 to the gateway, so "another address is not refused" is tested
//! in `microcloud_accounts::throttle`'s unit tests; here the counts of answers are.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use microcloud_tests::{add_user, basic, microcloud, raw, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "owner password 1";

/// A browser-like client: one cookie, one CSRF token.
struct Client {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    fn new(gw: &Gateway) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{}", gw.addr),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Option<String>,
    ) -> Answer {
        self.try_send(method, path, body, auth).await.unwrap()
    }

    async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Option<String>,
    ) -> reqwest::Result<Answer> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("mc_session={c}"));
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await?;
        let (status, headers) = (resp.status(), resp.headers().clone());
        if let Some(sc) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = sc
                .split(';')
                .next()
                .unwrap()
                .trim_start_matches("mc_session=");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        Ok(Answer {
            status,
            headers,
            body: resp.text().await?,
        })
    }

    /// Sends a body over the 64 KiB bound: 413. The gateway answers before reading it all and
    /// closes, so the client may see its write cut off instead of the answer: it tries again,
    /// and any answer it gets must be 413.
    async fn too_large(&mut self, method: Method, path: &str, body: Vec<u8>) {
        assert!(body.len() > 64 * 1024);
        for _ in 0..10 {
            match self
                .try_send(method.clone(), path, Some(body.clone()), None)
                .await
            {
                Ok(a) => {
                    assert_eq!(
                        a.status,
                        413,
                        "{method} {path} with {} bytes: {}",
                        body.len(),
                        &a.body[..a.body.len().min(200)]
                    );
                    return;
                }
                Err(e) => assert!(e.is_request() || e.is_body(), "{method} {path}: {e}"),
            }
        }
        panic!("{method} {path}: no answer in 10 tries");
    }

    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(method, path, body.map(|b| b.to_string().into_bytes()), None)
            .await
    }

    async fn refresh_csrf(&mut self) {
        let s = self.call(Method::GET, "/api/state", None).await.json();
        self.csrf = s["csrf"].as_str().map(str::to_owned);
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        let a = self
            .call(
                Method::POST,
                "/api/session",
                Some(json!({"name": name, "password": password})),
            )
            .await;
        self.refresh_csrf().await;
        a
    }
}

fn setup_code(dir: &Path) -> String {
    microcloud(&["setup-code", "--data", dir.to_str().unwrap()], "")
        .trim()
        .to_owned()
}

/// A gateway (logging to `DIR/gateway.log`) onboarded with administrator `owner`, and `owner`'s
/// client.
async fn onboarded(tmp: &Path) -> (Gateway, Client) {
    let data = tmp.join("data");
    let gw = Gateway::start_logged(&data, &[], &tmp.join("gateway.log"));
    let mut owner = Client::new(&gw);
    let code = setup_code(&data);
    let a = owner
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "owner", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 200, "onboarding: {}", a.body);
    owner.refresh_csrf().await;
    assert!(owner.csrf.is_some());
    (gw, owner)
}

/// The gateway's peak resident memory in KiB (`VmHWM`).
fn peak_kib(gw: &Gateway) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid().unwrap())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Asserts a 429 as the page gives it: `Retry-After` in whole seconds and the sentence; returns
/// the seconds.
fn assert_too_many(a: &Answer) -> u64 {
    assert_eq!(a.status, 429, "{}", a.body);
    let wait: u64 = a
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1);
    assert_eq!(
        a.json()["error"],
        format!("too many wrong tries from this address: wait {wait} s")
    );
    wait
}

fn log_of(tmp: &Path) -> String {
    std::fs::read_to_string(tmp.join("gateway.log")).unwrap()
}

#[tokio::test]
async fn a_flood_of_wrong_passwords_is_refused_without_argon2_and_the_right_one_works_after_the_backoff(
) {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, mut owner) = onboarded(tmp.path()).await;
    add_user(&gw.dir, "bob");
    // Warm up: argon2 has run (onboarding, one sign-in each), so its memory is in the peak.
    assert_eq!(
        Client::new(&gw)
            .sign_in("owner", ADMIN_PASSWORD)
            .await
            .status,
        200
    );
    assert_eq!(Client::new(&gw).sign_in("bob", PASSWORD).await.status, 200);
    let before = peak_kib(&gw);

    let mut guesser = Client::new(&gw);
    let (mut wrong, mut refused) = (0, 0);
    for i in 0..200 {
        let a = guesser
            .call(
                Method::POST,
                "/api/session",
                Some(json!({"name": "owner", "password": format!("guess number {i}")})),
            )
            .await;
        match a.status.as_u16() {
            401 => wrong += 1,
            429 => {
                assert_too_many(&a);
                refused += 1;
            }
            s => panic!("try {i}: {s} {}", a.body),
        }
    }
    // Five free tries, then refusals: the flood costs no argon2 check after the fifth. (A wait
    // of 1 s, 2 s, 4 s... may end during the flood on a slow machine: each extra check needs
    // twice the time of the one before.)
    assert!(
        (5..=8).contains(&wrong),
        "answers to 200 wrong passwords: {wrong} checked, {refused} refused"
    );
    assert_eq!(wrong + refused, 200);
    // Names nobody has, from the same address: refused just the same, nothing kept per name.
    let mut unknown_checked = 0;
    for i in 0..300 {
        let a = guesser
            .call(
                Method::POST,
                "/api/session",
                Some(json!({"name": format!("user-{i}-{}", "n".repeat(40)), "password": "x"})),
            )
            .await;
        if a.status == 401 {
            unknown_checked += 1;
        } else {
            assert_too_many(&a);
        }
    }
    assert!(
        unknown_checked <= 3,
        "{unknown_checked} of 300 were checked"
    );
    let grown = peak_kib(&gw).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "the flood raised the gateway's peak memory by {grown} KiB"
    );

    // The right password from the flooding address waits out the backoff, then works, and
    // clears the address's count.
    let a = guesser.sign_in("owner", ADMIN_PASSWORD).await;
    let wait = assert_too_many(&a);
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let a = guesser.sign_in("owner", ADMIN_PASSWORD).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        guesser.call(Method::GET, "/api/status", None).await.status,
        200
    );
    assert_eq!(
        Client::new(&gw).sign_in("bob", PASSWORD).await.status,
        200,
        "the address is clear again"
    );
    // The sessions made before the flood are untouched.
    assert_eq!(
        owner.call(Method::GET, "/api/status", None).await.status,
        200
    );

    drop(gw);
    let log = log_of(tmp.path());
    assert!(!log.contains("guess number"), "a typed password was logged");
    assert_eq!(
        log.matches("failed sign-in as owner").count(),
        wrong,
        "each checked failure logged once:\n{log}"
    );
    assert_eq!(
        log.matches("failed sign-in as an unknown user").count(),
        unknown_checked
    );
    assert!(!log.contains("user-1-nnn"), "unknown names are not logged");
}

#[tokio::test]
async fn sign_in_input_is_bounded_and_typed_names_are_logged_only_for_users() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    {
        // Before setup, sign-in is refused whatever is sent.
        let gw = Gateway::start(&data, &[]);
        let a = Client::new(&gw)
            .call(
                Method::POST,
                "/api/session",
                Some(json!({"name": "owner", "password": "whatever1"})),
            )
            .await;
        assert_eq!(a.status, 403, "{}", a.body);
    }
    let (gw, _owner) = onboarded(tmp.path()).await;
    let mut c = Client::new(&gw);
    // Malformed and oversized bodies: JSON errors, and no try counted.
    for body in [
        &b""[..],
        b"{",
        b"[]",
        br#"{"name": "owner"}"#,
        br#"{"name": 1, "password": 2}"#,
        b"\xff\xfe",
    ] {
        let a = c
            .send(Method::POST, "/api/session", Some(body.to_vec()), None)
            .await;
        assert_eq!(
            a.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(body),
            a.body
        );
        assert!(
            a.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("malformed request"),
            "{}",
            a.body
        );
    }
    let huge = json!({"name": "owner", "password": "p".repeat(100_000)})
        .to_string()
        .into_bytes();
    c.too_large(Method::POST, "/api/session", huge).await;
    // Long names and passwords (within the body bound) are wrong, never checked.
    let a = c
        .call(
            Method::POST,
            "/api/session",
            Some(json!({"name": "n".repeat(5000), "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let a = c
        .call(
            Method::POST,
            "/api/session",
            Some(json!({"name": "owner", "password": "p".repeat(2000)})),
        )
        .await;
    assert_eq!(a.status, 401, "{}", a.body);
    // A password typed into the name field, with a forged log line and terminal escapes.
    let typed = "hunter2-Pa55word\n2030-01-01 INFO owner signed in\u{1b}[2J";
    let a = c
        .call(
            Method::POST,
            "/api/session",
            Some(json!({"name": typed, "password": "x"})),
        )
        .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "wrong name or password");
    let a = c
        .call(
            Method::POST,
            "/api/session",
            Some(json!({"name": "owner", "password": "not the password"})),
        )
        .await;
    assert_eq!(a.status, 401);
    // Four failures so far from this address: the fifth is still checked, the sixth refused.
    assert_eq!(c.sign_in("bob-who-is-not-there", "x").await.status, 401);
    assert_too_many(
        &c.call(
            Method::POST,
            "/api/session",
            Some(json!({"name": "owner", "password": ADMIN_PASSWORD})),
        )
        .await,
    );

    drop(gw);
    let log = log_of(tmp.path());
    assert!(
        !log.contains("hunter2") && !log.contains("Pa55word"),
        "a name typed at sign-in was logged:\n{log}"
    );
    assert!(
        !log.contains("INFO owner signed in") && !log.contains('\u{1b}'),
        "a forged line or escape reached the log:\n{log}"
    );
    assert!(
        !log.contains("bob-who-is-not-there") && !log.contains("nnnnnnnn"),
        "unknown names are not logged"
    );
    assert_eq!(
        log.matches("failed sign-in as an unknown user").count(),
        3,
        "{log}"
    );
    assert_eq!(log.matches("failed sign-in as owner").count(), 2, "{log}");
}

#[tokio::test]
async fn a_flood_of_wrong_setup_codes_is_refused_and_the_right_code_works_after_the_backoff() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start_logged(&data, &[], &tmp.path().join("gateway.log"));
    let code = setup_code(&data);
    let mut c = Client::new(&gw);
    // Malformed and oversized: refused before the code is looked at, and not counted.
    for body in [&b"{"[..], br#"{"code": "x"}"#, b"null"] {
        let a = c
            .send(Method::POST, "/api/onboarding", Some(body.to_vec()), None)
            .await;
        assert_eq!(a.status, 400, "{}", a.body);
    }
    let huge = json!({"code": code, "name": "eve", "password": "eve password", "ssh_key": "k".repeat(100_000)}).to_string().into_bytes();
    c.too_large(Method::POST, "/api/onboarding", huge).await;
    let before = peak_kib(&gw);
    let (mut wrong, mut refused, mut wait) = (0, 0, 0);
    for i in 0..200 {
        let a = c.call(Method::POST, "/api/onboarding", Some(json!({"code": format!("WRONG-CODE-{i:04}"), "name": "eve", "password": "eve password"}))).await;
        match a.status.as_u16() {
            400 => {
                assert_eq!(a.json()["field"], "code", "{}", a.body);
                assert!(!a.body.contains(&code), "the code leaked");
                wrong += 1;
            }
            429 => {
                wait = assert_too_many(&a);
                refused += 1;
            }
            s => panic!("try {i}: {s} {}", a.body),
        }
    }
    assert!(
        (5..=8).contains(&wrong),
        "answers to 200 wrong codes: {wrong} checked, {refused} refused"
    );
    assert_eq!(wrong + refused, 200);
    let grown = peak_kib(&gw).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "the flood raised the gateway's peak memory by {grown} KiB"
    );
    // The right code is refused too until the wait is over, then works.
    let a = c
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "owner", "password": ADMIN_PASSWORD})),
        )
        .await;
    wait = wait.max(assert_too_many(&a));
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let a = c
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "owner", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let users = microcloud(&["user", "list", "--data", data.to_str().unwrap()], "");
    assert!(users.contains("owner") && !users.contains("eve"), "{users}");
    let a = Client::new(&gw)
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "eve", "password": "eve password"})),
        )
        .await;
    assert_eq!(a.status, 403, "setup is done: {}", a.body);
    drop(gw);
    let log = log_of(tmp.path());
    assert!(!log.contains("WRONG-CODE"), "a typed code was logged");
    assert_eq!(
        log.matches("wrong setup code").count(),
        wrong,
        "each checked code logged once"
    );
}

#[tokio::test]
async fn one_user_signing_in_again_and_again_ends_only_their_own_oldest_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, mut owner) = onboarded(tmp.path()).await;
    add_user(&gw.dir, "bob");
    let mut cookies = vec![];
    for _ in 0..60 {
        let mut bob = Client::new(&gw);
        let a = bob
            .call(
                Method::POST,
                "/api/session",
                Some(json!({"name": "bob", "password": PASSWORD})),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        cookies.push(bob.cookie.unwrap());
    }
    let mut alive = vec![];
    for c in &cookies {
        let r = raw(
            gw.addr,
            &format!("GET /api/files HTTP/1.1\nHost: x\nCookie: mc_session={c}"),
            b"",
        );
        alive.push(r.status == 200);
        assert!(r.status == 200 || r.status == 401, "{}", r.status);
    }
    assert_eq!(
        alive.iter().filter(|a| **a).count(),
        20,
        "bob keeps 20 sessions"
    );
    assert!(
        alive[40..].iter().all(|a| *a),
        "bob's newest 20 sessions live"
    );
    assert_eq!(
        owner.call(Method::GET, "/api/status", None).await.status,
        200,
        "the administrator's session survives"
    );
    let a = owner
        .call(
            Method::POST,
            "/api/users",
            Some(json!({"name": "carol", "password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 201, "and still makes changes: {}", a.body);
}

#[tokio::test]
async fn the_metrics_token_needs_an_administrator_and_a_fresh_csrf_token_and_opens_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, mut owner) = onboarded(tmp.path()).await;
    add_user(&gw.dir, "bob");
    let token_file = gw.dir.join("metrics-token");
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);
    let mut anonymous = Client::new(&gw);
    let mut forged = Client::new(&gw);
    forged.cookie = Some("forged-session-token".into());
    let mut stale = Client::new(&gw);
    stale.cookie = owner.cookie.clone();
    stale.csrf = Some("stale-token".into());
    let mut no_csrf = Client::new(&gw);
    no_csrf.cookie = owner.cookie.clone();
    let mut bobs_csrf = Client::new(&gw);
    bobs_csrf.cookie = owner.cookie.clone();
    bobs_csrf.csrf = bob.csrf.clone();
    for m in [Method::PUT, Method::DELETE] {
        assert_eq!(
            anonymous
                .call(m.clone(), "/api/metrics-token", None)
                .await
                .status,
            401,
            "{m} without a session"
        );
        assert_eq!(
            forged
                .call(m.clone(), "/api/metrics-token", None)
                .await
                .status,
            401,
            "{m} with a forged session"
        );
        let a = bob.call(m.clone(), "/api/metrics-token", None).await;
        assert_eq!(
            (a.status, a.json()["error"].clone()),
            (StatusCode::FORBIDDEN, json!("administrators only")),
            "{m} as bob"
        );
        for (who, c) in [
            ("a stale", &mut stale),
            ("no", &mut no_csrf),
            ("another session's", &mut bobs_csrf),
        ] {
            let a = c.call(m.clone(), "/api/metrics-token", None).await;
            assert_eq!(a.status, 403, "{m} with {who} CSRF token: {}", a.body);
            assert!(a.body.contains("CSRF"), "{}", a.body);
        }
        assert!(!token_file.exists(), "{m}: nothing written");
    }
    // An oversized body is refused before anything is made; any other body is ignored.
    owner
        .too_large(Method::PUT, "/api/metrics-token", vec![b'x'; 100_000])
        .await;
    assert!(!token_file.exists());
    // Before a token: /metrics for administrators only.
    let metrics = |c: &mut Client, auth: Option<String>| {
        let mut c2 = Client {
            http: c.http.clone(),
            base: c.base.clone(),
            cookie: c.cookie.clone(),
            csrf: None,
        };
        async move { c2.send(Method::GET, "/metrics", None, auth).await }
    };
    let a = metrics(&mut anonymous, None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(
        metrics(&mut bob, None).await.status,
        401,
        "a session of a user who is not an admin"
    );
    assert_eq!(
        metrics(&mut anonymous, Some(basic("bob"))).await.status,
        403,
        "Basic credentials of a user who is not an admin"
    );
    let a = metrics(&mut owner, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("# TYPE"),
        "Prometheus text: {}",
        &a.body[..a.body.len().min(300)]
    );
    assert_eq!(
        a.header("x-frame-options"),
        Some("DENY"),
        "the page's headers on the page's answer"
    );
    assert_eq!(a.header("cache-control"), Some("no-store"));

    let a = owner
        .send(
            Method::PUT,
            "/api/metrics-token",
            Some(b"{{{ not json".to_vec()),
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43, "{token}");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let stored = std::fs::read_to_string(&token_file).unwrap();
    assert_eq!(
        stored,
        format!("{}\n", blake3::hash(token.as_bytes()).to_hex()),
        "the hash, one line"
    );
    assert!(!stored.contains(&token));
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o077,
        0,
        "nobody else reads it"
    );
    let a = metrics(&mut anonymous, Some(format!("Bearer {token}"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        metrics(&mut anonymous, Some("Bearer not-the-token".into()))
            .await
            .status,
        401
    );
    // A new token replaces the old one.
    let a = owner.call(Method::PUT, "/api/metrics-token", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let newer = a.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(newer, token);
    assert_eq!(
        metrics(&mut anonymous, Some(format!("Bearer {token}")))
            .await
            .status,
        401,
        "the old token is dead"
    );
    assert_eq!(
        metrics(&mut anonymous, Some(format!("Bearer {newer}")))
            .await
            .status,
        200
    );
    // Removed: only administrators again.
    let a = owner.call(Method::DELETE, "/api/metrics-token", None).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, json!({"ok": true, "removed": true}))
    );
    assert!(!token_file.exists());
    let a = owner.call(Method::DELETE, "/api/metrics-token", None).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::OK, json!({"ok": true, "removed": false}))
    );
    assert_eq!(
        metrics(&mut anonymous, Some(format!("Bearer {newer}")))
            .await
            .status,
        401
    );
    assert_eq!(metrics(&mut owner, None).await.status, 200);

    drop(gw);
    let log = log_of(tmp.path());
    assert!(
        !log.contains(&token) && !log.contains(&newer),
        "a token was logged"
    );
    assert!(
        log.contains("owner made a new metrics scrape token"),
        "{log}"
    );
}
