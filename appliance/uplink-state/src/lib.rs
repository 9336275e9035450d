//! The uplink's state, kept apart from the store's catalog: the journal cursor, the cloud
//! destinations, what each destination must hold per object key and how far that is (replicas),
//! multipart uploads in progress, conflicts, the bandwidth schedule, and the durability levels
//! that follow from all of it.
//!
//! Why a crate and a file of its own: the uplink used to keep these tables in the catalog and
//! reach them (and the store's own tables) with SQL strings, so the catalog's schema was the only
//! contract between two stages, and every "this file is now in the cloud" competed with the LAN's
//! writes for the catalog's single write lock. Here they live in `DATA/uplink.sqlite` (WAL,
//! `synchronous = FULL`, made with the same modes as the catalog, so the appliance's two agents
//! share it through their group), behind typed operations: no SQL and no database type crosses
//! this crate's interface. The uplink writes it; the CLI and the page read it
//! ([`UplinkState::open_read_only`]) for status and pending counts, and add or remove destinations
//! through the uplink crate.
//!
//! The store stays the owner of file durability (`local`, `cloud:1`, `cloud:all`, read by its
//! eviction); the level is worked out here from the replicas, and pushed to the store with a rule
//! that never leaves the store above the truth, whatever crashes: in a transaction that changes
//! replicas, every touched blob's level is worked out before and after; lowered levels are pushed
//! to the store *before* the commit, raised ones *after* it (see [`UplinkState::push_raises`]);
//! when the uplink starts and when a destination is added or removed, every level is worked out
//! again and pushed ([`UplinkState::recompute_all`]). A crash can then only leave the store's
//! level lower than the truth (safe: content is never evicted too early), repaired at the next
//! start.
//!
//! Versions of files. The store keeps what an overwrite, a delete or a rollback replaces as a
//! version, and journals it (`version`, once per user and blob; `unversion` when expiry removed
//! the last version of that user needing the blob). The clouds keep that content too, as one
//! object per user and content under [`version_key`] (`.microcloud/versions/<user>/<blake3>`):
//! content-addressed, so a file toggled back and forth is stored once and a move needs no copy,
//! and the same for Garage (which has no bucket versioning) as for directory destinations. A
//! version key's replica remembers in `copy_from` the live key whose object held the content when
//! the version was taken: the content may have been evicted from the box (it was `cloud:all`)
//! and then exists only in that object, which the uplink copies server-side before it replaces or
//! deletes it. The blobs sharing a version key are kept in `version_blobs`: the object goes only
//! when none of them is needed any more, and a done version key counts for the durability level
//! and the read-through of each of them, exactly like a live key (so versions become evictable
//! once safe at every destination).
//!
//! The first time the state is made on a box that ran an older build, the uplink's tables of the
//! catalog are copied in (the catalog is attached read-only, in the creating transaction) and left
//! where they were.

mod error;
mod schema;
pub mod status;

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use microcloud_constants as constants;
use microcloud_store::{Change, ChangeKind, Store};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

pub use error::{DbError, Result, StateError};
pub use microcloud_store::Durability;
pub use status::{DestinationStatus, UplinkStatus};

/// Where versions' content lives at every destination, relative to its prefix (user names never
/// start with '.', so no user's key can fall under it).
pub const VERSIONS_PREFIX: &str = ".microcloud/versions/";

/// The object key of `user`'s version content with BLAKE3 `hash`: one object per user and
/// content (see the crate's doc). The one place this key is made: intake, manifest and restore
/// all call it.
pub fn version_key(user: &str, hash: &[u8; 32]) -> String {
    // Lowercase hex, as BLAKE3's own `to_hex` and the objects' metadata write it.
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{VERSIONS_PREFIX}{user}/{hex}")
}

/// Whether `key` is a version key (see [`version_key`]).
pub fn is_version_key(key: &str) -> bool {
    key.starts_with(VERSIONS_PREFIX)
}

/// A version's content a restore found at a destination (see
/// [`UplinkState::record_restored_versions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredVersion {
    /// The version key ([`version_key`]).
    pub key: String,
    /// The store's blob holding that content (recorded as evicted).
    pub blob: i64,
    /// Its size.
    pub size: u64,
    /// Its BLAKE3 hash.
    pub hash: [u8; 32],
    /// The live key the content had (`<user>/<path>`).
    pub copy_from: String,
}

/// A destination's id in the state.
pub type DestinationId = i64;

/// Whether a destination answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationState {
    /// It answers.
    Ok,
    /// It failed lately and is retried with backoff.
    Retrying,
    /// It failed several times in a row.
    Down,
}

impl DestinationState {
    /// The state's name (`ok`, `retrying`, `down`), as reports show it.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationState::Ok => "ok",
            DestinationState::Retrying => "retrying",
            DestinationState::Down => "down",
        }
    }

    fn parse(s: &str) -> DestinationState {
        match s {
            "retrying" => DestinationState::Retrying,
            "down" => DestinationState::Down,
            _ => DestinationState::Ok,
        }
    }
}

/// A configured destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRecord {
    /// Its id.
    pub id: DestinationId,
    /// The name the owner chose.
    pub name: String,
    /// Where it is, as JSON (never a secret: those live in `DATA/secrets/`).
    pub config: String,
    /// When it was added, nanoseconds since the epoch.
    pub created_ns: i64,
    /// Whether it answers.
    pub state: DestinationState,
    /// The last error met there.
    pub last_error: Option<String>,
    /// When it last answered, nanoseconds since the epoch.
    pub last_ok_ns: Option<i64>,
}

/// How far one replica is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplicaState {
    /// The destination does not hold what it should yet (an upload or a delete waits).
    Pending,
    /// The destination holds it.
    Done,
    /// Someone else changed the object there: kept on both sides until a person decides.
    Conflict,
}

impl ReplicaState {
    /// The state's name (`pending`, `done`, `conflict`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Pending => "pending",
            ReplicaState::Done => "done",
            ReplicaState::Conflict => "conflict",
        }
    }

    fn parse(s: &str) -> ReplicaState {
        match s {
            "done" => ReplicaState::Done,
            "conflict" => ReplicaState::Conflict,
            _ => ReplicaState::Pending,
        }
    }
}

/// What one destination must hold under one object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// The destination.
    pub destination: DestinationId,
    /// Object key (`user/path`).
    pub key: String,
    /// The content the object must have; `None`: the object must be deleted.
    pub blob: Option<i64>,
    /// Its size.
    pub size: u64,
    /// Its BLAKE3 hash (`None` for a delete, or content gone before it was taken in).
    pub hash: Option<[u8; 32]>,
    /// How far it is.
    pub state: ReplicaState,
    /// The ETag of what we last wrote there (for If-Match).
    pub remote_etag: Option<String>,
    /// Since when it waits, nanoseconds since the epoch (oldest first).
    pub dirty_ns: i64,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// Not to be tried before this time (ns since the epoch).
    pub next_ns: i64,
    /// The last error met.
    pub last_error: Option<String>,
    /// For a version key: the live key whose object held the content when the version was taken
    /// (the source of a server-side copy when the content is no longer on the box).
    pub copy_from: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    /// The destination.
    pub destination: DestinationId,
    /// Object key.
    pub key: String,
    /// The content being uploaded.
    pub blob: i64,
    /// The destination's id for the upload.
    pub upload_id: String,
    /// Bytes per part (the last one may be shorter).
    pub part_size: u64,
    /// When it was started, nanoseconds since the epoch.
    pub created_ns: i64,
}

/// A key in conflict at a destination.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    /// Destination name.
    pub destination: String,
    /// Object key.
    pub key: String,
    /// The ETag of the object someone else put there.
    pub remote_etag: Option<String>,
    /// When it was found, nanoseconds since the epoch.
    pub detected_ns: i64,
}

/// A conflict to record (by the worker or a scrub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConflict {
    /// Object key.
    pub key: String,
    /// The ETag of the object found there.
    pub remote_etag: Option<String>,
    /// The hash of our content.
    pub local_hash: Option<[u8; 32]>,
}

/// An object a scrub found missing or damaged: to be uploaded again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// Object key.
    pub key: String,
    /// The ETag of the damaged object (for If-Match), `None` when it is gone.
    pub remote_etag: Option<String>,
}

/// What waits, over every destination (for `flush`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Replicas not done (uploads and deletes).
    pub files: u64,
    /// Bytes still to upload.
    pub bytes: u64,
    /// Replicas in conflict.
    pub conflicts: u64,
    /// Destinations configured.
    pub destinations: u64,
}

/// What [`UplinkState::apply_changes`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Journal entries taken in (entries at or before the cursor are skipped).
    pub changes: usize,
    /// The cursor afterwards: the store's journal may be trimmed up to it.
    pub cursor: i64,
}

