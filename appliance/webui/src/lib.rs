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
//! [`WebService`] wraps the LAN service: `/dav/` goes to it unchanged, and `/metrics` too unless
//! the request carries an administrator's session (the LAN service itself answers only an
//! administrator's Basic credentials or the scrape token); everything else is the page.
//! Security: sessions in HttpOnly SameSite=Strict cookies, a CSRF token on every change, one
//! throttle on guessing (`microcloud_accounts::throttle`) for sign-in and for the setup code, no
//! secret in any response, and every name a client typed escaped before it is logged.

mod api;
mod assets;
pub mod sessions;
mod system;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt};
use hyper::body::Incoming;
use microcloud_accounts::throttle::{Policy, Throttle};
use microcloud_constants::DAV_PREFIX;
use microcloud_store::Store;
use microcloud_webdav::server::Handle;
use microcloud_webdav::LanService;
use tower::ServiceExt;

use crate::sessions::Sessions;

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
    /// Wrong setup codes, per client address (all under the account `setup`).
    setup_throttle: Throttle,
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
            // Sign-in shares the LAN service's throttle (LanService::check_password). A person
            // mistypes a few times; a script guessing soon waits a quarter of an hour per try, at
            // its own address only.
            setup_throttle: Throttle::new(Policy::default()),
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
    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path();
        if path == "/metrics" {
            // An administrator signed in on the page sees the figures; anyone else is the LAN
            // service's to answer (administrator's Basic credentials, scrape token, or 401).
            if api::check_session(&self.web, &Method::GET, req.headers())
                .is_ok_and(|s| s.user.admin)
            {
                let mut resp = self.web.lan.metrics_response().await;
                api::add_security_headers(resp.headers_mut());
                return resp;
            }
            return LanService::handle(&self.web.lan, req, peer).await;
        }
        if path == DAV_PREFIX || path.starts_with("/dav/") {
            return LanService::handle(&self.web.lan, req, peer).await;
        }
        if path == "/api/dav" || path.starts_with("/api/dav/") {
            return api::dav(&self.web, req, peer).await;
        }
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(Peer(peer));
        let resp: Result<axum::response::Response, Infallible> =
            self.router.clone().oneshot(req).await;
        let resp = match resp {
            Ok(r) => r,
            Err(never) => match never {},
        };
        to_server_body(resp)
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

/// Feeds `data` to every JSON body the page's API parses (and a destination's validation), for
/// the fuzzer in `tests/fuzz`. Results are ignored: it must simply never panic or hang.
#[doc(hidden)]
pub fn fuzz_json_bodies(data: &[u8]) {
    api::fuzz_json_bodies(data)
}

/// Prints and logs the setup code when the box is not set up yet, so that the owner finds it on
/// the terminal (development) or the console and journal (the appliance).
pub fn announce_setup_code(
    store: &Store,
    url: &str,
) -> Result<bool, microcloud_accounts::AccountError> {
    match microcloud_accounts::setup::code(store)? {
        Some(code) => {
            println!("  setup:   open {url} and enter the setup code {code}");
            println!("           (or make the first administrator here: microcloud user add NAME --admin --data {})", store.dir().display());
            log::info!(
                "not set up yet: open the setup page and enter the one-time setup code {code}"
            );
            Ok(true)
        }
        None => Ok(false),
    }
}
