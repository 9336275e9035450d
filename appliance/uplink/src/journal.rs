//! Turns the store's change journal into what each destination must hold.
//!
//! Applied in catalog transactions, with the journal cursor moved in the same transaction, so a
//! crash never loses or repeats a change. Renames become a delete of the old key and an upload
//! under the new one (S3 has no rename); a directory rename moves every key below it.

use std::collections::HashMap;

use microcloud_store::rusqlite::{params, OptionalExtension};
use microcloud_store::{Connection, Store, StoreError};

/// Changes applied per transaction: bounds how long one commit holds the writer.
const BATCH: usize = 2000;

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Applies pending journal entries; returns how many it applied.
pub(crate) async fn apply(store: &Store) -> Result<usize, StoreError> {
    let pending: bool = store.catalog_read(|c| {
        let cursor = cursor(c)?;
        Ok(
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM changes WHERE seq > ?1)")?
                .query_row([cursor], |r| r.get(0))?,
        )
    })?;
    if !pending {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let n = store.catalog_write(|c| apply_on(c, BATCH)).await?;
        total += n;
        if n < BATCH {
            return Ok(total);
        }
    }
}

fn cursor(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.prepare_cached("SELECT value FROM meta WHERE key = 'uplink_cursor'")?
            .query_row([], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

struct Change {
    seq: i64,
    user: i64,
    kind: String,
    path: String,
    to: Option<String>,
    blob: Option<i64>,
    is_dir: bool,
}

/// Applies up to `limit` journal entries inside the caller's transaction.
pub(crate) fn apply_on(c: &Connection, limit: usize) -> Result<usize, StoreError> {
    let cur = cursor(c)?;
    let changes: Vec<Change> = {
        let mut stmt = c.prepare_cached(
            "SELECT seq, user_id, kind, path, to_path, blob_id, is_dir FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![cur, limit as i64], |r| {
            Ok(Change {
                seq: r.get(0)?,
                user: r.get(1)?,
                kind: r.get(2)?,
                path: r.get(3)?,
                to: r.get(4)?,
                blob: r.get(5)?,
                is_dir: r.get(6)?,
            })
        })?;
        rows.collect::<Result<_, _>>()?
    };
    let Some(last) = changes.last().map(|c| c.seq) else {
        return Ok(0);
    };
    let dests: Vec<i64> = {
        let mut stmt = c.prepare_cached("SELECT id FROM destinations")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut users: HashMap<i64, String> = HashMap::new();
    let now = now_ns();
    for ch in &changes {
        if dests.is_empty() {
            break;
        }
        let user = match users.get(&ch.user) {
            Some(u) => u.clone(),
            None => {
                let name: Option<String> = c
                    .prepare_cached("SELECT name FROM users WHERE id = ?1")?
                    .query_row([ch.user], |r| r.get(0))
                    .optional()?;
                let Some(name) = name else { continue };
                users.insert(ch.user, name.clone());
                name
            }
        };
        let key = |p: &str| format!("{user}/{p}");
        for &d in &dests {
            match (ch.kind.as_str(), ch.is_dir) {
                ("put", _) => {
                    if let Some(b) = ch.blob {
                        want(c, d, &key(&ch.path), b, now)?
                    }
                }
                ("delete", _) => tombstone(c, d, &key(&ch.path), now)?,
                ("rename", false) => {
                    tombstone(c, d, &key(&ch.path), now)?;
                    if let (Some(to), Some(b)) = (&ch.to, ch.blob) {
                        want(c, d, &key(to), b, now)?;
                    }
                }
                ("rename", true) => {
                    let Some(to) = &ch.to else { continue };
                    let (from_prefix, to_prefix) =
                        (format!("{}/", key(&ch.path)), format!("{}/", key(to)));
                    let moved: Vec<(String, i64)> = {
                        let mut stmt = c.prepare_cached(
                            "SELECT key, blob_id FROM replicas WHERE dest_id = ?1 AND blob_id IS NOT NULL \
                             AND substr(key, 1, length(?2)) = ?2",
                        )?;
                        let rows = stmt
                            .query_map(params![d, from_prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
                        rows.collect::<Result<_, _>>()?
                    };
                    for (old, b) in moved {
                        tombstone(c, d, &old, now)?;
                        want(
                            c,
                            d,
                            &format!("{to_prefix}{}", &old[from_prefix.len()..]),
                            b,
                            now,
                        )?;
                    }
                }
                _ => {} // directories do not exist in object storage
            }
        }
    }
    c.prepare_cached("DELETE FROM changes WHERE seq <= ?1")?
        .execute([last])?;
    c.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('uplink_cursor', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([last.to_string()])?;
    Ok(changes.len())
}

/// Destination `d` must hold `blob` under `key`. A conflicted key stays conflicted: the object
/// someone else put there is not to be overwritten until a person decides.
fn want(c: &Connection, d: i64, key: &str, blob: i64, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns) \
         VALUES (?1, ?2, ?3, COALESCE((SELECT size FROM blobs WHERE id = ?3), 0), (SELECT hash FROM blobs WHERE id = ?3), 'pending', ?4) \
         ON CONFLICT (dest_id, key) DO UPDATE SET blob_id = excluded.blob_id, size = excluded.size, hash = excluded.hash, \
             state = CASE WHEN replicas.state = 'conflict' THEN 'conflict' ELSE 'pending' END, \
             dirty_ns = CASE WHEN replicas.state = 'pending' THEN replicas.dirty_ns ELSE excluded.dirty_ns END, \
             attempts = 0, next_ns = 0, last_error = NULL",
    )?
    .execute(params![d, key, blob, now])?;
    Ok(())
}

/// Destination `d` must no longer hold `key`.
fn tombstone(c: &Connection, d: i64, key: &str, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, dirty_ns) VALUES (?1, ?2, NULL, 0, NULL, 'pending', ?3) \
         ON CONFLICT (dest_id, key) DO UPDATE SET blob_id = NULL, size = 0, hash = NULL, \
             state = CASE WHEN replicas.state = 'conflict' THEN 'conflict' ELSE 'pending' END, \
             dirty_ns = CASE WHEN replicas.state = 'pending' THEN replicas.dirty_ns ELSE excluded.dirty_ns END, \
             attempts = 0, next_ns = 0, last_error = NULL",
    )?
    .execute(params![d, key, now])?;
    Ok(())
}
