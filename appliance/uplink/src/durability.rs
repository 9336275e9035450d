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
    // The same rule as LEVEL, with the counts taken once instead of twice per evaluation.
    let (done, destinations): (i64, i64) = conn
        .prepare_cached(
            "SELECT (SELECT count(DISTINCT dest_id) FROM replicas WHERE blob_id = ?1 AND state = 'done'), \
                    (SELECT count(*) FROM destinations)",
        )?
        .query_row(params![blob], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let level = match done {
        0 => "local",
        n if n >= destinations => "cloud:all",
        _ => "cloud:1",
    };
    conn.prepare_cached("UPDATE blobs SET durability = ?2 WHERE id = ?1 AND durability != ?2")?
        .execute(params![blob, level])?;
    Ok(())
}

/// Recomputes every blob's durability (after a destination is added or removed).
pub(crate) fn recompute_all(conn: &Connection) -> rusqlite::Result<()> {
    let sql = format!("UPDATE blobs SET durability = {LEVEL} WHERE durability != {LEVEL}");
    conn.execute(&sql, [])?;
    Ok(())
}
