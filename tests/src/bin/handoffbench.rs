//! handoffbench: the client side of `ci/bench-handoff` (several tablets, and handing work on).
//!
//! Every mode talks to a running gateway (`--url http://127.0.0.1:PORT`, plain HTTP on loopback)
//! as the page and a WebDAV client do, and prints one JSON object on stdout:
//!
//! - `workspace`: one user, two sessions (two tablets paired through the pairing API, or two
//!   password sign-ins when pairing is refused); the second listens on `/api/events` while the
//!   first writes the workspace COUNT times, one change at a time (`PUT /api/workspace` with
//!   `If-Match`, each a new view state). For each change: from just before the PUT is sent to
//!   the moment the event with the new version is read off the other session's stream, next to
//!   the PUT's own round trip (the reference).
//! - `handoff`: the sender writes two folders of FILES x SIZE distinct bytes over WebDAV (and the
//!   first one into a local directory as well); then, each REPEAT times, the references (`cp -r`
//!   of the local copy on the same disk, with and without fsync; a WebDAV COPY of the folder in
//!   the sender's space until a PROPFIND of the copy lists every file) and the hand-offs: a copy
//!   to the recipient, and a transfer (`"move": true`, back and forth between the two users),
//!   timed from just before `POST /api/inbox/<id>/accept` until the recipient's PROPFIND Depth 1
//!   (WebDAV, Basic auth) of the landed folder lists every file.
//! - `list`: PROPFIND Depth 1 of a collection, the whole response read, RUNS times: what a
//!   WebDAV client needs to list a folder (the reference for the page's first rows); and the
//!   page's own request for the first 200 rows (`GET /api/files`), the server's part of them.
//! - `report`: reads what `ci/bench-handoff` gathered (the outputs above and the browser's),
//!   writes the JSON and Markdown reports with the ratios and goals, and prints the summary with a
//!   `GOAL MISSED: ...` line per goal missed.
//!
//! Nothing here asserts on time: it measures and reports; it fails (exit 1, a line on stderr)
//! only when something does not work at all (a refused request, an event that never comes).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use microcloud_tests::page::{http_from, Client, EventStream};
use reqwest::Method;
use serde_json::{json, Value};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(about = "Benchmarks of the workspace's events, hand-offs and folder listings")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Workspace change on one session -> event read on another session's stream.
    Workspace(WorkspaceArgs),
    /// A folder handed to another user (copy, and transfer), next to cp -r and a WebDAV COPY.
    Handoff(HandoffArgs),
    /// PROPFIND Depth 1 of a collection, the full response read, timed (and the page's request
    /// for its first 200 rows, GET /api/files, for comparison).
    List(ListArgs),
    /// Turn the gathered figures into the JSON and Markdown reports and the summary.
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct Gw {
    /// The gateway, e.g. http://127.0.0.1:8080 (no trailing slash needed).
    #[arg(long)]
    url: String,
    /// The users' password (every user of the bench has the same).
    #[arg(long, env = "HANDOFFBENCH_PASSWORD", hide_env_values = true)]
    password: String,
}

#[derive(clap::Args)]
struct WorkspaceArgs {
    #[command(flatten)]
    gw: Gw,
    /// The user whose two sessions take part.
    #[arg(long, default_value = "ann")]
    user: String,
    /// Workspace changes measured (after a few unmeasured ones that warm the connections).
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Two password sign-ins instead of two paired tablets.
    #[arg(long)]
    no_pairing: bool,
}

#[derive(clap::Args)]
struct HandoffArgs {
    #[command(flatten)]
    gw: Gw,
    /// The sender.
    #[arg(long, default_value = "ann")]
    from: String,
    /// The recipient.
    #[arg(long, default_value = "bob")]
    to: String,
    /// Files in each folder.
    #[arg(long, default_value_t = 64)]
    files: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 16 << 20)]
    size: usize,
    /// Times each measurement is repeated (the median is reported, and every run).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// A directory on the gateway's disk for the cp -r reference (made; emptied at the end).
    #[arg(long)]
    local: PathBuf,
    /// PUTs in flight while writing the folders.
    #[arg(long, default_value_t = 4)]
    clients: usize,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    gw: Gw,
    /// The user whose folder it is.
    #[arg(long, default_value = "ann")]
    user: String,
    /// The folder, as in the user's space (e.g. /list-100).
    #[arg(long)]
    folder: String,
    /// Files the listing must hold (checked on every run).
    #[arg(long)]
    expect: Option<usize>,
    /// Timed runs (after one unmeasured run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(clap::Args)]
struct ReportArgs {
    /// What ci/bench-handoff gathered: {"meta", "workspace", "handoff", "lists": [...]}.
    #[arg(long)]
    input: PathBuf,
    /// The JSON report (the input with ratios and goals added).
    #[arg(long)]
    json_out: PathBuf,
    /// The Markdown report.
    #[arg(long)]
    md_out: PathBuf,
}

/// Goals: event p95 on loopback, hand-off accept to listed, first rows on the page.
const GOAL_EVENT_P95_MS: f64 = 100.0;
const GOAL_HANDOFF_MS: f64 = 100.0;
const GOAL_FIRST_ROWS_MS: f64 = 300.0;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let out = match args.mode {
        Mode::Workspace(a) => workspace(a).await,
        Mode::Handoff(a) => handoff(a).await,
        Mode::List(a) => list(a).await,
        Mode::Report(a) => report(a).map(|()| Value::Null),
    };
    match out {
        Ok(Value::Null) => {}
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("handoffbench: {e}");
            std::process::exit(1);
        }
    }
}

