//! Versions, trash and rollback on the page: every signed-in user gets their own lost files back
//! without an administrator (the versions of a file, a version's bytes, restore; the trash and
//! undelete; a file or folder as it was at a moment), and administrators see what versions take
//! and decide on the ransomware guard's trips.
//!
//! Everything is asked of the store with the signed-in user's id, so a version, a trash entry or
//! a path of another user is simply not found (404), never a 403 that would confirm it exists.

use std::time::{Duration, Instant};

use microcloud_store::versions::rfc3339;
use microcloud_store::{Content, FetchStream, GuardTrip, ReadSource, RollbackReport, Version};

use super::*;

/// At most this many versions of one file in an answer (newest first): a file rewritten every
/// second for a month must not make an answer of megabytes.
const MAX_VERSIONS: usize = 500;
/// At most this many trash entries in an answer (most recently deleted first).
const MAX_TRASH: usize = 2000;
/// How long the versions' space figures are reused: they cost a pass over the content table,
/// and the dashboard asks every second.
const SPACE_TTL: Duration = Duration::from_secs(10);
/// Chunk size when streaming a version's content from its blob file.
const CHUNK: usize = 64 * 1024;

pub(super) fn version_json(v: &Version) -> serde_json::Value {
    json!({
        "id": v.id,
        "path": shown(&v.path),
        "name": v.path.rsplit('/').next().unwrap_or(""),
        "size": v.size,
        "blake3": v.blake3,
        "modified": secs(v.mtime_ns),
        // 0: the content was there before versions were kept.
        "from": (v.from_ns > 0).then(|| secs(v.from_ns)),
        "until": secs(v.until_ns),
        "until_ns": v.until_ns,
        "kind": v.kind.as_str(),
        "device": v.device,
        "pinned": v.pinned,
        "local": v.local,
        "durability": v.durability.as_str(),
    })
}

fn report_json(r: &RollbackReport) -> serde_json::Value {
    json!({
        "restored": r.restored,
        "removed": r.removed,
        "unchanged": r.unchanged,
        "folders_removed": r.folders_removed,
    })
}

/// The file at `path` now: `Some` for a file, `None` when nothing (or a folder) is there.
fn current_file(
    store: &microcloud_store::Store,
    user: microcloud_store::UserId,
    path: &str,
) -> Result<Option<microcloud_store::Node>, StoreError> {
    match store.lookup(user, path) {
        Ok(n) => Ok(Some(n)),
        Err(
            StoreError::NotFound { .. } | StoreError::NoParent { .. } | StoreError::NotDir { .. },
        ) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub(super) struct PathQuery {
    #[serde(default)]
    path: String,
}

/// `GET /api/versions?path=/a/b.txt`: the file now (size, hash, device) and its kept versions.
pub(super) async fn versions(
    State(web): AppState,
    s: Signed,
    Query(q): Query<PathQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = user_path(&q.path)?;
    if path.is_empty() {
        return Err(ApiError::bad(
            "versions are kept per file: name a file",
            "path",
        ));
    }
    let named = shown(&path);
    let store = web.store.clone();
    let user = s.user.id;
    let (current, writer, versions, policy) = blocking(move || {
        let current = current_file(&store, user, &path)?;
        if current.as_ref().is_some_and(|n| n.is_dir) {
            return Err(StoreError::IsDir { path: shown(&path) });
        }
        let writer = match &current {
            Some(_) => store.writer_of(user, &path)?,
            None => None,
        };
        let versions = store.versions(user, &path)?;
        Ok((current, writer, versions, store.version_policy()?))
    })
    .await?;
    if current.is_none() && versions.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{named}: no such file, now or in its kept versions"),
        ));
    }
    let total = versions.len();
    Ok(Json(json!({
        "path": named,
        "current": current.map(|n| json!({
            "size": n.size,
            "blake3": n.hash_hex(),
            "modified": secs(n.mtime_ns),
            "durability": n.durability.as_str(),
            "device": writer,
        })),
        "versions": versions.iter().take(MAX_VERSIONS).map(version_json).collect::<Vec<_>>(),
        "total": total,
        "truncated": total > MAX_VERSIONS,
        "keep_days": policy.keep_days,
    })))
}

