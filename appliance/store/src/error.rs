//! The store's error type: every variant names the path, user or file that failed.

use std::path::PathBuf;

/// What went wrong in the store, with the path or name that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No file or directory at this path.
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    /// Something already exists at this path.
    #[error("{path}: already exists")]
    Exists { path: String },
    /// The parent directory of this path is missing.
    #[error("{path}: parent directory does not exist")]
    NoParent { path: String },
    /// A file operation was asked of a directory.
    #[error("{path}: is a directory")]
    IsDir { path: String },
    /// A directory operation was asked of a file (or a path goes through a file).
    #[error("{path}: not a directory")]
    NotDir { path: String },
    /// A directory that must be empty is not.
    #[error("{path}: directory not empty")]
    NotEmpty { path: String },
    /// A path component is not a valid name.
    #[error("invalid name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    /// A move or copy would put a directory inside itself.
    #[error("{path}: cannot move or copy a directory into itself")]
    IntoItself { path: String },
    /// The cache bound (or the disk) has no room for this upload.
    #[error("no room for {path}: {used} of {limit} bytes in use, {needed} more needed")]
    Full {
        path: String,
        used: u64,
        limit: u64,
        needed: u64,
    },
    /// The disk itself is full (ENOSPC or EDQUOT while writing).
    #[error("{path}: disk full")]
    DiskFull { path: PathBuf },
    /// An upload ended with fewer or more bytes than announced.
    #[error("{path}: upload ended after {got} bytes, {expected} were announced")]
    Incomplete {
        path: String,
        got: u64,
        expected: u64,
    },
    /// A user name that is not in the catalog.
    #[error("no user named {name:?}")]
    NoSuchUser { name: String },
    /// Onboarding is over: an administrator exists already.
    #[error("setup is already done: an administrator exists")]
    AdminExists,
    /// A user name that is already taken.
    #[error("a user named {name:?} already exists")]
    UserExists { name: String },
    /// No device of this name for this user.
    #[error("{user} has no device named {name:?}")]
    NoSuchDevice { user: String, name: String },
    /// The user has a device of this name already.
    #[error("{user} already has a device named {name:?}")]
    DeviceExists { user: String, name: String },
    /// The catalog was written by a newer microcloud.
    #[error(
        "{path}: catalog schema version {found} is newer than this build supports ({supported})"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The data directory has no catalog (and was not to be created).
    #[error("{path}: no microcloud catalog here (run `microcloud gateway --data` or `microcloud user add` to create one)")]
    NoCatalog { path: PathBuf },
    /// Versions are off (the policy keeps them 0 days): there is nothing to roll back to.
    #[error(
        "versions are off (kept 0 days): set a retention with `microcloud retention --days N`"
    )]
    VersionsOff,
    /// A moment that has not come yet.
    #[error("{} is in the future", crate::clock::rfc3339(*at_ns))]
    InTheFuture { at_ns: i64 },
    /// A moment older than the retention: its versions are gone.
    #[error("{path}: {} is before the retention; the earliest moment kept is {}", crate::clock::rfc3339(*at_ns), crate::clock::rfc3339(*earliest_ns))]
    BeforeRetention {
        path: String,
        at_ns: i64,
        earliest_ns: i64,
    },
    /// Nothing was at this path at that moment (and nothing is there now to remove).
    #[error("{path}: nothing was there at {}", crate::clock::rfc3339(*at_ns))]
    NothingThen { path: String, at_ns: i64 },
    /// No file or version was ever at this path (within the retention).
    #[error("{path}: no such file or folder, now or in its kept versions")]
    NeverExisted { path: String },
    /// A rollback or restore would have to replace something it must not.
    #[error("{path} {why}; nothing was changed")]
    RollbackBlocked { path: String, why: &'static str },
    /// No version of this id (for this user).
    #[error("no version #{id} (it expired, or belongs to another user)")]
    NoSuchVersion { id: i64 },
    /// A version's content is on no destination that answers (or came back damaged).
    #[error("version #{id} of /{path} cannot be restored: its content was evicted from the box and {why}; nothing was changed")]
    VersionUnavailable { id: i64, path: String, why: String },
    /// Nothing in the trash at or below this path.
    #[error("{path}: nothing in the trash here")]
    NotInTrash { path: String },
    /// No guard trip of this id.
    #[error("no ransomware guard trip #{id}")]
    NoSuchTrip { id: i64 },
    /// The trip was decided already.
    #[error("ransomware guard trip #{id} was decided already")]
    TripResolved { id: i64 },
    /// Content could not be had right now (evicted and no destination answers).
    #[error("{what} is not available: {why}")]
    Unavailable { what: String, why: String },
    /// Content fetched back did not match its hash.
    #[error("{what}: fetched content does not match its hash (expected {expected}, got {got})")]
    HashMismatch {
        what: String,
        expected: String,
        got: String,
    },
    /// A workspace write based on a version that is not the current one any more.
    #[error("the workspace changed since version {based_on} (it is at version {current} now)")]
    StaleWorkspace { based_on: i64, current: i64 },
    /// A workspace document that is not acceptable.
    #[error("bad workspace: {why}")]
    BadWorkspace { why: String },
    /// No inbox entry of this id (for this user).
    #[error("no inbox entry #{id}")]
    NoSuchEntry { id: i64 },
    /// The entry was opened, accepted, declined or expired already.
    #[error("inbox entry #{id} is {state} already")]
    EntryDecided { id: i64, state: &'static str },
    /// What an entry sent was deleted or moved by its sender since.
    #[error("inbox entry #{id}: /{path} was deleted or moved since it was sent")]
    EntryGone { id: i64, path: String },
    /// A hand-off that makes no sense (to oneself, to the device one is on).
    #[error("{0}")]
    BadHandoff(&'static str),
    /// Accepting would take the recipient over their space.
    #[error("{user} has no room for this: {used} of {limit} bytes in use, {needed} more needed")]
    OverSpace {
        user: String,
        used: u64,
        limit: u64,
        needed: u64,
    },
    /// A SQLite error from the catalog.
    #[error("catalog: {0}")]
    Sql(SqlError),
    /// An I/O error on a file of the store.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The catalog writer thread is gone (the store is shutting down).
    #[error("the catalog writer has stopped")]
    WriterGone,
}

/// A failure of the catalog database itself (opaque: the catalog's engine is the store's own
/// business); [`StoreError::is_disk_full`] tells the one case callers act on.
#[derive(Debug)]
pub struct SqlError(pub(crate) rusqlite::Error);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Sql(SqlError(e))
    }
}

impl StoreError {
    /// Whether the disk (or the catalog's filesystem) is full: the request should be answered
    /// "insufficient storage", not as a failure of the box.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::Sql(SqlError(e)) => {
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
            }
            _ => false,
        }
    }

    /// Wraps an I/O error with the path it happened on, telling a full disk apart.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StoreError {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => StoreError::DiskFull { path },
            _ => StoreError::Io { path, source },
        }
    }
}

/// Result type of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