// --- small tools --------------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Nearest-rank percentile of milliseconds (0 for none).
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// p50, p95, max and mean of a sample in milliseconds.
fn summary(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mean = if s.is_empty() {
        0.0
    } else {
        s.iter().sum::<f64>() / s.len() as f64
    };
    json!({"n": s.len(), "p50": round2(pct(&s, 0.5)), "p95": round2(pct(&s, 0.95)),
           "max": round2(pct(&s, 1.0)), "mean": round2(mean)})
}

/// The median and every run, in milliseconds.
fn runs(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    };
    json!({"median": round2(median), "max": round2(s.last().copied().unwrap_or(0.0)),
           "runs": v.iter().map(|x| round2(*x)).collect::<Vec<_>>()})
}

fn base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

/// A page client of `base` on `http`, not signed in.
fn page_client(base: &str, http: reqwest::Client) -> Client {
    Client {
        http,
        base: base.to_owned(),
        cookie: None,
        csrf: None,
    }
}

async fn sign_in(base: &str, user: &str, password: &str) -> Res<Client> {
    let mut c = page_client(base, reqwest::Client::new());
    let a = c.sign_in(user, password).await;
    if a.status != 200 || c.csrf.is_none() {
        return Err(format!("signing in as {user} answered {}: {}", a.status, a.body).into());
    }
    Ok(c)
}

/// `POST path` with a JSON body as the page does; the answer's JSON, or an error naming it.
async fn post(c: &mut Client, path: &str, body: Value, want: u16) -> Res<Value> {
    let a = c.call(Method::POST, path, Some(body)).await;
    if a.status.as_u16() != want {
        return Err(format!("POST {path} answered {}: {}", a.status, a.body).into());
    }
    Ok(serde_json::from_str(&a.body)?)
}

/// The URL of `path` (a user's path, e.g. `/a b/c`) under `/dav/`, each segment percent-encoded.
fn dav_url(base: &str, path: &str, collection: bool) -> Res<reqwest::Url> {
    let mut u = reqwest::Url::parse(&format!("{base}/dav/"))?;
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|()| "the gateway URL cannot have a path")?;
        segs.pop_if_empty();
        for s in path.split('/').filter(|s| !s.is_empty()) {
            segs.push(s);
        }
        if collection {
            segs.push("");
        }
    }
    Ok(u)
}

