//! One worker per destination: picks the oldest pending replicas, uploads or deletes them with a
//! bounded concurrency, and backs off as a whole when the destination is unreachable.
//!
//! The failure rules, learned from rclone's write-back queue and its issue tracker:
//! - Unreachable (refused, timed out, 5xx) is never "gone": the replica stays pending and the
//!   destination is retried with exponential backoff and jitter; while it is down, one request at
//!   a time probes it, so a dead destination costs almost nothing and never slows the others.
//! - A 412 (the object changed since we last wrote it, or appeared when we expected none) is a
//!   conflict unless the object there is byte-for-byte ours (same BLAKE3 metadata), which happens
//!   when a crash fell between the upload and its record in the uplink state.
//! - Other refusals (bad request, checksum mismatch) back off per replica, so one bad file does
//!   not block the queue.
//!
//! Versions (see `microcloud_uplink_state`'s doc): the danger is ordering. The journal takes a
//! version in before the overwrite or delete of the live key K that replaced its content, but the
//! queue may reach K first, and the old content may exist only in K's object (it was `cloud:all`,
//! so the box evicted it). So before this worker uploads to or deletes K, it settles every pending
//! version replica whose `copy_from` is K: content on the box is uploaded as usual; otherwise K is
//! copied server-side to the version key, but only after a HEAD of K shows BLAKE3 metadata equal to
//! the version's hash; otherwise the content is fetched from another destination holding it. A
//! version replica met on its own in the queue is settled the same way. A version whose content
//! nothing can provide any more gets an error naming its key and is retried later with backoff,
//! and K goes ahead: K is never blocked forever. A per-version-key lock makes the two paths take
//! turns, so K is never replaced between the HEAD and the copy made on K's behalf.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use microcloud_remotes::{Condition, Remote, RemoteError};
use microcloud_store::{Content, Store, StoreError};
use microcloud_uplink_state::status::Flow;
use microcloud_uplink_state::{
    is_version_key, DestinationState, NewConflict, ReplicaState, StateError, UplinkState,
};
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::destinations::{self, Destination, DestinationError};
use crate::journal::now_ns;
use crate::{blocking, Settings};

mod limit;
mod multipart;
use limit::Limiter;
use multipart::{abort_multipart_of, abort_strays, multipart};

/// Controls a running worker.
pub(crate) struct Handle {
    wake: Arc<Notify>,
    stop: Arc<AtomicBool>,
}

impl Handle {
    /// Makes the worker look at its queue now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
    /// Stops the worker (uploads in flight are dropped; their replicas stay pending).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

struct Ctx {
    store: Store,
    state: UplinkState,
    dest: Destination,
    remote: Remote,
    settings: Settings,
    /// Recent listings of folders, by folder: when, and the keys that were there. A new key
    /// missing from a fresh listing needs no HEAD before its conditional PUT.
    listings: std::sync::Mutex<HashMap<String, (Instant, HashSet<String>)>>,
    /// Folders being listed again beside the uploads.
    refreshing: std::sync::Mutex<HashSet<String>>,
    /// Told when a mark may have raised a durability level (the uplink pushes them in groups).
    raised: Arc<Notify>,
    /// One lock per version key being settled (by its own task or by the task of the live key it
    /// is copied from), dropped when nobody holds it.
    version_locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// How many requests may be in flight, adapted to the destination's distance and complaints.
    flow: std::sync::Mutex<Limiter>,
}

/// How often, at most, the worker records how its requests flow.
const FLOW_EVERY: Duration = Duration::from_secs(1);
/// Bodies up to this size take about a round trip to send: their latency is a sample for the
/// concurrency limit.
const SMALL_REQUEST: u64 = 64 << 10;
/// Due replicas read from the uplink state at once; the worker starts them from memory.
const QUEUE_BATCH: usize = 256;
/// How long replicas read from the uplink state are started from memory before it is read again,
/// so that a change of their state (a newer write, a delete) is seen soon.
const QUEUE_FRESH: Duration = Duration::from_secs(2);

/// How long a folder listing stands in for a HEAD per new object: the bound on the window in
/// which an object another client creates under the same name could be overwritten (a HEAD has
/// the same window, one round trip long).
const LISTING_TTL: Duration = Duration::from_secs(5);
/// New keys in one folder, in one round of the queue, that make a listing worth it.
const LISTING_MIN_KEYS: usize = 4;
/// Largest folder listed for this (beyond it, HEADs are cheaper).
const LISTING_MAX_KEYS: usize = 20_000;

/// The folder part of a key, with its trailing '/' ("" at the top).
fn folder(key: &str) -> &str {
    key.rfind('/').map(|i| &key[..=i]).unwrap_or("")
}

impl Ctx {
    /// Whether a fresh listing shows `key` absent.
    fn listed_absent(&self, key: &str) -> bool {
        let map = self.listings.lock().unwrap();
        map.get(folder(key))
            .is_some_and(|(t, keys)| t.elapsed() < LISTING_TTL && !keys.contains(key))
    }

