//! The `/metrics` scrape token the owner sets or removes.

use super::*;

/// `PUT /api/metrics-token`: a new scrape token for `/metrics`, replacing any earlier one. The
/// token is in this answer only; the box keeps its hash. The body, if any, is ignored (but
/// bounded like every body).
pub(super) async fn set_metrics_token(
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
pub(super) async fn remove_metrics_token(
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
