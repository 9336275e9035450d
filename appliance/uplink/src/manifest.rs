//! The manifest: one object per destination (`.microcloud/manifest.json`) that describes the
//! namespace held there, so that a blank box can be rebuilt from the bucket alone.
//!
//! It lists users (names and roles, never password hashes), directories, every file that is
//! done at that destination with its size, BLAKE3 hash, modification time and ETag, and (format
//! version 2) every kept version of a file whose content is done there: under its version key
//! (`.microcloud/versions/<user>/<blake3>`, see `microcloud_uplink_state::version_key`), or for a
//! version ended by a move, under any done key holding that content (it lives on at the new
//! path). The uplink rewrites it when it changed, at most every `MANIFEST_INTERVAL`. Restore
//! reads it (a version 1 manifest, without versions, still reads: the field defaults to empty)
//! and reconciles it with the bucket's listing: an object the manifest does not describe as it is
//! (uploaded after the manifest was written, or changed since) is placed from its own hash
//! metadata, and what the manifest lists but the bucket lacks is reported. With no manifest at
//! all, everything comes from the listing (versions are not brought back then: only the manifest
//! says which path and times a version had). `flush` has the manifest written before it returns.

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

/// The uplink's one writer of manifests: the periodic rewrite and `flush` (over the socket) both
/// go through it. One at a time, so that a manifest built earlier is never written over one built
/// later (each is built and written under the lock).
#[derive(Clone)]
pub(crate) struct Publisher {
    store: Store,
    state: UplinkState,
    /// What was last written, per destination id.
    last: std::sync::Arc<tokio::sync::Mutex<HashMap<i64, blake3::Hash>>>,
}

impl Publisher {
    pub(crate) fn new(store: Store, state: UplinkState) -> Publisher {
        Publisher {
            store,
            state,
            last: Default::default(),
        }
    }

    /// Writes the manifest of every destination whose namespace changed since its last one.
    /// Returns how many were written, or every destination that failed with why.
    pub(crate) async fn publish_all(&self) -> Result<usize, Vec<UplinkError>> {
        let mut last = self.last.lock().await;
        let dests = destinations::list_in(&self.state).map_err(|e| vec![e.into()])?;
        let (mut written, mut failed) = (0, Vec::new());
        for d in dests {
            let remote = match destinations::remote(&self.store, &d) {
                Ok(r) => r,
                Err(e) => {
                    failed.push(e.into());
                    continue;
                }
            };
            // A destination that asks to slow down is answered as S3 asks: again, a little later.
            let mut result = publish_with(&self.store, &self.state, &d, &remote, &mut last).await;
            for wait_ms in [200, 500, 1000, 2000] {
                match &result {
                    Err(UplinkError::Manifest { source, .. }) if source.is_busy() => {
                        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                        result =
                            publish_with(&self.store, &self.state, &d, &remote, &mut last).await;
                    }
                    _ => break,
                }
            }
            match result {
                Ok(true) => {
                    log::debug!("manifest of {} updated", d.name);
                    written += 1;
                }
                Ok(false) => {}
                Err(e) => failed.push(e),
            }
        }
        if failed.is_empty() {
            Ok(written)
        } else {
            Err(failed)
        }
    }
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
    /// Whether there was a manifest (else everything came from the bucket's listing).
    pub from_manifest: bool,
    /// Files placed from the bucket's listing and their objects' metadata, because the manifest
    /// did not list them as they are (written before they were uploaded, or before they changed).
    pub from_listing: u64,
    /// Objects skipped, with why (no hash metadata: not written by microcloud; a name the store
    /// refuses; a path that clashes with another).
    pub skipped: Vec<String>,
    /// Keys the manifest lists that the bucket does not hold (deleted after the manifest was
    /// written, or lost): not restored.
    pub missing: Vec<String>,
}

/// How many objects' metadata are asked for at once when the listing has objects the manifest
/// does not describe.
const HEADS_AT_ONCE: usize = 16;

/// What a destination holds, as restore places it: its manifest reconciled with the bucket's
/// listing. The manifest is written every few seconds, so the bucket may hold files it does not
/// list yet (uploaded after it was written), others at newer content, and none of some it lists
/// (deleted since). Every object that carries microcloud's hash metadata is placed; the rest is
/// reported.
struct Reconciled {
    manifest: Manifest,
    from_manifest: bool,
    from_listing: u64,
    skipped: Vec<String>,
    missing: Vec<String>,
}

/// Records every folder above `path` as taken by a folder.
fn occupy_dirs(user: &str, path: &str, dirs_at: &mut std::collections::HashSet<(String, String)>) {
    let mut at = path;
    while let Some((parent, _)) = at.rsplit_once('/') {
        dirs_at.insert((user.to_owned(), parent.to_owned()));
        at = parent;
    }
}

