//! The owner's web page and its JSON API, served by the gateway beside WebDAV.
//!
//! It takes an owner from first boot (the one-time setup code, the first administrator) to a
//! working gateway (cloud destinations, users, ssh keys, the box's name and clock), then shows
//! whether their data is safe (the dashboard) and lets every user reach their files. The page is
//! plain HTML, CSS and JavaScript modules (`page/`, served as their bundle in `assets/dist/`)
//! compiled into the binary (`assets/`); the API is
//! described in `API.md`. Accounts and files go through the same libraries as the CLI
//! (`microcloud_accounts`, the store, the LAN service), destinations through the
//! [`UplinkService`] the gateway hands it, checked by the one validation of
//! `microcloud_destination`, so the page and the shell never disagree.
//!
//! [`Page::router`] is an axum router; the gateway composes the front door from it, the LAN
//! service (`/dav`) and `/metrics` (see [`Page::is_admin`]). Security: sessions in HttpOnly
//! SameSite=Strict cookies, a CSRF token on every change, one throttle on guessing
//! (`microcloud_accounts::throttle`) for sign-in and for the setup code, no secret in any
//! response, and every name a client typed escaped before it is logged.

mod api;
mod assets;
pub mod pairing;
pub mod sessions;
mod streams;

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderMap, Method};
use microcloud_accounts::throttle::{Policy, Throttle};
use microcloud_destination::{Credentials, Invalid, RemoteConfig};
use microcloud_store::Store;
use microcloud_uplink_state::UplinkStatus;
use microcloud_webdav::LanService;

use crate::sessions::Sessions;

/// What the page asks of the uplink: the destinations and how they are doing. The gateway hands
/// the page an implementation (which asks the uplink process over its socket), so that the page
/// imports neither the uplink nor the remotes, and never holds a cloud secret beyond the request
/// that carries it to the uplink.
pub trait UplinkService: Send + Sync + 'static {
    /// Every destination's figures, for the dashboard.
    fn status(&self) -> BoxFuture<'_, Result<UplinkStatus, ServiceError>>;
    /// The destinations' configurations (never their secrets).
    fn destinations(&self) -> BoxFuture<'_, Result<Vec<RemoteConfig>, ServiceError>>;
    /// Proves a destination works (a test object written, read back and deleted).
    fn test(
        &self,
        config: RemoteConfig,
        creds: Option<Credentials>,
    ) -> BoxFuture<'_, Result<(), ServiceError>>;
    /// Adds a destination (tested by the caller first); every file goes to it from now on.
    fn add(
        &self,
        config: RemoteConfig,
        creds: Option<Credentials>,
    ) -> BoxFuture<'_, Result<(), ServiceError>>;
    /// Removes a destination (its objects stay where they are).
    fn remove(&self, name: String) -> BoxFuture<'_, Result<(), ServiceError>>;
}

/// Why the uplink could not do what the page asked, as the page tells the person.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A destination of that name exists already.
    #[error("a destination named {0} exists already")]
    Exists(String),
    /// No destination of that name.
    #[error("no destination named {0}")]
    NotFound(String),
    /// The description is not acceptable.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The destination did not pass its test; the sentence says what failed.
    #[error("{0}")]
    Test(String),
    /// Something on the box failed (the catalog, a file): logged, and a 500 for the page.
    #[error("{0}")]
    Internal(String),
}

/// How the page is set up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Running as the appliance: the system page manages this machine (hostname, time zone,
    /// network, power, factory reset) through systemd's D-Bus services. Off, those answer 503.
    pub appliance: bool,
    /// Serve the page's files from this directory instead of the copies compiled in (for
    /// working on the page without rebuilding).
    pub assets_dir: Option<PathBuf>,
    /// The SHA-256 fingerprint of the box's certificate authority (when it serves HTTPS), shown
    /// beside a pairing's QR code so that the new tablet's owner can check it.
    pub ca_fingerprint: Option<String>,
    /// The public key an uploaded update bundle must be signed with (the one the image trusts).
    pub update_key: PathBuf,
}

/// The state every handler shares.
pub struct Web {
    lan: Arc<LanService>,
    store: Store,
    uplink: Arc<dyn UplinkService>,
    sessions: Sessions,
    /// Wrong setup codes, per client address (all under the account `setup`).
    setup_throttle: Throttle,
    /// Tablets being paired.
    pairings: crate::pairing::Pairings,
    /// Wrong pairing codes, per client address (all under the account `pairing`).
    pair_throttle: Throttle,
    options: Options,
    /// Onboarding runs one at a time (argon2 and the first-admin check).
    onboarding: tokio::sync::Mutex<()>,
    /// Versions' space and when it was read: a pass over the content table, which the
    /// dashboard would otherwise make every second.
    version_space: std::sync::Mutex<Option<(std::time::Instant, microcloud_store::VersionSpace)>>,
    /// The open event streams (which devices are online).
    streams: Arc<streams::Streams>,
    /// The gateway is stopping: event streams end.
    closing: std::sync::atomic::AtomicBool,
}

/// The page and its API, over the services it is handed.
#[derive(Clone)]
pub struct Page {
    web: Arc<Web>,
}

impl Page {
    /// The page over `lan` (accounts, WebDAV for the file page, recent activity) and `uplink`.
    pub fn new(lan: Arc<LanService>, uplink: Arc<dyn UplinkService>, options: Options) -> Page {
        Page {
            web: Arc::new(Web {
                store: lan.store().clone(),
                lan,
                uplink,
                sessions: Sessions::default(),
                // Sign-in shares the LAN service's throttle (LanService::check_password). A person
                // mistypes a few times; a script guessing soon waits a quarter of an hour per
                // try, at its own address only.
                setup_throttle: Throttle::new(Policy::default()),
                pairings: Default::default(),
                pair_throttle: Throttle::new(Policy::default()),
                options,
                onboarding: tokio::sync::Mutex::new(()),
                version_space: Default::default(),
                streams: Default::default(),
                closing: Default::default(),
            }),
        }
    }

    /// `/`, `/assets/...`, `/api/...` (with `/api/dav/...`, the file page's WebDAV), and a 404
    /// for anything else. Each request must carry axum's `ConnectInfo<SocketAddr>` (the LAN
    /// listener adds it).
    pub fn router(&self) -> axum::Router {
        api::router(self.web.clone())
    }

    /// Whether `headers` carry an administrator's session (for `/metrics`).
    pub fn is_admin(&self, headers: &HeaderMap) -> bool {
        api::check_session(&self.web, &Method::GET, headers).is_ok_and(|s| s.user.admin)
    }

    /// The page's security headers, for answers the gateway makes beside the page.
    /// Ends every event stream within half a second (the gateway is stopping).
    pub fn close_streams(&self) {
        self.web
            .closing
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn add_security_headers(headers: &mut HeaderMap) {
        api::add_security_headers(headers)
    }
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
