//! The discovery agent (`microcloud discovery`): the box's one mDNS responder and its eyes on the
//! LAN.
//!
//! - It announces `<name>.local` with every address of the box and the DNS-SD services a tablet
//!   browses for (`_https._tcp`, `_webdavs._tcp`, `_http._tcp`, `_device-info._tcp`,
//!   `_ssh._tcp`), with the box's name as the instance name. The mdns-sd crate does the protocol:
//!   probing and renaming on a conflict (RFC 6762 section 9: a second box called the same gets
//!   `-2`), per-interface answers, goodbyes. This agent follows the host name (the page renames
//!   the box through hostnamed) and the kernel's address events, and withdraws everything with
//!   goodbyes when it stops.
//! - Why these services and not one alone: iPadOS Files mounts SMB only, so an iPad reaches the
//!   box through its browser (Safari resolves `.local`) or a DAV app that takes a URL; Android
//!   resolves `.local` only since version 12 (not on every build), and its file apps (Material
//!   Files, Solid Explorer, DAVx5) browse DNS-SD or take a URL; GNOME Files and KDE Dolphin browse
//!   `_webdavs._tcp` and mount it with its `path`. An iOS app that browses needs the Local Network
//!   permission and `_webdavs._tcp` in its `NSBonjourServices`. So the console and the page show
//!   IP addresses and QR codes too: discovery is one way among several.
//! - Like Avahi (and unlike resolved, which answers per link it is told about), the responder
//!   answers on every interface with that interface's addresses, and learns new interfaces and
//!   addresses as they come (mdns-sd checks every second; the kernel's address events make the
//!   agent announce again at once).
//! - It keeps the LAN's neighbours from the kernel's neighbour table (a dump, then rtnetlink
//!   notifications) and what they announce over mDNS, in `DATA/discovery/lan.json`
//!   ([`microcloud_neighbours`]). It never opens the catalog, file content or secrets: matching
//!   neighbours to paired devices is the reader's job.

mod lan;
mod responder;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use microcloud_neighbours::LanView;

pub use responder::Services;

/// How the agent is run.
pub struct Config {
    /// The data directory; the agent writes only `DATA/discovery/`.
    pub data: PathBuf,
    pub services: Services,
    /// A fixed name instead of the host name (several agents on one machine, in development).
    pub name: Option<String>,
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("mDNS responder: {0}")]
    Mdns(#[from] mdns_sd::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lan(#[from] microcloud_neighbours::LanError),
}

/// The agent's shared state: the LAN view, and a bell that asks for it to be written.
#[derive(Clone)]
pub(crate) struct Shared {
    pub view: Arc<Mutex<LanView>>,
    pub dirty: Arc<tokio::sync::Notify>,
}

impl Shared {
    pub fn update(&self, f: impl FnOnce(&mut LanView)) {
        f(&mut self.view.lock().expect("LAN view lock"));
        self.dirty.notify_one();
    }
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The box's name on the LAN: the host name's first label, lower case.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        })
        .map(|h| {
            h.trim()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .filter(|h| !h.is_empty() && h != "localhost" && h != "(none)")
        .unwrap_or_else(|| "microcloud".to_owned())
}

/// Every address of every interface that is up, but loopback: what `<name>.local` resolves to.
/// IPv6 link-local addresses are included (an mDNS answer carries them per interface).
pub fn box_addresses() -> Vec<IpAddr> {
    let mut addresses = Vec::new();
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            use nix::net::if_::InterfaceFlags as F;
            if !i.flags.contains(F::IFF_UP) || i.flags.contains(F::IFF_LOOPBACK) {
                continue;
            }
            let Some(a) = i.address else { continue };
            if let Some(v4) = a.as_sockaddr_in() {
                addresses.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = a.as_sockaddr_in6() {
                addresses.push(IpAddr::V6(v6.ip()));
            }
        }
    }
    addresses.sort();
    addresses.dedup();
    addresses
}

/// Run the agent until `shutdown` completes, then withdraw the box's names with goodbyes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DiscoveryError> {
    let dir = config.data.join(microcloud_neighbours::DIR);
    std::fs::create_dir_all(&dir).map_err(|source| DiscoveryError::Io {
        what: format!("making {}", dir.display()),
        source,
    })?;
    // Neighbours seen before a restart stay (with their first-seen time); the announced part is
    // rebuilt below.
    let mut view = match microcloud_neighbours::load(&config.data) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => {
            log::warn!("{e}; starting an empty LAN view");
            LanView::default()
        }
    };
    view.pid = std::process::id();
    let shared = Shared {
        view: Arc::new(Mutex::new(view)),
        dirty: Arc::new(tokio::sync::Notify::new()),
    };

    let writer = tokio::spawn(write_view(config.data.clone(), shared.clone()));
    let address_changed = Arc::new(tokio::sync::Notify::new());
    let fixed_name = config.name.clone();
    let name_now = move || fixed_name.clone().unwrap_or_else(host_name);

    let mut responder = responder::Responder::start(config.services, shared.clone())?;
    let mut name = name_now();
    responder.announce(&name)?;
    log::info!("announcing {name}.local on {}", list(&box_addresses()));

    let new_neighbour = Arc::new(tokio::sync::Notify::new());
    let watcher = lan::watch(
        shared.clone(),
        address_changed.clone(),
        new_neighbour.clone(),
    );
    let watcher = tokio::spawn(async move {
        if let Err(e) = watcher.await {
            log::error!("{e}; the LAN's neighbours are not followed");
        }
    });
    let browser = tokio::spawn(lan::browse(
        responder.daemon(),
        shared.clone(),
        new_neighbour,
    ));

    tokio::pin!(shutdown);
    // The page renames the box through hostnamed; the host name is read twice a second (a read of
    // /proc, cheaper than a D-Bus subscription the sandbox would have to allow).
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {
                let now = name_now();
                if now != name {
                    log::info!("the box was renamed {name} -> {now}: announcing the new name");
                    responder.withdraw().await;
                    name = now;
                    responder.announce(&name)?;
                }
            }
            _ = address_changed.notified() => {
                // mdns-sd learns of new interfaces at its own next check (every second, set in
                // Responder::start); announce again after it so the new addresses go out.
                tokio::time::sleep(Duration::from_millis(1200)).await;
                log::info!("addresses changed: announcing {name}.local on {}", list(&box_addresses()));
                responder.refresh()?;
            }
        }
    }
    watcher.abort();
    browser.abort();
    responder.stop().await;
    shared.dirty.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer.abort();
    let view = shared.view.lock().expect("LAN view lock").clone();
    microcloud_neighbours::save(&config.data, &view)?;
    Ok(())
}

fn list(addresses: &[IpAddr]) -> String {
    if addresses.is_empty() {
        return "no address yet".into();
    }
    addresses
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the LAN view when asked, at most every 100 ms (a burst of kernel notifications makes
/// one write).
async fn write_view(data: PathBuf, shared: Shared) {
    loop {
        shared.dirty.notified().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let view = {
            let mut v = shared.view.lock().expect("LAN view lock");
            v.updated_unix = now_unix();
            v.bound();
            v.clone()
        };
        if let Err(e) = microcloud_neighbours::save(&data, &view) {
            log::warn!("{e}");
        }
    }
}
