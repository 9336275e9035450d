//! What the uplink reports: per destination, its state and what still waits for it. Read by
//! `microcloud status`, `/metrics` and the page, from a read-only handle, while the agents run.

use serde::{Deserialize, Serialize};

use crate::{now_ns, DestinationState, Result, UplinkState};

/// One destination's figures (the field names are the `status --json` and `/metrics` contract).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Requests in flight to it now (0 while idle or while no uplink runs).
    #[serde(default)]
    pub in_flight: u64,
    /// How many requests the uplink may have in flight there (adapted to its distance and
    /// complaints), as last recorded; none until an uplink sent requests there.
    #[serde(default)]
    pub concurrency_limit: Option<u64>,
    /// Recent latency of small requests there, about one round trip, in ms; none until measured.
    #[serde(default)]
    pub rtt_ms: Option<f64>,
    /// Times it asked the uplink to slow down (503 SlowDown, 429) since the uplink started.
    #[serde(default)]
    pub slow_downs: u64,
}

/// How the uplink's requests to one destination flow, as it records them about once a second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// Requests in flight.
    pub in_flight: u64,
    /// Current limit of requests in flight.
    pub limit: u64,
    /// Recent latency of small requests, ms.
    pub rtt_ms: Option<f64>,
    /// Times the destination asked to slow down since the uplink started.
    #[serde(default)]
    pub slow_downs: u64,
    /// When recorded, ns since the epoch.
    pub at_ns: i64,
}

/// Figures older than this are from an idle worker, or an uplink that no longer runs.
const FLOW_FRESH_NS: i64 = 10_000_000_000;

/// The `meta` key holding destination `id`'s [`Flow`].
pub(crate) fn flow_key(id: i64) -> String {
    format!("flow:{id}")
}

/// The uplink's whole report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UplinkStatus {
    /// Per destination, by name.
    pub destinations: Vec<DestinationStatus>,
}

impl UplinkState {
    /// The figures of every destination (empty while no uplink state exists).
    pub fn status(&self) -> Result<UplinkStatus> {
        let now = now_ns();
        self.read(UplinkStatus::default(), |c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.name, d.state, d.last_error, \
                    (SELECT count(*) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
                    (SELECT COALESCE(sum(size), 0) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
                    (SELECT min(dirty_ns) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'pending'), \
                    (SELECT count(*) FROM replicas r WHERE r.dest_id = d.id AND r.state = 'conflict'), \
                    (SELECT value FROM meta m WHERE m.key = 'flow:' || d.id) \
                 FROM destinations d ORDER BY d.name",
            )?;
            let rows = stmt.query_map([], |r| {
                let state = DestinationState::parse(&r.get::<_, String>(1)?);
                let oldest: Option<i64> = r.get(5)?;
                let flow = r
                    .get::<_, Option<String>>(7)?
                    .and_then(|v| serde_json::from_str::<Flow>(&v).ok());
                // An idle worker records nothing: old figures keep their limit and latency (the
                // last known), but nothing is in flight.
                let in_flight = flow
                    .filter(|f| now - f.at_ns < FLOW_FRESH_NS)
                    .map_or(0, |f| f.in_flight);
                Ok(DestinationStatus {
                    name: r.get(0)?,
                    last_error: if state == DestinationState::Ok {
                        None
                    } else {
                        r.get(2)?
                    },
                    state: state.as_str().to_owned(),
                    pending_files: r.get::<_, i64>(3)?.max(0) as u64,
                    pending_bytes: r.get::<_, i64>(4)?.max(0) as u64,
                    oldest_pending_age_seconds: oldest
                        .map(|t| ((now - t).max(0) as f64) / 1e9)
                        .unwrap_or(0.0),
                    conflicts: r.get::<_, i64>(6)?.max(0) as u64,
                    in_flight,
                    concurrency_limit: flow.map(|f| f.limit),
                    rtt_ms: flow.and_then(|f| f.rtt_ms),
                    slow_downs: flow.map_or(0, |f| f.slow_downs),
                })
            })?;
            Ok(UplinkStatus {
                destinations: rows.collect::<rusqlite::Result<_>>()?,
            })
        })
    }
}
