//! The JSON API behind the page (see `API.md`), and the page's own files.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use microcloud_accounts::{log_safe, AccountError};
use microcloud_remotes::{Credentials, RemoteConfig, RemoteKind};
use microcloud_store::{StoreError, User};
use microcloud_uplink::DestinationError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sessions::{self, Session};
use crate::{assets, Peer, Web};

type AppState = State<Arc<Web>>;

/// Largest JSON request body.
const MAX_BODY: usize = 64 * 1024;
/// How much of an oversized body is read and dropped so that the client gets its 413.
const MAX_DRAIN: usize = 1024 * 1024;

/// Longest a destination test may take before the page is told it did not answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/api/state", get(state))
        .route("/api/onboarding", post(onboarding))
        .route("/api/session", post(sign_in).delete(sign_out))
        .route("/api/files", get(files))
        .route("/api/status", get(status))
        .route("/api/destinations", get(destinations).post(add_destination))
        .route("/api/destinations/test", post(test_destination))
        .route("/api/destinations/{name}", delete(remove_destination))
        .route("/api/users", get(users).post(add_user))
        .route("/api/users/{name}/password", put(set_password))
        .route("/api/ssh-keys", get(ssh_keys).post(add_ssh_key))
        .route("/api/ssh-keys/{id}", delete(remove_ssh_key))
        .route("/api/system", get(crate::system::get))
        .route("/api/system/hostname", put(crate::system::set_hostname))
        .route("/api/system/timezone", put(crate::system::set_timezone))
        .route("/api/system/{action}", post(crate::system::power))
        .route(
            "/api/metrics-token",
            put(set_metrics_token).delete(remove_metrics_token),
        )
        .fallback(not_found)
        // No form needs more; uploads go through /api/dav/, which streams.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

/// Headers on everything the page serves: no framing, no sniffing, no referrer, scripts and
/// styles from this origin only, and no caching of API answers.
async fn security_headers(mut resp: Response) -> Response {
    add_security_headers(resp.headers_mut());
    resp
}

/// The page's security headers, for answers made outside the router too (`/metrics`).
pub(crate) fn add_security_headers(h: &mut http::HeaderMap) {
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

// ---- errors ------------------------------------------------------------------------------------

/// An API error: a status and a sentence for people, optionally naming the form field at fault.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<&'static str>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    fn field(mut self, f: &'static str) -> ApiError {
        self.field = Some(f);
        self
    }
    fn bad(message: impl Into<String>, field: &'static str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message).field(field)
    }
    fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
        log::error!("{what}: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed on the box; its journal has the details"),
        )
    }
    fn too_many(wait: Duration) -> ApiError {
        let wait = microcloud_accounts::throttle::wait_secs(wait);
        ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong tries from this address: wait {wait} s"),
            )
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.message, "field": self.field})),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::InvalidName { .. } => ApiError::bad(e.to_string(), "name"),
            StoreError::UserExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string()).field("name")
            }
            StoreError::NoSuchUser { .. } | StoreError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, e.to_string())
            }
            StoreError::NotDir { .. } => ApiError::bad(e.to_string(), "path"),
            StoreError::AdminExists => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            e => ApiError::internal("the catalog", e),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::WeakPassword(_) => ApiError::bad(e.to_string(), "password"),
            AccountError::WrongSetupCode => ApiError::bad(e.to_string(), "code"),
            AccountError::BadSshKey(_) => ApiError::bad(e.to_string(), "key"),
            AccountError::NoSuchKey(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            AccountError::Store(s) => s.into(),
            e => ApiError::internal("accounts", e),
        }
    }
}

impl From<DestinationError> for ApiError {
    fn from(e: DestinationError) -> ApiError {
        match e {
            DestinationError::Exists { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string()).field("name")
            }
            DestinationError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, e.to_string())
            }
            DestinationError::InvalidName { .. } => ApiError::bad(e.to_string(), "name"),
            DestinationError::Probe { .. } | DestinationError::Remote(_) => {
                ApiError::bad(e.to_string(), "test")
            }
            DestinationError::Store(s) => s.into(),
            e => ApiError::internal("destinations", e),
        }
    }
}

