//! The state's tables, their migrations, and the one-time import of the uplink's tables from a
//! catalog made before this crate existed.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::error::{DbError, Result, StateError};

/// Version of the schema this build writes; a newer one is refused.
pub(crate) const VERSION: i64 = 3;

const SCHEMA_V1: &str = r#"
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,   -- schema_version | cursor (journal position taken in) | bwlimit
    value  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE destinations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    config      TEXT NOT NULL,          -- JSON, never a secret (secrets live in DATA/secrets/)
    created_ns  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'ok',   -- ok | retrying | down
    last_error  TEXT,
    last_ok_ns  INTEGER
);

-- What each destination must hold, one row per object key: the content it should have
-- (blob_id NULL: the object must be deleted) and how far that is.
CREATE TABLE replicas (
    dest_id      INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    blob_id      INTEGER,
    size         INTEGER NOT NULL DEFAULT 0,
    hash         BLOB,
    state        TEXT NOT NULL,         -- pending | done | conflict
    remote_etag  TEXT,                  -- what we last wrote there, for If-Match
    dirty_ns     INTEGER NOT NULL,      -- since when it waits (oldest first)
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ns      INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    PRIMARY KEY (dest_id, key)
) WITHOUT ROWID;
CREATE INDEX replicas_queue ON replicas(dest_id, state, dirty_ns);
CREATE INDEX replicas_blob ON replicas(blob_id);

-- Multipart uploads in progress: the upload id and finished parts survive a crash.
CREATE TABLE multipart (
    dest_id     INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    blob_id     INTEGER NOT NULL,
    upload_id   TEXT NOT NULL,
    part_size   INTEGER NOT NULL,
    created_ns  INTEGER NOT NULL,
    PRIMARY KEY (dest_id, key)
) WITHOUT ROWID;
CREATE TABLE multipart_parts (
    dest_id      INTEGER NOT NULL,
    key          TEXT NOT NULL,
    part_number  INTEGER NOT NULL,
    etag         TEXT NOT NULL,
    PRIMARY KEY (dest_id, key, part_number),
    FOREIGN KEY (dest_id, key) REFERENCES multipart(dest_id, key) ON DELETE CASCADE
) WITHOUT ROWID;

-- Objects changed in the cloud behind the gateway's back: kept there, kept here, shown to people.
CREATE TABLE conflicts (
    dest_id      INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    key          TEXT NOT NULL,
    remote_etag  TEXT,
    local_hash   BLOB,
    detected_ns  INTEGER NOT NULL,
    PRIMARY KEY (dest_id, key)
) WITHOUT ROWID;
"#;

/// Version 2: versions of files are kept in the clouds, one object per user and content under
/// `.microcloud/versions/<user>/<blake3 hex>` (see `version_key`).
/// - `replicas.copy_from`: for a version key, the live key (`<user>/<path>`) whose object held
///   the content when the version was taken. Content that was evicted from the box (it was safe
///   everywhere) may exist only there: the worker copies it server-side to the version key before
///   it replaces or deletes that live key.
/// - `version_blobs`: every blob the store announced as a version, with its version key. Two blobs
///   of one user may hold the same content (written twice), and share one object: the key is
///   deleted only when the last of them is no longer needed, and each of them counts the object
///   for its durability level and read-through.
const SCHEMA_V2: &str = r#"
ALTER TABLE replicas ADD COLUMN copy_from TEXT;
CREATE INDEX replicas_key ON replicas(key);
CREATE INDEX replicas_copy_from ON replicas(dest_id, copy_from);
CREATE TABLE version_blobs (
    blob_id    INTEGER PRIMARY KEY,
    key        TEXT NOT NULL,          -- .microcloud/versions/<user>/<blake3 hex>
    copy_from  TEXT NOT NULL           -- <user>/<path> holding the content when it was kept
);
CREATE INDEX version_blobs_key ON version_blobs(key);
"#;

