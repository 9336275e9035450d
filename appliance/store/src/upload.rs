//! Writing a file: reserve room, hash while receiving, make durable, then commit.
//!
//! Small uploads are buffered and written in one blocking step at commit. Larger ones start a
//! worker on the blocking pool as soon as a megabyte has arrived, so that receiving from the
//! network, hashing and writing to disk overlap. The worker fsyncs the staging file and moves it
//! into `blobs/`; the catalog commit (with the blob directory fsync'd in the same group) is what
//! makes the file visible. Dropping an `Upload` without committing removes every trace of it.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rusqlite::params;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Result, StoreError};
use crate::{
    blob_path, create_dir, inner, namespace, now_ns, open_new, Modes, Node, Store, UserId,
};
use microcloud_constants as constants;

/// Pending bytes after which a background writer takes over.
const STREAM_THRESHOLD: usize = 1 << 20;
/// Content up to this size is kept in the catalog (see the `inline_blobs` table).
pub const INLINE_MAX: usize = 64 * 1024;
/// Longest pause a writer gets per megabyte when the dirty cache is nearly full.
const MAX_THROTTLE_PER_MIB: Duration = Duration::from_millis(250);

/// How an upload may treat an existing file.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// The size the client announced (Content-Length); checked against room and at commit.
    pub expected_size: Option<u64>,
    /// Fail if the file exists (If-None-Match: *).
    pub create_new: bool,
    /// Fail if the file does not exist (If-Match: *).
    pub must_exist: bool,
    /// Start from the existing content instead of an empty file (partial updates).
    pub keep_existing: bool,
    /// The device writing, when known (recorded with the content and its versions).
    pub device: Option<String>,
}

/// Bytes from the start of a file the ransomware guard samples to tell whether content looks
/// random.
const SAMPLE: usize = 16 * 1024;

enum Msg {
    Data(u64, Bytes),
    Finish,
}

struct Worker {
    tx: mpsc::Sender<Msg>,
    done: oneshot::Receiver<Result<(blake3::Hash, u64)>>,
}

/// A file being written; invisible until [`Upload::commit`] returns.
pub struct Upload {
    store: Store,
    user: UserId,
    path: String,
    blob: i64,
    create_new: bool,
    expected: Option<u64>,
    base: Option<PathBuf>,
    reserved: u64,
    pos: u64,
    pending: Vec<(u64, Bytes)>,
    pending_bytes: usize,
    worker: Option<Worker>,
    finished: bool,
    device: Option<String>,
    /// The first bytes written at offset 0 onwards (see [`SAMPLE`]).
    sample: Vec<u8>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish()
    }
}

fn staging_path(store: &Store, blob: i64) -> PathBuf {
    store
        .dir()
        .join(constants::STAGING_DIR)
        .join(format!("{blob:016x}"))
}

impl Upload {
    pub(crate) fn begin(
        store: Store,
        user: UserId,
        path: &str,
        opts: crate::upload::UploadOptions,
    ) -> Result<Upload> {
        let existing = store.read(|c| {
            let (parent, name) = namespace::parent_of(c, user, path)?;
            namespace::child(c, parent.id, name)
        })?;
        match &existing {
            Some(n) if n.is_dir => {
                return Err(StoreError::IsDir {
                    path: path.to_owned(),
                })
            }
            Some(_) if opts.create_new => {
                return Err(StoreError::Exists {
                    path: path.to_owned(),
                })
            }
            None if opts.must_exist => {
                return Err(StoreError::NotFound {
                    path: path.to_owned(),
                })
            }
            _ => {}
        }
        let base = match (&existing, opts.keep_existing) {
            (Some(n), true) => n.blob_id.map(|b| store.blob_path(b)),
            _ => None,
        };
        let blob = (rand::random::<u64>() >> 2) as i64 + 1;
        let mut up = Upload {
            store,
            user,
            path: path.to_owned(),
            blob,
            create_new: opts.create_new,
            expected: opts.expected_size,
            base,
            reserved: 0,
            pos: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            worker: None,
            finished: false,
            device: opts.device.clone(),
            sample: Vec::new(),
        };
        // Refuse at once what cannot fit, before the client sends a byte.
        let announced = opts.expected_size.unwrap_or(0)
            + existing
                .as_ref()
                .filter(|_| opts.keep_existing)
                .map(|n| n.size)
                .unwrap_or(0);
        up.try_reserve(announced)?;
        if let Some(avail) = disk_available(up.store.dir()) {
            if opts.expected_size.unwrap_or(0) > avail {
                return Err(StoreError::DiskFull {
                    path: up.store.dir().to_owned(),
                });
            }
        }
        Ok(up)
    }

