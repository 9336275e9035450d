//! The crash-safe local store of microcloud: file content as blob files on disk, and the namespace,
//! users, hashes and durability levels in a SQLite catalog (WAL, `synchronous = FULL`).
//!
//! The LAN service writes through [`Upload`]: bytes are hashed with BLAKE3 while they arrive,
//! written to a staging file, fsync'd, moved into `blobs/`, and only then does one catalog
//! transaction make the file visible under its name. A crash at any point leaves either the old
//! file or the new one, never a mix; leftovers in `staging/` and unreferenced blobs are removed at
//! the next start, in the background, so that a restart serves at once. Later stages (the uplink)
//! see the catalog only through the typed operations of [`downstream`]: the change journal,
//! durability levels, a walk of the namespace, blob facts, restore and the read-through inbox.
//! The catalog's database engine is not part of this crate's interface.

pub mod downstream;
mod error;
pub mod namespace;
mod schema;
mod upload;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use microcloud_constants as constants;
use rusqlite::{params, OpenFlags, OptionalExtension};

pub use downstream::{
    BlobInfo, BlobRef, CatalogReader, Change, ChangeKind, Entry, FileFacts, RestoreDir,
    RestoreFile, RestorePlan, RestoreUser,
};
pub use error::{Result, SqlError, StoreError};
use rusqlite::Connection;
pub use upload::{Refill, Upload, UploadOptions};
use writer::Writer;

/// A user's id in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// A user account as the catalog holds it.
#[derive(Debug, Clone)]
pub struct User {
    /// Catalog id.
    pub id: UserId,
    /// Login name.
    pub name: String,
    /// PHC-format password hash (argon2).
    pub password_hash: String,
    /// Whether the user administers the box.
    pub admin: bool,
}

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

/// Where a blob's bytes are.
#[derive(Debug, Clone)]
pub enum Content {
    /// Small content, held in the catalog.
    Inline(bytes::Bytes),
    /// A blob file.
    File(PathBuf),
    /// Evicted from local storage (safe at every destination): fetch it back first.
    Evicted {
        /// Content size.
        size: u64,
        /// Content hash, to verify what comes back.
        hash: [u8; 32],
    },
}

