//! The JSON API behind the page (see `API.md`), and the page's own files.

mod account;
mod dashboard;
mod destinations;
mod devices;
mod files;
mod handoff;
mod lan;
mod metrics_token;
mod pairing;
mod ssh_keys;
mod system;
mod update;
mod users;
mod versions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use microcloud_accounts::{log_safe, AccountError};
use microcloud_destination::{DestinationSpec, RemoteConfig, RemoteKind};
use microcloud_store::{StoreError, User};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::sessions::{self, Session};
use crate::{assets, ServiceError, Web};

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
        .route("/pair", get(index))
        .route("/api/pairings", post(pairing::start))
        .route("/api/pairings/{id}", get(pairing::view))
        .route("/api/pairings/{id}/approve", post(pairing::approve))
        .route("/api/pairings/{id}/refuse", post(pairing::refuse))
        .route("/api/pair/claim", post(pairing::claim))
        .route("/api/pair/status", post(pairing::claim_status))
        .route("/assets/{*name}", get(asset))
        .route("/api/state", get(account::state))
        .route("/api/onboarding", post(account::onboarding))
        .route(
            "/api/session",
            get(account::session)
                .post(account::sign_in)
                .delete(account::sign_out),
        )
        .route("/api/files", get(files::files))
        .route("/api/preview", get(files::preview))
        .route(
            "/api/workspace",
            get(handoff::workspace).put(handoff::put_workspace),
        )
        .route("/api/events", get(handoff::events))
        .route("/api/devices/mine", get(handoff::my_devices))
        .route("/api/inbox", get(handoff::inbox))
        .route("/api/inbox/{id}/accept", post(handoff::accept))
        .route("/api/inbox/{id}/decline", post(handoff::decline))
        .route("/api/send", post(handoff::send))
        .route("/api/handoff", post(handoff::handoff))
        .route("/api/status", get(dashboard::status))
        .route(
            "/api/destinations",
            get(destinations::destinations).post(destinations::add_destination),
        )
        .route(
            "/api/destinations/test",
            post(destinations::test_destination),
        )
        .route(
            "/api/destinations/{name}",
            delete(destinations::remove_destination),
        )
        .route("/api/users", get(users::users).post(users::add_user))
        .route("/api/users/{name}/password", put(users::set_password))
        .route(
            "/api/users/{name}/devices-only",
            put(devices::set_devices_only),
        )
        .route(
            "/api/devices",
            get(devices::devices).post(devices::add_device),
        )
        .route("/api/devices/{user}/{name}", delete(devices::revoke_device))
        .route("/api/lan", get(lan::lan))
        .route("/api/versions", get(versions::versions))
        .route("/api/versions/{id}/content", get(versions::content))
        .route("/api/versions/{id}/restore", post(versions::restore))
        .route("/api/trash", get(versions::trash))
        .route("/api/trash/restore", post(versions::undelete))
        .route("/api/rollback", post(versions::rollback))
        .route("/api/guard", get(versions::guard))
        .route("/api/guard/{id}", post(versions::decide))
        .route(
            "/api/ssh-keys",
            get(ssh_keys::ssh_keys).post(ssh_keys::add_ssh_key),
        )
        .route("/api/ssh-keys/{id}", delete(ssh_keys::remove_ssh_key))
        .route("/api/system", get(system::get))
        .route("/api/system/hostname", put(system::set_hostname))
        .route("/api/system/timezone", put(system::set_timezone))
        .route("/api/system/update", get(update::get).post(update::post))
        .route("/api/system/update/rollback", post(update::rollback))
        .route("/api/system/{action}", post(system::power))
        .route(
            "/api/metrics-token",
            put(metrics_token::set_metrics_token).delete(metrics_token::remove_metrics_token),
        )
        // The file page's WebDAV: streamed, so no body limit applies (none of the extractors
        // that enforce it reads the body).
        .route("/api/dav", any(files::dav))
        .route("/api/dav/", any(files::dav))
        .route("/api/dav/{*path}", any(files::dav))
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

