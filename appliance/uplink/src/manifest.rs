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
//!
//! A million files make a manifest of about 200 MB: the uplink builds it into an unnamed file of
//! the data directory as it walks the catalog and sends it from there (in parts when large), so
//! its memory does not grow with the namespace. It writes it whole only now and then; in between
//! (and for every `flush`) it writes a delta (`.microcloud/manifest-delta.json`, see
//! [`ManifestDelta`]): the entries, as they are now, of every path the uplink state's change
//! notes name since the whole one, which is a few lookups per changed path instead of a walk of
//! every file. Restore reads both ([`fetch`]). While neither the catalog nor the uplink's state
//! changed since the manifests were last written, nothing is built at all.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use std::ops::ControlFlow;

use bytes::Bytes;
use microcloud_remotes::{Condition, Remote, RemoteError};
use microcloud_store::downstream::RestoreVersion;
use microcloud_store::versions::Kind;
use microcloud_store::{CatalogReader, RestoreDir, RestoreFile, RestorePlan, RestoreUser, Store};
use microcloud_uplink_state::{
    is_version_key, version_key, ChangeWatch, ManifestMark, ReplicaState, RestoredVersion,
    StateError, UplinkState,
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
    /// A name of its own (random), which the delta written after it names (see [`ManifestDelta`]);
    /// absent from a manifest built in memory and from older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
}

/// Key of the delta: what changed since the whole manifest was written, relative to the
/// destination's prefix.
pub const DELTA_KEY: &str = ".microcloud/manifest-delta.json";

/// A path whose entries a delta replaces.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cleared {
    /// Owner.
    pub user: String,
    /// Path below the user's root (empty: the user's root).
    pub path: String,
    /// Everything under the path too.
    #[serde(default)]
    pub below: bool,
}

/// What changed since a whole manifest was written: the entries of every path that changed are
/// dropped from it ([`ManifestDelta::cleared`]) and the delta's own entries, those paths' entries
/// now, added. A flush writes one of these, a few kilobytes, instead of the whole manifest (about
/// 200 MB at a million files); each delta covers everything since its manifest, so only the last
/// one counts, and one naming another manifest is ignored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestDelta {
    /// Always "microcloud-manifest-delta".
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// The generation of the manifest it amends.
    pub base: String,
    /// Every user now (the list is short: carried whole).
    pub users: Vec<ManifestUser>,
    /// Paths whose entries in the manifest are dropped.
    pub cleared: Vec<Cleared>,
    /// Directories now at those paths.
    pub dirs: Vec<ManifestDir>,
    /// Files now at those paths.
    pub files: Vec<ManifestFile>,
    /// Versions now at those paths.
    pub versions: Vec<ManifestVersion>,
}

impl Manifest {
    /// Applies `delta` when it was written after this manifest (names its generation); returns
    /// whether it did.
    pub fn amend(&mut self, delta: ManifestDelta) -> bool {
        if self.generation.is_none() || self.generation.as_deref() != Some(delta.base.as_str()) {
            return false;
        }
        let mut exact = std::collections::HashSet::new();
        let mut below = std::collections::HashSet::new();
        for c in delta.cleared {
            if c.below {
                below.insert((c.user, c.path));
            } else {
                exact.insert((c.user, c.path));
            }
        }
        // A path is cleared when it is, or when it or a folder above it (or its user's root) is
        // cleared with everything under it.
        let cleared = |user: &str, path: &str| -> bool {
            let key = |p: &str| (user.to_owned(), p.to_owned());
            if exact.contains(&key(path)) || below.contains(&key(path)) || below.contains(&key(""))
            {
                return true;
            }
            let mut at = path;
            while let Some((parent, _)) = at.rsplit_once('/') {
                if below.contains(&key(parent)) {
                    return true;
                }
                at = parent;
            }
            false
        };
        self.dirs.retain(|d| !cleared(&d.user, &d.path));
        self.files.retain(|f| !cleared(&f.user, &f.path));
        self.versions.retain(|v| !cleared(&v.user, &v.path));
        self.dirs.extend(delta.dirs);
        self.files.extend(delta.files);
        self.versions.extend(delta.versions);
        self.users = delta.users;
        self.sort();
        true
    }
}

