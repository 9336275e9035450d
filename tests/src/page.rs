//! A browser-like client of the page's JSON API (one cookie, one CSRF token) and onboarding.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{microcloud, Gateway};

/// The first administrator's password in these tests.
pub const ADMIN_PASSWORD: &str = "owner password 1";
/// The ssh key onboarding authorizes.
pub const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl owner@laptop";

/// A browser-like client: one cookie, one CSRF token.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// A response, read in full.
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Client {
    pub fn new(gw: &Gateway) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("http://{}", gw.addr),
            cookie: None,
            csrf: None,
        }
    }

    /// A request with this client's cookie and CSRF token, for bodies `call` does not make.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("mc_session={c}"));
        }
        if let Some(t) = &self.csrf {
            req = req.header("x-csrf-token", t);
        }
        req
    }

    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        if let Some(sc) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            let value = sc
                .split(';')
                .next()
                .unwrap()
                .trim_start_matches("mc_session=");
            self.cookie = (!value.is_empty()).then(|| value.to_owned());
        }
        Answer {
            status,
            headers,
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn refresh_csrf(&mut self) {
        let s = self.call(Method::GET, "/api/state", None).await.json();
        self.csrf = s["csrf"].as_str().map(str::to_owned);
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
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

/// The box's one-time setup code.
pub fn setup_code(dir: &Path) -> String {
    microcloud(&["setup-code", "--data", dir.to_str().unwrap()], "")
        .trim()
        .to_owned()
}

/// Onboards the box as `owner` with [`ADMIN_PASSWORD`] and [`KEY`].
pub async fn onboard(c: &mut Client, dir: &Path) {
    let code = setup_code(dir);
    let a = c
        .call(
            Method::POST,
            "/api/onboarding",
            Some(
                json!({"code": code, "name": "owner", "password": ADMIN_PASSWORD, "ssh_key": KEY}),
            ),
        )
        .await;
    assert_eq!(a.status, 200, "onboarding: {}", a.body);
    let cookie = a.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "cookie attributes: {cookie}"
    );
    c.refresh_csrf().await;
}

/// An HTTP client from 127.0.0.`last_octet` (another host as far as the gateway can tell), with
/// an iPad's User-Agent.
pub fn http_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            127, 0, 0, last_octet,
        )))
        .user_agent("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")
        .build()
        .unwrap()
}

/// A page client from 127.0.0.`last_octet`.
pub fn from_address(gw: &Gateway, last_octet: u8) -> Client {
    let mut c = Client::new(gw);
    c.http = http_from(last_octet);
    c
}

