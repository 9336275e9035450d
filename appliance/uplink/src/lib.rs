//! The uplink of microcloud: it makes every file acknowledged on the LAN reach each configured
//! cloud destination, eventually, through outages, crashes and restarts.
//!
//! It learns about changes from the store's change journal (the `changes` table) and keeps, per
//! destination and object key, what the destination must hold (`replicas`). One worker per
//! destination uploads oldest-dirty-first with a concurrency limit, backs off with jitter when
//! the destination is unreachable (never taking "unreachable" for "gone"), resumes multipart
//! uploads from the parts recorded in the catalog, and uses conditional writes so that an object
//! changed in the cloud by someone else is kept and reported as a conflict, never overwritten.
//! A file's durability (`local`, `cloud:1`, `cloud:all`) follows from the replicas that are done.
//!
//! Secrets live in `DATA/secrets/NAME.json` (mode 0600), read by this crate only: the LAN service
//! never opens them.

pub mod destinations;
mod durability;
pub mod fetch;
mod journal;
pub mod manifest;
pub mod scrub;
pub mod status;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use microcloud_store::{Store, StoreError};
use tokio::sync::Notify;

pub use destinations::{Destination, DestinationError};
pub use status::{DestinationStatus, UplinkStatus};

/// Errors of the uplink.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The catalog failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A destination could not be set up.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// The manifest could not be read or written.
    #[error("manifest of {destination}: {source}")]
    Manifest {
        destination: String,
        source: microcloud_remotes::RemoteError,
    },
    /// A scrub could not finish (an unreachable destination is not taken for an empty one).
    #[error("scrub of {destination} stopped: {source}")]
    Scrub {
        destination: String,
        source: microcloud_remotes::RemoteError,
    },
}

/// Tunables of the uplink (defaults suit a small box on a home or office line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Uploads in flight per destination.
    pub concurrency: usize,
    /// Files at least this large go up as multipart uploads.
    pub multipart_threshold: u64,
    /// Size of each multipart part.
    pub part_size: u64,
    /// Parts of one file in flight at once.
    pub part_concurrency: usize,
    /// First retry delay after a failure; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Time between scrubs of each destination.
    pub scrub_interval: Duration,
    /// Fraction of objects a periodic scrub reads in full.
    pub scrub_full_fraction: f64,
    /// How often each destination's manifest is rewritten (when it changed).
    pub manifest_interval: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            concurrency: 16,
            multipart_threshold: 32 << 20,
            part_size: 16 << 20,
            part_concurrency: 4,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            scrub_interval: Duration::from_secs(24 * 3600),
            scrub_full_fraction: 0.01,
            manifest_interval: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// Defaults, overridden by `MICROCLOUD_UPLINK_CONCURRENCY`, `MICROCLOUD_MULTIPART_THRESHOLD`,
    /// `MICROCLOUD_PART_SIZE` (bytes), `MICROCLOUD_PART_CONCURRENCY` and
    /// `MICROCLOUD_SCRUB_INTERVAL` and `MICROCLOUD_MANIFEST_INTERVAL` (seconds) where set.
    pub fn from_env() -> Settings {
        let mut s = Settings::default();
        let get = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(v) = get("MICROCLOUD_UPLINK_CONCURRENCY") {
            s.concurrency = v.max(1) as usize;
        }
        if let Some(v) = get("MICROCLOUD_MULTIPART_THRESHOLD") {
            s.multipart_threshold = v.max(5 << 20);
        }
        if let Some(v) = get("MICROCLOUD_PART_SIZE") {
            // S3 refuses parts under 5 MiB (but the last).
            s.part_size = v.max(5 << 20);
        }
        if let Some(v) = get("MICROCLOUD_PART_CONCURRENCY") {
            s.part_concurrency = v.max(1) as usize;
        }
        if let Some(v) = get("MICROCLOUD_SCRUB_INTERVAL") {
            s.scrub_interval = Duration::from_secs(v.max(1));
        }
        if let Some(v) = get("MICROCLOUD_MANIFEST_INTERVAL") {
            s.manifest_interval = Duration::from_secs(v.max(1));
        }
        s
    }
}

