//! The crash-safe local store of microcloud: file content as blob files on disk, and the namespace,
//! users, hashes and durability levels in a SQLite catalog (WAL, `synchronous = FULL`).
//!
//! The LAN service writes through [`Upload`]: bytes are hashed with BLAKE3 while they arrive,
//! written to a staging file, fsync'd, moved into `blobs/`, and only then does one catalog
//! transaction make the file visible under its name. A crash at any point leaves either the old
//! file or the new one, never a mix; leftovers in `staging/` and unreferenced blobs are removed at
//! the next start, in the background, so that a restart serves at once. Later stages (the uplink)
//! see the catalog only through the typed operations of [`downstream`]: the change journal,
//! durability levels, a walk of the namespace, blob facts and restore. Read-through is asked of
//! the uplink through a [`Fetcher`].
//! The catalog's database engine is not part of this crate's interface.

mod cache;
mod clock;
mod datadir;
mod devices;
pub mod downstream;
mod error;
mod gc;
mod guard;
pub mod handoff;
mod history;
mod journal;
pub mod namespace;
mod paths;
mod schema;
mod stats;
mod upload;
mod users;
pub mod versions;
pub mod workspace;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use microcloud_constants as constants;
use rusqlite::{params, OpenFlags};

pub(crate) use cache::{default_limit, read_limit};
pub use cache::{Content, FetchStream, Fetcher, ReadSource};
pub(crate) use datadir::{create_dir, create_file, open_new};
pub use datadir::{create_dir_all, prepare_data_dir, write_file_durably, Modes};
pub use devices::{check_device_name, Device, DeviceId, DeviceSecret};
pub use downstream::{
    BlobInfo, BlobRef, CatalogReader, Change, ChangeKind, Entry, FileFacts, RestoreDir,
    RestoreFile, RestorePlan, RestoreUser,
};
pub use error::{Result, SqlError, StoreError};
pub use guard::GuardTrip;
pub use handoff::{Entry as InboxEntry, Inbox, Mode as HandoffMode, Sending, State as InboxState};
use rusqlite::Connection;
pub use schema::switch_to_wal;
pub(crate) use stats::stats_on;
pub use stats::Stats;
pub use upload::{Refill, Upload, UploadOptions};
pub use users::{check_user_name, User};
pub use versions::{Expired, Policy, RollbackReport, Version, VersionSpace};
pub use workspace::{Event, EventPage, Workspace};
use writer::Writer;

/// A user's id in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// How far a file's content has travelled: only on the box, at one destination, or at all. Ordered
/// from the least safe to the safest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Durability {
    /// Only on the box's local storage.
    #[serde(rename = "local")]
    Local,
    /// Safe at one cloud destination at least.
    #[serde(rename = "cloud:1")]
    CloudOne,
    /// Safe at every configured cloud destination.
    #[serde(rename = "cloud:all")]
    CloudAll,
}

impl Durability {
    /// The level's name as shown to people and stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Local => "local",
            Durability::CloudOne => "cloud:1",
            Durability::CloudAll => "cloud:all",
        }
    }

    fn parse(s: &str) -> Durability {
        match s {
            "cloud:1" => Durability::CloudOne,
            "cloud:all" => Durability::CloudAll,
            _ => Durability::Local,
        }
    }
}

/// A file or directory of a user's namespace.
#[derive(Debug, Clone)]
pub struct Node {
    /// Catalog id (stable across renames).
    pub id: i64,
    /// Last path component ("" for a user's root).
    pub name: String,
    /// Directory or file.
    pub is_dir: bool,
    /// Content size in bytes (0 for directories).
    pub size: u64,
    /// The blob holding a file's content.
    pub blob_id: Option<i64>,
    /// BLAKE3 hash of a file's content.
    pub hash: Option<[u8; 32]>,
    /// Durability of a file's content.
    pub durability: Durability,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Creation time, nanoseconds since the epoch.
    pub ctime_ns: i64,
}