/// Pairs a tablet (from 127.0.0.2) to the signed-in `user`, the whole way (start, claim,
/// approve, status): the tablet's signed-in client and its device password.
pub async fn pair_tablet(gw: &Gateway, user: &mut Client, name: &str) -> (Client, String) {
    let a = user
        .call(Method::POST, "/api/pairings", Some(serde_json::json!({})))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let p = a.json();
    let (id, code) = (
        p["id"].as_str().unwrap().to_owned(),
        p["code"].as_str().unwrap().to_owned(),
    );
    let mut tablet = from_address(gw, 2);
    let c = tablet
        .call(
            Method::POST,
            "/api/pair/claim",
            Some(serde_json::json!({"code": code, "device_name": name})),
        )
        .await;
    assert_eq!(c.status, 200, "{}", c.body);
    let claim = c.json()["claim"].as_str().unwrap().to_owned();
    let a = user
        .call(Method::POST, &format!("/api/pairings/{id}/approve"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = tablet
        .call(
            Method::POST,
            "/api/pair/status",
            Some(serde_json::json!({"claim": claim})),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let password = d.json()["password"].as_str().unwrap().to_owned();
    tablet.refresh_csrf().await;
    (tablet, password)
}

/// Each of `requests` is refused without a session and with a forged one (401); the changes among
/// them (all but GET) also with `signed_in`'s session but a stale CSRF token, or none (403, naming
/// CSRF). What a neighbour on the same Wi-Fi tries first.
pub async fn assert_refused_without_session_or_csrf(
    gw: &Gateway,
    signed_in: &Client,
    requests: &[(Method, &str, Option<Value>)],
) {
    let mut anonymous = Client::new(gw);
    let mut forged = Client::new(gw);
    forged.cookie = Some("forged-session-token".into());
    let mut stale = Client::new(gw);
    stale.cookie = signed_in.cookie.clone();
    stale.csrf = Some("stale-token".into());
    let mut no_csrf = Client::new(gw);
    no_csrf.cookie = signed_in.cookie.clone();
    for (m, path, body) in requests {
        let a = anonymous.call(m.clone(), path, body.clone()).await;
        assert_eq!(a.status, 401, "{m} {path} without a session: {}", a.body);
        let a = forged.call(m.clone(), path, body.clone()).await;
        assert_eq!(
            a.status, 401,
            "{m} {path} with a forged session: {}",
            a.body
        );
        if *m == Method::GET {
            continue;
        }
        let a = stale.call(m.clone(), path, body.clone()).await;
        assert_eq!(
            a.status, 403,
            "{m} {path} with a stale CSRF token: {}",
            a.body
        );
        assert!(a.body.contains("CSRF"), "{m} {path}: {}", a.body);
        let a = no_csrf.call(m.clone(), path, body.clone()).await;
        assert_eq!(a.status, 403, "{m} {path} without a CSRF token: {}", a.body);
    }
}

/// The browser scripts' folder (`tests/web`, with playwright-core) and Chromium, checked to be
/// there, for the headless-browser tests.
pub fn browser_tools(repo: &Path) -> (std::path::PathBuf, String) {
    let web = repo.join("tests/web");
    assert!(
        web.join("node_modules/playwright-core").exists(),
        "tests/web/node_modules is missing: run ci/install-deps (it installs Chromium and runs npm ci there)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: run ci/install-deps (Debian's chromium)"
    );
    (web, chromium)
}

/// Runs a browser script of `web` (`node SCRIPT ARGS...`, with `CHROMIUM` and `env` set) for at
/// most `secs` seconds: whether it succeeded, its stdout and its stderr. Panics if it ran longer.
pub async fn run_browser_script(
    web: &Path,
    chromium: &str,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    secs: u64,
) -> (bool, String, String) {
    let child = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(web)
        .env("CHROMIUM", chromium)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node {script}: {e}"));
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(secs),
        child.wait_with_output(),
    )
    .await
    .unwrap_or_else(|_| panic!("node {script} {args:?} ran longer than {secs} s"))
    .unwrap_or_else(|e| panic!("node {script}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A gateway (without uplink) set up by `owner`, with users `names` added on the page and each
/// signed in: the administrator's client and the users' clients, in order.
pub async fn box_with_users(data: &Path, names: &[&str]) -> (Gateway, Client, Vec<Client>) {
    let gw = Gateway::start(data, &["--no-uplink"]);
    let mut admin = Client::new(&gw);
    onboard(&mut admin, data).await;
    let mut users = Vec::new();
    for name in names {
        let a = admin
            .call(
                Method::POST,
                "/api/users",
                Some(json!({"name": name, "password": crate::PASSWORD, "admin": false})),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let mut c = Client::new(&gw);
        assert_eq!(c.sign_in(name, crate::PASSWORD).await.status, 200);
        users.push(c);
    }
    (gw, admin, users)
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// A client's `/api/events` stream, read event by event.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl EventStream {
    /// Opens the stream as `c`, resuming after `last_id` when given (`Last-Event-ID`).
    pub async fn open(c: &Client, last_id: Option<i64>) -> EventStream {
        let mut req = c.request(Method::GET, "/api/events");
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "GET /api/events");
        assert!(resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream")));
        EventStream {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), `None` when the server ended the stream, or panics
    /// after `wait`.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<Sse> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, "message".to_owned(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() && id.is_none() {
                    continue; // a keep-alive comment
                }
                return Some(Sse {
                    id,
                    event,
                    data: serde_json::from_str(&data).unwrap_or(Value::Null),
                });
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => panic!("no event within {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(b))) => self.buf.push_str(&String::from_utf8_lossy(&b)),
            }
        }
    }
}
