//! Read-through: brings evicted content back from the healthiest destination that holds it,
//! verified against its BLAKE3 hash before it becomes visible again.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use microcloud_store::rusqlite::params;
use microcloud_store::{Fetcher, Store, StoreError};

use crate::destinations::{self, Destination};

/// The uplink's [`Fetcher`].
pub struct UplinkFetcher {
    store: Store,
    /// One fetch per blob at a time; others wait for it and then find the content local.
    inflight: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl UplinkFetcher {
    /// A fetcher over `store`'s destinations.
    pub fn new(store: Store) -> UplinkFetcher {
        UplinkFetcher { store, inflight: Mutex::new(HashMap::new()) }
    }

    async fn fetch_blob(&self, blob: i64) -> Result<(), StoreError> {
        let lock = self.inflight.lock().unwrap().entry(blob).or_default().clone();
        let _guard = lock.lock().await;
        let result = self.fetch_locked(blob).await;
        self.inflight.lock().unwrap().remove(&blob);
        result
    }

    async fn fetch_locked(&self, blob: i64) -> Result<(), StoreError> {
        if !matches!(self.store.content(blob)?, microcloud_store::Content::Evicted { .. }) {
            return Ok(());
        }
        // Healthiest first: destinations that answer now, then those retrying, then the rest.
        let candidates: Vec<(String, String)> = self.store.catalog_read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.name, r.key FROM replicas r JOIN destinations d ON d.id = r.dest_id \
                 WHERE r.blob_id = ?1 AND r.state = 'done' \
                 ORDER BY CASE d.state WHEN 'ok' THEN 0 WHEN 'retrying' THEN 1 ELSE 2 END, d.last_ok_ns DESC",
            )?;
            let rows = stmt.query_map(params![blob], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let dests: Vec<Destination> = destinations::list(&self.store)?;
        let mut last_err = String::from("no destination holds it");
        for (name, key) in candidates {
            let Some(d) = dests.iter().find(|d| d.name == name) else { continue };
            let remote = match destinations::remote(&self.store, d) {
                Ok(r) => r,
                Err(e) => {
                    last_err = e.to_string();
                    continue;
                }
            };
            let mut refill = match self.store.begin_refill(blob) {
                Err(StoreError::Full { needed, .. }) => {
                    self.store.evict(needed).await?;
                    self.store.begin_refill(blob)?
                }
                r => r?,
            };
            let attempt = async {
                let mut stream = remote.get(&key, None).await.map_err(|e| e.to_string())?;
                while let Some(chunk) = stream.next().await {
                    refill.write(chunk.map_err(|e| e.to_string())?).await.map_err(|e| e.to_string())?;
                }
                refill.finish().await.map_err(|e| e.to_string())
            };
            match attempt.await {
                Ok(()) => {
                    log::info!("read-through: fetched {key} back from {name}");
                    return Ok(());
                }
                Err(e) => {
                    log::warn!("read-through: {key} from {name}: {e}");
                    last_err = format!("{name}: {e}");
                }
            }
        }
        Err(StoreError::Unavailable { what: format!("blob {blob:016x}"), why: last_err })
    }
}

impl Fetcher for UplinkFetcher {
    fn fetch(&self, blob: i64) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
        Box::pin(self.fetch_blob(blob))
    }
}
