//! Versions, trash and rollback: nothing a tablet does is final.
//!
//! An overwrite, a delete, a move and a rollback keep what they replace as a row of `versions`
//! that shares the blob, in the same transaction as the change itself. A node records since when
//! its content has been at its path, so the state of a folder at a moment `t` is: the nodes whose
//! content is older than `t`, plus the versions that were live at `t` (`from_ns <= t < until_ns`).
//! A rollback computes that state and applies it as one transaction, keeping what it replaces as
//! versions in turn, so a rollback can itself be undone.
//!
//! Retention (default 30 days, and optionally a size cap per user, oldest first) removes versions
//! through [`Store::expire_versions`], which takes the clock as an argument. Pinned versions (see
//! the ransomware guard in `guard`) never expire. The journal tells the uplink when a version's
//! content must be kept in the clouds (`version`, once per user and content) and when it may go
//! (`unversion`, once no version of that user needs it).

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension, Row};

pub use crate::clock::rfc3339;
use crate::error::{Result, StoreError};
pub(crate) use crate::history::{guard_open, keep, policy_on, subtree_files};
pub use crate::history::{looks_random, Kind, Policy};
use crate::namespace::{self, canonical, journal, Effects};
use crate::{now_ns, Durability, Node, Store, UserId};

/// One kept version of a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    /// Catalog id (what `restore` and the page name it by).
    pub id: i64,
    /// The path the content had.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    /// The blob holding the content.
    #[serde(skip)]
    pub blob_id: i64,
    /// The file's modification time then, ns since the epoch.
    pub mtime_ns: i64,
    /// Since when the content was at the path (0: before versions were kept).
    pub from_ns: i64,
    /// When it was replaced, deleted or moved away.
    pub until_ns: i64,
    /// What ended it.
    pub kind: Kind,
    /// The device that wrote the content, when known.
    pub device: Option<String>,
    /// Kept regardless of retention (the ransomware guard pinned it).
    pub pinned: bool,
    /// Whether its content is on the box (else it comes back from a destination).
    pub local: bool,
    /// How far its content has travelled.
    pub durability: Durability,
}

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// What a rollback, a restore or an undelete changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RollbackReport {
    /// Files given back the content they had (created or replaced).
    pub restored: u64,
    /// Files removed because they did not exist then.
    pub removed: u64,
    /// Files that already were as they were then.
    pub unchanged: u64,
    /// Empty folders removed because they did not exist then.
    pub folders_removed: u64,
}

/// Space taken by versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct VersionSpace {
    /// Versions kept.
    pub versions: u64,
    /// Of them, pinned by the guard.
    pub pinned: u64,
    /// Bytes of content only versions refer to (what versions add to the box).
    pub bytes: u64,
    /// Of those, bytes on local storage (the rest was evicted: it is in the clouds).
    pub local_bytes: u64,
}

/// What an expiry removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Expired {
    /// Versions removed.
    pub versions: u64,
    /// Bytes of content freed on the box.
    pub bytes: u64,
}

