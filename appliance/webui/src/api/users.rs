//! User accounts: list, add, change a password.

use super::*;

pub(super) async fn users(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    Ok(Json(
        web.store
            .users()?
            .into_iter()
            .map(|u| json!({"name": u.name, "admin": u.admin, "devices_only": u.devices_only}))
            .collect(),
    ))
}

#[derive(Deserialize)]
pub(super) struct UserBody {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

pub(super) async fn add_user(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<UserBody>,
) -> ApiResult<Response> {
    let store = web.store.clone();
    let (name, admin) = (b.name.clone(), b.admin);
    tokio::task::spawn_blocking(move || {
        microcloud_accounts::add_user(&store, &b.name, &b.password, b.admin)
    })
    .await
    .map_err(|e| ApiError::internal("adding the user", e))??;
    log::info!(
        "{} added user {}{}",
        log_safe(&s.user.name),
        log_safe(&name),
        if admin { " (administrator)" } else { "" }
    );
    web.lan
        .record(format!("{}: added user {name}", s.user.name));
    Ok((StatusCode::CREATED, Json(json!({"ok": true}))).into_response())
}

#[derive(Deserialize)]
pub(super) struct PasswordBody {
    password: String,
}

pub(super) async fn set_password(
    State(web): AppState,
    Admin(s): Admin,
    Https(https): Https,
    Path(name): Path<String>,
    Body(b): Body<PasswordBody>,
) -> ApiResult<Response> {
    let Some(user) = web.store.user(&name)? else {
        return Err(StoreError::NoSuchUser { name }.into());
    };
    let hash = tokio::task::spawn_blocking(move || microcloud_accounts::hash_password(&b.password))
        .await
        .map_err(|e| ApiError::internal("hashing the password", e))??;
    web.store.set_password(&name, &hash)?;
    web.sessions.remove_user(user.id);
    log::info!(
        "{} set the password of {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    let mut resp = Json(json!({"ok": true})).into_response();
    if user.id == s.user.id {
        // Changing one's own password ends one's other sessions, not this one.
        let token = web.sessions.create(user.id, &user.name, &hash);
        resp = with_cookie(resp, sessions::set_cookie(&token, https));
    }
    Ok(resp)
}
