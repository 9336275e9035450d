//! The uplink of microcloud: it makes every file acknowledged on the LAN reach each configured
//! cloud destination, eventually, through outages, crashes and restarts.
//!
//! It learns about changes from the store's change journal ([`Store::changes_after`]) and keeps,
//! per destination and object key, what the destination must hold (replicas), in its own state
//! ([`microcloud_uplink_state`], `DATA/uplink.sqlite`). One worker per destination uploads
//! oldest-dirty-first with an adaptive concurrency limit (more requests in flight the farther the
//! destination, fewer when it complains), backs off with jitter when the destination is
//! unreachable (never taking "unreachable" for "gone"), resumes multipart uploads from the parts
//! recorded in that state, and uses conditional writes so that an object changed in the cloud by
//! someone else is kept and reported as a conflict, never overwritten. A file's durability
//! (`local`, `cloud:1`, `cloud:all`) follows from the replicas that are done; the uplink state
//! works it out and pushes it to the store, never above the truth (see that crate). This crate
//! holds no SQL: the store and the uplink state are reached through their typed operations only.
//!
//! Secrets live in `DATA/secrets/NAME.json` (mode 0600), read by this crate only: the LAN service
//! never opens them.

pub mod destinations;
pub mod fetch;
mod journal;
pub mod manifest;
pub mod scrub;
mod socket;
pub mod status;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use microcloud_store::{Store, StoreError};
use microcloud_uplink_state::{StateError, UplinkState};
use tokio::sync::Notify;

pub use destinations::{Destination, DestinationError};
pub use status::{DestinationStatus, UplinkStatus};

/// Runs `f` (blocking work: a write of the uplink state, which may wait for the store) off the
/// async threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Errors of the uplink.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The catalog failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The uplink's state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A destination could not be set up.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// The manifest could not be read or written.
    #[error("manifest of {destination}: {source}")]
    Manifest {
        destination: String,
        source: microcloud_remotes::RemoteError,
    },
    /// The manifest could not be built in its file in the data directory.
    #[error("manifest of {destination}: its file in {}: {source}", dir.display())]
    ManifestSpool {
        destination: String,
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The uplink's socket could not be made.
    #[error("uplink socket {}: {source}", path.display())]
    Socket {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A scrub could not finish (an unreachable destination is not taken for an empty one).
    #[error("scrub of {destination} stopped: {source}")]
    Scrub {
        destination: String,
        source: microcloud_remotes::RemoteError,
    },
}

/// Tunables of the uplink (defaults suit a small box on a home or office line; `microcloud
/// uplink` takes them from its options and environment).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests in flight per destination to start with; rising latency never takes it lower
    /// (see the worker's limiter), only a destination's complaints do.
    pub concurrency: usize,
    /// Most requests in flight per destination, however far away it is.
    pub max_concurrency: usize,
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
            max_concurrency: 256,
            multipart_threshold: 32 << 20,
            // 8 parts of 8 MiB: the same memory as 4 of 16 MiB, with twice the parts in flight,
            // which halved a 1 GiB upload's time 20 ms away (docs/benchmarks.md, issue 16).
            part_size: 8 << 20,
            part_concurrency: 8,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            scrub_interval: Duration::from_secs(24 * 3600),
            scrub_full_fraction: 0.01,
            manifest_interval: Duration::from_secs(10),
        }
    }
}

/// The stored bandwidth schedule, if any.
pub fn bandwidth_schedule(
    state: &UplinkState,
) -> Result<Option<microcloud_remotes::limit::Schedule>, String> {
    let raw = state.bandwidth_schedule().map_err(|e| e.to_string())?;
    match raw {
        None => Ok(None),
        Some(s) => microcloud_remotes::limit::Schedule::parse(&s)
            .map(Some)
            .map_err(|e| format!("bandwidth schedule {s:?}: {e}")),
    }
}