/// Reads a manifest as fetched from a destination (restore's reader; also the fuzz target's).
pub fn parse(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Builds the manifest of destination `dest_id` from the store's namespace and what the uplink
/// state says is done there, in memory (for tests and tools; the uplink writes its manifests
/// through a file, see [`publish`]).
pub fn build(store: &Store, dest_id: i64) -> Result<Manifest, UplinkError> {
    let state = UplinkState::open_read_only(store.dir())?;
    let mut m = Manifest {
        format: "microcloud-manifest".into(),
        version: MANIFEST_VERSION,
        users: users_of(store)?,
        dirs: Vec::new(),
        files: Vec::new(),
        versions: Vec::new(),
        generation: None,
    };
    emit_to(store, &state, dest_id, &mut Collect(&mut m))
        .map_err(|e| e.into_uplink(&format!("destination #{dest_id}"), store.dir()))?;
    m.sort();
    Ok(m)
}

impl Manifest {
    /// Puts the entries in path order (versions of a path by when they ended), as [`build`]
    /// gives them: the walk that writes a manifest meets them in the catalog's order.
    pub fn sort(&mut self) {
        self.dirs
            .sort_by(|a, b| (&a.user, &a.path).cmp(&(&b.user, &b.path)));
        self.files
            .sort_by(|a, b| (&a.user, &a.path).cmp(&(&b.user, &b.path)));
        self.versions
            .sort_by(|a, b| (&a.user, &a.path, a.until_ns).cmp(&(&b.user, &b.path, b.until_ns)));
    }
}

fn users_of(store: &Store) -> Result<Vec<ManifestUser>, UplinkError> {
    Ok(store
        .users()?
        .into_iter()
        .map(|u| ManifestUser {
            name: u.name,
            admin: u.admin,
        })
        .collect())
}

/// Where [`emit_to`] puts the entries of a manifest.
trait Sink {
    fn dir(&mut self, d: ManifestDir) -> std::io::Result<()>;
    fn file(&mut self, f: ManifestFile) -> std::io::Result<()>;
    fn version(&mut self, v: ManifestVersion) -> std::io::Result<()>;
}

struct Collect<'a>(&'a mut Manifest);

impl Sink for Collect<'_> {
    fn dir(&mut self, d: ManifestDir) -> std::io::Result<()> {
        self.0.dirs.push(d);
        Ok(())
    }
    fn file(&mut self, f: ManifestFile) -> std::io::Result<()> {
        self.0.files.push(f);
        Ok(())
    }
    fn version(&mut self, v: ManifestVersion) -> std::io::Result<()> {
        self.0.versions.push(v);
        Ok(())
    }
}

/// What stopped [`emit_to`].
enum EmitError {
    Uplink(UplinkError),
    Io(std::io::Error),
}

impl From<StateError> for EmitError {
    fn from(e: StateError) -> Self {
        EmitError::Uplink(e.into())
    }
}

impl From<microcloud_store::StoreError> for EmitError {
    fn from(e: microcloud_store::StoreError) -> Self {
        EmitError::Uplink(e.into())
    }
}

impl EmitError {
    /// As an uplink error; a failed write names the manifest of `destination` and `dir`.
    fn into_uplink(self, destination: &str, dir: &std::path::Path) -> UplinkError {
        match self {
            EmitError::Uplink(e) => e,
            EmitError::Io(source) => UplinkError::ManifestSpool {
                destination: destination.to_owned(),
                dir: dir.to_owned(),
                source,
            },
        }
    }
}

/// The manifest's entry for the file `e` (met by a walk of the catalog), when destination
/// `dest_id` holds it as it is.
fn file_entry(
    state: &UplinkState,
    dest_id: i64,
    e: microcloud_store::Entry,
) -> Result<Option<ManifestFile>, StateError> {
    let Some(file) = e.file else {
        return Ok(None);
    };
    let key = format!("{}/{}", e.user, e.path);
    Ok(match state.replica(dest_id, &key)? {
        Some(r) if r.state == ReplicaState::Done && r.blob == Some(file.blob.id) => {
            Some(ManifestFile {
                user: e.user,
                path: e.path,
                key,
                size: file.blob.size,
                blake3: blake3::Hash::from_bytes(file.blob.hash)
                    .to_hex()
                    .to_string(),
                mtime_ns: e.mtime_ns,
                etag: r.remote_etag,
            })
        }
        _ => None,
    })
}

/// The manifest's entry for version `v`, when destination `dest_id` holds its content: under its
/// version key, or for a move, under any key holding that content.
fn version_entry(
    state: &UplinkState,
    dest_id: i64,
    v: microcloud_store::downstream::VersionEntry,
) -> Result<Option<ManifestVersion>, StateError> {
    let hash = v.blob.hash;
    let key = if v.kind == Kind::Move {
        // Any key holding that content here (the file's new path, or a version key).
        state
            .holders(v.blob.id)?
            .into_iter()
            .find(|(d, _)| d.id == dest_id)
            .map(|(_, k)| k)
    } else {
        let key = version_key(&v.user, &hash);
        match state.replica(dest_id, &key)? {
            Some(r) if r.state == ReplicaState::Done && r.hash == Some(hash) => Some(key),
            _ => None,
        }
    };
    Ok(key.map(|key| ManifestVersion {
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
    }))
}

