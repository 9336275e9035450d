//! The catalog schema and its migrations.
//!
//! Running totals (files, bytes, dirty bytes) are kept by triggers in one `stats` row, so that
//! opening a catalog with a million files and reporting its status costs no table scan.

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Result, StoreError};

const SCHEMA_V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    created_ns    INTEGER NOT NULL
);

-- File content. A blob is immutable once committed: an overwrite makes a new blob, and COPY shares
-- the blob, so a blob lives while a node refers to it.
CREATE TABLE blobs (
    id          INTEGER PRIMARY KEY,
    size        INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    durability  TEXT NOT NULL DEFAULT 'local',
    created_ns  INTEGER NOT NULL
);
-- Plain indexes only: SQLite re-prepares every statement whose plan could use a partial index
-- each time its parameters change, which showed up as parser time on the hot path.
CREATE INDEX blobs_durability ON blobs(durability, created_ns);

-- Content of small files, kept in the catalog itself: one group commit makes many of them durable
-- with a single WAL fsync, instead of one fsync per file and per directory.
CREATE TABLE inline_blobs (
    id    INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
    data  BLOB NOT NULL
);

-- The namespace: one tree per user, rooted at the node whose parent_id is NULL.
CREATE TABLE nodes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    parent_id  INTEGER REFERENCES nodes(id),
    name       TEXT NOT NULL,
    is_dir     INTEGER NOT NULL,
    blob_id    INTEGER REFERENCES blobs(id),
    mtime_ns   INTEGER NOT NULL,
    ctime_ns   INTEGER NOT NULL,
    UNIQUE (parent_id, name)
);
CREATE INDEX nodes_user ON nodes(user_id, parent_id);
CREATE INDEX nodes_blob ON nodes(blob_id);

-- WebDAV dead properties (PROPPATCH), keyed by node so that MOVE keeps them.
CREATE TABLE props (
    node_id  INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
    ns       TEXT NOT NULL,
    name     TEXT NOT NULL,
    prefix   TEXT,
    xml      BLOB,
    PRIMARY KEY (node_id, ns, name)
) WITHOUT ROWID;

CREATE TABLE stats (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    files        INTEGER NOT NULL,
    dirs         INTEGER NOT NULL,
    blobs        INTEGER NOT NULL,
    blob_bytes   INTEGER NOT NULL,
    dirty_bytes  INTEGER NOT NULL
);
INSERT INTO stats VALUES (1, 0, 0, 0, 0, 0);

CREATE TRIGGER blobs_ins AFTER INSERT ON blobs BEGIN
    UPDATE stats SET blobs = blobs + 1, blob_bytes = blob_bytes + NEW.size,
        dirty_bytes = dirty_bytes + (CASE WHEN NEW.durability != 'cloud:all' THEN NEW.size ELSE 0 END);
END;
CREATE TRIGGER blobs_del AFTER DELETE ON blobs BEGIN
    UPDATE stats SET blobs = blobs - 1, blob_bytes = blob_bytes - OLD.size,
        dirty_bytes = dirty_bytes - (CASE WHEN OLD.durability != 'cloud:all' THEN OLD.size ELSE 0 END);
END;
CREATE TRIGGER blobs_dur AFTER UPDATE OF durability ON blobs BEGIN
    UPDATE stats SET dirty_bytes = dirty_bytes
        - (CASE WHEN OLD.durability != 'cloud:all' THEN OLD.size ELSE 0 END)
        + (CASE WHEN NEW.durability != 'cloud:all' THEN NEW.size ELSE 0 END);
END;
CREATE TRIGGER nodes_ins AFTER INSERT ON nodes BEGIN
    UPDATE stats SET files = files + (1 - NEW.is_dir), dirs = dirs + NEW.is_dir;
END;
CREATE TRIGGER nodes_del AFTER DELETE ON nodes BEGIN
    UPDATE stats SET files = files - (1 - OLD.is_dir), dirs = dirs - OLD.is_dir;
END;
"#;

