//! The scrape token for `/metrics`: a random token the owner makes on the page for a Prometheus
//! server, which then presents it instead of an administrator's password.
//!
//! Only the token's BLAKE3 hash is kept, as lowercase hex on one line in `DATA/metrics-token`
//! (mode 0600, written durably); the token itself is shown once, when it is made. A new token
//! replaces the old one; removing the file turns token access off.

use std::path::{Path, PathBuf};

use base64::Engine;
use microcloud_constants::METRICS_TOKEN_FILE;

use crate::AccountError;

/// Where the token's hash is kept.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(METRICS_TOKEN_FILE)
}

/// The hash kept for `token`: lowercase hex BLAKE3 of its UTF-8 bytes.
pub fn hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Makes a new token (256 random bits, URL-safe base64), keeps its hash in place of any earlier
/// one, and returns the token: the only time it is ever seen.
pub fn create(data_dir: &Path) -> Result<String, AccountError> {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let p = path(data_dir);
    microcloud_store::write_file_durably(&p, format!("{}\n", hash(&token)).as_bytes(), 0o600)
        .map_err(|source| AccountError::Io {
            path: p.clone(),
            source,
        })?;
    Ok(token)
}

/// Removes the token; `false` when there was none.
pub fn remove(data_dir: &Path) -> Result<bool, AccountError> {
    let p = path(data_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(AccountError::Io { path: p, source }),
    }
}

/// Whether a token is set.
pub fn is_set(data_dir: &Path) -> bool {
    std::fs::read_to_string(path(data_dir)).is_ok_and(|s| s.trim().len() == 64)
}

/// Whether `given` is the current token (hashes compared in constant time).
pub fn matches(data_dir: &Path, given: &str) -> bool {
    let Ok(stored) = std::fs::read_to_string(path(data_dir)) else {
        return false;
    };
    let Ok(stored) = blake3::Hash::from_hex(stored.trim()) else {
        return false;
    };
    !given.is_empty() && blake3::hash(given.as_bytes()) == stored
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn token_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_set(dir.path()) && !matches(dir.path(), ""));
        let t = create(dir.path()).unwrap();
        assert_eq!(t.len(), 43);
        let stored = std::fs::read_to_string(path(dir.path())).unwrap();
        assert_eq!(stored, format!("{}\n", hash(&t)));
        assert!(!stored.contains(&t), "the token itself is never stored");
        assert_eq!(
            std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert!(
            is_set(dir.path())
                && matches(dir.path(), &t)
                && !matches(dir.path(), "guess")
                && !matches(dir.path(), "")
        );
        let t2 = create(dir.path()).unwrap();
        assert_ne!(t, t2);
        assert!(
            !matches(dir.path(), &t) && matches(dir.path(), &t2),
            "a new token replaces the old"
        );
        assert!(remove(dir.path()).unwrap());
        assert!(!remove(dir.path()).unwrap());
        assert!(!matches(dir.path(), &t2) && !is_set(dir.path()));
    }
}