/// What a handler returns.
pub type ApiResult<T> = std::result::Result<T, ApiError>;

/// A JSON body, refused with a JSON error (not axum's plain text) when it does not parse.
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<Arc<Web>> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, _state: &Arc<Web>) -> ApiResult<Self> {
        use http_body_util::BodyExt;
        // A body over the bound is read on (and dropped) up to MAX_DRAIN before the 413 goes
        // out: answering and closing while the client still writes makes it see a broken pipe
        // instead of the reason.
        let mut body = req.into_body();
        let (mut kept, mut total) = (bytes::BytesMut::new(), 0usize);
        let unreadable = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        };
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| unreadable())?.into_data() else {
                continue;
            };
            total += data.len();
            if total <= MAX_BODY {
                kept.extend_from_slice(&data);
            } else if total > MAX_DRAIN {
                break;
            }
        }
        if total > MAX_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {} KiB", MAX_BODY / 1024),
            ));
        }
        serde_json::from_slice(&kept)
            .map(Body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))
    }
}

// ---- sessions ----------------------------------------------------------------------------------

/// A signed-in user; a change (any method but GET/HEAD) also needs the session's CSRF token.
pub struct Signed {
    pub session: Session,
    pub user: User,
}

/// A signed-in administrator.
pub struct Admin(pub Signed);

/// Checks the session cookie and, for changes, the CSRF header. Shared by the API's extractors
/// and the `/api/dav/` bridge.
pub fn check_session(web: &Web, method: &Method, headers: &http::HeaderMap) -> ApiResult<Signed> {
    if !web.store.has_admin()? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the box is not set up yet: enter the setup code first",
        ));
    }
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "sign in first");
    let token = sessions::cookie_token(headers).ok_or_else(unauthorized)?;
    let session = web.sessions.get(&token).ok_or_else(unauthorized)?;
    let user = web
        .store
        .user(&session.name)?
        .filter(|u| u.id == session.user)
        .ok_or_else(unauthorized)?;
    if sessions::password_tag(&user.password_hash) != session.password_tag {
        web.sessions.remove(&token);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "your password changed: sign in again",
        ));
    }
    if !matches!(*method, Method::GET | Method::HEAD) {
        let given = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !sessions::same_secret(given, &session.csrf) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "missing or stale CSRF token: reload the page",
            ));
        }
    }
    Ok(Signed { session, user })
}

impl FromRequestParts<Arc<Web>> for Signed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> ApiResult<Self> {
        check_session(web, &parts.method, &parts.headers)
    }
}

impl FromRequestParts<Arc<Web>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> ApiResult<Self> {
        let s = check_session(web, &parts.method, &parts.headers)?;
        if !s.user.admin {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "administrators only"));
        }
        Ok(Admin(s))
    }
}

fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

// ---- the page ----------------------------------------------------------------------------------

async fn index(State(web): AppState) -> Response {
    asset_response(&web, "index.html")
}

async fn asset(State(web): AppState, Path(name): Path<String>) -> Response {
    if name == "index.html" {
        return not_found().await.into_response();
    }
    asset_response(&web, &name)
}

