//! Multipart uploads of large files: resumed from the parts the uplink state recorded, one HEAD
//! before starting again (a crash may fall between the upload and its record), and strays that
//! the state does not know (a crash between creating an upload and recording it) aborted, so
//! none stays open and billed.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use microcloud_remotes::{Condition, RemoteError};

use super::{superseded_or, Ctx, ItemError, Row};
use crate::blocking;

/// S3 takes at most this many parts per upload.
const MAX_PARTS: u64 = 10_000;

/// The part size for a file of `size` bytes: the configured one, or larger for a file that would
/// otherwise need more parts than S3 takes (rounded up to whole MiB).
pub(super) fn part_size_for(settings: &crate::Settings, size: u64) -> u64 {
    let least = size.div_ceil(MAX_PARTS).next_multiple_of(1 << 20);
    settings.part_size.max(least)
}

/// Parts of `part_size` in flight at once: the configured number of configured parts' worth of
/// memory, which [`crate::worker`] reserves for each large file.
pub(super) fn parts_in_flight(settings: &crate::Settings, part_size: u64) -> usize {
    let budget = settings.part_size * settings.part_concurrency as u64;
    (budget / part_size.max(1)).max(1) as usize
}

/// Uploads a large file in parts, resuming from the parts the uplink state says are done.
pub(super) async fn multipart(
    ctx: &Ctx,
    row: &Row,
    blob: i64,
    path: PathBuf,
    hex: &str,
    cond: &Condition,
) -> Result<String, ItemError> {
    let (id, key) = (ctx.dest.id, row.key.clone());
    let existing = ctx.state.multipart(id, &key)?;
    let (upload_id, part_size) = match existing {
        Some(m) if m.blob == blob => (m.upload_id, m.part_size),
        other => {
            if other.is_some() {
                abort_multipart_of(ctx, &row.key).await?;
            }
            // Uploaded already? A crash (or a power cut taking back a relaxed mark) can fall
            // after the upload and before our record of it; one HEAD saves sending it all again.
            if let Some(info) = ctx.remote.head(&row.key).await? {
                if info.blake3.as_deref() == Some(hex) {
                    return Ok(info.etag);
                }
            }
            let upload_id = ctx.remote.create_multipart(&row.key, hex).await?;
            let part_size = part_size_for(&ctx.settings, row.size);
            let (st, k, u) = (ctx.state.clone(), key.clone(), upload_id.clone());
            blocking(move || st.begin_multipart(id, &k, blob, &u, part_size)).await?;
            (upload_id, part_size)
        }
    };
    let done: HashMap<u16, String> = ctx.state.parts(id, &key)?.into_iter().collect();
    // At most MAX_PARTS, as part_size_for made it (or a build before it, with 16 MiB parts and
    // files under 160 GB); anything beyond is refused by the cloud, not wrapped here.
    let parts = u16::try_from(row.size.div_ceil(part_size).max(1)).unwrap_or(u16::MAX);
    if !done.is_empty() {
        log::info!(
            "uplink {}: resuming multipart upload of {}: {} of {parts} parts already uploaded",
            ctx.dest.name,
            row.key,
            done.len()
        );
    }
    let file = Arc::new(std::fs::File::open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            superseded_or(
                ctx,
                row,
                ItemError::Local {
                    path: path.clone(),
                    source: e,
                },
            )
        } else {
            ItemError::Local {
                path: path.clone(),
                source: e,
            }
        }
    })?);
    let missing: Vec<u16> = (1..=parts).filter(|n| !done.contains_key(n)).collect();
    let uploaded: Vec<(u16, String)> = futures_util::stream::iter(missing)
        .map(|n| {
            let (file, path, key, upload_id) =
                (file.clone(), path.clone(), key.clone(), upload_id.clone());
            async move {
                let offset = (n as u64 - 1) * part_size;
                let len = part_size.min(row.size - offset) as usize;
                let data = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, offset)
                        .map(|_| Bytes::from(buf))
                })
                .await
                .expect("part reader")
                .map_err(|source| ItemError::Local { path, source })?;
                let etag = ctx.remote.upload_part(&key, &upload_id, n, data).await?;
                let (st, k, e) = (ctx.state.clone(), key.clone(), etag.clone());
                blocking(move || st.record_part(id, &k, n, &e)).await?;
                Ok::<_, ItemError>((n, etag))
            }
        })
        .buffer_unordered(parts_in_flight(&ctx.settings, part_size))
        .try_collect()
        .await?;
    let mut all: Vec<(u16, String)> = done.into_iter().chain(uploaded).collect();
    all.sort_by_key(|(n, _)| *n);
    let etag = match ctx
        .remote
        .complete_multipart(&row.key, &upload_id, &all, cond)
        .await
    {
        Ok(etag) => etag,
        Err(RemoteError::NotFound { .. }) => {
            // The upload is gone on the other side (aborted or expired): start over next time
            // (which first looks whether the object is there with our hash after all).
            forget_multipart(ctx, &row.key).await?;
            return Err(ItemError::Remote(RemoteError::Unreachable {
                remote: ctx.dest.name.clone(),
                op: "complete multipart upload".into(),
                detail: "the upload was no longer known to the server; starting it again".into(),
            }));
        }
        Err(e @ RemoteError::PreconditionFailed { .. }) => {
            // Not ours to complete (someone else's object is there), or completed before a
            // crash: either way this upload is over; the caller tells which.
            abort_multipart_of(ctx, &row.key).await?;
            return Err(e.into());
        }
        Err(e) => return Err(e.into()),
    };
    forget_multipart(ctx, &row.key).await?;
    Ok(etag)
}

