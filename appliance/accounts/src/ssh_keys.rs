//! The ssh public keys allowed into the maintenance shell, kept in `DATA/ssh/authorized_keys`.
//!
//! The page and the CLI edit this file through these functions only; on the appliance sshd reads
//! it for root (through `AuthorizedKeysCommand`), so the agents never write outside their data
//! directory. Only plain keys are accepted: no `command=` or other options, one key per entry.

use std::path::{Path, PathBuf};

use base64::Engine;
use microcloud_constants::AUTHORIZED_KEYS_FILE;
use sha2::Digest;

use crate::AccountError;

/// Key types sshd accepts that we allow.
const TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// One authorized key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Key {
    /// Short stable id (from the key's bytes), for removing it.
    pub id: String,
    /// Key type, e.g. `ssh-ed25519`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The comment after the key, often user@host.
    pub comment: String,
    /// OpenSSH's SHA256 fingerprint, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The line as stored.
    #[serde(skip)]
    pub line: String,
}

/// Where the keys live.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(AUTHORIZED_KEYS_FILE)
}

fn bad(why: impl Into<String>) -> AccountError {
    AccountError::BadSshKey(why.into())
}

/// Parses one public key line (`TYPE BASE64 [COMMENT]`), refusing anything else.
pub fn parse(text: &str) -> Result<Key, AccountError> {
    let text = text.trim();
    if text.lines().count() > 1 {
        return Err(bad("give one key, on one line"));
    }
    if text.len() > 16 * 1024 {
        return Err(bad("too long for a public key"));
    }
    let mut parts = text.splitn(3, char::is_whitespace);
    let kind = parts.next().unwrap_or("");
    if !TYPES.contains(&kind) {
        return Err(bad(format!(
            "it must start with the key type ({}); options such as command= are not accepted; paste the .pub file",
            TYPES[..3].join(", ")
        )));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next().unwrap_or(""))
        .map_err(|_| bad("the key's data is not valid base64"))?;
    // The blob starts with its own type as an SSH string: a truncated or mislabelled paste fails.
    let inner = blob
        .get(0..4)
        .map(|l| u32::from_be_bytes(l.try_into().unwrap()) as usize)
        .and_then(|l| blob.get(4..4 + l))
        .ok_or_else(|| bad("the key's data is truncated"))?;
    if inner != kind.as_bytes() {
        return Err(bad("the key's data does not match its type"));
    }
    if blob.len() < 4 + inner.len() + 16 {
        return Err(bad("the key's data is truncated"));
    }
    let comment = parts.next().unwrap_or("").trim().to_owned();
    if comment.chars().any(|c| c.is_control()) || comment.len() > 256 {
        return Err(bad("the comment has control characters or is too long"));
    }
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha2::Sha256::digest(&blob))
    );
    let id = blake3::hash(&blob).to_hex()[..16].to_owned();
    let line = if comment.is_empty() {
        format!(
            "{kind} {}",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        )
    } else {
        format!(
            "{kind} {} {comment}",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        )
    };
    Ok(Key {
        id,
        kind: kind.to_owned(),
        comment,
        fingerprint,
        line,
    })
}

/// The keys, in file order (lines that do not parse are skipped and logged by the caller).
pub fn list(data_dir: &Path) -> Result<Vec<Key>, AccountError> {
    let p = path(data_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(AccountError::Io { path: p, source }),
    };
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| parse(l).ok())
        .collect())
}

fn write(data_dir: &Path, keys: &[Key]) -> Result<(), AccountError> {
    let p = path(data_dir);
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| AccountError::Io { path, source }
    };
    let dir = p.parent().expect("keys file has a directory");
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let mut text = String::from(
        "# Managed by microcloud (the setup page, `microcloud ssh-key`): edits here are kept.\n",
    );
    for k in keys {
        text.push_str(&k.line);
        text.push('\n');
    }
    microcloud_store::write_file_durably(&p, text.as_bytes(), 0o666).map_err(err(&p))?;
    Ok(())
}

/// Adds a key; adding one that is there already is refused.
pub fn add(data_dir: &Path, text: &str) -> Result<Key, AccountError> {
    let key = parse(text)?;
    let mut keys = list(data_dir)?;
    if keys.iter().any(|k| k.id == key.id) {
        return Err(bad(format!(
            "this key is already authorized ({})",
            key.fingerprint
        )));
    }
    keys.push(key.clone());
    write(data_dir, &keys)?;
    Ok(key)
}

/// Removes the key with this id (or fingerprint).
pub fn remove(data_dir: &Path, id: &str) -> Result<Key, AccountError> {
    let mut keys = list(data_dir)?;
    let Some(i) = keys.iter().position(|k| k.id == id || k.fingerprint == id) else {
        return Err(AccountError::NoSuchKey(id.to_owned()));
    };
    let key = keys.remove(i);
    write(data_dir, &keys)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ssh-keygen -t ed25519 output (a throwaway key).
    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ann@tablet";

    #[test]
    fn parse_add_list_remove() {
        let k = parse(KEY).unwrap();
        assert_eq!(k.kind, "ssh-ed25519");
        assert_eq!(k.comment, "ann@tablet");
        assert!(k.fingerprint.starts_with("SHA256:"));
        for bad in [
            "",
            "command=\"rm -rf /\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
            "ssh-ed25519 !!!",
            &format!("{KEY}\n{KEY}"),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        let dir = tempfile::tempdir().unwrap();
        add(dir.path(), KEY).unwrap();
        assert!(add(dir.path(), KEY).is_err(), "duplicate");
        assert_eq!(list(dir.path()).unwrap(), vec![k.clone()]);
        remove(dir.path(), &k.id).unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(remove(dir.path(), &k.id).is_err());
    }
}
