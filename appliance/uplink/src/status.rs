//! What the uplink reports: per destination, its state and what still waits for it.

use microcloud_store::rusqlite::{self, Connection};
use serde::Serialize;

/// One destination's figures (the field names are the `status --json` and `/metrics` contract).
#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    /// Destination name.
    pub name: String,
    /// `ok`, `retrying` or `down`.
    pub state: String,
    /// Files (and deletions) not yet done there.
    pub pending_files: u64,
    /// Bytes not yet uploaded there.
    pub pending_bytes: u64,
    /// Age of the oldest pending change, in seconds (0 when none).
    pub oldest_pending_age_seconds: f64,
    /// The last error met there, if the destination is not ok.
    pub last_error: Option<String>,
    /// Objects changed in the cloud behind the gateway's back, kept on both sides.
    pub conflicts: u64,
}

/// The uplink's whole report.
#[derive(Debug, Clone, Serialize)]
pub struct UplinkStatus {
    /// Per destination, by name.
    pub destinations: Vec<DestinationStatus>,
}

/// Reads the figures from a catalog connection (works read-only, while the agents run).
pub fn read(c: &Connection) -> rusqlite::Result<UplinkStatus> {
    let now = crate::journal::now_ns();
    let mut stmt = c.prepare_cached(
        "SELECT d.name, d.state, d.last_error, \
            (SELECT count(*) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
            (SELECT COALESCE(sum(size), 0) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
            (SELECT min(dirty_ns) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
            (SELECT count(*) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'conflict') \
         FROM destinations d ORDER BY d.name",
    )?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(1)?;
        let oldest: Option<i64> = r.get(5)?;
        Ok(DestinationStatus {
            name: r.get(0)?,
            last_error: if state == "ok" { None } else { r.get(2)? },
            state,
            pending_files: r.get::<_, i64>(3)? as u64,
            pending_bytes: r.get::<_, i64>(4)? as u64,
            oldest_pending_age_seconds: oldest
                .map(|t| ((now - t).max(0) as f64) / 1e9)
                .unwrap_or(0.0),
            conflicts: r.get::<_, i64>(6)? as u64,
        })
    })?;
    Ok(UplinkStatus {
        destinations: rows.collect::<rusqlite::Result<_>>()?,
    })
}

/// Keys in conflict, per destination, for people to look at.
pub fn conflicts(c: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(
        "SELECT d.name, k.key FROM conflicts k JOIN destinations d ON d.id = k.dest_id ORDER BY d.name, k.key",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