    /// The path being written.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn try_reserve(&mut self, n: u64) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let inner = inner(&self.store);
        let limit = inner.limit.load(Ordering::Relaxed);
        let used = inner.used.fetch_add(n, Ordering::Relaxed) + n;
        if used > limit {
            inner.used.fetch_sub(n, Ordering::Relaxed);
            return Err(StoreError::Full {
                path: self.path.clone(),
                used: used - n,
                limit,
                needed: n,
            });
        }
        inner.dirty.fetch_add(n, Ordering::Relaxed);
        inner.inflight.fetch_add(n, Ordering::Relaxed);
        self.reserved += n;
        Ok(())
    }

    /// Pauses a writer of `n` bytes in proportion to how far the dirty part of the cache is past
    /// the throttle threshold: the closer to the bound, the slower, so writers feel the bound
    /// coming instead of hitting a wall.
    async fn throttle(&self, n: u64) {
        let inner = inner(&self.store);
        let limit = inner.limit.load(Ordering::Relaxed).max(1);
        let fraction = inner.dirty.load(Ordering::Relaxed) as f64 / limit as f64;
        let start = constants::THROTTLE_START_FRACTION;
        if fraction <= start {
            return;
        }
        let ramp = ((fraction - start) / (1.0 - start)).min(1.0);
        let pause = MAX_THROTTLE_PER_MIB
            .mul_f64(ramp * n as f64 / (1u64 << 20) as f64)
            .min(Duration::from_secs(2));
        let before = inner.throttled_writes.fetch_add(1, Ordering::Relaxed);
        inner
            .throttled_ns
            .fetch_add(pause.as_nanos() as u64, Ordering::Relaxed);
        if before.is_multiple_of(1000) {
            log::warn!(
                "slowing writers down: data not yet safe elsewhere fills {:.0}% of the {limit} byte cache bound",
                fraction * 100.0
            );
        }
        tokio::time::sleep(pause).await;
    }

    /// Reserves room up to byte `end` of the file, beyond what was announced.
    fn reserve(&mut self, end: u64) -> Result<()> {
        if end <= self.reserved {
            return Ok(());
        }
        self.try_reserve(end - self.reserved)
    }

    /// Moves the write position (partial updates); the hash is then recomputed at commit.
    pub fn seek(&mut self, pos: u64) {
        self.pos = pos;
    }

    /// Appends `data` at the current position.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = self.pos + data.len() as u64;
        if let Some(exp) = self.expected {
            if end > exp && self.base.is_none() {
                return Err(StoreError::Incomplete {
                    path: self.path.clone(),
                    got: end,
                    expected: exp,
                });
            }
        }
        self.throttle(data.len() as u64).await;
        self.reserve(end)?;
        if self.pos == self.sample.len() as u64 && self.sample.len() < SAMPLE {
            let take = (SAMPLE - self.sample.len()).min(data.len());
            self.sample.extend_from_slice(&data[..take]);
        }
        self.pending_bytes += data.len();
        self.pending.push((self.pos, data));
        self.pos = end;
        if self.pending_bytes >= STREAM_THRESHOLD {
            self.send_pending().await?;
        }
        Ok(())
    }

    async fn send_pending(&mut self) -> Result<()> {
        if self.worker.is_none() {
            self.worker = Some(self.start_worker());
        }
        let worker = self.worker.as_mut().expect("worker started");
        for (off, data) in self.pending.drain(..) {
            if worker.tx.send(Msg::Data(off, data)).await.is_err() {
                // The worker stopped early: its result says why.
                let w = self.worker.take().expect("worker");
                return Err(match w.done.await {
                    Ok(Err(e)) => e,
                    _ => StoreError::Io {
                        path: self.path.clone().into(),
                        source: std::io::Error::other("writer stopped"),
                    },
                });
            }
        }
        self.pending_bytes = 0;
        Ok(())
    }

    fn start_worker(&self) -> Worker {
        let (tx, mut rx) = mpsc::channel::<Msg>(8);
        let (done_tx, done) = oneshot::channel();
        let staging = staging_path(&self.store, self.blob);
        let final_path = blob_path(self.store.dir(), self.blob);
        let base = self.base.clone();
        let modes = self.store.modes();
        tokio::task::spawn_blocking(move || {
            let r = (|| {
                let mut w = BlobWriter::create(&staging, base.as_deref(), modes)?;
                loop {
                    match rx.blocking_recv() {
                        Some(Msg::Data(off, data)) => w.write(off, &data)?,
                        Some(Msg::Finish) => return w.finish(&final_path, modes),
                        None => {
                            return Err(StoreError::Io {
                                path: staging.clone(),
                                source: std::io::Error::other("upload abandoned"),
                            })
                        }
                    }
                }
            })();
            if r.is_err() {
                let _ = std::fs::remove_file(&staging);
            }
            let _ = done_tx.send(r);
        });
        Worker { tx, done }
    }

    /// Makes the file durable and visible under its name; returns the committed node.
    pub async fn commit(mut self) -> Result<Node> {
        if self.worker.is_none() && self.base.is_none() && self.pending_bytes <= INLINE_MAX {
            let mut data = Vec::with_capacity(self.pending_bytes);
            let mut sequential = true;
            for (off, chunk) in &self.pending {
                sequential &= *off == data.len() as u64;
                data.extend_from_slice(chunk);
            }
            if sequential {
                return self.commit_inline(data).await;
            }
        }
        let (hash, len) = if self.worker.is_some() {
            self.send_pending().await?;
            let w = self.worker.take().expect("worker");
            let _ = w.tx.send(Msg::Finish).await;
            w.done.await.map_err(|_| StoreError::WriterGone)??
        } else {
            let pending = std::mem::take(&mut self.pending);
            let staging = staging_path(&self.store, self.blob);
            let final_path = blob_path(self.store.dir(), self.blob);
            let base = self.base.clone();
            let modes = self.store.modes();
            tokio::task::spawn_blocking(move || {
                let r = (|| {
                    let mut w = BlobWriter::create(&staging, base.as_deref(), modes)?;
                    for (off, data) in &pending {
                        w.write(*off, data)?;
                    }
                    w.finish(&final_path, modes)
                })();
                if r.is_err() {
                    let _ = std::fs::remove_file(&staging);
                }
                r
            })
            .await
            .map_err(|_| StoreError::WriterGone)??
        };
        let final_path = blob_path(self.store.dir(), self.blob);
        if let Some(exp) = self.expected {
            if self.base.is_none() && len != exp {
                let _ = std::fs::remove_file(&final_path);
                return Err(StoreError::Incomplete {
                    path: self.path.clone(),
                    got: len,
                    expected: exp,
                });
            }
        }
        self.settle(len);

        let dirs = vec![
            final_path.parent().expect("blob has a parent").to_owned(),
            self.store.dir().join(constants::STAGING_DIR),
        ];
        self.record(len, hash, None, dirs, Some(final_path)).await
    }

    /// Commits small content straight into the catalog: durable with the group's WAL fsync.
    async fn commit_inline(mut self, data: Vec<u8>) -> Result<Node> {
        let len = data.len() as u64;
        if let Some(exp) = self.expected {
            if len != exp {
                return Err(StoreError::Incomplete {
                    path: self.path.clone(),
                    got: len,
                    expected: exp,
                });
            }
        }
        let hash = blake3::hash(&data);
        self.settle(len);
        self.record(len, hash, Some(data), vec![], None).await
    }

    /// The catalog transaction that makes the content visible under its name: the blob row (with
    /// the bytes themselves for `inline` content) and the node pointing at it. On failure the
    /// blob file (if any) is removed and the reservation taken back.
    async fn record(
        mut self,
        len: u64,
        hash: blake3::Hash,
        inline: Option<Vec<u8>>,
        dirs: Vec<PathBuf>,
        file: Option<PathBuf>,
    ) -> Result<Node> {
        let (user, path, blob, create_new) =
            (self.user, self.path.clone(), self.blob, self.create_new);
        // Unknown (NULL) when the upload started from existing content or was not written from
        // its start: the guard then does not weigh it.
        let random = (self.base.is_none() && !self.sample.is_empty())
            .then(|| crate::versions::looks_random(&self.sample));
        let device = self.device.clone();
        let guard_device = self.device.clone();
        let started = now_ns();
        let result = self
            .store
            .writer()
            .write(dirs, move |c| {
                let now = now_ns();
                c.prepare_cached(
                    "INSERT INTO blobs (id, size, hash, created_ns, random) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    blob,
                    len as i64,
                    hash.as_bytes().as_slice(),
                    now,
                    random
                ])?;
                if let Some(data) = inline {
                    c.prepare_cached("INSERT INTO inline_blobs (id, data) VALUES (?1, ?2)")?
                        .execute(params![blob, data])?;
                }
                let mut fx = namespace::Effects::default();
                namespace::put_file(
                    c,
                    user,
                    &path,
                    blob,
                    create_new,
                    device.as_deref(),
                    now,
                    &mut fx,
                )?;
                let node = namespace::lookup(c, user, &path)?;
                Ok((fx, node))
            })
            .await;
        self.finished = true;
        match result {
            Ok((fx, node)) => {
                self.store.unlink_blobs(fx.freed);
                self.store
                    .guard_note(
                        user,
                        guard_device.as_deref(),
                        fx.touched,
                        fx.suspicious,
                        started,
                    )
                    .await;
                Ok(node)
            }
            Err(e) => {
                if let Some(f) = file {
                    let _ = std::fs::remove_file(f);
                }
                self.unsettle(len);
                Err(e)
            }
        }
    }

    /// Turns the reservation into the committed size.
    fn settle(&mut self, len: u64) {
        let inner = inner(&self.store);
        if len > self.reserved {
            inner.used.fetch_add(len - self.reserved, Ordering::Relaxed);
            inner
                .dirty
                .fetch_add(len - self.reserved, Ordering::Relaxed);
        } else {
            inner.used.fetch_sub(self.reserved - len, Ordering::Relaxed);
            inner
                .dirty
                .fetch_sub(self.reserved - len, Ordering::Relaxed);
        }
        // The bytes now count as committed content, which refresh_counters reads from the catalog.
        inner.inflight.fetch_sub(self.reserved, Ordering::Relaxed);
        self.reserved = 0;
    }

    /// Takes back settled bytes whose commit failed.
    fn unsettle(&mut self, len: u64) {
        let inner = inner(&self.store);
        inner.used.fetch_sub(len, Ordering::Relaxed);
        inner.dirty.fetch_sub(len, Ordering::Relaxed);
    }

    fn release(&mut self) {
        let inner = inner(&self.store);
        inner.used.fetch_sub(self.reserved, Ordering::Relaxed);
        inner.dirty.fetch_sub(self.reserved, Ordering::Relaxed);
        inner.inflight.fetch_sub(self.reserved, Ordering::Relaxed);
        self.reserved = 0;
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.finished {
            // Dropping the worker's sender makes it stop and remove its staging file.
            self.worker.take();
            let _ = std::fs::remove_file(staging_path(&self.store, self.blob));
            self.release();
        }
    }
}