/// Folders strictly below `node`, deepest first, with their paths and creation times.
fn subtree_dirs(c: &Connection, node: &Node, base: &str) -> Result<Vec<(i64, String, i64)>> {
    let mut stmt = c.prepare_cached(
        "WITH RECURSIVE t(id, path, is_dir, ctime_ns, depth) AS ( \
             SELECT id, ?2, is_dir, ctime_ns, 0 FROM nodes WHERE id = ?1 \
             UNION ALL \
             SELECT n.id, CASE WHEN t.path = '' THEN n.name ELSE t.path || '/' || n.name END, \
                    n.is_dir, n.ctime_ns, t.depth + 1 \
             FROM nodes n JOIN t ON n.parent_id = t.id WHERE n.is_dir = 1) \
         SELECT id, path, ctime_ns FROM t WHERE depth > 0 ORDER BY depth DESC",
    )?;
    let rows = stmt.query_map(params![node.id, base], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

const VERSION_COLUMNS: &str = "v.id, v.path, b.size, b.hash, v.blob_id, v.mtime_ns, v.from_ns, \
     v.until_ns, v.kind, v.device, v.pinned, b.local, b.durability";

fn version_from(r: &Row) -> rusqlite::Result<Version> {
    let hash: Vec<u8> = r.get(3)?;
    let hash: [u8; 32] = hash.try_into().unwrap_or([0; 32]);
    Ok(Version {
        id: r.get(0)?,
        path: r.get(1)?,
        size: r.get::<_, i64>(2)?.max(0) as u64,
        blake3: blake3::Hash::from_bytes(hash).to_hex().to_string(),
        blob_id: r.get(4)?,
        mtime_ns: r.get(5)?,
        from_ns: r.get(6)?,
        until_ns: r.get(7)?,
        kind: Kind::parse(&r.get::<_, String>(8)?),
        device: r.get(9)?,
        pinned: r.get(10)?,
        local: r.get(11)?,
        durability: Durability::parse(&r.get::<_, String>(12)?),
    })
}

/// The condition "path is `base` or below it" for versions, on `v.path`, with `base` as ?2.
const UNDER: &str = "(?2 = '' OR v.path = ?2 OR (v.path > ?2 || '/' AND v.path < ?2 || '0'))";

/// Versions at or below `base` that were live at `at`, the latest per path.
fn live_at(c: &Connection, user: UserId, base: &str, at: i64) -> Result<BTreeMap<String, Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v JOIN blobs b ON b.id = v.blob_id \
         WHERE v.user_id = ?1 AND {UNDER} AND v.from_ns <= ?3 AND v.until_ns > ?3 \
         ORDER BY v.from_ns, v.id"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user.0, base, at], version_from)?;
    let mut out = BTreeMap::new();
    for v in rows {
        let v = v?;
        out.insert(v.path.clone(), v);
    }
    Ok(out)
}

/// The earliest moment a rollback can reach under the policy, given `now`.
fn retention_start(policy: &Policy, now: i64) -> i64 {
    now.saturating_sub(i64::from(policy.keep_days) * NS_PER_DAY)
}

/// Puts `base` (a file or a folder, "" for the whole space) back as it was at `at`, as one
/// transaction: see the module's doc.
pub(crate) fn rollback_on(
    c: &Connection,
    user: UserId,
    path: &str,
    at: i64,
    now: i64,
    fx: &mut Effects,
) -> Result<RollbackReport> {
    let base = canonical(path)?;
    let shown = format!("/{base}");
    let policy = policy_on(c)?;
    if policy.keep_days == 0 {
        return Err(StoreError::VersionsOff);
    }
    if at > now {
        return Err(StoreError::InTheFuture { at_ns: at });
    }
    let earliest = retention_start(&policy, now);
    let pinned_before: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM versions v WHERE v.user_id = ?1 AND v.pinned AND v.from_ns <= ?3 AND v.until_ns > ?3 \
             AND (?2 = '' OR v.path = ?2 OR (v.path > ?2 || '/' AND v.path < ?2 || '0')))",
        )?
        .query_row(params![user.0, base, at], |r| r.get(0))?;
    if at < earliest && !pinned_before {
        return Err(StoreError::BeforeRetention {
            path: shown,
            at_ns: at,
            earliest_ns: earliest,
        });
    }
    let mut want = live_at(c, user, &base, at)?;
    let node = namespace::resolve(c, user, &base).or_else(|e| match e {
        StoreError::NoParent { .. } | StoreError::NotDir { .. } => Ok(None),
        e => Err(e),
    })?;
    if node.is_none() && want.is_empty() {
        let ever: bool = c
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM versions v WHERE v.user_id = ?1 AND {UNDER})"
            ))?
            .query_row(params![user.0, base], |r| r.get(0))?;
        return Err(if ever {
            StoreError::NothingThen {
                path: shown,
                at_ns: at,
            }
        } else {
            StoreError::NeverExisted { path: shown }
        });
    }
    let mut report = RollbackReport::default();
    // 1. Files that are here now: kept if older than `at`, else given their content of then or
    //    removed.
    let live = match &node {
        Some(n) => subtree_files(c, n, &base)?,
        None => Vec::new(),
    };
    for f in live {
        if f.since_ns <= at {
            want.remove(&f.path);
            report.unchanged += 1;
            continue;
        }
        let node = namespace::lookup(c, user, &f.path)?;
        match want.remove(&f.path) {
            Some(v) if v.blob_id == f.blob => {
                report.unchanged += 1;
            }
            Some(v) => {
                keep(c, user, &f.path, &node, Kind::Rollback, now)?;
                c.prepare_cached(
                    "UPDATE nodes SET blob_id = ?2, mtime_ns = ?3, since_ns = ?4, device = ?5 WHERE id = ?1",
                )?
                .execute(params![f.id, v.blob_id, v.mtime_ns, now, v.device])?;
                fx.freed.extend(namespace::release_blob(c, Some(f.blob))?);
                journal(c, user, "put", &f.path, None, Some(v.blob_id), false, now)?;
                report.restored += 1;
            }
            None => {
                keep(c, user, &f.path, &node, Kind::Rollback, now)?;
                let parent: i64 = c
                    .prepare_cached("SELECT parent_id FROM nodes WHERE id = ?1")?
                    .query_row([f.id], |r| r.get(0))?;
                c.prepare_cached("DELETE FROM nodes WHERE id = ?1")?
                    .execute([f.id])?;
                fx.freed.extend(namespace::release_blob(c, Some(f.blob))?);
                c.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
                    .execute(params![parent, now])?;
                journal(c, user, "delete", &f.path, None, None, false, now)?;
                report.removed += 1;
            }
        }
    }
    // 2. Folders made after `at` that are empty now did not exist then.
    if let Some(n) = node.as_ref().filter(|n| n.is_dir) {
        for (id, dir, ctime) in subtree_dirs(c, n, &base)? {
            let empty: bool = c
                .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM nodes WHERE parent_id = ?1)")?
                .query_row([id], |r| r.get(0))?;
            if empty && ctime > at && !want.keys().any(|p| p.starts_with(&format!("{dir}/"))) {
                c.prepare_cached("DELETE FROM nodes WHERE id = ?1")?
                    .execute([id])?;
                journal(c, user, "rmdir", &dir, None, None, true, now)?;
                report.folders_removed += 1;
            }
        }
    }
    // 3. Files that were there then and are missing now come back, with their folders.
    for (p, v) in want {
        put_back(c, user, &p, &v, now)?;
        report.restored += 1;
    }
    Ok(report)
}