/// The current time in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Destinations holding blob ?1: under a key that wants it, or under the version key it shares
/// with other blobs of the same user and content.
const LEVEL_SQL: &str =
    "SELECT count(DISTINCT dest_id) FROM replicas WHERE state = 'done' AND blob_id IS NOT NULL \
     AND (blob_id = ?1 OR key = (SELECT key FROM version_blobs WHERE blob_id = ?1))";

/// The durability of content held at `done` destinations out of `destinations`.
fn level_of(done: i64, destinations: i64) -> Durability {
    if done <= 0 {
        Durability::Local
    } else if done >= destinations {
        Durability::CloudAll
    } else {
        Durability::CloudOne
    }
}

fn hash32(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|h| h.try_into().ok())
}

/// The worker asks this before every upload, and SQLite, having no statistics, chose to walk the
/// destination's every replica (its primary key) over the index: 0.4 ms a file at 5,000 files, a
/// third of the uplink's CPU, and growing with the namespace. Hence INDEXED BY, here and in
/// `NEXT_DUE` (asked whenever a worker falls idle); a test checks both plans.
const PENDING_COPIES_FROM: &str = "INDEXED BY replicas_copy_from \
     WHERE dest_id = ?1 AND copy_from = ?2 AND state = 'pending' AND blob_id IS NOT NULL";
const NEXT_DUE: &str = "SELECT min(next_ns) FROM replicas INDEXED BY replicas_queue \
     WHERE dest_id = ?1 AND state = 'pending' AND next_ns > ?2";

const REPLICA_COLUMNS: &str = "dest_id, key, blob_id, size, hash, state, remote_etag, dirty_ns, attempts, next_ns, last_error, copy_from";

fn replica_from(r: &Row) -> rusqlite::Result<Replica> {
    Ok(Replica {
        destination: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<_, i64>(3)?.max(0) as u64,
        hash: hash32(r.get(4)?),
        state: ReplicaState::parse(&r.get::<_, String>(5)?),
        remote_etag: r.get(6)?,
        dirty_ns: r.get(7)?,
        attempts: r.get::<_, i64>(8)?.clamp(0, u32::MAX as i64) as u32,
        next_ns: r.get(9)?,
        last_error: r.get(10)?,
        copy_from: r.get(11)?,
    })
}

fn destination_from(r: &Row) -> rusqlite::Result<DestinationRecord> {
    Ok(DestinationRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        config: r.get(2)?,
        created_ns: r.get(3)?,
        state: DestinationState::parse(&r.get::<_, String>(4)?),
        last_error: r.get(5)?,
        last_ok_ns: r.get(6)?,
    })
}