    /// Lists the folders of new keys in `rows` that have several and no listing that stays
    /// fresh while `rows` are started. A folder with no listing is listed before they start (else
    /// each would take a HEAD); one whose listing is about to go stale is listed again beside the
    /// uploads, which a listing a round trip (or several, for a big folder) away must not hold up.
    async fn list_folders<'r>(self: &Arc<Self>, rows: impl Iterator<Item = &'r Row>) {
        let mut missing: HashMap<&str, usize> = HashMap::new();
        let mut aging: HashMap<&str, usize> = HashMap::new();
        {
            let mut map = self.listings.lock().unwrap();
            map.retain(|_, (t, _)| t.elapsed() < LISTING_TTL);
            for r in rows.filter(|r| {
                r.etag.is_none() && r.blob.is_some() && r.size < self.settings.multipart_threshold
            }) {
                let f = folder(&r.key);
                match map.get(f) {
                    None => *missing.entry(f).or_default() += 1,
                    Some((t, _)) if t.elapsed() + QUEUE_FRESH >= LISTING_TTL => {
                        *aging.entry(f).or_default() += 1
                    }
                    Some(_) => {}
                }
            }
        }
        for (f, n) in missing {
            if n >= LISTING_MIN_KEYS {
                self.list_folder(f).await;
            }
        }
        for (f, n) in aging {
            if n >= LISTING_MIN_KEYS && self.refreshing.lock().unwrap().insert(f.to_owned()) {
                let (ctx, f) = (self.clone(), f.to_owned());
                tokio::spawn(async move {
                    ctx.list_folder(&f).await;
                    ctx.refreshing.lock().unwrap().remove(&f);
                });
            }
        }
    }

    async fn list_folder(&self, f: &str) {
        // Taken before the request: the listing is only as fresh as its start.
        let t = Instant::now();
        match self.remote.keys_in(f, LISTING_MAX_KEYS).await {
            Ok(Some(keys)) => {
                log::debug!(
                    "uplink {}: listed {f}: {} keys in {:?}",
                    self.dest.name,
                    keys.len(),
                    t.elapsed()
                );
                self.listings
                    .lock()
                    .unwrap()
                    .insert(f.to_owned(), (t, keys));
            }
            Ok(None) => log::debug!("uplink {}: {f} holds too many keys to list", self.dest.name),
            Err(e) => log::debug!("uplink {}: listing {f}: {e}", self.dest.name),
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    key: String,
    blob: Option<i64>,
    size: u64,
    hash: Option<[u8; 32]>,
    etag: Option<String>,
    attempts: u32,
    /// For a version key: the live key whose object held the content.
    copy_from: Option<String>,
}

impl Row {
    fn from_replica(r: microcloud_uplink_state::Replica) -> Row {
        Row {
            key: r.key,
            blob: r.blob,
            size: r.size,
            hash: r.hash,
            etag: r.remote_etag,
            attempts: r.attempts,
            copy_from: r.copy_from,
        }
    }
}

enum Outcome {
    Done,
    /// The destination asked to slow down (503 SlowDown, 429): the replica is retried soon.
    Busy(String),
    /// The destination could not be reached.
    Unreachable(String),
    /// This replica failed for its own reasons.
    Failed,
}

/// One of the worker's `concurrency` places for requests to the destination, given back when
/// dropped: the bookkeeping after an upload does not hold one.
struct Slot {
    busy: Arc<AtomicUsize>,
    wake: Arc<Notify>,
    /// Bytes of content this request holds in memory, counted in `held` until it is done.
    bytes: u64,
    held: Arc<AtomicU64>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// Most content bytes all requests of one worker hold in memory at once: hundreds of small
/// files in flight are cheap, hundreds of 30 MiB ones are not (the uplink's unit caps its memory).
const HELD_BYTES: u64 = 128 << 20;

/// Why one replica could not be processed.
#[derive(Debug, thiserror::Error)]
enum ItemError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{path}: {source}")]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("local content of {key} does not match its hash: the local copy is damaged")]
    LocalCorrupt { key: String },
    #[error("content of {key} changed while uploading")]
    Superseded { key: String },
    #[error(
        "version {key}: its content is not on the box, {from} no longer holds it, and no destination can provide it: {why}"
    )]
    VersionLost {
        key: String,
        from: String,
        why: String,
    },
}

