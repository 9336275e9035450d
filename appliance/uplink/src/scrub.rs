//! Scrub: checks that each destination still holds what the catalog says it holds, and queues a
//! repair for what is missing or damaged.
//!
//! Every object the catalog calls done gets a HEAD (presence, size, BLAKE3 metadata); a sample of
//! them is also read in full and hashed. An unreachable destination ends the scrub with an error:
//! "could not look" is never taken for "missing". An object whose BLAKE3 metadata names content
//! other than ours and whose ETag is not the one we wrote was replaced by someone else: that is a
//! conflict, kept and reported, not a repair.

use futures_util::StreamExt;
use microcloud_remotes::{Remote, RemoteError};
use microcloud_store::rusqlite::params;
use microcloud_store::{Store, StoreError};
use rand::Rng;
use serde::Serialize;

use crate::destinations::{self, Destination};
use crate::journal::now_ns;
use crate::{durability, UplinkError};

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
    blob: i64,
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
    let remote = destinations::remote(store, dest)?;
    let id = dest.id;
    let items: Vec<Item> = store.catalog_read(|c| {
        let mut stmt = c.prepare(
            "SELECT key, blob_id, size, hash, remote_etag FROM replicas \
             WHERE dest_id = ?1 AND state = 'done' AND blob_id IS NOT NULL AND hash IS NOT NULL",
        )?;
        let rows = stmt.query_map([id], |r| {
            let hash: Vec<u8> = r.get(3)?;
            Ok(Item {
                key: r.get(0)?,
                blob: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                hash: hash.try_into().unwrap_or([0; 32]),
                etag: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })?;
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
    let mut repairs: Vec<(String, i64, Option<String>)> = Vec::new();
    let mut conflicts: Vec<(String, String, [u8; 32])> = Vec::new();
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
                repairs.push((item.key, item.blob, None));
            }
            Verdict::Corrupt(etag) => {
                log::warn!(
                    "scrub {}: {} is damaged; uploading it again",
                    dest.name,
                    item.key
                );
                report.corrupt += 1;
                repairs.push((item.key, item.blob, Some(etag)));
            }
            Verdict::Conflict(etag) => {
                log::warn!(
                    "scrub {}: {} was replaced by someone else; kept as a conflict",
                    dest.name,
                    item.key
                );
                report.conflicts += 1;
                conflicts.push((item.key, etag, item.hash));
            }
        }
    }
    if !repairs.is_empty() || !conflicts.is_empty() {
        store
            .catalog_write(move |c| {
                let now = now_ns();
                for (key, blob, etag) in repairs {
                    c.prepare_cached(
                        "UPDATE replicas SET state = 'pending', remote_etag = ?3, dirty_ns = ?4, attempts = 0, next_ns = 0 \
                         WHERE dest_id = ?1 AND key = ?2 AND state = 'done'",
                    )?
                    .execute(params![id, key, etag, now])?;
                    durability::recompute(c, blob)?;
                }
                for (key, etag, hash) in conflicts {
                    c.prepare_cached(
                        "INSERT OR REPLACE INTO conflicts (dest_id, key, remote_etag, local_hash, detected_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![id, key, etag, hash.to_vec(), now])?;
                    c.prepare_cached("UPDATE replicas SET state = 'conflict', last_error = 'replaced in the cloud by someone else' WHERE dest_id = ?1 AND key = ?2")?
                        .execute(params![id, key])?;
                }
                Ok::<(), StoreError>(())
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