/// Stores (or with `None`, removes) the bandwidth schedule; it takes effect when the uplink starts.
pub fn set_bandwidth_schedule(state: &UplinkState, schedule: Option<&str>) -> Result<(), String> {
    if let Some(s) = schedule {
        microcloud_remotes::limit::Schedule::parse(s)?;
    }
    state
        .set_bandwidth_schedule(schedule)
        .map_err(|e| e.to_string())
}

/// Shortest time between two rounds of the uplink's loop (journal intake, destinations,
/// schedules).
const ROUND_PACE: Duration = Duration::from_millis(25);

/// Shortest time between two pushes of raised durability levels to the store.
const PUSH_PACE: Duration = Duration::from_millis(20);

/// The uplink agent.
pub struct Uplink {
    store: Store,
    state: UplinkState,
    settings: Settings,
    wake: Arc<Notify>,
    socket: socket::Bound,
}

impl Uplink {
    /// An uplink over `store`, with its state in the same data directory (made, and taken over
    /// from an older catalog, if need be), listening on the data directory's socket (the caller
    /// holds the uplink lock).
    pub fn new(store: Store, settings: Settings) -> Result<Uplink, UplinkError> {
        let state = UplinkState::open(store.dir())?;
        // Woken by the LAN service's change notices (over the socket) and by destination changes.
        let wake = Arc::new(Notify::new());
        let socket = socket::bind(store.dir())?;
        // Read-through is served by the uplink, which alone may read the destinations' secrets.
        store.set_fetcher(Arc::new(fetch::UplinkFetcher::new(
            store.clone(),
            state.clone(),
        )));
        Ok(Uplink {
            store,
            state,
            settings,
            wake,
            socket,
        })
    }

