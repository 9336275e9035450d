//! Cloud destinations: list, test, add, remove, through the uplink service the page is handed.

use super::*;

pub(super) async fn destinations(
    State(web): AppState,
    _admin: Admin,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let list = web.uplink.destinations().await?;
    Ok(Json(
        list.into_iter()
            .map(|d| match d.kind {
                RemoteKind::S3 { endpoint, region, bucket, prefix, path_style, ca_pem } => json!({
                    "name": d.name, "kind": "s3", "endpoint": endpoint, "region": region, "bucket": bucket,
                    "prefix": prefix, "path_style": path_style, "private_ca": ca_pem.is_some(), "path": null,
                }),
                RemoteKind::Dir { path } => json!({
                    "name": d.name, "kind": "dir", "endpoint": null, "region": null, "bucket": null,
                    "prefix": null, "path_style": null, "private_ca": null, "path": path,
                }),
            })
            .collect(),
    ))
}

pub(super) async fn probe(
    web: &Web,
    config: RemoteConfig,
    creds: Option<microcloud_destination::Credentials>,
) -> ApiResult<()> {
    match tokio::time::timeout(PROBE_TIMEOUT, web.uplink.test(config, creds)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ApiError::bad(
            format!(
                "the destination did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
            "test",
        )),
    }
}

pub(super) async fn test_destination(
    State(web): AppState,
    _admin: Admin,
    Body(b): Body<DestinationSpec>,
) -> ApiResult<Json<serde_json::Value>> {
    let (config, creds) = b.validate().map_err(ServiceError::from)?;
    let name = config.name.clone();
    probe(&web, config, creds).await?;
    Ok(Json(
        json!({"ok": true, "message": format!("{name} works: a test object was written, read back and deleted")}),
    ))
}

pub(super) async fn add_destination(
    State(web): AppState,
    Admin(s): Admin,
    Body(b): Body<DestinationSpec>,
) -> ApiResult<Response> {
    let (config, creds) = b.validate().map_err(ServiceError::from)?;
    if web
        .uplink
        .destinations()
        .await?
        .iter()
        .any(|d| d.name == config.name)
    {
        return Err(ServiceError::Exists(config.name).into());
    }
    probe(&web, config.clone(), creds.clone()).await?;
    let name = config.name.clone();
    web.uplink.add(config, creds).await?;
    log::info!(
        "{} added destination {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    web.lan
        .record(format!("{}: added destination {name}", s.user.name));
    Ok((StatusCode::CREATED, Json(json!({"ok": true}))).into_response())
}

pub(super) async fn remove_destination(
    State(web): AppState,
    Admin(s): Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    web.uplink.remove(name.clone()).await?;
    log::info!(
        "{} removed destination {}",
        log_safe(&s.user.name),
        log_safe(&name)
    );
    web.lan
        .record(format!("{}: removed destination {name}", s.user.name));
    Ok(Json(json!({"ok": true})))
}