impl Node {
    /// Modification time.
    pub fn mtime(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.mtime_ns.max(0) as u64)
    }
    /// Creation time.
    pub fn ctime(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.ctime_ns.max(0) as u64)
    }
    /// The content hash as lowercase hex.
    pub fn hash_hex(&self) -> Option<String> {
        self.hash
            .map(|h| blake3::Hash::from_bytes(h).to_hex().to_string())
    }
}

/// A WebDAV dead property stored on a node.
#[derive(Debug, Clone)]
pub struct Prop {
    /// XML namespace ("" for none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Prefix the client used, kept for faithful replay.
    pub prefix: Option<String>,
    /// The whole property element as XML.
    pub xml: Option<Vec<u8>>,
}

/// Options for [`Store::open`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Create the data directory and catalog when missing.
    pub create: bool,
    /// Override the stored cache bound (bytes) and remember the new value.
    pub cache_limit: Option<u64>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    /// The modes of what the store creates in `dir` (see [`Modes`]).
    modes: Modes,
    catalog: PathBuf,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
    /// Committed local bytes plus bytes reserved by uploads in progress.
    used: AtomicU64,
    /// Bytes that may not be evicted (dirty), plus reservations.
    dirty: AtomicU64,
    /// Bytes reserved by uploads not yet committed (part of `used` and `dirty`).
    inflight: AtomicU64,
    limit: AtomicU64,
    /// Signalled after every catalog commit, so downstream stages react at once.
    changed: Arc<tokio::sync::Notify>,
    /// Brings evicted content back (installed by the uplink).
    fetcher: std::sync::RwLock<Option<Arc<dyn Fetcher>>>,
    /// Reads served from local storage, and reads that had to fetch evicted content first.
    read_hits: AtomicU64,
    read_misses: AtomicU64,
    /// Writes slowed down because the dirty cache neared its bound, and their total pause.
    throttled_writes: AtomicU64,
    throttled_ns: AtomicU64,
    started: SystemTime,
    /// The ransomware guard's windows.
    guard: guard::Guard,
    /// The newest event id (see `workspace`): event streams wait on it.
    events: tokio::sync::watch::Sender<i64>,
}

