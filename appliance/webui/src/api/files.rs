//! The file page: folder listings and `/api/dav/`, each user's WebDAV space with the page's session.

use super::*;

#[derive(Deserialize)]
pub(super) struct PathQuery {
    #[serde(default)]
    path: String,
}

#[derive(Serialize)]
pub(super) struct Entry {
    name: String,
    dir: bool,
    size: u64,
    modified: i64,
    durability: Option<&'static str>,
}

pub(super) async fn files(
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
    // How far back "restore this folder as it was at…" reaches, for the picker.
    let keep_days = web.store.version_policy()?.keep_days;
    Ok(Json(
        json!({"path": path, "entries": entries, "keep_days": keep_days}),
    ))
}

/// `/api/dav/...`: the user's WebDAV space with the page's session instead of Basic credentials.
/// Files come back as attachments or sandboxed, so that an uploaded HTML file never runs as the
/// page.
pub(super) async fn dav(
    State(web): AppState,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: axum::extract::Request,
) -> Response {
    let signed = match check_session(&web, req.method(), req.headers()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
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
        Err(_) => return ApiError::bad("bad path", "path").into_response(),
    };
    let method = parts.method.clone();
    let mut resp = web
        .lan
        .dav_as(
            &signed.principal(),
            http::Request::from_parts(parts, body),
            peer,
        )
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
        let decoded = percent_encoding::percent_decode_str(&name).decode_utf8_lossy();
        h.insert(
            header::CONTENT_DISPOSITION,
            microcloud_webdav::server::attachment(&decoded),
        );
    }
    resp.into_response()
}