/// What the page may load: its own files, no inline script but the one `index.html` names by
/// its hash, no plugin, no framing.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The page's security headers, for answers made outside the router too (`/metrics`).
pub(crate) fn add_security_headers(h: &mut http::HeaderMap) {
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // DENY unless the answer says otherwise (the Markdown preview may be framed by the page).
    h.entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
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
            StoreError::UserExists { .. } | StoreError::DeviceExists { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string()).field("name")
            }
            StoreError::NoSuchUser { .. }
            | StoreError::NoSuchDevice { .. }
            | StoreError::NotFound { .. }
            | StoreError::NoParent { .. }
            | StoreError::NoSuchVersion { .. }
            | StoreError::NotInTrash { .. }
            | StoreError::NoSuchTrip { .. }
            | StoreError::NeverExisted { .. }
            | StoreError::NoSuchEntry { .. }
            | StoreError::NothingThen { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            StoreError::BadHandoff(_) => ApiError::bad(e.to_string(), "to"),
            StoreError::BadWorkspace { .. } => ApiError::bad(e.to_string(), "items"),
            StoreError::EntryDecided { .. } | StoreError::StaleWorkspace { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            StoreError::EntryGone { .. } => ApiError::new(StatusCode::GONE, e.to_string()),
            StoreError::OverSpace { .. } => {
                ApiError::new(StatusCode::INSUFFICIENT_STORAGE, e.to_string())
            }
            StoreError::NotDir { .. } | StoreError::IsDir { .. } => {
                ApiError::bad(e.to_string(), "path")
            }
            // A moment the box cannot go back to: the picker's field is at fault.
            StoreError::InTheFuture { .. } | StoreError::BeforeRetention { .. } => {
                ApiError::bad(e.to_string(), "at")
            }
            // The box's state stands in the way; the sentence says what to do.
            StoreError::RollbackBlocked { .. }
            | StoreError::TripResolved { .. }
            | StoreError::VersionsOff => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            StoreError::Unavailable { .. } | StoreError::VersionUnavailable { .. } => {
                log::warn!("{e}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
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

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::Exists(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string()).field("name")
            }
            ServiceError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            ServiceError::Invalid(i) => ApiError::bad(i.message, i.field),
            ServiceError::Test(_) => ApiError::bad(e.to_string(), "test"),
            ServiceError::Internal(m) => ApiError::internal("the uplink", m),
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
        // No body at all reads as `{}`: a change whose fields are all optional needs none.
        let text: &[u8] = if kept.is_empty() { b"{}" } else { &kept };
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed request: {e}")))
    }
}

// ---- paths and ids ------------------------------------------------------------------------------

/// Longest path the page may send (the store refuses more than 768 bytes anyway; this bounds
/// the work before it looks).
const MAX_PATH: usize = 4096;
/// A catalog time (ns since the epoch) in whole seconds, for the page to format.
fn secs(ns: i64) -> i64 {
    ns.div_euclid(1_000_000_000)
}

/// A path the page sent, as the store's canonical path ("" for the user's root). Dot segments
/// and NUL are refused outright (as `/api/files` does); the store's naming rule does the rest.
fn user_path(p: &str) -> ApiResult<String> {
    if p.len() > MAX_PATH {
        return Err(ApiError::bad("the path is too long", "path"));
    }
    if p.split('/').any(|s| s == ".." || s == ".") || p.contains('\0') || p.contains('\\') {
        return Err(ApiError::bad("bad path", "path"));
    }
    microcloud_store::namespace::canonical(p).map_err(|e| ApiError::bad(e.to_string(), "path"))
}

/// "/a/b" for the store's "a/b".
fn shown(canonical: &str) -> String {
    format!("/{canonical}")
}

/// An id in a URL, refused with a JSON error (axum's own rejection is plain text).
fn parse_id(s: &str, what: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no {what} {s:?}")))
}

/// Runs a catalog read off the async threads (a big trash or a long history is a real query).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("reading the catalog", e))?
        .map_err(ApiError::from)
}

// ---- sessions ----------------------------------------------------------------------------------

/// A signed-in user; a change (any method but GET/HEAD) also needs the session's CSRF token.
pub struct Signed {
    pub session: Session,
    pub user: User,
}

impl Signed {
    /// Who acts on WebDAV through this session.
    pub fn principal(&self) -> microcloud_webdav::Principal {
        microcloud_webdav::Principal {
            user: self.user.clone(),
            device: self.session.device.clone(),
        }
    }
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
    if let Some((id, _)) = &session.device {
        // Once revoked, always refused with the reason (a device id could be given again).
        if session.revoked || !web.store.device_exists(*id)? {
            web.sessions.mark_revoked(&token);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this tablet was removed from the box: pair it again to use it",
            )
            .field("device"));
        }
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
        let s = check_session(web, &parts.method, &parts.headers)?;
        if let (Some((id, _)), Some(ConnectInfo(peer))) = (
            &s.session.device,
            parts.extensions.get::<ConnectInfo<SocketAddr>>(),
        ) {
            web.lan.touch_device(*id, *peer, &parts.headers);
        }
        Ok(s)
    }
}

