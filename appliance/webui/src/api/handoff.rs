//! Several tablets, one person, and work handed on: the workspace (what the user has open, with
//! compare-and-swap writes), the event stream every device of theirs listens to, sending to one
//! of one's devices, and handing a file, folder or workspace to another person.
//!
//! Everything is asked of the store with the signed-in user's id: another user's entries are
//! not found (404). The stream re-checks its session twice a second, so a revoked tablet or a
//! signed-out session stops hearing within a second.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use microcloud_store::{HandoffMode, InboxEntry, Sending, Workspace};

use super::*;

/// Items in a workspace, at most.
const MAX_ITEMS: usize = 50;
/// A view state's JSON, at most.
const MAX_VIEW: usize = 1024;
/// How often a stream re-checks its session and looks for events other processes wrote.
const RECHECK: Duration = Duration::from_millis(500);
/// Events read from the catalog at a time.
const BATCH: usize = 100;

const KINDS: &[&str] = &[
    "pdf", "image", "video", "audio", "text", "markdown", "folder", "other",
];

#[derive(Deserialize, Serialize)]
pub(super) struct Item {
    path: String,
    kind: String,
    #[serde(default)]
    view: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
pub(super) struct WorkspaceBody {
    items: Vec<Item>,
    #[serde(default)]
    front: Option<usize>,
}

impl WorkspaceBody {
    /// The document to store: only the known fields, each checked.
    pub(super) fn checked(self) -> ApiResult<serde_json::Value> {
        if self.items.len() > MAX_ITEMS {
            return Err(ApiError::bad(
                format!("at most {MAX_ITEMS} open items"),
                "items",
            ));
        }
        for item in &self.items {
            user_path(&item.path)?;
            if !KINDS.contains(&item.kind.as_str()) {
                return Err(ApiError::bad(
                    format!("unknown kind {:?}", log_safe(&item.kind)),
                    "kind",
                ));
            }
            if serde_json::to_string(&item.view).map_or(0, |s| s.len()) > MAX_VIEW {
                return Err(ApiError::bad(
                    format!("a view state is at most {MAX_VIEW} bytes"),
                    "view",
                ));
            }
        }
        if self.front.is_some_and(|f| f >= self.items.len()) {
            return Err(ApiError::bad("front names no open item", "front"));
        }
        Ok(json!({"items": self.items, "front": self.front}))
    }
}

fn with_etag(ws: &Workspace) -> Response {
    let mut r = Json(ws.to_json()).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", ws.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

pub(super) async fn workspace(State(web): AppState, s: Signed) -> ApiResult<Response> {
    let store = web.store.clone();
    let id = s.user.id;
    // The newest event id is read first: a stream opened `?after=` it misses nothing that
    // happened after this answer (and may repeat what it already shows, by version).
    let (event, ws) = blocking(move || Ok((store.poll_events()?, store.workspace(id)?))).await?;
    let mut body = ws.to_json();
    body["event"] = json!(event);
    let mut r = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", ws.version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// The version an `If-Match` header names: `"7"`, `W/"7"` or `7`.
fn if_match(headers: &http::HeaderMap) -> ApiResult<i64> {
    let v = headers.get(header::IF_MATCH).ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "say which version this change is based on (If-Match)",
        )
    })?;
    v.to_str()
        .ok()
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad("If-Match must be a version like \"7\"", "version"))
}

pub(super) async fn put_workspace(
    State(web): AppState,
    s: Signed,
    headers: http::HeaderMap,
    Body(b): Body<WorkspaceBody>,
) -> ApiResult<Response> {
    let based_on = if_match(&headers)?;
    let doc = b.checked()?;
    let device = s.session.device.as_ref().map(|(_, n)| n.as_str());
    match web
        .store
        .put_workspace(s.user.id, based_on, &doc, device)
        .await
    {
        Ok(ws) => Ok(with_etag(&ws)),
        Err(e @ StoreError::StaleWorkspace { .. }) => {
            let current = web.store.workspace(s.user.id)?;
            let mut r = (
                StatusCode::PRECONDITION_FAILED,
                Json(json!({"error": format!("{e}: reload it and apply your change again"), "field": null, "current": current.to_json()})),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", current.version)) {
                r.headers_mut().insert(header::ETAG, v);
            }
            Ok(r)
        }
        Err(StoreError::BadWorkspace { why }) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the workspace is too big: {why}"),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    after: Option<String>,
}

/// The id a stream resumes after: `Last-Event-ID` (what EventSource sends by itself), else
/// `?after=`, else now.
fn resume_point(web: &Web, headers: &http::HeaderMap, q: &EventsQuery) -> ApiResult<i64> {
    let given = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.after.clone());
    match given {
        Some(t) => t
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad("the event id to resume after must be a number", "after")),
        None => Ok(web.store.poll_events()?),
    }
}