/// Brings evicted content back from a destination; the uplink implements it, so that the LAN
/// service never needs cloud credentials.
pub trait Fetcher: Send + Sync {
    /// Makes blob `blob` local again (verified against its hash) or fails.
    fn fetch(
        &self,
        blob: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>>;

    /// Starts making `blob` local and hands its bytes over as they arrive, so a reader need not
    /// wait for the whole file. `None` when that is not possible now (another fetch of the same
    /// blob runs): the caller then waits with [`Fetcher::fetch`].
    fn stream(
        &self,
        blob: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<FetchStream>>> + Send + '_>>
    {
        let _ = blob;
        Box::pin(async { Ok(None) })
    }
}

/// Content arriving from a destination while it is written back locally.
#[derive(Debug)]
pub struct FetchStream {
    /// The bytes, in order.
    pub chunks: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// The outcome once every byte arrived: Err when the content did not match its hash (the
    /// reader must then fail, never end as if complete).
    pub done: tokio::sync::oneshot::Receiver<Result<()>>,
}

/// What a reader gets: local content, or content streaming in from a destination.
#[derive(Debug)]
pub enum ReadSource {
    /// Local content.
    Local(Content),
    /// Arriving from a destination (read-through).
    Streaming(FetchStream),
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

/// Totals of the store, for `status` and the cache bound.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    /// Number of users.
    pub users: u64,
    /// Files in all namespaces.
    pub files: u64,
    /// Directories in all namespaces (users' roots included).
    pub dirs: u64,
    /// Bytes of committed content on local storage.
    pub bytes: u64,
    /// Bytes not yet safe at every destination (may not be evicted).
    pub dirty_bytes: u64,
    /// The cache bound in bytes.
    pub cache_limit: u64,
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

/// Default cache bound when none is configured: 90% of the data filesystem's size.
fn default_limit(dir: &Path) -> u64 {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => (s.blocks() * s.fragment_size()) / 10 * 9,
        Err(_) => u64::MAX / 2,
    }
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
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Reads the totals of the store in `dir` without opening it for writing (works while the
    /// gateway runs).
    pub fn inspect(dir: &Path) -> Result<Stats> {
        CatalogReader::open(dir)?.stats()
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

    /// The content of a committed blob: in the catalog for small files, else a file.
    pub fn content(&self, blob: i64) -> Result<Content> {
        type Row = (i64, Vec<u8>, bool, Option<Vec<u8>>);
        let row: Option<Row> = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT b.size, b.hash, b.local, i.data FROM blobs b LEFT JOIN inline_blobs i ON i.id = b.id WHERE b.id = ?1",
            )?
            .query_row([blob], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?)
        })?;
        let Some((size, hash, local, data)) = row else {
            return Err(StoreError::NotFound {
                path: format!("blob {blob:016x}"),
            });
        };
        Ok(match (data, local) {
            (Some(d), _) => Content::Inline(bytes::Bytes::from(d)),
            (None, true) => Content::File(self.blob_path(blob)),
            (None, false) => Content::Evicted {
                size: size as u64,
                hash: hash.try_into().unwrap_or([0; 32]),
            },
        })
    }

    /// Installs the fetcher that brings evicted content back.
    pub fn set_fetcher(&self, fetcher: Arc<dyn Fetcher>) {
        *self.inner.fetcher.write().unwrap() = Some(fetcher);
    }

    /// The content of `blob`, fetched back from a destination first if it was evicted.
    pub async fn local_content(&self, blob: i64) -> Result<Content> {
        let mut content = self.content(blob)?;
        match content {
            Content::Evicted { .. } => self.inner.read_misses.fetch_add(1, Ordering::Relaxed),
            _ => self.inner.read_hits.fetch_add(1, Ordering::Relaxed),
        };
        for _ in 0..3 {
            match content {
                Content::Evicted { .. } => {
                    let fetcher = self.inner.fetcher.read().unwrap().clone();
                    let Some(f) = fetcher else {
                        return Err(StoreError::Unavailable {
                            what: format!("blob {blob:016x}"),
                            why: "its content was evicted and no uplink runs to fetch it back"
                                .into(),
                        });
                    };
                    f.fetch(blob).await?;
                }
                // Evicted between the lookup and now: look again.
                Content::File(p) if !p.exists() => {}
                c => return Ok(c),
            }
            content = self.content(blob)?;
        }
        Err(StoreError::Unavailable {
            what: format!("blob {blob:016x}"),
            why: "content kept moving away".into(),
        })
    }

    /// Opens `blob` for reading: local content, or (when evicted) a stream from a destination
    /// that is written back locally as it arrives.
    pub async fn open_for_read(&self, blob: i64) -> Result<ReadSource> {
        if let Content::Evicted { .. } = self.content(blob)? {
            let fetcher = self.inner.fetcher.read().unwrap().clone();
            if let Some(f) = fetcher {
                if let Some(stream) = f.stream(blob).await? {
                    self.inner.read_misses.fetch_add(1, Ordering::Relaxed);
                    return Ok(ReadSource::Streaming(stream));
                }
            }
        }
        self.local_content(blob).await.map(ReadSource::Local)
    }

    /// Reads served locally and reads that fetched evicted content back, since start.
    pub fn read_counters(&self) -> (u64, u64) {
        (
            self.inner.read_hits.load(Ordering::Relaxed),
            self.inner.read_misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes of content on local storage (committed and reserved).
    pub fn used_bytes(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Evicts content that is safe at every destination, oldest first, until `want` bytes are
    /// freed or nothing more may go; returns the bytes freed. Small content kept in the catalog
    /// is not evicted (it frees nothing worth the round trip).
    pub async fn evict(&self, want: u64) -> Result<u64> {
        let mut freed = 0u64;
        while freed < want {
            let batch: Vec<(i64, u64)> = self
                .inner
                .writer
                .write(vec![], |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT id, size FROM blobs WHERE durability = 'cloud:all' AND local = 1 \
                         AND NOT EXISTS (SELECT 1 FROM inline_blobs i WHERE i.id = blobs.id) \
                         ORDER BY created_ns LIMIT 64",
                    )?;
                    let rows: Vec<(i64, i64)> = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    for (id, _) in &rows {
                        c.prepare_cached("UPDATE blobs SET local = 0 WHERE id = ?1")?
                            .execute([id])?;
                    }
                    Ok(rows
                        .into_iter()
                        .map(|(id, size)| (id, size as u64))
                        .collect())
                })
                .await?;
            if batch.is_empty() {
                break;
            }
            for (id, size) in batch {
                let p = self.blob_path(id);
                if let Err(e) = std::fs::remove_file(&p) {
                    log::warn!("{}: evicting: {e}", p.display());
                }
                self.inner.used.fetch_sub(
                    size.min(self.inner.used.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
                freed += size;
            }
        }
        if freed > 0 {
            log::info!("evicted {freed} bytes of content that is safe at every destination");
        }
        Ok(freed)
    }

    /// Recreates a file whose content is not local (only at a destination): used by restore.
    /// Missing parent directories are created. The content is fetched on first read.
    pub async fn restore_file(
        &self,
        user: UserId,
        path: &str,
        size: u64,
        hash: [u8; 32],
        mtime_ns: i64,
    ) -> Result<i64> {
        let path = path.to_owned();
        self.inner
            .writer
            .write(vec![], move |c| {
                let now = now_ns();
                let depth = namespace::components(&path)?.len().saturating_sub(1);
                namespace::mkdir_parents(c, user, &path, depth, now)?;
                let blob = (rand::random::<u64>() >> 2) as i64 + 1;
                c.prepare_cached("INSERT INTO blobs (id, size, hash, created_ns, local) VALUES (?1, ?2, ?3, ?4, 0)")?
                    .execute(params![blob, size as i64, hash.as_slice(), now])?;
                namespace::put_file(c, user, &path, blob, true, now)?;
                c.prepare_cached("UPDATE nodes SET mtime_ns = ?3 WHERE user_id = ?1 AND blob_id = ?2")?
                    .execute(params![user.0, blob, mtime_ns])?;
                Ok(blob)
            })
            .await
    }

    /// Creates a directory and its missing parents (restore).
    pub async fn mkdir_all(&self, user: UserId, path: &str) -> Result<()> {
        let path = path.to_owned();
        self.inner
            .writer
            .write(vec![], move |c| {
                namespace::mkdir_parents(c, user, &path, usize::MAX, now_ns())
            })
            .await
    }

    /// Starts writing evicted content back (see [`Refill`]).
    pub fn begin_refill(&self, blob: i64) -> Result<upload::Refill> {
        upload::Refill::begin(self.clone(), blob)
    }

    /// Path of a committed blob's file.
    pub fn blob_path(&self, blob: i64) -> PathBuf {
        blob_path(&self.inner.dir, blob)
    }

    /// Totals, read from the catalog.
    pub fn stats(&self) -> Result<Stats> {
        let limit = self.inner.limit.load(Ordering::Relaxed);
        self.read(|c| stats_on(c, limit))
    }

    /// Signalled after every catalog commit (a permit is kept when nobody waits).
    pub fn changed(&self) -> Arc<tokio::sync::Notify> {
        self.inner.changed.clone()
    }

    /// A read-only view of the catalog in `dir`, for reports while the agents run.
    pub fn open_read_only(dir: &Path) -> Result<CatalogReader> {
        CatalogReader::open(dir)
    }

    /// Re-reads the committed totals from the catalog, so that changes made by other stages (the
    /// uplink marking content safe, possibly from another process) reach the cache bound.
    pub fn refresh_counters(&self) -> Result<()> {
        let (bytes, dirty): (i64, i64) = self.read(|c| {
            Ok(
                c.query_row("SELECT blob_bytes, dirty_bytes FROM stats", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?,
            )
        })?;
        let inflight = self.inner.inflight.load(Ordering::Relaxed);
        self.inner
            .used
            .store(bytes.max(0) as u64 + inflight, Ordering::Relaxed);
        self.inner
            .dirty
            .store(dirty.max(0) as u64 + inflight, Ordering::Relaxed);
        Ok(())
    }

    /// How many writes were slowed down by the cache bound since start, and for how long in all.
    pub fn throttling(&self) -> (u64, Duration) {
        (
            self.inner.throttled_writes.load(Ordering::Relaxed),
            Duration::from_nanos(self.inner.throttled_ns.load(Ordering::Relaxed)),
        )
    }

    /// The cache bound in bytes.
    pub fn cache_limit(&self) -> u64 {
        self.inner.limit.load(Ordering::Relaxed)
    }

    // ---- users -------------------------------------------------------------------------------

    /// Adds a user with an empty space; `password_hash` is a PHC string (argon2).
    pub fn add_user(&self, name: &str, password_hash: &str, admin: bool) -> Result<UserId> {
        self.insert_user(name, password_hash, admin, false)
    }

    /// Adds the first administrator, in the same transaction that checks there is none yet (two
    /// owners racing through onboarding cannot both win).
    pub fn add_first_admin(&self, name: &str, password_hash: &str) -> Result<UserId> {
        self.insert_user(name, password_hash, true, true)
    }

    /// Whether an administrator exists (onboarding is done).
    pub fn has_admin(&self) -> Result<bool> {
        self.read(|c| {
            Ok(
                c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE admin)", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn insert_user(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
        first_admin: bool,
    ) -> Result<UserId> {
        check_user_name(name)?;
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            let now = now_ns();
            if first_admin && c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE admin)", [], |r| r.get::<_, bool>(0))? {
                return Err(StoreError::AdminExists);
            }
            let exists: bool =
                c.query_row("SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)", [&name], |r| r.get(0))?;
            if exists {
                return Err(StoreError::UserExists { name });
            }
            c.execute(
                "INSERT INTO users (name, password_hash, admin, created_ns) VALUES (?1, ?2, ?3, ?4)",
                params![name, hash, admin, now],
            )?;
            let id = c.last_insert_rowid();
            c.execute(
                "INSERT INTO nodes (user_id, parent_id, name, is_dir, mtime_ns, ctime_ns) VALUES (?1, NULL, '', 1, ?2, ?2)",
                params![id, now],
            )?;
            Ok(UserId(id))
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.inner.writer.write_blocking(vec![], move |c| {
            match c.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                params![name, hash],
            )? {
                0 => Err(StoreError::NoSuchUser { name }),
                _ => Ok(()),
            }
        })
    }

    /// Looks a user up by name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, name, password_hash, admin FROM users WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok(User {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    password_hash: r.get(2)?,
                    admin: r.get(3)?,
                })
            })
            .optional()?)
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, name, password_hash, admin FROM users ORDER BY name")?;
            let rows = stmt.query_map([], |r| {
                Ok(User {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    password_hash: r.get(2)?,
                    admin: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    // ---- namespace ---------------------------------------------------------------------------

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

    /// Creates a directory; its parent must exist.
    pub async fn mkdir(&self, user: UserId, path: &str) -> Result<()> {
        let path = path.to_owned();
        self.inner
            .writer
            .write(vec![], move |c| namespace::mkdir(c, user, &path, now_ns()))
            .await
    }

    /// Removes a file, or with `dir` an empty directory.
    pub async fn remove(&self, user: UserId, path: &str, dir: bool) -> Result<()> {
        let path = path.to_owned();
        let freed = self
            .inner
            .writer
            .write(vec![], move |c| {
                namespace::remove(c, user, &path, dir, now_ns())
            })
            .await?;
        self.unlink_blobs(freed.into_iter().collect());
        Ok(())
    }

    /// Moves a file or directory; an existing file at `to` is replaced.
    pub async fn rename(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        let freed = self
            .inner
            .writer
            .write(vec![], move |c| {
                namespace::rename(c, user, &from, &to, now_ns())
            })
            .await?;
        self.unlink_blobs(freed);
        Ok(())
    }

    /// Copies a file, sharing its content; an existing file at `to` is replaced.
    pub async fn copy_file(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        let freed = self
            .inner
            .writer
            .write(vec![], move |c| {
                namespace::copy_file(c, user, &from, &to, now_ns())
            })
            .await?;
        self.unlink_blobs(freed);
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

    // ---- content -----------------------------------------------------------------------------

    /// Starts writing the file at `path`; see [`Upload`].
    pub fn begin_upload(
        &self,
        user: UserId,
        path: &str,
        opts: upload::UploadOptions,
    ) -> Result<Upload> {
        Upload::begin(self.clone(), user, path, opts)
    }

    /// Removes blob files that no node refers to any more (after the commit that freed them).
    fn unlink_blobs(&self, freed: Vec<namespace::Freed>) {
        for namespace::Freed { id, size, inline } in freed {
            if !inline {
                let p = self.blob_path(id);
                if let Err(e) = std::fs::remove_file(&p) {
                    log::warn!("{}: could not remove unreferenced blob: {e}", p.display());
                }
            }
            self.inner.used.fetch_sub(size, Ordering::Relaxed);
            self.inner.dirty.fetch_sub(size, Ordering::Relaxed);
        }
    }

    /// Removes staging leftovers of a previous run; cheap (only uploads cut by a crash).
    pub fn clean_staging(&self) -> Result<usize> {
        let dir = self.inner.dir.join(constants::STAGING_DIR);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::now());
            if modified < self.inner.started {
                let _ = std::fs::remove_file(entry.path());
                n += 1;
            }
        }
        Ok(n)
    }

    /// Removes blob files that no catalog row refers to (a crash between moving a blob into place
    /// and committing it). Walks the blob directory: run it in the background.
    pub fn collect_garbage(&self) -> Result<usize> {
        let root = self.inner.dir.join(constants::BLOBS_DIR);
        let mut removed = 0;
        let Ok(fans) = std::fs::read_dir(&root) else {
            return Ok(0);
        };
        for fan in fans.flatten() {
            let Ok(files) = std::fs::read_dir(fan.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                let Some(id) = name.to_str().and_then(|s| i64::from_str_radix(s, 16).ok()) else {
                    continue;
                };
                let modified = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::now());
                if modified >= self.inner.started {
                    continue; // may belong to an upload being committed right now
                }
                let known: bool = self.read(|c| {
                    Ok(
                        c.prepare_cached("SELECT EXISTS (SELECT 1 FROM blobs WHERE id = ?1)")?
                            .query_row([id], |r| r.get(0))?,
                    )
                })?;
                if !known {
                    let _ = std::fs::remove_file(f.path());
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn read_limit(conn: &Connection) -> Result<Option<u64>> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'cache_limit'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok()))
}

fn stats_on(conn: &Connection, cache_limit: u64) -> Result<Stats> {
    let (files, dirs, bytes, dirty_bytes): (i64, i64, i64, i64) = conn.query_row(
        "SELECT files, dirs, blob_bytes, dirty_bytes FROM stats",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    Ok(Stats {
        users: users as u64,
        files: files as u64,
        dirs: dirs as u64,
        bytes: bytes as u64,
        dirty_bytes: dirty_bytes as u64,
        cache_limit,
    })
}

pub(crate) fn blob_path(dir: &Path, blob: i64) -> PathBuf {
    dir.join(constants::BLOBS_DIR)
        .join(format!("{:02x}", blob & 0xff))
        .join(format!("{blob:016x}"))
}

/// The permission bits of what the store creates in its data directory, whatever the umask: the
/// owner reads and writes; the group too only when the data directory itself lets its group write
/// (a shared directory: the appliance's is root:microcloud 0770, so that the two agents' users
/// share the catalog and the content; files 0660, directories 0770); nobody else ever (elsewhere,
/// a directory made 0700 here or 0755 by someone's mkdir: files 0600, directories 0700).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    /// For files (the catalog and its -wal and -shm, blobs, staging files, state files).
    pub file: u32,
    /// For directories.
    pub dir: u32,
}

impl Modes {
    /// The modes for what is made in a directory of mode `dir_mode`.
    pub fn within(dir_mode: u32) -> Modes {
        if dir_mode & 0o020 != 0 {
            Modes {
                file: 0o660,
                dir: 0o770,
            }
        } else {
            Modes {
                file: 0o600,
                dir: 0o700,
            }
        }
    }

    /// The modes for what is made in directory `dir`.
    pub fn of(dir: &Path) -> std::io::Result<Modes> {
        use std::os::unix::fs::PermissionsExt;
        Ok(Modes::within(std::fs::metadata(dir)?.permissions().mode()))
    }
}

/// Makes the data directory private whatever the umask: a missing one is created 0700 (its missing
/// parents as usual), an existing one loses any permission for others (the group's are kept: the
/// appliance's is root:microcloud 0770). Returns the modes for what the store creates in it.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<Modes> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        create_dir(dir, 0o700)?;
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o007 != 0 {
        let private = mode & 0o7770;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(private)) {
            // Someone else's directory: say so, and go on (its owner decides who may look in).
            log::warn!(
                "{}: mode {:o} lets others in, and it could not be made {private:o}: {e}",
                dir.display(),
                mode & 0o7777
            );
            return Ok(Modes::within(mode));
        }
    }
    Ok(Modes::within(mode))
}

/// Creates directory `path` (its parent exists) with exactly `mode`; an existing one is left as
/// it is.
pub(crate) fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        // The umask may have taken bits away: set them (the directory is ours, just made).
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the directory `path` inside the data directory, its missing parents too, each with the
/// directory mode of [`Modes::of`] its parent; existing ones are left as they are.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dir_all(parent)?;
    create_dir(path, Modes::of(parent)?.dir)
}

