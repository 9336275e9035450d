//! Turns the store's change journal into what each destination must hold.
//!
//! Entries are read from the store ([`Store::changes_after`] the uplink state's cursor) and taken
//! in by the uplink state with the cursor moved in the same transaction, so a crash never loses or
//! repeats a change; the store's journal is then trimmed up to the cursor (idempotent). Renames
//! become a delete of the old key and an upload under the new one (S3 has no rename); a directory
//! rename moves every key below it (see `UplinkState::apply_changes`).
//!
//! Most intakes are committed without waiting for the disk (one more flush per LAN commit would
//! slow the LAN down); one at least every [`DURABLE_EVERY`] is durable, which makes the earlier
//! ones durable too, and the store's journal is trimmed only up to a durable intake's cursor. A
//! power cut can then only take back intakes whose entries are still in the store's journal:
//! they are taken in again.

use std::time::{Duration, Instant};

use microcloud_store::Store;
use microcloud_uplink_state::{UplinkState, BATCH};

use crate::{blocking, UplinkError};

/// Longest time between two durable intakes.
pub(crate) const DURABLE_EVERY: Duration = Duration::from_secs(1);

pub(crate) fn now_ns() -> i64 {
    microcloud_uplink_state::now_ns()
}

/// Takes in the journal, remembering when an intake was last durable.
pub(crate) struct Intake {
    last_durable: Option<Instant>,
    every: Duration,
}

impl Intake {
    /// Intakes mostly relaxed, durable at least every [`DURABLE_EVERY`] (the uplink's loop).
    pub(crate) fn new() -> Intake {
        Intake {
            last_durable: None,
            every: DURABLE_EVERY,
        }
    }

    /// Applies pending journal entries, [`BATCH`] per transaction; returns how many it applied.
    pub(crate) async fn apply(
        &mut self,
        store: &Store,
        state: &UplinkState,
    ) -> Result<usize, UplinkError> {
        let mut total = 0;
        loop {
            let changes = store.changes_after(state.cursor()?, BATCH)?;
            if changes.is_empty() {
                return Ok(total);
            }
            let read = changes.len();
            let durable =
                self.every.is_zero() || self.last_durable.is_none_or(|t| t.elapsed() >= self.every);
            let (s, st) = (store.clone(), state.clone());
            let applied = blocking(move || {
                if durable {
                    st.apply_changes(&s, &changes)
                } else {
                    st.apply_changes_relaxed(&s, &changes)
                }
            })
            .await?;
            if durable {
                self.last_durable = Some(Instant::now());
                store.trim_changes(applied.cursor).await?;
            }
            total += applied.changes;
            if read < BATCH {
                return Ok(total);
            }
        }
    }
}