/// Turns off SQLite's global memory statistics before the first connection opens: they take a
/// process-wide mutex on every allocation, which serialized concurrent requests (measured: the top
/// entry of a profile under 16 concurrent PUT clients).
pub(crate) fn init_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called before any other SQLite call of this process (the Once
        // runs ahead of every connection the store opens); if SQLite was already initialized it
        // returns SQLITE_MISUSE and changes nothing.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            );
            // A statement's rollback record stays in memory up to 4 MiB (SQLite's default is
            // 64 KiB, past which it moves to a temporary file for the rest of the transaction:
            // a large group then spent almost half its time in write() calls to that file).
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_STMTJRNL_SPILL,
                (4 << 20) as std::os::raw::c_int,
            );
        }
    });
}

/// Version 2: the change journal. Every namespace change appends one row in the same transaction,
/// so the stages downstream (the uplink) learn about changes through the catalog alone, in order,
/// across crashes, without reaching into the store's tables or code.
///
/// This text changed after catalogs at version 2 were made: it used to create the uplink's tables
/// too (`destinations`, `replicas`, `multipart`, `multipart_parts`, `conflicts`, and `meta` keys
/// `uplink_cursor` and `bwlimit`). The uplink now keeps its state in a database of its own
/// (`uplink.sqlite`, crate `microcloud-uplink-state`), so that it never contends for the
/// catalog's write lock with the LAN's writes, and talks to the store through typed operations
/// only. The version number stays 2: both texts give the store the same tables; catalogs made by
/// the older text keep those uplink tables, unused by the store, and the uplink state imports
/// them once when it is created (see that crate), so they are left in place, never dropped.
const SCHEMA_V2: &str = r#"
CREATE TABLE changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  INTEGER NOT NULL,
    kind     TEXT NOT NULL,   -- put | delete | rename | mkdir | rmdir
    path     TEXT NOT NULL,   -- relative to the user's root, '/'-separated, no leading slash
    to_path  TEXT,            -- rename target
    blob_id  INTEGER,         -- put: the new content
    is_dir   INTEGER NOT NULL DEFAULT 0,
    at_ns    INTEGER NOT NULL
);

-- Eviction: content that is safe at every destination may leave local storage (local = 0) and
-- is fetched back from a destination on the next read. blob_bytes counts local content only.
ALTER TABLE blobs ADD COLUMN local INTEGER NOT NULL DEFAULT 1;
CREATE INDEX blobs_evictable ON blobs(durability, local, created_ns);
DROP TRIGGER blobs_ins;
CREATE TRIGGER blobs_ins AFTER INSERT ON blobs BEGIN
    UPDATE stats SET blobs = blobs + 1, blob_bytes = blob_bytes + (CASE WHEN NEW.local THEN NEW.size ELSE 0 END),
        dirty_bytes = dirty_bytes + (CASE WHEN NEW.durability != 'cloud:all' THEN NEW.size ELSE 0 END);
END;
DROP TRIGGER blobs_del;
CREATE TRIGGER blobs_del AFTER DELETE ON blobs BEGIN
    UPDATE stats SET blobs = blobs - 1, blob_bytes = blob_bytes - (CASE WHEN OLD.local THEN OLD.size ELSE 0 END),
        dirty_bytes = dirty_bytes - (CASE WHEN OLD.durability != 'cloud:all' THEN OLD.size ELSE 0 END);
END;
CREATE TRIGGER blobs_local AFTER UPDATE OF local ON blobs WHEN OLD.local != NEW.local BEGIN
    UPDATE stats SET blob_bytes = blob_bytes + (CASE WHEN NEW.local THEN NEW.size ELSE -NEW.size END);
END;

-- Read-through requests from a LAN service running in another process than the uplink (until
-- version 3; dropped there).
CREATE TABLE fetch_requests (
    blob_id       INTEGER PRIMARY KEY,
    requested_ns  INTEGER NOT NULL,
    error         TEXT
);
"#;

/// Version 3: read-through is asked of the uplink over its socket (`microcloud-uplink-api`),
/// which streams the content while it is written back, instead of through a table both agents
/// polled.
const SCHEMA_V3: &str = "DROP TABLE IF EXISTS fetch_requests;";