struct Listener {
    web: Arc<Web>,
    headers: http::HeaderMap,
    user: microcloud_store::UserId,
    device: Option<microcloud_store::DeviceId>,
    after: i64,
    watch: tokio::sync::watch::Receiver<i64>,
    ready: std::collections::VecDeque<SseEvent>,
    ticket: crate::streams::Ticket,
}

impl Listener {
    /// Whether the session may still listen.
    fn allowed(&self) -> bool {
        !self.ticket.ended()
            && !self.web.closing.load(std::sync::atomic::Ordering::Relaxed)
            && check_session(&self.web, &Method::GET, &self.headers)
                .is_ok_and(|s| s.user.id == self.user)
    }

    /// Reads what came after `after` into `ready`.
    fn fill(&mut self) -> Result<(), StoreError> {
        let page = self
            .web
            .store
            .events_after(self.user, self.device, self.after, BATCH)?;
        if page.reset {
            // What the device missed is gone: it reloads its state, from the newest id on.
            let newest = self.web.store.poll_events()?;
            self.after = newest;
            self.ready.push_back(
                SseEvent::default()
                    .id(newest.to_string())
                    .event("reset")
                    .data("{}"),
            );
            return Ok(());
        }
        for e in page.events {
            self.after = e.id;
            self.ready.push_back(
                SseEvent::default()
                    .id(e.id.to_string())
                    .event(e.kind)
                    .data(e.data),
            );
        }
        Ok(())
    }

    async fn next(mut self) -> Option<(Result<SseEvent, Infallible>, Listener)> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some((Ok(e), self));
            }
            if !self.allowed() {
                return None;
            }
            if let Err(e) = self.fill() {
                log::warn!("event stream of user #{}: {e}", self.user.0);
                return None;
            }
            if !self.ready.is_empty() {
                continue;
            }
            if tokio::time::timeout(RECHECK, self.watch.changed())
                .await
                .is_err()
            {
                // Events another process (the CLI) wrote wake nobody here: look.
                let _ = self.web.store.poll_events();
            }
        }
    }
}

pub(super) async fn events(
    State(web): AppState,
    s: Signed,
    headers: http::HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let after = resume_point(&web, &headers, &q)?;
    let device = s.session.device.as_ref().map(|(id, _)| *id);
    let listener = Listener {
        ticket: web.streams.open(s.user.id, device),
        watch: web.store.event_watch(),
        web: web.clone(),
        headers,
        user: s.user.id,
        device,
        after,
        ready: Default::default(),
    };
    Ok(Sse::new(stream::unfold(listener, Listener::next))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

pub(super) async fn my_devices(
    State(web): AppState,
    s: Signed,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let this = s.session.device.as_ref().map(|(id, _)| *id);
    Ok(Json(
        web.store
            .devices(Some(&s.user.name))?
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "kind": microcloud_accounts::devices::kind(d.user_agent.as_deref()),
                    "online": web.streams.online(s.user.id, d.id),
                    "this": Some(d.id) == this,
                    "last_seen": d.last_seen_ns.map(secs),
                })
            })
            .collect(),
    ))
}

pub(super) async fn inbox(State(web): AppState, s: Signed) -> ApiResult<Json<serde_json::Value>> {
    let store = web.store.clone();
    let (user, device) = (s.user.id, s.session.device.as_ref().map(|(id, _)| *id));
    let (inbox, event) =
        blocking(move || Ok((store.inbox(user, device)?, store.poll_events()?))).await?;
    let list = |v: &[InboxEntry]| v.iter().map(InboxEntry::to_json).collect::<Vec<_>>();
    Ok(Json(json!({
        "received": list(&inbox.received),
        "sent": list(&inbox.sent),
        "event": event,
    })))
}

