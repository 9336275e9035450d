//! What the stages downstream of the store (the uplink) may read and change, as typed operations:
//! the change journal, the durability levels they work out, a walk of every namespace, the facts
//! of one blob, the batch a restore writes, and the read-through inbox.
//!
//! These are the whole contract between the store and the uplink: no other crate sees the
//! catalog's tables or its database engine. The LAN write path is not involved: journal entries
//! are appended by the namespace changes themselves, in their own transaction.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use microcloud_constants as constants;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use std::collections::HashMap;

use crate::error::{Result, StoreError};
use crate::versions::Kind;
use crate::{namespace, now_ns, schema, Durability, Stats, Store, UserId};

/// What a journal entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A file got new content (a write, or the target of a copy).
    Put,
    /// A file was removed.
    Delete,
    /// A file or directory moved (`to_path` says where).
    Rename,
    /// A directory was made.
    Mkdir,
    /// An empty directory was removed.
    Rmdir,
    /// A version of a file was kept: its content (`blob`) must stay in the clouds, even once
    /// the file's own object is replaced or deleted. Announced once per user and content.
    Version,
    /// No version of the user needs this content (`blob`, whose row may be gone: size and hash
    /// are in the entry) any more; `path` is empty.
    Unversion,
}

impl ChangeKind {
    /// The name the journal stores.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Put => "put",
            ChangeKind::Delete => "delete",
            ChangeKind::Rename => "rename",
            ChangeKind::Mkdir => "mkdir",
            ChangeKind::Rmdir => "rmdir",
            ChangeKind::Version => "version",
            ChangeKind::Unversion => "unversion",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "put" => ChangeKind::Put,
            "delete" => ChangeKind::Delete,
            "rename" => ChangeKind::Rename,
            "mkdir" => ChangeKind::Mkdir,
            "rmdir" => ChangeKind::Rmdir,
            "version" => ChangeKind::Version,
            "unversion" => ChangeKind::Unversion,
            _ => return None,
        })
    }
}

/// A blob as the things that refer to it see it: its id, size and BLAKE3 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobRef {
    /// Catalog id.
    pub id: i64,
    /// Content size in bytes.
    pub size: u64,
    /// BLAKE3 hash of the content.
    pub hash: [u8; 32],
}

/// One entry of the change journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the journal (increasing, never reused).
    pub seq: i64,
    /// The user whose space changed.
    pub user: String,
    /// What happened.
    pub kind: ChangeKind,
    /// Path below the user's root: '/'-separated, no leading slash.
    pub path: String,
    /// A rename's target, in the same form.
    pub to_path: Option<String>,
    /// The content a put wrote, or the content of a renamed file; `None` for the other kinds,
    /// and when that content is gone already (a later change replaced or removed it).
    pub blob: Option<BlobRef>,
    /// Whether the change is about a directory.
    pub is_dir: bool,
}

/// A file's content and how far it has travelled, as a walk of the namespace sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// The content.
    pub blob: BlobRef,
    /// Its durability level as the catalog holds it.
    pub durability: Durability,
    /// When the content was committed, nanoseconds since the epoch.
    pub created_ns: i64,
}

/// One file or directory met by [`Store::walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Owner.
    pub user: String,
    /// Path below the user's root ('/'-separated, no leading slash, never empty).
    pub path: String,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// `Some` for a file, `None` for a directory.
    pub file: Option<FileFacts>,
}

/// What the catalog knows about one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// Size, hash and id.
    pub blob: BlobRef,
    /// Whether its content is on local storage (not evicted).
    pub local: bool,
    /// Whether its content is kept in the catalog itself (small files).
    pub inline: bool,
    /// How far it has travelled.
    pub durability: Durability,
}

/// One kept version met by [`Store::walk_versions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// Owner.
    pub user: String,
    /// The path the content had ('/'-separated, no leading slash).
    pub path: String,
    /// The content.
    pub blob: BlobRef,
    /// The file's modification time then, ns since the epoch.
    pub mtime_ns: i64,
    /// Since when the content was at the path.
    pub from_ns: i64,
    /// When it was replaced, deleted or moved away.
    pub until_ns: i64,
    /// What ended it.
    pub kind: Kind,
    /// The device that wrote the content, when known.
    pub device: Option<String>,
    /// Kept regardless of retention.
    pub pinned: bool,
    /// How far its content has travelled, as the catalog holds it.
    pub durability: Durability,
}

