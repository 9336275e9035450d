//! Path resolution and namespace changes, run on a catalog connection.
//!
//! Everything here takes a `&Connection` so the same code serves the readers (lookups) and the
//! writer thread (changes inside the group transaction, re-resolving paths at commit time so that a
//! change never acts on a stale lookup).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::{Result, StoreError};
use crate::history::{self, Kind};
pub(crate) use crate::journal::{journal, release_blob, Effects, Freed};
pub use crate::paths::{
    canonical, check_name, check_path, components, MAX_NAME_LEN, MAX_PATH_LEN, MAX_PREFIX_LEN,
};
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

/// How a folder page is sorted (folders always come first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By name.
    #[default]
    Name,
    /// By size.
    Size,
    /// By modification time.
    Modified,
}

/// One page of a folder: which entries, in what order.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// The order.
    pub sort: Sort,
    /// Largest, newest or last name first.
    pub desc: bool,
    /// Only names containing this (ASCII letters in any case).
    pub search: Option<String>,
    /// Entries skipped.
    pub offset: u64,
    /// Entries returned at most.
    pub limit: u64,
}

/// The entries of directory `dir` that `q` asks for, and how many match in all.
pub(crate) fn children_page(
    conn: &Connection,
    dir: i64,
    q: &ListQuery,
) -> Result<(u64, Vec<Node>)> {
    let order = if q.desc { "DESC" } else { "ASC" };
    // Names are unique in a folder: a name sort needs no tie-breaker (one would make SQLite
    // sort what the index already gives in order).
    let by = match q.sort {
        Sort::Name => format!("n.name {order}"),
        Sort::Size => format!("COALESCE(b.size, 0) {order}, n.name {order}"),
        Sort::Modified => format!("n.mtime_ns {order}, n.name {order}"),
    };
    // Folders, then files, each a walk of the (parent, is_dir, name) index: sorted by name, the
    // first page of a 100,000-file folder reads 200 rows, not 100,000.
    let filter = "n.parent_id = ?1 AND n.is_dir = ?2 AND (?3 IS NULL OR instr(lower(n.name), lower(?3)) > 0)";
    let mut count = conn.prepare_cached(&format!("SELECT COUNT(*) FROM nodes n WHERE {filter}"))?;
    let dirs: i64 = count.query_row(params![dir, true, q.search], |r| r.get(0))?;
    let files: i64 = count.query_row(params![dir, false, q.search], |r| r.get(0))?;
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM nodes n LEFT JOIN blobs b ON b.id = n.blob_id WHERE {filter} \
         ORDER BY {by} LIMIT ?4 OFFSET ?5"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut out = Vec::new();
    let (offset, limit) = (q.offset as i64, q.limit as i64);
    for (is_dir, skip, take) in [
        (true, offset, limit),
        (
            false,
            (offset - dirs).max(0),
            limit - (dirs - offset).clamp(0, limit),
        ),
    ] {
        if take <= 0 || skip >= if is_dir { dirs } else { files } {
            continue;
        }
        let rows = stmt.query_map(params![dir, is_dir, q.search, take, skip], node_from_row)?;
        for r in rows {
            out.push(r?);
        }
    }
    Ok(((dirs + files) as u64, out))
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

fn touch(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
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
        history::keep(conn, user, path, &node, Kind::Delete, now)?;
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
        history::keep(conn, user, to, &existing, Kind::Overwrite, now)?;
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
        history::keep_moved(conn, user, from, to, &src, now, fx)?;
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
            history::keep(conn, user, path, &n, Kind::Overwrite, now)?;
            let weight = history::overwrite_weight(conn, n.blob_id, blob)?;
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