fn asset_response(web: &Web, name: &str) -> Response {
    match assets::get(web.options.assets_dir.as_deref(), name) {
        Some((bytes, kind)) => {
            let mut r = bytes.into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        None => ApiError::new(StatusCode::NOT_FOUND, "no such page").into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page")
}

// ---- state, onboarding, sign-in ----------------------------------------------------------------

async fn state(
    State(web): AppState,
    headers: http::HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let onboarding = !web.store.has_admin()?;
    let signed = if onboarding {
        None
    } else {
        check_session(&web, &Method::GET, &headers).ok()
    };
    Ok(Json(json!({
        "onboarding": onboarding,
        "appliance": web.options.appliance,
        "hostname": crate::system::hostname(web.options.appliance).await,
        "user": signed.as_ref().map(|s| json!({"name": s.user.name, "admin": s.user.admin})),
        "csrf": signed.as_ref().map(|s| s.session.csrf.clone()),
    })))
}

/// The account wrong setup codes are counted under.
const SETUP_ACCOUNT: &str = "setup";

#[derive(Deserialize)]
struct OnboardingBody {
    code: String,
    name: String,
    password: String,
    #[serde(default)]
    ssh_key: String,
}

async fn onboarding(
    State(web): AppState,
    Extension(Peer(client)): Extension<Peer>,
    Body(b): Body<OnboardingBody>,
) -> ApiResult<Response> {
    let client = client.ip();
    let already = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "the box is already set up: sign in instead",
        )
    };
    if web.store.has_admin()? {
        return Err(already());
    }
    web.setup_throttle
        .check(client, SETUP_ACCOUNT)
        .map_err(ApiError::too_many)?;
    let _one_at_a_time = web.onboarding.lock().await;
    if web.store.has_admin()? {
        return Err(already());
    }
    let store = web.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        let o = microcloud_accounts::setup::Onboarding {
            code: &b.code,
            name: &b.name,
            password: &b.password,
            ssh_key: &b.ssh_key,
        };
        microcloud_accounts::setup::onboard(&store, &o)
    })
    .await
    .map_err(|e| ApiError::internal("onboarding", e))?;
    let user = match result {
        Ok(u) => u,
        Err(AccountError::WrongSetupCode) => {
            web.setup_throttle.fail(client, SETUP_ACCOUNT);
            log::warn!("{client}: wrong setup code");
            return Err(AccountError::WrongSetupCode.into());
        }
        Err(AccountError::BadSshKey(why)) => {
            return Err(ApiError::bad(format!("ssh key refused: {why}"), "ssh_key"))
        }
        Err(e) => return Err(e.into()),
    };
    web.setup_throttle.succeed(client, SETUP_ACCOUNT);
    log::info!(
        "{client}: onboarding done: administrator {} created; the setup code is retired",
        log_safe(&user.name)
    );
    web.lan
        .record(format!("setup done: administrator {} created", user.name));
    let token = web
        .sessions
        .create(user.id, &user.name, &user.password_hash);
    Ok(with_cookie(
        Json(json!({"ok": true})).into_response(),
        sessions::set_cookie(&token),
    ))
}

#[derive(Deserialize)]
struct SignInBody {
    name: String,
    password: String,
}

async fn sign_in(
    State(web): AppState,
    Extension(Peer(client)): Extension<Peer>,
    Body(b): Body<SignInBody>,
) -> ApiResult<Response> {
    let client = client.ip();
    if !web.store.has_admin()? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the box is not set up yet: enter the setup code first",
        ));
    }
    // The same throttle and the same one-check-at-a-time per address as WebDAV's Basic
    // credentials: guesses on the page and over WebDAV count together.
    // No name or password is that long: wrong without an argon2 check, but counted like any
    // other wrong try.
    let user = if b.name.len() > 64 || b.password.len() > 1024 {
        web.lan
            .count_wrong_password(client, &b.name)
            .map_err(ApiError::too_many)?;
        None
    } else {
        match web.lan.check_password(client, &b.name, &b.password).await {
            Ok(u) => u,
            Err(microcloud_webdav::server::Checked::Throttled(wait)) => {
                log::debug!("{client}: sign-in refused: too many wrong tries");
                return Err(ApiError::too_many(wait));
            }
            Err(microcloud_webdav::server::Checked::Failed(e)) => return Err(e.into()),
        }
    };
    match user {
        Some(user) => {
            log::info!("{client}: {} signed in", log_safe(&user.name));
            let token = web
                .sessions
                .create(user.id, &user.name, &user.password_hash);
            Ok(with_cookie(
                Json(json!({"ok": true})).into_response(),
                sessions::set_cookie(&token),
            ))
        }
        None => {
            // What was typed as a name is sometimes a password: only an existing user's name is
            // logged.
            let known = b.name.len() <= 64 && web.store.user(&b.name)?.is_some();
            if known {
                log::info!("{client}: failed sign-in as {}", log_safe(&b.name));
            } else {
                log::info!("{client}: failed sign-in as an unknown user");
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong name or password",
            ))
        }
    }
}