/// Makes `path` a file with version `v`'s content, making missing folders; `path` must be free.
fn put_back(c: &Connection, user: UserId, path: &str, v: &Version, now: i64) -> Result<()> {
    let depth = namespace::components(path)?.len().saturating_sub(1);
    namespace::mkdir_parents(c, user, path, depth, now).map_err(|e| match e {
        StoreError::NotDir { path: p } => StoreError::RollbackBlocked {
            path: format!("/{p}"),
            why: "is a file now and was a folder then: move it away first",
        },
        e => e,
    })?;
    let (parent, name) = namespace::parent_of(c, user, path)?;
    if let Some(existing) = namespace::child(c, parent.id, name)? {
        return Err(StoreError::RollbackBlocked {
            path: format!("/{path}"),
            why: if existing.is_dir {
                "is a folder now and was a file then: move the folder away first"
            } else {
                "is a file now"
            },
        });
    }
    let id = namespace::insert_node(
        c,
        user,
        parent.id,
        name,
        false,
        Some(v.blob_id),
        v.device.as_deref(),
        now,
    )?;
    c.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
        .execute(params![id, v.mtime_ns])?;
    journal(c, user, "put", path, None, Some(v.blob_id), false, now)
}

fn version_on(c: &Connection, user: UserId, id: i64) -> Result<Version> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v JOIN blobs b ON b.id = v.blob_id \
         WHERE v.id = ?1 AND v.user_id = ?2"
    );
    c.prepare_cached(&sql)?
        .query_row(params![id, user.0], version_from)
        .optional()?
        .ok_or(StoreError::NoSuchVersion { id })
}

