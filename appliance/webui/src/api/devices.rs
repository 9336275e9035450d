//! Devices: everyone sees and revokes their own, administrators everyone's; a device's password
//! is shown once, when it is added.

use super::*;

fn device_json(d: &microcloud_store::Device, this: bool) -> serde_json::Value {
    json!({
        "user": d.user,
        "name": d.name,
        "created": secs(d.created_ns),
        "last_seen": d.last_seen_ns.map(secs),
        "last_address": d.last_addr,
        "kind": microcloud_accounts::devices::kind(d.user_agent.as_deref()),
        "this": this,
    })
}

/// Whether `s` may manage the devices of `user`.
fn may_manage(s: &Signed, user: &str) -> ApiResult<()> {
    if s.user.admin || s.user.name == user {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "you may manage your own devices only",
        ))
    }
}

pub(super) async fn devices(
    State(web): AppState,
    s: Signed,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let only = (!s.user.admin).then_some(s.user.name.as_str());
    let this = s.session.device.as_ref().map(|(id, _)| *id);
    Ok(Json(
        web.store
            .devices(only)?
            .iter()
            .map(|d| device_json(d, Some(d.id) == this))
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(super) struct DeviceBody {
    pub(super) name: String,
    /// Whose device; the signed-in user's when absent.
    user: Option<String>,
}

pub(super) async fn add_device(
    State(web): AppState,
    s: Signed,
    Body(b): Body<DeviceBody>,
) -> ApiResult<Response> {
    let user = b.user.unwrap_or_else(|| s.user.name.clone());
    may_manage(&s, &user)?;
    let (_, password) = microcloud_accounts::devices::add(&web.store, &user, &b.name)?;
    log::info!(
        "{} added device {} of {}",
        log_safe(&s.user.name),
        log_safe(&b.name),
        log_safe(&user)
    );
    web.lan.record(format!(
        "{}: added device {} of {user}",
        s.user.name,
        log_safe(&b.name)
    ));
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user, "name": b.name, "password": password})),
    )
        .into_response())
}

pub(super) async fn revoke_device(
    State(web): AppState,
    s: Signed,
    Path((user, name)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    may_manage(&s, &user)?;
    web.store.revoke_device(&user, &name)?;
    log::info!(
        "{} revoked device {} of {}",
        log_safe(&s.user.name),
        log_safe(&name),
        log_safe(&user)
    );
    web.lan.record(format!(
        "{}: revoked device {} of {user}",
        s.user.name,
        log_safe(&name)
    ));
    Ok(Json(json!({"ok": true})))
}

#[derive(Deserialize)]
pub(super) struct DevicesOnlyBody {
    on: bool,
}

pub(super) async fn set_devices_only(
    State(web): AppState,
    Admin(s): Admin,
    Path(name): Path<String>,
    Body(b): Body<DevicesOnlyBody>,
) -> ApiResult<Json<serde_json::Value>> {
    web.store.set_devices_only(&name, b.on)?;
    log::info!(
        "{} set device passwords only for {} {}",
        log_safe(&s.user.name),
        log_safe(&name),
        if b.on { "on" } else { "off" }
    );
    Ok(Json(json!({"ok": true})))
}
