//! User accounts: password hashing with argon2 and a verification cache.
//!
//! Argon2 is deliberately slow (tens of milliseconds), which is right for a sign-in and wrong for
//! WebDAV, where every request carries Basic credentials. After one successful argon2 check, the
//! pair (user, password) is remembered as a keyed BLAKE3 digest under a key generated per process,
//! so later requests cost a hash lookup; the cache never holds a password, and a password change
//! invalidates it because the stored hash is part of the digest.
//!
//! Also here: per-device passwords ([`devices`]), the one-time setup code of onboarding ([`setup`]), the maintenance shell's
//! authorized ssh keys ([`ssh_keys`]), the other half of who may use the box, the one rule
//! against guessing for every credential ([`throttle`]), the `/metrics` scrape token
//! ([`metrics_token`]) and [`log_safe`] for names typed by clients.

pub mod codes;
pub mod devices;
pub mod metrics_token;
pub mod setup;
pub mod ssh_keys;
pub mod throttle;

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use microcloud_store::{Store, StoreError, User};

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The password is unusable.
    #[error("password refused: {0}")]
    WeakPassword(&'static str),
    /// Hashing failed (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The setup code given is not the box's.
    #[error("wrong setup code: it is shown on the box's console, in its journal and by `microcloud setup-code`")]
    WrongSetupCode,
    /// An ssh public key was refused.
    #[error("ssh key refused: {0}")]
    BadSshKey(String),
    /// No authorized key has this id.
    #[error("no ssh key with id {0:?}")]
    NoSuchKey(String),
    /// A file of the accounts could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Most characters of a client's text that go into a log line.
const LOG_SAFE_MAX: usize = 64;

/// A name (or any text) typed by a client, fit for a log line: control and other invisible
/// characters and backslashes escaped as Rust's `escape_debug` does (`\n`, `\u{1b}`), cut to 64
/// characters with an ellipsis. Every name that comes from a request goes through this before it
/// is logged, so that no client can forge log lines or hide text in them.
pub fn log_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(LOG_SAFE_MAX + 8));
    for (i, c) in s.chars().enumerate() {
        if i == LOG_SAFE_MAX {
            out.push('…');
            break;
        }
        match c {
            '"' | '\'' => out.push(c),
            c => out.extend(c.escape_debug()),
        }
    }
    out
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes `password` into a PHC string with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::WeakPassword(
            "it must be at least 8 characters long",
        ));
    }
    if password.len() > 1024 {
        return Err(AccountError::WeakPassword(
            "it must be at most 1024 bytes long",
        ));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Checks `password` against a PHC string.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Creates a user with a hashed password in `store`.
pub fn add_user(
    store: &Store,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<User, AccountError> {
    microcloud_store::check_user_name(name)?;
    let hash = hash_password(password)?;
    store.add_user(name, &hash, admin)?;
    if admin {
        // The first administrator ends onboarding, whichever way it was made.
        setup::retire(store.dir())?;
    }
    Ok(store.user(name)?.expect("user just added"))
}

/// Verifies Basic credentials against the store, remembering successes.
pub struct Authenticator {
    store: Store,
    key: [u8; 32],
    verified: Mutex<HashMap<[u8; 32], User>>,
    decoy: std::sync::OnceLock<String>,
}

/// Most remembered credentials before the cache is cleared (bounds memory under attack).
const CACHE_MAX: usize = 4096;

impl Authenticator {
    /// An authenticator over `store` with a fresh per-process key.
    pub fn new(store: Store) -> Authenticator {
        Authenticator {
            store,
            key: rand::random(),
            verified: Mutex::new(HashMap::new()),
            decoy: std::sync::OnceLock::new(),
        }
    }

    fn decoy(&self) -> &str {
        self.decoy
            .get_or_init(|| hash_password("decoy password, never valid").expect("hash a decoy"))
    }

    fn digest(&self, name: &str, password: &str, phc: &str) -> [u8; 32] {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        for part in [name, password, phc] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        *h.finalize().as_bytes()
    }

    /// The user, when these exact credentials were verified before (no argon2 work).
    pub fn cached(&self, name: &str, password: &str) -> Result<Option<User>, AccountError> {
        let Some(user) = self.store.user(name)? else {
            return Ok(None);
        };
        let digest = self.digest(name, password, &user.password_hash);
        Ok(self
            .verified
            .lock()
            .unwrap()
            .contains_key(&digest)
            .then_some(user))
    }

    /// The user these credentials belong to, or `None` when they are wrong.
    pub fn authenticate(&self, name: &str, password: &str) -> Result<Option<User>, AccountError> {
        let Some(user) = self.store.user(name)? else {
            // Spend the same argon2 time as for a real user, so that timing does not tell
            // which names exist.
            verify_password(self.decoy(), password);
            return Ok(None);
        };
        let digest = self.digest(name, password, &user.password_hash);
        if self.verified.lock().unwrap().contains_key(&digest) {
            return Ok(Some(user));
        }
        if !verify_password(&user.password_hash, password) {
            return Ok(None);
        }
        let mut cache = self.verified.lock().unwrap();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(digest, user.clone());
        Ok(Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "wrong horse"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn log_safe_escapes_and_cuts() {
        assert_eq!(log_safe("ann"), "ann");
        assert_eq!(
            log_safe("a\nFAKE: b\r\x1b[31m\t\0"),
            "a\\nFAKE: b\\r\\u{1b}[31m\\t\\0"
        );
        assert_eq!(log_safe("back\\slash \"q\" 'q'"), "back\\\\slash \"q\" 'q'");
        assert_eq!(log_safe("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(log_safe("héllo wörld"), "héllo wörld");
        let long = log_safe(&"x".repeat(1000));
        assert_eq!(long, format!("{}…", "x".repeat(64)));
        assert_eq!(
            log_safe(&"\n".repeat(100))
                .chars()
                .filter(|c| *c == 'n')
                .count(),
            64
        );
        assert!(!log_safe(&"\u{7f}\u{85}\u{2028}".repeat(10))
            .chars()
            .any(char::is_control));
    }

    #[test]
    fn authenticator_checks_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            microcloud_store::OpenOptions {
                create: true,
                ..Default::default()
            },
        )
        .unwrap();
        add_user(&store, "alice", "alice-secret", false).unwrap();
        let auth = Authenticator::new(store.clone());
        assert!(auth
            .authenticate("alice", "alice-secret")
            .unwrap()
            .is_some());
        assert!(auth
            .authenticate("alice", "alice-secret")
            .unwrap()
            .is_some());
        assert!(auth
            .authenticate("alice", "wrong-secret")
            .unwrap()
            .is_none());
        assert!(auth.authenticate("bob", "alice-secret").unwrap().is_none());
        // A password change invalidates the remembered pair.
        store
            .set_password("alice", &hash_password("new-secret!").unwrap())
            .unwrap();
        assert!(auth
            .authenticate("alice", "alice-secret")
            .unwrap()
            .is_none());
        assert!(auth.authenticate("alice", "new-secret!").unwrap().is_some());
    }
}