/// A WebDAV client: one pooled connection set, Basic authentication.
#[derive(Clone)]
struct Dav {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Dav {
    fn new(base: &str, user: &str, password: &str) -> Dav {
        Dav {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    fn req(&self, method: &str, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.http
            .request(
                Method::from_bytes(method.as_bytes()).expect("a method"),
                url,
            )
            .basic_auth(&self.user, Some(&self.password))
    }

    async fn expect(&self, r: reqwest::RequestBuilder, what: &str, ok: &[u16]) -> Res<Vec<u8>> {
        let resp = r.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| format!("{what}: {e}"))?;
        if !ok.contains(&status) {
            return Err(format!(
                "{what} as {} answered {status}: {}",
                self.user,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )
            .into());
        }
        Ok(body.to_vec())
    }

    async fn mkcol(&self, path: &str) -> Res<()> {
        let u = dav_url(&self.base, path, true)?;
        self.expect(self.req("MKCOL", u), &format!("MKCOL {path}"), &[201])
            .await?;
        Ok(())
    }

    async fn put(&self, path: &str, body: Vec<u8>) -> Res<()> {
        let u = dav_url(&self.base, path, false)?;
        self.expect(
            self.req("PUT", u).body(body),
            &format!("PUT {path}"),
            &[201, 204],
        )
        .await?;
        Ok(())
    }

    async fn get(&self, path: &str) -> Res<Vec<u8>> {
        let u = dav_url(&self.base, path, false)?;
        self.expect(self.req("GET", u), &format!("GET {path}"), &[200])
            .await
    }

    /// PROPFIND Depth `depth` of a collection, the whole body read: (files listed, body bytes).
    /// Files are the hrefs that do not end in '/' (collections, the folder itself among them,
    /// do).
    async fn propfind(&self, path: &str, depth: &str) -> Res<(usize, usize)> {
        let u = dav_url(&self.base, path, true)?;
        let body = self
            .expect(
                self.req("PROPFIND", u).header("depth", depth),
                &format!("PROPFIND {path}"),
                &[207],
            )
            .await?;
        Ok((count_files(&body), body.len()))
    }

    /// WebDAV COPY of folder `from` to `to` (Depth infinity, no overwrite).
    async fn copy(&self, from: &str, to: &str) -> Res<()> {
        let u = dav_url(&self.base, from, true)?;
        let dest = dav_url(&self.base, to, true)?;
        self.expect(
            self.req("COPY", u)
                .header("destination", dest.as_str())
                .header("overwrite", "F")
                .header("depth", "infinity"),
            &format!("COPY {from} -> {to}"),
            &[201, 204],
        )
        .await?;
        Ok(())
    }
}

/// Hrefs in a multistatus body that name a file (do not end with '/').
fn count_files(body: &[u8]) -> usize {
    let text = String::from_utf8_lossy(body);
    let mut n = 0;
    let mut rest: &str = &text;
    while let Some(i) = rest.find("href>") {
        rest = &rest[i + 5..];
        // An opening tag's content runs to the next '<'; a closing tag has none.
        let end = rest.find('<').unwrap_or(rest.len());
        let href = rest[..end].trim();
        if !href.is_empty() && !href.ends_with('/') {
            n += 1;
        }
        rest = &rest[end..];
    }
    n
}

// --- workspace -> event ------------------------------------------------------------------------

/// Pairs a tablet (a client from 127.0.0.`octet`) to the signed-in `user` through the pairing
/// API, the whole way: the tablet's signed-in client.
async fn pair(user: &mut Client, base: &str, name: &str, octet: u8) -> Res<Client> {
    let p = post(user, "/api/pairings", json!({}), 201).await?;
    let (id, code) = (
        p["id"].as_str().ok_or("no pairing id")?.to_owned(),
        p["code"].as_str().ok_or("no pairing code")?.to_owned(),
    );
    let mut tablet = page_client(base, http_from(octet));
    let c = post(
        &mut tablet,
        "/api/pair/claim",
        json!({"code": code, "device_name": name}),
        200,
    )
    .await?;
    let claim = c["claim"].as_str().ok_or("no claim")?.to_owned();
    post(user, &format!("/api/pairings/{id}/approve"), json!({}), 200).await?;
    let d = post(
        &mut tablet,
        "/api/pair/status",
        json!({"claim": claim}),
        200,
    )
    .await?;
    if d["state"] != "approved" || tablet.cookie.is_none() {
        return Err(format!("pairing {name}: not approved: {d}").into());
    }
    tablet.refresh_csrf().await;
    if tablet.csrf.is_none() {
        return Err(format!("pairing {name}: the tablet's session has no CSRF token").into());
    }
    Ok(tablet)
}

/// A new view state for change `i`: a PDF at another page and zoom, a text scrolled elsewhere.
fn view_state(i: usize) -> Value {
    json!({"items": [
        {"path": "/bench/report.pdf", "kind": "pdf", "view": {"page": i + 1, "zoom": 1.0 + (i % 4) as f64 * 0.25}},
        {"path": "/bench/notes.md", "kind": "markdown", "view": {"scroll": (i % 100) as f64 / 100.0}}
    ], "front": i % 2})
}

async fn workspace(a: WorkspaceArgs) -> Res<Value> {
    let base = base(&a.gw.url);
    let mut owner = sign_in(&base, &a.user, &a.gw.password).await?;
    let (mut writer, listener, sessions) = if a.no_pairing {
        (
            owner,
            sign_in(&base, &a.user, &a.gw.password).await?,
            "two password sign-ins",
        )
    } else {
        match pair(&mut owner, &base, "bench-tablet-1", 2).await {
            Ok(t1) => {
                let t2 = pair(&mut owner, &base, "bench-tablet-2", 3).await?;
                (t1, t2, "two paired tablets")
            }
            Err(e) => {
                eprintln!("handoffbench: pairing refused ({e}): two password sign-ins instead");
                (
                    owner,
                    sign_in(&base, &a.user, &a.gw.password).await?,
                    "two password sign-ins (pairing refused)",
                )
            }
        }
    };

    // The listener reads its stream in a task of its own and notes when each workspace event
    // is read, so that an event arriving before the PUT's answer is timed when it arrived.
    let mut stream = EventStream::open(&listener, None).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let reader = tokio::spawn(async move {
        while let Some(e) = stream.next(Duration::from_secs(24 * 3600)).await {
            let at = Instant::now();
            if e.event == "workspace" {
                if let Some(v) = e.data["version"].as_i64() {
                    if tx.send((v, at)).is_err() {
                        break;
                    }
                }
            }
        }
    });

    let current = writer.call(Method::GET, "/api/workspace", None).await;
    let mut version = current.json()["version"]
        .as_i64()
        .ok_or("no workspace version")?;
    const WARMUP: usize = 3;
    let (mut event_ms, mut put_ms) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + a.count {
        let body = view_state(i).to_string();
        let req = writer
            .request(Method::PUT, "/api/workspace")
            .header("if-match", format!("\"{version}\""))
            .header("content-type", "application/json")
            .body(body);
        let sent = Instant::now();
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        let answered = sent.elapsed();
        if status != 200 {
            return Err(
                format!("PUT /api/workspace (change {i}) answered {status}: {text}").into(),
            );
        }
        let new: Value = serde_json::from_str(&text)?;
        version = new["version"]
            .as_i64()
            .ok_or_else(|| format!("no version in {text}"))?;
        let heard = loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Err(_) => {
                    return Err(
                        format!("no event for workspace version {version} within 10 s").into(),
                    )
                }
                Ok(None) => return Err("the event stream ended".into()),
                Ok(Some((v, at))) if v == version => break at,
                Ok(Some((v, _))) if v > version => {
                    return Err(format!("event for version {v} before {version}").into())
                }
                Ok(Some(_)) => {} // an older one (a warm-up's duplicate): not ours
            }
        };
        if i >= WARMUP {
            event_ms.push(ms(heard.saturating_duration_since(sent)));
            put_ms.push(ms(answered));
        }
    }
    reader.abort();
    let ev = summary(&event_ms);
    let put = summary(&put_ms);
    let ratio = ev["p95"].as_f64().unwrap_or(0.0) / put["p95"].as_f64().unwrap_or(1.0).max(1e-9);
    Ok(json!({
        "changes": a.count, "warmup": WARMUP, "sessions": sessions,
        "event_ms": ev, "put_ms": put, "ratio_event_p95_to_put_p95": round2(ratio),
    }))
}