async fn sign_out(State(web): AppState, signed: Signed, headers: http::HeaderMap) -> Response {
    if let Some(t) = sessions::cookie_token(&headers) {
        web.sessions.remove(&t);
    }
    log::info!("{} signed out", log_safe(&signed.user.name));
    with_cookie(
        Json(json!({"ok": true})).into_response(),
        sessions::clear_cookie(),
    )
}

// ---- files -------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct PathQuery {
    #[serde(default)]
    path: String,
}

#[derive(Serialize)]
struct Entry {
    name: String,
    dir: bool,
    size: u64,
    modified: i64,
    durability: Option<&'static str>,
}

async fn files(
    State(web): AppState,
    signed: Signed,
    Query(q): Query<PathQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = if q.path.is_empty() {
        "/".to_owned()
    } else {
        q.path
    };
    if path.split('/').any(|s| s == ".." || s == ".") || path.contains('\0') {
        return Err(ApiError::bad("bad path", "path"));
    }
    let mut nodes = web.store.list(signed.user.id, &path)?;
    nodes.sort_by(|a, b| b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(&b.name)));
    let entries: Vec<Entry> = nodes
        .into_iter()
        .map(|n| Entry {
            dir: n.is_dir,
            size: n.size,
            modified: n.mtime_ns / 1_000_000_000,
            durability: (!n.is_dir).then(|| n.durability.as_str()),
            name: n.name,
        })
        .collect();
    Ok(Json(json!({"path": path, "entries": entries})))
}

/// `/api/dav/...`: the user's WebDAV space with the page's session instead of Basic credentials.
/// Files come back as attachments or sandboxed, so that an uploaded HTML file never runs as the
/// page.
pub async fn dav(
    web: &Arc<Web>,
    req: http::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> http::Response<crate::Body> {
    let signed = match check_session(web, req.method(), req.headers()) {
        Ok(s) => s,
        Err(e) => return crate::to_server_body(security_headers(e.into_response()).await),
    };
    let download = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "download=1"));
    let rest = &req.uri().path()["/api/dav".len()..];
    let target = format!(
        "{}{}",
        microcloud_constants::DAV_PREFIX,
        if rest.is_empty() { "/" } else { rest }
    );
    let name = rest.rsplit('/').next().unwrap_or("").to_owned();
    let (mut parts, body) = req.into_parts();
    parts.uri = match target.parse() {
        Ok(u) => u,
        Err(_) => return crate::to_server_body(ApiError::bad("bad path", "path").into_response()),
    };
    let method = parts.method.clone();
    let mut resp = web
        .lan
        .dav_as(&signed.user, http::Request::from_parts(parts, body), peer)
        .await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if download && method == Method::GET && !name.is_empty() {
        // RFC 8187: the name as UTF-8, with everything but attr-chars percent-encoded.
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
        let decoded = percent_encoding::percent_decode_str(&name).decode_utf8_lossy();
        let encoded = percent_encoding::utf8_percent_encode(&decoded, ATTR);
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    resp
}

// ---- dashboard ---------------------------------------------------------------------------------

