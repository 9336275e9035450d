//! Keeping versions, inside the transaction of the change that replaces, deletes or moves a file:
//! the write side of versions (the rest, rollback and listing, is in `versions`), and the weights
//! the ransomware guard counts.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::journal::{journal, Effects};
use crate::paths::canonical;
use crate::{Node, UserId};

/// Why a version was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The file got new content.
    Overwrite,
    /// The file was deleted.
    Delete,
    /// The file (or a folder above it) moved elsewhere; the content lives on at the new path.
    Move,
    /// A rollback or a restore replaced or removed it.
    Rollback,
}

impl Kind {
    /// The name the catalog stores and people see.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Overwrite => "overwrite",
            Kind::Delete => "delete",
            Kind::Move => "move",
            Kind::Rollback => "rollback",
        }
    }

    pub(crate) fn parse(s: &str) -> Kind {
        match s {
            "delete" => Kind::Delete,
            "move" => Kind::Move,
            "rollback" => Kind::Rollback,
            _ => Kind::Overwrite,
        }
    }
}

/// How long versions are kept, and what makes the ransomware guard trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Days a version is kept after it was replaced (0: versions are off).
    pub keep_days: u32,
    /// Bytes of versions kept per user at most, oldest removed first (0: no cap).
    pub user_cap_bytes: u64,
    /// Files overwritten, deleted or renamed by one user within the window that trip the guard.
    pub guard_files: u32,
    /// Percentage of the user's files within the window that trips the guard (0: off).
    pub guard_percent: u32,
    /// The guard's window in seconds.
    pub guard_window_s: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            keep_days: 30,
            user_cap_bytes: 0,
            guard_files: 200,
            guard_percent: 20,
            guard_window_s: 600,
        }
    }
}

pub(crate) fn policy_on(c: &Connection) -> Result<Policy> {
    let v: Option<String> = c
        .prepare_cached("SELECT value FROM meta WHERE key = 'versions_policy'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

fn enabled(c: &Connection) -> Result<bool> {
    Ok(policy_on(c)?.keep_days > 0)
}

/// Whether `user` has a guard trip nobody decided on yet (new versions are pinned then).
pub(crate) fn guard_open(c: &Connection, user: UserId) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM guard_trips WHERE user_id = ?1 AND resolved_ns IS NULL)",
    )?
    .query_row([user.0], |r| r.get(0))?)
}

/// Keeps `node`'s content at `path` as a version ending now, before the caller replaces or removes
/// the node (its row must still be there). The caller releases the old blob after its change
/// ([`namespace::release_blob`]), which frees it only when versions are off.
pub(crate) fn keep(
    c: &Connection,
    user: UserId,
    path: &str,
    node: &Node,
    kind: Kind,
    now: i64,
) -> Result<()> {
    let Some(blob) = node.blob_id else {
        return Ok(());
    };
    if !enabled(c)? {
        // The caller releases the blob after its change, as it does when a version keeps it.
        return Ok(());
    }
    let (since, device): (i64, Option<String>) = c
        .prepare_cached("SELECT since_ns, device FROM nodes WHERE id = ?1")?
        .query_row([node.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    insert(
        c,
        user,
        &canonical(path)?,
        blob,
        node.mtime_ns,
        since,
        now,
        kind,
        device.as_deref(),
    )
}

/// Like [`keep`] for a move: every file at or below `from` keeps a version there ending now, and
/// its content counts as being at its new path from now on.
pub(crate) fn keep_moved(
    c: &Connection,
    user: UserId,
    from: &str,
    to: &str,
    src: &Node,
    now: i64,
    fx: &mut Effects,
) -> Result<()> {
    if !enabled(c)? {
        return Ok(());
    }
    let base = canonical(from)?;
    let files = subtree_files(c, src, &base)?;
    let to = canonical(to)?;
    let unusual = unusual_extension(&to) && !unusual_extension(&base);
    fx.touched += (files.len() as u32).max(1) * (1 + u32::from(unusual));
    fx.suspicious |= unusual;
    for f in files {
        insert(
            c,
            user,
            &f.path,
            f.blob,
            f.mtime_ns,
            f.since_ns,
            now,
            Kind::Move,
            f.device.as_deref(),
        )?;
        c.prepare_cached("UPDATE nodes SET since_ns = ?2 WHERE id = ?1")?
            .execute(params![f.id, now])?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert(
    c: &Connection,
    user: UserId,
    path: &str,
    blob: i64,
    mtime_ns: i64,
    from_ns: i64,
    now: i64,
    kind: Kind,
    device: Option<&str>,
) -> Result<()> {
    // The cloud keeps one object per user and content: announce it for the first version only.
    // Moved content lives on at its new path, so a move alone needs no object.
    let announced: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM versions WHERE user_id = ?1 AND blob_id = ?2 AND kind != 'move')",
        )?
        .query_row(params![user.0, blob], |r| r.get(0))?;
    // One version per path and moment: a second change of the same path within the same
    // nanosecond (one transaction) ends a moment later.
    let taken: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM versions WHERE user_id = ?1 AND path = ?2 AND until_ns = ?3)",
        )?
        .query_row(params![user.0, path, now], |r| r.get(0))?;
    let until = if taken { now + 1 } else { now };
    c.prepare_cached(
        "INSERT INTO versions (user_id, path, blob_id, mtime_ns, from_ns, until_ns, kind, device, pinned) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        user.0,
        path,
        blob,
        mtime_ns,
        from_ns.min(until),
        until,
        kind.as_str(),
        device,
        guard_open(c, user)?
    ])?;
    if !announced && kind != Kind::Move {
        journal(c, user, "version", path, None, Some(blob), false, now)?;
    }
    Ok(())
}