/// Version 4: devices, each with a credential of its own (a random device password, stored as a
/// BLAKE3 digest: it has 140 random bits, so a slow hash would buy nothing), and per user whether
/// WebDAV takes device passwords only. Revoking a device deletes its row, so its next request
/// finds no credential.
const SCHEMA_V4: &str = r#"
CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_hash   BLOB NOT NULL,
    created_ns    INTEGER NOT NULL,
    last_seen_ns  INTEGER,
    last_addr     TEXT,
    user_agent    TEXT,
    UNIQUE (user_id, name)
);
ALTER TABLE users ADD COLUMN devices_only INTEGER NOT NULL DEFAULT 0;
"#;

/// Version 5: versions, trash and rollback. An overwrite, a delete, a move and a rollback keep
/// what they replace as a row of `versions` that shares the blob (no copy), so the blob lives
/// while a node or a version refers to it. Each node records since when its content has been at
/// its path (`since_ns`) and which device wrote it, so the state of any folder at any moment is
/// the nodes older than that moment plus the versions live at it. `blobs.random` says whether the
/// content looked random when written (sampled), which the ransomware guard weighs. The journal
/// gains `version` and `unversion` entries (a version's content must be kept, or may go, in the
/// clouds), which carry size and hash themselves: an expired version's blob may be gone.
const SCHEMA_V5: &str = r#"
ALTER TABLE nodes ADD COLUMN since_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN device TEXT;
ALTER TABLE blobs ADD COLUMN random INTEGER;
ALTER TABLE changes ADD COLUMN size INTEGER;
ALTER TABLE changes ADD COLUMN hash BLOB;
CREATE TABLE versions (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id),
    path      TEXT NOT NULL,      -- canonical: '/'-separated, no leading slash
    blob_id   INTEGER NOT NULL REFERENCES blobs(id),
    mtime_ns  INTEGER NOT NULL,
    from_ns   INTEGER NOT NULL,   -- since when the content was at path
    until_ns  INTEGER NOT NULL,   -- when it was replaced, deleted or moved away
    kind      TEXT NOT NULL,      -- overwrite | delete | move | rollback
    device    TEXT,               -- the device that wrote the content, when known
    pinned    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX versions_path ON versions(user_id, path, until_ns);
CREATE INDEX versions_time ON versions(user_id, until_ns);
CREATE INDEX versions_blob ON versions(blob_id);
CREATE INDEX versions_expiry ON versions(pinned, until_ns);
CREATE TABLE guard_trips (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    device       TEXT,
    since_ns     INTEGER NOT NULL,   -- first change of the burst
    tripped_ns   INTEGER NOT NULL,
    changes      INTEGER NOT NULL,   -- weighted count that tripped it
    files        INTEGER NOT NULL,   -- the user's files then
    resolved_ns  INTEGER,
    resolution   TEXT                -- rolled back | kept
);
"#;

