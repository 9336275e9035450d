//! Path resolution and namespace changes, run on a catalog connection.
//!
//! Everything here takes a `&Connection` so the same code serves the readers (lookups) and the
//! writer thread (changes inside the group transaction, re-resolving paths at commit time so that a
//! change never acts on a stale lookup).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::{Result, StoreError};
use crate::versions::{self, Kind};
use crate::{Durability, Node, UserId};

const NODE_COLUMNS: &str = "n.id, n.name, n.is_dir, n.blob_id, n.mtime_ns, n.ctime_ns, \
     b.size, b.hash, b.durability";

fn node_from_row(r: &Row) -> rusqlite::Result<Node> {
    let hash: Option<Vec<u8>> = r.get(7)?;
    let durability: Option<String> = r.get(8)?;
    Ok(Node {
        id: r.get(0)?,
        name: r.get(1)?,
        is_dir: r.get(2)?,
        blob_id: r.get(3)?,
        mtime_ns: r.get(4)?,
        ctime_ns: r.get(5)?,
        size: r.get::<_, Option<i64>>(6)?.unwrap_or(0) as u64,
        hash: hash.and_then(|h| h.try_into().ok()),
        durability: durability
            .map(|d| Durability::parse(&d))
            .unwrap_or(Durability::Local),
    })
}

/// Longest path of a file in bytes (its components joined by `/`). A destination's object key is
/// its prefix (at most [`MAX_PREFIX_LEN`] bytes), the user's name (at most 64) and this path, each
/// followed by `/`: 128 + 1 + 64 + 1 + 768 stays under S3's 1,024-byte key limit, so every name the
/// store accepts can be stored at every destination.
pub const MAX_PATH_LEN: usize = 768;
/// Longest name of one file or folder, in bytes (what common file systems and S3 tools hold).
pub const MAX_NAME_LEN: usize = 255;
/// Longest prefix a destination may put before every key.
pub const MAX_PREFIX_LEN: usize = 128;

/// Splits a store path ("/a/b/", "a/b", "/") into validated components. This is the one rule for
/// names: WebDAV, the page and restore all come through it.
pub fn components(path: &str) -> Result<Vec<&str>> {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for c in &comps {
        check_name(c)?;
    }
    let len = comps.iter().map(|c| c.len()).sum::<usize>() + comps.len().saturating_sub(1);
    if len > MAX_PATH_LEN {
        return Err(StoreError::InvalidName {
            name: shown(comps.last().copied().unwrap_or_default()),
            why: "the path is longer than 768 bytes, which no cloud destination can store",
        });
    }
    Ok(comps)
}

/// Checks a whole path against the store's naming rule without touching the catalog.
pub fn check_path(path: &str) -> Result<()> {
    components(path).map(drop)
}

/// A name as it may appear in messages and logs: control characters escaped, at most 64 characters.
fn shown(name: &str) -> String {
    let mut s: String = name
        .chars()
        .take(64)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if name.chars().count() > 64 {
        s.push('…');
    }
    s
}

/// Refuses names that could escape a directory, that no client can represent, or that no
/// destination can store.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "empty name"
    } else if name == "." || name == ".." {
        "relative path component"
    } else if name.contains('/') {
        "contains a slash"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name.chars().any(char::is_control) {
        "contains a control character (such as a line break or a tab)"
    } else if name.len() > MAX_NAME_LEN {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidName {
        name: shown(name),
        why,
    })
}

pub(crate) fn root(conn: &Connection, user: UserId) -> Result<Node> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes n LEFT JOIN blobs b ON b.id = n.blob_id \
         WHERE n.user_id = ?1 AND n.parent_id IS NULL"
    );
    conn.prepare_cached(&sql)?
        .query_row([user.0], node_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NoSuchUser {
            name: format!("#{}", user.0),
        })
}

pub(crate) fn child(conn: &Connection, parent: i64, name: &str) -> Result<Option<Node>> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes n LEFT JOIN blobs b ON b.id = n.blob_id \
         WHERE n.parent_id = ?1 AND n.name = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![parent, name], node_from_row)
        .optional()?)
}

pub(crate) fn children(conn: &Connection, parent: i64) -> Result<Vec<Node>> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes n LEFT JOIN blobs b ON b.id = n.blob_id \
         WHERE n.parent_id = ?1 ORDER BY n.name"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([parent], node_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Resolves `path` for `user`; `None` when the last component is missing.