fn restore_on(
    c: &Connection,
    user: UserId,
    v: &Version,
    now: i64,
    fx: &mut Effects,
) -> Result<bool> {
    match namespace::resolve(c, user, &v.path).or_else(|e| match e {
        StoreError::NoParent { .. } => Ok(None),
        e => Err(e),
    })? {
        Some(n) if n.is_dir => Err(StoreError::RollbackBlocked {
            path: format!("/{}", v.path),
            why: "is a folder now and was a file then: move the folder away first",
        }),
        Some(n) if n.blob_id == Some(v.blob_id) => Ok(false),
        Some(n) => {
            keep(c, user, &v.path, &n, Kind::Rollback, now)?;
            c.prepare_cached(
                "UPDATE nodes SET blob_id = ?2, mtime_ns = ?3, since_ns = ?4, device = ?5 WHERE id = ?1",
            )?
            .execute(params![n.id, v.blob_id, v.mtime_ns, now, v.device])?;
            fx.freed.extend(namespace::release_blob(c, n.blob_id)?);
            journal(c, user, "put", &v.path, None, Some(v.blob_id), false, now)?;
            Ok(true)
        }
        None => {
            put_back(c, user, &v.path, v, now)?;
            Ok(true)
        }
    }
}

/// The trash of `user` at or below `base`: for every path with no file now whose latest version
/// was ended by a delete (or a rollback that removed it), that version.
fn trash_on(c: &Connection, user: UserId, base: &str) -> Result<Vec<Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v JOIN blobs b ON b.id = v.blob_id \
         WHERE v.user_id = ?1 AND {UNDER} AND v.kind IN ('delete', 'rollback') \
           AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.user_id = v.user_id AND w.path = v.path \
                           AND (w.until_ns > v.until_ns OR (w.until_ns = v.until_ns AND w.id > v.id))) \
         ORDER BY v.until_ns DESC, v.path"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![user.0, base], version_from)?;
    let mut out = Vec::new();
    for v in rows {
        let v = v?;
        let here = matches!(namespace::resolve(c, user, &v.path), Ok(Some(n)) if !n.is_dir);
        if !here {
            out.push(v);
        }
    }
    Ok(out)
}

impl Store {
    /// The versions policy (retention, size cap, guard rule).
    pub fn version_policy(&self) -> Result<Policy> {
        self.read(policy_on)
    }

    /// Sets the versions policy.
    pub async fn set_version_policy(&self, policy: Policy) -> Result<()> {
        let json = serde_json::to_string(&policy).expect("a policy serializes");
        self.writer()
            .write(vec![], move |c| {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('versions_policy', ?1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [json],
                )?;
                Ok(())
            })
            .await
    }

