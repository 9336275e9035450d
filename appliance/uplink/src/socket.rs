//! The uplink's end of its unix socket (the routes and messages are `microcloud_uplink_api`'s):
//! change notices wake the uplink at once, read-through streams while the content is written
//! back, and the page and the CLI reach the destinations without touching the uplink's state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use bytes::Bytes;
use microcloud_store::{Fetcher, Store, StoreError};
use microcloud_uplink_api::{routes, ErrorBody, NewDestination};
use microcloud_uplink_state::UplinkState;
use tokio::sync::{broadcast, watch, Notify};

use crate::destinations::{self, DestinationError};
use crate::fetch::UplinkFetcher;
use crate::manifest::Publisher;
use crate::UplinkError;

/// What the handlers share.
#[derive(Clone)]
struct Shared {
    store: Store,
    state: UplinkState,
    fetcher: Arc<UplinkFetcher>,
    publisher: Publisher,
    wake: Arc<Notify>,
    events: broadcast::Sender<()>,
    stop: watch::Receiver<bool>,
}

/// The socket, bound before the uplink's first round so that no notice is lost in between.
pub(crate) struct Bound {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

/// Binds the socket of data directory `dir` (a stale one from a crash is replaced: the caller
/// holds the uplink lock, so no other uplink listens there).
pub(crate) fn bind(dir: &Path) -> Result<Bound, UplinkError> {
    let path = microcloud_uplink_api::socket_path(dir);
    let err = |source| UplinkError::Socket {
        path: path.clone(),
        source,
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let listener = std::os::unix::net::UnixListener::bind(&path).map_err(err)?;
    // The agents' group may talk to the uplink; nobody else.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    Ok(Bound { listener, path })
}

/// Serves the socket until `stop` turns true.
pub(crate) fn spawn(
    bound: Bound,
    store: Store,
    state: UplinkState,
    publisher: Publisher,
    wake: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (events, _) = broadcast::channel(4);
    // Every commit the uplink makes (levels raised, content evicted or fetched back) changes the
    // LAN service's cache figures: tell it, a line per burst.
    {
        let (changed, events, mut stop) = (store.changed(), events.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = changed.notified() => {}
                    _ = stop.changed() => return,
                }
                let _ = events.send(());
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
    }
    let shared = Shared {
        fetcher: Arc::new(UplinkFetcher::new(store.clone(), state.clone())),
        store,
        state,
        publisher,
        wake,
        events,
        stop: stop.clone(),
    };
    let router = axum::Router::new()
        .route(routes::CHANGED, post(changed))
        .route(routes::EVENTS, get(events_stream))
        .route(routes::BLOB, get(blob_stream))
        .route(routes::BLOB_FETCH, post(blob_fetch))
        .route(routes::STATUS, get(status))
        .route(routes::PROGRESS, get(progress))
        .route(routes::MANIFESTS, post(manifests))
        .route(routes::DESTINATIONS, get(list).post(add))
        .route(routes::DESTINATION_TEST, post(test))
        .route(routes::DESTINATION, delete(remove))
        .with_state(shared);
    let Bound { listener, path } = bound;
    tokio::spawn(async move {
        let listener = match tokio::net::UnixListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                log::error!("uplink socket {}: {e}", path.display());
                return;
            }
        };
        let mut stop = stop;
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            log::error!("uplink socket {}: {e}", path.display());
        }
        let _ = std::fs::remove_file(&path);
    })
}

/// An error as the socket answers it.
struct Failure(ErrorBody);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0.status(), Json(self.0)).into_response()
    }
}

impl From<DestinationError> for Failure {
    fn from(e: DestinationError) -> Failure {
        Failure(match e {
            DestinationError::Exists { name } => ErrorBody::Exists { name },
            DestinationError::NotFound { name } => ErrorBody::NotFound { name },
            DestinationError::InvalidName { name } => {
                match microcloud_destination::check_name(&name) {
                    Err(invalid) => ErrorBody::invalid(&invalid),
                    Ok(()) => ErrorBody::BadRequest {
                        message: format!("destination name {name:?} refused"),
                    },
                }
            }
            e @ (DestinationError::Probe { .. } | DestinationError::Remote(_)) => ErrorBody::Test {
                message: e.to_string(),
            },
            e => {
                log::error!("uplink socket: {e}");
                ErrorBody::Internal {
                    message: e.to_string(),
                }
            }
        })
    }
}

fn unavailable(e: StoreError) -> Failure {
    Failure(ErrorBody::Unavailable {
        message: e.to_string(),
    })
}

fn internal(e: impl std::fmt::Display) -> Failure {
    log::error!("uplink socket: {e}");
    Failure(ErrorBody::Internal {
        message: e.to_string(),
    })
}

async fn changed(State(s): State<Shared>) -> http::StatusCode {
    s.wake.notify_one();
    http::StatusCode::NO_CONTENT
}