// --- hand-off of a folder ----------------------------------------------------------------------

/// Writes `files` distinct files of `size` bytes into `folder` over WebDAV, `clients` at a time,
/// and into `local` when given; the seconds it took.
async fn write_folder(
    dav: &Dav,
    folder: &str,
    files: usize,
    size: usize,
    clients: usize,
    local: Option<&Path>,
) -> Res<f64> {
    dav.mkcol(folder).await?;
    if let Some(l) = local {
        std::fs::create_dir_all(l)?;
    }
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (dav, next, folder, local) = (
            dav.clone(),
            next.clone(),
            folder.to_owned(),
            local.map(Path::to_owned),
        );
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= files {
                    return Ok::<(), Box<dyn std::error::Error + Send + Sync>>(());
                }
                let name = format!("f{i:04}.bin");
                let path = format!("{folder}/{name}");
                let body = microcloud_tests::content_for(&path, size);
                if let Some(l) = &local {
                    let (p, b) = (l.join(&name), body.clone());
                    tokio::task::spawn_blocking(move || std::fs::write(p, b)).await??;
                }
                dav.put(&path, body).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let took = start.elapsed().as_secs_f64();
    if let Some(l) = local {
        // On disk before the references run, not flushed in the background while they do.
        for e in std::fs::read_dir(l)? {
            std::fs::File::open(e?.path())?.sync_all()?;
        }
    }
    Ok(took)
}

/// Lists `folder` as `dav` until it holds `files` files: the moment it did.
async fn until_listed(dav: &Dav, folder: &str, files: usize) -> Res<Instant> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (n, _) = dav.propfind(folder, "1").await?;
        if n >= files {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            return Err(format!("{folder} lists {n} of {files} files after 60 s").into());
        }
    }
}

/// cp -r of `src` to `dst`: (cp's milliseconds, milliseconds with every copied file fsynced).
fn cp_r(src: &Path, dst: &Path) -> Res<(f64, f64)> {
    let _ = std::fs::remove_dir_all(dst);
    let start = Instant::now();
    let st = std::process::Command::new("cp")
        .arg("-r")
        .arg(src)
        .arg(dst)
        .status()?;
    let copied = start.elapsed();
    if !st.success() {
        return Err(format!("cp -r {} {}: {st}", src.display(), dst.display()).into());
    }
    for e in std::fs::read_dir(dst)? {
        std::fs::File::open(e?.path())?.sync_all()?;
    }
    std::fs::File::open(dst)?.sync_all()?;
    let synced = start.elapsed();
    std::fs::remove_dir_all(dst)?;
    Ok((ms(copied), ms(synced)))
}

/// One hand-off of `path` from `sender` to `recipient`, accepted and listed: (the POST's
/// milliseconds, accept's milliseconds, accept to listed milliseconds, where it landed).
async fn hand_over(
    sender: &mut Client,
    recipient: &mut Client,
    recipient_dav: &Dav,
    to_user: &str,
    path: &str,
    transfer: bool,
    files: usize,
) -> Res<(f64, f64, f64, String)> {
    let t = Instant::now();
    let e = post(
        sender,
        "/api/handoff",
        json!({"user": to_user, "path": path, "move": transfer}),
        201,
    )
    .await?;
    let send_ms = ms(t.elapsed());
    if e["files"].as_u64() != Some(files as u64) {
        return Err(format!("the hand-off counts {} files, not {files}: {e}", e["files"]).into());
    }
    let id = e["id"].as_i64().ok_or("no entry id")?;
    let accept = format!("/api/inbox/{id}/accept");
    let body = json!({}).to_string();
    let req = recipient
        .request(Method::POST, &accept)
        .header("content-type", "application/json")
        .body(body);
    let start = Instant::now();
    let resp = req.send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    let accepted = start.elapsed();
    if status != 200 {
        return Err(format!("POST {accept} answered {status}: {text}").into());
    }
    let done: Value = serde_json::from_str(&text)?;
    let landed = done["result_path"]
        .as_str()
        .ok_or_else(|| format!("no result_path in {text}"))?
        .to_owned();
    let listed = until_listed(recipient_dav, &landed, files).await?;
    Ok((
        send_ms,
        ms(accepted),
        ms(listed.saturating_duration_since(start)),
        landed,
    ))
}

