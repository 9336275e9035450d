//! Scrub: checks that each destination still holds what the uplink state says it holds, and
//! queues a repair for what is missing or damaged.
//!
//! Every object the uplink state calls done gets a HEAD (presence, size, BLAKE3 metadata); a sample of
//! them is also read in full and hashed. An unreachable destination ends the scrub with an error:
//! "could not look" is never taken for "missing". An object whose BLAKE3 metadata names content
//! other than ours and whose ETag is not the one we wrote was replaced by someone else: that is a
//! conflict, kept and reported, not a repair.

use futures_util::StreamExt;
use microcloud_remotes::{Remote, RemoteError};
use microcloud_store::Store;
use microcloud_uplink_state::{NewConflict, Repair, UplinkState};
use rand::Rng;
use serde::Serialize;

use crate::destinations::{self, Destination};
use crate::{blocking, UplinkError};

/// What one scrub of one destination found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScrubReport {
    /// Destination name.
    pub destination: String,
    /// Objects checked by HEAD.
    pub checked: u64,
    /// Objects also read in full and hashed.
    pub read_in_full: u64,
    /// Objects that were gone, queued for upload again.
    pub missing: u64,
    /// Objects whose size or content was wrong, queued for upload again.
    pub corrupt: u64,
    /// Objects replaced by someone else, recorded as conflicts.
    pub conflicts: u64,
}

enum Verdict {
    Fine,
    Missing,
    Corrupt(String),
    Conflict(String),
}

struct Item {
    key: String,
    size: u64,
    hash: [u8; 32],
    etag: Option<String>,
}

/// Scrubs destination `dest`, reading `full_fraction` (0..=1) of the objects in full.
pub async fn scrub(
    store: &Store,
    dest: &Destination,
    full_fraction: f64,
) -> Result<ScrubReport, UplinkError> {
    let state = UplinkState::open(store.dir())?;
    scrub_with(store, &state, dest, full_fraction).await
}

/// [`scrub`] with the uplink state at hand.
pub(crate) async fn scrub_with(
    store: &Store,
    state: &UplinkState,
    dest: &Destination,
    full_fraction: f64,
) -> Result<ScrubReport, UplinkError> {
    let remote = destinations::remote(store, dest)?;
    let id = dest.id;
    let items: Vec<Item> = state
        .done_replicas(id)?
        .into_iter()
        .filter_map(|r| {
            Some(Item {
                hash: r.hash?,
                key: r.key,
                size: r.size,
                etag: r.remote_etag,
            })
        })
        .collect();
    let mut report = ScrubReport {
        destination: dest.name.clone(),
        ..Default::default()
    };
    let verdicts: Vec<Result<(Item, Verdict, bool), RemoteError>> =
        futures_util::stream::iter(items)
            .map(|item| {
                let remote = remote.clone();
                let full = rand::rng().random_bool(full_fraction.clamp(0.0, 1.0));
                async move { check(&remote, &item, full).await.map(|v| (item, v, full)) }
            })
            .buffer_unordered(8)
            .collect()
            .await;
    let mut repairs: Vec<Repair> = Vec::new();
    let mut conflicts: Vec<NewConflict> = Vec::new();
    for v in verdicts {
        let (item, verdict, full) = v.map_err(|e| UplinkError::Scrub {
            destination: dest.name.clone(),
            source: e,
        })?;
        report.checked += 1;
        report.read_in_full += u64::from(full);
        match verdict {
            Verdict::Fine => {}
            Verdict::Missing => {
                log::warn!(
                    "scrub {}: {} is missing; uploading it again",
                    dest.name,
                    item.key
                );
                report.missing += 1;
                repairs.push(Repair {
                    key: item.key,
                    remote_etag: None,
                });
            }
            Verdict::Corrupt(etag) => {
                log::warn!(
                    "scrub {}: {} is damaged; uploading it again",
                    dest.name,
                    item.key
                );
                report.corrupt += 1;
                repairs.push(Repair {
                    key: item.key,
                    remote_etag: Some(etag),
                });
            }
            Verdict::Conflict(etag) => {
                log::warn!(
                    "scrub {}: {} was replaced by someone else; kept as a conflict",
                    dest.name,
                    item.key
                );
                report.conflicts += 1;
                conflicts.push(NewConflict {
                    key: item.key,
                    remote_etag: Some(etag),
                    local_hash: Some(item.hash),
                });
            }
        }
    }
    if !repairs.is_empty() || !conflicts.is_empty() {
        // Repairs make content pending again: its level drops before the commit.
        let (store, state) = (store.clone(), state.clone());
        blocking(move || {
            state.record_scrub(
                &store,
                id,
                &repairs,
                &conflicts,
                "replaced in the cloud by someone else",
            )
        })
        .await?;
    }
    Ok(report)
}

async fn check(remote: &Remote, item: &Item, full: bool) -> Result<Verdict, RemoteError> {
    let ours = blake3::Hash::from_bytes(item.hash).to_hex().to_string();
    let Some(info) = remote.head(&item.key).await? else {
        return Ok(Verdict::Missing);
    };
    let ours_by_tag = item.etag.as_deref() == Some(info.etag.as_str());
    match info.blake3.as_deref() {
        Some(h) if h == ours => {}
        // Not our content by its label: ours if the ETag is still the one we wrote (the label
        // itself was damaged), else someone else's.
        _ if ours_by_tag => return Ok(Verdict::Corrupt(info.etag)),
        _ => return Ok(Verdict::Conflict(info.etag)),
    }
    if info.size != item.size {
        return Ok(Verdict::Corrupt(info.etag));
    }
    if full {
        let got = match remote.get(&item.key, None).await {
            Ok(stream) => {
                let mut hasher = blake3::Hasher::new();
                let mut stream = stream;
                while let Some(chunk) = stream.next().await {
                    hasher.update(&chunk?);
                }
                hasher.finalize()
            }
            Err(RemoteError::NotFound { .. }) => return Ok(Verdict::Missing),
            Err(e) => return Err(e),
        };
        if got.to_hex().as_str() != ours {
            return Ok(Verdict::Corrupt(info.etag));
        }
    }
    Ok(Verdict::Fine)
}
