//! The one rule for names and paths: what the store accepts, and the canonical form the journal
//! and the versions use. Pure functions, below everything else in the crate.

use crate::error::{Result, StoreError};

/// Longest path of a file in bytes (its components joined by `/`). A destination's object key is
/// its prefix (at most [`MAX_PREFIX_LEN`] bytes), the user's name (at most 64) and this path, each
/// followed by `/`: 128 + 1 + 64 + 1 + 768 stays under S3's 1,024-byte key limit, so every name the
/// store accepts can be stored at every destination.
pub const MAX_PATH_LEN: usize = 768;
/// Longest name of one file or folder, in bytes (what common file systems and S3 tools hold).
pub const MAX_NAME_LEN: usize = 255;
/// Longest prefix a destination may put before every key.
pub const MAX_PREFIX_LEN: usize = 128;

/// Splits a store path ("/a/b/", "a/b", "/") into validated components. This is the one rule for
/// names: WebDAV, the page and restore all come through it.
pub fn components(path: &str) -> Result<Vec<&str>> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for c in &comps {
        check_name(c)?;
    }
    let len = comps.iter().map(|c| c.len()).sum::<usize>() + comps.len().saturating_sub(1);
    if len > MAX_PATH_LEN {
        return Err(StoreError::InvalidName {
            name: shown(comps.last().copied().unwrap_or_default()),
            why: "the path is longer than 768 bytes, which no cloud destination can store",
        });
    }
    Ok(comps)
}

/// Checks a whole path against the store's naming rule without touching the catalog.
pub fn check_path(path: &str) -> Result<()> {
    components(path).map(drop)
}

/// A name as it may appear in messages and logs: control characters escaped, at most 64 characters.
fn shown(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(64)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    s
}

/// Refuses names that could escape a directory, that no client can represent, or that no
/// destination can store.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "empty name"
    } else if name == "." || name == ".." {
        "relative path component"
    } else if name.contains('/') {
        "contains a slash"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name.chars().any(char::is_control) {
        "contains a control character (such as a line break or a tab)"
    } else if name.len() > MAX_NAME_LEN {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName {
        name: shown(name),
        why,
    })
}

/// The canonical form of a path in the journal: components joined by '/', no leading slash.
pub fn canonical(path: &str) -> Result<String> {
    Ok(components(path)?.join("/"))
}