async fn events_stream(State(s): State<Shared>) -> Response {
    let rx = s.events.subscribe();
    let stop = s.stop.clone();
    // A first line at once: the follower re-reads its figures on every (re)connection.
    let first = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(Bytes::from_static(b"hello\n"))
    });
    let rest = futures_util::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Ok(Bytes::from_static(b"changed\n")), (rx, stop)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                r = stop.changed() => if r.is_err() || *stop.borrow() { return None },
            }
        }
    });
    axum::body::Body::from_stream(futures_util::StreamExt::chain(first, rest)).into_response()
}

async fn progress(State(s): State<Shared>) -> Response {
    let start = (s.events.subscribe(), s.stop.clone(), s, true);
    let lines = futures_util::stream::unfold(start, |(mut rx, mut stop, s, first)| async move {
        if !first {
            // Counting the queue costs a scan: at most ten lines a second. Events meanwhile wait
            // in the channel (a lagging one still says that something moved).
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            // A replica can finish without a catalog commit (its blob's level did not change:
            // another key of the same content holds it back), so the queue is also counted once
            // a second: a follower never waits on a count that went stale.
            tokio::select! {
                r = rx.recv() => if matches!(r, Err(broadcast::error::RecvError::Closed)) { return None },
                _ = stop.wait_for(|s| *s) => return None,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            while rx.try_recv().is_ok() {}
        }
        let (dir, state) = (s.store.dir().to_owned(), s.state.clone());
        let item = match crate::blocking(move || crate::status::progress(&dir, &state)).await {
            Ok(p) => {
                let mut line = serde_json::to_vec(&p).expect("figures serialize");
                line.push(b'\n');
                Ok(Bytes::from(line))
            }
            Err(e) => Err(std::io::Error::other(e)),
        };
        Some((item, (rx, stop, s, false)))
    });
    axum::body::Body::from_stream(lines).into_response()
}

/// Writes every destination's manifest now (`flush` asks, once every file is uploaded, so that a
/// box lost right after a flush restores everything it flushed).
async fn manifests(State(s): State<Shared>) -> Result<http::StatusCode, Failure> {
    match s.publisher.publish_all().await {
        Ok(_) => Ok(http::StatusCode::NO_CONTENT),
        Err(failed) => {
            let message = failed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            log::warn!("writing manifests: {message}");
            Err(Failure(ErrorBody::Unavailable { message }))
        }
    }
}

fn blob_id(raw: &str) -> Result<i64, Failure> {
    raw.parse().map_err(|_| {
        Failure(ErrorBody::BadRequest {
            message: format!("{raw:?} is not a blob number"),
        })
    })
}

async fn blob_stream(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    let blob = match blob_id(&id) {
        Ok(b) => b,
        Err(f) => return f.into_response(),
    };
    let fs = match s.fetcher.stream(blob).await {
        Ok(Some(fs)) => fs,
        Ok(None) => return http::StatusCode::NO_CONTENT.into_response(),
        Err(e) => return unavailable(e).into_response(),
    };
    // The stream ends cleanly only when the content matched its hash; otherwise its last item
    // is an error, which breaks the connection so that the reader fails too.
    let body = futures_util::stream::unfold(
        (fs.chunks, Some(fs.done)),
        |(mut chunks, done)| async move {
            if let Some(b) = chunks.recv().await {
                return Some((Ok(b), (chunks, done)));
            }
            let outcome = match done?.await {
                Ok(Ok(())) => return None,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the fetch stopped".to_owned(),
            };
            Some((Err(std::io::Error::other(outcome)), (chunks, None)))
        },
    );
    axum::body::Body::from_stream(body).into_response()
}

async fn blob_fetch(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Response {
    let blob = match blob_id(&id) {
        Ok(b) => b,
        Err(f) => return f.into_response(),
    };
    match s.fetcher.fetch(blob).await {
        Ok(()) => http::StatusCode::NO_CONTENT.into_response(),
        Err(e) => unavailable(e).into_response(),
    }
}

async fn status(State(s): State<Shared>) -> Result<Response, Failure> {
    let state = s.state.clone();
    let report = crate::blocking(move || state.status())
        .await
        .map_err(internal)?;
    Ok(Json(report).into_response())
}

async fn list(State(s): State<Shared>) -> Result<Response, Failure> {
    let state = s.state.clone();
    let list = crate::blocking(move || destinations::list_in(&state)).await?;
    let configs: Vec<_> = list.into_iter().map(|d| d.config).collect();
    Ok(Json(configs).into_response())
}

async fn test(Json(d): Json<NewDestination>) -> Result<http::StatusCode, Failure> {
    destinations::test(d.config, d.credentials).await?;
    Ok(http::StatusCode::NO_CONTENT)
}

async fn add(
    State(s): State<Shared>,
    Json(d): Json<NewDestination>,
) -> Result<http::StatusCode, Failure> {
    destinations::add(&s.store, d.config, d.credentials, false).await?;
    s.wake.notify_one();
    Ok(http::StatusCode::CREATED)
}

async fn remove(
    State(s): State<Shared>,
    UrlPath(name): UrlPath<String>,
) -> Result<http::StatusCode, Failure> {
    destinations::remove(&s.store, &name).await?;
    s.wake.notify_one();
    Ok(http::StatusCode::NO_CONTENT)
}