/// Free bytes on the data filesystem for unprivileged writers.
fn disk_available(dir: &std::path::Path) -> Option<u64> {
    nix::sys::statvfs::statvfs(dir)
        .ok()
        .map(|s| s.blocks_available() * s.fragment_size())
}

/// Writes one staging file, hashing sequential data as it goes.
struct BlobWriter<'a> {
    file: File,
    path: &'a std::path::Path,
    hasher: blake3::Hasher,
    hashed: u64,
    rehash: bool,
}

impl<'a> BlobWriter<'a> {
    fn create(
        path: &'a std::path::Path,
        base: Option<&std::path::Path>,
        modes: Modes,
    ) -> Result<BlobWriter<'a>> {
        let file = open_new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
            path,
            modes.file,
        )
        .map_err(|e| StoreError::io(path, e))?;
        let mut rehash = false;
        if let Some(base) = base {
            let mut src = File::open(base).map_err(|e| StoreError::io(base, e))?;
            std::io::copy(&mut src, &mut &file).map_err(|e| StoreError::io(path, e))?;
            rehash = true;
        }
        Ok(BlobWriter {
            file,
            path,
            hasher: blake3::Hasher::new(),
            hashed: 0,
            rehash,
        })
    }

    fn write(&mut self, off: u64, data: &[u8]) -> Result<()> {
        if !self.rehash && off == self.hashed {
            self.hasher.update(data);
            self.hashed += data.len() as u64;
        } else {
            self.rehash = true;
        }
        self.file
            .write_all_at(data, off)
            .map_err(|e| StoreError::io(self.path, e))
    }

    /// fsyncs the data and moves the file to `dest`; returns its hash and length.
    fn finish(mut self, dest: &std::path::Path, modes: Modes) -> Result<(blake3::Hash, u64)> {
        let len = self
            .file
            .metadata()
            .map_err(|e| StoreError::io(self.path, e))?
            .len();
        let hash = if self.rehash || self.hashed != len {
            let mut h = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut f = &self.file;
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(0))
                .map_err(|e| StoreError::io(self.path, e))?;
            loop {
                let n = f.read(&mut buf).map_err(|e| StoreError::io(self.path, e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.finalize()
        } else {
            self.hasher.finalize()
        };
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(self.path, e))?;
        if let Some(parent) = dest.parent() {
            create_dir(parent, modes.dir).map_err(|e| StoreError::io(parent, e))?;
        }
        std::fs::rename(self.path, dest).map_err(|e| StoreError::io(dest, e))?;
        let _ = &mut self.hasher;
        Ok((hash, len))
    }
}