impl Uplink {
    /// Starts fetches asked for by a LAN service in another process (see `fetch_requests`).
    fn serve_fetch_requests(&self, fetching: &mut HashMap<i64, tokio::task::JoinHandle<()>>) {
        fetching.retain(|_, t| !t.is_finished());
        let pending: Vec<i64> = self
            .store
            .catalog_read(|c| {
                let mut stmt =
                    c.prepare_cached("SELECT blob_id FROM fetch_requests WHERE error IS NULL")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap_or_default();
        for blob in pending {
            if fetching.contains_key(&blob) {
                continue;
            }
            let store = self.store.clone();
            fetching.insert(
                blob,
                tokio::spawn(async move {
                    let fetcher = fetch::UplinkFetcher::new(store.clone());
                    let result = microcloud_store::Fetcher::fetch(&fetcher, blob).await;
                    let error = result.err().map(|e| e.to_string());
                    let _ = store
                        .catalog_write(move |c| {
                            match error {
                                None => c.execute(
                                    "DELETE FROM fetch_requests WHERE blob_id = ?1",
                                    [blob],
                                )?,
                                Some(e) => c.execute(
                                    "UPDATE fetch_requests SET error = ?2 WHERE blob_id = ?1",
                                    microcloud_store::rusqlite::params![blob, e],
                                )?,
                            };
                            Ok(())
                        })
                        .await;
                }),
            );
        }
    }
}

/// Catalog key of the bandwidth schedule (see `microcloud bwlimit`).
const BWLIMIT_KEY: &str = "bwlimit";

/// The stored bandwidth schedule, if any.
pub fn bandwidth_schedule(
    store: &Store,
) -> Result<Option<microcloud_remotes::limit::Schedule>, String> {
    let raw: Option<String> = store
        .catalog_read(|c| {
            Ok(microcloud_store::rusqlite::OptionalExtension::optional(
                c.query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [BWLIMIT_KEY],
                    |r| r.get(0),
                ),
            )?)
        })
        .map_err(|e| e.to_string())?;
    match raw {
        None => Ok(None),
        Some(s) => microcloud_remotes::limit::Schedule::parse(&s)
            .map(Some)
            .map_err(|e| format!("bandwidth schedule {s:?}: {e}")),
    }
}

/// Stores (or with `None`, removes) the bandwidth schedule; it takes effect when the uplink starts.
pub fn set_bandwidth_schedule(store: &Store, schedule: Option<&str>) -> Result<(), String> {
    if let Some(s) = schedule {
        microcloud_remotes::limit::Schedule::parse(s)?;
    }
    let value = schedule.map(str::to_owned);
    store
        .catalog_write_blocking(move |c| {
            match value {
                Some(v) => c.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [BWLIMIT_KEY, v.as_str()],
                )?,
                None => c.execute("DELETE FROM meta WHERE key = ?1", [BWLIMIT_KEY])?,
            };
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// The uplink agent.
pub struct Uplink {
    store: Store,
    settings: Settings,
    wake: Arc<Notify>,
}

impl Uplink {
    /// An uplink over `store`.
    pub fn new(store: Store, settings: Settings) -> Uplink {
        let wake = store.changed();
        // Read-through is served by the uplink, which alone may read the destinations' secrets.
        store.set_fetcher(Arc::new(fetch::UplinkFetcher::new(store.clone())));
        Uplink {
            store,
            settings,
            wake,
        }
    }

    /// A handle that wakes the uplink at once (the LAN service calls it after each commit).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs until `shutdown` resolves: follows the journal and keeps one worker per destination.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut workers: HashMap<i64, (String, worker::Handle)> = HashMap::new();
        let bandwidth = match bandwidth_schedule(&self.store) {
            Ok(Some(schedule)) => {
                log::info!("uplink: bandwidth limit {schedule:?}");
                Some(Arc::new(microcloud_remotes::limit::Bandwidth::new(
                    schedule,
                )))
            }
            Ok(None) => None,
            Err(e) => {
                log::error!("uplink: {e}; uploading without a bandwidth limit");
                None
            }
        };
        let mut last_refresh = std::time::Instant::now();
        // The first scrub waits a while after start: a restart should first catch up.
        let mut next_scrub =
            std::time::Instant::now() + self.settings.scrub_interval.min(Duration::from_secs(600));
        let mut scrub: Option<tokio::task::JoinHandle<()>> = None;
        let mut next_manifest = std::time::Instant::now() + self.settings.manifest_interval;
        let mut manifests: Option<tokio::task::JoinHandle<HashMap<i64, blake3::Hash>>> = None;
        let mut published: HashMap<i64, blake3::Hash> = HashMap::new();
        let mut fetching: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut secrets_checked = false;
        loop {
            match journal::apply(&self.store).await {
                Ok(n) if n > 0 => {
                    for (_, h) in workers.values() {
                        h.wake();
                    }
                }
                Ok(_) => {}
                Err(e) => log::error!("uplink: reading the change journal: {e}"),
            }
            match destinations::list(&self.store) {
                Ok(dests) => {
                    let before = workers.len();
                    workers.retain(|id, (name, h)| {
                        let keep = dests.iter().any(|d| d.id == *id);
                        if !keep {
                            log::info!("uplink: destination {name} removed, stopping its worker");
                            h.stop();
                        }
                        keep
                    });
                    if workers.len() < before || !secrets_checked {
                        let names: Vec<String> = dests.iter().map(|d| d.name.clone()).collect();
                        destinations::collect_stray_secrets(self.store.dir(), &names);
                        secrets_checked = true;
                    }
                    for d in dests {
                        if workers.contains_key(&d.id) {
                            continue;
                        }
                        match worker::spawn(
                            self.store.clone(),
                            d.clone(),
                            self.settings.clone(),
                            bandwidth.clone(),
                        ) {
                            Ok(h) => {
                                log::info!("uplink: worker started for destination {}", d.name);
                                workers.insert(d.id, (d.name.clone(), h));
                            }
                            Err(e) => log::error!("uplink: destination {}: {e}", d.name),
                        }
                    }
                }
                Err(e) => log::error!("uplink: listing destinations: {e}"),
            }
            self.serve_fetch_requests(&mut fetching);
            if std::time::Instant::now() >= next_scrub
                && scrub.as_ref().is_none_or(|t| t.is_finished())
            {
                next_scrub = std::time::Instant::now() + self.settings.scrub_interval;
                let (store, fraction) = (self.store.clone(), self.settings.scrub_full_fraction);
                scrub = Some(tokio::spawn(async move {
                    for d in destinations::list(&store).unwrap_or_default() {
                        match scrub::scrub(&store, &d, fraction).await {
                            Ok(r) => log::info!(
                                "scrub {}: {} checked ({} read in full), {} missing, {} damaged, {} conflicts",
                                r.destination, r.checked, r.read_in_full, r.missing, r.corrupt, r.conflicts
                            ),
                            Err(e) => log::warn!("{e}"),
                        }
                    }
                }));
            }
            if manifests.as_ref().is_some_and(|t| t.is_finished()) {
                if let Some(Some(p)) = manifests
                    .take()
                    .map(|t| futures_util::FutureExt::now_or_never(t).and_then(Result::ok))
                {
                    published = p;
                }
            }
            if std::time::Instant::now() >= next_manifest && manifests.is_none() {
                next_manifest = std::time::Instant::now() + self.settings.manifest_interval;
                let store = self.store.clone();
                let mut last = published.clone();
                manifests = Some(tokio::spawn(async move {
                    for d in destinations::list(&store).unwrap_or_default() {
                        let Ok(remote) = destinations::remote(&store, &d) else {
                            continue;
                        };
                        match manifest::publish(&store, &d, &remote, &mut last).await {
                            Ok(true) => log::debug!("manifest of {} updated", d.name),
                            Ok(false) => {}
                            Err(e) => log::warn!("{e}"),
                        }
                    }
                    last
                }));
            }
            if last_refresh.elapsed() > Duration::from_secs(2) {
                // Durability changes made here (or by another process) reach the cache bound.
                let _ = self.store.refresh_counters();
                last_refresh = std::time::Instant::now();
                // Keep room for new writes: past 90% of the bound, evict content that is safe
                // everywhere down to 80%.
                let (used, limit) = (self.store.used_bytes(), self.store.cache_limit());
                if used > limit / 10 * 9 {
                    if let Err(e) = self.store.evict(used - limit / 10 * 8).await {
                        log::warn!("eviction: {e}");
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
        for (_, h) in workers.values() {
            h.stop();
        }
    }
}
