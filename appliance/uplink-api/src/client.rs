//! The LAN side's end of the socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use microcloud_destination::RemoteConfig;
use microcloud_uplink_state::UplinkStatus;
use tokio::sync::Notify;

use crate::{routes, ApiError, ErrorBody, NewDestination, Progress};

/// A client of the uplink's socket in one data directory. Each call opens its own connection
/// (a unix socket connects in microseconds); [`Notifier`] keeps one open for its notices.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

impl Client {
    /// A client of the uplink of data directory `dir`.
    pub fn new(dir: &Path) -> Client {
        Client {
            socket: crate::socket_path(dir),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    async fn connect(&self) -> Result<Sender, ApiError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ApiError::NotRunning {
                socket: self.socket.clone(),
                source,
            })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.http(source))?;
        tokio::spawn(async move {
            // Ends when the answer was read (or the uplink went away, which the caller sees).
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn http(&self, source: hyper::Error) -> ApiError {
        ApiError::Http {
            socket: self.socket.clone(),
            source,
        }
    }

    /// Sends one request; an answer that is not a success becomes [`ApiError::Uplink`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, ApiError> {
        let mut sender = self.connect().await?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "uplink");
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a request of constant parts");
        let resp = sender.send_request(req).await.map_err(|e| self.http(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let bytes = read_all(resp, path).await?;
        Err(ApiError::Uplink(
            serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody::Internal {
                message: format!(
                    "the uplink answered {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            }),
        ))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let resp = self.send(method, path, body).await?;
        let bytes = read_all(resp, path).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Answer {
            route: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The uplink's report.
    pub async fn status(&self) -> Result<UplinkStatus, ApiError> {
        self.json(Method::GET, routes::STATUS, None).await
    }

    /// The destinations' configurations (never their secrets).
    pub async fn destinations(&self) -> Result<Vec<RemoteConfig>, ApiError> {
        self.json(Method::GET, routes::DESTINATIONS, None).await
    }

    /// Proves a destination works.
    pub async fn test(&self, d: &NewDestination) -> Result<(), ApiError> {
        let body = serde_json::to_vec(d).expect("a destination serializes");
        self.send(Method::POST, routes::DESTINATION_TEST, Some(body))
            .await
            .map(drop)
    }

    /// Adds a destination.
    pub async fn add(&self, d: &NewDestination) -> Result<(), ApiError> {
        let body = serde_json::to_vec(d).expect("a destination serializes");
        self.send(Method::POST, routes::DESTINATIONS, Some(body))
            .await
            .map(drop)
    }

    /// Removes a destination (its objects stay where they are).
    pub async fn remove(&self, name: &str) -> Result<(), ApiError> {
        let path = routes::DESTINATION.replace("{name}", &percent_escape(name));
        self.send(Method::DELETE, &path, None).await.map(drop)
    }

    /// Has the manifest of every destination written now; answers once they are (the error says
    /// which destination failed and why).
    pub async fn publish_manifests(&self) -> Result<(), ApiError> {
        self.send(Method::POST, routes::MANIFESTS, None)
            .await
            .map(drop)
    }

    /// Asks for blob `blob` to be made local; answers once it is.
    pub async fn fetch(&self, blob: i64) -> Result<(), ApiError> {
        let path = routes::BLOB_FETCH.replace("{id}", &blob.to_string());
        self.send(Method::POST, &path, None).await.map(drop)
    }

    /// Starts a read-through of `blob`: its bytes as they arrive, or `None` when the caller should
    /// wait with [`Client::fetch`] (another fetch of it runs, or it is local already).
    pub async fn stream(&self, blob: i64) -> Result<Option<Incoming>, ApiError> {
        let path = routes::BLOB.replace("{id}", &blob.to_string());
        let resp = self.send(Method::GET, &path, None).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(resp.into_body()))
    }

    /// Follows the uplink's events: `on_event` runs once per line. Returns when the uplink goes
    /// away (or was not running).
    pub async fn follow_events(&self, mut on_event: impl FnMut()) -> Result<(), ApiError> {
        let resp = self.send(Method::GET, routes::EVENTS, None).await?;
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.http(e))?;
            if let Some(data) = frame.data_ref() {
                for _ in data.iter().filter(|b| **b == b'\n') {
                    on_event();
                }
            }
        }
        Ok(())
    }

    /// Follows what still waits for upload: `on_progress` gets the figures at once and whenever
    /// they move, until it returns `false`. Returns early (Ok) when the uplink stops.
    pub async fn follow_progress(
        &self,
        mut on_progress: impl FnMut(Progress) -> bool,
    ) -> Result<(), ApiError> {
        let resp = self.send(Method::GET, routes::PROGRESS, None).await?;
        let mut body = resp.into_body();
        let mut line = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| self.http(e))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            for &b in data.iter() {
                if b != b'\n' {
                    line.push(b);
                    continue;
                }
                let p: Progress = serde_json::from_slice(&line).map_err(|e| ApiError::Answer {
                    route: routes::PROGRESS.into(),
                    message: e.to_string(),
                })?;
                line.clear();
                if !on_progress(p) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Tells the uplink that its work changed (a command wrote its state, or the catalog): it
    /// looks at once.
    pub async fn notify_changed(&self) -> Result<(), ApiError> {
        self.send(Method::POST, routes::CHANGED, None)
            .await
            .map(drop)
    }

    /// Tells the uplink that a change was committed (used by [`Notifier`]).
    async fn changed(&self, sender: &mut Option<Sender>) -> Result<(), ApiError> {
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            *sender = Some(self.connect().await?);
        }
        let s = sender.as_mut().expect("connected above");
        let req = Request::post(routes::CHANGED)
            .header(http::header::HOST, "uplink")
            .body(Full::new(Bytes::new()))
            .expect("a request of constant parts");
        let result = async {
            s.ready().await?;
            s.send_request(req).await
        }
        .await;
        match result {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => {
                *sender = None;
                Err(ApiError::Answer {
                    route: routes::CHANGED.into(),
                    message: resp.status().to_string(),
                })
            }
            Err(e) => {
                *sender = None;
                Err(self.http(e))
            }
        }
    }
}

async fn read_all(resp: Response<Incoming>, route: &str) -> Result<Bytes, ApiError> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ApiError::Answer {
            route: route.to_owned(),
            message: e.to_string(),
        })
}

/// Escapes a destination name for a path segment (names are checked to be plain, but a name
/// that is not must still reach the uplink to be refused there, not break the request line).
fn percent_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends a change notice to the uplink after each commit signalled on `changed`, on one kept-open
/// connection. Commits that land while a notice is in flight are covered by the next notice:
/// notices carry no data, the journal does. When the uplink is not running the notice is dropped;
/// it reads the whole journal when it starts.
pub struct Notifier;

impl Notifier {
    /// Starts the notifier task.
    pub fn spawn(client: Client, changed: Arc<Notify>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut sender = None;
            let mut warned = false;
            loop {
                changed.notified().await;
                match client.changed(&mut sender).await {
                    Ok(()) => warned = false,
                    Err(e) => {
                        if !warned {
                            log::info!("change notices wait for the uplink: {e}");
                            warned = true;
                        }
                    }
                }
            }
        })
    }
}

/// Follows the uplink's events for as long as `run` lives, calling `on_event` for each, and once
/// on every (re)connection; reconnects after the uplink restarts.
pub async fn follow_forever(client: Client, on_event: impl Fn() + Send + Sync + 'static) {
    let mut delay = Duration::from_millis(100);
    loop {
        let mut connected = false;
        let r = client
            .follow_events(|| {
                connected = true;
                on_event()
            })
            .await;
        if connected {
            delay = Duration::from_millis(100);
        }
        if let Err(e) = r {
            log::debug!("uplink events: {e}");
        }
        // The uplink restarts (or has not started yet): try again, less often the longer it is away.
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