pub(crate) fn spawn(
    store: Store,
    state: UplinkState,
    dest: Destination,
    settings: Settings,
    bandwidth: Option<Arc<microcloud_remotes::limit::Bandwidth>>,
    raised: Arc<Notify>,
) -> Result<Handle, DestinationError> {
    let mut remote = destinations::remote(&store, &dest)?;
    if let Some(b) = bandwidth {
        remote = remote.with_bandwidth(b);
    }
    let wake = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let (settings_concurrency, settings_max_concurrency) =
        (settings.concurrency, settings.max_concurrency);
    let ctx = Arc::new(Ctx {
        store,
        state,
        dest,
        remote,
        settings,
        listings: std::sync::Mutex::new(HashMap::new()),
        refreshing: std::sync::Mutex::new(HashSet::new()),
        raised,
        version_locks: std::sync::Mutex::new(HashMap::new()),
        flow: std::sync::Mutex::new(Limiter::new(settings_concurrency, settings_max_concurrency)),
    });
    tokio::spawn(run(ctx, wake.clone(), stop.clone()));
    Ok(Handle { wake, stop })
}

fn backoff(settings: &Settings, failures: u32) -> Duration {
    let exp = settings
        .backoff_base
        .saturating_mul(1u32 << failures.min(16).saturating_sub(1));
    let capped = exp.min(settings.backoff_cap);
    // Full jitter on the upper half: spreads retries of many boxes without ever retrying at once.
    let ms = capped.as_millis() as u64;
    Duration::from_millis(ms / 2 + rand::rng().random_range(0..=ms / 2 + 1))
}