/// The guard's weight of an overwrite: double when content that did not look random is replaced
/// by content that does (what encryption in place looks like).
pub(crate) fn overwrite_weight(c: &Connection, old: Option<i64>, new: i64) -> Result<u32> {
    let mut stmt = c.prepare_cached("SELECT random FROM blobs WHERE id = ?1")?;
    let mut random = |id: i64| -> Result<Option<bool>> {
        Ok(stmt
            .query_row([id], |r| r.get::<_, Option<bool>>(0))
            .optional()?
            .flatten())
    };
    let new_random = random(new)? == Some(true);
    let old_random = match old {
        Some(o) => random(o)?,
        None => None,
    };
    Ok(if new_random && old_random == Some(false) {
        2
    } else {
        1
    })
}

/// Extensions people's files commonly have; a rename to anything else counts double for the
/// guard (ransomware renames files to `.locked`, `.crypt`, `.encrypted`, random suffixes...).
const COMMON_EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "pdf",
    "doc",
    "docx",
    "odt",
    "rtf",
    "xls",
    "xlsx",
    "ods",
    "csv",
    "ppt",
    "pptx",
    "odp",
    "key",
    "pages",
    "numbers",
    "jpg",
    "jpeg",
    "png",
    "gif",
    "heic",
    "heif",
    "webp",
    "tif",
    "tiff",
    "bmp",
    "svg",
    "raw",
    "dng",
    "cr2",
    "nef",
    "arw",
    "psd",
    "ai",
    "mp3",
    "m4a",
    "aac",
    "wav",
    "flac",
    "ogg",
    "opus",
    "mp4",
    "m4v",
    "mov",
    "avi",
    "mkv",
    "webm",
    "zip",
    "tar",
    "gz",
    "tgz",
    "7z",
    "rar",
    "json",
    "xml",
    "html",
    "htm",
    "css",
    "js",
    "ts",
    "rs",
    "py",
    "c",
    "h",
    "cpp",
    "java",
    "kt",
    "swift",
    "go",
    "sh",
    "yml",
    "yaml",
    "toml",
    "ini",
    "cfg",
    "log",
    "epub",
    "ics",
    "vcf",
    "eml",
    "sqlite",
    "db",
    "bak",
    "tmp",
    "part",
    "crdownload",
    "download",
];

/// Whether `path` ends in an extension outside [`COMMON_EXTENSIONS`].
pub(crate) fn unusual_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            !COMMON_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
        }
        _ => false,
    }
}

/// Whether a sample of content looks random: over 7.5 bits of entropy per byte, which text,
/// documents and most media stay below when sampled from their start (headers, structure), and
/// encrypted or random data reaches at once.
pub fn looks_random(sample: &[u8]) -> bool {
    if sample.len() < 1024 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[b as usize] += 1;
    }
    let n = sample.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    entropy > 7.5
}

pub(crate) struct LiveFile {
    pub id: i64,
    pub path: String,
    pub blob: i64,
    pub mtime_ns: i64,
    pub since_ns: i64,
    pub device: Option<String>,
}

/// Every file at or below `node` (whose canonical path is `base`), with its path.
pub(crate) fn subtree_files(c: &Connection, node: &Node, base: &str) -> Result<Vec<LiveFile>> {
    if !node.is_dir {
        let (since, device): (i64, Option<String>) = c
            .prepare_cached("SELECT since_ns, device FROM nodes WHERE id = ?1")?
            .query_row([node.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        return Ok(node
            .blob_id
            .map(|blob| LiveFile {
                id: node.id,
                path: base.to_owned(),
                blob,
                mtime_ns: node.mtime_ns,
                since_ns: since,
                device,
            })
            .into_iter()
            .collect());
    }
    let mut stmt = c.prepare_cached(
        "WITH RECURSIVE t(id, path, is_dir, blob_id, mtime_ns, since_ns, device) AS ( \
             SELECT id, ?2, is_dir, blob_id, mtime_ns, since_ns, device FROM nodes WHERE id = ?1 \
             UNION ALL \
             SELECT n.id, CASE WHEN t.path = '' THEN n.name ELSE t.path || '/' || n.name END, \
                    n.is_dir, n.blob_id, n.mtime_ns, n.since_ns, n.device \
             FROM nodes n JOIN t ON n.parent_id = t.id) \
         SELECT id, path, blob_id, mtime_ns, since_ns, device FROM t WHERE is_dir = 0 AND blob_id IS NOT NULL",
    )?;
    let rows = stmt.query_map(params![node.id, base], |r| {
        Ok(LiveFile {
            id: r.get(0)?,
            path: r.get(1)?,
            blob: r.get(2)?,
            mtime_ns: r.get(3)?,
            since_ns: r.get(4)?,
            device: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
