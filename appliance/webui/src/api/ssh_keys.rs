//! The maintenance shell's authorized ssh keys.

use super::*;

pub(super) async fn ssh_keys(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<Vec<microcloud_accounts::ssh_keys::Key>>> {
    Ok(Json(microcloud_accounts::ssh_keys::list(web.store.dir())?))
}

#[derive(Deserialize)]
pub(super) struct KeyBody {
    key: String,
}

pub(super) async fn add_ssh_key(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<KeyBody>,
) -> ApiResult<Response> {
    let key = microcloud_accounts::ssh_keys::add(web.store.dir(), &b.key)?;
    log::info!(
        "{} authorized ssh key {} {}",
        log_safe(&s.user.name),
        key.fingerprint,
        log_safe(&key.comment)
    );
    web.lan.record(format!(
        "{}: authorized ssh key {}",
        s.user.name, key.fingerprint
    ));
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

pub(super) async fn remove_ssh_key(
    State(web): AppState,
    Admin(s): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let key = microcloud_accounts::ssh_keys::remove(web.store.dir(), &id)?;
    log::info!(
        "{} removed ssh key {}",
        log_safe(&s.user.name),
        key.fingerprint
    );
    web.lan.record(format!(
        "{}: removed ssh key {}",
        s.user.name, key.fingerprint
    ));
    Ok(Json(json!({"ok": true})))
}