async fn run(ctx: Arc<Ctx>, wake: Arc<Notify>, stop: Arc<AtomicBool>) {
    let name = ctx.dest.name.clone();
    let mut tasks: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut inflight: HashSet<String> = HashSet::new();
    // Tasks still holding a slot (the others are only recording their result).
    let busy = Arc::new(AtomicUsize::new(0));
    // Content bytes those tasks hold in memory.
    let held = Arc::new(AtomicU64::new(0));
    // Due replicas read ahead from the uplink state, oldest first; `finished` are keys whose task
    // ended since (their rows here are out of date).
    let mut queue: VecDeque<Row> = VecDeque::new();
    let mut queue_read = Instant::now();
    let mut finished: HashSet<String> = HashSet::new();
    let mut failures: u32 = 0;
    let mut down_until: Option<Instant> = None;
    let mut strays_cleaned = false;
    let mut state = DestinationState::Ok;
    let mut last_ok_written = Instant::now() - Duration::from_secs(3600);
    let mut flow_written: (Instant, Flow) = (Instant::now() - FLOW_EVERY, Flow::default());
    // Figures that moved since they were last recorded: the loop comes back to record them.
    let mut flow_dirty;
    // Figures to record at once, not at the next second: a SlowDown (recorded before the request
    // is tried again, so a `flush` that waited for it reads it in `status`), and the last figures
    // when the worker falls idle.
    let mut record_now = false;
    let mut slow_downs: u64 = 0;
    loop {
        // How the requests flow, for `status` and `/metrics`: when it moved, at most once a
        // second, and while requests are out again now and then so a reader can tell the figures
        // are live. An idle worker writes nothing: its last figures say 0 in flight, and a state
        // left alone lets the manifests be skipped (see `manifest::Publisher`).
        {
            let flow = {
                let l = ctx.flow.lock().unwrap();
                Flow {
                    in_flight: busy.load(Ordering::Relaxed) as u64,
                    limit: l.limit() as u64,
                    rtt_ms: l.rtt().map(|d| (d.as_secs_f64() * 1e4).round() / 10.0),
                    slow_downs,
                    at_ns: 0,
                }
            };
            let (at, last) = flow_written;
            flow_dirty = flow != last;
            if (record_now && flow_dirty)
                || (at.elapsed() >= FLOW_EVERY
                    && (flow_dirty || (flow.in_flight > 0 && at.elapsed() >= FLOW_EVERY * 5)))
            {
                flow_dirty = false;
                record_now = false;
                flow_written = (Instant::now(), flow);
                let (st, id) = (ctx.state.clone(), ctx.dest.id);
                let recorded = Flow {
                    at_ns: now_ns(),
                    ..flow
                };
                if let Err(e) = blocking(move || st.set_destination_flow(id, &recorded)).await {
                    log::warn!("uplink {name}: recording its figures: {e}");
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            tasks.abort_all();
            return;
        }
        // Only with nothing in flight: an upload being created must not look like a stray.
        if !strays_cleaned && tasks.is_empty() && down_until.is_none_or(|t| Instant::now() >= t) {
            match abort_strays(&ctx).await {
                Ok(n) => {
                    strays_cleaned = true;
                    if n > 0 {
                        log::info!("uplink {name}: aborted {n} abandoned multipart uploads");
                    }
                }
                Err(e) => log::warn!("uplink {name}: could not list open multipart uploads: {e}"),
            }
        }
        let may_start = match down_until {
            Some(t) if Instant::now() < t => 0,
            // While the destination is failing, one request at a time tells when it is back.
            Some(_) => usize::from(tasks.is_empty()),
            None => ctx
                .flow
                .lock()
                .unwrap()
                .limit()
                .saturating_sub(busy.load(Ordering::Relaxed)),
        };
        if may_start > 0 {
            if queue.len() < may_start || queue_read.elapsed() > QUEUE_FRESH {
                match due_rows(&ctx, QUEUE_BATCH.max(may_start) + inflight.len()) {
                    Ok(rows) => {
                        queue = rows
                            .into_iter()
                            .filter(|r| !inflight.contains(&r.key))
                            .collect();
                        queue_read = Instant::now();
                        finished.clear();
                        if down_until.is_none() {
                            ctx.list_folders(queue.iter()).await;
                        }
                    }
                    Err(e) => log::error!("uplink {name}: reading the queue: {e}"),
                }
            }
            let mut started = 0;
            while started < may_start {
                let Some(row) = queue.pop_front() else { break };
                if inflight.contains(&row.key) || finished.contains(&row.key) {
                    continue;
                }
                // What it will hold in memory: the whole body, or its parts in flight.
                let bytes = if row.size >= ctx.settings.multipart_threshold {
                    let part = multipart::part_size_for(&ctx.settings, row.size);
                    part * multipart::parts_in_flight(&ctx.settings, part) as u64
                } else {
                    row.size
                };
                let now_held = held.load(Ordering::Relaxed);
                if now_held > 0 && now_held + bytes > HELD_BYTES {
                    // Waits for memory, first in line.
                    queue.push_front(row);
                    break;
                }
                held.fetch_add(bytes, Ordering::Relaxed);
                started += 1;
                inflight.insert(row.key.clone());
                busy.fetch_add(1, Ordering::Relaxed);
                let slot = Slot {
                    busy: busy.clone(),
                    wake: wake.clone(),
                    bytes,
                    held: held.clone(),
                };
                let c = ctx.clone();
                tasks.spawn(async move {
                    let key = row.key.clone();
                    (key, process(&c, row, slot).await)
                });
            }
        }
        let sleep_for = match down_until {
            Some(t) => t
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50)),
            // Idle: nothing is due before the first retry delay ends; new work wakes the worker.
            None if tasks.is_empty() => next_due(&ctx),
            // Busy: finished tasks wake the loop; replicas whose retry delay ends meanwhile are
            // looked for now and then.
            None => Duration::from_millis(200),
        };
        let sleep_for = if flow_dirty {
            sleep_for.min(FLOW_EVERY)
        } else {
            sleep_for
        };
        tokio::select! {
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((key, outcome)) = joined else { continue };
                inflight.remove(&key);
                finished.insert(key);
                record_now |= tasks.is_empty();
                if matches!(outcome, Outcome::Done) {
                    // Itself included: its slot was given back before its bookkeeping.
                    let out = busy.load(Ordering::Relaxed) + 1;
                    ctx.flow.lock().unwrap().on_success(out);
                }
                let outcome = match outcome {
                    Outcome::Busy(err) => {
                        slow_downs += 1;
                        record_now = true;
                        if ctx.flow.lock().unwrap().on_overload() {
                            log::debug!("uplink {name}: asked to slow down ({err})");
                            continue;
                        }
                        // Already one request at a time: the destination is failing, not busy.
                        Outcome::Unreachable(err)
                    }
                    Outcome::Unreachable(err) => {
                        // A timeout with many requests out may be the destination drowning.
                        ctx.flow.lock().unwrap().on_overload();
                        Outcome::Unreachable(err)
                    }
                    o => o,
                };
                match outcome {
                    Outcome::Done | Outcome::Failed => {
                        if failures > 0 || down_until.is_some() {
                            log::info!("uplink {name}: destination reachable again");
                        }
                        failures = 0;
                        down_until = None;
                        if state != DestinationState::Ok || last_ok_written.elapsed() > Duration::from_secs(5) {
                            state = DestinationState::Ok;
                            last_ok_written = Instant::now();
                            set_state(&ctx, state, None).await;
                        }
                    }
                    Outcome::Unreachable(err) => {
                        failures += 1;
                        let wait = backoff(&ctx.settings, failures);
                        down_until = Some(Instant::now() + wait);
                        let new_state = if failures >= 3 { DestinationState::Down } else { DestinationState::Retrying };
                        if failures == 1 || new_state != state {
                            log::warn!("uplink {name}: unreachable ({err}); retrying in {:.1} s", wait.as_secs_f64());
                        }
                        state = new_state;
                        set_state(&ctx, new_state, Some(&err)).await;
                    }
                    Outcome::Busy(_) => unreachable!("turned into a cut or unreachable above"),
                }
            }
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
}

/// How long until the first replica waiting out a retry delay falls due (an hour when none
/// waits: new work wakes the worker).
fn next_due(ctx: &Ctx) -> Duration {
    let now = now_ns();
    match ctx.state.next_due_ns(ctx.dest.id, now) {
        Ok(Some(t)) => Duration::from_nanos((t - now).max(0) as u64).max(Duration::from_millis(10)),
        Ok(None) => Duration::from_secs(3600),
        Err(e) => {
            log::warn!("uplink {}: reading the queue: {e}", ctx.dest.name);
            Duration::from_secs(1)
        }
    }
}

async fn set_state(ctx: &Ctx, state: DestinationState, error: Option<&str>) {
    let (st, id, error) = (ctx.state.clone(), ctx.dest.id, error.map(str::to_owned));
    let r = blocking(move || st.set_destination_state(id, state, error.as_deref())).await;
    if let Err(e) = r {
        log::error!("uplink {}: recording its state: {e}", ctx.dest.name);
    }
}

fn due_rows(ctx: &Ctx, limit: usize) -> Result<Vec<Row>, StateError> {
    Ok(ctx
        .state
        .due_replicas(ctx.dest.id, now_ns(), limit)?
        .into_iter()
        .map(Row::from_replica)
        .collect())
}

async fn process(ctx: &Ctx, row: Row, slot: Slot) -> Outcome {
    let result = match row.blob {
        Some(_) if is_version_key(&row.key) => version(ctx, &row).await,
        // A version key being deleted holds nobody's content any more.
        None if is_version_key(&row.key) => delete(ctx, &row, slot).await,
        blob => match settle_versions_of(ctx, &row.key).await {
            Err(e) => Err(e),
            Ok(()) => match blob {
                None => delete(ctx, &row, slot).await,
                Some(blob) => upload(ctx, &row, blob, Some(slot)).await,
            },
        },
    };
    match result {
        Ok(()) => Outcome::Done,
        Err(ItemError::Remote(e)) if e.is_busy() => {
            let msg = e.to_string();
            record_error(ctx, &row, &msg, false).await;
            Outcome::Busy(msg)
        }
        Err(ItemError::Remote(e)) if e.is_transient() => {
            let msg = e.to_string();
            record_error(ctx, &row, &msg, false).await;
            Outcome::Unreachable(msg)
        }
        Err(ItemError::Superseded { .. }) => Outcome::Done,
        Err(e) => {
            log::warn!("uplink {}: {}: {e}", ctx.dest.name, row.key);
            record_error(ctx, &row, &e.to_string(), true).await;
            Outcome::Failed
        }
    }
}

/// Notes the error on the replica; `retry_later` also pushes it back (its own backoff).
async fn record_error(ctx: &Ctx, row: &Row, msg: &str, retry_later: bool) {
    let retry_at =
        retry_later.then(|| now_ns() + backoff(&ctx.settings, row.attempts + 1).as_nanos() as i64);
    let (st, id, key, msg, blob) = (
        ctx.state.clone(),
        ctx.dest.id,
        row.key.clone(),
        msg.to_owned(),
        row.blob,
    );
    let _ = blocking(move || st.record_error(id, &key, blob, &msg, retry_at)).await;
}

async fn delete(ctx: &Ctx, row: &Row, slot: Slot) -> Result<(), ItemError> {
    abort_multipart_of(ctx, &row.key).await?;
    ctx.remote.delete(&row.key).await?;
    drop(slot);
    let (st, id, key) = (ctx.state.clone(), ctx.dest.id, row.key.clone());
    blocking(move || st.mark_deleted(id, &key)).await?;
    Ok(())
}

impl Ctx {
    /// The lock of version key `key` (made when missing).
    fn version_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.version_locks.lock().unwrap();
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.entry(key.to_owned()).or_default().clone()
    }
}

