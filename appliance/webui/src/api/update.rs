//! The page's Update card: the system's slots and versions, an update that was rolled back and
//! why, and a new bundle uploaded (or named by URL) for the box to apply.
//!
//! The gateway stays unprivileged: it receives the bundle into the data directory, checks it
//! whole against the key the image trusts (so a bad bundle is refused at once, with the reason),
//! and starts `microcloud-update.service` through systemd's D-Bus API (polkit lets its user start
//! that unit and no other). That unit, as root, checks the bundle again and writes the slot,
//! reporting its progress in `update/progress.json`, which `GET /api/system/update` returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::Json;
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode};
use microcloud_accounts::log_safe;
use microcloud_constants as constants;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::system::{appliance_only, start_unit, system_bus, unit_running};
use super::{Admin, ApiError, ApiResult as Result};
use crate::Web;

/// The unit that applies what the page received (see units/).
const UPDATE_UNIT: &str = "microcloud-update.service";
/// Largest bundle taken (today's is 74 MiB; two root slots of 256 MiB bound any real one).
pub const MAX_BUNDLE: u64 = 1 << 30;

/// One upload or apply at a time, for the whole gateway.
static BUSY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn internal(what: &Path) -> impl FnOnce(std::io::Error) -> ApiError + '_ {
    move |e| {
        log::warn!("{}: {e}", what.display());
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}: {e}", what.display()),
        )
    }
}

fn read_json(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// What `update/progress.json` says while an apply is under way.
const BUSY_STATES: [&str; 4] = ["queued", "downloading", "verifying", "writing"];

/// The apply's progress as recorded. A busy state that no running service backs is reported as
/// `interrupted`: the box lost power or restarted while the service wrote (or the service was
/// killed), so the file was never brought to its end. Left as it was, it would refuse every
/// update from the page for good. `holding` says the caller holds [`BUSY`] (so no request of this
/// gateway is between writing "queued" and starting the unit).
async fn progress(web: &Web, holding: bool) -> Result<Value> {
    let path = web.store.dir().join(constants::UPDATE_PROGRESS_FILE);
    let p = read_json(&path);
    let busy = p["state"]
        .as_str()
        .is_some_and(|s| BUSY_STATES.contains(&s));
    if !busy && web.options.appliance && written_before_boot(&path) {
        // "Done: restart to run it" is old news once the box has restarted.
        return Ok(Value::Null);
    }
    if !busy || (!holding && BUSY.try_lock().is_err()) {
        return Ok(p);
    }
    // A development gateway never starts the service, so nothing there can be under way.
    let running = web.options.appliance && unit_running(&system_bus().await?, UPDATE_UNIT).await?;
    if running {
        return Ok(p);
    }
    Ok(json!({
        "state": "interrupted",
        "version": p["version"],
        "was": p,
        "message": "the last update stopped before it was written whole (the box restarted or lost power): the running system is unchanged and the half-written slot will not start; send the update again",
    }))
}

/// Whether `path` was last written before this boot (by /proc/stat's boot time).
fn written_before_boot(path: &Path) -> bool {
    let btime = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
    });
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    matches!((btime, mtime), (Some(b), Some(m)) if m.as_secs() < b)
}

/// The gateway's one update at a time: [`BUSY`], held by the caller until its request is
/// handed over, and no apply under way.
async fn claim(web: &Web) -> Result<tokio::sync::MutexGuard<'static, ()>> {
    let Ok(busy) = BUSY.try_lock() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "an update is being received: wait for it to finish",
        ));
    };
    let now = progress(web, true).await?;
    if now["state"]
        .as_str()
        .is_some_and(|s| BUSY_STATES.contains(&s))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "an update is being applied: wait for it to finish",
        ));
    }
    Ok(busy)
}

/// `GET /api/system/update`: the running version, each slot, what boots next, a rolled-back
/// update with the reasons recorded, the progress of an apply, and how much waits for the cloud
/// (an update may go ahead: it does not touch the data partition).
pub async fn get(State(web): State<Arc<Web>>, _admin: Admin) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let dir = web.store.dir().to_owned();
    let running = std::fs::read_to_string(constants::SYSTEM_VERSION_FILE)
        .map(|v| v.trim().to_owned())
        .ok();
    let failures = microcloud_update::read_failures(&dir.join(constants::BOOT_FAILURES_FILE));
    let slots =
        microcloud_update::Layout::system().and_then(|l| microcloud_update::status(&l, &failures));
    let (slots, slots_error) = match slots {
        Ok(s) => (serde_json::to_value(s).expect("serializes"), None),
        Err(e) => (Value::Null, Some(e.to_string())),
    };
    let store = web.store.clone();
    let unflushed = tokio::task::spawn_blocking(move || store.stats())
        .await
        .map_err(|e| ApiError::internal("update", e))??
        .dirty_bytes;
    Ok(Json(json!({
        "running_version": running,
        "unflushed_bytes": unflushed,
        "slots": slots,
        "slots_error": slots_error,
        "progress": progress(&web, false).await?,
    })))
}