/// Version 3: what changed since a destination's manifest was last written in full, so that the
/// next one can be a small delta (see the uplink's `manifest` module). Every change of a replica
/// that a manifest reflects (wanted, done, its content or ETag, gone) is noted by the triggers,
/// whoever makes it; the journal's intake notes paths and directory trees, and what is touched
/// when a version is dropped. `AUTOINCREMENT`: a position is never handed out twice, even once
/// the table was trimmed empty.
const SCHEMA_V3: &str = r#"
CREATE TABLE manifest_touched (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    key    TEXT NOT NULL,               -- <user>/<path>, or a version key
    below  INTEGER NOT NULL DEFAULT 0   -- 1: everything under the path too
);
CREATE TRIGGER replicas_touched_ins AFTER INSERT ON replicas BEGIN
    INSERT INTO manifest_touched (key) VALUES (NEW.key);
END;
CREATE TRIGGER replicas_touched_upd AFTER UPDATE OF state, blob_id, remote_etag ON replicas
WHEN OLD.state IS NOT NEW.state OR OLD.blob_id IS NOT NEW.blob_id OR OLD.remote_etag IS NOT NEW.remote_etag
BEGIN
    INSERT INTO manifest_touched (key) VALUES (NEW.key);
END;
CREATE TRIGGER replicas_touched_del AFTER DELETE ON replicas BEGIN
    INSERT INTO manifest_touched (key) VALUES (OLD.key);
END;
"#;

/// What the import copies from an older catalog (schema version 2 before this crate), in an
/// order that keeps every reference valid; rows that would refer to nothing are left behind.
const IMPORT: [(&str, &str); 5] = [
    (
        "destinations",
        "INSERT INTO destinations (id, name, config, created_ns, state, last_error, last_ok_ns) \
         SELECT id, name, config, created_ns, state, last_error, last_ok_ns FROM catalog.destinations",
    ),
    (
        "replicas",
        "INSERT INTO replicas (dest_id, key, blob_id, size, hash, state, remote_etag, dirty_ns, attempts, next_ns, last_error) \
         SELECT dest_id, key, blob_id, size, hash, state, remote_etag, dirty_ns, attempts, next_ns, last_error \
         FROM catalog.replicas WHERE dest_id IN (SELECT id FROM destinations)",
    ),
    (
        "multipart",
        "INSERT INTO multipart (dest_id, key, blob_id, upload_id, part_size, created_ns) \
         SELECT dest_id, key, blob_id, upload_id, part_size, created_ns FROM catalog.multipart \
         WHERE dest_id IN (SELECT id FROM destinations)",
    ),
    (
        "multipart_parts",
        "INSERT INTO multipart_parts (dest_id, key, part_number, etag) \
         SELECT p.dest_id, p.key, p.part_number, p.etag FROM catalog.multipart_parts p \
         WHERE EXISTS (SELECT 1 FROM multipart m WHERE m.dest_id = p.dest_id AND m.key = p.key)",
    ),
    (
        "conflicts",
        "INSERT INTO conflicts (dest_id, key, remote_etag, local_hash, detected_ns) \
         SELECT dest_id, key, remote_etag, local_hash, detected_ns FROM catalog.conflicts \
         WHERE dest_id IN (SELECT id FROM destinations)",
    ),
];

/// The schema version of the state on `conn` (0: not made yet).
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// A file path as an SQLite URI (for ATTACH with `mode=ro`).
fn uri(path: &Path) -> String {
    let mut out = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(b) {
            out.push(*b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str("?mode=ro");
    out
}

/// Brings the state on `conn` (the file `path`) to the current version. When it is made, the
/// uplink's tables of the catalog `catalog` (if that exists and has them) are copied in the same
/// transaction, so that a box that ran an older build keeps its destinations, replica states,
/// multipart uploads, conflicts, journal cursor and bandwidth schedule. The catalog is only read.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, catalog: &Path) -> Result<()> {
    let found = version(conn)?;
    if found > VERSION {
        return Err(StateError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: VERSION,
        });
    }
    if found == VERSION {
        return Ok(());
    }
    if found > 0 {
        return upgrade(conn, path, found);
    }
    // ATTACH cannot run inside a transaction: the catalog is attached (read-only) first.
    let attached = found == 0 && catalog.exists();
    if attached {
        conn.execute("ATTACH DATABASE ?1 AS catalog", [uri(catalog)])
            .map_err(|e| StateError::Import {
                path: path.to_owned(),
                source: DbError(e),
            })?;
    }
    let result = create(conn, path, attached);
    if attached {
        let _ = conn.execute_batch("DETACH DATABASE catalog");
    }
    result
}