async fn status(State(web): AppState, _admin: Admin) -> ApiResult<Json<serde_json::Value>> {
    let web2 = web.clone();
    let (stats, uplink) = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let stats = web2.store.stats()?;
        let uplink = microcloud_uplink::status::read(web2.store.dir())
            .map_err(|e| ApiError::internal("uplink status", e))?;
        Ok((stats, uplink))
    })
    .await
    .map_err(|e| ApiError::internal("status", e))??;
    let frac = |n: u64| {
        if stats.cache_limit == 0 {
            0.0
        } else {
            n as f64 / stats.cache_limit as f64
        }
    };
    Ok(Json(json!({
        "files": stats.files,
        "bytes": stats.bytes,
        "dirty_bytes": stats.dirty_bytes,
        "cache_limit": stats.cache_limit,
        "cache_used_fraction": frac(web.store.used_bytes()),
        "dirty_fraction": frac(stats.dirty_bytes),
        "destinations": uplink.destinations,
        "activity": web.lan.activity().into_iter().take(20).collect::<Vec<_>>(),
    })))
}

// ---- destinations ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct DestinationBody {
    name: String,
    kind: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    path_style: bool,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key: String,
    #[serde(default)]
    path: String,
}

impl DestinationBody {
    /// The destination's configuration and credentials, with every field checked.
    fn resolve(self) -> ApiResult<(RemoteConfig, Option<Credentials>)> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(ApiError::bad("give the destination a name", "name"));
        }
        match self.kind.as_str() {
            "s3" => {
                let endpoint = self.endpoint.trim().trim_end_matches('/').to_owned();
                let uri: http::Uri = endpoint
                    .parse()
                    .map_err(|_| ApiError::bad("the endpoint is not a URL", "endpoint"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(ApiError::bad("the endpoint must be an http:// or https:// URL, e.g. https://s3.eu-west-1.amazonaws.com", "endpoint"));
                }
                let bucket = self.bucket.trim().to_owned();
                if bucket.len() < 3
                    || bucket.len() > 63
                    || !bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
                {
                    return Err(ApiError::bad(
                        "a bucket name has 3-63 lowercase letters, digits, '-' or '.'",
                        "bucket",
                    ));
                }
                if self.access_key_id.trim().is_empty() {
                    return Err(ApiError::bad("give the access key id", "access_key_id"));
                }
                if self.secret_access_key.trim().is_empty() {
                    return Err(ApiError::bad(
                        "give the secret access key",
                        "secret_access_key",
                    ));
                }
                let region = if self.region.trim().is_empty() {
                    "us-east-1".to_owned()
                } else {
                    self.region.trim().to_owned()
                };
                let kind = RemoteKind::S3 {
                    endpoint,
                    region,
                    bucket,
                    prefix: self.prefix.trim().trim_matches('/').to_owned(),
                    path_style: self.path_style,
                };
                let creds = Credentials {
                    access_key_id: self.access_key_id.trim().to_owned(),
                    secret_access_key: self.secret_access_key.trim().to_owned(),
                };
                Ok((RemoteConfig { name, kind }, Some(creds)))
            }
            "dir" => {
                let path = std::path::PathBuf::from(self.path.trim());
                if !path.is_absolute() {
                    return Err(ApiError::bad(
                        "give the directory's absolute path, e.g. /media/backup",
                        "path",
                    ));
                }
                Ok((
                    RemoteConfig {
                        name,
                        kind: RemoteKind::Dir { path },
                    },
                    None,
                ))
            }
            _ => Err(ApiError::bad("the kind is s3 or dir", "kind")),
        }
    }
}

async fn destinations(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let list = microcloud_uplink::destinations::list(&web.store)?;
    Ok(Json(
        list.into_iter()
            .map(|d| match d.config.kind {
                RemoteKind::S3 { endpoint, region, bucket, prefix, path_style } => json!({
                    "name": d.name, "kind": "s3", "endpoint": endpoint, "region": region, "bucket": bucket,
                    "prefix": prefix, "path_style": path_style, "path": null,
                }),
                RemoteKind::Dir { path } => json!({
                    "name": d.name, "kind": "dir", "endpoint": null, "region": null, "bucket": null,
                    "prefix": null, "path_style": null, "path": path,
                }),
            })
            .collect(),
    ))
}

