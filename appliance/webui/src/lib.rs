//! The owner's web page and its JSON API, served by the gateway beside WebDAV.
//!
//! It takes an owner from first boot (the one-time setup code, the first administrator) to a
//! working gateway (cloud destinations, users, ssh keys, the box's name and clock), then shows
//! whether their data is safe (the dashboard) and lets every user reach their files. The page is
//! plain HTML, CSS and a little JavaScript compiled into the binary (`assets/`); the API is
//! described in `API.md`. Every operation calls the same library functions as the CLI
//! (`microcloud_accounts`, `microcloud_uplink::destinations`, the store), on the same catalog, so
//! the page and the shell never disagree.
//!
//! [`WebService`] wraps the LAN service: `/dav/` and `/metrics` go to it unchanged; everything
//! else is the page. Security: sessions in HttpOnly SameSite=Strict cookies, a CSRF token on every
//! change, rate limits on sign-in and on the setup code, no secret in any response.

mod api;
mod assets;
pub mod sessions;
mod system;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt};
use hyper::body::Incoming;
use microcloud_constants::DAV_PREFIX;
use microcloud_store::Store;
use microcloud_webdav::server::Handle;
use microcloud_webdav::LanService;
use tower::ServiceExt;

use crate::sessions::{Limiter, Sessions};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How the page is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Running as the appliance: the system page manages this machine (hostname, time zone,
    /// network, power, factory reset) through systemd's D-Bus services. Off, those answer 503.
    pub appliance: bool,
    /// Serve the page's files from this directory instead of the copies compiled in (for
    /// working on the page without rebuilding).
    pub assets_dir: Option<PathBuf>,
}

/// The state every handler shares.
pub struct Web {
    lan: Arc<LanService>,
    store: Store,
    sessions: Sessions,
    sign_in_limit: Limiter,
    setup_limit: Limiter,
    options: Options,
    /// Onboarding runs one at a time (argon2 and the first-admin check).
    onboarding: tokio::sync::Mutex<()>,
}

/// The LAN service with the page in front of it.
pub struct WebService {
    web: Arc<Web>,
    router: axum::Router,
}

impl WebService {
    /// The page around `lan`.
    pub fn new(lan: Arc<LanService>, options: Options) -> Arc<WebService> {
        let web = Arc::new(Web {
            store: lan.store().clone(),
            lan,
            sessions: Sessions::default(),
            // A person mistypes a few times; a script guessing gets a few tries a minute.
            sign_in_limit: Limiter::new(5, 30, Duration::from_secs(60)),
            setup_limit: Limiter::new(5, 10, Duration::from_secs(300)),
            options,
            onboarding: tokio::sync::Mutex::new(()),
        });
        let router = api::router(web.clone());
        Arc::new(WebService { web, router })
    }
}

/// The client's address, put in each request's extensions for the rate limits and the logs.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Handle for WebService {
    fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> impl std::future::Future<Output = Response<Body>> + Send {
        async move {
            let path = req.uri().path();
            if path == "/metrics" || path == DAV_PREFIX || path.starts_with("/dav/") {
                return LanService::handle(&self.web.lan, req, peer).await;
            }
            if path == "/api/dav" || path.starts_with("/api/dav/") {
                return api::dav(&self.web, req, peer).await;
            }
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(Peer(peer));
            let resp: Result<axum::response::Response, Infallible> = self.router.clone().oneshot(req).await;
            let resp = match resp {
                Ok(r) => r,
                Err(never) => match never {},
            };
            to_server_body(resp)
        }
    }
}

/// An axum response with the body type the LAN server sends.
pub(crate) fn to_server_body(resp: axum::response::Response) -> Response<Body> {
    resp.map(|b| b.map_err(std::io::Error::other).boxed_unsync())
}

impl Web {
    /// The setup code while onboarding is pending, made if needed (for the terminal and logs).
    pub fn setup_code(&self) -> Option<String> {
        microcloud_accounts::setup::code(&self.store).ok().flatten()
    }
}

/// Prints and logs the setup code when the box is not set up yet, so that the owner finds it on
/// the terminal (development) or the console and journal (the appliance).
pub fn announce_setup_code(store: &Store, url: &str) -> Result<bool, microcloud_accounts::AccountError> {
    match microcloud_accounts::setup::code(store)? {
        Some(code) => {
            println!("  setup:   open {url} and enter the setup code {code}");
            println!("           (or make the first administrator here: microcloud user add NAME --admin --data {})", store.dir().display());
            log::info!("not set up yet: open the setup page and enter the one-time setup code {code}");
            Ok(true)
        }
        None => Ok(false),
    }
}