async fn handoff(a: HandoffArgs) -> Res<Value> {
    let base = base(&a.gw.url);
    let repeat = a.repeat.max(1);
    let mut ann = sign_in(&base, &a.from, &a.gw.password).await?;
    let mut bob = sign_in(&base, &a.to, &a.gw.password).await?;
    let ann_dav = Dav::new(&base, &a.from, &a.gw.password);
    let bob_dav = Dav::new(&base, &a.to, &a.gw.password);
    // Warm connections and the password check (the first Basic authentication is the slow one).
    ann_dav.propfind("/", "0").await?;
    bob_dav.propfind("/", "0").await?;

    let (copy_dir, move_dir) = ("/handoff-copy", "/handoff-move");
    let src = a.local.join("src");
    let write_copy =
        write_folder(&ann_dav, copy_dir, a.files, a.size, a.clients, Some(&src)).await?;
    let write_move = write_folder(&ann_dav, move_dir, a.files, a.size, a.clients, None).await?;
    let bytes = (a.files * a.size) as f64;
    eprintln!(
        "handoffbench: wrote 2 folders of {} x {} B ({:.0} and {:.0} MB/s over WebDAV)",
        a.files,
        a.size,
        bytes / write_copy / 1e6,
        bytes / write_move / 1e6
    );

    // The references: cp -r of the same bytes on the same disk; a WebDAV COPY in ann's space.
    let (mut cp, mut cp_sync) = (vec![], vec![]);
    for _ in 0..repeat {
        let (c, s) = cp_r(&src, &a.local.join("dst"))?;
        cp.push(c);
        cp_sync.push(s);
    }
    std::fs::remove_dir_all(&src)?;
    let (mut dav_copy, mut dav_copy_listed) = (vec![], vec![]);
    for r in 0..repeat {
        let to = format!("/handoff-davcopy-{r}");
        let start = Instant::now();
        ann_dav.copy(copy_dir, &to).await?;
        dav_copy.push(ms(start.elapsed()));
        let listed = until_listed(&ann_dav, &to, a.files).await?;
        dav_copy_listed.push(ms(listed - start));
    }

    // Copies to bob: the same folder, again and again (landing as "name (2)" and so on).
    let want = ann_dav.get(&format!("{copy_dir}/f0000.bin")).await?;
    let (mut c_send, mut c_accept, mut c_listed, mut c_landed) = (vec![], vec![], vec![], vec![]);
    for _ in 0..repeat {
        let (s, acc, l, landed) = hand_over(
            &mut ann, &mut bob, &bob_dav, &a.to, copy_dir, false, a.files,
        )
        .await?;
        c_send.push(s);
        c_accept.push(acc);
        c_listed.push(l);
        c_landed.push(landed);
    }
    if bob_dav.get(&format!("{}/f0000.bin", c_landed[0])).await? != want {
        return Err("the copy's first file does not have the sender's bytes".into());
    }

    // Transfers: the other folder, to bob, back to ann, to bob...
    let want = ann_dav.get(&format!("{move_dir}/f0000.bin")).await?;
    let (mut m_send, mut m_accept, mut m_listed, mut m_landed) = (vec![], vec![], vec![], vec![]);
    let mut path = move_dir.to_owned();
    let mut forth = true;
    for _ in 0..repeat {
        let (s, acc, l, landed) = if forth {
            hand_over(&mut ann, &mut bob, &bob_dav, &a.to, &path, true, a.files).await?
        } else {
            hand_over(&mut bob, &mut ann, &ann_dav, &a.from, &path, true, a.files).await?
        };
        m_send.push(s);
        m_accept.push(acc);
        m_listed.push(l);
        let owner = if forth { &bob_dav } else { &ann_dav };
        if owner.get(&format!("{landed}/f0000.bin")).await? != want {
            return Err("the transferred folder's first file does not have its bytes".into());
        }
        m_landed.push(landed.clone());
        path = landed;
        forth = !forth;
    }

    Ok(json!({
        "files": a.files, "file_bytes": a.size, "folder_bytes": a.files * a.size, "repeat": repeat,
        "write_seconds": {"copy_folder": round2(write_copy), "move_folder": round2(write_move)},
        "cp_r_ms": runs(&cp), "cp_r_fsync_ms": runs(&cp_sync),
        "dav_copy_ms": runs(&dav_copy), "dav_copy_listed_ms": runs(&dav_copy_listed),
        "copy": {"send_ms": runs(&c_send), "accept_ms": runs(&c_accept), "listed_ms": runs(&c_listed), "landed": c_landed},
        "move": {"send_ms": runs(&m_send), "accept_ms": runs(&m_accept), "listed_ms": runs(&m_listed), "landed": m_landed},
    }))
}

// --- listing -----------------------------------------------------------------------------------

async fn list(a: ListArgs) -> Res<Value> {
    let dav = Dav::new(&base(&a.gw.url), &a.user, &a.gw.password);
    let (mut times, mut files, mut bytes) = (vec![], 0, 0);
    for r in 0..=a.runs {
        let start = Instant::now();
        let (n, b) = dav.propfind(&a.folder, "1").await?;
        let took = ms(start.elapsed());
        if let Some(want) = a.expect {
            if n != want {
                return Err(format!("PROPFIND {} lists {n} files, not {want}", a.folder).into());
            }
        }
        (files, bytes) = (n, b);
        if r > 0 {
            times.push(took);
        }
    }
    // The page's own request for the first rows (one page of 200, by name), for comparison.
    let page = sign_in(&base(&a.gw.url), &a.user, &a.gw.password).await?;
    let mut q = reqwest::Url::parse("http://x/api/files")?;
    q.query_pairs_mut()
        .append_pair("path", &a.folder)
        .append_pair("offset", "0")
        .append_pair("limit", "200")
        .append_pair("sort", "name")
        .append_pair("order", "asc");
    let path = format!("/api/files?{}", q.query().unwrap_or_default());
    let mut api = vec![];
    for r in 0..=a.runs {
        let start = Instant::now();
        let resp = page.request(Method::GET, &path).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        let took = ms(start.elapsed());
        if status != 200 || !body.starts_with(b"{") {
            return Err(format!("GET {path} answered {status}").into());
        }
        if r > 0 {
            api.push(took);
        }
    }
    Ok(
        json!({"folder": a.folder, "files": files, "response_bytes": bytes, "ms": runs(&times),
              "api_files_first_page_ms": runs(&api)}),
    )
}

// --- report ------------------------------------------------------------------------------------