/// Before live key `key` is replaced or deleted here: settles every pending version whose content
/// was in `key`'s object (see the module's doc). Only an unreachable destination stops `key`
/// (it is retried as a whole); a version nothing can provide is recorded and left behind.
async fn settle_versions_of(ctx: &Ctx, key: &str) -> Result<(), ItemError> {
    let (st, d, k) = (ctx.state.clone(), ctx.dest.id, key.to_owned());
    let waiting = blocking(move || st.pending_copies_from(d, &k)).await?;
    for r in waiting {
        let row = Row::from_replica(r);
        match version(ctx, &row).await {
            Ok(()) | Err(ItemError::Superseded { .. }) => {}
            Err(ItemError::Remote(e)) if e.is_transient() => return Err(e.into()),
            Err(e) => {
                log::warn!("uplink {}: {}: {e}", ctx.dest.name, row.key);
                record_error(ctx, &row, &e.to_string(), true).await;
            }
        }
    }
    Ok(())
}

/// Makes this destination hold a version's content under its version key, under that key's lock:
/// uploaded from the box when it is here, else copied server-side from the live key it was in
/// (once a HEAD shows that object still has it), else fetched from a destination holding it and
/// uploaded.
async fn version(ctx: &Ctx, row: &Row) -> Result<(), ItemError> {
    let lock = ctx.version_lock(&row.key);
    let _turn = lock.lock().await;
    // The other path may have settled it meanwhile, or a newer journal entry changed it.
    let (st, d, k) = (ctx.state.clone(), ctx.dest.id, row.key.clone());
    let fresh = match blocking(move || st.replica(d, &k)).await? {
        Some(r) if r.state == ReplicaState::Pending && r.blob.is_some() && r.blob == row.blob => {
            Row::from_replica(r)
        }
        _ => return Ok(()),
    };
    let (Some(blob), Some(hash)) = (fresh.blob, fresh.hash) else {
        return Ok(());
    };
    let evicted = match ctx.store.content(blob) {
        Ok(Content::Evicted { .. }) => true,
        Ok(_) => false,
        // No version needs it any more: an `unversion` follows.
        Err(StoreError::NotFound { .. }) => {
            return Err(ItemError::Superseded {
                key: fresh.key.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if evicted {
        if let Some(from) = &fresh.copy_from {
            let hex = blake3::Hash::from_bytes(hash).to_hex().to_string();
            let there = ctx.remote.head(from).await?;
            if there.is_some_and(|i| i.blake3.as_deref() == Some(hex.as_str())) {
                match ctx.remote.copy(from, &fresh.key).await {
                    Ok(etag) => {
                        log::debug!(
                            "uplink {}: {} copied from {from} in the cloud",
                            ctx.dest.name,
                            fresh.key
                        );
                        return mark_done(ctx, &fresh, blob, etag).await;
                    }
                    // Gone between the HEAD and the copy: try the other sources.
                    Err(RemoteError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    match upload(ctx, &fresh, blob, None).await {
        Err(ItemError::Store(e)) if evicted => Err(ItemError::VersionLost {
            key: fresh.key.clone(),
            from: fresh.copy_from.clone().unwrap_or_default(),
            why: e.to_string(),
        }),
        r => r,
    }
}

async fn upload(ctx: &Ctx, row: &Row, blob: i64, slot: Option<Slot>) -> Result<(), ItemError> {
    let hash = row.hash.ok_or_else(|| ItemError::Superseded {
        key: row.key.clone(),
    })?;
    let hex = blake3::Hash::from_bytes(hash).to_hex().to_string();
    let cond = match &row.etag {
        Some(e) => Condition::IfMatch(e.clone()),
        None => Condition::IfAbsent,
    };
    // Content evicted after an earlier destination took it comes back from one that has it.
    let content = ctx.store.local_content(blob).await?;
    let result = if row.size >= ctx.settings.multipart_threshold {
        match &content {
            Content::File(path) => multipart(ctx, row, blob, path.clone(), &hex, &cond).await,
            _ => Err(ItemError::Superseded {
                key: row.key.clone(),
            }),
        }
    } else {
        let data = match content {
            Content::Inline(b) => b,
            Content::Evicted { .. } => {
                return Err(ItemError::Superseded {
                    key: row.key.clone(),
                })
            }
            Content::File(path) => match tokio::fs::read(&path).await {
                Ok(v) => Bytes::from(v),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(superseded_or(
                        ctx,
                        row,
                        ItemError::Local { path, source: e },
                    ));
                }
                Err(source) => return Err(ItemError::Local { path, source }),
            },
        };
        // Never spread a local corruption to the clouds.
        if blake3::hash(&data) != blake3::Hash::from_bytes(hash) {
            return Err(ItemError::LocalCorrupt {
                key: row.key.clone(),
            });
        }
        let sent = Instant::now();
        let r = if matches!(cond, Condition::IfAbsent) && ctx.listed_absent(&row.key) {
            ctx.remote.put_listed_absent(&row.key, data, &hex).await
        } else {
            ctx.remote.put(&row.key, data, &hex, &cond).await
        };
        // A small body's time is round trips and the destination's queue: what the limit
        // follows. (Large ones are bytes: the bandwidth's business.)
        if r.is_ok() && row.size <= SMALL_REQUEST {
            ctx.flow.lock().unwrap().sample(sent.elapsed());
        }
        r.map_err(ItemError::from)
    };
    let etag = match result {
        Ok(etag) => etag,
        Err(ItemError::Remote(RemoteError::PreconditionFailed { .. })) => {
            // Ours after all (a crash fell between the upload and its commit)?
            match ctx.remote.head(&row.key).await? {
                Some(info) if info.blake3.as_deref() == Some(hex.as_str()) => info.etag,
                other => {
                    conflict(ctx, row, other.map(|i| i.etag)).await?;
                    return Ok(());
                }
            }
        }
        Err(e) => return Err(e),
    };
    drop(slot);
    mark_done(ctx, row, blob, etag).await
}

/// When local content vanished, the replica was usually superseded by a newer write.
fn superseded_or(ctx: &Ctx, row: &Row, err: ItemError) -> ItemError {
    match ctx.state.replica(ctx.dest.id, &row.key) {
        Ok(Some(r)) if r.blob == row.blob => err,
        _ => ItemError::Superseded {
            key: row.key.clone(),
        },
    }
}

async fn mark_done(ctx: &Ctx, row: &Row, blob: i64, etag: String) -> Result<(), ItemError> {
    let (st, store, id, key) = (
        ctx.state.clone(),
        ctx.store.clone(),
        ctx.dest.id,
        row.key.clone(),
    );
    // Relaxed: should a power cut take the mark back, the next upload finds the object there
    // already, with our hash, and marks it again. If the file changed meanwhile, the new ETag is
    // remembered (for If-Match) but the replica stays pending.
    blocking(move || st.mark_done(&store, id, &key, blob, &etag)).await?;
    ctx.raised.notify_one();
    Ok(())
}

async fn conflict(ctx: &Ctx, row: &Row, remote_etag: Option<String>) -> Result<(), ItemError> {
    log::warn!(
        "uplink {}: {} was changed in the cloud by someone else; keeping both (the local copy stays here, the cloud copy is not overwritten)",
        ctx.dest.name,
        row.key
    );
    let (st, store, id) = (ctx.state.clone(), ctx.store.clone(), ctx.dest.id);
    let c = NewConflict {
        key: row.key.clone(),
        remote_etag,
        local_hash: row.hash,
    };
    blocking(move || st.record_conflicts(&store, id, &[c], "changed in the cloud by someone else"))
        .await?;
    Ok(())
}
