//! The contract between the LAN service and the uplink: HTTP/1.1 over a unix socket in the data
//! directory ([`microcloud_constants::UPLINK_SOCKET_FILE`]), served by the uplink.
//!
//! - `POST /v1/changed`: the LAN service committed a change (the uplink reads the journal now).
//! - `GET /v1/events`: one line per batch of catalog commits the uplink made (durability raised,
//!   content evicted or fetched back), so the LAN service re-reads its cache figures.
//! - `GET /v1/blobs/{id}`: read-through of evicted content, streamed while it is written back
//!   (`204` when the caller should wait with `POST /v1/blobs/{id}/fetch` instead).
//! - `GET /v1/progress`: what still waits for upload, a JSON line whenever it moved (`flush`).
//! - `POST /v1/manifests`: write every destination's manifest now (`flush`, once all is uploaded).
//! - `GET /v1/status`, `GET|POST /v1/destinations`, `POST /v1/destinations/test`,
//!   `DELETE /v1/destinations/{name}`: what the page and the CLI ask of the uplink.
//!
//! HTTP, not a private framing, so that a maintainer can ask by hand
//! (`curl --unix-socket /var/lib/microcloud/uplink.sock http://uplink/v1/status`), and so that
//! streams, errors and their sentences need no protocol of ours. Errors are JSON [`ErrorBody`].
//! The socket's file mode and group decide who may talk to the uplink: the agents' group only.

mod client;
mod fetcher;

use std::path::{Path, PathBuf};

pub use client::{follow_forever, Client, Notifier};

pub use fetcher::SocketFetcher;
use microcloud_destination::{Credentials, Invalid, RemoteConfig};
use serde::{Deserialize, Serialize};

/// The routes, shared by the server (the uplink) and the client.
pub mod routes {
    /// A change was committed.
    pub const CHANGED: &str = "/v1/changed";
    /// Durability and cache events, one line each.
    pub const EVENTS: &str = "/v1/events";
    /// Read-through stream of blob `{id}` (decimal).
    pub const BLOB: &str = "/v1/blobs/{id}";
    /// Read-through of blob `{id}`, answered when it is local again.
    pub const BLOB_FETCH: &str = "/v1/blobs/{id}/fetch";
    /// The uplink's report.
    pub const STATUS: &str = "/v1/status";
    /// What still waits for upload, one JSON line at once and one whenever it moved (`flush`).
    pub const PROGRESS: &str = "/v1/progress";
    /// Writes every destination's manifest now, answering once they are written (POST).
    pub const MANIFESTS: &str = "/v1/manifests";
    /// The destinations (GET lists, POST adds).
    pub const DESTINATIONS: &str = "/v1/destinations";
    /// Proves a destination works.
    pub const DESTINATION_TEST: &str = "/v1/destinations/test";
    /// One destination (DELETE removes it).
    pub const DESTINATION: &str = "/v1/destinations/{name}";
}

/// The socket of data directory `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(microcloud_constants::UPLINK_SOCKET_FILE)
}

/// A destination to test or add, with its secret (which the uplink alone keeps).
#[derive(Clone, Serialize, Deserialize)]
pub struct NewDestination {
    /// What and where.
    pub config: RemoteConfig,
    /// Its secret, if the kind has one.
    pub credentials: Option<Credentials>,
}

/// What still waits for upload, over every destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Changes not yet done everywhere: replicas (uploads and deletes) and journal entries the
    /// uplink has not taken in.
    pub files: u64,
    /// Bytes still to upload.
    pub bytes: u64,
    /// Replicas in conflict (kept on both sides; they never finish by themselves).
    pub conflicts: u64,
    /// Destinations configured.
    pub destinations: u64,
    /// Bytes whose durability in the store is not yet `cloud:all` (a level raised by an upload
    /// reaches the store just after the upload is recorded).
    pub dirty_bytes: u64,
}

impl Progress {
    /// Whether every file is at every destination (or what is left is in conflict).
    pub fn done(&self) -> bool {
        self.files == 0 && (self.dirty_bytes == 0 || self.conflicts > 0)
    }
}

/// What the uplink could not do, as sent over the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ErrorBody {
    /// A destination of that name exists already.
    Exists { name: String },
    /// No destination of that name.
    NotFound { name: String },
    /// The description is not acceptable (field and sentence).
    Invalid { field: String, message: String },
    /// The destination failed its test; the sentence says what failed.
    Test { message: String },
    /// The content is not available now (no destination holds it or none answers).
    Unavailable { message: String },
    /// The request made no sense to the uplink.
    BadRequest { message: String },
    /// Something else failed in the uplink (its log says more).
    Internal { message: String },
}

impl ErrorBody {
    /// The HTTP status that carries this error.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorBody::Exists { .. } => S::CONFLICT,
            ErrorBody::NotFound { .. } => S::NOT_FOUND,
            ErrorBody::Invalid { .. } | ErrorBody::BadRequest { .. } => S::BAD_REQUEST,
            ErrorBody::Test { .. } => S::UNPROCESSABLE_ENTITY,
            ErrorBody::Unavailable { .. } => S::SERVICE_UNAVAILABLE,
            ErrorBody::Internal { .. } => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// An [`Invalid`] description as sent.
    pub fn invalid(e: &Invalid) -> ErrorBody {
        ErrorBody::Invalid {
            field: e.field.to_string(),
            message: e.message.to_string(),
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorBody::Exists { name } => write!(f, "a destination named {name} exists already"),
            ErrorBody::NotFound { name } => write!(f, "no destination named {name}"),
            ErrorBody::Invalid { field, message } => write!(f, "{field}: {message}"),
            ErrorBody::Test { message }
            | ErrorBody::Unavailable { message }
            | ErrorBody::BadRequest { message }
            | ErrorBody::Internal { message } => f.write_str(message),
        }
    }
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nobody listens on the socket: the uplink is not running (or not yet).
    #[error("the uplink is not running (nobody answers on {}): {source}", socket.display())]
    NotRunning {
        socket: PathBuf,
        source: std::io::Error,
    },
    /// The connection failed midway.
    #[error("talking to the uplink on {}: {source}", socket.display())]
    Http {
        socket: PathBuf,
        source: hyper::Error,
    },
    /// The uplink answered with an error.
    #[error("{0}")]
    Uplink(ErrorBody),
    /// The uplink's answer could not be read.
    #[error("the uplink's answer to {route} could not be read: {message}")]
    Answer { route: String, message: String },
}