#[derive(Deserialize)]
pub(super) struct SendBody {
    device: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    view: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    workspace: bool,
}

/// The sender's path, or `None` for the workspace; exactly one must be given.
fn what(path: &Option<String>, workspace: bool) -> ApiResult<Option<String>> {
    match (path, workspace) {
        (Some(p), false) => {
            user_path(p)?;
            Ok(Some(p.clone()))
        }
        (None, true) => Ok(None),
        _ => Err(ApiError::bad("send either a path or the workspace", "path")),
    }
}

fn created(e: InboxEntry) -> Response {
    (StatusCode::CREATED, Json(e.to_json())).into_response()
}

pub(super) async fn send(
    State(web): AppState,
    s: Signed,
    Body(b): Body<SendBody>,
) -> ApiResult<Response> {
    let path = what(&b.path, b.workspace)?;
    let view = b.view.map(serde_json::Value::Object);
    if view
        .as_ref()
        .is_some_and(|v| v.to_string().len() > MAX_VIEW)
    {
        return Err(ApiError::bad(
            format!("a view state is at most {MAX_VIEW} bytes"),
            "view",
        ));
    }
    microcloud_store::check_device_name(&b.device)
        .map_err(|e| ApiError::bad(e.to_string(), "device"))?;
    let e = web
        .store
        .send(Sending {
            from: s.user.id,
            from_device: s.session.device.as_ref().map(|(_, n)| n.as_str()),
            to_user: &s.user.name,
            to_device: Some(&b.device),
            path: path.as_deref(),
            view,
            mode: HandoffMode::Open,
        })
        .await?;
    log::info!(
        "{} sent {} to their device {}",
        log_safe(&s.user.name),
        log_safe(&e.name),
        log_safe(&b.device)
    );
    Ok(created(e))
}

#[derive(Deserialize)]
pub(super) struct HandoffBody {
    user: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default, rename = "move")]
    transfer: bool,
    #[serde(default)]
    workspace: bool,
}

pub(super) async fn handoff(
    State(web): AppState,
    s: Signed,
    Body(b): Body<HandoffBody>,
) -> ApiResult<Response> {
    let path = what(&b.path, b.workspace)?;
    microcloud_store::check_user_name(&b.user).map_err(|e| ApiError::bad(e.to_string(), "user"))?;
    let e = web
        .store
        .send(Sending {
            from: s.user.id,
            from_device: s.session.device.as_ref().map(|(_, n)| n.as_str()),
            to_user: &b.user,
            to_device: None,
            path: path.as_deref(),
            view: None,
            mode: if b.transfer {
                HandoffMode::Move
            } else {
                HandoffMode::Copy
            },
        })
        .await?;
    log::info!(
        "{} handed {} to {} ({})",
        log_safe(&s.user.name),
        log_safe(&e.name),
        log_safe(&b.user),
        e.mode.as_str()
    );
    Ok(created(e))
}

#[derive(Deserialize, Default)]
pub(super) struct AcceptBody {
    #[serde(default)]
    to: Option<String>,
}

pub(super) async fn accept(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
    Body(b): Body<AcceptBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_id(&id, "inbox entry")?;
    let into = match &b.to {
        Some(p) => {
            user_path(p)?;
            p.clone()
        }
        None => "/".to_owned(),
    };
    let e = web.store.accept(s.user.id, id, &into).await?;
    log::info!(
        "{} accepted inbox entry #{id} from {} ({}): {}",
        log_safe(&s.user.name),
        log_safe(&e.from_user),
        e.mode.as_str(),
        e.result_path.as_deref().map(log_safe).unwrap_or_default()
    );
    Ok(Json(e.to_json()))
}

pub(super) async fn decline(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_id(&id, "inbox entry")?;
    Ok(Json(web.store.decline(s.user.id, id).await?.to_json()))
}