    /// Runs until `shutdown` resolves: serves the socket, follows the journal and keeps one
    /// worker per destination.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let Uplink {
            store,
            state,
            settings,
            wake,
            socket,
        } = self;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let publisher = manifest::Publisher::new(store.clone(), state.clone());
        let server = socket::spawn(
            socket,
            store.clone(),
            state.clone(),
            publisher.clone(),
            wake.clone(),
            stop.clone(),
        );
        // A crash may have left durability levels lower than the replicas say (raisings are
        // pushed after their commit): work them all out again.
        let (s, st) = (store.clone(), state.clone());
        match blocking(move || st.recompute_all(&s)).await {
            Ok(0) => {}
            Ok(n) => log::info!("uplink: {n} durability levels brought up to date"),
            Err(e) => log::error!("uplink: working out durability levels: {e}"),
        }
        // Room is looked for when content arrives (a change notice) or becomes safe (a push).
        let room = Arc::new(Notify::new());
        let evictor = tokio::spawn(keep_room(store.clone(), room.clone(), stop.clone()));
        room.notify_one();
        // Raised levels reach the store shortly after the marks that raised them, in groups.
        let raised = Arc::new(Notify::new());
        let pusher = {
            let (store, state, raised, room) =
                (store.clone(), state.clone(), raised.clone(), room.clone());
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let last = tokio::select! {
                        _ = raised.notified() => false,
                        _ = stop.wait_for(|s| *s) => true,
                    };
                    let (s, st) = (store.clone(), state.clone());
                    match blocking(move || st.push_raises(&s)).await {
                        Ok(n) if n > 0 => room.notify_one(),
                        Ok(_) => {}
                        Err(e) => log::warn!("uplink: raising durability levels: {e}"),
                    }
                    if last {
                        return;
                    }
                    // Marks gather meanwhile: one push (one catalog commit) carries many.
                    tokio::time::sleep(PUSH_PACE).await;
                }
            })
        };
        let bandwidth = match bandwidth_schedule(&state) {
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
        let mut workers: HashMap<i64, (String, worker::Handle)> = HashMap::new();
        // The first scrub waits a while after start: a restart should first catch up.
        let mut next_scrub =
            tokio::time::Instant::now() + settings.scrub_interval.min(Duration::from_secs(600));
        let mut scrub: Option<tokio::task::JoinHandle<()>> = None;
        let mut next_manifest = tokio::time::Instant::now() + settings.manifest_interval;
        let mut manifests: Option<tokio::task::JoinHandle<()>> = None;
        let mut secrets_checked = false;
        // A round runs at most every ROUND_PACE, however often the LAN service commits (each
        // notice wakes it): each journal intake is a commit of the uplink state.
        let mut last_round: Option<std::time::Instant> = None;
        let mut intake = journal::Intake::new();
        loop {
            let wait = last_round
                .map(|t| ROUND_PACE.saturating_sub(t.elapsed()))
                .unwrap_or_default();
            if !wait.is_zero() {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            last_round = Some(std::time::Instant::now());
            match intake.apply(&store, &state).await {
                Ok(n) => {
                    // New replicas, or work queued in the uplink state by someone else (a scrub,
                    // a command): each worker looks at its queue.
                    for (_, h) in workers.values() {
                        h.wake();
                    }
                    if n > 0 {
                        room.notify_one();
                    }
                }
                Err(e) => log::error!("uplink: reading the change journal: {e}"),
            }
            match destinations::list_in(&state) {
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
                        destinations::collect_stray_secrets(store.dir(), &names);
                        secrets_checked = true;
                    }
                    for d in dests {
                        if workers.contains_key(&d.id) {
                            continue;
                        }
                        match worker::spawn(
                            store.clone(),
                            state.clone(),
                            d.clone(),
                            settings.clone(),
                            bandwidth.clone(),
                            raised.clone(),
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
            if tokio::time::Instant::now() >= next_scrub
                && scrub.as_ref().is_none_or(|t| t.is_finished())
            {
                next_scrub = tokio::time::Instant::now() + settings.scrub_interval;
                let (store, state, fraction, done) = (
                    store.clone(),
                    state.clone(),
                    settings.scrub_full_fraction,
                    wake.clone(),
                );
                scrub = Some(tokio::spawn(async move {
                    for d in destinations::list_in(&state).unwrap_or_default() {
                        match scrub::scrub_with(&store, &state, &d, fraction).await {
                            Ok(r) => log::info!(
                                "scrub {}: {} checked ({} read in full), {} missing, {} damaged, {} conflicts",
                                r.destination, r.checked, r.read_in_full, r.missing, r.corrupt, r.conflicts
                            ),
                            Err(e) => log::warn!("{e}"),
                        }
                    }
                    // The repairs it queued start at once.
                    done.notify_one();
                }));
            }
            if tokio::time::Instant::now() >= next_manifest
                && manifests.as_ref().is_none_or(|t| t.is_finished())
            {
                next_manifest = tokio::time::Instant::now() + settings.manifest_interval;
                let publisher = publisher.clone();
                manifests = Some(tokio::spawn(async move {
                    if let Err(failed) = publisher.publish_all().await {
                        for e in failed {
                            log::warn!("{e}");
                        }
                    }
                }));
            }
            // Marks recorded outside the workers (scrub, a new destination) are pushed too.
            raised.notify_one();
            // Nothing to poll: the next round comes with a notice or with the next schedule.
            tokio::select! {
                _ = &mut shutdown => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep_until(next_scrub.min(next_manifest)) => {}
            }
        }
        for (_, h) in workers.values() {
            h.stop();
        }
        let _ = stop_tx.send(true);
        let _ = pusher.await;
        let _ = evictor.await;
        let _ = server.await;
    }
}

/// Keeps room for new writes: past 90% of the cache bound, evicts content that is safe everywhere
/// down to 80%. Runs when `room` is signalled (content arrived or became safe).
async fn keep_room(store: Store, room: Arc<Notify>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = room.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // The LAN service's commits and this process's pushes both moved the figures.
        let s = store.clone();
        if let Err(e) = blocking(move || s.refresh_counters()).await {
            log::warn!("uplink: reading the cache figures: {e}");
            continue;
        }
        let (used, limit) = (store.used_bytes(), store.cache_limit());
        if used > limit / 10 * 9 {
            if let Err(e) = store.evict(used - limit / 10 * 8).await {
                log::warn!("eviction: {e}");
            }
        }
        // Bursts of signals are served by one look.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
