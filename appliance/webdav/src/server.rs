//! The LAN HTTP server: authentication, request hygiene, and dispatch to each user's WebDAV space.
//!
//! `dav_server` implements the protocol; this layer adds what it leaves to the embedder: HTTP Basic
//! authentication against the catalog (throttled per address and account), one bounded lock table
//! per user, the request checks of [`crate::hygiene`] (paths, Destination, XML bodies, Range and If
//! headers; a user's root folder is never deleted, moved or replaced), headers that keep user
//! content from running in the page's origin, and the durability and hash response headers.
//! Connection limits are [`crate::connections`]'.

use crate::quiet_log::QuietLog;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use dav_server::DavHandler;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited};
use microcloud_accounts::throttle::Throttle;
use microcloud_accounts::Authenticator;
use microcloud_constants::{DAV_PREFIX, HEADER_BLAKE3, HEADER_DURABILITY};
use microcloud_store::{DeviceId, Store, User, UserId};
use tokio::net::TcpListener;

use crate::fs::UserFs;
use crate::hygiene::{self, Refusal, MAX_XML_BODY};
use crate::locks::{BoundedLs, MAX_LOCKS_PER_USER};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

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
    /// Wrong passwords slow down their address (and the account, for addresses that fail).
    throttle: Throttle,
    /// One password check at a time per client address (see [`LanService::check_password`]).
    gates: Mutex<HashMap<IpAddr, Arc<tokio::sync::Mutex<()>>>>,
    handlers: Mutex<HashMap<UserId, (DavHandler, BoundedLs)>>,
    /// Refused requests are logged, within a budget.
    quiet: QuietLog,
    activity: Mutex<std::collections::VecDeque<Activity>>,
    /// When each device's last request was written to the catalog (at most once a minute).
    touched: Mutex<HashMap<DeviceId, Instant>>,
}

/// Who a WebDAV request acts for: a user, and the device whose password it carried.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// The device and its name, when the credential was a device password (or a device's page
    /// session).
    pub device: Option<(DeviceId, String)>,
}

impl Principal {
    /// How logs and the dashboard name who acted: `anna` or `anna (Anna's iPad)`.
    pub fn who(&self) -> String {
        match &self.device {
            Some((_, d)) => format!("{} ({})", self.user.name, microcloud_accounts::log_safe(d)),
            None => self.user.name.clone(),
        }
    }
}

/// How often a device's last-seen time and address are written down.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// What WebDAV Basic credentials turned out to be.
#[derive(Debug)]
pub enum DavCredential {
    /// A device password or the account password: who acts.
    Valid(Principal),
    /// The account password of a user who takes device passwords only on WebDAV.
    DevicesOnly,
    /// Neither.
    Wrong,
}