/// Turns off SQLite's global memory statistics before the first connection of the process (the
/// store does the same; whichever comes first wins, the other call changes nothing).
fn init_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before this crate opens any connection; if SQLite was
        // already initialized (by the store) it returns SQLITE_MISUSE and changes nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            );
            // A statement's rollback record stays in memory up to 4 MiB (SQLite's default is
            // 64 KiB, past which it moves to a temporary file for the rest of the transaction:
            // a large group then spent almost half its time in write() calls to that file).
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                (4 << 20) as std::os::raw::c_int,
            );
        }
    });
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Creates the new empty file `path` with exactly `mode` (an existing one is left as it is).
fn create_file(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        // The umask may have taken bits away: set them on the file just made.
        Ok(f) => f.set_permissions(std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The one writable connection, with the `synchronous` mode it is in (switched only when a write
/// asks for the other one: most writes of the uplink are relaxed).
struct WriterConn {
    conn: Connection,
    full: bool,
}

impl WriterConn {
    fn synchronous(&mut self, full: bool) -> rusqlite::Result<()> {
        if self.full != full {
            let mode = if full { "FULL" } else { "NORMAL" };
            self.conn.pragma_update(None, "synchronous", mode)?;
            self.full = full;
        }
        Ok(())
    }
}

impl std::ops::Deref for WriterConn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

/// Runs a fixed statement through the statement cache (no parsing per transaction).
fn exec(c: &Connection, sql: &str) -> rusqlite::Result<()> {
    c.prepare_cached(sql)?.execute([]).map(|_| ())
}

struct Inner {
    path: PathBuf,
    /// The one writable connection (`None` when opened read-only).
    writer: Option<Mutex<WriterConn>>,
    readers: Mutex<Vec<Connection>>,
    /// Blobs whose level rose in a committed transaction and is not pushed to the store yet.
    raises: Mutex<HashSet<i64>>,
    /// Taken by one [`UplinkState::push_raises`] at a time.
    pushing: Mutex<()>,
}

/// Handle to the uplink's state in one data directory; cheap to clone.
#[derive(Clone)]
pub struct UplinkState {
    inner: Arc<Inner>,
}

/// Tells whether the state changed: SQLite's `PRAGMA data_version` on a connection of its own,
/// which moves exactly when another connection (of any process, the uplink's own writer too)
/// commits. Lets the uplink skip work that depends on the state alone (its manifests) while
/// nothing changed.
pub struct ChangeWatch {
    state: UplinkState,
    conn: Mutex<Option<Connection>>,
}

impl ChangeWatch {
    /// The state's data version now; `None` while the state does not exist yet. Only readings
    /// of the same watch compare.
    pub fn version(&self) -> Result<Option<i64>> {
        let mut conn = lock(&self.conn);
        if conn.is_none() {
            *conn = self
                .state
                .reader()
                .map_err(|e| e.at(&self.state.inner.path))?;
        }
        let Some(c) = conn.as_ref() else {
            return Ok(None);
        };
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
            .map(Some)
            .map_err(|e| StateError::from(e).at(&self.state.inner.path))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How a write transaction treats durability levels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Track {
    /// It changes no replica.
    Nothing,
    /// Blobs are touched one by one (see [`Tx::touch`]).
    Blobs,
}

/// A write transaction in progress, with what it touched.
struct Tx<'c> {
    c: &'c Connection,
    track: Track,
    destinations: Option<i64>,
    /// Level of each touched blob before the transaction changed anything about it.
    before: HashMap<i64, Durability>,
}

impl Tx<'_> {
    fn destination_count(&mut self) -> rusqlite::Result<i64> {
        if let Some(n) = self.destinations {
            return Ok(n);
        }
        let n = self
            .c
            .prepare_cached("SELECT count(*) FROM destinations")?
            .query_row([], |r| r.get(0))?;
        self.destinations = Some(n);
        Ok(n)
    }

    /// The level `blob` has in the transaction's current view.
    fn level(&mut self, blob: i64) -> rusqlite::Result<Durability> {
        let dests = self.destination_count()?;
        let done: i64 = self
            .c
            .prepare_cached(LEVEL_SQL)?
            .query_row([blob], |r| r.get(0))?;
        Ok(level_of(done, dests))
    }

    /// Notes `blob`'s level before anything about it changes; call it before every change of a
    /// replica that has or gets `blob`.
    fn touch(&mut self, blob: Option<i64>) -> rusqlite::Result<()> {
        let Some(blob) = blob else { return Ok(()) };
        if self.track == Track::Nothing || self.before.contains_key(&blob) {
            return Ok(());
        }
        let level = self.level(blob)?;
        self.before.insert(blob, level);
        Ok(())
    }

    /// Touches the blob that `key` holds at destination `d` now, and for a version key every
    /// blob sharing it (each counts that object).
    fn touch_key(&mut self, d: DestinationId, key: &str) -> rusqlite::Result<()> {
        let blob: Option<Option<i64>> = self
            .c
            .prepare_cached("SELECT blob_id FROM replicas WHERE dest_id = ?1 AND key = ?2")?
            .query_row(params![d, key], |r| r.get(0))
            .optional()?;
        self.touch(blob.flatten())?;
        if is_version_key(key) && self.track != Track::Nothing {
            let sharing: Vec<i64> = {
                let mut stmt = self
                    .c
                    .prepare_cached("SELECT blob_id FROM version_blobs WHERE key = ?1")?;
                let rows = stmt.query_map([key], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for b in sharing {
                self.touch(Some(b))?;
            }
        }
        Ok(())
    }
}

/// Every blob that is done somewhere, with the number of destinations holding it (under its own
/// keys or under the version key it shares).
fn done_counts(c: &Connection) -> rusqlite::Result<HashMap<i64, i64>> {
    let mut stmt = c.prepare(
        "SELECT b, count(DISTINCT d) FROM ( \
             SELECT blob_id AS b, dest_id AS d FROM replicas WHERE state = 'done' AND blob_id IS NOT NULL \
             UNION \
             SELECT v.blob_id, r.dest_id FROM version_blobs v JOIN replicas r ON r.key = v.key \
             WHERE r.state = 'done' AND r.blob_id IS NOT NULL) \
         GROUP BY b",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The destinations holding each version's content under its version key.
fn version_done_dests(c: &Connection) -> rusqlite::Result<HashMap<i64, Vec<i64>>> {
    let mut stmt = c.prepare(
        "SELECT v.blob_id, r.dest_id FROM version_blobs v JOIN replicas r ON r.key = v.key \
         WHERE r.state = 'done' AND r.blob_id IS NOT NULL",
    )?;
    let mut map: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        map.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(map)
}

fn count_destinations(c: &Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT count(*) FROM destinations", [], |r| r.get(0))
}

fn cursor_on(c: &Connection) -> rusqlite::Result<i64> {
    Ok(
        c.prepare_cached("SELECT value FROM meta WHERE key = 'cursor'")?
            .query_row([], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

fn set_meta(c: &Connection, key: &str, value: Option<&str>) -> rusqlite::Result<()> {
    match value {
        Some(v) => c
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([key, v])?,
        None => c
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?,
    };
    Ok(())
}

impl UplinkState {
    /// Opens the state of data directory `dir` for writing, making it (and importing the
    /// uplink's tables of an older catalog there) when it does not exist yet. The file gets the
    /// modes the store gives its catalog in that directory.
    pub fn open(dir: &Path) -> Result<UplinkState> {
        init_sqlite();
        let modes = microcloud_store::prepare_data_dir(dir).map_err(|e| StateError::io(dir, e))?;
        let path = dir.join(constants::UPLINK_STATE_FILE);
        // SQLite would make it 0644 less the umask; made here with the catalog's mode. SQLite
        // gives its -wal and -shm files the same mode.
        create_file(&path, modes.file).map_err(|e| StateError::io(&path, e))?;
        let open = || -> Result<Connection> {
            let mut conn = Connection::open(&path)?;
            configure(&conn)?;
            let mode = microcloud_store::switch_to_wal(&conn)?;
            if !mode.eq_ignore_ascii_case("wal") {
                log::warn!(
                    "{}: could not switch to WAL mode (got {mode})",
                    path.display()
                );
            }
            schema::migrate(&mut conn, &path, &dir.join(constants::CATALOG_FILE))?;
            Ok(conn)
        };
        let conn = open().map_err(|e| e.at(&path))?;
        Ok(UplinkState {
            inner: Arc::new(Inner {
                path,
                writer: Some(Mutex::new(WriterConn { conn, full: true })),
                readers: Mutex::new(Vec::new()),
                raises: Mutex::new(HashSet::new()),
                pushing: Mutex::new(()),
            }),
        })
    }

    /// Opens the state of data directory `dir` for reading only (reports, while the agents run).
    /// A state that does not exist yet (no uplink ran there) reads as empty until it appears.
    pub fn open_read_only(dir: &Path) -> Result<UplinkState> {
        init_sqlite();
        Ok(UplinkState {
            inner: Arc::new(Inner {
                path: dir.join(constants::UPLINK_STATE_FILE),
                writer: None,
                readers: Mutex::new(Vec::new()),
                raises: Mutex::new(HashSet::new()),
                pushing: Mutex::new(()),
            }),
        })
    }

    /// SQLite's own check of the state's file (`PRAGMA integrity_check`): the problems it found,
    /// none when it is sound or does not exist yet.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(if lines == ["ok"] { Vec::new() } else { lines })
        })
    }

    /// A watch on this state's changes (see [`ChangeWatch`]).
    pub fn change_watch(&self) -> ChangeWatch {
        ChangeWatch {
            state: self.clone(),
            conn: Mutex::new(None),
        }
    }

    /// The state's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A pooled read-only connection, or `None` while the state does not exist yet.
    fn reader(&self) -> Result<Option<Connection>> {
        if let Some(c) = lock(&self.inner.readers).pop() {
            return Ok(Some(c));
        }
        let path = &self.inner.path;
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&conn)?;
        let found = schema::version(&conn)?;
        if found > schema::VERSION {
            return Err(StateError::SchemaTooNew {
                path: path.clone(),
                found,
                supported: schema::VERSION,
            });
        }
        // Being made by another process right now: nothing to read yet.
        Ok((found == schema::VERSION).then_some(conn))
    }

    /// Runs `f` on a read-only connection; a state that does not exist yet reads as `default`.
    fn read<T>(&self, default: T, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = match self.reader() {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(default),
            Err(e) => return Err(e.at(&self.inner.path)),
        };
        let r = f(&conn);
        lock(&self.inner.readers).push(conn);
        r.map_err(|e| StateError::from(e).at(&self.inner.path))
    }

    fn writer(&self) -> Result<MutexGuard<'_, WriterConn>> {
        match &self.inner.writer {
            Some(m) => Ok(lock(m)),
            None => Err(StateError::ReadOnly {
                path: self.inner.path.clone(),
            }),
        }
    }

    /// Runs `f` in a write transaction. With a `store`, the levels of the blobs `f` touched are
    /// worked out before and after: lowered ones are pushed to the store before the commit (the
    /// transaction is rolled back if that fails), raised ones are queued for
    /// [`UplinkState::push_raises`]. `relaxed` commits without waiting for the disk (for marks a
    /// power cut may take back because they are redone).
    fn write<T>(
        &self,
        store: Option<&Store>,
        relaxed: bool,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.writer()?;
        let result = match conn.synchronous(!relaxed) {
            Ok(()) => self.write_on(&conn, store, f),
            Err(e) => Err(e.into()),
        };
        result.map_err(|e| e.at(&self.inner.path))
    }

    fn write_on<T>(
        &self,
        conn: &Connection,
        store: Option<&Store>,
        f: impl FnOnce(&mut Tx) -> Result<T>,
    ) -> Result<T> {
        exec(conn, "BEGIN IMMEDIATE")?;
        let mut tx = Tx {
            c: conn,
            track: if store.is_some() {
                Track::Blobs
            } else {
                Track::Nothing
            },
            destinations: None,
            before: HashMap::new(),
        };
        let outcome = (|| {
            let value = f(&mut tx)?;
            let mut lowered = Vec::new();
            let mut raised = Vec::new();
            let before = std::mem::take(&mut tx.before);
            tx.destinations = None;
            for (blob, was) in before {
                let now = tx.level(blob)?;
                if now < was {
                    lowered.push((blob, now));
                } else if now > was {
                    raised.push(blob);
                }
            }
            if let (Some(store), false) = (store, lowered.is_empty()) {
                store.set_durability(&lowered)?;
            }
            Ok((value, raised))
        })();
        match outcome {
            Ok((value, raised)) => {
                if let Err(e) = exec(conn, "COMMIT") {
                    let _ = exec(conn, "ROLLBACK");
                    return Err(e.into());
                }
                if !raised.is_empty() {
                    lock(&self.inner.raises).extend(raised);
                }
                Ok(value)
            }
            Err(e) => {
                let _ = exec(conn, "ROLLBACK");
                Err(e)
            }
        }
    }

    /// Runs `f`, which may change any number of replicas or the destinations themselves, in a
    /// write transaction; every blob's level may change. Before the commit, each blob of the
    /// store whose level there is above the lower of its levels before and after `f` is lowered
    /// to it; after the commit, every level is worked out again ([`UplinkState::recompute_all`]).
    /// `f` says whether it changed anything.
    fn write_bulk<T>(
        &self,
        store: &Store,
        f: impl FnOnce(&mut Tx) -> Result<(T, bool)>,
    ) -> Result<T> {
        let (value, changed) = {
            let mut conn = self.writer()?;
            conn.synchronous(true)
                .map_err(|e| StateError::from(e).at(&self.inner.path))?;
            self.bulk_on(&conn, store, f)
                .map_err(|e| e.at(&self.inner.path))?
        };
        if changed {
            self.recompute_all(store)?;
        }
        Ok(value)
    }

    fn bulk_on<T>(
        &self,
        conn: &Connection,
        store: &Store,
        f: impl FnOnce(&mut Tx) -> Result<(T, bool)>,
    ) -> Result<(T, bool)> {
        exec(conn, "BEGIN IMMEDIATE")?;
        let outcome = (|| {
            let before = (done_counts(conn)?, count_destinations(conn)?);
            let mut tx = Tx {
                c: conn,
                track: Track::Nothing,
                destinations: None,
                before: HashMap::new(),
            };
            let (value, changed) = f(&mut tx)?;
            if changed {
                let after = (done_counts(conn)?, count_destinations(conn)?);
                let level = |(done, dests): &(HashMap<i64, i64>, i64), blob: i64| {
                    level_of(done.get(&blob).copied().unwrap_or(0), *dests)
                };
                let mut lowered = Vec::new();
                let mut seen = HashSet::new();
                store.walk(|e| {
                    if let Some(file) = e.file {
                        let id = file.blob.id;
                        if seen.insert(id) {
                            let safe = level(&before, id).min(level(&after, id));
                            if safe < file.durability {
                                lowered.push((id, safe));
                            }
                        }
                    }
                    ControlFlow::Continue(())
                })?;
                // Content only versions still refer to has a level too (eviction reads it).
                store.walk_versions(|v| {
                    let id = v.blob.id;
                    if seen.insert(id) {
                        let safe = level(&before, id).min(level(&after, id));
                        if safe < v.durability {
                            lowered.push((id, safe));
                        }
                    }
                    ControlFlow::Continue(())
                })?;
                store.set_durability(&lowered)?;
            }
            Ok((value, changed))
        })();
        match outcome {
            Ok(v) => {
                if let Err(e) = exec(conn, "COMMIT") {
                    let _ = exec(conn, "ROLLBACK");
                    return Err(e.into());
                }
                Ok(v)
            }
            Err(e) => {
                let _ = exec(conn, "ROLLBACK");
                Err(e)
            }
        }
    }

    // ---- durability --------------------------------------------------------------------------

    /// The level `blob` has by the replicas (what the store's level should be).
    pub fn level(&self, blob: i64) -> Result<Durability> {
        self.read(Durability::Local, |c| {
            let dests = count_destinations(c)?;
            let done: i64 = c
                .prepare_cached(LEVEL_SQL)?
                .query_row([blob], |r| r.get(0))?;
            Ok(level_of(done, dests))
        })
    }

    /// Pushes to the store the levels that rose in transactions committed through this handle.
    /// They are worked out again and written while no other transaction can change replicas (in
    /// this process or another), so a raise never lands after a later lowering. Committed
    /// without waiting for the disk: a raise a power cut takes back leaves the store lower than
    /// the truth, which is safe. Returns how many blobs were looked at; on failure they stay
    /// queued.
    pub fn push_raises(&self, store: &Store) -> Result<usize> {
        let _one = lock(&self.inner.pushing);
        let blobs: Vec<i64> = lock(&self.inner.raises).drain().collect();
        if blobs.is_empty() {
            return Ok(0);
        }
        let result = (|| {
            let conn = self.writer()?;
            exec(&conn, "BEGIN IMMEDIATE")?;
            let pushed = (|| {
                let dests = count_destinations(&conn)?;
                let mut stmt = conn.prepare_cached(LEVEL_SQL)?;
                let mut levels = Vec::with_capacity(blobs.len());
                for &b in &blobs {
                    let done: i64 = stmt.query_row([b], |r| r.get(0))?;
                    levels.push((b, level_of(done, dests)));
                }
                drop(stmt);
                store.set_durability_relaxed(&levels)?;
                Ok::<_, StateError>(())
            })();
            let _ = exec(&conn, "ROLLBACK");
            pushed
        })();
        match result {
            Ok(()) => Ok(blobs.len()),
            Err(e) => {
                lock(&self.inner.raises).extend(blobs);
                Err(e.at(&self.inner.path))
            }
        }
    }

    /// Works out every file's level from the replicas and sets the store's where it differs, in
    /// one durable store transaction, while no other transaction can change replicas. Run when
    /// the uplink starts (a crash may have left levels lower than the truth) and after a
    /// destination is added or removed. Returns how many levels changed.
    pub fn recompute_all(&self, store: &Store) -> Result<usize> {
        let _one = lock(&self.inner.pushing);
        let conn = self.writer()?;
        let result = (|| {
            exec(&conn, "BEGIN IMMEDIATE")?;
            let changed = (|| {
                // Every queued raise is covered by this.
                lock(&self.inner.raises).clear();
                let dests = count_destinations(&conn)?;
                // The catalog's blobs and the replicas done, both in blob order, walked side by
                // side: nothing grows with the number of files (a map of every blob's count took
                // about 70 MB at a million files). Versions' holders are few: a map.
                let versions = version_done_dests(&conn)?;
                let mut stmt = conn.prepare(
                    "SELECT blob_id, dest_id FROM replicas INDEXED BY replicas_blob \
                     WHERE blob_id IS NOT NULL AND state = 'done' ORDER BY blob_id",
                )?;
                let mut rows = stmt.query([])?;
                // The first row not yet used, once read (`primed`); `None` at the end.
                let (mut next, mut primed): (Option<(i64, i64)>, bool) = (None, false);
                let mut failed: Option<rusqlite::Error> = None;
                let mut levels = Vec::new();
                let mut holders: Vec<i64> = Vec::new();
                store.walk_blobs(|id, durability| {
                    holders.clear();
                    loop {
                        if !primed {
                            let row = rows
                                .next()
                                .and_then(|r| r.map(|r| Ok((r.get(0)?, r.get(1)?))).transpose());
                            next = match row {
                                Ok(row) => row,
                                Err(e) => {
                                    failed = Some(e);
                                    return ControlFlow::Break(());
                                }
                            };
                            primed = true;
                        }
                        match next {
                            // Replicas of content the catalog no longer has: skipped.
                            Some((b, _)) if b < id => primed = false,
                            Some((b, d)) if b == id => {
                                holders.push(d);
                                primed = false;
                            }
                            _ => break,
                        }
                    }
                    if let Some(v) = versions.get(&id) {
                        holders.extend(v);
                    }
                    holders.sort_unstable();
                    holders.dedup();
                    let level = level_of(holders.len() as i64, dests);
                    if level != durability {
                        levels.push((id, level));
                    }
                    ControlFlow::Continue(())
                })?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
                store.set_durability(&levels)?;
                Ok::<_, StateError>(levels.len())
            })();
            let _ = exec(&conn, "ROLLBACK");
            changed
        })();
        result.map_err(|e| e.at(&self.inner.path))
    }

    // ---- the journal -------------------------------------------------------------------------

    /// The position in the store's journal up to which changes are taken in.
    pub fn cursor(&self) -> Result<i64> {
        self.read(0, cursor_on)
    }

    /// Takes in journal entries read from the store with `changes_after(cursor())`: each becomes
    /// what every destination must hold (a rename is a delete of the old key and an upload under
    /// the new one; a directory rename moves every key below it; a conflicted key stays
    /// conflicted), and the cursor moves to the last one, in the same transaction, so a crash
    /// never loses or repeats a change. Entries at or before the cursor are skipped (another
    /// handle took them in meanwhile). Lowered durability levels reach the store before the
    /// commit; the store's journal may then be trimmed up to [`Applied::cursor`].
    pub fn apply_changes(&self, store: &Store, changes: &[Change]) -> Result<Applied> {
        self.apply_changes_as(store, changes, false)
    }

    /// Like [`UplinkState::apply_changes`], committed without waiting for the disk: a power cut
    /// may take it back (never a crash of the process), together with what followed it up to the
    /// next durable commit. So the store's journal must not be trimmed up to its cursor: only up
    /// to the cursor of a durable intake, which also makes every earlier one durable.
    pub fn apply_changes_relaxed(&self, store: &Store, changes: &[Change]) -> Result<Applied> {
        self.apply_changes_as(store, changes, true)
    }

    fn apply_changes_as(
        &self,
        store: &Store,
        changes: &[Change],
        relaxed: bool,
    ) -> Result<Applied> {
        if changes.is_empty() {
            return Ok(Applied {
                changes: 0,
                cursor: self.cursor()?,
            });
        }
        self.write(Some(store), relaxed, |tx| {
            let cursor = cursor_on(tx.c)?;
            let todo: Vec<&Change> = changes.iter().filter(|c| c.seq > cursor).collect();
            let Some(last) = todo.last().map(|c| c.seq) else {
                return Ok(Applied { changes: 0, cursor });
            };
            apply_on(tx, &todo, None)?;
            set_meta(tx.c, "cursor", Some(&last.to_string()))?;
            Ok(Applied {
                changes: todo.len(),
                cursor: last,
            })
        })
    }

    // ---- destinations ------------------------------------------------------------------------

    /// Every destination, by name.
    pub fn destinations(&self) -> Result<Vec<DestinationRecord>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, name, config, created_ns, state, last_error, last_ok_ns FROM destinations ORDER BY name",
            )?;
            let rows = stmt.query_map([], destination_from)?;
            rows.collect()
        })
    }

    /// Adds destination `name` (configuration `config`, JSON) and queues every file of the store
    /// for it (backfill). The journal is taken in up to the snapshot the backfill reads, in the
    /// same transaction, so that the backfill and later journal entries agree on where every file
    /// stands. Levels drop where the new destination lacks content (before the commit).
    pub fn add_destination(
        &self,
        store: &Store,
        name: &str,
        config: &str,
    ) -> Result<DestinationRecord> {
        self.write_bulk(store, |tx| {
            let c = tx.c;
            let exists: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM destinations WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )?;
            if exists {
                return Err(StateError::DestinationExists {
                    name: name.to_owned(),
                });
            }
            let now = now_ns();
            c.execute(
                "INSERT INTO destinations (name, config, created_ns) VALUES (?1, ?2, ?3)",
                params![name, config, now],
            )?;
            let id = c.last_insert_rowid();
            tx.destinations = None;
            // Backfill from one snapshot of the store.
            let mut failed = None;
            let snapshot = {
                let mut insert = c.prepare_cached(
                    "INSERT OR REPLACE INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
                )?;
                store.walk(|e| {
                    let Some(file) = e.file else {
                        return ControlFlow::Continue(());
                    };
                    let key = format!("{}/{}", e.user, e.path);
                    match insert.execute(params![
                        id,
                        key,
                        file.blob.id,
                        file.blob.size as i64,
                        file.blob.hash.as_slice(),
                        file.created_ns
                    ]) {
                        Ok(_) => ControlFlow::Continue(()),
                        Err(err) => {
                            failed = Some(err);
                            ControlFlow::Break(())
                        }
                    }
                })?
            };
            if let Some(err) = failed {
                return Err(err.into());
            }
            // Versions' content too, one object per user and content (a later snapshot than the
            // files': the journal entries between the two are taken in again later, and taking
            // a version in twice changes nothing).
            {
                let mut note = c.prepare_cached(
                    "INSERT OR IGNORE INTO version_blobs (blob_id, key, copy_from) VALUES (?1, ?2, ?3)",
                )?;
                let mut insert = c.prepare_cached(
                    "INSERT OR IGNORE INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns, copy_from) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7)",
                )?;
                store.walk_versions(|v| {
                    // Moved content lives on at its new path: no object of its own.
                    if v.kind == microcloud_store::versions::Kind::Move {
                        return ControlFlow::Continue(());
                    }
                    let key = version_key(&v.user, &v.blob.hash);
                    let from = format!("{}/{}", v.user, v.path);
                    let r = note
                        .execute(params![v.blob.id, key, from])
                        .and_then(|_| {
                            insert.execute(params![
                                id,
                                key,
                                v.blob.id,
                                v.blob.size as i64,
                                v.blob.hash.as_slice(),
                                v.until_ns,
                                from
                            ])
                        });
                    match r {
                        Ok(_) => ControlFlow::Continue(()),
                        Err(err) => {
                            failed = Some(err);
                            ControlFlow::Break(())
                        }
                    }
                })?;
            }
            if let Some(err) = failed {
                return Err(err.into());
            }
            // The other destinations take in the journal up to the same snapshot (nothing at or
            // before the cursor is trimmed, so every entry up to the snapshot is still there).
            let mut position = cursor_on(c)?;
            while position < snapshot {
                let batch = store.changes_after(position, BATCH)?;
                let todo: Vec<&Change> = batch.iter().filter(|ch| ch.seq <= snapshot).collect();
                let Some(last) = todo.last().map(|ch| ch.seq) else {
                    break;
                };
                apply_on(tx, &todo, Some(id))?;
                position = last;
            }
            set_meta(c, "cursor", Some(&position.max(snapshot).to_string()))?;
            let record = c.query_row(
                "SELECT id, name, config, created_ns, state, last_error, last_ok_ns FROM destinations WHERE id = ?1",
                [id],
                destination_from,
            )?;
            Ok((record, true))
        })
    }

    /// Removes destination `name` and everything tracked for it; `false` when there is none.
    /// Levels are worked out again (content held only there drops before the commit).
    pub fn remove_destination(&self, store: &Store, name: &str) -> Result<bool> {
        self.write_bulk(store, |tx| {
            let id: Option<i64> =
                tx.c.query_row("SELECT id FROM destinations WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            let n =
                tx.c.execute("DELETE FROM destinations WHERE name = ?1", [name])?;
            if let Some(id) = id {
                tx.c.execute("DELETE FROM meta WHERE key = ?1", [status::flow_key(id)])?;
            }
            Ok((n > 0, n > 0))
        })
    }

    /// Records how the uplink's requests to destination `id` flow now (figures for `status` and
    /// `/metrics`). Kept in `meta` (one row per destination, replaced), not in a column: older
    /// builds read this state unchanged, so a rolled-back update still runs. Committed without
    /// waiting for the disk: a power cut loses nothing but a figure.
    pub fn set_destination_flow(&self, id: DestinationId, flow: &status::Flow) -> Result<()> {
        let value = serde_json::to_string(flow).expect("figures serialize");
        self.write(None, true, |tx| {
            tx.c.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?
                .execute(params![status::flow_key(id), value])?;
            Ok(())
        })
    }

    /// Records whether destination `id` answers: `Ok` also records when; the others keep
    /// `error`.
    pub fn set_destination_state(
        &self,
        id: DestinationId,
        state: DestinationState,
        error: Option<&str>,
    ) -> Result<()> {
        self.write(None, false, |tx| {
            if state == DestinationState::Ok {
                tx.c.prepare_cached(
                    "UPDATE destinations SET state = 'ok', last_ok_ns = ?2 WHERE id = ?1",
                )?
                .execute(params![id, now_ns()])?;
            } else {
                tx.c.prepare_cached(
                    "UPDATE destinations SET state = ?2, last_error = ?3 WHERE id = ?1",
                )?
                .execute(params![id, state.as_str(), error])?;
            }
            Ok(())
        })
    }

    // ---- replicas ----------------------------------------------------------------------------

    /// Up to `limit` pending replicas of destination `d` due at `now_ns`, oldest first.
    pub fn due_replicas(
        &self,
        d: DestinationId,
        now_ns: i64,
        limit: usize,
    ) -> Result<Vec<Replica>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REPLICA_COLUMNS} FROM replicas \
                 WHERE dest_id = ?1 AND state = 'pending' AND next_ns <= ?2 ORDER BY dirty_ns LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![d, now_ns, limit as i64], replica_from)?;
            rows.collect()
        })
    }

    /// When the next pending replica of destination `d` that is waiting out a retry delay falls
    /// due (ns since the epoch), if one is waiting after `now_ns`.
    pub fn next_due_ns(&self, d: DestinationId, now_ns: i64) -> Result<Option<i64>> {
        self.read(None, |c| {
            c.prepare_cached(NEXT_DUE)?
                .query_row(params![d, now_ns], |r| r.get(0))
        })
    }

    /// The replica of `key` at destination `d`.
    pub fn replica(&self, d: DestinationId, key: &str) -> Result<Option<Replica>> {
        self.read(None, |c| {
            c.prepare_cached(&format!(
                "SELECT {REPLICA_COLUMNS} FROM replicas WHERE dest_id = ?1 AND key = ?2"
            ))?
            .query_row(params![d, key], replica_from)
            .optional()
        })
    }

    /// Every replica destination `d` holds (done, with content).
    pub fn done_replicas(&self, d: DestinationId) -> Result<Vec<Replica>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REPLICA_COLUMNS} FROM replicas \
                 WHERE dest_id = ?1 AND state = 'done' AND blob_id IS NOT NULL AND hash IS NOT NULL"
            ))?;
            let rows = stmt.query_map([d], replica_from)?;
            rows.collect()
        })
    }

    /// Destinations holding `blob`, with the key it has there (a live key that wants it, or the
    /// version key it shares with other blobs of the same content): those that answer first,
    /// then those being retried, then the rest, most recently answering first.
    pub fn holders(&self, blob: i64) -> Result<Vec<(DestinationRecord, String)>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.id, d.name, d.config, d.created_ns, d.state, d.last_error, d.last_ok_ns, r.key \
                 FROM replicas r JOIN destinations d ON d.id = r.dest_id \
                 WHERE r.state = 'done' AND r.blob_id IS NOT NULL \
                   AND (r.blob_id = ?1 OR r.key = (SELECT key FROM version_blobs WHERE blob_id = ?1)) \
                 ORDER BY CASE d.state WHEN 'ok' THEN 0 WHEN 'retrying' THEN 1 ELSE 2 END, d.last_ok_ns DESC",
            )?;
            let rows = stmt.query_map([blob], |r| Ok((destination_from(r)?, r.get(7)?)))?;
            rows.collect()
        })
    }

    /// Pending version replicas at destination `d` whose content was in live key `key` when the
    /// version was taken (see [`Replica::copy_from`]): to settle before `key` is replaced or
    /// deleted there.
    pub fn pending_copies_from(&self, d: DestinationId, key: &str) -> Result<Vec<Replica>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REPLICA_COLUMNS} FROM replicas {PENDING_COPIES_FROM}"
            ))?;
            let rows = stmt.query_map(params![d, key], replica_from)?;
            rows.collect()
        })
    }

    /// Records that destination `d` already holds each restored version's content under its
    /// version key (a restore from it): the keys are done there, each blob counts them for its
    /// level and read-through, and the raised levels are pushed before this returns.
    pub fn record_restored_versions(
        &self,
        store: &Store,
        d: DestinationId,
        versions: &[RestoredVersion],
    ) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        self.write(Some(store), false, |tx| {
            let now = now_ns();
            for v in versions {
                tx.touch(Some(v.blob))?;
                tx.touch_key(d, &v.key)?;
                tx.c.prepare_cached(
                    "INSERT OR IGNORE INTO version_blobs (blob_id, key, copy_from) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![v.blob, v.key, v.copy_from])?;
                tx.c.prepare_cached(
                    "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns, copy_from) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'done', ?6, ?7) \
                     ON CONFLICT (dest_id, key) DO NOTHING",
                )?
                .execute(params![
                    d,
                    v.key,
                    v.blob,
                    v.size as i64,
                    v.hash.as_slice(),
                    now,
                    v.copy_from
                ])?;
            }
            Ok(())
        })?;
        self.push_raises(store)?;
        Ok(())
    }

    /// Destination `d` now holds `blob` under `key`, as object `etag`. If the key wants other
    /// content meanwhile, only the ETag is kept (for If-Match) and the replica stays pending.
    /// Committed without waiting for the disk (a power cut may take it back: the next upload
    /// finds the object there with our hash); a raised level is queued for
    /// [`UplinkState::push_raises`].
    pub fn mark_done(
        &self,
        store: &Store,
        d: DestinationId,
        key: &str,
        blob: i64,
        etag: &str,
    ) -> Result<()> {
        self.write(Some(store), true, |tx| {
            tx.touch_key(d, key)?;
            tx.touch(Some(blob))?;
            tx.c.prepare_cached(
                "UPDATE replicas SET remote_etag = ?3, \
                     state = CASE WHEN blob_id IS ?4 THEN 'done' ELSE state END, \
                     attempts = CASE WHEN blob_id IS ?4 THEN 0 ELSE attempts END, \
                     last_error = CASE WHEN blob_id IS ?4 THEN NULL ELSE last_error END \
                 WHERE dest_id = ?1 AND key = ?2",
            )?
            .execute(params![d, key, etag, blob])?;
            Ok(())
        })
    }

    /// Destination `d` deleted `key` as asked: the tombstone goes (unless the key wants content
    /// again meanwhile).
    pub fn mark_deleted(&self, d: DestinationId, key: &str) -> Result<()> {
        self.write(None, false, |tx| {
            tx.c.prepare_cached(
                "DELETE FROM replicas WHERE dest_id = ?1 AND key = ?2 AND blob_id IS NULL AND state = 'pending'",
            )?
            .execute(params![d, key])?;
            Ok(())
        })
    }

    /// Notes `error` on the pending replica of `key` at `d` while it still wants `blob`; with
    /// `retry_at` (ns since the epoch) it also counts an attempt and waits until then, without
    /// it the replica stays due.
    pub fn record_error(
        &self,
        d: DestinationId,
        key: &str,
        blob: Option<i64>,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        self.write(None, false, |tx| {
            tx.c.prepare_cached(
                "UPDATE replicas SET last_error = ?3, attempts = attempts + ?4, next_ns = ?5 \
                 WHERE dest_id = ?1 AND key = ?2 AND blob_id IS ?6 AND state = 'pending'",
            )?
            .execute(params![
                d,
                key,
                error,
                i64::from(retry_at.is_some()),
                retry_at.unwrap_or(0),
                blob
            ])?;
            Ok(())
        })
    }

    /// Records conflicts at destination `d` (objects someone else changed there) with the reason
    /// shown to people: the replicas stay in conflict (never overwritten) until a person decides.
    pub fn record_conflicts(
        &self,
        store: &Store,
        d: DestinationId,
        conflicts: &[NewConflict],
        reason: &str,
    ) -> Result<()> {
        self.record_scrub(store, d, &[], conflicts, reason)
    }

    /// Records what a scrub of destination `d` found: `repairs` go back to pending (to be
    /// uploaded again), `conflicts` are recorded with `reason`. Levels drop before the commit.
    pub fn record_scrub(
        &self,
        store: &Store,
        d: DestinationId,
        repairs: &[Repair],
        conflicts: &[NewConflict],
        reason: &str,
    ) -> Result<()> {
        if repairs.is_empty() && conflicts.is_empty() {
            return Ok(());
        }
        self.write(Some(store), false, |tx| {
            let now = now_ns();
            for r in repairs {
                tx.touch_key(d, &r.key)?;
                tx.c.prepare_cached(
                    "UPDATE replicas SET state = 'pending', remote_etag = ?3, dirty_ns = ?4, attempts = 0, next_ns = 0 \
                     WHERE dest_id = ?1 AND key = ?2 AND state = 'done'",
                )?
                .execute(params![d, r.key, r.remote_etag, now])?;
            }
            for k in conflicts {
                tx.touch_key(d, &k.key)?;
                tx.c.prepare_cached(
                    "INSERT INTO conflicts (dest_id, key, remote_etag, local_hash, detected_ns) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (dest_id, key) DO UPDATE SET remote_etag = excluded.remote_etag, \
                         local_hash = excluded.local_hash, detected_ns = excluded.detected_ns",
                )?
                .execute(params![d, k.key, k.remote_etag, k.local_hash.map(|h| h.to_vec()), now])?;
                tx.c.prepare_cached(
                    "UPDATE replicas SET state = 'conflict', last_error = ?3 WHERE dest_id = ?1 AND key = ?2",
                )?
                .execute(params![d, k.key, reason])?;
            }
            Ok(())
        })
    }

    /// Records that destination `d` already holds each `(key, etag)` (a restore from it): those
    /// replicas are done, and the raised levels are pushed before this returns.
    pub fn mark_restored(
        &self,
        store: &Store,
        d: DestinationId,
        present: &[(String, Option<String>)],
    ) -> Result<()> {
        // Marks of done only raise levels: nothing is to be lowered before the commit, and every
        // level is worked out once afterwards, in one walk beside the replicas. (A look at each
        // blob's level before and after the marks took most of a restore's marking time: 4.6 s
        // of 100,000 files.)
        self.write(None, false, |tx| {
            for (key, etag) in present {
                tx.c.prepare_cached(
                    "UPDATE replicas SET state = 'done', remote_etag = ?3 WHERE dest_id = ?1 AND key = ?2",
                )?
                .execute(params![d, key, etag])?;
            }
            Ok(())
        })?;
        self.recompute_all(store)?;
        Ok(())
    }

    /// Forgets every upload record: each replica pending again, with no remembered ETag, due at
    /// once (the uplink then finds by HEAD what is already there and marks it again). For
    /// recovery and for tests that make lost records. Levels drop before the commit. Returns how
    /// many replicas there are.
    pub fn reset_replicas(&self, store: &Store) -> Result<usize> {
        self.write(Some(store), false, |tx| {
            let blobs: Vec<i64> = {
                let mut stmt = tx
                    .c
                    .prepare("SELECT DISTINCT blob_id FROM replicas WHERE blob_id IS NOT NULL")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for b in blobs {
                tx.touch(Some(b))?;
            }
            Ok(tx.c.execute(
                "UPDATE replicas SET state = 'pending', remote_etag = NULL, next_ns = 0",
                [],
            )?)
        })
    }

    // ---- multipart uploads -------------------------------------------------------------------

    /// The recorded multipart upload of `key` at `d`.
    pub fn multipart(&self, d: DestinationId, key: &str) -> Result<Option<MultipartUpload>> {
        self.read(None, |c| {
            c.prepare_cached(
                "SELECT dest_id, key, blob_id, upload_id, part_size, created_ns FROM multipart WHERE dest_id = ?1 AND key = ?2",
            )?
            .query_row(params![d, key], multipart_from)
            .optional()
        })
    }

    /// Every recorded multipart upload, of every destination.
    pub fn multipart_uploads(&self) -> Result<Vec<MultipartUpload>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT dest_id, key, blob_id, upload_id, part_size, created_ns FROM multipart ORDER BY dest_id, key",
            )?;
            let rows = stmt.query_map([], multipart_from)?;
            rows.collect()
        })
    }

    /// Records a multipart upload just created at `d` (replacing an older record of `key`, and
    /// its parts).
    pub fn begin_multipart(
        &self,
        d: DestinationId,
        key: &str,
        blob: i64,
        upload_id: &str,
        part_size: u64,
    ) -> Result<()> {
        self.write(None, false, |tx| {
            tx.c.prepare_cached(
                "INSERT OR REPLACE INTO multipart (dest_id, key, blob_id, upload_id, part_size, created_ns) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![d, key, blob, upload_id, part_size as i64, now_ns()])?;
            Ok(())
        })
    }

    /// Records a finished part of the multipart upload of `key` at `d`.
    pub fn record_part(&self, d: DestinationId, key: &str, part: u16, etag: &str) -> Result<()> {
        self.write(None, false, |tx| {
            tx.c.prepare_cached(
                "INSERT OR REPLACE INTO multipart_parts (dest_id, key, part_number, etag) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![d, key, i64::from(part), etag])?;
            Ok(())
        })
    }

    /// The finished parts of the multipart upload of `key` at `d`, by number.
    pub fn parts(&self, d: DestinationId, key: &str) -> Result<Vec<(u16, String)>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT part_number, etag FROM multipart_parts WHERE dest_id = ?1 AND key = ?2 ORDER BY part_number",
            )?;
            let rows = stmt.query_map(params![d, key], |r| {
                Ok((r.get::<_, i64>(0)?.clamp(0, u16::MAX as i64) as u16, r.get(1)?))
            })?;
            rows.collect()
        })
    }

    /// Forgets the multipart upload of `key` at `d` and its parts (completed or aborted).
    pub fn forget_multipart(&self, d: DestinationId, key: &str) -> Result<()> {
        self.write(None, false, |tx| {
            tx.c.prepare_cached("DELETE FROM multipart_parts WHERE dest_id = ?1 AND key = ?2")?
                .execute(params![d, key])?;
            tx.c.prepare_cached("DELETE FROM multipart WHERE dest_id = ?1 AND key = ?2")?
                .execute(params![d, key])?;
            Ok(())
        })
    }

    // ---- reports -----------------------------------------------------------------------------

    /// Keys in conflict, by destination and key.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.name, k.key, k.remote_etag, k.detected_ns FROM conflicts k \
                 JOIN destinations d ON d.id = k.dest_id ORDER BY d.name, k.key",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Conflict {
                    destination: r.get(0)?,
                    key: r.get(1)?,
                    remote_etag: r.get(2)?,
                    detected_ns: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// What waits, over every destination.
    pub fn pending(&self) -> Result<Pending> {
        self.read(Pending::default(), |c| {
            let q = |sql: &str| -> rusqlite::Result<u64> {
                Ok(c.prepare_cached(sql)?
                    .query_row([], |r| r.get::<_, i64>(0))?
                    .max(0) as u64)
            };
            // By destination, so that the queue's index (destination, state, age) is used: a
            // state alone is a scan of every replica, about a second each at a million files,
            // and `flush` asks for these several times.
            Ok(Pending {
                files: q("SELECT count(*) FROM replicas \
                          WHERE dest_id IN (SELECT id FROM destinations) AND state = 'pending'")?,
                bytes: q("SELECT COALESCE(sum(size), 0) FROM replicas \
                          WHERE dest_id IN (SELECT id FROM destinations) AND state = 'pending'")?,
                conflicts: q("SELECT count(*) FROM replicas \
                              WHERE dest_id IN (SELECT id FROM destinations) AND state = 'conflict'")?,
                destinations: q("SELECT count(*) FROM destinations")?,
            })
        })
    }

    // ---- the bandwidth schedule --------------------------------------------------------------

    /// The stored bandwidth schedule (see `microcloud bwlimit`), unparsed.
    pub fn bandwidth_schedule(&self) -> Result<Option<String>> {
        self.read(None, |c| {
            c.prepare_cached("SELECT value FROM meta WHERE key = 'bwlimit'")?
                .query_row([], |r| r.get(0))
                .optional()
        })
    }

    /// Stores (or with `None`, removes) the bandwidth schedule.
    pub fn set_bandwidth_schedule(&self, schedule: Option<&str>) -> Result<()> {
        self.write(None, false, |tx| Ok(set_meta(tx.c, "bwlimit", schedule)?))
    }

    /// The highest position of the manifest's change notes ever handed out (0: none yet).
    pub fn touched_top(&self) -> Result<i64> {
        self.read(0, |c| {
            c.prepare_cached(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'manifest_touched'), 0)",
            )?
            .query_row([], |r| r.get(0))
        })
    }

    /// How many change notes lie after position `seq` (up to `top`).
    pub fn touched_count(&self, seq: i64, top: i64) -> Result<u64> {
        self.read(0, |c| {
            c.prepare_cached("SELECT count(*) FROM manifest_touched WHERE seq > ?1 AND seq <= ?2")?
                .query_row([seq, top], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
    }

    /// Every key noted after position `seq` up to `top`, once, with whether everything under it
    /// is meant too.
    pub fn touched(&self, seq: i64, top: i64) -> Result<Vec<Touched>> {
        self.read(Vec::new(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, max(below) FROM manifest_touched WHERE seq > ?1 AND seq <= ?2 GROUP BY key",
            )?;
            let rows = stmt.query_map([seq, top], |r| {
                Ok(Touched {
                    key: r.get(0)?,
                    below: r.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Forgets the change notes up to position `seq` (every manifest written since covers them).
    pub fn trim_touched(&self, seq: i64) -> Result<()> {
        self.write(None, true, |tx| {
            tx.c.prepare_cached("DELETE FROM manifest_touched WHERE seq <= ?1")?
                .execute([seq])?;
            Ok(())
        })
    }

    /// The live keys whose content the blobs sharing version key `key` were (each blob's path
    /// when it became a version).
    pub fn version_sources(&self, key: &str) -> Result<Vec<String>> {
        self.read(Vec::new(), |c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT copy_from FROM version_blobs WHERE key = ?1")?;
            let rows = stmt.query_map([key], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// What destination `d`'s last whole manifest was, if one was recorded.
    pub fn manifest_mark(&self, d: DestinationId) -> Result<Option<ManifestMark>> {
        let raw: Option<String> = self.read(None, |c| {
            c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([format!("manifest:{d}")], |r| r.get(0))
                .optional()
        })?;
        Ok(raw.and_then(|v| ManifestMark::parse(&v)))
    }

    /// Records (or with `None`, forgets) destination `d`'s last whole manifest.
    pub fn set_manifest_mark(&self, d: DestinationId, mark: Option<&ManifestMark>) -> Result<()> {
        let value = mark.map(ManifestMark::to_value);
        self.write(None, false, |tx| {
            Ok(set_meta(tx.c, &format!("manifest:{d}"), value.as_deref())?)
        })
    }
}

/// A key whose manifest entries may have changed (see [`UplinkState::touched`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// `<user>/<path>` (a file, a directory, or a version's path), or a version key.
    pub key: String,
    /// Everything under the path too (a directory moved or removed).
    pub below: bool,
}

/// A destination's last whole manifest: what the deltas written after it refer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestMark {
    /// The manifest's generation (a random name it carries; deltas name it).
    pub generation: String,
    /// BLAKE3 of its bytes, hex (the object's hash metadata: tells it is still the one there).
    pub hash: String,
    /// The change-note position read before it was built: it covers every note up to there.
    pub seq: i64,
    /// When it was written, ns since the epoch.
    pub written_ns: i64,
    /// Files, directories and versions it lists.
    pub entries: u64,
}

impl ManifestMark {
    fn to_value(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.generation, self.hash, self.seq, self.written_ns, self.entries
        )
    }

    fn parse(v: &str) -> Option<ManifestMark> {
        let mut it = v.split(' ');
        let mark = ManifestMark {
            generation: it.next()?.to_owned(),
            hash: it.next()?.to_owned(),
            seq: it.next()?.parse().ok()?,
            written_ns: it.next()?.parse().ok()?,
            entries: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(mark)
    }
}

/// Notes that the manifest entries of `key` (and with `below`, of everything under it) may have
/// changed.
fn note_touched(c: &Connection, key: &str, below: bool) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT INTO manifest_touched (key, below) VALUES (?1, ?2)")?
        .execute(params![key, below])?;
    Ok(())
}

fn multipart_from(r: &Row) -> rusqlite::Result<MultipartUpload> {
    Ok(MultipartUpload {
        destination: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        upload_id: r.get(3)?,
        part_size: r.get::<_, i64>(4)?.max(0) as u64,
        created_ns: r.get(5)?,
    })
}

/// Journal entries taken in per transaction by the uplink (bounds how long one commit takes).
pub const BATCH: usize = 2000;

/// Takes journal entries in for every destination but `except`, inside the caller's transaction.
fn apply_on(tx: &mut Tx, changes: &[&Change], except: Option<DestinationId>) -> Result<()> {
    let dests: Vec<DestinationId> = {
        let mut stmt = tx.c.prepare_cached("SELECT id FROM destinations")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<Vec<DestinationId>>>()?
            .into_iter()
            .filter(|d| Some(*d) != except)
            .collect()
    };
    let now = now_ns();
    for ch in changes {
        let key = |p: &str| format!("{}/{p}", ch.user);
        // Whatever the change, the manifest's entries of its paths follow (a directory's moved or
        // removed tree too); a dropped version's path is noted by `drop_version`.
        if ch.kind != ChangeKind::Unversion {
            note_touched(tx.c, &key(&ch.path), ch.is_dir)?;
            if let Some(to) = &ch.to_path {
                note_touched(tx.c, &key(to), ch.is_dir)?;
            }
        }
        // Versions are bookkept even with no destination (a later one is backfilled from the
        // store itself, but `version_blobs` must stay true for the others).
        match ch.kind {
            ChangeKind::Version => {
                // A blob gone before it was taken in was expired meanwhile: its `unversion`
                // follows.
                if let Some(b) = ch.blob {
                    keep_version(tx, &dests, &ch.user, b, &key(&ch.path), now)?;
                }
                continue;
            }
            ChangeKind::Unversion => {
                if let Some(b) = ch.blob {
                    drop_version(tx, &dests, &ch.user, b, now)?;
                }
                continue;
            }
            _ => {}
        }
        for &d in &dests {
            match (ch.kind, ch.is_dir) {
                (ChangeKind::Put, _) => {
                    if let Some(b) = ch.blob {
                        want(tx, d, &key(&ch.path), b.id, b.size, Some(b.hash), now)?;
                    }
                }
                (ChangeKind::Delete, _) => tombstone(tx, d, &key(&ch.path), now)?,
                (ChangeKind::Rename, false) => {
                    tombstone(tx, d, &key(&ch.path), now)?;
                    if let (Some(to), Some(b)) = (&ch.to_path, ch.blob) {
                        want(tx, d, &key(to), b.id, b.size, Some(b.hash), now)?;
                    }
                }
                (ChangeKind::Rename, true) => {
                    let Some(to) = &ch.to_path else { continue };
                    let (from_prefix, to_prefix) =
                        (format!("{}/", key(&ch.path)), format!("{}/", key(to)));
                    let moved: Vec<(String, i64, u64, Option<[u8; 32]>)> = {
                        let mut stmt = tx.c.prepare_cached(
                            "SELECT key, blob_id, size, hash FROM replicas WHERE dest_id = ?1 AND blob_id IS NOT NULL \
                             AND substr(key, 1, length(?2)) = ?2",
                        )?;
                        let rows = stmt.query_map(params![d, from_prefix], |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get::<_, i64>(2)?.max(0) as u64,
                                hash32(r.get(3)?),
                            ))
                        })?;
                        rows.collect::<rusqlite::Result<_>>()?
                    };
                    for (old, blob, size, hash) in moved {
                        tombstone(tx, d, &old, now)?;
                        let new = format!("{to_prefix}{}", &old[from_prefix.len()..]);
                        want(tx, d, &new, blob, size, hash, now)?;
                    }
                }
                _ => {} // directories do not exist in object storage
            }
        }
    }
    Ok(())
}

/// A version of `user` keeps content `b`, which live key `from` held: every destination must hold
/// it under its version key. When the key already holds or wants that content (another blob of
/// the same user and content), nothing is uploaded again: the blob only joins the key.
fn keep_version(
    tx: &mut Tx,
    dests: &[DestinationId],
    user: &str,
    b: microcloud_store::BlobRef,
    from: &str,
    now: i64,
) -> Result<()> {
    let vkey = version_key(user, &b.hash);
    // Its level before: joining the key may raise it.
    tx.touch(Some(b.id))?;
    tx.c.prepare_cached(
        "INSERT INTO version_blobs (blob_id, key, copy_from) VALUES (?1, ?2, ?3) \
         ON CONFLICT (blob_id) DO UPDATE SET key = excluded.key, copy_from = excluded.copy_from",
    )?
    .execute(params![b.id, vkey, from])?;
    for &d in dests {
        let held: Option<(Option<i64>, Option<Vec<u8>>)> = tx
            .c
            .prepare_cached("SELECT blob_id, hash FROM replicas WHERE dest_id = ?1 AND key = ?2")?
            .query_row(params![d, vkey], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match held {
            Some((Some(_), Some(h))) if h.as_slice() == b.hash.as_slice() => {}
            _ => {
                want(tx, d, &vkey, b.id, b.size, Some(b.hash), now)?;
                tx.c.prepare_cached(
                    "UPDATE replicas SET copy_from = ?3 WHERE dest_id = ?1 AND key = ?2",
                )?
                .execute(params![d, vkey, from])?;
            }
        }
    }
    Ok(())
}

/// No version of `user` needs blob `b` any more. Its version key goes only when no other blob of
/// the same content still needs it; otherwise a replica that named `b` names one of those.
fn drop_version(
    tx: &mut Tx,
    dests: &[DestinationId],
    user: &str,
    b: microcloud_store::BlobRef,
    now: i64,
) -> Result<()> {
    let vkey = version_key(user, &b.hash);
    tx.touch(Some(b.id))?;
    for &d in dests {
        tx.touch_key(d, &vkey)?;
    }
    let from: Option<String> =
        tx.c.prepare_cached("SELECT copy_from FROM version_blobs WHERE blob_id = ?1")?
            .query_row([b.id], |r| r.get(0))
            .optional()?;
    if let Some(from) = from {
        note_touched(tx.c, &from, false)?;
    }
    tx.c.prepare_cached("DELETE FROM version_blobs WHERE blob_id = ?1")?
        .execute([b.id])?;
    let other: Option<(i64, String)> =
        tx.c.prepare_cached("SELECT blob_id, copy_from FROM version_blobs WHERE key = ?1 LIMIT 1")?
            .query_row([&vkey], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
    for &d in dests {
        match &other {
            None => tombstone(tx, d, &vkey, now)?,
            Some((blob, from)) => {
                tx.c.prepare_cached(
                    "UPDATE replicas SET blob_id = ?3, copy_from = ?4 WHERE dest_id = ?1 AND key = ?2 AND blob_id = ?5",
                )?
                .execute(params![d, vkey, blob, from, b.id])?;
            }
        }
    }
    Ok(())
}

/// Destination `d` must hold `blob` under `key`. A conflicted key stays conflicted: the object
/// someone else put there is not to be overwritten until a person decides.
fn want(
    tx: &mut Tx,
    d: DestinationId,
    key: &str,
    blob: i64,
    size: u64,
    hash: Option<[u8; 32]>,
    now: i64,
) -> Result<()> {
    tx.touch_key(d, key)?;
    tx.touch(Some(blob))?;
    tx.c.prepare_cached(
        "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) \
         ON CONFLICT (dest_id, key) DO UPDATE SET blob_id = excluded.blob_id, size = excluded.size, hash = excluded.hash, \
             state = CASE WHEN replicas.state = 'conflict' THEN 'conflict' ELSE 'pending' END, \
             dirty_ns = CASE WHEN replicas.state = 'pending' THEN replicas.dirty_ns ELSE excluded.dirty_ns END, \
             attempts = 0, next_ns = 0, last_error = NULL",
    )?
    .execute(params![d, key, blob, size as i64, hash.map(|h| h.to_vec()), now])?;
    Ok(())
}

/// Destination `d` must no longer hold `key`.
fn tombstone(tx: &mut Tx, d: DestinationId, key: &str, now: i64) -> Result<()> {
    tx.touch_key(d, key)?;
    tx.c.prepare_cached(
        "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns) VALUES (?1, ?2, NULL, 0, NULL, 'pending', ?3) \
         ON CONFLICT (dest_id, key) DO UPDATE SET blob_id = NULL, size = 0, hash = NULL, \
             state = CASE WHEN replicas.state = 'conflict' THEN 'conflict' ELSE 'pending' END, \
             dirty_ns = CASE WHEN replicas.state = 'pending' THEN replicas.dirty_ns ELSE excluded.dirty_ns END, \
             attempts = 0, next_ns = 0, last_error = NULL",
    )?
    .execute(params![d, key, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_count_of_destinations_holding_the_content() {
        assert_eq!(level_of(0, 0), Durability::Local);
        assert_eq!(level_of(0, 2), Durability::Local);
        assert_eq!(level_of(1, 2), Durability::CloudOne);
        assert_eq!(level_of(2, 2), Durability::CloudAll);
        assert_eq!(level_of(1, 1), Durability::CloudAll);
        assert_eq!(
            ReplicaState::parse(ReplicaState::Done.as_str()),
            ReplicaState::Done
        );
    }

    /// The queries run per file or per idle moment search an index, never a destination's every
    /// replica (SQLite's choice without the INDEXED BY, which cost a third of the uplink's CPU).
    #[test]
    fn per_file_queries_search_an_index() {
        let tmp = tempfile::tempdir().unwrap();
        let state = UplinkState::open(tmp.path()).unwrap();
        let c = state.inner.writer.as_ref().unwrap().lock().unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = c
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let rows = stmt.query_map(params![1, "a"], |r| r.get::<_, String>(3));
            rows.unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let copies = plan(&format!("SELECT * FROM replicas {PENDING_COPIES_FROM}"));
        assert_eq!(
            copies,
            "SEARCH replicas USING INDEX replicas_copy_from (dest_id=? AND copy_from=?)"
        );
        let next = plan(NEXT_DUE);
        assert_eq!(
            next,
            "SEARCH replicas USING INDEX replicas_queue (dest_id=? AND state=?)"
        );
    }

    /// The watch moves with every commit, its own process's writer included, and only then.
    #[test]
    fn a_change_watch_moves_exactly_when_the_state_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        let watch = UplinkState::open_read_only(tmp.path())
            .unwrap()
            .change_watch();
        assert_eq!(watch.version().unwrap(), None, "no state yet");
        let state = UplinkState::open(tmp.path()).unwrap();
        let first = watch
            .version()
            .unwrap()
            .expect("a version once the state exists");
        assert_eq!(watch.version().unwrap(), Some(first), "nothing written");
        state.set_bandwidth_schedule(Some("08:00,512k")).unwrap();
        let second = watch.version().unwrap().unwrap();
        assert_ne!(second, first, "a commit moves it");
        assert_eq!(watch.version().unwrap(), Some(second));
        // Reads, by this process or another connection, leave it.
        let _ = state.status().unwrap();
        let _ = UplinkState::open_read_only(tmp.path())
            .unwrap()
            .status()
            .unwrap();
        assert_eq!(watch.version().unwrap(), Some(second));
    }
}
