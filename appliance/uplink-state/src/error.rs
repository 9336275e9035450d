//! The uplink state's error type: every variant names the file or the destination that failed.

use std::path::{Path, PathBuf};

use microcloud_store::StoreError;

/// What went wrong reading or changing the uplink's state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed (locked for too long, damaged, disk full...).
    #[error("{path}: {source}")]
    Db { path: PathBuf, source: DbError },
    /// A file of the state could not be made or opened.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The state was written by a newer microcloud.
    #[error("{path}: uplink state schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The uplink's tables of an older catalog could not be copied into a new state file.
    #[error("{path}: importing the uplink's tables from the catalog: {source}")]
    Import { path: PathBuf, source: DbError },
    /// A change was asked of a state opened read-only.
    #[error("{path}: opened read-only")]
    ReadOnly { path: PathBuf },
    /// The name is taken.
    #[error("a destination named {name:?} already exists")]
    DestinationExists { name: String },
    /// The store failed (reading the journal, walking the namespace, setting durability levels).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A failure of the state's database engine (opaque: which engine is this crate's business).
#[derive(Debug)]
pub struct DbError(pub(crate) rusqlite::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl DbError {
    /// Whether the disk holding the state is full.
    pub fn is_disk_full(&self) -> bool {
        self.0.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
    }
}

/// Inside the crate, database errors are raised without a path; the public entry points name
/// the file (see [`StateError::at`]).
impl From<rusqlite::Error> for StateError {
    fn from(e: rusqlite::Error) -> StateError {
        StateError::Db {
            path: PathBuf::new(),
            source: DbError(e),
        }
    }
}

impl StateError {
    /// Names `path` in an error raised without one.
    pub(crate) fn at(self, path: &Path) -> StateError {
        match self {
            StateError::Db { path: p, source } if p.as_os_str().is_empty() => StateError::Db {
                path: path.to_owned(),
                source,
            },
            e => e,
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> StateError {
        StateError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Result type of the uplink state.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