#[derive(Deserialize, Default)]
pub struct UpdateQuery {
    /// Install even if it is not newer than the running system.
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
struct UrlBody {
    url: String,
}

/// `POST /api/system/update[?force=true]`: the bundle as the body (streamed to the data
/// partition), or `{"url": "https://..."}` for the box to download.
pub async fn post(
    State(web): State<Arc<Web>>,
    Admin(s): Admin,
    Query(q): Query<UpdateQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BUNDLE) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an update bundle is at most {} MiB", MAX_BUNDLE >> 20),
        )
        .field("bundle"));
    }
    let _busy = claim(&web).await?;
    let dir = web.store.dir().to_owned();
    let update_dir = dir.join(constants::UPDATE_DIR);
    tokio::fs::create_dir_all(&update_dir)
        .await
        .map_err(internal(&update_dir))?;
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let inbox = dir.join(constants::UPDATE_INBOX_FILE);
    let (request, version) = if is_json {
        let bytes = axum::body::to_bytes(body, 4096).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "send {\"url\": \"https://...\"} (under 4 KiB)",
            )
        })?;
        let b: UrlBody = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("send {{\"url\": \"https://...\"}}: {e}"),
            )
            .field("url")
        })?;
        let url = b.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() > 2048
            || url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the address of a bundle starts with http:// or https://",
            )
            .field("url"));
        }
        (json!({"url": url, "force": q.force}), None)
    } else {
        let got = receive(body, &inbox).await?;
        let key_path = web.options.update_key.clone();
        let bundle = inbox.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let key = microcloud_update::PublicKey::from_file(&key_path)?;
            microcloud_update::verify(&bundle, &key)
        })
        .await
        .expect("verify does not panic");
        let verified = match checked {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&inbox);
                log::warn!(
                    "{} sent an update bundle that was refused: {e}",
                    log_safe(&s.user.name)
                );
                let shown = e
                    .to_string()
                    .replace(&inbox.display().to_string(), "the bundle");
                return Err(ApiError::new(StatusCode::BAD_REQUEST, shown).field("bundle"));
            }
        };
        let version = verified.manifest.system_version.clone();
        let running = std::fs::read_to_string(constants::SYSTEM_VERSION_FILE)
            .map(|v| v.trim().to_owned())
            .ok();
        if let Some(r) = &running {
            if !q.force
                && microcloud_update::compare_versions(&version, r) != std::cmp::Ordering::Greater
            {
                let _ = std::fs::remove_file(&inbox);
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("the bundle holds {version}, which is not newer than the running system ({r}): tick \"install anyway\" to install it"),
                )
                .field("force"));
            }
        }
        log::info!(
            "{} uploaded update bundle {} ({got} bytes), signature and checksums good",
            log_safe(&s.user.name),
            log_safe(&version)
        );
        (json!({"file": inbox, "force": q.force}), Some(version))
    };
    if let Err(e) = appliance_only(&web) {
        let _ = std::fs::remove_file(&inbox);
        return Err(e);
    }
    queue(&dir, &request, version.as_deref()).await?;
    log::info!("{} started an update", log_safe(&s.user.name));
    Ok(Json(json!({
        "ok": true,
        "version": version,
        "message": "the update is being written to the other system slot; restart the box when it is done",
    })))
}

/// Hands `request` to microcloud-update.service (through `update/request.json`) and starts it.
async fn queue(dir: &Path, request: &Value, version: Option<&str>) -> Result<()> {
    let request_path = dir.join(constants::UPDATE_REQUEST_FILE);
    microcloud_store::write_file_durably(&request_path, request.to_string().as_bytes(), 0o660)
        .map_err(internal(&request_path))?;
    let progress_path = dir.join(constants::UPDATE_PROGRESS_FILE);
    let queued =
        json!({"state": "queued", "version": version, "message": "waiting for the update service"});
    microcloud_store::write_file_durably(&progress_path, queued.to_string().as_bytes(), 0o660)
        .map_err(internal(&progress_path))?;
    start_unit(
        &system_bus().await?,
        UPDATE_UNIT,
        "starting the update service",
    )
    .await
}

/// `POST /api/system/update/rollback`: the other slot's system, if it is a good one, starts at
/// the next restart (with its tries counted, like an update). The same service does it, as root.
pub async fn rollback(State(web): State<Arc<Web>>, Admin(s): Admin) -> Result<Json<Value>> {
    appliance_only(&web)?;
    let _busy = claim(&web).await?;
    // Checked here too, so that the owner hears at once why there is nothing to go back to.
    let status = microcloud_update::Layout::system()
        .and_then(|l| microcloud_update::status(&l, &[]))
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let Some(other) = status
        .slots
        .iter()
        .find(|x| !x.booted && matches!(x.state, microcloud_update::SlotState::Good))
    else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "there is no earlier system to go back to: the other slot is empty, failed or not yet proven",
        ));
    };
    let version = other.version.clone();
    queue(
        web.store.dir(),
        &json!({"rollback": true}),
        version.as_deref(),
    )
    .await?;
    log::info!(
        "{} asked to go back to microcloud {} (slot {})",
        log_safe(&s.user.name),
        log_safe(version.as_deref().unwrap_or("?")),
        other.slot
    );
    Ok(Json(json!({
        "ok": true,
        "version": version,
        "message": "the earlier system starts at the next restart",
    })))
}

/// Streams the body to `dest` (through a temporary beside it), refusing more than
/// [`MAX_BUNDLE`]; returns the size.
async fn receive(body: Body, dest: &Path) -> Result<u64> {
    let part: PathBuf = dest.with_extension("part");
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(internal(&part))?;
    let mut stream = body.into_data_stream();
    let mut got = 0u64;
    let fail = |e: ApiError| {
        let _ = std::fs::remove_file(&part);
        e
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            fail(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the upload broke off: {e}"),
            ))
        })?;
        got += chunk.len() as u64;
        if got > MAX_BUNDLE {
            return Err(fail(
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("an update bundle is at most {} MiB", MAX_BUNDLE >> 20),
                )
                .field("bundle"),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| fail(internal(&part)(e)))?;
    }
    if got == 0 {
        return Err(fail(
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "choose an update bundle (microcloud-VERSION.update)",
            )
            .field("bundle"),
        ));
    }
    file.sync_all()
        .await
        .map_err(|e| fail(internal(&part)(e)))?;
    tokio::fs::rename(&part, dest)
        .await
        .map_err(|e| fail(internal(dest)(e)))?;
    Ok(got)
}