/// `GET /api/versions/<id>/content`: a version's bytes, as a download. Read like a file's
/// content (local, or streamed back from a destination and checked against its hash).
pub(super) async fn content(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id(&id, "version")?;
    let v = web.store.version(s.user.id, id)?;
    let body = match web.store.open_for_read(v.blob_id).await? {
        ReadSource::Local(c) => local_body(&web, v.blob_id, c, v.size).await?,
        ReadSource::Streaming(f) => axum::body::Body::from_stream(fetched(f)),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(v.size));
    h.insert(
        header::CONTENT_DISPOSITION,
        microcloud_webdav::server::attachment(&v.path),
    );
    if let Ok(hash) = HeaderValue::from_str(&v.blake3) {
        h.insert("x-microcloud-blake3", hash);
    }
    // Whatever the bytes are, they never run as the page.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(resp)
}

/// The body for local content; a blob file evicted between the lookup and the open is looked up
/// once more (it is then fetched back first).
async fn local_body(web: &Web, blob: i64, c: Content, size: u64) -> ApiResult<axum::body::Body> {
    let mut c = c;
    for attempt in 0..2 {
        match c {
            Content::Inline(b) => return Ok(axum::body::Body::from(b)),
            Content::File(ref p) => match tokio::fs::File::open(p).await {
                Ok(f) => return Ok(axum::body::Body::from_stream(file_chunks(f, size))),
                Err(e) if attempt == 1 => {
                    return Err(ApiError::internal(
                        "reading a version",
                        format!("{}: {e}", p.display()),
                    ))
                }
                Err(_) => {}
            },
            Content::Evicted { .. } => {}
        }
        c = web.store.local_content(blob).await?;
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this version's content is not on the box right now: try again in a moment",
    ))
}

type Chunk = Result<Bytes, std::io::Error>;

/// A blob file's bytes in chunks; a file shorter than the catalog says ends the body with an
/// error, so the download fails instead of ending short as if complete.
fn file_chunks(
    f: tokio::fs::File,
    size: u64,
) -> impl futures_util::Stream<Item = Chunk> + Send + 'static {
    futures_util::stream::unfold(Some((f, 0u64)), move |st| async move {
        use tokio::io::AsyncReadExt;
        let (mut f, done) = st?;
        if done >= size {
            return None;
        }
        let mut buf = vec![0u8; CHUNK.min((size - done) as usize)];
        match f.read(&mut buf).await {
            Ok(0) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the content ended early",
                )),
                None,
            )),
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some((f, done + n as u64))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Content arriving from a destination: its chunks, then an error if it did not match its hash.
fn fetched(f: FetchStream) -> impl futures_util::Stream<Item = Chunk> + Send + 'static {
    futures_util::stream::unfold(Some(f), |st| async move {
        let mut f = st?;
        match f.chunks.recv().await {
            Some(b) => Some((Ok(b), Some(f))),
            None => match (&mut f.done).await {
                Ok(Ok(())) => None,
                _ => Some((
                    Err(std::io::Error::other(
                        "the content fetched back did not match its hash",
                    )),
                    None,
                )),
            },
        }
    })
}

/// `POST /api/versions/<id>/restore`: the version's content goes back at its path; what is there
/// now is kept as a version in turn.
pub(super) async fn restore(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_id(&id, "version")?;
    let v = web.store.version(s.user.id, id)?;
    let report = web.store.restore_version(s.user.id, id).await?;
    let now = current_file(&web.store, s.user.id, &v.path)?;
    log::info!(
        "{} restored version #{id} of {}",
        log_safe(&s.user.name),
        log_safe(&v.path)
    );
    web.lan.record(format!(
        "{}: restored {} as it was until {}",
        s.user.name,
        log_safe(&shown(&v.path)),
        rfc3339(v.until_ns)
    ));
    Ok(Json(json!({
        "ok": true,
        "path": shown(&v.path),
        "report": report_json(&report),
        "blake3": now.as_ref().and_then(|n| n.hash_hex()),
        "size": now.map(|n| n.size),
    })))
}

