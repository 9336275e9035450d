//! Cloud destinations: their configuration in the uplink state, their secrets in files only the
//! uplink reads.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use microcloud_remotes::{Credentials, Remote, RemoteConfig, RemoteError};
use microcloud_store::{Store, StoreError};
use microcloud_uplink_state::{DestinationRecord, StateError, UplinkState};

use crate::blocking;

/// A configured destination.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Its id in the uplink state.
    pub id: i64,
    /// Name chosen by the owner.
    pub name: String,
    /// Where it is (no secrets).
    pub config: RemoteConfig,
}

/// What can go wrong managing destinations.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The name is taken.
    #[error("a destination named {name:?} already exists")]
    Exists { name: String },
    /// No such destination.
    #[error("no destination named {name:?}")]
    NotFound { name: String },
    /// The name is unusable.
    #[error("invalid destination name {name:?}: use 1-64 letters, digits, '-', '_' or '.'")]
    InvalidName { name: String },
    /// The secret file could not be written or read.
    #[error("{path}: {source}")]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The test write, read and delete failed.
    #[error("destination {name} failed its test (write, read back, delete): {source}")]
    Probe { name: String, source: RemoteError },
    /// The remote could not be set up.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The catalog failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The uplink state failed.
    #[error(transparent)]
    State(StateError),
}

impl From<StateError> for DestinationError {
    fn from(e: StateError) -> DestinationError {
        match e {
            StateError::DestinationExists { name } => DestinationError::Exists { name },
            StateError::Store(e) => DestinationError::Store(e),
            e => DestinationError::State(e),
        }
    }
}

/// The one rule for destination names (microcloud_destination), as this crate's error.
fn check_name(name: &str) -> Result<(), DestinationError> {
    microcloud_destination::check_name(name).map_err(|_| DestinationError::InvalidName {
        name: name.to_owned(),
    })
}

/// Where a destination's secret lives.
pub fn secret_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir
        .join(microcloud_constants::SECRETS_DIR)
        .join(format!("{name}.json"))
}

/// Where a new destination's secret waits for the uplink (see `SECRETS_INBOX_DIR`).
fn inbox_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir
        .join(microcloud_constants::SECRETS_INBOX_DIR)
        .join(format!("{name}.json"))
}

fn secret_err(path: &Path) -> impl FnOnce(std::io::Error) -> DestinationError {
    let path = path.to_owned();
    move |source| DestinationError::Secret { path, source }
}

/// Stores a new destination's secret in the inbox: the page that adds it runs in the LAN
/// service, which cannot see the secrets directory; the uplink moves it there before first use.
fn write_secret(data_dir: &Path, name: &str, creds: &Credentials) -> Result<(), DestinationError> {
    let dir = data_dir.join(microcloud_constants::SECRETS_INBOX_DIR);
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(secret_err(&dir))?;
        // The uplink (another user in the agents' group, on the appliance) takes files out.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770))
            .map_err(secret_err(&dir))?;
    }
    let path = inbox_path(data_dir, name);
    let json = serde_json::to_vec(creds).expect("credentials serialize");
    microcloud_store::write_file_durably(&path, &json, 0o640).map_err(secret_err(&path))
}

/// Moves a secret waiting in the inbox into the secrets directory (replacing an older one), as a
/// new file of the reader's own, mode 0600: the inbox copy belongs to whoever typed it in.
fn adopt_secret(data_dir: &Path, name: &str) -> Result<(), DestinationError> {
    let from = inbox_path(data_dir, name);
    let bytes = match std::fs::read(&from) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(secret_err(&from)(e)),
    };
    let dir = data_dir.join(microcloud_constants::SECRETS_DIR);
    std::fs::create_dir_all(&dir).map_err(secret_err(&dir))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(secret_err(&dir))?;
    let to = secret_path(data_dir, name);
    microcloud_store::write_file_durably(&to, &bytes, 0o600).map_err(secret_err(&to))?;
    std::fs::remove_file(&from).map_err(secret_err(&from))?;
    Ok(())
}

fn read_secret(data_dir: &Path, name: &str) -> Result<Option<Credentials>, DestinationError> {
    adopt_secret(data_dir, name)?;
    let path = secret_path(data_dir, name);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| DestinationError::Secret {
                    path,
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DestinationError::Secret { path, source }),
    }
}

