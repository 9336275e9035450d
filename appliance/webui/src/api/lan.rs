//! The LAN as the discovery agent sees it (`DATA/discovery/lan.json`), matched with the paired
//! devices: everyone sees their own paired devices and the other devices on the LAN (LAN-wide
//! facts, with an "Invite" on the page); an administrator sees every user's paired devices.

use microcloud_neighbours::LanError;

use super::*;

/// A LAN view larger than this is not one the agent wrote (it keeps at most
/// `MAX_NEIGHBOURS` neighbours, a few hundred KiB): refused before it is read.
const MAX_FILE: u64 = 8 * 1024 * 1024;

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The file as the page names it (not the data directory's absolute path).
const SHOWN: &str = "discovery/lan.json";

/// The discovery agent's file could not be used: a 500 naming it, and the details in the journal.
fn damaged(e: LanError) -> ApiError {
    log::error!("the LAN view: {e}");
    let why = match &e {
        LanError::Io { source, .. } => format!("{SHOWN} could not be read: {source}"),
        LanError::Format { source, .. } => {
            format!("{SHOWN} is damaged (not a LAN view the discovery agent wrote: {source})")
        }
    };
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, why)
}

pub(super) async fn lan(State(web): AppState, s: Signed) -> ApiResult<Json<serde_json::Value>> {
    let store = web.store.clone();
    let overview = tokio::task::spawn_blocking(move || -> ApiResult<_> {
        let path = microcloud_neighbours::path(store.dir());
        if let Ok(m) = std::fs::metadata(&path) {
            if m.len() > MAX_FILE {
                log::error!("the LAN view: {} is {} bytes", path.display(), m.len());
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "{SHOWN} is damaged (larger than {} MiB)",
                        MAX_FILE / 1024 / 1024
                    ),
                ));
            }
        }
        let view = microcloud_neighbours::load(store.dir()).map_err(damaged)?;
        // Every paired device is matched, so that another user's tablet is not shown as an
        // unpaired device with an "Invite"; only the user's own are then kept (all for an
        // administrator).
        let paired = microcloud_accounts::devices::paired(&store)?;
        let now = now_unix();
        Ok((
            microcloud_neighbours::overview(view.as_ref(), &paired, now),
            now,
        ))
    })
    .await
    .map_err(|e| ApiError::internal("the LAN view", e))?;
    let (mut overview, now) = overview?;
    if !s.user.admin {
        overview.paired.retain(|p| p.user == s.user.name);
    }
    let mut v =
        serde_json::to_value(&overview).map_err(|e| ApiError::internal("the LAN view", e))?;
    v["now"] = json!(now);
    Ok(Json(v))
}