/// `GET /api/trash?path=/folder`: deleted files at or below the folder (all when absent).
pub(super) async fn trash(
    State(web): AppState,
    s: Signed,
    Query(q): Query<PathQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = user_path(&q.path)?;
    let store = web.store.clone();
    let user = s.user.id;
    let base = path.clone();
    let (items, policy) =
        blocking(move || Ok((store.trash(user, &base)?, store.version_policy()?))).await?;
    let total = items.len();
    Ok(Json(json!({
        "path": shown(&path),
        "entries": items.iter().take(MAX_TRASH).map(version_json).collect::<Vec<_>>(),
        "total": total,
        "truncated": total > MAX_TRASH,
        "keep_days": policy.keep_days,
    })))
}

#[derive(Deserialize)]
pub(super) struct UndeleteBody {
    path: String,
}

/// `POST /api/trash/restore {"path"}`: a deleted file, or a deleted folder with everything it
/// held, comes back (one transaction).
pub(super) async fn undelete(
    State(web): AppState,
    s: Signed,
    Body(b): Body<UndeleteBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = user_path(&b.path)?;
    let report = web.store.undelete(s.user.id, &path).await?;
    log::info!(
        "{} brought back {} file(s) from the trash at {}",
        log_safe(&s.user.name),
        report.restored,
        log_safe(&shown(&path))
    );
    web.lan.record(format!(
        "{}: brought back {} from the trash ({} file{})",
        s.user.name,
        log_safe(&shown(&path)),
        report.restored,
        if report.restored == 1 { "" } else { "s" }
    ));
    Ok(Json(json!({
        "ok": true,
        "path": shown(&path),
        "report": report_json(&report),
    })))
}

#[derive(Deserialize)]
pub(super) struct RollbackBody {
    path: String,
    /// RFC 3339, with an offset (the page sends UTC).
    pub(super) at: String,
}

/// An RFC 3339 moment as ns since the epoch.
pub(super) fn parse_moment(at: &str) -> ApiResult<i64> {
    let bad = || {
        ApiError::bad(
            format!(
                "{:?} is not a moment in RFC 3339 form, such as 2025-03-01T14:30:00Z",
                at.chars().take(64).collect::<String>()
            ),
            "at",
        )
    };
    if at.len() > 64 {
        return Err(bad());
    }
    let t: jiff::Timestamp = at.trim().parse().map_err(|_| bad())?;
    i64::try_from(t.as_nanosecond()).map_err(|_| bad())
}

/// `POST /api/rollback {"path", "at"}`: the file or folder ("" or "/" for one's whole space) as
/// it was at `at`, in one transaction; what it replaces is kept as versions, so it can be undone.
pub(super) async fn rollback(
    State(web): AppState,
    s: Signed,
    Body(b): Body<RollbackBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = user_path(&b.path)?;
    let at = parse_moment(&b.at)?;
    let report = web.store.rollback(s.user.id, &path, at).await?;
    log::info!(
        "{} rolled {} back to {}",
        log_safe(&s.user.name),
        log_safe(&shown(&path)),
        rfc3339(at)
    );
    web.lan.record(format!(
        "{}: put {} back as it was at {}",
        s.user.name,
        log_safe(&shown(&path)),
        rfc3339(at)
    ));
    Ok(Json(json!({
        "ok": true,
        "path": shown(&path),
        "at": rfc3339(at),
        "report": report_json(&report),
    })))
}

// ---- administrators ----------------------------------------------------------------------------

/// Versions' space, reused for [`SPACE_TTL`] (computed by one request at a time).
pub(super) async fn space(web: &Arc<Web>) -> ApiResult<microcloud_store::VersionSpace> {
    let web = web.clone();
    blocking(move || {
        let mut cached = web.version_space.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, s)) = *cached {
            if at.elapsed() < SPACE_TTL {
                return Ok(s);
            }
        }
        let s = web.store.version_space()?;
        *cached = Some((Instant::now(), s));
        Ok(s)
    })
    .await
}

fn trip_json(t: &GuardTrip, window_s: u32) -> serde_json::Value {
    json!({
        "id": t.id,
        "user": t.user,
        "device": t.device,
        "since": secs(t.since_ns),
        "since_rfc3339": rfc3339(t.since_ns),
        "tripped": secs(t.tripped_ns),
        "changes": t.changes,
        "files": t.files,
        "window_s": window_s,
        "resolved": t.resolved_ns.map(secs),
        "resolution": t.resolution,
    })
}

