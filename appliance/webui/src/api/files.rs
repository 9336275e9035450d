//! The file page: folder listings and `/api/dav/`, each user's WebDAV space with the page's session.

use super::*;

#[derive(Deserialize)]
pub(super) struct PathQuery {
    #[serde(default)]
    path: String,
}

/// A page of a folder: `offset`, `limit`, `sort`, `order`, `q` (see API.md).
#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    path: String,
    #[serde(default)]
    offset: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// Most entries in one answer: a page of a huge folder costs what a small folder does.
const MAX_PAGE: u64 = 1000;
/// Longest search text.
const MAX_SEARCH: usize = 255;
/// Largest Markdown file shown as a page.
const MAX_PREVIEW: usize = 4 * 1024 * 1024;

#[derive(Serialize)]
pub(super) struct Entry {
    name: String,
    dir: bool,
    size: u64,
    modified: i64,
    durability: Option<&'static str>,
}

impl ListQuery {
    fn checked(&self) -> ApiResult<microcloud_store::namespace::ListQuery> {
        use microcloud_store::namespace::Sort;
        let sort = match self.sort.as_deref().unwrap_or("name") {
            "name" => Sort::Name,
            "size" => Sort::Size,
            "modified" | "date" => Sort::Modified,
            _ => return Err(ApiError::bad("sort by name, size or modified", "sort")),
        };
        let desc = match self.order.as_deref().unwrap_or("asc") {
            "asc" => false,
            "desc" => true,
            _ => return Err(ApiError::bad("order is asc or desc", "order")),
        };
        let limit = self.limit.unwrap_or(MAX_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::bad(format!("limit is 1 to {MAX_PAGE}"), "limit"));
        }
        let search = self.q.clone().filter(|q| !q.is_empty());
        if search
            .as_ref()
            .is_some_and(|q| q.len() > MAX_SEARCH || q.contains('\0'))
        {
            return Err(ApiError::bad("the search text is too long", "q"));
        }
        Ok(microcloud_store::namespace::ListQuery {
            sort,
            desc,
            search,
            offset: self.offset.unwrap_or(0),
            limit,
        })
    }
}

pub(super) async fn files(
    State(web): AppState,
    signed: Signed,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let path = if q.path.is_empty() {
        "/".to_owned()
    } else {
        q.path.clone()
    };
    user_path(&path)?;
    let query = q.checked()?;
    let store = web.store.clone();
    let (user, p) = (signed.user.id, path.clone());
    let (total, nodes) = blocking(move || store.list_page(user, &p, &query)).await?;
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
    Ok(Json(json!({
        "path": path,
        "total": total,
        "offset": q.offset.unwrap_or(0),
        "entries": entries,
        "keep_days": keep_days,
    })))
}

/// Markdown as HTML for an `<iframe sandbox>`: raw HTML in the file is shown as text and links
/// keep only safe schemes, and the answer's own policy forbids scripts besides. It stays
/// same-origin (no script can run in it) so that the page can read and restore its scroll
/// position.
pub(super) fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
    let safe = |url: &CowStr| {
        let u = url.trim().to_ascii_lowercase();
        !u.contains(':')
            || u.starts_with("http:")
            || u.starts_with("https:")
            || u.starts_with("mailto:")
    };
    let events =
        Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|e| {
            match e {
                Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) if !safe(&dest_url) => Event::Start(Tag::Link {
                    link_type,
                    dest_url: CowStr::Borrowed("#"),
                    title,
                    id,
                }),
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) if !safe(&dest_url) => Event::Start(Tag::Image {
                    link_type,
                    dest_url: CowStr::Borrowed(""),
                    title,
                    id,
                }),
                e => e,
            }
        });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    format!(
        "<!doctype html><meta charset=\"utf-8\"><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:48em;margin:1em auto;padding:0 1em}}pre{{overflow:auto}}img{{max-width:100%}}</style>{body}"
    )
}

pub(super) async fn preview(
    State(web): AppState,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed: Signed,
    Query(q): Query<PathQuery>,
) -> ApiResult<Response> {
    use http_body_util::BodyExt;
    let canonical = user_path(&q.path)?;
    let node = web.store.lookup(signed.user.id, &q.path)?;
    if node.is_dir {
        return Err(ApiError::bad("a folder has no preview", "path"));
    }
    if node.size as usize > MAX_PREVIEW {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "only files up to {} MiB are shown as pages",
                MAX_PREVIEW >> 20
            ),
        ));
    }
    // Read through the LAN service as the user, like a download: evicted content comes back
    // from a destination the same way.
    let encoded: String = canonical
        .split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect::<Vec<_>>()
        .join("/");
    let req = http::Request::get(format!("{}/{encoded}", microcloud_constants::DAV_PREFIX))
        .body(axum::body::Body::empty())
        .map_err(|e| ApiError::internal("a preview", e))?;
    let resp = web.lan.dav_as(&signed.principal(), req, peer).await;
    if !resp.status().is_success() {
        return Err(ApiError::new(resp.status(), "the file could not be read"));
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::internal("reading a file for its preview", e))?
        .to_bytes();
    let html = markdown_html(&String::from_utf8_lossy(&bytes));
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "sandbox allow-same-origin; default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'self'",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    Ok(r)
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
    // A MOVE from the page names its destination in the page's space (`/api/dav/...`); the
    // LAN service knows it under its own prefix.
    if let Some(dest) = parts
        .headers
        .get("destination")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    {
        let path_part = match dest.find("://") {
            Some(i) => dest[i + 3..]
                .find('/')
                .map(|j| &dest[i + 3 + j..])
                .unwrap_or("/"),
            None => dest.as_str(),
        };
        let Some(rest) = path_part.strip_prefix("/api/dav") else {
            return ApiError::bad("the Destination must be under /api/dav/", "destination")
                .into_response();
        };
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let scheme = if dest.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        match HeaderValue::from_str(&format!(
            "{scheme}://{host}{}{}",
            microcloud_constants::DAV_PREFIX,
            if rest.is_empty() { "/" } else { rest }
        )) {
            Ok(v) => {
                parts.headers.insert("destination", v);
            }
            Err(_) => {
                return ApiError::bad("bad Destination header", "destination").into_response()
            }
        }
    }
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