/// Writing evicted content back: the bytes come from a destination, are hashed and written to
/// staging, and only when size and hash match the catalog are they moved into place and the
/// blob marked local again. A mismatch leaves nothing behind.
pub struct Refill {
    store: Store,
    blob: i64,
    size: u64,
    hash: [u8; 32],
    staging: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    written: u64,
    reserved: u64,
    finished: bool,
}

impl Refill {
    pub(crate) fn begin(store: Store, blob: i64) -> Result<Refill> {
        let (size, hash): (i64, Vec<u8>) = store.read(|c| {
            Ok(
                c.prepare_cached("SELECT size, hash FROM blobs WHERE id = ?1")?
                    .query_row([blob], |r| Ok((r.get(0)?, r.get(1)?)))?,
            )
        })?;
        let size = size as u64;
        let inner = inner(&store);
        let limit = inner.limit.load(Ordering::Relaxed);
        let used = inner.used.fetch_add(size, Ordering::Relaxed) + size;
        if used > limit {
            inner.used.fetch_sub(size, Ordering::Relaxed);
            return Err(StoreError::Full {
                path: format!("blob {blob:016x}"),
                used: used - size,
                limit,
                needed: size,
            });
        }
        inner.inflight.fetch_add(size, Ordering::Relaxed);
        // A name of its own in staging: an upload of the same id never exists (ids are random).
        let staging = store
            .dir()
            .join(constants::STAGING_DIR)
            .join(format!("refill-{blob:016x}-{:08x}", rand::random::<u32>()));
        let file = open_new(
            std::fs::OpenOptions::new().write(true).create_new(true),
            &staging,
            store.modes().file,
        )
        .map_err(|e| StoreError::io(&staging, e))?;
        Ok(Refill {
            store,
            blob,
            size,
            hash: hash.try_into().unwrap_or([0; 32]),
            staging,
            file: Some(file),
            hasher: blake3::Hasher::new(),
            written: 0,
            reserved: size,
            finished: false,
        })
    }

