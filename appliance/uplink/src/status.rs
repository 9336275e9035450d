//! What the uplink reports: per destination, its state and what still waits for it. The figures
//! come from the uplink state (`microcloud_uplink_state::status`), read-only, so the CLI, the
//! page and `/metrics` read them while the agents run.

use std::path::Path;

use microcloud_store::Store;
use microcloud_uplink_api::Progress;
pub use microcloud_uplink_state::status::{DestinationStatus, UplinkStatus};
use microcloud_uplink_state::{Conflict, StateError, UplinkState};

use crate::UplinkError;

/// Reads the figures of the uplink of data directory `data_dir` (empty while no uplink ran).
pub fn read(data_dir: &Path) -> Result<UplinkStatus, StateError> {
    UplinkState::open_read_only(data_dir)?.status()
}

/// Keys in conflict, per destination, for people to look at.
pub fn conflicts(data_dir: &Path) -> Result<Vec<Conflict>, StateError> {
    UplinkState::open_read_only(data_dir)?.conflicts()
}

/// What still waits for upload (for `flush`), from `state` and the catalog of `data_dir`.
pub fn progress(data_dir: &Path, state: &UplinkState) -> Result<Progress, UplinkError> {
    let p = state.pending()?;
    let catalog = Store::open_read_only(data_dir)?;
    // Journal entries the uplink has not taken in yet wait too.
    let journal = catalog.changes_after_count(state.cursor()?)?;
    Ok(Progress {
        files: p.files + journal,
        bytes: p.bytes,
        conflicts: p.conflicts,
        destinations: p.destinations,
        dirty_bytes: catalog.stats()?.dirty_bytes,
    })
}
