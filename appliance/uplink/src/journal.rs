//! Turns the store's change journal into what each destination must hold.
//!
//! Entries are read from the store ([`Store::changes_after`] the uplink state's cursor) and taken
//! in by the uplink state with the cursor moved in the same transaction, so a crash never loses or
//! repeats a change; the store's journal is then trimmed up to the cursor (idempotent). Renames
//! become a delete of the old key and an upload under the new one (S3 has no rename); a directory
//! rename moves every key below it (see `UplinkState::apply_changes`).

use microcloud_store::Store;
use microcloud_uplink_state::{UplinkState, BATCH};

use crate::{blocking, UplinkError};

pub(crate) fn now_ns() -> i64 {
    microcloud_uplink_state::now_ns()
}

/// Applies pending journal entries, [`BATCH`] per transaction; returns how many it applied.
pub(crate) async fn apply(store: &Store, state: &UplinkState) -> Result<usize, UplinkError> {
    let mut total = 0;
    loop {
        let changes = store.changes_after(state.cursor()?, BATCH)?;
        if changes.is_empty() {
            return Ok(total);
        }
        let read = changes.len();
        let (s, st) = (store.clone(), state.clone());
        let applied = blocking(move || st.apply_changes(&s, &changes)).await?;
        store.trim_changes(applied.cursor).await?;
        total += applied.changes;
        if read < BATCH {
            return Ok(total);
        }
    }
}