/// Handle to an open store; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Opens (or with `create`, creates) the store in data directory `dir`.
    pub fn open(dir: &Path, opts: OpenOptions) -> Result<Store> {
        schema::init_sqlite();
        let catalog = dir.join(constants::CATALOG_FILE);
        if !catalog.exists() && !opts.create {
            return Err(StoreError::NoCatalog {
                path: dir.to_owned(),
            });
        }
        let modes = prepare_data_dir(dir).map_err(|e| StoreError::io(dir, e))?;
        for sub in [
            dir.join(constants::BLOBS_DIR),
            dir.join(constants::STAGING_DIR),
        ] {
            create_dir(&sub, modes.dir).map_err(|e| StoreError::io(&sub, e))?;
        }
        // SQLite would create the catalog 0644 less the umask, which on the appliance kept the
        // other agent's user out (and off it lets anyone read it): made here with the store's
        // file mode, set explicitly. SQLite gives its -wal and -shm files the same mode.
        if !catalog.exists() {
            create_file(&catalog, modes.file).map_err(|e| StoreError::io(&catalog, e))?;
        }
        let mut conn = Connection::open(&catalog)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn, &catalog)?;
        if let Some(limit) = opts.cache_limit {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('cache_limit', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [limit.to_string()],
            )?;
        }
        let limit = read_limit(&conn)?.unwrap_or_else(|| default_limit(dir));
        let (bytes, dirty): (i64, i64) =
            conn.query_row("SELECT blob_bytes, dirty_bytes FROM stats", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let last_event: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
        let changed = Arc::new(tokio::sync::Notify::new());
        let inner = Inner {
            dir: dir.to_owned(),
            modes,
            catalog,
            writer: Writer::start(conn, changed.clone()),
            changed,
            fetcher: std::sync::RwLock::new(None),
            readers: Mutex::new(Vec::new()),
            used: AtomicU64::new(bytes.max(0) as u64),
            dirty: AtomicU64::new(dirty.max(0) as u64),
            inflight: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
            read_hits: AtomicU64::new(0),
            read_misses: AtomicU64::new(0),
            throttled_writes: AtomicU64::new(0),
            throttled_ns: AtomicU64::new(0),
            started: SystemTime::now(),
            guard: guard::Guard::default(),
            events: tokio::sync::watch::Sender::new(last_event),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The modes the store gives the files and directories it creates in the data directory.
    pub fn modes(&self) -> Modes {
        self.inner.modes
    }

    /// Runs `f` on a pooled read-only connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.inner.readers.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.catalog,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                schema::configure(&c)?;
                c
            }
        };
        let r = f(&conn);
        self.inner.readers.lock().unwrap().push(conn);
        r
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    /// Path of a committed blob's file.
    pub fn blob_path(&self, blob: i64) -> PathBuf {
        blob_path(&self.inner.dir, blob)
    }

    /// Signalled after every catalog commit (a permit is kept when nobody waits).
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.inner.changed.clone()
    }

    /// A read-only view of the catalog in `dir`, for reports while the agents run.
    pub fn open_read_only(dir: &Path) -> Result<CatalogReader> {
        CatalogReader::open(dir)
    }

    /// The node at `path` in `user`'s space.
    pub fn lookup(&self, user: UserId, path: &str) -> Result<Node> {
        self.read(|c| namespace::lookup(c, user, path))
    }

    /// The entries of the directory at `path`, by name.
    pub fn list(&self, user: UserId, path: &str) -> Result<Vec<Node>> {
        self.read(|c| {
            let dir = namespace::lookup(c, user, path)?;
            if !dir.is_dir {
                return Err(StoreError::NotDir {
                    path: path.to_owned(),
                });
            }
            namespace::children(c, dir.id)
        })
    }

    /// One page of the directory at `path` (see [`namespace::ListQuery`]) and how many entries
    /// match in all: a tablet shows the first rows of a huge folder without reading it whole.
    pub fn list_page(
        &self,
        user: UserId,
        path: &str,
        q: &namespace::ListQuery,
    ) -> Result<(u64, Vec<Node>)> {
        self.read(|c| {
            let dir = namespace::lookup(c, user, path)?;
            if !dir.is_dir {
                return Err(StoreError::NotDir {
                    path: path.to_owned(),
                });
            }
            namespace::children_page(c, dir.id, q)
        })
    }

    /// Creates a directory; its parent must exist.
    pub async fn mkdir(&self, user: UserId, path: &str) -> Result<()> {
        let path = path.to_owned();
        self.inner
            .writer
            .write(vec![], move |c| namespace::mkdir(c, user, &path, now_ns()))
            .await
    }

    /// Removes a file (kept as a version), or with `dir` an empty directory.
    pub async fn remove(&self, user: UserId, path: &str, dir: bool) -> Result<()> {
        let path = path.to_owned();
        self.change(user, move |c, fx| {
            namespace::remove(c, user, &path, dir, now_ns(), fx)
        })
        .await
    }

    /// Moves a file or directory; an existing file at `to` is replaced (kept as a version).
    pub async fn rename(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.change(user, move |c, fx| {
            namespace::rename(c, user, &from, &to, now_ns(), fx)
        })
        .await
    }

    /// Copies a file, sharing its content; an existing file at `to` is replaced (kept as a
    /// version).
    pub async fn copy_file(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.change(user, move |c, fx| {
            namespace::copy_file(c, user, &from, &to, now_ns(), fx)
        })
        .await
    }

    /// Runs one namespace change of `user` in a durable transaction, then unlinks the blobs it
    /// freed and counts what it touched for the ransomware guard.
    async fn change(
        &self,
        user: UserId,
        f: impl FnOnce(&Connection, &mut namespace::Effects) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let started = now_ns();
        let fx = self
            .inner
            .writer
            .write(vec![], move |c| {
                let mut fx = namespace::Effects::default();
                f(c, &mut fx)?;
                Ok(fx)
            })
            .await?;
        self.unlink_blobs(fx.freed);
        self.guard_note(user, None, fx.touched, fx.suspicious, started)
            .await;
        Ok(())
    }

    /// Sets a node's modification time.
    pub async fn set_mtime(&self, user: UserId, path: &str, mtime: SystemTime) -> Result<()> {
        let path = path.to_owned();
        let ns = mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        self.inner
            .writer
            .write(vec![], move |c| {
                let n = namespace::lookup(c, user, &path)?;
                c.execute(
                    "UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1",
                    params![n.id, ns],
                )?;
                Ok(())
            })
            .await
    }

    /// The dead properties of the node at `path`.
    pub fn props(&self, user: UserId, path: &str) -> Result<Vec<Prop>> {
        self.read(|c| {
            let n = namespace::lookup(c, user, path)?;
            let mut stmt =
                c.prepare_cached("SELECT ns, name, prefix, xml FROM props WHERE node_id = ?1")?;
            let rows = stmt.query_map([n.id], |r| {
                Ok(Prop {
                    ns: r.get(0)?,
                    name: r.get(1)?,
                    prefix: r.get(2)?,
                    xml: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Sets (`true`) or removes (`false`) dead properties in one transaction.
    pub async fn patch_props(
        &self,
        user: UserId,
        path: &str,
        patch: Vec<(bool, Prop)>,
    ) -> Result<()> {
        let path = path.to_owned();
        self.inner
            .writer
            .write(vec![], move |c| {
                let n = namespace::lookup(c, user, &path)?;
                for (set, p) in patch {
                    if set {
                        c.prepare_cached(
                            "INSERT INTO props (node_id, ns, name, prefix, xml) VALUES (?1, ?2, ?3, ?4, ?5) \
                             ON CONFLICT (node_id, ns, name) DO UPDATE SET prefix = excluded.prefix, xml = excluded.xml",
                        )?
                        .execute(params![n.id, p.ns, p.name, p.prefix, p.xml])?;
                    } else {
                        c.prepare_cached("DELETE FROM props WHERE node_id = ?1 AND ns = ?2 AND name = ?3")?
                            .execute(params![n.id, p.ns, p.name])?;
                    }
                }
                Ok(())
            })
            .await
    }

    /// Starts writing the file at `path`; see [`Upload`].
    pub fn begin_upload(
        &self,
        user: UserId,
        path: &str,
        opts: upload::UploadOptions,
    ) -> Result<Upload> {
        Upload::begin(self.clone(), user, path, opts)
    }
}

pub(crate) fn blob_path(dir: &Path, blob: i64) -> PathBuf {
    dir.join(constants::BLOBS_DIR)
        .join(format!("{:02x}", blob & 0xff))
        .join(format!("{blob:016x}"))
}

pub(crate) fn inner(store: &Store) -> &Inner {
    &store.inner
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;

    fn store() -> (tempfile::TempDir, Store, UserId) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(
            dir.path(),
            OpenOptions {
                create: true,
                ..Default::default()
            },
        )
        .unwrap();
        let u = s.add_user("alice", "$argon2id$placeholder", false).unwrap();
        (dir, s, u)
    }

    async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) -> Node {
        let mut up = s.begin_upload(u, path, UploadOptions::default()).unwrap();
        up.write(bytes::Bytes::copy_from_slice(data)).await.unwrap();
        up.commit().await.unwrap()
    }

    /// Relaxed bookkeeping commits without the WAL fsync, but a change someone waits for never
    /// does, whatever came before it, and both kinds land.
    #[tokio::test]
    async fn relaxed_writes_never_relax_a_durable_one() {
        let (_dir, s, _u) = store();
        let mode = |c: &Connection| -> Result<i64> {
            Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
        };
        const NORMAL: i64 = 1;
        const FULL: i64 = 2;
        s.writer()
            .write(vec![], |c| {
                Ok(c.execute_batch("CREATE TABLE marks (n INTEGER)")?)
            })
            .await
            .unwrap();
        // Relaxed changes and durable ones sent at the same moment, many times over, so that
        // they share groups in every order.
        for round in 0..20i64 {
            let mut relaxed = Vec::new();
            let mut durable = Vec::new();
            for i in 0..4i64 {
                let n = round * 10 + i;
                let (a, b) = (s.clone(), s.clone());
                relaxed.push(tokio::spawn(async move {
                    a.writer()
                        .write_relaxed(move |c| {
                            c.execute("INSERT INTO marks VALUES (?1)", [n])?;
                            mode(c)
                        })
                        .await
                }));
                durable.push(tokio::spawn(async move {
                    b.writer()
                        .write(vec![], move |c| {
                            c.execute("INSERT INTO marks VALUES (?1)", [n + 5])?;
                            mode(c)
                        })
                        .await
                }));
            }
            for d in durable {
                assert_eq!(
                    d.await.unwrap().unwrap(),
                    FULL,
                    "a durable change was committed relaxed"
                );
            }
            for r in relaxed {
                let m = r.await.unwrap().unwrap();
                assert!(m == NORMAL || m == FULL, "synchronous = {m}");
            }
        }
        // Alone, a relaxed change does skip the flush.
        assert_eq!(s.writer().write_relaxed(mode).await.unwrap(), NORMAL);
        assert_eq!(s.writer().write(vec![], mode).await.unwrap(), FULL);
        let count: i64 = s
            .read(|c| Ok(c.query_row("SELECT count(*) FROM marks", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(count, 20 * 8);
    }

    #[tokio::test]
    async fn the_journal_is_read_typed_and_trimmed() {
        let (_dir, s, u) = store();
        // Versions off: replaced content is gone at once (tests/versions.rs has them on).
        s.set_version_policy(Policy {
            keep_days: 0,
            ..Policy::default()
        })
        .await
        .unwrap();
        let a = put(&s, u, "/a", b"one").await;
        s.mkdir(u, "/d").await.unwrap();
        s.rename(u, "/a", "/d/b").await.unwrap();
        put(&s, u, "/gone", b"x").await;
        put(&s, u, "/gone", b"y").await;
        let all = s.changes_after(0, 100).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].user, "alice");
        assert_eq!(all[0].kind, ChangeKind::Put);
        let blob = all[0].blob.unwrap();
        assert_eq!(
            (Some(blob.id), blob.size, Some(blob.hash)),
            (a.blob_id, 3, a.hash)
        );
        assert_eq!((all[1].kind, all[1].is_dir), (ChangeKind::Mkdir, true));
        assert_eq!(
            (all[2].kind, all[2].to_path.as_deref(), all[2].blob),
            (ChangeKind::Rename, Some("d/b"), Some(blob))
        );
        // The first content of /gone was replaced: its change no longer names a blob.
        assert_eq!(all[3].blob, None);
        assert!(all[4].blob.is_some());
        let later = s.changes_after(all[1].seq, 2).unwrap();
        assert_eq!(later, all[2..4].to_vec());
        s.trim_changes(all[2].seq).await.unwrap();
        s.trim_changes(all[2].seq).await.unwrap();
        assert_eq!(s.changes_after(0, 100).unwrap(), all[3..].to_vec());
        let reader = Store::open_read_only(s.dir()).unwrap();
        assert_eq!(reader.changes_after_count(0).unwrap(), 2);
        assert_eq!(reader.changes_after_count(all[4].seq).unwrap(), 0);
    }

    #[tokio::test]
    async fn the_walk_sees_a_snapshot_and_durability_is_set_typed() {
        let (_dir, s, u) = store();
        s.mkdir(u, "/d").await.unwrap();
        let f = put(&s, u, "/d/f", &[7u8; 100_000]).await;
        put(&s, u, "/top", b"small").await;
        let mut seen = Vec::new();
        let seq = s
            .walk(|e| {
                seen.push(e);
                ControlFlow::Continue(())
            })
            .unwrap();
        seen.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(seq, s.changes_after(0, 100).unwrap().last().unwrap().seq);
        let paths: Vec<(&str, bool)> = seen
            .iter()
            .map(|e| (e.path.as_str(), e.file.is_some()))
            .collect();
        assert_eq!(paths, [("d", false), ("d/f", true), ("top", true)]);
        let file = seen[1].file.unwrap();
        assert_eq!(Some(file.blob.id), f.blob_id);
        assert_eq!(file.durability, Durability::Local);
        let id = f.blob_id.unwrap();
        assert_eq!(s.stats().unwrap().dirty_bytes, 100_005);
        s.set_durability_relaxed(&[(id, Durability::CloudAll)])
            .unwrap();
        let info = s.blob(id).unwrap().unwrap();
        assert_eq!(
            (info.durability, info.local, info.inline, info.blob.size),
            (Durability::CloudAll, true, false, 100_000)
        );
        assert_eq!(s.stats().unwrap().dirty_bytes, 5);
        s.set_durability(&[(id, Durability::CloudOne), (-5, Durability::Local)])
            .unwrap();
        assert_eq!(
            s.lookup(u, "/d/f").unwrap().durability,
            Durability::CloudOne
        );
        assert_eq!(s.stats().unwrap().dirty_bytes, 100_005);
        assert!(s.blob(-5).unwrap().is_none());
        // The walk stops when asked to.
        let mut n = 0;
        s.walk(|_| {
            n += 1;
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_restore_plan_is_written_in_batches_as_evicted_content() {
        let (_dir, s, alice) = store();
        let hash = *blake3::hash(b"content").as_bytes();
        let files: Vec<RestoreFile> = (0..1200)
            .map(|i| RestoreFile {
                user: if i % 2 == 0 { "alice" } else { "bob" }.into(),
                path: format!("deep/dir {}/f{i}", i % 7),
                size: 7,
                hash,
                mtime_ns: 1_000 + i,
            })
            .chain([RestoreFile {
                user: "nobody".into(),
                path: "x".into(),
                size: 1,
                hash,
                mtime_ns: 0,
            }])
            .collect();
        s.restore(RestorePlan {
            users: vec![
                RestoreUser {
                    name: "alice".into(),
                    admin: true,
                    password_hash: "!".into(),
                },
                RestoreUser {
                    name: "bob".into(),
                    admin: true,
                    password_hash: "!".into(),
                },
            ],
            dirs: vec![RestoreDir {
                user: "bob".into(),
                path: "empty/inner".into(),
            }],
            files,
        })
        .await
        .unwrap();
        // An existing user is kept as it was.
        assert!(!s.user("alice").unwrap().unwrap().admin);
        let bob = s.user("bob").unwrap().unwrap();
        assert!(bob.admin);
        assert!(s.lookup(bob.id, "/empty/inner").unwrap().is_dir);
        let f = s.lookup(alice, "/deep/dir 3/f10").unwrap();
        assert_eq!((f.size, f.hash, f.mtime_ns), (7, Some(hash), 1_010));
        assert!(matches!(
            s.content(f.blob_id.unwrap()).unwrap(),
            Content::Evicted { size: 7, .. }
        ));
        assert_eq!(s.stats().unwrap().files, 1200);
        assert!(s.user("nobody").unwrap().is_none());
    }

    #[test]
    fn a_full_disk_is_told_apart() {
        let full = StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ));
        assert!(full.is_disk_full());
        assert!(StoreError::DiskFull { path: "x".into() }.is_disk_full());
        let busy = StoreError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ));
        assert!(!busy.is_disk_full());
    }
}