/// Hands `e` (a directory, or a file done at `dest_id`) to `sink`.
fn emit_entry(
    state: &UplinkState,
    dest_id: i64,
    e: microcloud_store::Entry,
    sink: &mut impl Sink,
) -> Result<(), EmitError> {
    if e.file.is_none() {
        return sink
            .dir(ManifestDir {
                user: e.user,
                path: e.path,
            })
            .map_err(EmitError::Io);
    }
    match file_entry(state, dest_id, e)? {
        Some(f) => sink.file(f).map_err(EmitError::Io),
        None => Ok(()),
    }
}

/// Hands version `v` to `sink` when its content is held at `dest_id`.
fn emit_version(
    state: &UplinkState,
    dest_id: i64,
    v: microcloud_store::downstream::VersionEntry,
    sink: &mut impl Sink,
) -> Result<(), EmitError> {
    match version_entry(state, dest_id, v)? {
        Some(v) => sink.version(v).map_err(EmitError::Io),
        None => Ok(()),
    }
}

/// Runs `step` until it fails, keeping the failure (for the store's walks, which stop on a break).
fn until_failed<'a, T>(
    failed: &'a mut Option<EmitError>,
    mut step: impl FnMut(T) -> Result<(), EmitError> + 'a,
) -> impl FnMut(T) -> ControlFlow<()> + 'a {
    move |item| match step(item) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            *failed = Some(e);
            ControlFlow::Break(())
        }
    }
}

/// Hands every directory, every file done at `dest_id` and every version whose content is held
/// there to `sink`, one at a time, from the catalog's walk (nothing is gathered here).
fn emit_to(
    store: &Store,
    state: &UplinkState,
    dest_id: i64,
    sink: &mut impl Sink,
) -> Result<(), EmitError> {
    let mut failed = None;
    store.walk(until_failed(&mut failed, |e| {
        emit_entry(state, dest_id, e, sink)
    }))?;
    if let Some(e) = failed {
        return Err(e);
    }
    store.walk_versions(until_failed(&mut failed, |v| {
        emit_version(state, dest_id, v, sink)
    }))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The paths whose entries the change notes `touched` may have changed, each once: a path under
/// a tree noted whole is left to the tree.
fn touched_paths(
    store: &Store,
    state: &UplinkState,
    dest_id: i64,
    touched: Vec<microcloud_uplink_state::Touched>,
) -> Result<Vec<Cleared>, EmitError> {
    let mut paths = std::collections::BTreeSet::new();
    let mut add = |key: &str, below: bool| {
        if let Some((user, path)) = key.split_once('/') {
            paths.insert(Cleared {
                user: user.to_owned(),
                path: path.trim_end_matches('/').to_owned(),
                below,
            });
        }
    };
    for t in touched {
        if is_version_key(&t.key) {
            // A version key's object changed: the versions of every path whose content it is.
            for from in state.version_sources(&t.key)? {
                add(&from, false);
            }
            continue;
        }
        add(&t.key, t.below);
        // A moved file's content is also its old path's version (held under the new key).
        if let Some(b) = state.replica(dest_id, &t.key)?.and_then(|r| r.blob) {
            for (user, path) in store.version_paths_of_blob(b)? {
                add(&format!("{user}/{path}"), false);
            }
        }
    }
    let trees: std::collections::HashSet<(String, String)> = paths
        .iter()
        .filter(|c| c.below)
        .map(|c| (c.user.clone(), c.path.clone()))
        .collect();
    // Whether a tree strictly above `path` (or the user's whole space) is noted.
    let under_tree = |user: &str, path: &str| {
        if path.is_empty() {
            return false;
        }
        if trees.contains(&(user.to_owned(), String::new())) {
            return true;
        }
        let mut at = path;
        while let Some((parent, _)) = at.rsplit_once('/') {
            if trees.contains(&(user.to_owned(), parent.to_owned())) {
                return true;
            }
            at = parent;
        }
        false
    };
    Ok(paths
        .into_iter()
        .filter(|c| {
            // A path noted alone and also as a tree is left to the tree.
            !under_tree(&c.user, &c.path)
                && (c.below || !trees.contains(&(c.user.clone(), c.path.clone())))
        })
        .collect())
}

/// The delta of destination `dest_id` against the manifest of generation `base`, from the change
/// notes `touched` written since it: every touched path's entries as they are now.
fn build_delta(
    store: &Store,
    state: &UplinkState,
    dest_id: i64,
    base: &str,
    touched: Vec<microcloud_uplink_state::Touched>,
) -> Result<ManifestDelta, EmitError> {
    let cleared = touched_paths(store, state, dest_id, touched)?;
    let mut m = Manifest {
        format: String::new(),
        version: MANIFEST_VERSION,
        users: users_of(store).map_err(EmitError::Uplink)?,
        dirs: Vec::new(),
        files: Vec::new(),
        versions: Vec::new(),
        generation: None,
    };
    let mut failed = None;
    for c in &cleared {
        let mut sink = Collect(&mut m);
        store.walk_at(
            &c.user,
            &c.path,
            c.below,
            until_failed(&mut failed, |e| emit_entry(state, dest_id, e, &mut sink)),
        )?;
        store.walk_versions_at(
            &c.user,
            &c.path,
            c.below,
            until_failed(&mut failed, |v| emit_version(state, dest_id, v, &mut sink)),
        )?;
        if let Some(e) = failed.take() {
            return Err(e);
        }
    }
    m.sort();
    Ok(ManifestDelta {
        format: "microcloud-manifest-delta".into(),
        version: 1,
        base: base.to_owned(),
        users: m.users,
        cleared,
        dirs: m.dirs,
        files: m.files,
        versions: m.versions,
    })
}

/// Counts and hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: blake3::Hasher,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// One JSON array being written element by element.
struct Array<W> {
    out: W,
    first: bool,
}

impl<W: Write> Array<W> {
    fn new(mut out: W) -> std::io::Result<Array<W>> {
        out.write_all(b"[")?;
        Ok(Array { out, first: true })
    }
    fn push(&mut self, v: &impl Serialize) -> std::io::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.write_all(b",")?;
        }
        serde_json::to_writer(&mut self.out, v).map_err(std::io::Error::other)
    }
    fn end(mut self) -> std::io::Result<W> {
        self.out.write_all(b"]")?;
        Ok(self.out)
    }
}