impl FromRequestParts<Arc<Web>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> ApiResult<Self> {
        let s = Signed::from_request_parts(parts, web).await?;
        if !s.user.admin {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "administrators only"));
        }
        Ok(Admin(s))
    }
}

/// Whether the request came over HTTPS (its cookies are then `Secure`).
pub(super) struct Https(bool);

impl<S: Send + Sync> FromRequestParts<S> for Https {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Https(
            parts
                .extensions
                .get::<microcloud_webdav::connections::OverTls>()
                .is_some(),
        ))
    }
}

fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

// ---- the page ----------------------------------------------------------------------------------

async fn index(State(web): AppState, headers: http::HeaderMap) -> Response {
    asset_response(&web, "index.html", &headers)
}

async fn asset(
    State(web): AppState,
    Path(name): Path<String>,
    headers: http::HeaderMap,
) -> Response {
    if name == "index.html" {
        return not_found().await.into_response();
    }
    asset_response(&web, &name, &headers)
}

/// A file of the page, with an `ETag` (its BLAKE3): a tablet that has it asks again
/// (`no-cache`) and gets a 304 without the bytes while it is unchanged.
fn asset_response(web: &Web, name: &str, req: &http::HeaderMap) -> Response {
    let Some((bytes, kind)) = assets::get(web.options.assets_dir.as_deref(), name) else {
        return ApiError::new(StatusCode::NOT_FOUND, "no such page").into_response();
    };
    let tag = format!("\"{}\"", &blake3::hash(&bytes).to_hex()[..32]);
    // The page's one inline script (boot.js, which starts the first screen's requests while the
    // rest loads) runs by its hash: no other inline script does.
    let csp = (name == "index.html").then(|| {
        let scripts: String = assets::inline_script_hashes(&bytes)
            .iter()
            .map(|h| format!(" 'sha256-{h}'"))
            .collect();
        format!("{CSP}; script-src 'self'{scripts}")
    });
    let unchanged = req
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == tag || t.trim() == "*");
    let mut r = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = bytes.into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        r
    };
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page")
}

// ---- fuzzing -----------------------------------------------------------------------------------

/// Parses `data` as each JSON body of the API, and validates it as a destination.
pub(crate) fn fuzz_json_bodies(data: &[u8]) {
    let _ = serde_json::from_slice::<account::OnboardingBody>(data);
    let _ = serde_json::from_slice::<account::SignInBody>(data);
    if let Ok(d) = serde_json::from_slice::<DestinationSpec>(data) {
        let _ = d.validate();
    }
    let _ = serde_json::from_slice::<users::UserBody>(data);
    let _ = serde_json::from_slice::<users::PasswordBody>(data);
    let _ = serde_json::from_slice::<ssh_keys::KeyBody>(data);
    if let Ok(b) = serde_json::from_slice::<devices::DeviceBody>(data) {
        let _ = microcloud_store::check_device_name(&b.name);
    }
    let _ = serde_json::from_slice::<devices::DevicesOnlyBody>(data);
    let _ = serde_json::from_slice::<pairing::StartBody>(data);
    if let Ok(b) = serde_json::from_slice::<pairing::ClaimBody>(data) {
        let _ = crate::pairing::canonical_code(&b.code);
        let _ = microcloud_store::check_device_name(&b.device_name);
    }
    let _ = serde_json::from_slice::<pairing::ClaimStatusBody>(data);
    let _ = serde_json::from_slice::<versions::UndeleteBody>(data);
    if let Ok(b) = serde_json::from_slice::<handoff::WorkspaceBody>(data) {
        let _ = b.checked();
    }
    let _ = serde_json::from_slice::<handoff::SendBody>(data);
    let _ = serde_json::from_slice::<handoff::HandoffBody>(data);
    let _ = serde_json::from_slice::<handoff::AcceptBody>(data);
    let _ = serde_json::from_slice::<versions::DecisionBody>(data);
    if let Ok(b) = serde_json::from_slice::<versions::RollbackBody>(data) {
        let _ = versions::parse_moment(&b.at);
    }
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