/// A version a restore brings back, its content left at a destination (fetched on first read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreVersion {
    /// Owner.
    pub user: String,
    /// The path the content had.
    pub path: String,
    /// Content size.
    pub size: u64,
    /// BLAKE3 hash of the content.
    pub hash: [u8; 32],
    /// The file's modification time then.
    pub mtime_ns: i64,
    /// Since when the content was at the path.
    pub from_ns: i64,
    /// When it was replaced, deleted or moved away.
    pub until_ns: i64,
    /// What ended it.
    pub kind: Kind,
    /// The device that wrote the content, when known.
    pub device: Option<String>,
    /// Kept regardless of retention.
    pub pinned: bool,
}

/// A user a restore brings back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreUser {
    /// Login name.
    pub name: String,
    /// Administrator of the box.
    pub admin: bool,
    /// The password hash to give a new account (restore has none: an unusable placeholder).
    pub password_hash: String,
}

/// A directory a restore brings back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreDir {
    /// Owner (one of the plan's users, or an existing one).
    pub user: String,
    /// Path below the user's root.
    pub path: String,
}

/// A file a restore brings back, its content left at a destination (fetched on first read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreFile {
    /// Owner.
    pub user: String,
    /// Path below the user's root; missing parent directories are made.
    pub path: String,
    /// Content size.
    pub size: u64,
    /// BLAKE3 hash of the content (what comes back is checked against it).
    pub hash: [u8; 32],
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// Everything a restore writes into a blank store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestorePlan {
    /// Users, made unless one of that name exists.
    pub users: Vec<RestoreUser>,
    /// Directories (empty ones come back too).
    pub dirs: Vec<RestoreDir>,
    /// Files.
    pub files: Vec<RestoreFile>,
}

/// Files per catalog transaction in [`Store::restore`]. A restore fills a blank box that serves
/// no one yet, so a long hold of the writer harms nobody, and each commit waits for the disk:
/// 100,000 files took 7.3 s in batches of 500 and 4.5 s in batches of 20,000.
const RESTORE_BATCH: usize = 20_000;

fn hash32(v: Vec<u8>) -> [u8; 32] {
    v.try_into().unwrap_or([0; 32])
}