/// The manifest written as it is walked: files and then versions straight into the body, the
/// directories into a second file that is appended at the end (the walk meets them among the
/// files). The JSON's fields come in another order than [`Manifest`] declares, which JSON
/// readers ignore.
struct Spool {
    body: Option<Array<Hashing<std::io::BufWriter<File>>>>,
    versions: Option<Array<Hashing<std::io::BufWriter<File>>>>,
    dirs: Array<std::io::BufWriter<File>>,
    entries: u64,
}

impl Sink for Spool {
    fn dir(&mut self, d: ManifestDir) -> std::io::Result<()> {
        self.entries += 1;
        self.dirs.push(&d)
    }
    fn file(&mut self, f: ManifestFile) -> std::io::Result<()> {
        self.entries += 1;
        match &mut self.body {
            Some(a) => a.push(&f),
            None => Err(std::io::Error::other("files after the versions")),
        }
    }
    fn version(&mut self, v: ManifestVersion) -> std::io::Result<()> {
        self.entries += 1;
        if let Some(files) = self.body.take() {
            let mut out = files.end()?;
            out.write_all(b",\"versions\":")?;
            self.versions = Some(Array::new(out)?);
        }
        match &mut self.versions {
            Some(a) => a.push(&v),
            None => Err(std::io::Error::other("no body")),
        }
    }
}

/// A manifest built into an unnamed file of the data directory (gone when dropped).
struct Built {
    file: File,
    len: u64,
    hash: blake3::Hash,
    /// Files, directories and versions in it.
    entries: u64,
}

