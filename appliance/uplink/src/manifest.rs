//! The manifest: one object per destination (`.microcloud/manifest.json`) that describes the
//! namespace held there, so that a blank box can be rebuilt from the bucket alone.
//!
//! It lists users (names and roles, never password hashes), directories, and every file that is
//! done at that destination with its size, BLAKE3 hash, modification time and ETag. The uplink
//! rewrites it when it changed, at most every `MANIFEST_INTERVAL`. Restore reads it, and falls
//! back to listing the bucket and reading each object's hash metadata when there is none.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use microcloud_remotes::{Condition, Remote, RemoteError};
use microcloud_store::rusqlite::params;
use microcloud_store::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::destinations::{self, Destination};
use crate::UplinkError;

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
}

/// Reads a manifest as fetched from a destination (restore's reader; also the fuzz target's).
pub fn parse(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Builds the manifest of destination `dest_id` from the catalog.
pub fn build(store: &Store, dest_id: i64) -> Result<Manifest, StoreError> {
    store.catalog_read(|c| {
        let users = {
            let mut stmt = c.prepare("SELECT name, admin FROM users ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok(ManifestUser { name: r.get(0)?, admin: r.get(1)? }))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut stmt = c.prepare(
            "WITH RECURSIVE p(id, user_id, path, is_dir, blob_id, mtime_ns) AS ( \
                 SELECT id, user_id, '', 1, NULL, mtime_ns FROM nodes WHERE parent_id IS NULL \
                 UNION ALL \
                 SELECT n.id, n.user_id, CASE WHEN p.path = '' THEN n.name ELSE p.path || '/' || n.name END, \
                        n.is_dir, n.blob_id, n.mtime_ns FROM nodes n JOIN p ON n.parent_id = p.id) \
             SELECT u.name, p.path, p.is_dir, b.size, b.hash, p.mtime_ns, r.remote_etag, r.key \
             FROM p JOIN users u ON u.id = p.user_id \
             LEFT JOIN blobs b ON b.id = p.blob_id \
             LEFT JOIN replicas r ON r.dest_id = ?1 AND r.key = u.name || '/' || p.path AND r.state = 'done' AND r.blob_id = p.blob_id \
             WHERE p.path != '' AND (p.is_dir = 1 OR r.key IS NOT NULL) ORDER BY u.name, p.path",
        )?;
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        let mut rows = stmt.query(params![dest_id])?;
        while let Some(r) = rows.next()? {
            let (user, path, is_dir): (String, String, bool) = (r.get(0)?, r.get(1)?, r.get(2)?);
            if is_dir {
                dirs.push(ManifestDir { user, path });
            } else {
                let hash: Vec<u8> = r.get(4)?;
                let hash: [u8; 32] = hash.try_into().unwrap_or([0; 32]);
                files.push(ManifestFile {
                    key: r.get(7)?,
                    user,
                    path,
                    size: r.get::<_, i64>(3)? as u64,
                    blake3: blake3::Hash::from_bytes(hash).to_hex().to_string(),
                    mtime_ns: r.get(5)?,
                    etag: r.get(6)?,
                });
            }
        }
        Ok(Manifest { format: "microcloud-manifest".into(), version: 1, users, dirs, files })
    })
}

/// Writes the manifest to `remote` if it differs from what was last written there.
pub async fn publish(
    store: &Store,
    dest: &Destination,
    remote: &Remote,
    last: &mut HashMap<i64, blake3::Hash>,
) -> Result<bool, UplinkError> {
    let m = build(store, dest.id)?;
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

/// What a restore brought back.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RestoreReport {
    /// Users recreated (without passwords).
    pub users: Vec<String>,
    /// Directories recreated.
    pub dirs: u64,
    /// Files recreated (their content stays in the cloud until read).
    pub files: u64,
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
    let mut ids = HashMap::new();
    for u in &m.users {
        // No password travels through the bucket: the account cannot sign in until one is set.
        let id = match store.user(&u.name)? {
            Some(existing) => existing.id,
            None => store.add_user(
                &u.name,
                "!restored: set a password with `microcloud user passwd`",
                u.admin,
            )?,
        };
        ids.insert(u.name.clone(), id);
        report.users.push(u.name.clone());
    }
    // Names the store refuses (control characters, over-long names or paths: written into the
    // bucket by some other tool) are skipped and reported, never restored and never fatal.
    let refused = |key: &str, path: &str| {
        microcloud_store::namespace::check_path(path)
            .err()
            .map(|e| format!("{} ({e})", key.escape_debug()))
    };
    for d in &m.dirs {
        let Some(&id) = ids.get(&d.user) else {
            continue;
        };
        if let Some(why) = refused(&format!("{}/{}", d.user, d.path), &d.path) {
            report.skipped.push(why);
            continue;
        }
        store.mkdir_all(id, &d.path).await?;
        report.dirs += 1;
    }
    let mut present = Vec::new();
    for f in &m.files {
        let Some(&id) = ids.get(&f.user) else {
            continue;
        };
        let Ok(hash) = blake3::Hash::from_hex(&f.blake3) else {
            report.skipped.push(f.key.clone());
            continue;
        };
        if let Some(why) = refused(&f.key, &f.path) {
            report.skipped.push(why);
            continue;
        }
        store
            .restore_file(id, &f.path, f.size, *hash.as_bytes(), f.mtime_ns)
            .await?;
        present.push((f.key.clone(), f.etag.clone()));
        report.files += 1;
        report.bytes += f.size;
    }
    // The journal now holds a change per restored file: apply it, then record that the
    // destination already has each of them, so nothing is uploaded again.
    crate::journal::apply(store).await?;
    let dest_id = dest.id;
    store
        .catalog_write(move |c| {
            for (key, etag) in present {
                c.prepare_cached("UPDATE replicas SET state = 'done', remote_etag = ?3 WHERE dest_id = ?1 AND key = ?2")?
                    .execute(params![dest_id, key, etag])?;
            }
            crate::durability::recompute_all(c)?;
            Ok(())
        })
        .await?;
    Ok(report)
}
