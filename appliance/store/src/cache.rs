//! The cache of file content on local storage: where a blob's bytes are, the bound on what the
//! box keeps (with its counters, which the uplink's commits move too), eviction of content that
//! is safe everywhere, and read-through, which the uplink serves (the [`Fetcher`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::{upload, Result, Store, StoreError};

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

/// Default cache bound when none is configured: 90% of the data filesystem's size.
pub(crate) fn default_limit(dir: &Path) -> u64 {
    match nix::sys::statvfs::statvfs(dir) {
        Ok(s) => (s.blocks() * s.fragment_size()) / 10 * 9,
        Err(_) => u64::MAX / 2,
    }
}

impl Store {
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

    /// Starts writing evicted content back (see [`Refill`]).
    pub fn begin_refill(&self, blob: i64) -> Result<upload::Refill> {
        upload::Refill::begin(self.clone(), blob)
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
}

pub(crate) fn read_limit(conn: &Connection) -> Result<Option<u64>> {
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'cache_limit'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok()))
}