async fn probe(config: RemoteConfig, creds: Option<Credentials>) -> ApiResult<()> {
    match tokio::time::timeout(
        PROBE_TIMEOUT,
        microcloud_uplink::destinations::test(config, creds),
    )
    .await
    {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::bad(
            format!(
                "the destination did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            "test",
        )),
    }
}

async fn test_destination(
    State(_web): AppState,
    _admin: Admin,
    Body(b): Body<DestinationBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let (config, creds) = b.resolve()?;
    let name = config.name.clone();
    probe(config, creds).await?;
    Ok(Json(
        json!({"ok": true, "message": format!("{name} works: a test object was written, read back and deleted")}),
    ))
}

async fn add_destination(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<DestinationBody>,
) -> ApiResult<Response> {
    let (config, creds) = b.resolve()?;
    if microcloud_uplink::destinations::list(&web.store)?
        .iter()
        .any(|d| d.name == config.name)
    {
        return Err(DestinationError::Exists { name: config.name }.into());
    }
    probe(config.clone(), creds.clone()).await?;
    let d = microcloud_uplink::destinations::add(&web.store, config, creds, false).await?;
    log::info!(
        "{} added destination {}",
        log_safe(&s.user.name),
        log_safe(&d.name)
    );
    web.lan
        .record(format!("{}: added destination {}", s.user.name, d.name));
    Ok((StatusCode::CREATED, Json(json!({"ok": true}))).into_response())
}