/// Builds the manifest of `dest_id` into a file: memory stays a few buffers whatever the number
/// of files (a million files make a manifest of about 200 MB).
fn build_to_file(
    store: &Store,
    state: &UplinkState,
    dest_id: i64,
    generation: &str,
) -> Result<Built, EmitError> {
    let dir = store.dir();
    let mut out = Hashing {
        inner: std::io::BufWriter::new(tempfile::tempfile_in(dir).map_err(EmitError::Io)?),
        hasher: blake3::Hasher::new(),
        len: 0,
    };
    let head = serde_json::json!({
        "format": "microcloud-manifest",
        "version": MANIFEST_VERSION,
        "users": users_of(store).map_err(EmitError::Uplink)?,
        "generation": generation,
    })
    .to_string();
    // The head object without its closing brace, then the arrays as further fields.
    out.write_all(&head.as_bytes()[..head.len() - 1])
        .and_then(|()| out.write_all(b",\"files\":"))
        .map_err(EmitError::Io)?;
    let dirs = std::io::BufWriter::new(tempfile::tempfile_in(dir).map_err(EmitError::Io)?);
    let mut spool = Spool {
        body: Some(Array::new(out).map_err(EmitError::Io)?),
        versions: None,
        dirs: Array::new(dirs).map_err(EmitError::Io)?,
        entries: 0,
    };
    emit_to(store, state, dest_id, &mut spool)?;
    let entries = spool.entries;
    let io = |spool: Spool| -> std::io::Result<Built> {
        let mut out = match (spool.body, spool.versions) {
            (Some(files), _) => {
                let mut out = files.end()?;
                out.write_all(b",\"versions\":[]")?;
                out
            }
            (None, Some(versions)) => versions.end()?,
            (None, None) => return Err(std::io::Error::other("no body")),
        };
        out.write_all(b",\"dirs\":")?;
        let mut dirs = spool.dirs.end()?.into_inner().map_err(|e| e.into_error())?;
        dirs.seek(SeekFrom::Start(0))?;
        std::io::copy(&mut dirs, &mut out)?;
        out.write_all(b"}")?;
        let Hashing {
            inner, hasher, len, ..
        } = out;
        let mut file = inner.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Built {
            file,
            len,
            hash: hasher.finalize(),
            entries,
        })
    };
    io(spool).map_err(EmitError::Io)
}

/// Largest manifest sent in one PUT; a larger one goes up in parts of this size, read from its
/// file one at a time.
const MANIFEST_PART: u64 = 8 << 20;

/// Sends a built manifest to `remote` as [`MANIFEST_KEY`], for destination `dest`.
async fn upload(
    remote: &Remote,
    built: Built,
    part: u64,
    dest: &str,
    dir: &std::path::Path,
) -> Result<(), UplinkError> {
    let hex = built.hash.to_hex();
    let Built { file, len, .. } = built;
    let file = std::sync::Arc::new(std::sync::Mutex::new(file));
    let read = |n: u64| {
        let file = file.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; n as usize];
                file.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .read_exact(&mut buf)
                    .map(|()| Bytes::from(buf))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| UplinkError::ManifestSpool {
                destination: dest.to_owned(),
                dir: dir.to_owned(),
                source,
            })
        }
    };
    let remote_failed = |source| UplinkError::Manifest {
        destination: dest.to_owned(),
        source,
    };
    if len <= part {
        let body = read(len).await?;
        return remote
            .put(MANIFEST_KEY, body, &hex, &Condition::None)
            .await
            .map(drop)
            .map_err(remote_failed);
    }
    let id = remote
        .create_multipart(MANIFEST_KEY, &hex)
        .await
        .map_err(remote_failed)?;
    let mut parts = Vec::new();
    let result = async {
        let mut sent = 0u64;
        while sent < len {
            let n = part.min(len - sent);
            let number = parts.len() as u16 + 1;
            let body = read(n).await?;
            let etag = remote
                .upload_part(MANIFEST_KEY, &id, number, body)
                .await
                .map_err(remote_failed)?;
            parts.push((number, etag));
            sent += n;
        }
        remote
            .complete_multipart(MANIFEST_KEY, &id, &parts, &Condition::None)
            .await
            .map_err(remote_failed)
    }
    .await;
    if result.is_err() {
        let _ = remote.abort_multipart(MANIFEST_KEY, &id).await;
    }
    result.map(drop)
}

/// Change notes a delta may cover; past them the whole manifest is written again (a delta is
/// built in memory, and resolving a note costs a few lookups).
const DELTA_NOTES: u64 = 20_000;

/// How old a whole manifest may grow while deltas amend it. A few changes reach a manifest without
/// a change note (a version pinned, say): the periodic rewrite brings them in.
const WHOLE_EVERY_NS: i64 = 3_600 * 1_000_000_000;

/// A new generation name: unique to this manifest, so that no delta written after an earlier one
/// can be taken for its own.
fn new_generation(dest_id: i64, seq: i64) -> String {
    let seed = format!(
        "{}:{}:{dest_id}:{seq}",
        crate::journal::now_ns(),
        std::process::id()
    );
    blake3::hash(seed.as_bytes()).to_hex()[..32].to_owned()
}