pub(crate) fn resolve(conn: &Connection, user: UserId, path: &str) -> Result<Option<Node>> {
    let comps = components(path)?;
    let mut node = root(conn, user)?;
    for (i, c) in comps.iter().enumerate() {
        if !node.is_dir {
            return Err(StoreError::NotDir {
                path: comps[..i].join("/"),
            });
        }
        match child(conn, node.id, c)? {
            Some(n) => node = n,
            None if i + 1 == comps.len() => return Ok(None),
            None => {
                return Err(StoreError::NoParent {
                    path: path.to_owned(),
                })
            }
        }
    }
    Ok(Some(node))
}

/// Resolves `path`, failing with NotFound when it is missing.
pub(crate) fn lookup(conn: &Connection, user: UserId, path: &str) -> Result<Node> {
    match resolve(conn, user, path) {
        Ok(Some(n)) => Ok(n),
        Ok(None) | Err(StoreError::NoParent { .. }) => Err(StoreError::NotFound {
            path: path.to_owned(),
        }),
        Err(e) => Err(e),
    }
}

/// Resolves the parent directory of `path` and returns it with the last component.
pub(crate) fn parent_of<'p>(
    conn: &Connection,
    user: UserId,
    path: &'p str,
) -> Result<(Node, &'p str)> {
    let comps = components(path)?;
    let Some((name, dirs)) = comps.split_last() else {
        return Err(StoreError::Exists { path: "/".into() });
    };
    let mut node = root(conn, user)?;
    for c in dirs {
        node = match child(conn, node.id, c)? {
            Some(n) if n.is_dir => n,
            Some(_) => {
                return Err(StoreError::NotDir {
                    path: path.to_owned(),
                })
            }
            None => {
                return Err(StoreError::NoParent {
                    path: path.to_owned(),
                })
            }
        };
    }
    if !node.is_dir {
        return Err(StoreError::NotDir {
            path: path.to_owned(),
        });
    }
    Ok((node, name))
}

/// The canonical form of a path in the journal: components joined by '/', no leading slash.
pub fn canonical(path: &str) -> Result<String> {
    Ok(components(path)?.join("/"))
}

/// Appends one change to the journal (see the `changes` table), inside the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(crate) fn journal(
    conn: &Connection,
    user: UserId,
    kind: &str,
    path: &str,
    to: Option<&str>,
    blob: Option<i64>,
    is_dir: bool,
    now: i64,
) -> Result<()> {
    let to = to.map(canonical).transpose()?;
    conn.prepare_cached(
        "INSERT INTO changes (user_id, kind, path, to_path, blob_id, is_dir, at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![user.0, kind, canonical(path)?, to, blob, is_dir, now])?;
    Ok(())
}

fn touch(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// A blob that no node refers to any more, to be unlinked after the commit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Freed {
    pub id: i64,
    pub size: u64,
    /// The content was in the catalog (gone with the row): no file to unlink.
    pub inline: bool,
}

/// What a namespace change did besides itself, for the caller to act on after the commit.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Blobs nothing refers to any more (their files are unlinked after the commit).
    pub freed: Vec<Freed>,
    /// Files overwritten, deleted or moved, weighted as the ransomware guard counts them.
    pub touched: u32,
    /// Some of them looked like encryption (random content, an unusual new extension).
    pub suspicious: bool,
}

/// Deletes the blob row when no node and no version refers to it any more.
pub(crate) fn release_blob(conn: &Connection, blob: Option<i64>) -> Result<Option<Freed>> {
    let Some(blob) = blob else { return Ok(None) };
    let inline: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM inline_blobs WHERE id = ?1)")?
        .query_row([blob], |r| r.get(0))?;
    let size: Option<i64> = conn
        .prepare_cached(
            "DELETE FROM blobs WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM nodes WHERE blob_id = ?1) \
             AND NOT EXISTS (SELECT 1 FROM versions WHERE blob_id = ?1) RETURNING size",
        )?
        .query_row([blob], |r| r.get(0))
        .optional()?;
    Ok(size.map(|s| Freed {
        id: blob,
        size: s as u64,
        inline,
    }))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_node(
    conn: &Connection,
    user: UserId,
    parent: i64,
    name: &str,
    is_dir: bool,
    blob: Option<i64>,
    device: Option<&str>,
    now: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO nodes (user_id, parent_id, name, is_dir, blob_id, mtime_ns, ctime_ns, since_ns, device) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, ?7)",
    )?
    .execute(params![user.0, parent, name, is_dir, blob, now, device])?;
    let id = conn.last_insert_rowid();
    touch(conn, parent, now)?;
    Ok(id)
}

