//! The gateway's front door: one axum router over the LAN service (`/dav`), the page and its API
//! (`/`, `/assets`, `/api`) and `/metrics`, served by the LAN listener
//! (`microcloud_webdav::connections`). The page gets the uplink as a [`UplinkService`]: here, the
//! uplink's library on the shared data directory.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::future::BoxFuture;
use microcloud_remotes::{Credentials, RemoteConfig};
use microcloud_store::Store;
use microcloud_uplink::DestinationError;
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

/// The uplink as the page sees it, through the uplink's library on this data directory.
pub struct LocalUplink {
    store: Store,
}

impl LocalUplink {
    pub fn new(store: Store) -> Arc<LocalUplink> {
        Arc::new(LocalUplink { store })
    }
}

fn service_error(e: DestinationError) -> ServiceError {
    match e {
        DestinationError::Exists { name } => ServiceError::Exists(name),
        DestinationError::NotFound { name } => ServiceError::NotFound(name),
        DestinationError::InvalidName { name } => match microcloud_destination::check_name(&name) {
            Err(invalid) => ServiceError::Invalid(invalid),
            Ok(()) => ServiceError::Internal(format!("destination name {name:?} refused")),
        },
        e @ (DestinationError::Probe { .. } | DestinationError::Remote(_)) => {
            ServiceError::Test(e.to_string())
        }
        e => ServiceError::Internal(e.to_string()),
    }
}

impl UplinkService for LocalUplink {
    fn status(&self) -> BoxFuture<'_, Result<microcloud_uplink_state::UplinkStatus, ServiceError>> {
        let dir = self.store.dir().to_owned();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || microcloud_uplink::status::read(&dir))
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .map_err(|e| ServiceError::Internal(e.to_string()))
        })
    }

    fn destinations(&self) -> BoxFuture<'_, Result<Vec<RemoteConfig>, ServiceError>> {
        let store = self.store.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || microcloud_uplink::destinations::list(&store))
                .await
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .map(|list| list.into_iter().map(|d| d.config).collect())
                .map_err(service_error)
        })
    }

    fn test(
        &self,
        config: RemoteConfig,
        creds: Option<Credentials>,
    ) -> BoxFuture<'_, Result<(), ServiceError>> {
        Box::pin(async move {
            microcloud_uplink::destinations::test(config, creds)
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
            microcloud_uplink::destinations::add(&self.store, config, creds, false)
                .await
                .map(|_| ())
                .map_err(service_error)
        })
    }

    fn remove(&self, name: String) -> BoxFuture<'_, Result<(), ServiceError>> {
        Box::pin(async move {
            microcloud_uplink::destinations::remove(&self.store, &name)
                .await
                .map_err(service_error)
        })
    }
}