async fn remove_destination(
    State(web): AppState,
    Admin(s): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    microcloud_uplink::destinations::remove(&web.store, &name).await?;
    log::info!(
        "{} removed destination {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    web.lan
        .record(format!("{}: removed destination {name}", s.user.name));
    Ok(Json(json!({"ok": true})))
}

// ---- users -------------------------------------------------------------------------------------

async fn users(State(web): AppState, _admin: Admin) -> ApiResult<Json<Vec<serde_json::Value>>> {
    Ok(Json(
        web.store
            .users()?
            .into_iter()
            .map(|u| json!({"name": u.name, "admin": u.admin}))
            .collect(),
    ))
}

#[derive(Deserialize)]
struct UserBody {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn add_user(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<UserBody>,
) -> ApiResult<Response> {
    let store = web.store.clone();
    let (name, admin) = (b.name.clone(), b.admin);
    tokio::task::spawn_blocking(move || {
        microcloud_accounts::add_user(&store, &b.name, &b.password, b.admin)
    })
    .await
    .map_err(|e| ApiError::internal("adding the user", e))??;
    log::info!(
        "{} added user {}{}",
        log_safe(&s.user.name),
        log_safe(&name),
        if admin { " (administrator)" } else { "" }
    );
    web.lan
        .record(format!("{}: added user {name}", s.user.name));
    Ok((StatusCode::CREATED, Json(json!({"ok": true}))).into_response())
}

#[derive(Deserialize)]
struct PasswordBody {
    password: String,
}

async fn set_password(
    State(web): AppState,
    Admin(s): Admin,
    Path(name): Path<String>,
    Body(b): Body<PasswordBody>,
) -> ApiResult<Response> {
    let Some(user) = web.store.user(&name)? else {
        return Err(StoreError::NoSuchUser { name }.into());
    };
    let hash = tokio::task::spawn_blocking(move || microcloud_accounts::hash_password(&b.password))
        .await
        .map_err(|e| ApiError::internal("hashing the password", e))??;
    web.store.set_password(&name, &hash)?;
    web.sessions.remove_user(user.id);
    log::info!(
        "{} set the password of {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    let mut resp = Json(json!({"ok": true})).into_response();
    if user.id == s.user.id {
        // Changing one's own password ends one's other sessions, not this one.
        let token = web.sessions.create(user.id, &user.name, &hash);
        resp = with_cookie(resp, sessions::set_cookie(&token));
    }
    Ok(resp)
}

// ---- ssh keys ----------------------------------------------------------------------------------

async fn ssh_keys(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<Vec<microcloud_accounts::ssh_keys::Key>>> {
    Ok(Json(microcloud_accounts::ssh_keys::list(web.store.dir())?))
}

#[derive(Deserialize)]
struct KeyBody {
    key: String,
}

async fn add_ssh_key(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<KeyBody>,
) -> ApiResult<Response> {
    let key = microcloud_accounts::ssh_keys::add(web.store.dir(), &b.key)?;
    log::info!(
        "{} authorized ssh key {} {}",
        log_safe(&s.user.name),
        key.fingerprint,
        log_safe(&key.comment)
    );
    web.lan.record(format!(
        "{}: authorized ssh key {}",
        s.user.name, key.fingerprint
    ));
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn remove_ssh_key(
    State(web): AppState,
    Admin(s): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let key = microcloud_accounts::ssh_keys::remove(web.store.dir(), &id)?;
    log::info!(
        "{} removed ssh key {}",
        log_safe(&s.user.name),
        key.fingerprint
    );
    web.lan.record(format!(
        "{}: removed ssh key {}",
        s.user.name, key.fingerprint
    ));
    Ok(Json(json!({"ok": true})))
}

// ---- metrics scrape token ----------------------------------------------------------------------

/// `PUT /api/metrics-token`: a new scrape token for `/metrics`, replacing any earlier one. The
/// token is in this answer only; the box keeps its hash. The body, if any, is ignored (but
/// bounded like every body).
async fn set_metrics_token(
    State(web): AppState,
    Admin(s): Admin,
    _body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let dir = web.store.dir().to_owned();
    let token =
        tokio::task::spawn_blocking(move || microcloud_accounts::metrics_token::create(&dir))
            .await
            .map_err(|e| ApiError::internal("making the metrics token", e))??;
    log::info!("{} made a new metrics scrape token", log_safe(&s.user.name));
    web.lan
        .record(format!("{}: made a new metrics scrape token", s.user.name));
    Ok(Json(json!({"ok": true, "token": token})))
}

/// `DELETE /api/metrics-token`: no scrape token any more (administrators' credentials only).
async fn remove_metrics_token(
    State(web): AppState,
    Admin(s): Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let removed = microcloud_accounts::metrics_token::remove(web.store.dir())?;
    if removed {
        log::info!(
            "{} removed the metrics scrape token",
            log_safe(&s.user.name)
        );
        web.lan
            .record(format!("{}: removed the metrics scrape token", s.user.name));
    }
    Ok(Json(json!({"ok": true, "removed": removed})))
}

// ---- fuzzing -----------------------------------------------------------------------------------

/// Parses `data` as each JSON body of the API, and validates it as a destination.
pub(crate) fn fuzz_json_bodies(data: &[u8]) {
    let _ = serde_json::from_slice::<OnboardingBody>(data);
    let _ = serde_json::from_slice::<SignInBody>(data);
    if let Ok(d) = serde_json::from_slice::<DestinationBody>(data) {
        let _ = d.resolve();
    }
    let _ = serde_json::from_slice::<UserBody>(data);
    let _ = serde_json::from_slice::<PasswordBody>(data);
    let _ = serde_json::from_slice::<KeyBody>(data);
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_entry_point_takes_anything() {
        for data in [
            &b""[..],
            b"{}",
            b"null",
            br#"{"name":"x","kind":"s3","endpoint":"http://[::1","bucket":"abc","access_key_id":"k","secret_access_key":"s"}"#,
            br#"{"name":"x","kind":"dir","path":"/tmp"}"#,
            br#"{"code":"a","name":"b","password":"c","key":"d","admin":true}"#,
            b"\xff\xfe[[[[[[[[[[[[[[[[[[[[",
        ] {
            crate::fuzz_json_bodies(data);
        }
        crate::fuzz_json_bodies(&b"[".repeat(100_000));
    }
}