fn num(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or(f64::NAN)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 && a.is_finite() {
        (a / b * 1000.0).round() / 1000.0
    } else {
        f64::NAN
    }
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A JSON array of run figures as "a, b, c"; `none` when it is not an array.
fn runs_list(v: &Value, none: &str) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|| none.to_owned())
}

fn fmt_ratio(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x < 0.01 {
        format!("{x:.4}x")
    } else {
        format!("{x:.2}x")
    }
}

fn to_json_num(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn report(a: ReportArgs) -> Res<()> {
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&a.input)?)?;
    let (meta, ws, ho) = (&r["meta"], &r["workspace"], &r["handoff"]);
    let mut md = String::new();
    let mut summary = String::new();
    let mut missed: Vec<String> = vec![];
    let mut goals = serde_json::Map::new();
    let mb = |b: f64| b / (1 << 20) as f64;

    md.push_str("# microcloud hand-off benchmark\n\n");
    md.push_str(&format!(
        "{}, {} mode, {}, {} cores, load {}; microcloud {}, {}.\n\n",
        meta["date"].as_str().unwrap_or("?"),
        meta["mode"].as_str().unwrap_or("full"),
        meta["filesystem"].as_str().unwrap_or("?"),
        meta["cores"],
        meta["load"].as_str().unwrap_or("?"),
        meta["microcloud"].as_str().unwrap_or("?"),
        meta["chromium"].as_str().unwrap_or("no browser"),
    ));
    summary.push_str(&format!(
        "microcloud hand-off benchmark, {} ({} mode), {} cores\n",
        meta["date"].as_str().unwrap_or("?"),
        meta["mode"].as_str().unwrap_or("full"),
        meta["cores"]
    ));

    // 1. Workspace change -> event.
    let (e50, e95, emax) = (
        num(ws, &["event_ms", "p50"]),
        num(ws, &["event_ms", "p95"]),
        num(ws, &["event_ms", "max"]),
    );
    let (p50, p95, pmax) = (
        num(ws, &["put_ms", "p50"]),
        num(ws, &["put_ms", "p95"]),
        num(ws, &["put_ms", "max"]),
    );
    let ws_ratio = ratio(e95, p95);
    md.push_str(&format!(
        "## Workspace change -> event on the other device\n\n{} changes, one at a time, {} (one listens on /api/events, the other PUTs /api/workspace with If-Match).\n\n",
        ws["changes"], ws["sessions"].as_str().unwrap_or("?")
    ));
    md.push_str("| ms | p50 | p95 | max |\n| --- | ---: | ---: | ---: |\n");
    md.push_str(&format!(
        "| PUT sent -> event read on the other session | {} | {} | {} |\n",
        fmt(e50),
        fmt(e95),
        fmt(emax)
    ));
    md.push_str(&format!(
        "| the PUT alone (round trip, reference) | {} | {} | {} |\n\n",
        fmt(p50),
        fmt(p95),
        fmt(pmax)
    ));
    md.push_str(&format!(
        "event p95 / PUT p95: {}. Goal: event p95 < {GOAL_EVENT_P95_MS} ms.\n\n",
        fmt_ratio(ws_ratio)
    ));
    summary.push_str(&format!(
        "  workspace change -> event ({} changes, {}): p50 {} ms, p95 {} ms, max {} ms\n",
        ws["changes"],
        ws["sessions"].as_str().unwrap_or("?"),
        fmt(e50),
        fmt(e95),
        fmt(emax)
    ));
    summary.push_str(&format!(
        "    the PUT alone: p50 {} ms, p95 {} ms; event p95 / PUT p95 = {}\n",
        fmt(p50),
        fmt(p95),
        fmt_ratio(ws_ratio)
    ));
    let ok = e95 < GOAL_EVENT_P95_MS;
    goals.insert(
        "event_p95_ms".into(),
        json!({"goal_lt": GOAL_EVENT_P95_MS, "value": to_json_num(e95), "met": ok}),
    );
    if !ok {
        missed.push(format!(
            "workspace change -> event p95 is {} ms (goal < {GOAL_EVENT_P95_MS} ms)",
            fmt(e95)
        ));
    }

    // 2. Hand-off of a folder.
    let files = ho["files"].as_u64().unwrap_or(0);
    let folder_mib = mb(ho["folder_bytes"].as_f64().unwrap_or(0.0));
    let cp = num(ho, &["cp_r_ms", "median"]);
    let cp_sync = num(ho, &["cp_r_fsync_ms", "median"]);
    let dcopy = num(ho, &["dav_copy_listed_ms", "median"]);
    let dcopy_req = num(ho, &["dav_copy_ms", "median"]);
    md.push_str(&format!(
        "## Hand-off of a {folder_mib:.0} MiB folder ({files} files of {:.2} MiB)\n\n",
        mb(ho["file_bytes"].as_f64().unwrap_or(0.0))
    ));
    md.push_str(&format!(
        "Median of {} runs (every run in the JSON). Hand-off: from sending `POST /api/inbox/<id>/accept` until the recipient's PROPFIND Depth 1 of the landed folder lists all {files} files. x = this time / the hand-off's (how many times longer the reference takes).\n\n",
        ho["repeat"]
    ));
    md.push_str("| | ms (median) | max | accept alone | cp -r / this | WebDAV COPY / this |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let mut hand = |what: &str, key: &str, md: &mut String, summary: &mut String| {
        let l = num(ho, &[key, "listed_ms", "median"]);
        let lmax = num(ho, &[key, "listed_ms", "max"]);
        let acc = num(ho, &[key, "accept_ms", "median"]);
        let (rc, rd) = (ratio(cp, l), ratio(dcopy, l));
        md.push_str(&format!(
            "| hand-off, {what} | {} | {} | {} | {} | {} |\n",
            fmt(l),
            fmt(lmax),
            fmt(acc),
            fmt_ratio(rc),
            fmt_ratio(rd)
        ));
        summary.push_str(&format!(
            "    hand-off {what}: accept -> listed {} ms (max {}, accept alone {} ms); cp -r takes {} that, WebDAV COPY {}\n",
            fmt(l), fmt(lmax), fmt(acc), fmt_ratio(rc), fmt_ratio(rd)
        ));
        goals.insert(
            format!("handoff_{key}_ms"),
            json!({"goal_lt": GOAL_HANDOFF_MS, "value": to_json_num(l), "met": l < GOAL_HANDOFF_MS}),
        );
        if l >= GOAL_HANDOFF_MS || l.is_nan() {
            missed.push(format!(
                "hand-off of a {folder_mib:.0} MiB folder ({what}): accept -> listed {} ms (goal < {GOAL_HANDOFF_MS} ms)",
                fmt(l)
            ));
        }
    };
    summary.push_str(&format!(
        "  hand-off of a {folder_mib:.0} MiB folder ({files} files), median of {}:\n",
        ho["repeat"]
    ));
    hand("copy", "copy", &mut md, &mut summary);
    hand("transfer (move)", "move", &mut md, &mut summary);
    md.push_str(&format!(
        "| `cp -r` on the same disk (reference) | {} | {} | | | |\n",
        fmt(cp),
        fmt(num(ho, &["cp_r_ms", "max"]))
    ));
    md.push_str(&format!(
        "| `cp -r` + fsync of every file | {} | {} | | | |\n",
        fmt(cp_sync),
        fmt(num(ho, &["cp_r_fsync_ms", "max"]))
    ));
    md.push_str(&format!(
        "| WebDAV COPY in the sender's space, until listed | {} | {} | {} (the COPY alone) | | |\n\n",
        fmt(dcopy),
        fmt(num(ho, &["dav_copy_listed_ms", "max"])),
        fmt(dcopy_req)
    ));
    md.push_str(&format!(
        "Goal: a hand-off lands in under {GOAL_HANDOFF_MS} ms. Writing the folders over WebDAV took {} s and {} s.\n\n",
        fmt(num(ho, &["write_seconds", "copy_folder"])),
        fmt(num(ho, &["write_seconds", "move_folder"]))
    ));
    summary.push_str(&format!(
        "    references: cp -r {} ms ({} ms with fsync), WebDAV COPY until listed {} ms\n",
        fmt(cp),
        fmt(cp_sync),
        fmt(dcopy)
    ));
    let ratios_handoff = json!({
        "cp_r_over_copy": to_json_num(ratio(cp, num(ho, &["copy", "listed_ms", "median"]))),
        "cp_r_over_move": to_json_num(ratio(cp, num(ho, &["move", "listed_ms", "median"]))),
        "cp_r_fsync_over_copy": to_json_num(ratio(cp_sync, num(ho, &["copy", "listed_ms", "median"]))),
        "dav_copy_over_copy": to_json_num(ratio(dcopy, num(ho, &["copy", "listed_ms", "median"]))),
        "dav_copy_over_move": to_json_num(ratio(dcopy, num(ho, &["move", "listed_ms", "median"]))),
    });

    // 3. First rows on the page.
    md.push_str("## First rows of the file page in Chromium\n\n");
    let lists = r["lists"].as_array().cloned().unwrap_or_default();
    let browser_note = r["browser_note"].as_str().unwrap_or("").to_owned();
    md.push_str("From the start of the navigation to the first file row on screen (tests/web/firstrows.mjs, a fresh browser context each run), next to a WebDAV client's PROPFIND Depth 1 of the same folder, the whole response read. Medians. The last column is the server's part of the first rows: the page's request for them (200 rows by name).\n\n");
    md.push_str("| files | first rows (ms) | runs | PROPFIND Depth 1 (ms) | response | page / PROPFIND | the page's GET /api/files (ms) |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    summary.push_str(
        "  first rows of the file page (median ms) next to PROPFIND Depth 1 (median ms):\n",
    );
    let mut list_ratios = vec![];
    let mut parts_lines = vec![];
    let mut opens_lines = vec![];
    let mut reloads_lines = vec![];
    for l in &lists {
        let n = l["files"].as_u64().unwrap_or(0);
        let page = num(l, &["page", "median_ms"]);
        let dav = num(l, &["dav", "ms", "median"]);
        let rt = ratio(page, dav);
        list_ratios.push(json!({"files": n, "page_over_propfind": to_json_num(rt)}));
        let page_runs = runs_list(&l["page"]["runs"], "-");
        let api = num(l, &["dav", "api_files_first_page_ms", "median"]);
        md.push_str(&format!(
            "| {n} | {} | {page_runs} | {} | {:.1} MiB | {} | {} |\n",
            fmt(page),
            fmt(dav),
            mb(num(l, &["dav", "response_bytes"])),
            fmt_ratio(rt),
            fmt(api)
        ));
        summary.push_str(&format!(
            "    {n:>7} files: page {} ms (runs {page_runs}), PROPFIND {} ms ({:.1} MiB); page/PROPFIND {}; the page's GET /api/files {} ms\n",
            fmt(page),
            fmt(dav),
            mb(num(l, &["dav", "response_bytes"])),
            fmt_ratio(rt),
            fmt(api)
        ));
        // Where the page's time went, when the script says (median of each moment over runs).
        if let Some(parts) = l["page"]["parts"].as_array().filter(|p| !p.is_empty()) {
            let med = |k: &str| {
                let v: Vec<f64> = parts.iter().filter_map(|p| p[k].as_f64()).collect();
                num(&runs(&v), &["median"])
            };
            let line = format!(
                "{n} files: the page's own files all loaded at {} ms, its state at {} ms, the folder's first page at {} ms, the first row on screen at {} ms",
                fmt(med("assets_ms")),
                fmt(med("state_ms")),
                fmt(med("files_ms")),
                fmt(page)
            );
            summary.push_str(&format!("      ({line})\n"));
            parts_lines.push(line);
        }
        // The same folder opened in a page already open (from its parent), as a tablet does; and
        // the page loaded again in the same browser, its files cached (a tablet that had it open).
        for (key, how, lines) in [
            ("open", "opened in the page already open", &mut opens_lines),
            (
                "reload",
                "the page loaded again in the same browser (its files cached)",
                &mut reloads_lines,
            ),
        ] {
            let ms = num(l, &["page", &format!("{key}_median_ms")]);
            if ms.is_nan() {
                continue;
            }
            let line = format!(
                "{n} files: {how}, the first row on screen after {} ms (runs {})",
                fmt(ms),
                runs_list(&l["page"][format!("{key}_runs")], "")
            );
            summary.push_str(&format!("      ({line})\n"));
            lines.push(line);
            let ok = ms < GOAL_FIRST_ROWS_MS;
            goals.insert(
                format!("first_rows_{key}_{n}_ms"),
                json!({"goal_lt": GOAL_FIRST_ROWS_MS, "value": ms, "met": ok}),
            );
            if !ok {
                missed.push(format!(
                    "first rows of a {n}-file folder, {how}, after {} ms (goal < {GOAL_FIRST_ROWS_MS} ms)",
                    fmt(ms)
                ));
            }
        }
        if !page.is_nan() {
            let ok = page < GOAL_FIRST_ROWS_MS;
            goals.insert(
                format!("first_rows_{n}_ms"),
                json!({"goal_lt": GOAL_FIRST_ROWS_MS, "value": page, "met": ok}),
            );
            if !ok {
                missed.push(format!(
                    "first rows of a {n}-file folder after {} ms (goal < {GOAL_FIRST_ROWS_MS} ms)",
                    fmt(page)
                ));
            }
        }
    }
    // The same folders on Wi-Fi and on a slower tablet (tests/web/firstrows.mjs --wifi,
    // --cpu-slowdown 4), when the script ran them.
    let mut variant_lines = vec![];
    for l in &lists {
        let n = l["files"].as_u64().unwrap_or(0);
        for v in l["variants"].as_array().into_iter().flatten() {
            let line = format!(
                "{n} files, firstrows.mjs {}: the first row on screen after {} ms (runs {})",
                v["args"].as_str().unwrap_or("?"),
                fmt(num(v, &["page", "median_ms"])),
                runs_list(&v["page"]["runs"], ""),
            );
            summary.push_str(&format!("      ({line})\n"));
            variant_lines.push(line);
        }
    }
    if !variant_lines.is_empty() {
        md.push_str("\nThe same cold loads on Wi-Fi (each request 10 ms later, 40 Mbit/s: Chromium's network emulation) and on a tablet 4x slower than this machine (Chromium's CPU throttling):\n\n");
        for l in &variant_lines {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !opens_lines.is_empty() {
        md.push_str("\nThe folder opened from its parent in the page already open (no page load), as a tablet does:\n\n");
        for l in &opens_lines {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !reloads_lines.is_empty() {
        md.push_str("\nThe page loaded again in the same browser, as a tablet that had it open before meets it (its files from the cache, each asked again and answered 304 while unchanged):\n\n");
        for l in &reloads_lines {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !parts_lines.is_empty() {
        md.push_str("\nWhere the time went (medians; from the navigation's start):\n\n");
        for l in &parts_lines {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !browser_note.is_empty() {
        md.push_str(&format!("\n{browser_note}\n"));
        summary.push_str(&format!("    ({browser_note})\n"));
    }
    md.push_str(&format!(
        "\nGoal: first rows in under {GOAL_FIRST_ROWS_MS} ms at every size.\n\n"
    ));

    md.push_str("## Goals\n\n");
    if missed.is_empty() {
        md.push_str("All met.\n");
    } else {
        for m in &missed {
            md.push_str(&format!("- **missed**: {m}\n"));
        }
    }
    r["ratios"] = json!({
        "event_p95_over_put_p95": to_json_num(ws_ratio),
        "handoff": ratios_handoff,
        "first_rows": list_ratios,
    });
    r["goals"] = Value::Object(goals);
    // One line per section, compact within.
    let sections: Vec<String> = r
        .as_object()
        .ok_or("the input is not a JSON object")?
        .iter()
        .map(|(k, v)| format!(" {}: {v}", Value::from(k.as_str())))
        .collect();
    std::fs::write(&a.json_out, format!("{{\n{}\n}}\n", sections.join(",\n")))?;
    std::fs::write(&a.md_out, md)?;
    print!("{summary}");
    for m in &missed {
        println!("GOAL MISSED: {m}");
    }
    Ok(())
}
