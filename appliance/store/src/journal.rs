//! What a namespace change leaves behind inside its transaction: the journal entry downstream
//! stages read, the blobs it freed, and the weight it adds to the ransomware guard's count.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::paths::canonical;
use crate::UserId;

/// Appends one change to the journal (see the `changes` table), inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn journal(
    conn: &Connection,
    user: UserId,
    kind: &str,
    path: &str,
    to: Option<&str>,
    blob: Option<i64>,
    is_dir: bool,
    now: i64,
) -> Result<()> {
    let to = to.map(canonical).transpose()?;
    conn.prepare_cached(
        "INSERT INTO changes (user_id, kind, path, to_path, blob_id, is_dir, at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![user.0, kind, canonical(path)?, to, blob, is_dir, now])?;
    Ok(())
}

/// A blob that no node refers to any more, to be unlinked after the commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freed {
    pub id: i64,
    pub size: u64,
    /// The content was in the catalog (gone with the row): no file to unlink.
    pub inline: bool,
}

/// What a namespace change did besides itself, for the caller to act on after the commit.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Blobs nothing refers to any more (their files are unlinked after the commit).
    pub freed: Vec<Freed>,
    /// Files overwritten, deleted or moved, weighted as the ransomware guard counts them.
    pub touched: u32,
    /// Some of them looked like encryption (random content, an unusual new extension).
    pub suspicious: bool,
}

/// Deletes the blob row when no node and no version refers to it any more.
pub(crate) fn release_blob(conn: &Connection, blob: Option<i64>) -> Result<Option<Freed>> {
    let Some(blob) = blob else { return Ok(None) };
    let inline: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM inline_blobs WHERE id = ?1)")?
        .query_row([blob], |r| r.get(0))?;
    let size: Option<i64> = conn
        .prepare_cached(
            "DELETE FROM blobs WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM nodes WHERE blob_id = ?1) \
             AND NOT EXISTS (SELECT 1 FROM versions WHERE blob_id = ?1) RETURNING size",
        )?
        .query_row([blob], |r| r.get(0))
        .optional()?;
    Ok(size.map(|s| Freed {
        id: blob,
        size: s as u64,
        inline,
    }))
}