fn user_id(c: &Connection, name: &str) -> Result<Option<UserId>> {
    Ok(c.prepare_cached("SELECT id FROM users WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .map(UserId))
}

impl Store {
    /// Up to `limit` journal entries after position `seq`, oldest first.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<Change>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT c.seq, u.name, c.kind, c.path, c.to_path, c.blob_id, COALESCE(b.size, c.size), COALESCE(b.hash, c.hash), c.is_dir \
                 FROM changes c JOIN users u ON u.id = c.user_id LEFT JOIN blobs b ON b.id = c.blob_id \
                 WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![seq, limit.min(i64::MAX as usize) as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let kind: String = r.get(2)?;
                let Some(kind) = ChangeKind::parse(&kind) else {
                    log::warn!("journal entry {}: unknown kind {kind:?}, ignored", r.get::<_, i64>(0)?);
                    continue;
                };
                let blob = match (r.get::<_, Option<i64>>(5)?, r.get::<_, Option<i64>>(6)?) {
                    (Some(id), Some(size)) => Some(BlobRef {
                        id,
                        size: size.max(0) as u64,
                        hash: hash32(r.get(7)?),
                    }),
                    _ => None,
                };
                out.push(Change {
                    seq: r.get(0)?,
                    user: r.get(1)?,
                    kind,
                    path: r.get(3)?,
                    to_path: r.get(4)?,
                    blob,
                    is_dir: r.get(8)?,
                });
            }
            Ok(out)
        })
    }

    /// Forgets the journal entries up to position `upto` (once a downstream stage has recorded
    /// them on its side). Idempotent; committed without waiting for the disk (entries a power cut
    /// brings back are skipped by their position).
    pub async fn trim_changes(&self, upto: i64) -> Result<()> {
        self.writer()
            .write_relaxed(move |c| {
                c.prepare_cached("DELETE FROM changes WHERE seq <= ?1")?
                    .execute([upto])?;
                Ok(())
            })
            .await
    }

    /// Sets the durability level of each listed blob, in one durable catalog transaction; blobs
    /// that no longer exist are skipped. Blocks until committed (call it outside async tasks, or
    /// in `spawn_blocking`).
    pub fn set_durability(&self, levels: &[(i64, Durability)]) -> Result<()> {
        if levels.is_empty() {
            return Ok(());
        }
        let levels = levels.to_vec();
        self.writer()
            .write_blocking(vec![], move |c| apply_levels(c, &levels))
    }

    /// Like [`Store::set_durability`], committed without waiting for the disk: for raising
    /// levels, which a power cut may take back (a level lower than the truth is safe; the uplink
    /// works them all out again when it starts). Blocks until committed.
    pub fn set_durability_relaxed(&self, levels: &[(i64, Durability)]) -> Result<()> {
        if levels.is_empty() {
            return Ok(());
        }
        let levels = levels.to_vec();
        self.writer()
            .write_relaxed_blocking(move |c| apply_levels(c, &levels))
    }

    /// Calls `f` with every file and directory of every user (users' roots left out), in no
    /// particular order, from one consistent snapshot of the catalog, until `f` breaks. Streams:
    /// nothing is gathered in memory. Returns the journal position of the snapshot: every change
    /// up to it is reflected in what `f` saw, none after it.
    pub fn walk(&self, mut f: impl FnMut(Entry) -> ControlFlow<()>) -> Result<i64> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let r = walk_from(c, None, &mut f);
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    /// Calls `f` with the file or directory at `path` of `user` and, when `below`, with
    /// everything under it, as [`Store::walk`] does, from one snapshot; nothing when the user or
    /// the path does not exist. An empty `path` is the user's root, itself left out (as by
    /// [`Store::walk`]). The uplink's manifest deltas read what changed here.
    pub fn walk_at(
        &self,
        user: &str,
        path: &str,
        below: bool,
        mut f: impl FnMut(Entry) -> ControlFlow<()>,
    ) -> Result<()> {
        let path = path.trim_matches('/');
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let r = (|| {
                let Some(uid) = user_id(c, user)? else {
                    return Ok(());
                };
                let node = if path.is_empty() {
                    Some(namespace::root(c, uid)?)
                } else {
                    match namespace::resolve(c, uid, path) {
                        Ok(n) => n,
                        // Something on the way is missing or a file: nothing there.
                        Err(StoreError::NoParent { .. } | StoreError::NotDir { .. }) => None,
                        Err(e) => return Err(e),
                    }
                };
                match node {
                    Some(n) => walk_from(c, Some((n.id, path, below)), &mut f).map(drop),
                    None => Ok(()),
                }
            })();
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    /// Calls `f` with every kept version of `user` at `path` and, when `below`, under it (an
    /// empty `path` and `below`: all of the user's), as [`Store::walk_versions`] does.
    pub fn walk_versions_at(
        &self,
        user: &str,
        path: &str,
        below: bool,
        mut f: impl FnMut(VersionEntry) -> ControlFlow<()>,
    ) -> Result<()> {
        let path = path.trim_matches('/');
        // Under `p`: from "p/" up to "p0" ('0' follows '/'), which the path index answers.
        let (low, high) = if path.is_empty() {
            (String::new(), "\u{10FFFF}".to_owned())
        } else {
            (format!("{path}/"), format!("{path}0"))
        };
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let r = walk_versions_on(
                c,
                "WHERE u.name = ?1 AND (v.path = ?2 OR (?3 AND v.path >= ?4 AND v.path < ?5))",
                params![user, path, below, low, high],
                &mut f,
            );
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    /// The users and paths of every kept version whose content is blob `id` (a moved file's
    /// content is both its own and its old path's version).
    pub fn version_paths_of_blob(&self, id: i64) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT u.name, v.path FROM versions v JOIN users u ON u.id = v.user_id WHERE v.blob_id = ?1",
            )?;
            let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// What the catalog knows about blob `id`, if it exists.
    pub fn blob(&self, id: i64) -> Result<Option<BlobInfo>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT b.size, b.hash, b.local, b.durability, EXISTS (SELECT 1 FROM inline_blobs i WHERE i.id = b.id) \
                 FROM blobs b WHERE b.id = ?1",
            )?
            .query_row([id], |r| {
                Ok(BlobInfo {
                    blob: BlobRef {
                        id,
                        size: r.get::<_, i64>(0)?.max(0) as u64,
                        hash: hash32(r.get(1)?),
                    },
                    local: r.get(2)?,
                    durability: Durability::parse(&r.get::<_, String>(3)?),
                    inline: r.get(4)?,
                })
            })
            .optional()?)
        })
    }

    /// Writes what a restore brings back into this (blank) store: users that do not exist yet,
    /// directories with their missing parents, and files whose content stays at a destination
    /// until it is read (their blobs are recorded as evicted). Directories and users come in one
    /// transaction, files in transactions of a few hundred. Entries of users neither in the plan
    /// nor in the store are skipped. Like every namespace change, each one is journaled.
    pub async fn restore(&self, plan: RestorePlan) -> Result<()> {
        let RestorePlan { users, dirs, files } = plan;
        self.writer()
            .write(vec![], move |c| {
                let now = now_ns();
                for u in &users {
                    if user_id(c, &u.name)?.is_none() {
                        crate::check_user_name(&u.name)?;
                        c.prepare_cached(
                            "INSERT INTO users (name, password_hash, admin, created_ns) VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![u.name, u.password_hash, u.admin, now])?;
                        let id = c.last_insert_rowid();
                        c.prepare_cached(
                            "INSERT INTO nodes (user_id, parent_id, name, is_dir, mtime_ns, ctime_ns) VALUES (?1, NULL, '', 1, ?2, ?2)",
                        )?
                        .execute(params![id, now])?;
                    }
                }
                for d in &dirs {
                    if let Some(user) = user_id(c, &d.user)? {
                        namespace::mkdir_parents(c, user, &d.path, usize::MAX, now)?;
                    }
                }
                Ok(())
            })
            .await?;
        let mut files = files.into_iter().peekable();
        while files.peek().is_some() {
            let batch: Vec<RestoreFile> = files.by_ref().take(RESTORE_BATCH).collect();
            self.writer()
                .write(vec![], move |c| {
                    let now = now_ns();
                    for f in &batch {
                        let Some(user) = user_id(c, &f.user)? else {
                            continue;
                        };
                        let depth = namespace::components(&f.path)?.len().saturating_sub(1);
                        namespace::mkdir_parents(c, user, &f.path, depth, now)?;
                        let blob = (rand::random::<u64>() >> 2) as i64 + 1;
                        c.prepare_cached(
                            "INSERT INTO blobs (id, size, hash, created_ns, local) VALUES (?1, ?2, ?3, ?4, 0)",
                        )?
                        .execute(params![blob, f.size as i64, f.hash.as_slice(), now])?;
                        let mut fx = namespace::Effects::default();
                        namespace::put_file(c, user, &f.path, blob, true, None, now, &mut fx)?;
                        c.prepare_cached(
                            "UPDATE nodes SET mtime_ns = ?3 WHERE user_id = ?1 AND blob_id = ?2",
                        )?
                        .execute(params![user.0, blob, f.mtime_ns])?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// Writes the versions of a restore, after [`Store::restore`] wrote its files: each version row as it was (path,
    /// times, kind, device, pinned) with its content recorded as evicted. Content is one blob per
    /// user and hash, as in the clouds (one object per user and content): the blob of a restored
    /// file of that user and hash when there is one, else one made for the first version that
    /// needs it. Not journaled: the uplink records by itself that the destination holds them.
    /// (A method of its own rather than a field of [`RestorePlan`], whose literal other code
    /// builds field by field.) Versions of users that do not exist are skipped.
    pub async fn restore_versions(&self, versions: Vec<RestoreVersion>) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        // One look at every file's content, instead of a scan per version (blobs have no index
        // on their hash).
        let mut blobs: HashMap<(i64, [u8; 32]), i64> = self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT n.user_id, b.hash, b.id FROM nodes n JOIN blobs b ON b.id = n.blob_id",
            )?;
            let rows = stmt.query_map([], |r| Ok(((r.get(0)?, hash32(r.get(1)?)), r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut versions = versions.into_iter().peekable();
        while versions.peek().is_some() {
            let batch: Vec<RestoreVersion> = versions.by_ref().take(RESTORE_BATCH).collect();
            let known = std::mem::take(&mut blobs);
            blobs = self
                .writer()
                .write(vec![], move |c| {
                    let mut known = known;
                    let now = now_ns();
                    for v in &batch {
                        let Some(user) = user_id(c, &v.user)? else {
                            continue;
                        };
                        namespace::check_path(&v.path)?;
                        let blob = match known.get(&(user.0, v.hash)) {
                            Some(&b) => b,
                            None => {
                                let b = (rand::random::<u64>() >> 2) as i64 + 1;
                                c.prepare_cached(
                                    "INSERT INTO blobs (id, size, hash, created_ns, local) VALUES (?1, ?2, ?3, ?4, 0)",
                                )?
                                .execute(params![b, v.size as i64, v.hash.as_slice(), now])?;
                                known.insert((user.0, v.hash), b);
                                b
                            }
                        };
                        c.prepare_cached(
                            "INSERT INTO versions (user_id, path, blob_id, mtime_ns, from_ns, until_ns, kind, device, pinned) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )?
                        .execute(params![
                            user.0,
                            v.path.trim_matches('/'),
                            blob,
                            v.mtime_ns,
                            v.from_ns,
                            v.until_ns,
                            v.kind.as_str(),
                            v.device,
                            v.pinned
                        ])?;
                    }
                    Ok(known)
                })
                .await?;
        }
        Ok(())
    }

    /// Calls `f` with every blob's id and durability level, in ascending id order, from one
    /// consistent snapshot of the catalog, until `f` breaks. Streams (the uplink works out every
    /// level at start by walking this beside its own records in the same order).
    pub fn walk_blobs(&self, mut f: impl FnMut(i64, Durability) -> ControlFlow<()>) -> Result<()> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let r = (|| {
                let mut stmt = c.prepare("SELECT id, durability FROM blobs ORDER BY id")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let level = Durability::parse(&r.get::<_, String>(1)?);
                    if f(r.get(0)?, level).is_break() {
                        break;
                    }
                }
                Ok(())
            })();
            let _ = c.execute_batch("COMMIT");
            r
        })
    }

    /// Calls `f` with every kept version of every user, in no particular order, from one
    /// consistent snapshot of the catalog, until `f` breaks. Streams: nothing is gathered in
    /// memory (the manifest and the uplink's backfill of a new destination read it).
    pub fn walk_versions(&self, mut f: impl FnMut(VersionEntry) -> ControlFlow<()>) -> Result<()> {
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let r = walk_versions_on(c, "", [], &mut f);
            let _ = c.execute_batch("COMMIT");
            r
        })
    }
}

/// A version's kind as the catalog stores it (the names of [`Kind::as_str`]).
fn kind_of(s: &str) -> Kind {
    match s {
        "delete" => Kind::Delete,
        "move" => Kind::Move,
        "rollback" => Kind::Rollback,
        _ => Kind::Overwrite,
    }
}

/// Every version that `filter` (a WHERE clause over `v` and `u`, or nothing) with `args` keeps.
fn walk_versions_on(
    c: &Connection,
    filter: &str,
    args: impl rusqlite::Params,
    f: &mut impl FnMut(VersionEntry) -> ControlFlow<()>,
) -> Result<()> {
    let mut stmt = c.prepare(&format!(
        "SELECT u.name, v.path, v.blob_id, b.size, b.hash, v.mtime_ns, v.from_ns, v.until_ns, v.kind, v.device, v.pinned, b.durability \
         FROM versions v JOIN users u ON u.id = v.user_id JOIN blobs b ON b.id = v.blob_id {filter}",
    ))?;
    let mut rows = stmt.query(args)?;
    while let Some(r) = rows.next()? {
        let entry = VersionEntry {
            user: r.get(0)?,
            path: r.get(1)?,
            blob: BlobRef {
                id: r.get(2)?,
                size: r.get::<_, i64>(3)?.max(0) as u64,
                hash: hash32(r.get(4)?),
            },
            mtime_ns: r.get(5)?,
            from_ns: r.get(6)?,
            until_ns: r.get(7)?,
            kind: kind_of(&r.get::<_, String>(8)?),
            device: r.get(9)?,
            pinned: r.get(10)?,
            durability: Durability::parse(&r.get::<_, String>(11)?),
        };
        if f(entry).is_break() {
            break;
        }
    }
    Ok(())
}

fn apply_levels(c: &Connection, levels: &[(i64, Durability)]) -> Result<()> {
    let mut stmt =
        c.prepare_cached("UPDATE blobs SET durability = ?2 WHERE id = ?1 AND durability != ?2")?;
    for (id, level) in levels {
        stmt.execute(params![id, level.as_str()])?;
    }
    Ok(())
}

/// Walks every namespace (`from` is `None`), or the node `from.0` at path `from.1` and, when
/// `from.2`, everything under it.
fn walk_from(
    c: &Connection,
    from: Option<(i64, &str, bool)>,
    f: &mut impl FnMut(Entry) -> ControlFlow<()>,
) -> Result<i64> {
    // The highest position ever handed out, trimmed or not: the journal may be empty.
    let seq: i64 = c.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
        [],
        |r| r.get(0),
    )?;
    // Depth first (the queue ordered by depth, deepest out first): SQLite keeps only the rows
    // met but not yet handed out, which depth first is the siblings along one path. Breadth
    // first (its default) held every file of a level at once: about 100 MB at a million files.
    let (anchor, descend) = match from {
        None => (
            "SELECT id, user_id, '', 1, NULL, mtime_ns, 0 FROM nodes WHERE parent_id IS NULL AND ?1 IS NULL",
            "1",
        ),
        Some(_) => (
            "SELECT id, user_id, ?2, is_dir, blob_id, mtime_ns, 0 FROM nodes WHERE id = ?1",
            "?3",
        ),
    };
    let mut stmt = c.prepare(&format!(
        "WITH RECURSIVE p(id, user_id, path, is_dir, blob_id, mtime_ns, depth) AS ( \
             {anchor} \
             UNION ALL \
             SELECT n.id, n.user_id, CASE WHEN p.path = '' THEN n.name ELSE p.path || '/' || n.name END, \
                    n.is_dir, n.blob_id, n.mtime_ns, p.depth + 1 FROM nodes n JOIN p ON n.parent_id = p.id \
             WHERE {descend} ORDER BY 7 DESC) \
         SELECT u.name, p.path, p.is_dir, p.mtime_ns, p.blob_id, b.size, b.hash, b.durability, b.created_ns \
         FROM p JOIN users u ON u.id = p.user_id LEFT JOIN blobs b ON b.id = p.blob_id \
         WHERE p.path != ''",
    ))?;
    let mut rows = match from {
        None => stmt.query(params![None::<i64>])?,
        Some((id, path, below)) => stmt.query(params![id, path, below])?,
    };
    while let Some(r) = rows.next()? {
        let is_dir: bool = r.get(2)?;
        let file = match (
            is_dir,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, Option<i64>>(5)?,
        ) {
            (false, Some(id), Some(size)) => Some(FileFacts {
                blob: BlobRef {
                    id,
                    size: size.max(0) as u64,
                    hash: hash32(r.get(6)?),
                },
                durability: Durability::parse(&r.get::<_, String>(7)?),
                created_ns: r.get(8)?,
            }),
            (false, ..) => continue, // a file without content: cannot happen
            (true, ..) => None,
        };
        let entry = Entry {
            user: r.get(0)?,
            path: r.get(1)?,
            mtime_ns: r.get(3)?,
            file,
        };
        if f(entry).is_break() {
            break;
        }
    }
    Ok(seq)
}

