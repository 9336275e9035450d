//! The LAN HTTP server: authentication, request hygiene, and dispatch to each user's WebDAV space.
//!
//! `dav_server` implements the protocol; this layer adds what it leaves to the embedder: HTTP Basic
//! authentication against the catalog, one lock table per user, refusal of paths and Destination
//! headers that try to leave the user's space, bounds on XML request bodies (size and nesting
//! depth, before any parser sees them), and the durability and hash response headers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use dav_server::davpath::DavPath;
use dav_server::memls::MemLs;
use dav_server::DavHandler;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use microcloud_accounts::Authenticator;
use microcloud_constants::{DAV_PREFIX, HEADER_BLAKE3, HEADER_DURABILITY};
use microcloud_store::{Store, User, UserId};
use tokio::net::TcpListener;

use crate::fs::UserFs;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Largest XML request body (PROPFIND, PROPPATCH, LOCK) accepted.
const MAX_XML_BODY: usize = 64 * 1024;
/// Deepest XML element nesting accepted; real clients send fewer than ten levels.
const MAX_XML_DEPTH: usize = 64;
/// argon2 verifications allowed at once (the rest wait).
const ARGON2_SLOTS: usize = 2;
/// Read buffer for GET responses.
const READ_BUF: usize = 256 * 1024;

/// Renders the Prometheus text exposition of the box's figures.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// Shared state of the LAN service.
pub struct LanService {
    /// argon2 checks run on a few dedicated threads: each takes ~19 MiB and a core for tens of
    /// milliseconds, so a flood of wrong passwords queues here instead of exhausting memory (on
    /// the shared blocking pool, every thread's malloc arena kept its own 19 MiB).
    argon2: std::sync::Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    metrics: Option<MetricsFn>,
    store: Store,
    auth: Arc<Authenticator>,
    handlers: Mutex<HashMap<UserId, DavHandler>>,
    activity: Mutex<std::collections::VecDeque<Activity>>,
}

/// One change made over the LAN, for the owner's dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Activity {
    /// When, in seconds since the epoch.
    pub time: u64,
    /// What happened, for people ("ann: PUT /photos/a.jpg").
    pub what: String,
}

/// Most recent changes remembered for the dashboard.
const ACTIVITY_MAX: usize = 50;

/// Something that answers HTTP requests: the LAN service alone, or the page wrapped around it.
pub trait Handle: Send + Sync + 'static {
    /// Answers one request from `peer`.
    fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> impl std::future::Future<Output = Response<Body>> + Send;
}

impl Handle for LanService {
    fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> impl std::future::Future<Output = Response<Body>> + Send {
        async move { LanService::handle(&self, req, peer).await }
    }
}

/// Serves HTTP/1.1 connections from `listener` with `service` until `shutdown` resolves.
pub async fn serve<H: Handle>(service: Arc<H>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    log::warn!("accept on {:?} failed: {e}", listener.local_addr().ok());
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let svc = service.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let svc = svc.clone();
                async move { Ok::<_, Infallible>(svc.handle(req, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log::debug!("connection from {peer}: {e}");
            }
        });
    }
}

impl LanService {
    /// A service over `store`.
    pub fn new(store: Store) -> Arc<LanService> {
        LanService::with_metrics(store, None)
    }