/// Writes the whole manifest of `dest` to `remote` and records it as the one deltas amend.
async fn publish_whole(
    store: &Store,
    state: &UplinkState,
    dest: &Destination,
    remote: &Remote,
) -> Result<(), UplinkError> {
    // Read before the walk: every note up to here is reflected in what the walk sees.
    let seq = state.touched_top()?;
    let generation = new_generation(dest.id, seq);
    let (s, st, id, g) = (store.clone(), state.clone(), dest.id, generation.clone());
    let built = tokio::task::spawn_blocking(move || build_to_file(&s, &st, id, &g))
        .await
        .map_err(|e| EmitError::Io(std::io::Error::other(e)))
        .and_then(|r| r)
        .map_err(|e| e.into_uplink(&dest.name, store.dir()))?;
    let mark = ManifestMark {
        generation,
        hash: built.hash.to_hex().to_string(),
        seq,
        written_ns: crate::journal::now_ns(),
        entries: built.entries,
    };
    upload(remote, built, MANIFEST_PART, &dest.name, store.dir()).await?;
    state.set_manifest_mark(dest.id, Some(&mark))?;
    Ok(())
}

/// Writes the whole manifest of `dest` to `remote` now (tools and tests; the uplink writes
/// through its [`Publisher`], which mostly writes deltas).
pub async fn publish(
    store: &Store,
    dest: &Destination,
    remote: &Remote,
) -> Result<(), UplinkError> {
    let state = UplinkState::open(store.dir())?;
    publish_whole(store, &state, dest, remote).await
}

