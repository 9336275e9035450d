//! A file's durability follows from its replicas: `cloud:all` once every destination holds its
//! content, `cloud:1` once one does, `local` before. The uplink owns `blobs.durability`.

use microcloud_store::rusqlite::{self, params, Connection};

const LEVEL: &str = "CASE \
    WHEN (SELECT count(DISTINCT dest_id) FROM replicas r WHERE r.blob_id = blobs.id AND r.state = 'done') = 0 THEN 'local' \
    WHEN (SELECT count(DISTINCT dest_id) FROM replicas r WHERE r.blob_id = blobs.id AND r.state = 'done') \
         >= (SELECT count(*) FROM destinations) THEN 'cloud:all' \
    ELSE 'cloud:1' END";

/// Recomputes one blob's durability.
pub(crate) fn recompute(conn: &Connection, blob: i64) -> rusqlite::Result<()> {
    let sql = format!("UPDATE blobs SET durability = {LEVEL} WHERE id = ?1 AND durability != {LEVEL}");
    conn.prepare_cached(&sql)?.execute(params![blob])?;
    Ok(())
}

/// Recomputes every blob's durability (after a destination is added or removed).
pub(crate) fn recompute_all(conn: &Connection) -> rusqlite::Result<()> {
    let sql = format!("UPDATE blobs SET durability = {LEVEL} WHERE durability != {LEVEL}");
    conn.execute(&sql, [])?;
    Ok(())
}