/// Brings a state of version `found` (at least 1) to the current version, in one transaction.
fn upgrade(conn: &mut Connection, path: &Path, found: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have upgraded it meanwhile.
    let found = version(&tx)?.max(found);
    if found >= VERSION {
        return Ok(());
    }
    if found < 2 {
        tx.execute_batch(SCHEMA_V2)?;
    }
    if found < 3 {
        tx.execute_batch(SCHEMA_V3)?;
    }
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [VERSION.to_string()],
    )?;
    tx.commit()?;
    log::info!(
        "{}: uplink state upgraded from schema {found} to {VERSION}",
        path.display()
    );
    Ok(())
}

fn create(conn: &mut Connection, path: &Path, import: bool) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Another process may have made it meanwhile.
    if version(&tx)? == VERSION {
        return Ok(());
    }
    tx.execute_batch(SCHEMA_V1)?;
    tx.execute_batch(SCHEMA_V2)?;
    tx.execute_batch(SCHEMA_V3)?;
    if import {
        let imported = import_from_catalog(&tx).map_err(|e| StateError::Import {
            path: path.to_owned(),
            source: DbError(e),
        })?;
        if let Some((dests, replicas)) = imported {
            log::info!(
                "{}: took over the uplink's state from the catalog: {dests} destinations, {replicas} replicas",
                path.display()
            );
        }
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
        [VERSION.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

/// Copies what the catalog holds of the uplink's tables; `None` when it has none of them (a
/// catalog made by this build).
fn import_from_catalog(c: &Connection) -> rusqlite::Result<Option<(usize, usize)>> {
    let has = |table: &str| -> rusqlite::Result<bool> {
        c.query_row(
            "SELECT EXISTS (SELECT 1 FROM catalog.sqlite_master WHERE type = 'table' AND name = ?1)",
            [table],
            |r| r.get(0),
        )
    };
    let mut counts = (0, 0);
    let mut any = false;
    for (table, sql) in IMPORT {
        if !has(table)? {
            continue;
        }
        any = true;
        let n = c.execute(sql, [])?;
        match table {
            "destinations" => counts.0 = n,
            "replicas" => counts.1 = n,
            _ => {}
        }
    }
    if has("meta")? {
        for (from, to) in [("uplink_cursor", "cursor"), ("bwlimit", "bwlimit")] {
            any |= c.execute(
                "INSERT INTO meta (key, value) SELECT ?2, value FROM catalog.meta WHERE key = ?1",
                [from, to],
            )? > 0;
        }
    }
    Ok(any.then_some(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state made by the previous build (schema 1) is brought to 2 with its rows kept, and a
    /// version key's replica can then say where its content was.
    #[test]
    fn schema_1_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uplink.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA_V1).unwrap();
        conn.execute_batch(
            "INSERT INTO meta VALUES ('schema_version', '1'); \
             INSERT INTO destinations (id, name, config, created_ns) VALUES (1, 'd', '{}', 0); \
             INSERT INTO replicas (dest_id, key, blob_id, size, state, dirty_ns) VALUES (1, 'alice/a', 5, 1, 'done', 0);",
        )
        .unwrap();
        migrate(&mut conn, &path, &dir.path().join("none")).unwrap();
        assert_eq!(version(&conn).unwrap(), VERSION);
        let copy_from: Option<String> = conn
            .query_row(
                "SELECT copy_from FROM replicas WHERE key = 'alice/a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(copy_from, None);
        conn.execute(
            "INSERT INTO version_blobs (blob_id, key, copy_from) VALUES (5, 'k', 'alice/a')",
            [],
        )
        .unwrap();
        // Again: nothing to do.
        migrate(&mut conn, &path, &dir.path().join("none")).unwrap();
    }
}
