//! The box's state for the page, onboarding with the setup code, signing in and out.

use super::*;

pub(super) async fn state(
    State(web): AppState,
    headers: http::HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let onboarding = !web.store.has_admin()?;
    let signed = if onboarding {
        None
    } else {
        check_session(&web, &Method::GET, &headers).ok()
    };
    Ok(Json(json!({
        "onboarding": onboarding,
        "appliance": web.options.appliance,
        "hostname": system::hostname(web.options.appliance).await,
        "user": signed.as_ref().map(|s| json!({"name": s.user.name, "admin": s.user.admin})),
        "ca_fingerprint": web.options.ca_fingerprint,
        "device": signed.as_ref().and_then(|s| s.session.device.as_ref().map(|(_, name)| name.clone())),
        "csrf": signed.as_ref().map(|s| s.session.csrf.clone()),
    })))
}

/// The account wrong setup codes are counted under.
pub(super) const SETUP_ACCOUNT: &str = "setup";

#[derive(Deserialize)]
pub(super) struct OnboardingBody {
    code: String,
    name: String,
    password: String,
    #[serde(default)]
    ssh_key: String,
}

pub(super) async fn onboarding(
    State(web): AppState,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Https(https): Https,
    Body(b): Body<OnboardingBody>,
) -> ApiResult<Response> {
    let client = client.ip();
    let already = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "the box is already set up: sign in instead",
        )
    };
    if web.store.has_admin()? {
        return Err(already());
    }
    web.setup_throttle
        .check(client, SETUP_ACCOUNT)
        .map_err(ApiError::too_many)?;
    let _one_at_a_time = web.onboarding.lock().await;
    if web.store.has_admin()? {
        return Err(already());
    }
    let store = web.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        let o = microcloud_accounts::setup::Onboarding {
            code: &b.code,
            name: &b.name,
            password: &b.password,
            ssh_key: &b.ssh_key,
        };
        microcloud_accounts::setup::onboard(&store, &o)
    })
    .await
    .map_err(|e| ApiError::internal("onboarding", e))?;
    let user = match result {
        Ok(u) => u,
        Err(AccountError::WrongSetupCode) => {
            web.setup_throttle.fail(client, SETUP_ACCOUNT);
            log::warn!("{client}: wrong setup code");
            return Err(AccountError::WrongSetupCode.into());
        }
        Err(AccountError::BadSshKey(why)) => {
            return Err(ApiError::bad(format!("ssh key refused: {why}"), "ssh_key"))
        }
        Err(e) => return Err(e.into()),
    };
    web.setup_throttle.succeed(client, SETUP_ACCOUNT);
    log::info!(
        "{client}: onboarding done: administrator {} created; the setup code is retired",
        log_safe(&user.name)
    );
    web.lan
        .record(format!("setup done: administrator {} created", user.name));
    let token = web
        .sessions
        .create(user.id, &user.name, &user.password_hash);
    Ok(with_cookie(
        Json(json!({"ok": true})).into_response(),
        sessions::set_cookie(&token, https),
    ))
}

#[derive(Deserialize)]
pub(super) struct SignInBody {
    name: String,
    password: String,
}

pub(super) async fn sign_in(
    State(web): AppState,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Https(https): Https,
    Body(b): Body<SignInBody>,
) -> ApiResult<Response> {
    let client = client.ip();
    if !web.store.has_admin()? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the box is not set up yet: enter the setup code first",
        ));
    }
    // The same throttle and the same one-check-at-a-time per address as WebDAV's Basic
    // credentials: guesses on the page and over WebDAV count together.
    // No name or password is that long: wrong without an argon2 check, but counted like any
    // other wrong try.
    let user = if b.name.len() > 64 || b.password.len() > 1024 {
        web.lan
            .count_wrong_password(client, &b.name)
            .map_err(ApiError::too_many)?;
        None
    } else {
        match web.lan.check_password(client, &b.name, &b.password).await {
            Ok(u) => u,
            Err(microcloud_webdav::server::Checked::Throttled(wait)) => {
                log::debug!("{client}: sign-in refused: too many wrong tries");
                return Err(ApiError::too_many(wait));
            }
            Err(microcloud_webdav::server::Checked::Failed(e)) => return Err(e.into()),
        }
    };
    match user {
        Some(user) => {
            log::info!("{client}: {} signed in", log_safe(&user.name));
            let token = web
                .sessions
                .create(user.id, &user.name, &user.password_hash);
            Ok(with_cookie(
                Json(json!({"ok": true})).into_response(),
                sessions::set_cookie(&token, https),
            ))
        }
        None => {
            // What was typed as a name is sometimes a password: only an existing user's name is
            // logged.
            let known = b.name.len() <= 64 && web.store.user(&b.name)?.is_some();
            if known {
                log::info!("{client}: failed sign-in as {}", log_safe(&b.name));
            } else {
                log::info!("{client}: failed sign-in as an unknown user");
            }
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong name or password",
            ))
        }
    }
}

/// Whether the session still holds (a paired tablet's page asks now and then, so that it learns
/// at once when it was removed).
pub(super) async fn session(signed: Signed) -> Json<serde_json::Value> {
    Json(json!({"ok": true, "user": signed.user.name}))
}

pub(super) async fn sign_out(
    State(web): AppState,
    signed: Signed,
    Https(https): Https,
    headers: http::HeaderMap,
) -> Response {
    if let Some(t) = sessions::cookie_token(&headers) {
        web.sessions.remove(&t);
    }
    log::info!("{} signed out", log_safe(&signed.user.name));
    with_cookie(
        Json(json!({"ok": true})).into_response(),
        sessions::clear_cookie(https),
    )
}
