//! Garbage collection: blob files that nothing refers to any more, after a commit freed them or a
//! crash left them (between moving a blob into place and committing it), and staging leftovers.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use microcloud_constants as constants;

use crate::{namespace, Result, Store, StoreError};

impl Store {
    /// Removes blob files that no node refers to any more (after the commit that freed them).
    pub(crate) fn unlink_blobs(&self, freed: Vec<namespace::Freed>) {
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