/// Deletes the secrets of destinations that no longer exist (a destination removed from the
/// page, whose process cannot reach the secrets directory). Run by the uplink.
pub fn collect_stray_secrets(data_dir: &Path, names: &[String]) {
    let dir = data_dir.join(microcloud_constants::SECRETS_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if !names.iter().any(|n| n == name) {
            match std::fs::remove_file(e.path()) {
                Ok(()) => log::info!("uplink: deleted the secret of removed destination {name}"),
                Err(err) => log::warn!("uplink: deleting {}: {err}", e.path().display()),
            }
        }
    }
}

/// A client for destination `d`, with its secret.
pub fn remote(store: &Store, d: &Destination) -> Result<Remote, DestinationError> {
    let creds = read_secret(store.dir(), &d.name)?;
    Ok(Remote::new(d.config.clone(), creds)?)
}

/// Tests a destination before it is added: a real write, read back and delete. Saves nothing.
pub async fn test(
    config: RemoteConfig,
    creds: Option<Credentials>,
) -> Result<(), DestinationError> {
    let name = config.name.clone();
    check_name(&name)?;
    let remote = Remote::new(config, creds)?;
    remote
        .probe()
        .await
        .map_err(|source| DestinationError::Probe { name, source })
}

/// Adds a destination: stores the secret, optionally tests the destination with a real write,
/// read and delete, then records it and queues every existing file for it (backfill).
pub async fn add(
    store: &Store,
    config: RemoteConfig,
    creds: Option<Credentials>,
    probe: bool,
) -> Result<Destination, DestinationError> {
    let name = config.name.clone();
    check_name(&name)?;
    if list(store)?.iter().any(|d| d.name == name) {
        return Err(DestinationError::Exists { name });
    }
    let remote = Remote::new(config.clone(), creds.clone())?;
    if probe {
        remote
            .probe()
            .await
            .map_err(|source| DestinationError::Probe {
                name: name.clone(),
                source,
            })?;
    }
    if let Some(c) = &creds {
        write_secret(store.dir(), &name, c)?;
    }
    let json = serde_json::to_string(&config).expect("config serializes");
    let state = UplinkState::open(store.dir())?;
    let (s, n) = (store.clone(), name.clone());
    // Queues every existing file for it (backfill), and lowers the levels it lacks.
    let record = blocking(move || state.add_destination(&s, &n, &json)).await?;
    Ok(Destination {
        id: record.id,
        name,
        config,
    })
}

/// A destination as the uplink state records it, with its configuration read.
fn from_record(d: DestinationRecord) -> Option<Destination> {
    match serde_json::from_str(&d.config) {
        Ok(config) => Some(Destination {
            id: d.id,
            name: d.name,
            config,
        }),
        Err(e) => {
            log::error!(
                "destination {}: unreadable configuration in the uplink state: {e}",
                d.name
            );
            None
        }
    }
}

/// Every destination of the data directory of `store`, by name.
pub fn list(store: &Store) -> Result<Vec<Destination>, DestinationError> {
    list_in(&UplinkState::open_read_only(store.dir())?)
}

/// Every destination recorded in `state`, by name.
pub fn list_in(state: &UplinkState) -> Result<Vec<Destination>, DestinationError> {
    Ok(state
        .destinations()?
        .into_iter()
        .filter_map(from_record)
        .collect())
}

/// Removes a destination and what the uplink tracked for it; its secret is deleted. Objects
/// already in the bucket stay there.
pub async fn remove(store: &Store, name: &str) -> Result<(), DestinationError> {
    let state = UplinkState::open(store.dir())?;
    let (s, n) = (store.clone(), name.to_owned());
    let found = blocking(move || state.remove_destination(&s, &n)).await?;
    if !found {
        return Err(DestinationError::NotFound {
            name: name.to_owned(),
        });
    }
    // The LAN service cannot see the secrets directory: what it cannot delete, the uplink
    // does (collect_stray_secrets).
    for path in [
        inbox_path(store.dir(), name),
        secret_path(store.dir(), name),
    ] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) => {}
            Err(source) => return Err(DestinationError::Secret { path, source }),
        }
    }
    Ok(())
}
