//! The remotes' error type: every variant names the remote, and the key, path or operation that
//! failed, and tells a transient outage apart from an answer about the object itself.

use std::path::PathBuf;

/// What went wrong talking to a remote.
///
/// Only [`RemoteError::Unreachable`] is transient: the uplink retries it with backoff and never
/// takes it for an answer about an object ("a remote that is down has not lost the file").
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The remote did not answer usefully: connection refused or reset, a timeout or a stalled
    /// transfer, HTTP 5xx but 503, 408, or a local directory whose root is missing (unmounted).
    #[error("remote {remote}: {op} failed, remote unreachable: {detail}")]
    Unreachable {
        remote: String,
        op: String,
        detail: String,
    },
    /// The remote asked to retry later (HTTP 429, 503 or S3's SlowDown): it answers, but is
    /// overloaded (sending fewer requests at once helps) or cannot serve now (a cluster that
    /// lost its quorum answers 503 too: the uplink then finds it down).
    #[error("remote {remote}: {op} failed, remote overloaded or unavailable (it asked to retry later): {detail}")]
    Busy {
        remote: String,
        op: String,
        detail: String,
    },
    /// No object under this key.
    #[error("remote {remote}: {key}: no such object")]
    NotFound { remote: String, key: String },
    /// A conditional write found the object absent, present or changed, against the condition.
    #[error(
        "remote {remote}: {key}: precondition failed (the object was changed by someone else)"
    )]
    PreconditionFailed { remote: String, key: String },
    /// The remote refused the request itself (HTTP 4xx such as BadDigest, InvalidPart): retrying
    /// the same request will not help.
    #[error("remote {remote}: {key}: request rejected with status {status}: {detail}")]
    Rejected {
        remote: String,
        key: String,
        status: u16,
        detail: String,
    },
    /// The credentials are wrong or lack a permission (HTTP 401/403).
    #[error("remote {remote}: access denied (check the access key and secret): {detail}")]
    Denied { remote: String, detail: String },
    /// Bytes read back do not match what they should be (hash, size or range).
    #[error("remote {remote}: {key}: corrupt data: {detail}")]
    Corrupt {
        remote: String,
        key: String,
        detail: String,
    },
    /// A local file operation failed (directory remotes).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The remote's configuration is unusable (bad endpoint, missing bucket or credentials).
    #[error("remote {remote}: configuration error: {detail}")]
    Config { remote: String, detail: String },
}

impl RemoteError {
    /// Whether retrying later may succeed: true only for [`RemoteError::Unreachable`] and
    /// [`RemoteError::Busy`].
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RemoteError::Unreachable { .. } | RemoteError::Busy { .. }
        )
    }

    /// Whether the remote asked to slow down ([`RemoteError::Busy`]).
    pub fn is_busy(&self) -> bool {
        matches!(self, RemoteError::Busy { .. })
    }
}
