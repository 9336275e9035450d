//! What the uplink reports: per destination, its state and what still waits for it. The figures
//! come from the uplink state (`microcloud_uplink_state::status`), read-only, so the CLI, the
//! page and `/metrics` read them while the agents run.

use std::path::Path;

pub use microcloud_uplink_state::status::{DestinationStatus, UplinkStatus};
use microcloud_uplink_state::{Conflict, StateError, UplinkState};

/// Reads the figures of the uplink of data directory `data_dir` (empty while no uplink ran).
pub fn read(data_dir: &Path) -> Result<UplinkStatus, StateError> {
    UplinkState::open_read_only(data_dir)?.status()
}

/// Keys in conflict, per destination, for people to look at.
pub fn conflicts(data_dir: &Path) -> Result<Vec<Conflict>, StateError> {
    UplinkState::open_read_only(data_dir)?.conflicts()
}