async fn forget_multipart(ctx: &Ctx, key: &str) -> Result<(), ItemError> {
    let (st, id, key) = (ctx.state.clone(), ctx.dest.id, key.to_owned());
    blocking(move || st.forget_multipart(id, &key)).await?;
    Ok(())
}

/// Aborts the recorded multipart upload of `key`, if any.
pub(super) async fn abort_multipart_of(ctx: &Ctx, key: &str) -> Result<(), ItemError> {
    if let Some(m) = ctx.state.multipart(ctx.dest.id, key)? {
        ctx.remote.abort_multipart(key, &m.upload_id).await?;
        forget_multipart(ctx, key).await?;
    }
    Ok(())
}

/// Aborts multipart uploads open in the bucket that the uplink state does not know (left by a
/// crash between creating an upload and recording it), so none stays open and billed forever.
pub(super) async fn abort_strays(ctx: &Ctx) -> Result<usize, ItemError> {
    let open = ctx.remote.list_multipart("").await?;
    let known: HashSet<String> = ctx
        .state
        .multipart_uploads()?
        .into_iter()
        .filter(|m| m.destination == ctx.dest.id)
        .map(|m| m.upload_id)
        .collect();
    let mut n = 0;
    for (key, upload_id) in open {
        if !known.contains(&upload_id) {
            ctx.remote.abort_multipart(&key, &upload_id).await?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_within_what_s3_takes_and_memory_within_the_budget() {
        let s = crate::Settings::default();
        let budget = s.part_size * s.part_concurrency as u64;
        for size in [
            32 << 20,
            1 << 30,
            (s.part_size * MAX_PARTS) + 1,
            1 << 40,
            5 << 40,
        ] {
            let part = part_size_for(&s, size);
            assert!(
                part >= s.part_size && part.is_multiple_of(1 << 20),
                "{size}: {part}"
            );
            assert!(size.div_ceil(part) <= MAX_PARTS, "{size}: {part}");
            let n = parts_in_flight(&s, part);
            assert!(
                n >= 1 && (n as u64 * part <= budget || n == 1),
                "{size}: {n} x {part}"
            );
        }
        assert_eq!(part_size_for(&s, 1 << 30), s.part_size);
        assert_eq!(parts_in_flight(&s, s.part_size), s.part_concurrency);
    }
}