/// A read-only view of the catalog in a data directory, for reports while the agents run (the
/// CLI's `status` and `flush`).
pub struct CatalogReader {
    conn: Connection,
    dir: PathBuf,
}

impl CatalogReader {
    /// Opens the catalog of data directory `dir` read-only.
    pub fn open(dir: &Path) -> Result<CatalogReader> {
        let catalog = dir.join(constants::CATALOG_FILE);
        if !catalog.exists() {
            return Err(StoreError::NoCatalog {
                path: dir.to_owned(),
            });
        }
        schema::init_sqlite();
        let conn = Connection::open_with_flags(&catalog, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(CatalogReader {
            conn,
            dir: dir.to_owned(),
        })
    }

    /// The read-only connection, for reports kept in other modules (versions, the guard).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The store's totals.
    pub fn stats(&self) -> Result<Stats> {
        let limit =
            crate::read_limit(&self.conn)?.unwrap_or_else(|| crate::default_limit(&self.dir));
        crate::stats_on(&self.conn, limit)
    }

    /// SQLite's own check of the catalog file (`PRAGMA integrity_check`): the problems it found,
    /// none when the catalog is sound. Read-only, so it may run beside the agents (after a power
    /// cut, say, to know the catalog came back whole).
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        integrity_problems(&self.conn)
    }

    /// SQLite's `PRAGMA data_version` on this reader's connection: it moves exactly when another
    /// connection (of any process) commits to the catalog, so two equal readings mean nothing was
    /// written in between. Lets a reader skip work that depends on the catalog alone (the
    /// uplink's manifests, a walk of every file) while nothing changed.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// How many journal entries lie after position `seq` (changes a downstream stage has not
    /// taken in yet).
    pub fn changes_after_count(&self, seq: i64) -> Result<u64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM changes WHERE seq > ?1")?
            .query_row([seq], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }
}

/// `PRAGMA integrity_check` on `conn`: each line it printed, unless it printed only "ok".
fn integrity_problems(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}