    /// The kept versions of the file at `path` (which may be gone now), newest first.
    pub fn versions(&self, user: UserId, path: &str) -> Result<Vec<Version>> {
        let path = canonical(path)?;
        self.read(|c| {
            let sql = format!(
                "SELECT {VERSION_COLUMNS} FROM versions v JOIN blobs b ON b.id = v.blob_id \
                 WHERE v.user_id = ?1 AND v.path = ?2 ORDER BY v.until_ns DESC, v.id DESC"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![user.0, path], version_from)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// One version of `user` by id.
    pub fn version(&self, user: UserId, id: i64) -> Result<Version> {
        self.read(|c| version_on(c, user, id))
    }

    /// The device that wrote the current content of the file at `path`, when known.
    pub fn writer_of(&self, user: UserId, path: &str) -> Result<Option<String>> {
        self.read(|c| {
            let n = namespace::lookup(c, user, path)?;
            Ok(c.prepare_cached("SELECT device FROM nodes WHERE id = ?1")?
                .query_row([n.id], |r| r.get(0))?)
        })
    }

    /// Deleted files of `user` at or below `path` ("" for all), most recently deleted first.
    pub fn trash(&self, user: UserId, path: &str) -> Result<Vec<Version>> {
        let base = canonical(path)?;
        self.read(|c| trash_on(c, user, &base))
    }

    /// Makes the evicted content of `versions` local again (through the fetcher) before a
    /// rollback points files at it, so that nothing is restored that cannot be read: a version
    /// whose cloud copy is missing or damaged fails the whole rollback, naming it.
    async fn ensure_available(&self, versions: &[Version]) -> Result<()> {
        for v in versions.iter().filter(|v| !v.local) {
            if let Err(e) = self.local_content(v.blob_id).await {
                return Err(StoreError::VersionUnavailable {
                    id: v.id,
                    path: v.path.clone(),
                    why: match e {
                        StoreError::Unavailable { why, .. } => why,
                        e => e.to_string(),
                    },
                });
            }
        }
        Ok(())
    }

    /// Puts the file or folder at `path` back as it was at `at_ns` (ns since the epoch), as one
    /// transaction; what it replaces is kept as versions.
    pub async fn rollback(&self, user: UserId, path: &str, at_ns: i64) -> Result<RollbackReport> {
        let base = canonical(path)?;
        let wanted: Vec<Version> = self
            .read(|c| live_at(c, user, &base, at_ns))?
            .into_values()
            .collect();
        self.ensure_available(&wanted).await?;
        let path = path.to_owned();
        let (report, fx) = self
            .writer()
            .write(vec![], move |c| {
                let mut fx = Effects::default();
                let r = rollback_on(c, user, &path, at_ns, now_ns(), &mut fx)?;
                Ok((r, fx))
            })
            .await?;
        self.unlink_blobs(fx.freed);
        Ok(report)
    }

    /// Puts version `id` back at its path (the content there now is kept as a version).
    pub async fn restore_version(&self, user: UserId, id: i64) -> Result<RollbackReport> {
        self.ensure_available(&[self.version(user, id)?]).await?;
        let fx = self
            .writer()
            .write(vec![], move |c| {
                let mut fx = Effects::default();
                let v = version_on(c, user, id)?;
                let changed = restore_on(c, user, &v, now_ns(), &mut fx)?;
                Ok((changed, fx))
            })
            .await?;
        self.unlink_blobs(fx.1.freed);
        Ok(RollbackReport {
            restored: u64::from(fx.0),
            unchanged: u64::from(!fx.0),
            ..Default::default()
        })
    }

    /// Brings back every file in the trash at or below `path` (a deleted file, or a deleted
    /// folder with everything it held), as one transaction.
    pub async fn undelete(&self, user: UserId, path: &str) -> Result<RollbackReport> {
        let base = canonical(path)?;
        let items = self.read(|c| trash_on(c, user, &base))?;
        self.ensure_available(&items).await?;
        let fx = self
            .writer()
            .write(vec![], move |c| {
                let items = trash_on(c, user, &base)?;
                if items.is_empty() {
                    return Err(StoreError::NotInTrash {
                        path: format!("/{base}"),
                    });
                }
                let mut fx = Effects::default();
                let now = now_ns();
                let mut report = RollbackReport::default();
                for v in &items {
                    restore_on(c, user, v, now, &mut fx)?;
                    report.restored += 1;
                }
                Ok((report, fx))
            })
            .await?;
        self.unlink_blobs(fx.1.freed);
        Ok(fx.0)
    }

    /// Removes versions past the retention at `now_ns` (and beyond each user's size cap, oldest
    /// first), never a pinned one; frees the content nothing else refers to.
    pub async fn expire_versions(&self, now_ns: i64) -> Result<Expired> {
        let (expired, freed) = self
            .writer()
            .write(vec![], move |c| {
                let policy = policy_on(c)?;
                let mut doomed: Vec<(i64, i64, i64)> = Vec::new();
                if policy.keep_days > 0 {
                    let mut stmt = c.prepare_cached(
                        "SELECT id, user_id, blob_id FROM versions WHERE pinned = 0 AND until_ns < ?1",
                    )?;
                    let rows = stmt.query_map([retention_start(&policy, now_ns)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?;
                    doomed = rows.collect::<rusqlite::Result<_>>()?;
                }
                if policy.user_cap_bytes > 0 {
                    let mut stmt = c.prepare_cached(
                        "SELECT v.id, v.user_id, v.blob_id, b.size, v.pinned FROM versions v JOIN blobs b ON b.id = v.blob_id \
                         WHERE v.kind != 'move' ORDER BY v.user_id, v.until_ns DESC",
                    )?;
                    let mut totals: HashMap<i64, u64> = HashMap::new();
                    let rows = stmt.query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?.max(0) as u64,
                            r.get::<_, bool>(4)?,
                        ))
                    })?;
                    for row in rows {
                        let (id, user, blob, size, pinned) = row?;
                        let t = totals.entry(user).or_default();
                        *t += size;
                        if *t > policy.user_cap_bytes && !pinned {
                            doomed.push((id, user, blob));
                        }
                    }
                }
                doomed.sort_unstable();
                doomed.dedup();
                let mut fx = Effects::default();
                for &(id, user, blob) in &doomed {
                    let user = UserId(user);
                    c.prepare_cached("DELETE FROM versions WHERE id = ?1")?
                        .execute([id])?;
                    let needed: bool = c
                        .prepare_cached(
                            "SELECT EXISTS (SELECT 1 FROM versions WHERE user_id = ?1 AND blob_id = ?2 AND kind != 'move')",
                        )?
                        .query_row(params![user.0, blob], |r| r.get(0))?;
                    if !needed {
                        let facts: Option<(i64, Vec<u8>)> = c
                            .prepare_cached("SELECT size, hash FROM blobs WHERE id = ?1")?
                            .query_row([blob], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()?;
                        if let Some((size, hash)) = facts {
                            unversion(c, user, blob, size, &hash, now_ns)?;
                        }
                    }
                    fx.freed.extend(namespace::release_blob(c, Some(blob))?);
                }
                Ok((
                    Expired {
                        versions: doomed.len() as u64,
                        bytes: fx.freed.iter().map(|f| f.size).sum(),
                    },
                    fx.freed,
                ))
            })
            .await?;
        self.unlink_blobs(freed);
        Ok(expired)
    }

    /// Pins (or with `false` unpins) every version of `user`: pinned versions never expire, on
    /// the box or in the clouds. The guard pins them when it trips; owners may too.
    pub async fn pin_versions(&self, user: UserId, pinned: bool) -> Result<u64> {
        self.writer()
            .write(vec![], move |c| {
                Ok(
                    c.prepare_cached("UPDATE versions SET pinned = ?2 WHERE user_id = ?1")?
                        .execute(params![user.0, pinned])? as u64,
                )
            })
            .await
    }

    /// What versions take: how many, and the bytes only they refer to.
    pub fn version_space(&self) -> Result<VersionSpace> {
        self.read(space_on)
    }
}

impl crate::CatalogReader {
    /// What versions take (see [`Store::version_space`]), read while the agents run.
    pub fn version_space(&self) -> Result<VersionSpace> {
        space_on(self.conn())
    }

    /// The versions policy, read while the agents run.
    pub fn version_policy(&self) -> Result<Policy> {
        policy_on(self.conn())
    }
}

fn space_on(c: &Connection) -> Result<VersionSpace> {
    {
        {
            let (versions, pinned): (i64, i64) = c.query_row(
                "SELECT count(*), COALESCE(sum(pinned), 0) FROM versions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (bytes, local): (i64, i64) = c.query_row(
                "SELECT COALESCE(sum(size), 0), COALESCE(sum(CASE WHEN local THEN size ELSE 0 END), 0) FROM blobs b \
                 WHERE EXISTS (SELECT 1 FROM versions v WHERE v.blob_id = b.id) \
                   AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.blob_id = b.id)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(VersionSpace {
                versions: versions as u64,
                pinned: pinned as u64,
                bytes: bytes as u64,
                local_bytes: local as u64,
            })
        }
    }
}

/// Journals that no version of `user` needs the content any more (the clouds may drop it).
fn unversion(
    c: &Connection,
    user: UserId,
    blob: i64,
    size: i64,
    hash: &[u8],
    now: i64,
) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO changes (user_id, kind, path, blob_id, is_dir, at_ns, size, hash) \
         VALUES (?1, 'unversion', '', ?2, 0, ?3, ?4, ?5)",
    )?
    .execute(params![user.0, blob, now, size, hash])?;
    Ok(())
}