pub(crate) fn mkdir(conn: &Connection, user: UserId, path: &str, now: i64) -> Result<()> {
    let (parent, name) = parent_of(conn, user, path)?;
    if child(conn, parent.id, name)?.is_some() {
        return Err(StoreError::Exists {
            path: path.to_owned(),
        });
    }
    insert_node(conn, user, parent.id, name, true, None, None, now)?;
    journal(conn, user, "mkdir", path, None, None, true, now)
}

/// Creates the first `depth` components of `path` as directories where missing (restore).
pub(crate) fn mkdir_parents(
    conn: &Connection,
    user: UserId,
    path: &str,
    depth: usize,
    now: i64,
) -> Result<()> {
    let comps = components(path)?;
    for i in 1..=depth.min(comps.len()) {
        let dir = comps[..i].join("/");
        match resolve(conn, user, &dir)? {
            Some(n) if n.is_dir => {}
            Some(_) => return Err(StoreError::NotDir { path: dir }),
            None => mkdir(conn, user, &dir, now)?,
        }
    }
    Ok(())
}

/// Removes a file (or, with `dir`, an empty directory); a file's content is kept as a version.
pub(crate) fn remove(
    conn: &Connection,
    user: UserId,
    path: &str,
    dir: bool,
    now: i64,
    fx: &mut Effects,
) -> Result<()> {
    let (parent, name) = parent_of(conn, user, path).map_err(|e| match e {
        StoreError::NoParent { path } => StoreError::NotFound { path },
        e => e,
    })?;
    let node = child(conn, parent.id, name)?.ok_or_else(|| StoreError::NotFound {
        path: path.to_owned(),
    })?;
    if node.is_dir != dir {
        return Err(if node.is_dir {
            StoreError::IsDir {
                path: path.to_owned(),
            }
        } else {
            StoreError::NotDir {
                path: path.to_owned(),
            }
        });
    }
    if dir {
        let has_child: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM nodes WHERE parent_id = ?1)")?
            .query_row([node.id], |r| r.get(0))?;
        if has_child {
            return Err(StoreError::NotEmpty {
                path: path.to_owned(),
            });
        }
    }
    if !dir {
        versions::keep(conn, user, path, &node, Kind::Delete, now)?;
        fx.touched += 1;
    }
    conn.prepare_cached("DELETE FROM nodes WHERE id = ?1")?
        .execute([node.id])?;
    fx.freed.extend(release_blob(conn, node.blob_id)?);
    touch(conn, parent.id, now)?;
    journal(
        conn,
        user,
        if dir { "rmdir" } else { "delete" },
        path,
        None,
        None,
        dir,
        now,
    )
}

/// True when `ancestor` is `node` or one of its ancestors.
fn is_within(conn: &Connection, mut node: i64, ancestor: i64) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT parent_id FROM nodes WHERE id = ?1")?;
    loop {
        if node == ancestor {
            return Ok(true);
        }
        match stmt.query_row([node], |r| r.get::<_, Option<i64>>(0))? {
            Some(p) => node = p,
            None => return Ok(false),
        }
    }
}

/// Where a move or copy lands: the destination's parent and name, replacing an existing file.
fn prepare_destination<'p>(
    conn: &Connection,
    user: UserId,
    src: &Node,
    to: &'p str,
    now: i64,
    fx: &mut Effects,
) -> Result<(Node, &'p str)> {
    let (parent, name) = parent_of(conn, user, to)?;
    if src.is_dir && is_within(conn, parent.id, src.id)? {
        return Err(StoreError::IntoItself {
            path: to.to_owned(),
        });
    }
    if let Some(existing) = child(conn, parent.id, name)? {
        if existing.id == src.id {
            return Ok((parent, name));
        }
        if existing.is_dir || src.is_dir {
            // Replacing directories is done by the caller deleting the target first (RFC 4918
            // Overwrite: T); the store never drops a subtree implicitly.
            return Err(StoreError::Exists {
                path: to.to_owned(),
            });
        }
        versions::keep(conn, user, to, &existing, Kind::Overwrite, now)?;
        fx.touched += 1;
        conn.prepare_cached("DELETE FROM nodes WHERE id = ?1")?
            .execute([existing.id])?;
        fx.freed.extend(release_blob(conn, existing.blob_id)?);
    }
    Ok((parent, name))
}

