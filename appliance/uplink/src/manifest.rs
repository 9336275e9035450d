//! The manifest: one object per destination (`.microcloud/manifest.json`) that describes the
//! namespace held there, so that a blank box can be rebuilt from the bucket alone.
//!
//! It lists users (names and roles, never password hashes), directories, every file that is
//! done at that destination with its size, BLAKE3 hash, modification time and ETag, and (format
//! version 2) every kept version of a file whose content is done there: under its version key
//! (`.microcloud/versions/<user>/<blake3>`, see `microcloud_uplink_state::version_key`), or for a
//! version ended by a move, under any done key holding that content (it lives on at the new
//! path). The uplink rewrites it when it changed, at most every `MANIFEST_INTERVAL`. Restore
//! reads it (a version 1 manifest, without versions, still reads: the field defaults to empty),
//! and falls back to listing the bucket and reading each object's hash metadata when there is
//! none (versions are not brought back then: only the manifest says which path and times a
//! version had).

use std::collections::{BTreeMap, HashMap};

use std::ops::ControlFlow;

use bytes::Bytes;
use microcloud_remotes::{Condition, Remote, RemoteError};
use microcloud_store::downstream::RestoreVersion;
use microcloud_store::versions::Kind;
use microcloud_store::{RestoreDir, RestoreFile, RestorePlan, RestoreUser, Store};
use microcloud_uplink_state::{
    is_version_key, version_key, ReplicaState, RestoredVersion, StateError, UplinkState,
};
use serde::{Deserialize, Serialize};

use crate::destinations::{self, Destination};
use crate::{blocking, UplinkError};

/// Key of the manifest, relative to the destination's prefix (user names never start with '.').
pub const MANIFEST_KEY: &str = ".microcloud/manifest.json";

/// A user as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestUser {
    /// Login name.
    pub name: String,
    /// Administrator of the box.
    pub admin: bool,
}

/// A directory (kept so that empty ones come back too).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestDir {
    /// Owner.
    pub user: String,
    /// Path below the user's root.
    pub path: String,
}

/// A file held at the destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestFile {
    /// Owner.
    pub user: String,
    /// Path below the user's root.
    pub path: String,
    /// Object key (`user/path`).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// ETag of the object.
    pub etag: Option<String>,
}

/// A kept version of a file whose content is held at the destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestVersion {
    /// Owner.
    pub user: String,
    /// The path the content had.
    pub path: String,
    /// Object key holding the content (its version key, or for a move any key holding it).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    /// The file's modification time then, ns since the epoch.
    pub mtime_ns: i64,
    /// Since when the content was at the path.
    pub from_ns: i64,
    /// When it was replaced, deleted or moved away.
    pub until_ns: i64,
    /// What ended it: `overwrite`, `delete`, `move` or `rollback`.
    pub kind: String,
    /// The device that wrote the content, when known.
    pub device: Option<String>,
    /// Kept regardless of retention.
    pub pinned: bool,
}

/// The manifest's format version this build writes (2: versions).
pub const MANIFEST_VERSION: u32 = 2;

/// The whole manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always "microcloud-manifest".
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Users.
    pub users: Vec<ManifestUser>,
    /// Directories.
    pub dirs: Vec<ManifestDir>,
    /// Files.
    pub files: Vec<ManifestFile>,
    /// Versions of files (absent from version 1 manifests).
    #[serde(default)]
    pub versions: Vec<ManifestVersion>,
}