/// Version 6: several tablets and hand-offs. `workspaces` holds what each user has open (a JSON
/// document the page owns, with a version for compare-and-swap writes). `events` is what each
/// user's devices hear, in order: the row id is the event stream's id, so a device that
/// reconnects gets exactly what it missed (`device_id` NULL: all of the user's devices).
/// `inbox` holds what was sent to a device or handed to a person until it is opened, accepted,
/// declined or expires. `users.space_bytes` is an optional limit on a user's files. `nodes_listing`
/// pages a huge folder without sorting it.
const SCHEMA_V6: &str = r#"
CREATE TABLE workspaces (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    device      TEXT,
    updated_ns  INTEGER NOT NULL
);
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    device_id  INTEGER,
    kind       TEXT NOT NULL,     -- workspace | inbox
    data       TEXT NOT NULL,     -- JSON, as the stream sends it
    at_ns      INTEGER NOT NULL
);
CREATE INDEX events_user ON events(user_id, id);
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY,
    from_user    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    from_device  TEXT,
    to_user      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    to_device_id INTEGER,          -- set: sent to one of the sender's own devices
    to_device    TEXT,
    kind         TEXT NOT NULL,    -- file | folder | workspace
    path         TEXT,             -- the sender's path, canonical
    node_id      INTEGER,          -- the node sent: another node there later means it is gone
    name         TEXT NOT NULL,
    view         TEXT,             -- JSON view state
    workspace    TEXT,             -- JSON workspace document
    mode         TEXT NOT NULL,    -- open | copy | move
    state        TEXT NOT NULL,    -- pending | opened | accepted | declined | expired | gone
    size         INTEGER NOT NULL DEFAULT 0,
    files        INTEGER NOT NULL DEFAULT 0,
    created_ns   INTEGER NOT NULL,
    expires_ns   INTEGER NOT NULL,
    decided_ns   INTEGER,
    result_path  TEXT
);
CREATE INDEX inbox_to ON inbox(to_user, id);
CREATE INDEX inbox_from ON inbox(from_user, id);
CREATE INDEX inbox_state ON inbox(state, expires_ns);
-- A page of a folder walks folders, then files, in name order, without sorting the folder.
CREATE INDEX nodes_listing ON nodes(parent_id, is_dir, name);
ALTER TABLE users ADD COLUMN space_bytes INTEGER;
"#;

/// Connection settings every connection gets; `synchronous = FULL` makes each commit durable (the
/// writer lowers it only for groups made of relaxed bookkeeping, see `writer`).
pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    // With STAT4 compiled in (rusqlite's bundled build), a statement whose plan might depend on
    // a bound value is compiled again on every new binding; a cached statement must stay
    // compiled, and our plans do not depend on the values.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Brings a freshly opened writable catalog to the current schema version.
pub(crate) fn migrate(conn: &mut Connection, path: &std::path::Path) -> Result<()> {
    let mode = switch_to_wal(conn)?;
    if mode.to_lowercase() != "wal" {
        log::warn!(
            "{}: could not switch the catalog to WAL mode (got {mode})",
            path.display()
        );
    }
    let supported = microcloud_constants::CATALOG_SCHEMA_VERSION;
    let too_new = |found: i64| StoreError::SchemaTooNew {
        path: path.to_owned(),
        found,
        supported,
    };
    let version = schema_version(conn)?;
    if version > supported {
        return Err(too_new(version));
    }
    if version == supported {
        return Ok(());
    }
    // The write lock first, then the version again: the gateway and the uplink open a blank
    // catalog at the same moment on a box's first boot, and both would otherwise see version 0
    // and both create the tables (the second failing with "table meta already exists").
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version = schema_version(&tx)?;
    if version > supported {
        return Err(too_new(version));
    }
    if version < supported {
        if version < 1 {
            tx.execute_batch(SCHEMA_V1)?;
        }
        if version < 2 {
            tx.execute_batch(SCHEMA_V2)?;
        }
        if version < 3 {
            tx.execute_batch(SCHEMA_V3)?;
        }
        if version < 4 {
            tx.execute_batch(SCHEMA_V4)?;
        }
        if version < 5 {
            tx.execute_batch(SCHEMA_V5)?;
        }
        if version < 6 {
            tx.execute_batch(SCHEMA_V6)?;
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [supported.to_string()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Puts the catalog in WAL mode (a persistent setting, so only a blank catalog changes) and
/// returns the mode it is in. The switch needs the file to itself, and SQLite answers "database
/// is locked" at once rather than calling the busy handler: on a box's first boot the gateway and
/// the uplink open the blank catalog at the same moment, and one of them failed to start. So the
/// switch is tried again for as long as the busy timeout would have waited. (The uplink's state
/// file is switched the same way.)
pub fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
    if mode.eq_ignore_ascii_case("wal") {
        return Ok(mode);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// The catalog's schema version; 0 for a blank file.
fn schema_version(conn: &Connection) -> Result<i64> {
    let has_meta: bool = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'",
            [],
            |_| Ok(true),
        )
        .optional()?
        .unwrap_or(false);
    if !has_meta {
        return Ok(0);
    }
    Ok(conn
        .query_row(
            "SELECT value FROM meta WHERE key='schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}