    /// A service over `store` that also answers `GET /metrics` (Prometheus text format; counts
    /// and states only, never a name of a file or a secret).
    pub fn with_metrics(store: Store, metrics: Option<MetricsFn>) -> Arc<LanService> {
        Arc::new(LanService {
            argon2: std::sync::Mutex::new(argon2_pool()),
            metrics,
            auth: Arc::new(Authenticator::new(store.clone())),
            store,
            handlers: Mutex::new(HashMap::new()),
            activity: Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// The store this service serves.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Recent changes made over the LAN, newest first.
    pub fn activity(&self) -> Vec<Activity> {
        self.activity.lock().unwrap().iter().rev().cloned().collect()
    }

    /// Remembers a change for the dashboard.
    pub fn record(&self, what: String) {
        let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut a = self.activity.lock().unwrap();
        if a.len() >= ACTIVITY_MAX {
            a.pop_front();
        }
        a.push_back(Activity { time, what });
    }

    fn handler(&self, user: &User) -> DavHandler {
        let mut map = self.handlers.lock().unwrap();
        map.entry(user.id)
            .or_insert_with(|| {
                DavHandler::builder()
                    .filesystem(Box::new(UserFs::new(self.store.clone(), user.id)))
                    .locksystem(MemLs::new())
                    .strip_prefix(DAV_PREFIX)
                    .read_buf_size(READ_BUF)
                    .build_handler()
            })
            .clone()
    }

    /// Serves connections from `listener` until `shutdown` resolves.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        serve(self, listener, shutdown).await
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if path == "/" {
            return text(StatusCode::OK, "microcloud gateway\nWebDAV: /dav/ (HTTP Basic authentication)\n");
        }
        if path == "/metrics" {
            if let Some(m) = &self.metrics {
                let m = m.clone();
                let body = tokio::task::spawn_blocking(move || m()).await.unwrap_or_default();
                let mut r = text(StatusCode::OK, &body);
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
                return r;
            }
        }
        if path != DAV_PREFIX && !path.starts_with(&format!("{DAV_PREFIX}/")) {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if let Err(why) = check_raw_path(&path) {
            log::info!("{peer}: refused path {path:?}: {why}");
            return text(StatusCode::BAD_REQUEST, &format!("bad path: {why}\n"));
        }
        let user = match self.authenticate(&req).await {
            Ok(u) => u,
            Err(resp) => {
                log::info!("{peer}: {} {path}: authentication failed", req.method());
                return resp;
            }
        };
        self.dav_as(&user, req, peer).await
    }

    /// Serves a WebDAV request under `/dav/` as `user`, who was authenticated by the caller
    /// (Basic credentials here, a session on the page). The same checks apply either way.
    pub async fn dav_as<B>(&self, user: &User, req: Request<B>, peer: SocketAddr) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_owned();
        if path != DAV_PREFIX && !path.starts_with(&format!("{DAV_PREFIX}/")) {
            return text(StatusCode::NOT_FOUND, "not found\n");
        }
        if let Err(why) = check_raw_path(&path) {
            log::info!("{peer}: refused path {path:?}: {why}");
            return text(StatusCode::BAD_REQUEST, &format!("bad path: {why}\n"));
        }
        if let Err(resp) = check_destination(&req) {
            return resp;
        }
        let method = req.method().clone();
        let (parts, body) = req.into_parts();
        let body: Body = if takes_xml(&method) {
            match read_xml_body(body).await {
                Ok(b) => Full::new(b).map_err(|never: Infallible| match never {}).boxed_unsync(),
                Err(resp) => return resp,
            }
        } else {
            body.map_err(|e| std::io::Error::other(e.into())).boxed_unsync()
        };
        let req = Request::from_parts(parts, body);
        let handler = self.handler(user);
        let mut resp = handler.handle(req).await.map(|b| b.boxed_unsync());
        if (method == Method::GET || method == Method::HEAD) && resp.status().is_success() {
            self.add_durability_headers(user, &path, resp.headers_mut());
        }
        if resp.status().is_server_error() {
            log::warn!("{peer}: {method} {path} ({}): {}", user.name, resp.status());
        } else {
            log::debug!("{peer}: {method} {path} ({}): {}", user.name, resp.status());
        }
        if resp.status().is_success() && !matches!(method.as_str(), "GET" | "HEAD" | "PROPFIND" | "OPTIONS" | "LOCK" | "UNLOCK") {
            let shown = percent_encoding::percent_decode_str(&path[DAV_PREFIX.len()..]).decode_utf8_lossy().into_owned();
            self.record(format!("{}: {method} {shown}", user.name));
        }
        resp
    }

    /// Checks a name and password with argon2 on the service's dedicated threads (a verified
    /// pair is remembered, so repeated checks are cheap).
    pub async fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, microcloud_accounts::AccountError> {
        if let Some(user) = self.auth.cached(name, password)? {
            return Ok(Some(user));
        }
        let auth = self.auth.clone();
        let (name, password) = (name.to_owned(), password.to_owned());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = tx.send(auth.authenticate(&name, &password));
        });
        let _ = self.argon2.lock().unwrap().send(job);
        rx.await.unwrap_or(Ok(None))
    }

    async fn authenticate(&self, req: &Request<Incoming>) -> Result<User, Response<Body>> {
        let unauthorized = || {
            let mut r = text(StatusCode::UNAUTHORIZED, "authentication required\n");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"microcloud\", charset=\"UTF-8\""));
            r
        };
        let Some((name, password)) = basic_credentials(req) else { return Err(unauthorized()) };
        match self.verify_password(&name, &password).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(unauthorized()),
            Err(e) => {
                log::error!("authentication: {e}");
                Err(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
            }
        }
    }

    fn add_durability_headers(&self, user: &User, path: &str, headers: &mut http::HeaderMap) {
        let Ok(mut dp) = DavPath::new(path) else { return };
        if dp.set_prefix(DAV_PREFIX).is_err() {
            return;
        }
        let Ok(p) = std::str::from_utf8(dp.as_bytes()) else { return };
        if let Ok(node) = self.store.lookup(user.id, p) {
            if node.is_dir {
                return;
            }
            headers.insert(HEADER_DURABILITY, HeaderValue::from_static(node.durability.as_str()));
            if let Some(h) = node.hash_hex().and_then(|h| HeaderValue::from_str(&h).ok()) {
                headers.insert(HEADER_BLAKE3, h);
            }
        }
    }
}