async fn reconcile(remote: &Remote) -> Result<Reconciled, RemoteError> {
    let manifest = match remote.get(MANIFEST_KEY, None).await {
        Ok(stream) => {
            let body = microcloud_remotes::collect(stream).await?;
            Some(parse(&body).map_err(|e| RemoteError::Corrupt {
                remote: remote.name().into(),
                key: MANIFEST_KEY.into(),
                detail: e.to_string(),
            })?)
        }
        Err(RemoteError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let from_manifest = manifest.is_some();
    let mut m = manifest.unwrap_or_else(|| Manifest {
        format: "microcloud-manifest".into(),
        version: 1,
        users: Vec::new(),
        dirs: Vec::new(),
        files: Vec::new(),
        versions: Vec::new(),
    });
    let listing = remote.list("").await?;
    let all_keys: std::collections::HashSet<String> =
        listing.iter().map(|o| o.key.clone()).collect();
    // Users' objects (a user's name never starts with '.'; microcloud's own keys all do).
    let mut listed: BTreeMap<String, microcloud_remotes::ObjectInfo> = listing
        .into_iter()
        .filter(|o| !o.key.starts_with('.'))
        .map(|o| (o.key.clone(), o))
        .collect();
    let mut missing = Vec::new();
    // A manifest's file is taken as it says when the bucket holds that very object (same ETag
    // and size); an object that changed since is described by its own metadata instead.
    m.files.retain(|f| match listed.get(&f.key) {
        Some(o) if o.size == f.size && f.etag.as_ref().is_none_or(|e| *e == o.etag) => {
            listed.remove(&f.key);
            true
        }
        Some(_) => false,
        None => {
            missing.push(f.key.clone());
            false
        }
    });
    m.versions.retain(|v| {
        let held = all_keys.contains(&v.key);
        if !held {
            missing.push(v.key.clone());
        }
        held
    });
    // What a placed file or directory occupies: its path, and every folder above it.
    let mut files_at: std::collections::HashSet<(String, String)> = Default::default();
    let mut dirs_at: std::collections::HashSet<(String, String)> = Default::default();
    for d in &m.dirs {
        dirs_at.insert((d.user.clone(), d.path.clone()));
        occupy_dirs(&d.user, &d.path, &mut dirs_at);
    }
    for f in &m.files {
        files_at.insert((f.user.clone(), f.path.clone()));
        occupy_dirs(&f.user, &f.path, &mut dirs_at);
    }
    let mut skipped = Vec::new();
    let heads: Vec<_> = futures_util::StreamExt::collect(futures_util::StreamExt::buffered(
        futures_util::stream::iter(listed.into_values().map(|o| async move {
            let info = remote.head(&o.key).await;
            (o, info)
        })),
        HEADS_AT_ONCE,
    ))
    .await;
    let mut from_listing = 0;
    for (o, info) in heads {
        let Some((user, path)) = o.key.split_once('/') else {
            skipped.push(format!(
                "{} (not under a user's name)",
                o.key.escape_debug()
            ));
            continue;
        };
        if microcloud_store::check_user_name(user).is_err() {
            skipped.push(format!(
                "{} (not a user name microcloud accepts)",
                o.key.escape_debug()
            ));
            continue;
        }
        // Gone between the listing and the look at it: deleted meanwhile.
        let Some(info) = info? else {
            continue;
        };
        let Some(b3) = info.blake3 else {
            skipped.push(format!(
                "{} (no microcloud hash metadata)",
                o.key.escape_debug()
            ));
            continue;
        };
        // Objects of one bucket can clash where a namespace cannot (a file `a` and a file
        // `a/b`, left by a change the uplink had not finished): the first placed wins.
        let here = (user.to_owned(), path.to_owned());
        let above_is_file = {
            let mut at = path;
            let mut clash = false;
            while let Some((parent, _)) = at.rsplit_once('/') {
                clash |= files_at.contains(&(user.to_owned(), parent.to_owned()));
                at = parent;
            }
            clash
        };
        if files_at.contains(&here) || dirs_at.contains(&here) || above_is_file {
            skipped.push(format!(
                "{} (clashes with a file or folder restored at that path)",
                o.key.escape_debug()
            ));
            continue;
        }
        if !m.users.iter().any(|u| u.name == user) {
            m.users.push(ManifestUser {
                name: user.to_owned(),
                admin: false,
            });
        }
        occupy_dirs(user, path, &mut dirs_at);
        files_at.insert(here);
        m.files.push(ManifestFile {
            user: user.to_owned(),
            path: path.to_owned(),
            key: o.key.clone(),
            size: info.size,
            blake3: b3,
            // Object metadata carries no modification time: the restore's time stands in.
            mtime_ns: crate::journal::now_ns(),
            etag: Some(info.etag),
        });
        from_listing += 1;
    }
    Ok(Reconciled {
        manifest: m,
        from_manifest,
        from_listing,
        skipped,
        missing,
    })
}

/// Rebuilds an empty store from destination `dest` (already added to the store without files):
/// users, directories and files come back; content stays in the cloud until it is read.
pub async fn restore(store: &Store, dest: &Destination) -> Result<RestoreReport, UplinkError> {
    let remote = destinations::remote(store, dest)?;
    let Reconciled {
        manifest: m,
        from_manifest,
        from_listing,
        skipped,
        missing,
    } = reconcile(&remote)
        .await
        .map_err(|source| UplinkError::Manifest {
            destination: dest.name.clone(),
            source,
        })?;
    let mut report = RestoreReport {
        from_manifest,
        from_listing,
        skipped,
        missing,
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
            report.skipped.push(format!(
                "{} (its hash is not BLAKE3 hex)",
                f.key.escape_debug()
            ));
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
            report.skipped.push(format!(
                "{} (a version the manifest describes in a way this build does not know)",
                v.key.escape_debug()
            ));
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
