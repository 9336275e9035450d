//! The administrator's dashboard: the store's totals, the uplink's figures, recent activity,
//! versions' space and the ransomware guard's open trips.

use super::*;

pub(super) async fn status(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<serde_json::Value>> {
    let store = web.store.clone();
    let stats = tokio::task::spawn_blocking(move || store.stats())
        .await
        .map_err(|e| ApiError::internal("status", e))??;
    let uplink = web.uplink.status().await?;
    let versions = versions::dashboard_part(&web).await?;
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
        "versions": versions["versions"],
        "guard": versions["guard"],
    })))
}
