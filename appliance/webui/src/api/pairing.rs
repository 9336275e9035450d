//! Pairing a new tablet (see `crate::pairing`): the signed-in tablet starts, watches, approves or
//! refuses; the new tablet, without a session, claims with the code and asks how it stands.

use super::*;
use crate::pairing::{ClaimView, Handover, PairError};
use base64::Engine;

/// The account wrong pairing codes are counted under (per address, in the page's throttle for
/// codes).
const PAIR_ACCOUNT: &str = "pairing";

impl From<PairError> for ApiError {
    fn from(e: PairError) -> ApiError {
        let status = match e {
            PairError::WrongCode => StatusCode::BAD_REQUEST,
            PairError::Expired => StatusCode::GONE,
            PairError::Used | PairError::State(_) => StatusCode::CONFLICT,
            PairError::NotFound => StatusCode::NOT_FOUND,
            PairError::TooMany => StatusCode::TOO_MANY_REQUESTS,
        };
        let field = matches!(e, PairError::WrongCode).then_some("code");
        let mut a = ApiError::new(status, e.to_string());
        if let Some(f) = field {
            a = a.field(f);
        }
        a
    }
}

/// The origin the request came to (its scheme, and the `Host` it named when that is a plain host
/// name or address), for the URLs in QR codes.
fn origin(headers: &http::HeaderMap, https: bool) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("microcloud.local");
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// `text` as a QR code in SVG, as a data URL the page can show in an `<img>`.
fn qr_data_url(text: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| ApiError::internal("making the QR code", e))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

#[derive(Deserialize)]
pub(super) struct StartBody {
    /// Whose device the new tablet becomes: only the signed-in user themselves.
    user: Option<String>,
}

pub(super) async fn start(
    State(web): AppState,
    s: Signed,
    Https(https): Https,
    headers: http::HeaderMap,
    Body(b): Body<StartBody>,
) -> ApiResult<Response> {
    if b.user.as_deref().is_some_and(|u| u != s.user.name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a tablet can be paired only to your own account: its owner signs in to pair it",
        ));
    }
    let started = web.pairings.start(s.user.id, &s.user.name)?;
    let origin = origin(&headers, https);
    let url = format!("{origin}/pair#{}", started.token);
    log::info!("{} started pairing a tablet", log_safe(&s.user.name));
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": started.id,
            "code": started.code,
            "url": url,
            "pair_url": format!("{origin}/pair"),
            "qr": qr_data_url(&url)?,
            "expires_in": started.expires_in,
            "ca_fingerprint": web.options.ca_fingerprint,
        })),
    )
        .into_response())
}

pub(super) async fn view(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Json<crate::pairing::View>> {
    Ok(Json(web.pairings.view(&id, s.user.id)?))
}

/// A free device name for `user` near `wanted` ("iPad", "iPad 2", ...).
fn free_name(web: &Web, user: &str, wanted: &str) -> ApiResult<String> {
    let taken: Vec<String> = web
        .store
        .devices(Some(user))?
        .into_iter()
        .map(|d| d.name)
        .collect();
    let mut name = wanted.to_owned();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{} {n}", wanted.chars().take(58).collect::<String>());
        n += 1;
    }
    Ok(name)
}

pub(super) async fn approve(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let wanted = web.pairings.approvable(&id, s.user.id)?;
    let name = free_name(&web, &s.user.name, &wanted)?;
    let (device, password) = microcloud_accounts::devices::add(&web.store, &s.user.name, &name)?;
    let session_token = web.sessions.create_for_device(
        s.user.id,
        &s.user.name,
        &s.user.password_hash,
        (device, name.clone()),
    );
    let handover = Handover {
        session_token,
        password,
        user: s.user.name.clone(),
        device_name: name.clone(),
    };
    if let Err(e) = web.pairings.approve(&id, s.user.id, handover) {
        // Refused or expired in the meantime: the device must not outlive its pairing.
        let _ = web.store.revoke_device(&s.user.name, &name);
        return Err(e.into());
    }
    log::info!(
        "{} paired a tablet as device {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    web.lan.record(format!(
        "{}: paired a tablet as {}",
        s.user.name,
        log_safe(&name)
    ));
    Ok(Json(json!({"ok": true, "device_name": name})))
}

pub(super) async fn refuse(
    State(web): AppState,
    s: Signed,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    web.pairings.refuse(&id, s.user.id)?;
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
pub(super) struct ClaimBody {
    /// The 8-character code, or the token of the QR code's URL.
    pub(super) code: String,
    /// What the new tablet is to be called.
    pub(super) device_name: String,
}

pub(super) async fn claim(
    State(web): AppState,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: http::HeaderMap,
    Body(b): Body<ClaimBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let ip = client.ip();
    web.pair_throttle
        .check(ip, PAIR_ACCOUNT)
        .map_err(ApiError::too_many)?;
    microcloud_store::check_device_name(&b.device_name)
        .map_err(|e| ApiError::bad(e.to_string(), "device_name"))?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let kind = microcloud_accounts::devices::kind(agent);
    match web
        .pairings
        .claim(&b.code, &b.device_name, kind, &ip.to_string())
    {
        Ok(c) => {
            web.pair_throttle.succeed(ip, PAIR_ACCOUNT);
            log::info!(
                "{client}: a tablet ({kind}) sent a pairing code of {}",
                log_safe(&c.user)
            );
            Ok(Json(json!({
                "claim": c.claim,
                "confirmation": c.confirmation,
                "user": c.user,
            })))
        }
        Err(e) => {
            if e == PairError::WrongCode {
                web.pair_throttle.fail(ip, PAIR_ACCOUNT);
                log::info!("{client}: wrong pairing code");
            }
            Err(e.into())
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ClaimStatusBody {
    claim: String,
}

pub(super) async fn claim_status(
    State(web): AppState,
    Https(https): Https,
    headers: http::HeaderMap,
    Body(b): Body<ClaimStatusBody>,
) -> ApiResult<Response> {
    match web.pairings.claim_view(&b.claim)? {
        ClaimView::Waiting { confirmation } => {
            Ok(Json(json!({"state": "waiting", "confirmation": confirmation})).into_response())
        }
        ClaimView::Over(e) => Err(e.into()),
        ClaimView::Approved(h) => {
            let dav = format!(
                "{}{}/",
                origin(&headers, https),
                microcloud_constants::DAV_PREFIX
            );
            let resp = Json(json!({
                "state": "approved",
                "user": h.user,
                "device_name": h.device_name,
                "password": h.password,
                "dav_url": dav,
                "dav_qr": qr_data_url(&format!("{dav}\n{}\n{}", h.user, h.password))?,
            }))
            .into_response();
            Ok(with_cookie(
                resp,
                sessions::set_cookie(&h.session_token, https),
            ))
        }
    }
}
