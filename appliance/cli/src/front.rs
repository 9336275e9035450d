//! The gateway's front door: one axum router over the LAN service (`/dav`), the page and its API
//! (`/`, `/assets`, `/api`) and `/metrics`, served by the LAN listener
//! (`microcloud_webdav::connections`). The page gets the uplink as a [`UplinkService`]: here, the
//! uplink process over its unix socket (`microcloud_uplink_api`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};

use microcloud_destination::{Credentials, RemoteConfig};
use microcloud_uplink_api::{ApiError, Client, ErrorBody, NewDestination};
use microcloud_webdav::LanService;
use microcloud_webui::{Page, ServiceError, UplinkService};

/// The front door: `/dav` and below to the LAN service, `/metrics` to an administrator (a page
/// session, Basic credentials) or the scrape token, the rest to the page.
pub fn router(lan: Arc<LanService>, page: Page) -> axum::Router {
    let dav = {
        let lan = lan.clone();
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
            let lan = lan.clone();
            async move { lan.handle(req, peer).await.into_response() }
        }
    };
    let metrics = {
        let page = page.clone();
        move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
            let (lan, page) = (lan.clone(), page.clone());
            async move { metrics(&lan, &page, req, peer).await }
        }
    };
    axum::Router::new()
        .route("/dav", any(dav.clone()))
        .route("/dav/", any(dav.clone()))
        .route("/dav/{*path}", any(dav))
        .route("/metrics", any(metrics))
        .merge(page.router())
}

/// An administrator signed in on the page sees the figures; anyone else is the LAN service's to
/// answer (an administrator's Basic credentials, the scrape token, or 401).
async fn metrics(lan: &LanService, page: &Page, req: Request, peer: SocketAddr) -> Response {
    if page.is_admin(req.headers()) {
        let mut resp = lan.metrics_response().await.into_response();
        Page::add_security_headers(resp.headers_mut());
        return resp;
    }
    lan.handle(req, peer).await.into_response()
}

/// The uplink as the page sees it: the uplink process, over its socket. Its figures are read from
/// its state while it does not run (they stay true; nothing changes them then).
pub struct SocketUplink {
    client: Client,
    dir: PathBuf,
}

impl SocketUplink {
    pub fn new(dir: &Path) -> Arc<SocketUplink> {
        Arc::new(SocketUplink {
            client: Client::new(dir),
            dir: dir.to_owned(),
        })
    }
}

fn service_error(e: ApiError) -> ServiceError {
    match e {
        ApiError::Uplink(ErrorBody::Exists { name }) => ServiceError::Exists(name),
        ApiError::Uplink(ErrorBody::NotFound { name }) => ServiceError::NotFound(name),
        ApiError::Uplink(ErrorBody::Invalid { field, message }) => {
            ServiceError::Invalid(microcloud_destination::Invalid::of(&field, message))
        }
        ApiError::Uplink(ErrorBody::Test { message }) => ServiceError::Test(message),
        e => ServiceError::Internal(e.to_string()),
    }
}

fn new_destination(config: RemoteConfig, credentials: Option<Credentials>) -> NewDestination {
    NewDestination {
        config,
        credentials,
    }
}

impl UplinkService for SocketUplink {
    fn status(&self) -> BoxFuture<'_, Result<microcloud_uplink_state::UplinkStatus, ServiceError>> {
        Box::pin(async move {
            match self.client.status().await {
                Err(ApiError::NotRunning { .. }) => {
                    let dir = self.dir.clone();
                    tokio::task::spawn_blocking(move || {
                        microcloud_uplink_state::UplinkState::open_read_only(&dir)?.status()
                    })
                    .await
                    .map_err(|e| ServiceError::Internal(e.to_string()))?
                    .map_err(|e| ServiceError::Internal(e.to_string()))
                }
                r => r.map_err(service_error),
            }
        })
    }

    fn destinations(&self) -> BoxFuture<'_, Result<Vec<RemoteConfig>, ServiceError>> {
        Box::pin(async move { self.client.destinations().await.map_err(service_error) })
    }

    fn test(
        &self,
        config: RemoteConfig,
        creds: Option<Credentials>,
    ) -> BoxFuture<'_, Result<(), ServiceError>> {
        Box::pin(async move {
            self.client
                .test(&new_destination(config, creds))
                .await
                .map_err(service_error)
        })
    }

    fn add(
        &self,
        config: RemoteConfig,
        creds: Option<Credentials>,
    ) -> BoxFuture<'_, Result<(), ServiceError>> {
        Box::pin(async move {
            self.client
                .add(&new_destination(config, creds))
                .await
                .map_err(service_error)
        })
    }

    fn remove(&self, name: String) -> BoxFuture<'_, Result<(), ServiceError>> {
        Box::pin(async move { self.client.remove(&name).await.map_err(service_error) })
    }
}