/// Starts the threads that run argon2 checks, and returns where to send them.
fn argon2_pool() -> std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>> {
    let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..ARGON2_SLOTS {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || loop {
                let job = rx.lock().unwrap().recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .expect("spawn argon2 thread");
    }
    tx
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())).map_err(|never: Infallible| match never {}).boxed_unsync());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn basic_credentials<B>(req: &Request<B>) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// Refuses request paths that try to leave the user's space or that no store name can hold:
/// `..` segments (plain or encoded), encoded slashes and backslashes, NUL bytes.
pub fn check_raw_path(path: &str) -> Result<(), &'static str> {
    for segment in path.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err("encoded slash in a path segment");
        }
        if lower.contains("%00") || segment.contains('\0') {
            return Err("NUL byte in path");
        }
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        if decoded == ".." || decoded == "." {
            return Err("relative path segment");
        }
    }
    Ok(())
}

/// COPY and MOVE may only name a destination on this server, inside `/dav/`.
fn check_destination<B>(req: &Request<B>) -> Result<(), Response<Body>> {
    let Some(dest) = req.headers().get("destination") else { return Ok(()) };
    let Ok(dest) = dest.to_str() else {
        return Err(text(StatusCode::BAD_REQUEST, "bad Destination header\n"));
    };
    let Ok(uri) = dest.parse::<http::Uri>() else {
        return Err(text(StatusCode::BAD_REQUEST, "bad Destination header\n"));
    };
    if let Some(authority) = uri.authority() {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !authority.as_str().eq_ignore_ascii_case(host) {
            return Err(text(StatusCode::BAD_GATEWAY, "Destination is on another server\n"));
        }
    }
    let path = uri.path();
    if path != DAV_PREFIX && !path.starts_with(&format!("{DAV_PREFIX}/")) {
        return Err(text(StatusCode::FORBIDDEN, "Destination is outside your space\n"));
    }
    if let Err(why) = check_raw_path(path) {
        return Err(text(StatusCode::BAD_REQUEST, &format!("bad Destination: {why}\n")));
    }
    Ok(())
}

fn takes_xml(m: &Method) -> bool {
    matches!(m.as_str(), "PROPFIND" | "PROPPATCH" | "LOCK" | "REPORT" | "MKCOL")
}

/// Reads an XML body within bounds, so that no parser ever sees an oversized or deeply nested one.
async fn read_xml_body<B>(body: B) -> Result<Bytes, Response<Body>>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collected = Limited::new(body, MAX_XML_BODY).collect().await;
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return Err(text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"));
        }
        Err(_) => return Err(text(StatusCode::BAD_REQUEST, "could not read the request body\n")),
    };
    if xml_depth(&bytes) > MAX_XML_DEPTH {
        return Err(text(StatusCode::BAD_REQUEST, "XML body nested too deeply\n"));
    }
    Ok(bytes)
}

/// Deepest element nesting of an XML document, by a tolerant scan (comments, PIs and CDATA are
/// skipped; malformed input is left for the real parser to refuse).
pub fn xml_depth(xml: &[u8]) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < xml.len() {
        if xml[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &xml[i..];
        if rest.starts_with(b"<!--") || rest.starts_with(b"<?") || rest.starts_with(b"<!") {
            let end: &[u8] = if rest.starts_with(b"<!--") { b"-->" } else if rest.starts_with(b"<![CDATA[") { b"]]>" } else { b">" };
            i += rest.windows(end.len()).position(|w| w == end).map(|p| p + end.len()).unwrap_or(rest.len());
            continue;
        }
        let close = rest.iter().position(|&c| c == b'>').unwrap_or(rest.len() - 1);
        let tag = &rest[..=close.min(rest.len() - 1)];
        if tag.starts_with(b"</") {
            depth = depth.saturating_sub(1);
        } else if !tag.ends_with(b"/>") {
            depth += 1;
            max = max.max(depth);
        }
        i += close + 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths() {
        assert!(check_raw_path("/dav/a/b.txt").is_ok());
        assert!(check_raw_path("/dav/a%20b").is_ok());
        assert!(check_raw_path("/dav/../etc/passwd").is_err());
        assert!(check_raw_path("/dav/%2e%2e/x").is_err());
        assert!(check_raw_path("/dav/a%2Fb").is_err());
        assert!(check_raw_path("/dav/a%5cb").is_err());
        assert!(check_raw_path("/dav/a%00b").is_err());
    }

    #[test]
    fn xml_depths() {
        assert_eq!(xml_depth(b"<?xml version=\"1.0\"?><a:propfind xmlns:a=\"DAV:\"><a:allprop/></a:propfind>"), 1);
        assert_eq!(xml_depth(b"<a><b><c></c></b></a>"), 3);
        let deep = "<a>".repeat(1000);
        assert_eq!(xml_depth(deep.as_bytes()), 1000);
        assert_eq!(xml_depth(b"<a><!-- <b><c> --></a>"), 1);
    }
}
