//! The store's totals, kept by triggers in the catalog's `stats` row.

use std::path::Path;
use std::sync::atomic::Ordering;

use rusqlite::Connection;

use crate::{CatalogReader, Result, Store};

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

impl Store {
    /// Reads the totals of the store in `dir` without opening it for writing (works while the
    /// gateway runs).
    pub fn inspect(dir: &Path) -> Result<Stats> {
        CatalogReader::open(dir)?.stats()
    }

    /// Totals, read from the catalog.
    pub fn stats(&self) -> Result<Stats> {
        let limit = self.inner.limit.load(Ordering::Relaxed);
        self.read(|c| stats_on(c, limit))
    }
}

pub(crate) fn stats_on(conn: &Connection, cache_limit: u64) -> Result<Stats> {
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