/// Creates the new empty file `path` with exactly `mode` (an existing one is left as it is).
fn create_file(path: &Path, mode: u32) -> std::io::Result<()> {
    match open_new(
        std::fs::OpenOptions::new().write(true).create_new(true),
        path,
        mode,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` with `opts` (which create it), then sets its mode to exactly `mode`, which the
/// umask does not touch (fchmod on the open file).
pub(crate) fn open_new(
    opts: &mut std::fs::OpenOptions,
    path: &Path,
    mode: u32,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = opts.mode(mode).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Replaces the small file `path` with `data`, durably: a temporary file beside it is written and
/// fsync'd, renamed over `path`, and the directory is fsync'd. A crash leaves the old content or
/// the new, never a mix. Used for the state files kept beside the catalog (secrets, the setup
/// code, ssh keys, the host name). The file's mode is `mode` within the [`Modes`] of its
/// directory, whatever the umask: 0640 asked for gives 0640 in the appliance's 0770 directory and
/// 0600 in a private 0700 one.
pub fn write_file_durably(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = mode & Modes::of(dir)?.file;
    let mut f = open_new(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        &tmp,
        mode,
    )?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Checks a user name: short, and safe in URLs, paths and logs.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidName {
            name: name.chars().take(64).collect(),
            why: "a user name is 1-64 characters of letters, digits, '-', '_' and '.', not starting with '.'",
        })
    }
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
