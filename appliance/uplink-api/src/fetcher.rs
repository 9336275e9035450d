//! Read-through for a LAN service whose uplink runs in another process: the bytes stream over the
//! socket while the uplink writes them back into the store.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use microcloud_store::{FetchStream, Fetcher, StoreError};

use crate::{ApiError, Client};

/// How long a read waits for an uplink that is starting (or restarting) before it fails.
const START_WAIT: Duration = Duration::from_secs(10);

/// A [`Fetcher`] that asks the uplink over its socket.
pub struct SocketFetcher {
    client: Client,
}

impl SocketFetcher {
    /// A fetcher asking through `client`.
    pub fn new(client: Client) -> SocketFetcher {
        SocketFetcher { client }
    }

    /// Runs `call`, again while the uplink is not (yet) listening, for at most [`START_WAIT`].
    async fn retrying<T, F, Fut>(&self, blob: i64, call: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let deadline = Instant::now() + START_WAIT;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(ApiError::NotRunning { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    return Err(StoreError::Unavailable {
                        what: format!("blob {blob:016x}"),
                        why: e.to_string(),
                    })
                }
            }
        }
    }
}

impl Fetcher for SocketFetcher {
    fn fetch(
        &self,
        blob: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
        Box::pin(async move { self.retrying(blob, || self.client.fetch(blob)).await })
    }

    fn stream(
        &self,
        blob: i64,
    ) -> Pin<Box<dyn Future<Output = Result<Option<FetchStream>, StoreError>> + Send + '_>> {
        Box::pin(async move {
            let Some(mut body) = self.retrying(blob, || self.client.stream(blob)).await? else {
                return Ok(None);
            };
            let (tx, chunks) = tokio::sync::mpsc::channel(16);
            let (done_tx, done) = tokio::sync::oneshot::channel();
            let socket = self.client.socket().to_owned();
            tokio::spawn(async move {
                // The uplink ends the stream cleanly only when every byte arrived and matched the
                // hash; otherwise it breaks the connection, and the read must fail.
                let mut result = Ok(());
                let mut reader_gone = false;
                while let Some(frame) = body.frame().await {
                    match frame {
                        Ok(frame) => {
                            if let Ok(data) = frame.into_data() {
                                if !reader_gone && tx.send(data).await.is_err() {
                                    reader_gone = true;
                                }
                            }
                        }
                        Err(e) => {
                            result = Err(StoreError::Unavailable {
                                what: format!("blob {blob:016x}"),
                                why: format!(
                                    "the read-through from the uplink ({}) broke off: {e}",
                                    socket.display()
                                ),
                            });
                            break;
                        }
                    }
                }
                let _ = done_tx.send(result);
            });
            Ok(Some(FetchStream { chunks, done }))
        })
    }
}