/// The dashboard's part: versions' space, the policy, and the guard's open trips.
pub(super) async fn dashboard_part(web: &Arc<Web>) -> ApiResult<serde_json::Value> {
    let space = space(web).await?;
    let store = web.store.clone();
    let (trips, policy) =
        blocking(move || Ok((store.guard_trips()?, store.version_policy()?))).await?;
    let open: Vec<_> = trips
        .iter()
        .filter(|t| t.resolved_ns.is_none())
        .map(|t| trip_json(t, policy.guard_window_s))
        .collect();
    Ok(json!({
        "versions": {
            "versions": space.versions,
            "pinned": space.pinned,
            "bytes": space.bytes,
            "local_bytes": space.local_bytes,
            "keep_days": policy.keep_days,
        },
        "guard": open,
    }))
}

/// `GET /api/guard`: every trip of the ransomware guard, open ones first.
pub(super) async fn guard(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let store = web.store.clone();
    let (trips, policy) =
        blocking(move || Ok((store.guard_trips()?, store.version_policy()?))).await?;
    Ok(Json(json!({
        "trips": trips.iter().take(MAX_TRASH).map(|t| trip_json(t, policy.guard_window_s)).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
pub(super) struct DecisionBody {
    action: String,
}

/// `POST /api/guard/<id> {"action": "rollback"|"keep"}`: the owner's decision on a trip.
pub(super) async fn decide(
    State(web): AppState,
    Admin(s): Admin,
    Path(id): Path<String>,
    Body(b): Body<DecisionBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_id(&id, "ransomware guard trip")?;
    let roll_back = match b.action.as_str() {
        "rollback" => true,
        "keep" => false,
        _ => {
            return Err(ApiError::bad(
                "the action is \"rollback\" or \"keep\"",
                "action",
            ))
        }
    };
    let trip = web
        .store
        .guard_trips()?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::from(StoreError::NoSuchTrip { id }))?;
    let report = web.store.resolve_guard(id, roll_back).await?;
    *web.version_space.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let what = if roll_back {
        format!(
            "rolled {} back to before {}",
            trip.user,
            rfc3339(trip.since_ns)
        )
    } else {
        format!("kept {}'s files as they are", trip.user)
    };
    log::warn!(
        "ransomware guard #{id}: {} {}",
        log_safe(&s.user.name),
        log_safe(&what)
    );
    web.lan
        .record(format!("{}: ransomware guard: {what}", s.user.name));
    Ok(Json(json!({
        "ok": true,
        "id": id,
        "user": trip.user,
        "action": b.action,
        "report": report.as_ref().map(report_json),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_rfc3339_with_an_offset() {
        assert_eq!(parse_moment("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
        assert_eq!(
            parse_moment("1970-01-01T01:00:01.5+01:00").unwrap(),
            1_500_000_000
        );
        for bad in [
            "",
            "yesterday",
            "2025-03-01",
            "2025-03-01T14:30:00",
            "2025-13-01T14:30:00Z",
            "2025-03-01T14:30:00Z; DROP TABLE versions",
            &"9".repeat(100),
        ] {
            let e = parse_moment(bad).unwrap_err();
            assert_eq!(
                (e.status, e.field),
                (StatusCode::BAD_REQUEST, Some("at")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_are_canonical_and_never_climb() {
        assert_eq!(user_path("").unwrap(), "");
        assert_eq!(user_path("/").unwrap(), "");
        assert_eq!(user_path("/a//b/").unwrap(), "a/b");
        for bad in [
            "/../x",
            "a/./b",
            "..",
            "a\0b",
            "a\\..\\b",
            &"x/".repeat(3000),
        ] {
            let e = user_path(bad).unwrap_err();
            assert_eq!(
                (e.status, e.field),
                (StatusCode::BAD_REQUEST, Some("path")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_are_positive_numbers() {
        assert_eq!(parse_id("12", "version").unwrap(), 12);
        for bad in ["", "0", "-1", "1e3", "abc", "99999999999999999999"] {
            assert_eq!(
                parse_id(bad, "version").unwrap_err().status,
                StatusCode::NOT_FOUND
            );
        }
    }
}