/// Why a password could not be checked.
#[derive(Debug)]
pub enum Checked {
    /// The address (or the account, for a failing address) must wait this long.
    Throttled(Duration),
    /// The catalog could not be read.
    Failed(microcloud_accounts::AccountError),
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
            throttle: Throttle::new(Default::default()),
            gates: Mutex::new(HashMap::new()),
            quiet: QuietLog::new("refused requests", Instant::now()),
            store,
            handlers: Mutex::new(HashMap::new()),
            activity: Mutex::new(std::collections::VecDeque::new()),
            touched: Mutex::new(HashMap::new()),
        })
    }

    /// The store this service serves.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Recent changes made over the LAN, newest first.
    pub fn activity(&self) -> Vec<Activity> {
        self.activity
            .lock()
            .unwrap()
            .iter()
            .rev()
            .cloned()
            .collect()
    }

    /// Remembers a change for the dashboard.
    pub fn record(&self, what: String) {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut a = self.activity.lock().unwrap();
        if a.len() >= ACTIVITY_MAX {
            a.pop_front();
        }
        a.push_back(Activity { time, what });
    }

    fn handler(&self, user: &User) -> (DavHandler, BoundedLs) {
        let mut map = self.handlers.lock().unwrap();
        map.entry(user.id)
            .or_insert_with(|| {
                let locks = BoundedLs::new();
                let handler = DavHandler::builder()
                    .filesystem(Box::new(UserFs::new(self.store.clone(), user.id)))
                    .locksystem(Box::new(locks.clone()))
                    .strip_prefix(DAV_PREFIX)
                    .read_buf_size(READ_BUF)
                    .build_handler();
                (handler, locks)
            })
            .clone()
    }

    /// The LAN service alone as a router: `/dav` and everything below it, `/metrics` (for an
    /// administrator's Basic credentials or the scrape token) and a plain `/`. The gateway
    /// composes its front door from [`LanService::handle`] instead.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let lan = self.clone();
        axum::Router::new().fallback(
            move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
                  req: axum::extract::Request| {
                let lan = lan.clone();
                async move { lan.handle(req, peer).await }
            },
        )
    }

    /// Serves connections from `listener` with [`LanService::router`] until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::connections::serve(self.router(), listener, shutdown).await
    }

    /// Answers one request from `peer`: `/dav` and below, `/metrics`, `/`.
    pub async fn handle<B>(&self, req: Request<B>, peer: SocketAddr) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_owned();
        if path == "/" {
            return text(
                StatusCode::OK,
                "microcloud gateway\nWebDAV: /dav/ (HTTP Basic authentication)\n",
            );
        }
        // The head apart from the body: the checks below borrow it across awaits, and a body
        // need not be Sync (axum's is not).
        let (parts, body) = req.into_parts();
        let head = Request::from_parts(parts, ());
        if path == "/metrics" && self.metrics.is_some() {
            return self.metrics_guarded(&head, peer).await;
        }
        if let Err(r) = hygiene::dav_path(&path) {
            if r.status != StatusCode::NOT_FOUND && self.quiet.allow() {
                log::info!("{peer}: refused path {path:?}: {}", r.why);
            }
            return refusal(&r);
        }
        let who = match self.authenticate(&head, peer).await {
            Ok(u) => u,
            Err(resp) => return resp,
        };
        let (parts, ()) = head.into_parts();
        self.dav_as(&who, Request::from_parts(parts, body), peer)
            .await
    }

    /// `/metrics` for an administrator's Basic credentials or the owner's scrape token (a Bearer
    /// token, see `microcloud_accounts::metrics_token`); 401 for anyone else.
    pub async fn metrics_guarded<B>(&self, req: &Request<B>, peer: SocketAddr) -> Response<Body> {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        if let Some(token) = bearer {
            let ip = peer.ip();
            if let Err(wait) = self.throttle.check(ip, "metrics-token") {
                return too_many(wait);
            }
            if microcloud_accounts::metrics_token::matches(self.store.dir(), &token) {
                self.throttle.succeed(ip, "metrics-token");
                return self.metrics_response().await;
            }
            self.throttle.fail(ip, "metrics-token");
            if self.quiet.allow() {
                log::info!("{peer}: /metrics with a wrong scrape token");
            }
            return unauthorized();
        }
        match self.authenticate(req, peer).await {
            Ok(who) if who.user.admin => self.metrics_response().await,
            Ok(who) => {
                if self.quiet.allow() {
                    log::info!(
                        "{peer}: /metrics refused to {}: administrators only",
                        who.who()
                    );
                }
                text(StatusCode::FORBIDDEN, "/metrics is for administrators (or the scrape token the owner sets on the page)\n")
            }
            Err(resp) => resp,
        }
    }

    /// The Prometheus text of the box's figures, for a caller that checked who asks.
    pub async fn metrics_response(&self) -> Response<Body> {
        let Some(m) = self.metrics.clone() else {
            return text(StatusCode::NOT_FOUND, "not found\n");
        };
        let body = tokio::task::spawn_blocking(move || m())
            .await
            .unwrap_or_default();
        let mut r = text(StatusCode::OK, &body);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// Serves a WebDAV request under `/dav/` as `user`, who was authenticated by the caller
    /// (Basic credentials here, a session on the page). The same checks apply either way.
    pub async fn dav_as<B>(
        &self,
        principal: &Principal,
        req: Request<B>,
        peer: SocketAddr,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut resp = self.dav_checked(principal, req, peer).await;
        // Nothing under /dav/ may run in this origin: a user's HTML or SVG opened by the
        // administrator would act with the administrator's session.
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }

    async fn dav_checked<B>(
        &self,
        principal: &Principal,
        req: Request<B>,
        peer: SocketAddr,
    ) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let raw_path = req.uri().path().to_owned();
        let method = req.method().clone();
        let user = &principal.user;
        let who = &principal.who();
        let store_path = match hygiene::dav_path(&raw_path) {
            Ok(p) => p,
            Err(r) => {
                if self.quiet.allow() {
                    log::info!("{peer}: {method} {raw_path:?} ({who}): refused: {}", r.why);
                }
                return refusal(&r);
            }
        };
        let root = store_path == "/";
        if root && matches!(method.as_str(), "DELETE" | "MOVE" | "COPY" | "PUT") {
            if self.quiet.allow() {
                log::info!("{peer}: {method} of the root folder ({who}): refused");
            }
            return text(
                StatusCode::FORBIDDEN,
                "your root folder cannot be deleted, moved, copied or written over\n",
            );
        }
        if let Some(dest) = req.headers().get("destination") {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let checked = dest.to_str().map_err(|_| Refusal {
                status: StatusCode::BAD_REQUEST,
                why: "bad Destination header: not text".into(),
            });
            if let Err(r) = checked.and_then(|d| hygiene::destination(d, host)) {
                if self.quiet.allow() {
                    log::info!("{peer}: {method} {raw_path:?} ({who}): refused: {}", r.why);
                }
                return refusal(&r);
            }
        }
        if let Some(v) = req.headers().get("if") {
            if v.to_str()
                .map_err(|_| ())
                .and_then(|v| hygiene::if_header(v).map_err(|_| ()))
                .is_err()
            {
                return text(StatusCode::BAD_REQUEST, "malformed If header\n");
            }
        }
        let (handler, locks) = self.handler(user);
        if method.as_str() == "LOCK"
            && !req.headers().contains_key("if")
            && locks.held().await >= MAX_LOCKS_PER_USER
        {
            if self.quiet.allow() {
                log::info!(
                    "{peer}: LOCK {raw_path:?} ({who}): refused, {MAX_LOCKS_PER_USER} locks held"
                );
            }
            let mut r = text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("you hold {MAX_LOCKS_PER_USER} locks already: unlock some, or wait for them to expire\n"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        let (mut parts, body) = req.into_parts();
        if matches!(method, Method::GET | Method::HEAD) {
            if let Some(range) = parts.headers.get(header::RANGE).cloned() {
                let node = self
                    .store
                    .lookup(user.id, &store_path)
                    .ok()
                    .filter(|n| !n.is_dir);
                match (range.to_str().ok(), node) {
                    (Some(v), Some(node)) => match hygiene::ranges(v, node.size) {
                        Ok(Some(r)) => {
                            let v = HeaderValue::from_str(&hygiene::range_header(&r))
                                .expect("digits, '-' and ','");
                            parts.headers.insert(header::RANGE, v);
                        }
                        Ok(None) => {
                            parts.headers.remove(header::RANGE);
                        }
                        Err(r) => {
                            let mut resp = refusal(&r);
                            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", node.size))
                            {
                                resp.headers_mut().insert(header::CONTENT_RANGE, v);
                            }
                            return resp;
                        }
                    },
                    _ => {
                        parts.headers.remove(header::RANGE);
                    }
                }
            }
        }
        let body: Body = if takes_xml(&method) {
            match read_xml_body(&method, body).await {
                Ok(b) => Full::new(b)
                    .map_err(|never: Infallible| match never {})
                    .boxed_unsync(),
                Err(r) => {
                    if self.quiet.allow() {
                        log::info!("{peer}: {method} {raw_path:?} ({who}): refused: {}", r.why);
                    }
                    return refusal(&r);
                }
            }
        } else {
            body.map_err(|e| std::io::Error::other(e.into()))
                .boxed_unsync()
        };
        let req = Request::from_parts(parts, body);
        // The device rides along with each request, so that what it writes (and the versions
        // that content later becomes) says which tablet wrote it.
        let config = dav_server::DavConfig::new().filesystem(Box::new(UserFs::with_device(
            self.store.clone(),
            user.id,
            principal.device.as_ref().map(|(_, name)| name.clone()),
        )));
        let mut resp = handler
            .handle_with(config, req)
            .await
            .map(|b| b.boxed_unsync());
        if (method == Method::GET || method == Method::HEAD) && resp.status().is_success() {
            self.add_durability_headers(user, &store_path, resp.headers_mut());
            let passive = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(hygiene::passive_type);
            if !passive {
                resp.headers_mut()
                    .insert(header::CONTENT_DISPOSITION, attachment(&store_path));
            }
        }
        if resp.status().is_server_error() {
            log::warn!("{peer}: {method} {raw_path} ({who}): {}", resp.status());
        } else {
            log::debug!("{peer}: {method} {raw_path} ({who}): {}", resp.status());
        }
        if resp.status().is_success()
            && !matches!(
                method.as_str(),
                "GET" | "HEAD" | "PROPFIND" | "OPTIONS" | "LOCK" | "UNLOCK"
            )
        {
            self.record(format!("{who}: {method} {store_path}"));
        }
        resp
    }

    /// Checks a name and password with argon2 on the service's dedicated threads (a verified
    /// pair is remembered, so repeated checks are cheap).
    pub async fn verify_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, microcloud_accounts::AccountError> {
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

    async fn authenticate<B>(
        &self,
        req: &Request<B>,
        peer: SocketAddr,
    ) -> Result<Principal, Response<Body>> {
        let Some((name, password)) = basic_credentials(req) else {
            return Err(unauthorized());
        };
        match self
            .check_dav_credentials(peer.ip(), &name, &password)
            .await
        {
            Ok(DavCredential::Valid(p)) => {
                if let Some((id, _)) = &p.device {
                    self.touch_device(*id, peer, req.headers());
                }
                Ok(p)
            }
            Ok(DavCredential::DevicesOnly) => {
                if self.quiet.allow() {
                    log::info!(
                        "{peer}: {} {}: account password of {}, who uses device passwords only",
                        req.method(),
                        req.uri().path(),
                        microcloud_accounts::log_safe(&name)
                    );
                }
                let mut resp = text(
                    StatusCode::UNAUTHORIZED,
                    "this account takes device passwords only for WebDAV: \
                     add this device on the page (Devices) and use the password it shows\n",
                );
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"microcloud\", charset=\"UTF-8\""),
                );
                Err(resp)
            }
            Ok(DavCredential::Wrong) => {
                if self.quiet.allow() {
                    log::info!(
                        "{peer}: {} {}: wrong name or password",
                        req.method(),
                        req.uri().path()
                    );
                }
                Err(unauthorized())
            }
            Err(Checked::Throttled(wait)) => Err(too_many(wait)),
            Err(Checked::Failed(e)) => {
                log::error!("authentication: {e}");
                Err(text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"))
            }
        }
    }

    /// Checks WebDAV Basic credentials: a device password of the user (a digest lookup), or the
    /// account password unless the user takes device passwords only. Under the same throttle as
    /// [`LanService::check_password`].
    pub async fn check_dav_credentials(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<DavCredential, Checked> {
        if microcloud_accounts::devices::looks_like_device_password(password) {
            self.throttle.check(ip, name).map_err(Checked::Throttled)?;
            let fail = |e: microcloud_store::StoreError| Checked::Failed(e.into());
            if let Some(user) = self.store.user(name).map_err(fail)? {
                if let Some(device) =
                    microcloud_accounts::devices::find(&self.store, &user, password)
                        .map_err(fail)?
                {
                    self.throttle.succeed(ip, name);
                    return Ok(DavCredential::Valid(Principal {
                        user,
                        device: Some(device),
                    }));
                }
            }
            // Not a device's: an account password may have this shape too.
        }
        match self.check_password(ip, name, password).await? {
            Some(user) if user.devices_only => Ok(DavCredential::DevicesOnly),
            Some(user) => Ok(DavCredential::Valid(Principal { user, device: None })),
            None => Ok(DavCredential::Wrong),
        }
    }

    /// Writes down a device's request (time, address, user agent), at most once a minute (WebDAV
    /// here; the page's device sessions through the page).
    pub fn touch_device(&self, id: DeviceId, peer: SocketAddr, headers: &http::HeaderMap) {
        let now = Instant::now();
        {
            let mut touched = self.touched.lock().unwrap();
            if touched
                .get(&id)
                .is_some_and(|t| now.duration_since(*t) < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() > 10_000 {
                touched.clear();
            }
            touched.insert(id, now);
        }
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(200).collect::<String>());
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_device(id, peer.ip().to_string(), agent).await {
                log::warn!("recording device {}'s last request: {e}", id.0);
            }
        });
    }

    /// Counts a credential from `ip` that is wrong on its face (too long to be anyone's), under
    /// the same throttle as [`LanService::check_password`]; `Err(wait)` when the address must
    /// wait anyway.
    pub fn count_wrong_password(&self, ip: IpAddr, name: &str) -> Result<(), Duration> {
        self.throttle.check(ip, name)?;
        self.throttle.fail(ip, name);
        Ok(())
    }

    /// Checks a name and password from `ip` under the one rule against guessing (the throttle):
    /// an address that has been failing waits, and one address's checks run one at a time, so
    /// that a hundred guesses sent at once count as a hundred and not as one.
    pub async fn check_password(
        &self,
        ip: IpAddr,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, Checked> {
        self.throttle.check(ip, name).map_err(Checked::Throttled)?;
        // A pair already verified costs a hash lookup; throttled addresses never get this far,
        // so the cache is no oracle for guesses.
        if let Some(user) = self.auth.cached(name, password).map_err(Checked::Failed)? {
            self.throttle.succeed(ip, name);
            return Ok(Some(user));
        }
        let gate = {
            let mut gates = self.gates.lock().unwrap();
            gates
                .entry(microcloud_accounts::throttle::client_key(ip))
                .or_default()
                .clone()
        };
        let result = async {
            let _turn = gate.lock().await;
            self.throttle.check(ip, name).map_err(Checked::Throttled)?;
            let found = self
                .verify_password(name, password)
                .await
                .map_err(Checked::Failed)?;
            match &found {
                Some(_) => self.throttle.succeed(ip, name),
                None => self.throttle.fail(ip, name),
            }
            Ok(found)
        }
        .await;
        let mut gates = self.gates.lock().unwrap();
        let key = microcloud_accounts::throttle::client_key(ip);
        if gates.get(&key).is_some_and(|g| Arc::strong_count(g) <= 2) {
            gates.remove(&key);
        }
        result
    }

    fn add_durability_headers(&self, user: &User, path: &str, headers: &mut http::HeaderMap) {
        if let Ok(node) = self.store.lookup(user.id, path) {
            if node.is_dir {
                return;
            }
            headers.insert(
                HEADER_DURABILITY,
                HeaderValue::from_static(node.durability.as_str()),
            );
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
    let mut r = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never: Infallible| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn basic_credentials<B>(req: &Request<B>) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

fn takes_xml(m: &Method) -> bool {
    matches!(
        m.as_str(),
        "PROPFIND" | "PROPPATCH" | "LOCK" | "REPORT" | "MKCOL"
    )
}

/// MKCOL with a body (extended MKCOL, RFC 5689) is not supported: 415, as RFC 4918 9.3 asks.
fn mkcol_body(method: &Method, body: &[u8]) -> Option<Refusal> {
    (method.as_str() == "MKCOL" && !body.is_empty()).then(|| Refusal {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        why: "MKCOL with a body is not supported".into(),
    })
}

/// Reads an XML body within its size bound and hands it to [`hygiene::xml_body`], whose
/// canonical form is all the WebDAV library ever parses.
async fn read_xml_body<B>(method: &Method, body: B) -> Result<Bytes, Refusal>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collected = Limited::new(body, MAX_XML_BODY).collect().await;
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                why: "the XML body is larger than 64 KiB".into(),
            });
        }
        Err(_) => {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                why: "could not read the request body".into(),
            })
        }
    };
    if let Some(r) = mkcol_body(method, &bytes) {
        return Err(r);
    }
    hygiene::xml_body(method.as_str(), &bytes)
}

fn refusal(r: &Refusal) -> Response<Body> {
    text(r.status, &format!("{}\n", r.why))
}

fn unauthorized() -> Response<Body> {
    let mut r = text(StatusCode::UNAUTHORIZED, "authentication required\n");
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"microcloud\", charset=\"UTF-8\""),
    );
    r
}

fn too_many(wait: Duration) -> Response<Body> {
    let secs = microcloud_accounts::throttle::wait_secs(wait);
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("too many wrong passwords from this address: wait {secs} s\n"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `Content-Disposition: attachment` with the file's name (RFC 8187 encoding).
pub fn attachment(store_path: &str) -> HeaderValue {
    const ATTR: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'!')
        .remove(b'#')
        .remove(b'$')
        .remove(b'&')
        .remove(b'+')
        .remove(b'-')
        .remove(b'.')
        .remove(b'^')
        .remove(b'_')
        .remove(b'`')
        .remove(b'|')
        .remove(b'~');
    let name = store_path.rsplit('/').next().unwrap_or("");
    let encoded = percent_encoding::utf8_percent_encode(name, ATTR);
    HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}"))
        .unwrap_or(HeaderValue::from_static("attachment"))
}