/// Reads what `remote` holds of a manifest: the whole one amended by its delta, if any.
pub async fn fetch(remote: &Remote) -> Result<Option<Manifest>, RemoteError> {
    let corrupt = |key: &str, e: serde_json::Error| RemoteError::Corrupt {
        remote: remote.name().into(),
        key: key.into(),
        detail: e.to_string(),
    };
    let mut m = match remote.get(MANIFEST_KEY, None).await {
        Ok(stream) => {
            let body = microcloud_remotes::collect(stream).await?;
            parse(&body).map_err(|e| corrupt(MANIFEST_KEY, e))?
        }
        Err(RemoteError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    if m.generation.is_some() {
        match remote.get(DELTA_KEY, None).await {
            Ok(stream) => {
                let body = microcloud_remotes::collect(stream).await?;
                let delta: ManifestDelta =
                    serde_json::from_slice(&body).map_err(|e| corrupt(DELTA_KEY, e))?;
                // One naming another generation was written before this manifest: superseded.
                m.amend(delta);
            }
            Err(RemoteError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(m))
}

/// The uplink's one writer of manifests: the periodic rewrite and `flush` (over the socket) both
/// go through it. One at a time, so that a manifest built earlier is never written over one built
/// later (each is built and written under the lock).
///
/// Mostly it writes deltas: what changed since the destination's whole manifest, found from the
/// state's change notes (see `UplinkState::touched`), a few lookups per changed path. The whole
/// manifest is written again when none was recorded, when the one in the bucket is not the one
/// recorded (checked once per run: a crash between its upload and its record, or another box),
/// when the notes outgrow [`DELTA_NOTES`], and hourly while anything changed.
#[derive(Clone)]
pub(crate) struct Publisher {
    store: Store,
    state: UplinkState,
    inner: std::sync::Arc<tokio::sync::Mutex<Written>>,
    /// Whether anything a manifest says could have changed since they were all last written.
    watch: std::sync::Arc<std::sync::Mutex<Watch>>,
}

/// What this run wrote, per destination id.
#[derive(Default)]
struct Written {
    /// The hash of the last delta written.
    delta: HashMap<i64, blake3::Hash>,
    /// Destinations whose whole manifest in the bucket was seen to be the one recorded.
    verified: std::collections::HashSet<i64>,
}

/// The catalog's and the state's data versions (see [`CatalogReader::data_version`]) when every
/// manifest was last written. While both read the same, nothing a manifest says can differ, and
/// even the change notes are not read: the periodic rewrite and a `flush` with nothing new cost
/// two queries.
struct Watch {
    catalog: Option<CatalogReader>,
    state: ChangeWatch,
    written: Option<(i64, i64)>,
}

impl Watch {
    /// Both data versions now; `None` when either cannot be read (then everything is built).
    fn versions(&mut self, store: &Store) -> Option<(i64, i64)> {
        if self.catalog.is_none() {
            self.catalog = Store::open_read_only(store.dir()).ok();
        }
        let catalog = self.catalog.as_ref()?.data_version().ok()?;
        let state = self.state.version().ok()??;
        Some((catalog, state))
    }
}

impl Publisher {
    pub(crate) fn new(store: Store, state: UplinkState) -> Publisher {
        let watch = Watch {
            catalog: None,
            state: state.change_watch(),
            written: None,
        };
        Publisher {
            store,
            state,
            inner: Default::default(),
            watch: std::sync::Arc::new(std::sync::Mutex::new(watch)),
        }
    }

    /// Brings the manifest of every destination up to date (a delta, or the whole of it).
    /// Returns how many objects were written, or every destination that failed with why.
    pub(crate) async fn publish_all(&self) -> Result<usize, Vec<UplinkError>> {
        let mut written_now = self.inner.lock().await;
        // Read before building: a change made while the manifests are built moves the versions,
        // so the next call builds again.
        let versions = {
            let mut w = self.watch.lock().unwrap_or_else(|e| e.into_inner());
            let now = w.versions(&self.store);
            if now.is_some() && now == w.written {
                return Ok(0);
            }
            now
        };
        let dests = destinations::list_in(&self.state).map_err(|e| vec![e.into()])?;
        let top = self.state.touched_top().map_err(|e| vec![e.into()])?;
        let (mut written, mut failed) = (0, Vec::new());
        // The notes every destination still needs: those after its whole manifest.
        let mut needed_after = top;
        for d in dests {
            let remote = match destinations::remote(&self.store, &d) {
                Ok(r) => r,
                Err(e) => {
                    failed.push(e.into());
                    continue;
                }
            };
            // A destination that asks to slow down is answered as S3 asks: again, a little later.
            let mut result = self.publish_one(&d, &remote, &mut written_now).await;
            for wait_ms in [200, 500, 1000, 2000] {
                match &result {
                    Err(UplinkError::Manifest { source, .. }) if source.is_busy() => {
                        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                        result = self.publish_one(&d, &remote, &mut written_now).await;
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
            if let Ok(Some(mark)) = self.state.manifest_mark(d.id) {
                needed_after = needed_after.min(mark.seq);
            }
        }
        if let Err(e) = self.state.trim_touched(needed_after) {
            log::warn!("{e}");
        }
        if failed.is_empty() {
            self.watch.lock().unwrap_or_else(|e| e.into_inner()).written = versions;
            Ok(written)
        } else {
            Err(failed)
        }
    }

    /// Brings destination `d`'s manifest up to date; returns whether anything was written.
    async fn publish_one(
        &self,
        d: &Destination,
        remote: &Remote,
        written: &mut Written,
    ) -> Result<bool, UplinkError> {
        let remote_failed = |source| UplinkError::Manifest {
            destination: d.name.clone(),
            source,
        };
        let top = self.state.touched_top()?;
        let mark = match self.state.manifest_mark(d.id)? {
            Some(m) if self.state.touched_count(m.seq, top)? <= DELTA_NOTES => Some(m),
            _ => None,
        };
        let mark = mark
            .filter(|m| crate::journal::now_ns() - m.written_ns < WHOLE_EVERY_NS || m.seq == top);
        let mark = match mark {
            Some(m) if !written.verified.contains(&d.id) => {
                let there = remote.head(MANIFEST_KEY).await.map_err(remote_failed)?;
                if there.and_then(|i| i.blake3).as_deref() == Some(m.hash.as_str()) {
                    written.verified.insert(d.id);
                    Some(m)
                } else {
                    log::info!(
                        "{}: the manifest there is not the one last written from here: writing it whole",
                        d.name
                    );
                    None
                }
            }
            m => m,
        };
        let Some(mark) = mark else {
            publish_whole(&self.store, &self.state, d, remote).await?;
            written.verified.insert(d.id);
            written.delta.remove(&d.id);
            return Ok(true);
        };
        let touched = self.state.touched(mark.seq, top)?;
        let (s, st, id) = (self.store.clone(), self.state.clone(), d.id);
        let body = tokio::task::spawn_blocking(move || {
            let delta = build_delta(&s, &st, id, &mark.generation, touched)?;
            serde_json::to_vec(&delta).map_err(|e| EmitError::Io(std::io::Error::other(e)))
        })
        .await
        .map_err(|e| EmitError::Io(std::io::Error::other(e)))
        .and_then(|r| r)
        .map_err(|e| e.into_uplink(&d.name, self.store.dir()))?;
        let hash = blake3::hash(&body);
        if written.delta.get(&d.id) == Some(&hash) {
            return Ok(false);
        }
        remote
            .put(
                DELTA_KEY,
                Bytes::from(body),
                &hash.to_hex(),
                &Condition::None,
            )
            .await
            .map_err(remote_failed)?;
        written.delta.insert(d.id, hash);
        Ok(true)
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
    /// Where the time went: each phase's name and seconds, in order.
    pub phases: Vec<(&'static str, f64)>,
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
    phases: Vec<(&'static str, f64)>,
}

/// Times phases one after another.
struct Phases {
    at: std::time::Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn new(done: Vec<(&'static str, f64)>) -> Phases {
        Phases {
            at: std::time::Instant::now(),
            done,
        }
    }
    /// Ends phase `name`, started when the last one ended.
    fn end(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((name, (now - self.at).as_secs_f64()));
        self.at = now;
    }
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
    let mut phases = Phases::new(Vec::new());
    let manifest = fetch(remote).await?;
    phases.end("manifest read");
    let from_manifest = manifest.is_some();
    let mut m = manifest.unwrap_or_else(|| Manifest {
        format: "microcloud-manifest".into(),
        version: 1,
        users: Vec::new(),
        dirs: Vec::new(),
        files: Vec::new(),
        versions: Vec::new(),
        generation: None,
    });
    let listing = remote.list("").await?;
    phases.end("bucket listed");
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
    phases.end("reconciled");
    Ok(Reconciled {
        manifest: m,
        from_manifest,
        from_listing,
        skipped,
        missing,
        phases: phases.done,
    })
}

/// Rebuilds an empty store from destination `dest` (already added to the store without files):
/// users, directories and files come back; content stays in the cloud until it is read.
pub async fn restore(store: &Store, dest: &Destination) -> Result<RestoreReport, UplinkError> {
    let remote = destinations::remote(store, dest)?;
    let reconciled = reconcile(&remote)
        .await
        .map_err(|source| UplinkError::Manifest {
            destination: dest.name.clone(),
            source,
        })?;
    restore_reconciled(store, dest, reconciled).await
}

/// [`restore`] from a manifest in hand, taken as exactly what `dest` holds (no listing is read):
/// for tools that make a box of a given namespace, such as the scale benchmark, whose millions of
/// files need no objects behind them until one is read.
pub async fn restore_manifest(
    store: &Store,
    dest: &Destination,
    manifest: Manifest,
) -> Result<RestoreReport, UplinkError> {
    let reconciled = Reconciled {
        manifest,
        from_manifest: true,
        from_listing: 0,
        skipped: Vec::new(),
        missing: Vec::new(),
        phases: Vec::new(),
    };
    restore_reconciled(store, dest, reconciled).await
}

async fn restore_reconciled(
    store: &Store,
    dest: &Destination,
    reconciled: Reconciled,
) -> Result<RestoreReport, UplinkError> {
    let Reconciled {
        manifest: m,
        from_manifest,
        from_listing,
        skipped,
        missing,
        phases,
    } = reconciled;
    let mut phases = Phases::new(phases);
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
    phases.end("catalogue written");
    store.restore_versions(versions).await?;
    // The journal now holds a change per restored file: take it in, then record that the
    // destination already has each of them, so nothing is uploaded again.
    // Mostly relaxed: the marks' commit below waits for the disk, and makes these durable too.
    let state = UplinkState::open(store.dir())?;
    crate::journal::Intake::new().apply(store, &state).await?;
    phases.end("journal taken in");
    let (s, dest_id) = (store.clone(), dest.id);
    let st = state.clone();
    blocking(move || st.mark_restored(&s, dest_id, &present)).await?;
    phases.end("marked as held");
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
    phases.end("versions recorded");
    report.phases = phases.done;
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

    /// A manifest larger than a part goes up in parts read from its file one at a time, and
    /// arrives whole; a small one in one PUT.
    #[tokio::test]
    async fn a_large_manifest_goes_up_in_parts_and_arrives_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("cloud");
        std::fs::create_dir(&root).unwrap();
        let remote = Remote::new(
            microcloud_destination::RemoteConfig {
                name: "disk".into(),
                kind: microcloud_destination::RemoteKind::Dir { path: root },
            },
            None,
        )
        .unwrap();
        for len in [3_500usize, 700] {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut file = tempfile::tempfile_in(tmp.path()).unwrap();
            file.write_all(&body).unwrap();
            file.seek(SeekFrom::Start(0)).unwrap();
            let built = Built {
                file,
                len: len as u64,
                hash: blake3::hash(&body),
                entries: 0,
            };
            upload(&remote, built, 1024, "disk", tmp.path())
                .await
                .unwrap();
            let got = microcloud_remotes::collect(remote.get(MANIFEST_KEY, None).await.unwrap())
                .await
                .unwrap();
            assert_eq!(got.as_ref(), body.as_slice(), "{len} bytes");
        }
    }
}