/// Reads a manifest as fetched from a destination (restore's reader; also the fuzz target's).
pub fn parse(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Builds the manifest of destination `dest_id` from the store's namespace and what the uplink
/// state says is done there.
pub fn build(store: &Store, dest_id: i64) -> Result<Manifest, UplinkError> {
    build_with(store, &UplinkState::open_read_only(store.dir())?, dest_id)
}

fn build_with(store: &Store, state: &UplinkState, dest_id: i64) -> Result<Manifest, UplinkError> {
    let users = store
        .users()?
        .into_iter()
        .map(|u| ManifestUser {
            name: u.name,
            admin: u.admin,
        })
        .collect();
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    let mut failed: Option<StateError> = None;
    store.walk(|e| {
        let Some(file) = e.file else {
            dirs.push(ManifestDir {
                user: e.user,
                path: e.path,
            });
            return ControlFlow::Continue(());
        };
        let key = format!("{}/{}", e.user, e.path);
        match state.replica(dest_id, &key) {
            Ok(Some(r)) if r.state == ReplicaState::Done && r.blob == Some(file.blob.id) => {
                files.push(ManifestFile {
                    user: e.user,
                    path: e.path,
                    key,
                    size: file.blob.size,
                    blake3: blake3::Hash::from_bytes(file.blob.hash)
                        .to_hex()
                        .to_string(),
                    mtime_ns: e.mtime_ns,
                    etag: r.remote_etag,
                });
            }
            Ok(_) => {}
            Err(err) => {
                failed = Some(err);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    let mut versions = Vec::new();
    store.walk_versions(|v| {
        let hash = v.blob.hash;
        let key = if v.kind == Kind::Move {
            // Any key holding that content here (the file's new path, or a version key).
            match state.holders(v.blob.id) {
                Ok(h) => h.into_iter().find(|(d, _)| d.id == dest_id).map(|(_, k)| k),
                Err(err) => {
                    failed = Some(err);
                    return ControlFlow::Break(());
                }
            }
        } else {
            let key = version_key(&v.user, &hash);
            match state.replica(dest_id, &key) {
                Ok(Some(r)) if r.state == ReplicaState::Done && r.hash == Some(hash) => Some(key),
                Ok(_) => None,
                Err(err) => {
                    failed = Some(err);
                    return ControlFlow::Break(());
                }
            }
        };
        if let Some(key) = key {
            versions.push(ManifestVersion {
                user: v.user,
                path: v.path,
                key,
                size: v.blob.size,
                blake3: blake3::Hash::from_bytes(hash).to_hex().to_string(),
                mtime_ns: v.mtime_ns,
                from_ns: v.from_ns,
                until_ns: v.until_ns,
                kind: v.kind.as_str().to_owned(),
                device: v.device,
                pinned: v.pinned,
            });
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    dirs.sort_by(|a, b| (&a.user, &a.path).cmp(&(&b.user, &b.path)));
    files.sort_by(|a, b| (&a.user, &a.path).cmp(&(&b.user, &b.path)));
    versions.sort_by(|a, b| (&a.user, &a.path, a.until_ns).cmp(&(&b.user, &b.path, b.until_ns)));
    Ok(Manifest {
        format: "microcloud-manifest".into(),
        version: MANIFEST_VERSION,
        users,
        dirs,
        files,
        versions,
    })
}

/// Writes the manifest to `remote` if it differs from what was last written there.
pub async fn publish(
    store: &Store,
    dest: &Destination,
    remote: &Remote,
    last: &mut HashMap<i64, blake3::Hash>,
) -> Result<bool, UplinkError> {
    let state = UplinkState::open_read_only(store.dir())?;
    publish_with(store, &state, dest, remote, last).await
}

/// [`publish`] with the uplink state at hand.
pub(crate) async fn publish_with(
    store: &Store,
    state: &UplinkState,
    dest: &Destination,
    remote: &Remote,
    last: &mut HashMap<i64, blake3::Hash>,
) -> Result<bool, UplinkError> {
    let m = build_with(store, state, dest.id)?;
    let body = serde_json::to_vec(&m).expect("manifest serializes");
    let hash = blake3::hash(&body);
    if last.get(&dest.id) == Some(&hash) {
        return Ok(false);
    }
    remote
        .put(
            MANIFEST_KEY,
            Bytes::from(body),
            &hash.to_hex(),
            &Condition::None,
        )
        .await
        .map_err(|source| UplinkError::Manifest {
            destination: dest.name.clone(),
            source,
        })?;
    last.insert(dest.id, hash);
    Ok(true)
}

/// A version's kind by the name the manifest gives it.
fn kind_of(s: &str) -> Option<Kind> {
    Some(match s {
        "overwrite" => Kind::Overwrite,
        "delete" => Kind::Delete,
        "move" => Kind::Move,
        "rollback" => Kind::Rollback,
        _ => return None,
    })
}

/// What a restore brought back.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RestoreReport {
    /// Users recreated (without passwords).
    pub users: Vec<String>,
    /// Directories recreated.
    pub dirs: u64,
    /// Files recreated (their content stays in the cloud until read).
    pub files: u64,
    /// Versions of files recreated (their content stays in the cloud until read).
    pub versions: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Whether the manifest was used (else the bucket was listed).
    pub from_manifest: bool,
    /// Objects skipped (no hash metadata, not written by microcloud).
    pub skipped: Vec<String>,
}

/// Reads what `dest` holds: its manifest, or else a listing with each object's metadata.
async fn read_manifest(remote: &Remote) -> Result<(Manifest, bool, Vec<String>), RemoteError> {
    match remote.get(MANIFEST_KEY, None).await {
        Ok(stream) => {
            let body = microcloud_remotes::collect(stream).await?;
            let m = parse(&body).map_err(|e| RemoteError::Corrupt {
                remote: remote.name().into(),
                key: MANIFEST_KEY.into(),
                detail: e.to_string(),
            })?;
            return Ok((m, true, Vec::new()));
        }
        Err(RemoteError::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut users: BTreeMap<String, ()> = BTreeMap::new();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for obj in remote.list("").await? {
        if obj.key.starts_with('.') {
            continue;
        }
        let Some((user, path)) = obj.key.split_once('/') else {
            skipped.push(obj.key);
            continue;
        };
        let Some(info) = remote.head(&obj.key).await? else {
            continue;
        };
        let Some(b3) = info.blake3 else {
            skipped.push(obj.key);
            continue;
        };
        users.insert(user.to_owned(), ());
        files.push(ManifestFile {
            user: user.to_owned(),
            path: path.to_owned(),
            key: obj.key.clone(),
            size: info.size,
            blake3: b3,
            mtime_ns: crate::journal::now_ns(),
            etag: Some(info.etag),
        });
    }
    let users = users
        .into_keys()
        .map(|name| ManifestUser { name, admin: false })
        .collect();
    Ok((
        Manifest {
            format: "microcloud-manifest".into(),
            version: 1,
            users,
            dirs: Vec::new(),
            files,
            versions: Vec::new(),
        },
        false,
        skipped,
    ))
}

/// Rebuilds an empty store from destination `dest` (already added to the store without files):
/// users, directories and files come back; content stays in the cloud until it is read.
pub async fn restore(store: &Store, dest: &Destination) -> Result<RestoreReport, UplinkError> {
    let remote = destinations::remote(store, dest)?;
    let (m, from_manifest, skipped) =
        read_manifest(&remote)
            .await
            .map_err(|source| UplinkError::Manifest {
                destination: dest.name.clone(),
                source,
            })?;
    let mut report = RestoreReport {
        from_manifest,
        skipped,
        ..Default::default()
    };
    let mut plan = RestorePlan::default();
    for u in &m.users {
        // No password travels through the bucket: the account cannot sign in until one is set.
        plan.users.push(RestoreUser {
            name: u.name.clone(),
            admin: u.admin,
            password_hash: "!restored: set a password with `microcloud user passwd`".into(),
        });
        report.users.push(u.name.clone());
    }
    let known = |user: &str| m.users.iter().any(|u| u.name == user);
    // Names the store refuses (control characters, over-long names or paths: written into the
    // bucket by some other tool) are skipped and reported, never restored and never fatal.
    let refused = |key: &str, path: &str| {
        microcloud_store::namespace::check_path(path)
            .err()
            .map(|e| format!("{} ({e})", key.escape_debug()))
    };
    for d in &m.dirs {
        if !known(&d.user) {
            continue;
        }
        if let Some(why) = refused(&format!("{}/{}", d.user, d.path), &d.path) {
            report.skipped.push(why);
            continue;
        }
        plan.dirs.push(RestoreDir {
            user: d.user.clone(),
            path: d.path.clone(),
        });
        report.dirs += 1;
    }
    let mut present = Vec::new();
    for f in &m.files {
        if !known(&f.user) {
            continue;
        }
        let Ok(hash) = blake3::Hash::from_hex(&f.blake3) else {
            report.skipped.push(f.key.clone());
            continue;
        };
        if let Some(why) = refused(&f.key, &f.path) {
            report.skipped.push(why);
            continue;
        }
        plan.files.push(RestoreFile {
            user: f.user.clone(),
            path: f.path.clone(),
            size: f.size,
            hash: *hash.as_bytes(),
            mtime_ns: f.mtime_ns,
        });
        present.push((f.key.clone(), f.etag.clone()));
        report.files += 1;
        report.bytes += f.size;
    }
    let mut versions = Vec::new();
    for v in &m.versions {
        if !known(&v.user) {
            continue;
        }
        let (Ok(hash), Some(kind)) = (blake3::Hash::from_hex(&v.blake3), kind_of(&v.kind)) else {
            report.skipped.push(v.key.clone());
            continue;
        };
        if let Some(why) = refused(&v.key, &v.path) {
            report.skipped.push(why);
            continue;
        }
        versions.push(RestoreVersion {
            user: v.user.clone(),
            path: v.path.clone(),
            size: v.size,
            hash: *hash.as_bytes(),
            mtime_ns: v.mtime_ns,
            from_ns: v.from_ns,
            until_ns: v.until_ns,
            kind,
            device: v.device.clone(),
            pinned: v.pinned,
        });
        report.versions += 1;
    }
    store.restore(plan).await?;
    store.restore_versions(versions).await?;
    // The journal now holds a change per restored file: take it in, then record that the
    // destination already has each of them, so nothing is uploaded again.
    let state = UplinkState::open(store.dir())?;
    crate::journal::Intake::durable()
        .apply(store, &state)
        .await?;
    let (s, dest_id) = (store.clone(), dest.id);
    let st = state.clone();
    blocking(move || st.mark_restored(&s, dest_id, &present)).await?;
    // Versions were written without journal entries: the destination holds their content under
    // their version keys (a move's content lives at another key a restored file or version has,
    // and shares its blob), which read-through then finds.
    let mut held = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let wanted: std::collections::HashSet<(String, String)> = m
        .versions
        .iter()
        .filter(|v| is_version_key(&v.key))
        .map(|v| (v.user.clone(), v.key.clone()))
        .collect();
    store.walk_versions(|v| {
        let key = version_key(&v.user, &v.blob.hash);
        if wanted.contains(&(v.user.clone(), key.clone())) && seen.insert(v.blob.id) {
            held.push(RestoredVersion {
                key,
                blob: v.blob.id,
                size: v.blob.size,
                hash: v.blob.hash,
                copy_from: format!("{}/{}", v.user, v.path),
            });
        }
        ControlFlow::Continue(())
    })?;
    let (s, dest_id) = (store.clone(), dest.id);
    blocking(move || state.record_restored_versions(&s, dest_id, &held)).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_manifest_reads_with_no_versions_and_kinds_round_trip() {
        let old = br#"{"format":"microcloud-manifest","version":1,"users":[{"name":"alice","admin":true}],
            "dirs":[],"files":[{"user":"alice","path":"a","key":"alice/a","size":1,"blake3":"00","mtime_ns":5,"etag":null}]}"#;
        let m = parse(old).unwrap();
        assert_eq!((m.version, m.files.len(), m.versions.len()), (1, 1, 0));
        for k in [Kind::Overwrite, Kind::Delete, Kind::Move, Kind::Rollback] {
            assert_eq!(kind_of(k.as_str()), Some(k));
        }
        assert_eq!(kind_of("later"), None);
    }
}