pub(crate) fn rename(
    conn: &Connection,
    user: UserId,
    from: &str,
    to: &str,
    now: i64,
    fx: &mut Effects,
) -> Result<()> {
    let src = lookup(conn, user, from)?;
    if components(from)?.is_empty() {
        return Err(StoreError::IntoItself {
            path: from.to_owned(),
        });
    }
    let old_parent: i64 =
        conn.query_row("SELECT parent_id FROM nodes WHERE id = ?1", [src.id], |r| {
            r.get(0)
        })?;
    let (parent, name) = prepare_destination(conn, user, &src, to, now, fx)?;
    if canonical(from)? != canonical(to)? {
        // What was at `from` until now stays findable there (a rollback to before the move puts
        // it back), and its content is at `to` only from now on.
        versions::keep_moved(conn, user, from, to, &src, now, fx)?;
    }
    conn.prepare_cached("UPDATE nodes SET parent_id = ?2, name = ?3, ctime_ns = ?4 WHERE id = ?1")?
        .execute(params![src.id, parent.id, name, now])?;
    touch(conn, old_parent, now)?;
    touch(conn, parent.id, now)?;
    journal(
        conn,
        user,
        "rename",
        from,
        Some(to),
        src.blob_id,
        src.is_dir,
        now,
    )
}

/// Copies one file (directories are copied by the caller, level by level); shares the blob.
pub(crate) fn copy_file(
    conn: &Connection,
    user: UserId,
    from: &str,
    to: &str,
    now: i64,
    fx: &mut Effects,
) -> Result<()> {
    let src = lookup(conn, user, from)?;
    if src.is_dir {
        return Err(StoreError::IsDir {
            path: from.to_owned(),
        });
    }
    let (parent, name) = prepare_destination(conn, user, &src, to, now, fx)?;
    if child(conn, parent.id, name)?.is_some() {
        return Ok(()); // copy onto itself
    }
    let device: Option<String> = conn
        .prepare_cached("SELECT device FROM nodes WHERE id = ?1")?
        .query_row([src.id], |r| r.get(0))?;
    let id = insert_node(
        conn,
        user,
        parent.id,
        name,
        false,
        src.blob_id,
        device.as_deref(),
        now,
    )?;
    conn.prepare_cached(
        "INSERT INTO props (node_id, ns, name, prefix, xml) SELECT ?2, ns, name, prefix, xml FROM props WHERE node_id = ?1",
    )?
    .execute(params![src.id, id])?;
    journal(conn, user, "put", to, None, src.blob_id, false, now)
}

/// Points `path` at a newly committed blob, creating the file or replacing its content (kept as a
/// version). `device` wrote the content, when known.
#[allow(clippy::too_many_arguments)]
pub(crate) fn put_file(
    conn: &Connection,
    user: UserId,
    path: &str,
    blob: i64,
    create_new: bool,
    device: Option<&str>,
    now: i64,
    fx: &mut Effects,
) -> Result<()> {
    let (parent, name) = parent_of(conn, user, path)?;
    match child(conn, parent.id, name)? {
        Some(n) if n.is_dir => Err(StoreError::IsDir {
            path: path.to_owned(),
        }),
        Some(_) if create_new => Err(StoreError::Exists {
            path: path.to_owned(),
        }),
        Some(n) if n.blob_id == Some(blob) => Ok(()),
        Some(n) => {
            versions::keep(conn, user, path, &n, Kind::Overwrite, now)?;
            let weight = versions::overwrite_weight(conn, n.blob_id, blob)?;
            fx.touched += weight;
            fx.suspicious |= weight > 1;
            conn.prepare_cached(
                "UPDATE nodes SET blob_id = ?2, mtime_ns = ?3, since_ns = ?3, device = ?4 WHERE id = ?1",
            )?
            .execute(params![n.id, blob, now, device])?;
            fx.freed.extend(release_blob(conn, n.blob_id)?);
            journal(conn, user, "put", path, None, Some(blob), false, now)
        }
        None => {
            insert_node(conn, user, parent.id, name, false, Some(blob), device, now)?;
            journal(conn, user, "put", path, None, Some(blob), false, now)
        }
    }
}