    /// The content size the catalog expects.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends the next bytes.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        self.written += data.len() as u64;
        if self.written > self.size {
            return Err(self.mismatch("more bytes than expected"));
        }
        self.hasher.update(&data);
        let mut file = self.file.take().expect("refill file");
        let path = self.staging.clone();
        let (file, r) = tokio::task::spawn_blocking(move || {
            let r = std::io::Write::write_all(&mut file, &data);
            (file, r)
        })
        .await
        .map_err(|_| StoreError::WriterGone)?;
        self.file = Some(file);
        r.map_err(|e| StoreError::io(path, e))
    }

    fn mismatch(&self, got: &str) -> StoreError {
        StoreError::HashMismatch {
            what: format!("blob {:016x}", self.blob),
            expected: blake3::Hash::from_bytes(self.hash).to_hex().to_string(),
            got: got.to_owned(),
        }
    }

    /// Verifies, makes durable and installs the content.
    pub async fn finish(mut self) -> Result<()> {
        let got = self.hasher.finalize();
        if self.written != self.size || got != blake3::Hash::from_bytes(self.hash) {
            return Err(self.mismatch(&format!("{} ({} bytes)", got.to_hex(), self.written)));
        }
        let file = self.file.take().expect("refill file");
        let (staging, dest) = (self.staging.clone(), blob_path(self.store.dir(), self.blob));
        let d = dest.clone();
        let modes = self.store.modes();
        tokio::task::spawn_blocking(move || {
            file.sync_data().map_err(|e| StoreError::io(&staging, e))?;
            if let Some(parent) = d.parent() {
                create_dir(parent, modes.dir).map_err(|e| StoreError::io(parent, e))?;
            }
            std::fs::rename(&staging, &d).map_err(|e| StoreError::io(&d, e))
        })
        .await
        .map_err(|_| StoreError::WriterGone)??;
        let blob = self.blob;
        let dirs = vec![dest.parent().expect("blob has a parent").to_owned()];
        let r = self
            .store
            .writer()
            .write(dirs, move |c| {
                c.prepare_cached("UPDATE blobs SET local = 1 WHERE id = ?1")?
                    .execute([blob])?;
                Ok(())
            })
            .await;
        if let Err(e) = r {
            let _ = std::fs::remove_file(&dest);
            return Err(e);
        }
        self.finished = true;
        inner(&self.store)
            .inflight
            .fetch_sub(self.reserved, Ordering::Relaxed);
        self.reserved = 0;
        Ok(())
    }
}

impl Drop for Refill {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.staging);
            let inner = inner(&self.store);
            inner.used.fetch_sub(self.reserved, Ordering::Relaxed);
            inner.inflight.fetch_sub(self.reserved, Ordering::Relaxed);
        }
    }
}
