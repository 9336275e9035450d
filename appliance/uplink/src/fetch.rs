//! Read-through: brings evicted content back from the healthiest destination that holds it,
//! verified against its BLAKE3 hash before it becomes visible again.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use microcloud_store::{FetchStream, Fetcher, Store, StoreError};
use microcloud_uplink_state::UplinkState;

use crate::destinations::{self, Destination};

/// The uplink's [`Fetcher`].
pub struct UplinkFetcher {
    store: Store,
    state: UplinkState,
    /// One fetch per blob at a time; others wait for it and then find the content local.
    inflight: Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>,
}

impl UplinkFetcher {
    /// A fetcher over the destinations recorded in `state`, for `store`.
    pub fn new(store: Store, state: UplinkState) -> UplinkFetcher {
        UplinkFetcher {
            store,
            state,
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    async fn fetch_blob(&self, blob: i64) -> Result<(), StoreError> {
        let lock = self
            .inflight
            .lock()
            .unwrap()
            .entry(blob)
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        let result = self.fetch_locked(blob).await;
        self.inflight.lock().unwrap().remove(&blob);
        result
    }

    /// Destinations holding `blob`, healthiest first, with the key it has there.
    fn candidates(&self, blob: i64) -> Result<Vec<(Destination, String)>, StoreError> {
        // Healthiest first: destinations that answer now, then those retrying, then the rest.
        let holders = self
            .state
            .holders(blob)
            .map_err(|e| StoreError::Unavailable {
                what: format!("blob {blob:016x}"),
                why: e.to_string(),
            })?;
        let dests = destinations::list_in(&self.state).map_err(|e| StoreError::Unavailable {
            what: format!("blob {blob:016x}"),
            why: e.to_string(),
        })?;
        Ok(holders
            .into_iter()
            .filter_map(|(d, key)| {
                dests
                    .iter()
                    .find(|x| x.id == d.id)
                    .map(|x| (x.clone(), key))
            })
            .collect())
    }

    async fn fetch_locked(&self, blob: i64) -> Result<(), StoreError> {
        if !matches!(
            self.store.content(blob)?,
            microcloud_store::Content::Evicted { .. }
        ) {
            return Ok(());
        }
        let mut last_err = String::from("no destination holds it");
        for (d, key) in self.candidates(blob)? {
            let (d, name) = (&d, d.name.clone());
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
                    refill
                        .write(chunk.map_err(|e| e.to_string())?)
                        .await
                        .map_err(|e| e.to_string())?;
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
        Err(StoreError::Unavailable {
            what: format!("blob {blob:016x}"),
            why: last_err,
        })
    }
}

impl Fetcher for UplinkFetcher {
    fn fetch(
        &self,
        blob: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
        Box::pin(self.fetch_blob(blob))
    }

    fn stream(
        &self,
        blob: i64,
    ) -> Pin<Box<dyn Future<Output = Result<Option<FetchStream>, StoreError>> + Send + '_>> {
        Box::pin(async move {
            let lock = self
                .inflight
                .lock()
                .unwrap()
                .entry(blob)
                .or_default()
                .clone();
            // Another fetch of this blob runs: let the caller wait for it instead.
            let Ok(guard) = lock.clone().try_lock_owned() else {
                return Ok(None);
            };
            if !matches!(
                self.store.content(blob)?,
                microcloud_store::Content::Evicted { .. }
            ) {
                return Ok(None); // fetched meanwhile: read it locally
            }
            let candidates = self.candidates(blob)?;
            let inflight = self.inflight.clone();
            let (tx, chunks) = tokio::sync::mpsc::channel(16);
            let (done_tx, done) = tokio::sync::oneshot::channel();
            let store = self.store.clone();
            tokio::spawn(async move {
                let _guard = guard;
                let r = stream_from(&store, blob, candidates, tx).await;
                if let Err(e) = &r {
                    log::warn!("read-through of blob {blob:016x}: {e}");
                }
                inflight.lock().unwrap().remove(&blob);
                drop(_guard);
                let _ = done_tx.send(r);
            });
            Ok(Some(FetchStream { chunks, done }))
        })
    }
}

/// Fetches `blob` from the first candidate that answers, handing the bytes to `tx` while they
/// are written back. Once bytes went to the reader, a failure ends the read with an error (a
/// second source would repeat them).
async fn stream_from(
    store: &Store,
    blob: i64,
    candidates: Vec<(Destination, String)>,
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> Result<(), StoreError> {
    let mut last_err = String::from("no destination holds it");
    for (d, key) in candidates {
        let remote = match destinations::remote(store, &d) {
            Ok(r) => r,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        let mut stream = match remote.get(&key, None).await {
            Ok(s) => s,
            Err(e) => {
                last_err = format!("{}: {e}", d.name);
                continue;
            }
        };
        let mut refill = match store.begin_refill(blob) {
            Err(StoreError::Full { needed, .. }) => {
                store.evict(needed).await?;
                store.begin_refill(blob)?
            }
            r => r?,
        };
        let mut reader_gone = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StoreError::Unavailable {
                what: key.clone(),
                why: format!("{}: {e}", d.name),
            })?;
            refill.write(chunk.clone()).await?;
            if !reader_gone && tx.send(chunk).await.is_err() {
                // The client went away: finish the fetch anyway, the next read is local.
                reader_gone = true;
            }
        }
        refill.finish().await?;
        log::info!("read-through: streamed {key} from {}", d.name);
        return Ok(());
    }
    Err(StoreError::Unavailable {
        what: format!("blob {blob:016x}"),
        why: last_err,
    })
}
