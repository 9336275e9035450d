//! The one-time setup code: proof that whoever onboards the box can see its console, its
//! journal or its shell.
//!
//! The code exists while no administrator does. It is made on the box (never shipped), kept in
//! `DATA/setup-code` (mode 0640: the agents' group, for `microcloud setup-code` in the shell), shown by the gateway on its terminal or console and by
//! `microcloud setup-code`, and removed when the first administrator is created, whether by the
//! page or by `microcloud user add NAME --admin`.

#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use microcloud_constants::SETUP_CODE_FILE;
use microcloud_store::{Store, StoreError, User};

use crate::AccountError;

/// Characters of a code: no 0/O or 1/I to misread on a console.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a code (5 bits each: 60 bits).
const CODE_LEN: usize = 12;

/// Where the code is kept.
pub fn code_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SETUP_CODE_FILE)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AccountError + '_ {
    move |source| AccountError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The setup code while onboarding is pending (made on first call), `None` once it is done.
pub fn code(store: &Store) -> Result<Option<String>, AccountError> {
    if store.has_admin()? {
        retire(store.dir())?;
        return Ok(None);
    }
    let path = code_path(store.dir());
    match std::fs::read_to_string(&path) {
        Ok(c) if normalize(&c).len() == CODE_LEN => return Ok(Some(c.trim().to_owned())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(&path)(e)),
    }
    let raw: String = (0..CODE_LEN)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    let shown = format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]);
    // The gateway (announcing it) and `microcloud setup-code` may make it at the same moment:
    // the code is written under a name of its own and linked into place only if no code is
    // there yet, so that both show the same one.
    let dir = store.dir();
    let own = dir.join(format!(
        ".setup-code-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    microcloud_store::write_file_durably(&own, format!("{shown}\n").as_bytes(), 0o640)
        .map_err(io_err(&own))?;
    let linked = std::fs::hard_link(&own, &path);
    let _ = std::fs::remove_file(&own);
    match linked {
        Ok(()) => {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(dir))?;
            Ok(Some(shown))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let c = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            if normalize(&c).len() == CODE_LEN {
                Ok(Some(c.trim().to_owned()))
            } else {
                // An unusable file (cut short by a crash before this scheme): replace it.
                microcloud_store::write_file_durably(&path, format!("{shown}\n").as_bytes(), 0o640)
                    .map_err(io_err(&path))?;
                Ok(Some(shown))
            }
        }
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// The code as typed, reduced to its characters (case, spaces and dashes do not matter).
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether `given` is the current code (compared in constant time).
pub fn matches(data_dir: &Path, given: &str) -> bool {
    let Ok(stored) = std::fs::read_to_string(code_path(data_dir)) else {
        return false;
    };
    let (a, b) = (normalize(&stored), normalize(given));
    a.len() == CODE_LEN && blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

/// Removes the code: onboarding is over.
pub fn retire(data_dir: &Path) -> Result<(), AccountError> {
    let path = code_path(data_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// What the owner gives to onboard the box.
pub struct Onboarding<'a> {
    /// The setup code as typed.
    pub code: &'a str,
    /// The first administrator's name.
    pub name: &'a str,
    /// Their password.
    pub password: &'a str,
    /// An ssh public key for the maintenance shell ("" for none).
    pub ssh_key: &'a str,
}

/// Checks the code, creates the first administrator, installs the ssh key, retires the code.
/// Everything is validated before anything is written.
pub fn onboard(store: &Store, o: &Onboarding) -> Result<User, AccountError> {
    if store.has_admin()? {
        return Err(StoreError::AdminExists.into());
    }
    if !matches(store.dir(), o.code) {
        return Err(AccountError::WrongSetupCode);
    }
    microcloud_store::check_user_name(o.name)?;
    let hash = crate::hash_password(o.password)?;
    let key = if o.ssh_key.trim().is_empty() {
        None
    } else {
        Some(crate::ssh_keys::parse(o.ssh_key)?)
    };
    store.add_first_admin(o.name, &hash)?;
    if let Some(key) = key {
        crate::ssh_keys::add(store.dir(), &key.line)?;
    }
    retire(store.dir())?;
    Ok(store.user(o.name)?.expect("user just added"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_makers_at_once_agree_on_one_code() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(
                dir.path(),
                microcloud_store::OpenOptions {
                    create: true,
                    ..Default::default()
                },
            )
            .unwrap();
            let codes: Vec<String> = std::thread::scope(|s| {
                let makers: Vec<_> = (0..4)
                    .map(|_| s.spawn(|| code(&store).unwrap().unwrap()))
                    .collect();
                makers.into_iter().map(|m| m.join().unwrap()).collect()
            });
            assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
            assert!(matches(dir.path(), &codes[0]));
        }
    }

    #[test]
    fn code_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            microcloud_store::OpenOptions {
                create: true,
                ..Default::default()
            },
        )
        .unwrap();
        let c = code(&store).unwrap().unwrap();
        assert_eq!(c.len(), 14);
        assert_eq!(
            code(&store).unwrap().unwrap(),
            c,
            "the code is stable until used"
        );
        let mode = std::fs::metadata(code_path(dir.path()))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        // 0640, less what the data directory keeps from its group (the store's modes).
        assert_eq!(
            mode,
            0o640 & microcloud_store::Modes::of(dir.path()).unwrap().file
        );
        assert!(matches(dir.path(), &c.to_lowercase().replace('-', " ")));
        assert!(!matches(dir.path(), "AAAA-BBBB-CCCC"));
        let wrong = Onboarding {
            code: "AAAA-BBBB-CCCC",
            name: "ann",
            password: "a good password",
            ssh_key: "",
        };
        assert!(matches!(
            onboard(&store, &wrong),
            Err(AccountError::WrongSetupCode)
        ));
        let bad_key = Onboarding {
            code: &c,
            name: "ann",
            password: "a good password",
            ssh_key: "ssh-ed25519 nonsense",
        };
        assert!(onboard(&store, &bad_key).is_err());
        assert!(
            store.users().unwrap().is_empty(),
            "nothing written when the key is bad"
        );
        let ok = Onboarding {
            code: &c,
            name: "ann",
            password: "a good password",
            ssh_key: "",
        };
        let u = onboard(&store, &ok).unwrap();
        assert!(u.admin);
        assert!(!code_path(dir.path()).exists(), "single use");
        assert!(code(&store).unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("setup-code"))
                .count(),
            0
        );
        let again = Onboarding {
            code: &c,
            name: "bob",
            password: "a good password",
            ssh_key: "",
        };
        assert!(onboard(&store, &again).is_err());
        assert_eq!(store.users().unwrap().len(), 1);
    }
}
