//! Sending work on: to another of one's own devices, or to another person.
//!
//! Everything sent waits as a row of the inbox until it is opened, accepted, declined or expires
//! (after 10 days, as Chrome's send-tab-to-self does). Nothing moves when it is sent: the entry
//! names the sender's path and node, and is acted on when the recipient accepts, so a file
//! deleted or moved in between is reported `gone` instead of arriving as something else.
//!
//! Accepting a person's hand-off is one catalog transaction:
//! - a copy adds the recipient's nodes pointing at the same blobs, so it takes no time and no
//!   space at any size;
//! - a transfer of ownership re-parents the sender's subtree into the recipient's space and
//!   changes its owner in place, so at every moment (across a crash too) exactly one of them has
//!   it. The sender keeps no version of what they gave away (a rollback must not bring back a
//!   second owner); what the recipient's space had is never replaced (a free name is chosen).
//!
//! The journal gets the same entries a WebDAV client's changes would make (the recipient's mkdirs
//! and puts, then the sender's deletes), so the uplink persists the result like any change. A
//! transfer keeps its content on the box until the recipient's copy is in the clouds: content
//! evicted before is fetched back first, and its level is lowered to `local` in the transaction,
//! so that deleting the sender's objects can never take the last copy.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::error::{Result, StoreError};
use crate::namespace::{self, canonical, journal};
use crate::workspace::emit;
use crate::{now_ns, DeviceId, Node, Store, UserId};

/// How long an entry waits.
pub const EXPIRY_DAYS: i64 = 10;
const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// Entries listed per side.
const LISTED: i64 = 200;
/// Entries a user may have waiting that they sent (a flood of sends fills nobody's inbox).
pub const MAX_PENDING: i64 = 500;

/// What the recipient is asked to do with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Open it (one's own device).
    Open,
    /// Take a copy (another person).
    Copy,
    /// Take it over: the sender no longer has it (another person).
    Move,
}

impl Mode {
    /// The name used in the catalog and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Open => "open",
            Mode::Copy => "copy",
            Mode::Move => "move",
        }
    }
    fn parse(s: &str) -> Mode {
        match s {
            "copy" => Mode::Copy,
            "move" => Mode::Move,
            _ => Mode::Open,
        }
    }
}

/// Where an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting for the recipient.
    Pending,
    /// The device opened it.
    Opened,
    /// The person accepted it: it is in their space.
    Accepted,
    /// The recipient declined it, or the sender took it back.
    Declined,
    /// Nobody acted on it within 10 days.
    Expired,
    /// What it sent was deleted or moved by the sender before it was accepted.
    Gone,
}

impl State {
    /// The name used in the catalog and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Opened => "opened",
            State::Accepted => "accepted",
            State::Declined => "declined",
            State::Expired => "expired",
            State::Gone => "gone",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "opened" => State::Opened,
            "accepted" => State::Accepted,
            "declined" => State::Declined,
            "expired" => State::Expired,
            "gone" => State::Gone,
            _ => State::Pending,
        }
    }
}

/// A request to send something on.
#[derive(Debug, Clone)]
pub struct Sending<'a> {
    /// Who sends.
    pub from: UserId,
    /// From which device, when the sender is on one.
    pub from_device: Option<&'a str>,
    /// To whom: a user's name (the sender's own, with `to_device`).
    pub to_user: &'a str,
    /// To which of the sender's own devices.
    pub to_device: Option<&'a str>,
    /// The file or folder (the sender's path); `None` sends the sender's workspace.
    pub path: Option<&'a str>,
    /// Where to open it (the page's view state).
    pub view: Option<Value>,
    /// Open, copy or move.
    pub mode: Mode,
}

/// One inbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its id.
    pub id: i64,
    /// The sender's name.
    pub from_user: String,
    /// The sender's device, when it was one.
    pub from_device: Option<String>,
    /// The recipient's name.
    pub to_user: String,
    /// The recipient device (a send to one's own device).
    pub to_device: Option<String>,
    /// `file`, `folder` or `workspace`.
    pub kind: String,
    /// The sender's path (`/a/b`).
    pub path: Option<String>,
    /// What the recipient sees it called.
    pub name: String,
    /// Where to open it.
    pub view: Option<Value>,
    /// The workspace sent.
    pub workspace: Option<Value>,
    /// Open, copy or move.
    pub mode: Mode,
    /// Where it is.
    pub state: State,
    /// Bytes and files it holds (when sent).
    pub size: u64,
    /// Files it holds.
    pub files: u64,
    /// When it was sent, expires, was decided (ns since the epoch).
    pub created_ns: i64,
    /// When it expires if nobody acts.
    pub expires_ns: i64,
    /// When it was opened, accepted, declined, expired or found gone.
    pub decided_ns: Option<i64>,
    /// Where it landed in the recipient's space (`/b (2)`).
    pub result_path: Option<String>,
}

impl Entry {
    /// The entry as the page and the CLI's `--json` show it.
    pub fn to_json(&self) -> Value {
        let secs = |ns: i64| ns / 1_000_000_000;
        json!({
            "id": self.id,
            "from": {"user": self.from_user, "device": self.from_device},
            "to": {"user": self.to_user, "device": self.to_device},
            "kind": self.kind,
            "path": self.path,
            "name": self.name,
            "view": self.view,
            "workspace": self.workspace,
            "mode": self.mode.as_str(),
            "state": self.state.as_str(),
            "size": self.size,
            "files": self.files,
            "created": secs(self.created_ns),
            "expires": secs(self.expires_ns),
            "decided": self.decided_ns.map(secs),
            "result_path": self.result_path,
        })
    }
}

/// A user's inbox: what came to them and what they sent.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    /// Sent to the user (for a device, to that device or to its user), newest first.
    pub received: Vec<Entry>,
    /// Sent by the user, newest first.
    pub sent: Vec<Entry>,
}

const ENTRY_COLUMNS: &str = "i.id, fu.name, i.from_device, tu.name, i.to_device, i.kind, i.path, \
     i.name, i.view, i.workspace, i.mode, i.state, i.size, i.files, i.created_ns, i.expires_ns, \
     i.decided_ns, i.result_path";
const ENTRY_FROM: &str =
    "FROM inbox i JOIN users fu ON fu.id = i.from_user JOIN users tu ON tu.id = i.to_user";

fn entry_from_row(r: &rusqlite::Row) -> rusqlite::Result<Entry> {
    let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    Ok(Entry {
        id: r.get(0)?,
        from_user: r.get(1)?,
        from_device: r.get(2)?,
        to_user: r.get(3)?,
        to_device: r.get(4)?,
        kind: r.get(5)?,
        path: r.get::<_, Option<String>>(6)?.map(|p| format!("/{p}")),
        name: r.get(7)?,
        view: json(r.get(8)?),
        workspace: json(r.get(9)?),
        mode: Mode::parse(&r.get::<_, String>(10)?),
        state: State::parse(&r.get::<_, String>(11)?),
        size: r.get::<_, i64>(12)? as u64,
        files: r.get::<_, i64>(13)? as u64,
        created_ns: r.get(14)?,
        expires_ns: r.get(15)?,
        decided_ns: r.get(16)?,
        result_path: r.get(17)?,
    })
}

/// Entry `id` if `user` sent or received it.
fn entry_on(c: &Connection, user: UserId, id: i64) -> Result<Entry> {
    c.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE i.id = ?1 AND (i.to_user = ?2 OR i.from_user = ?2)"
    ))?
    .query_row(params![id, user.0], entry_from_row)
    .optional()?
    .ok_or(StoreError::NoSuchEntry { id })
}

/// Files and bytes at or below `node`.
fn weigh(c: &Connection, node: &Node) -> Result<(u64, u64)> {
    let (files, bytes): (i64, i64) = c
        .prepare_cached(
            "WITH RECURSIVE t(id, is_dir, blob_id) AS ( \
                 SELECT id, is_dir, blob_id FROM nodes WHERE id = ?1 \
                 UNION ALL SELECT n.id, n.is_dir, n.blob_id FROM nodes n JOIN t ON n.parent_id = t.id) \
             SELECT COUNT(b.id), COALESCE(SUM(b.size), 0) FROM t JOIN blobs b ON b.id = t.blob_id WHERE t.is_dir = 0",
        )?
        .query_row([node.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((files as u64, bytes as u64))
}

/// The blobs of the files at or below `node`, each with whether its content is on the box.
fn subtree_blobs(c: &Connection, node: i64) -> Result<Vec<(i64, bool)>> {
    let mut stmt = c.prepare_cached(
        "WITH RECURSIVE t(id, blob_id) AS ( \
             SELECT id, blob_id FROM nodes WHERE id = ?1 \
             UNION ALL SELECT n.id, n.blob_id FROM nodes n JOIN t ON n.parent_id = t.id) \
         SELECT DISTINCT b.id, b.local FROM t JOIN blobs b ON b.id = t.blob_id",
    )?;
    let rows = stmt.query_map([node], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Bytes of all of `user`'s files.
fn used_by(c: &Connection, user: UserId) -> Result<u64> {
    let used: i64 = c
        .prepare_cached(
            "SELECT COALESCE(SUM(b.size), 0) FROM nodes n JOIN blobs b ON b.id = n.blob_id WHERE n.user_id = ?1",
        )?
        .query_row([user.0], |r| r.get(0))?;
    Ok(used as u64)
}

fn user_id(c: &Connection, name: &str) -> Result<UserId> {
    c.prepare_cached("SELECT id FROM users WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .map(UserId)
        .ok_or_else(|| StoreError::NoSuchUser {
            name: name.to_owned(),
        })
}

fn user_name(c: &Connection, user: UserId) -> Result<String> {
    Ok(c.prepare_cached("SELECT name FROM users WHERE id = ?1")?
        .query_row([user.0], |r| r.get(0))?)
}

/// A name not taken in directory `parent`: `name`, then `stem (2).ext`, `stem (3).ext`, ...
fn free_name(c: &Connection, parent: i64, name: &str, is_dir: bool) -> Result<String> {
    if namespace::child(c, parent, name)?.is_none() {
        return Ok(name.to_owned());
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && !is_dir => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    for n in 2.. {
        let candidate = format!("{stem} ({n}){ext}");
        namespace::check_name(&candidate)?;
        if namespace::child(c, parent, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    unreachable!("some number is free")
}

/// Tells the sender's and the recipient's devices that `entry` arrived or changed.
fn announce_entry(c: &Connection, entry: &Entry, now: i64) -> Result<i64> {
    let data = entry.to_json();
    let to = user_id(c, &entry.to_user)?;
    let from = user_id(c, &entry.from_user)?;
    let mut id = emit(c, to, None, "inbox", &data, now)?;
    if from != to {
        id = emit(c, from, None, "inbox", &data, now)?;
    }
    Ok(id)
}

fn set_state(c: &Connection, id: i64, state: State, result: Option<&str>, now: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE inbox SET state = ?2, decided_ns = ?3, result_path = COALESCE(?4, result_path) WHERE id = ?1",
    )?
    .execute(params![id, state.as_str(), now, result])?;
    Ok(())
}

/// The sender's node for `entry`, if it is still the one that was sent.
fn source_of(c: &Connection, sender: UserId, entry_id: i64) -> Result<Option<Node>> {
    let (path, node_id): (Option<String>, Option<i64>) = c
        .prepare_cached("SELECT path, node_id FROM inbox WHERE id = ?1")?
        .query_row([entry_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let Some(path) = path else { return Ok(None) };
    let node = namespace::resolve(c, sender, &path).or_else(|e| match e {
        StoreError::NoParent { .. } | StoreError::NotDir { .. } => Ok(None),
        e => Err(e),
    })?;
    Ok(node.filter(|n| Some(n.id) == node_id))
}

/// The files and folders a workspace document has open that `sender` still has, once each.
fn workspace_items(c: &Connection, sender: UserId, ws: &Value) -> Result<Vec<(Node, String)>> {
    let mut out: Vec<(Node, String)> = Vec::new();
    let items = ws["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for item in items {
        let Some(path) = item["path"].as_str() else {
            continue;
        };
        let Ok(path) = canonical(path) else { continue };
        let node = namespace::resolve(c, sender, &path).unwrap_or(None);
        if let Some(node) = node.filter(|_| !path.is_empty()) {
            if !out.iter().any(|(n, _)| n.id == node.id) {
                out.push((node, path));
            }
        }
    }
    Ok(out)
}

/// The nodes at or below `root`, parents before children, with paths relative to it.
fn subtree(c: &Connection, root: &Node) -> Result<Vec<(Node, String)>> {
    let mut out = vec![(root.clone(), String::new())];
    let mut i = 0;
    while i < out.len() {
        let (node, rel) = out[i].clone();
        if node.is_dir {
            for ch in namespace::children(c, node.id)? {
                let r = if rel.is_empty() {
                    ch.name.clone()
                } else {
                    format!("{rel}/{}", ch.name)
                };
                out.push((ch, r));
            }
        }
        i += 1;
    }
    Ok(out)
}

fn join(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (_, true) => base.to_owned(),
        (true, false) => rel.to_owned(),
        (false, false) => format!("{base}/{rel}"),
    }
}

/// What accepting did, for the caller to act on after the commit.
enum Outcome {
    Done(Entry),
    Gone(Entry),
}

/// Copies (`mode` Copy) or moves `src` of `sender` into `recipient`'s directory `into`, under a
/// free name; returns the recipient's canonical path.
/// What is handed on: the sender, their node and its canonical path.
struct Source<'a> {
    sender: UserId,
    node: &'a Node,
    path: &'a str,
}

fn transfer(
    c: &Connection,
    from: Source,
    recipient: UserId,
    into: &str,
    mode: Mode,
    now: i64,
) -> Result<String> {
    let Source {
        sender,
        node: src,
        path: src_path,
    } = from;
    let dest_dir = namespace::lookup(c, recipient, into)?;
    if !dest_dir.is_dir {
        return Err(StoreError::NotDir {
            path: into.to_owned(),
        });
    }
    let into_c = canonical(into)?;
    let name = free_name(c, dest_dir.id, &src.name, src.is_dir)?;
    let dest = join(&into_c, &name);
    namespace::check_path(&format!("/{dest}"))?;
    let nodes = subtree(c, src)?;
    match mode {
        Mode::Copy => {
            let mut map = std::collections::HashMap::new();
            for (node, rel) in &nodes {
                let parent = if rel.is_empty() {
                    dest_dir.id
                } else {
                    let up = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    map[up]
                };
                let nm = if rel.is_empty() { &name } else { &node.name };
                let id = namespace::insert_node(
                    c,
                    recipient,
                    parent,
                    nm,
                    node.is_dir,
                    node.blob_id,
                    None,
                    now,
                )?;
                c.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
                    .execute(params![id, node.mtime_ns])?;
                c.prepare_cached(
                    "INSERT INTO props (node_id, ns, name, prefix, xml) SELECT ?2, ns, name, prefix, xml FROM props WHERE node_id = ?1",
                )?
                .execute(params![node.id, id])?;
                map.insert(rel.clone(), id);
                let path = join(&dest, rel);
                if node.is_dir {
                    journal(c, recipient, "mkdir", &path, None, None, true, now)?;
                } else {
                    journal(c, recipient, "put", &path, None, node.blob_id, false, now)?;
                }
            }
        }
        Mode::Move | Mode::Open => {
            // Once the sender's objects go, the content may be nowhere but here: it is kept on
            // the box (its level lowered to local) until the uplink has the recipient's copy.
            // `accept` fetched evicted content back before this transaction.
            let mut pin = c.prepare_cached(
                "UPDATE blobs SET durability = 'local' WHERE id = ?1 AND durability != 'local'",
            )?;
            for (blob, local) in subtree_blobs(c, src.id)? {
                if !local {
                    return Err(StoreError::Unavailable {
                        what: format!("/{src_path}"),
                        why: "some of its content left the box while it was handed on; try again"
                            .into(),
                    });
                }
                pin.execute([blob])?;
            }
            let old_parent: i64 = c
                .prepare_cached("SELECT parent_id FROM nodes WHERE id = ?1")?
                .query_row([src.id], |r| r.get(0))?;
            let mut owner = c.prepare_cached(
                "UPDATE nodes SET user_id = ?2, since_ns = ?3, device = NULL WHERE id = ?1",
            )?;
            for (node, _) in &nodes {
                owner.execute(params![node.id, recipient.0, now])?;
            }
            c.prepare_cached(
                "UPDATE nodes SET parent_id = ?2, name = ?3, ctime_ns = ?4 WHERE id = ?1",
            )?
            .execute(params![src.id, dest_dir.id, name, now])?;
            for dir in [old_parent, dest_dir.id] {
                c.prepare_cached("UPDATE nodes SET mtime_ns = ?2 WHERE id = ?1")?
                    .execute(params![dir, now])?;
            }
            // The recipient's side goes first in the journal, so that the uplink has their
            // copy under way before the sender's objects are deleted (deepest first, as a
            // client deleting the tree would).
            for (node, rel) in &nodes {
                let path = join(&dest, rel);
                if node.is_dir {
                    journal(c, recipient, "mkdir", &path, None, None, true, now)?;
                } else {
                    journal(c, recipient, "put", &path, None, node.blob_id, false, now)?;
                }
            }
            for (node, rel) in nodes.iter().rev() {
                let path = join(src_path, rel);
                if node.is_dir {
                    journal(c, sender, "rmdir", &path, None, None, true, now)?;
                } else {
                    journal(c, sender, "delete", &path, None, None, false, now)?;
                }
            }
        }
    }
    Ok(dest)
}

impl Store {
    /// Puts `s` in the recipient's inbox (and tells both sides' devices).
    pub async fn send(&self, s: Sending<'_>) -> Result<Entry> {
        let from = s.from;
        let to_user = s.to_user.to_owned();
        let to_device = s.to_device.map(str::to_owned);
        let from_device = s.from_device.map(str::to_owned);
        let path = s.path.map(canonical).transpose()?;
        let view = s.view.map(|v| v.to_string());
        let mode = s.mode;
        let (entry, last) = self
            .writer()
            .write(vec![], move |c| {
                let now = now_ns();
                let to = user_id(c, &to_user)?;
                let mut to_device_id = None;
                match mode {
                    Mode::Open => {
                        if to != from {
                            return Err(StoreError::BadHandoff(
                                "a send to a device goes to one of your own devices",
                            ));
                        }
                        let Some(dev) = &to_device else {
                            return Err(StoreError::BadHandoff("which device? name one"));
                        };
                        if from_device.as_deref() == Some(dev.as_str()) {
                            return Err(StoreError::BadHandoff(
                                "that is the device you are on",
                            ));
                        }
                        to_device_id = Some(
                            c.prepare_cached("SELECT id FROM devices WHERE user_id = ?1 AND name = ?2")?
                                .query_row(params![from.0, dev], |r| r.get::<_, i64>(0))
                                .optional()?
                                .ok_or_else(|| StoreError::NoSuchDevice {
                                    user: to_user.clone(),
                                    name: dev.clone(),
                                })?,
                        );
                    }
                    Mode::Copy | Mode::Move => {
                        if to == from {
                            return Err(StoreError::BadHandoff(
                                "that is you: send it to one of your devices instead",
                            ));
                        }
                        if path.is_none() && mode == Mode::Move {
                            return Err(StoreError::BadHandoff(
                                "a workspace is handed on as a copy, not moved",
                            ));
                        }
                    }
                }
                let pending: i64 = c
                    .prepare_cached("SELECT COUNT(*) FROM inbox WHERE from_user = ?1 AND state = 'pending'")?
                    .query_row([from.0], |r| r.get(0))?;
                if pending >= MAX_PENDING {
                    return Err(StoreError::BadHandoff(
                        "too many sends are waiting already: wait for some to be accepted, or cancel them",
                    ));
                }
                let (kind, name, node_id, size, files, workspace) = match &path {
                    Some(p) => {
                        let node = namespace::lookup(c, from, p)?;
                        if p.is_empty() {
                            return Err(StoreError::BadHandoff(
                                "your whole space cannot be sent: pick a file or folder",
                            ));
                        }
                        let (files, size) = weigh(c, &node)?;
                        let kind = if node.is_dir { "folder" } else { "file" };
                        (kind, node.name.clone(), Some(node.id), size, files, None)
                    }
                    None => {
                        let ws: Option<String> = c
                            .prepare_cached("SELECT doc FROM workspaces WHERE user_id = ?1")?
                            .query_row([from.0], |r| r.get(0))
                            .optional()?;
                        let who = user_name(c, from)?;
                        (
                            "workspace",
                            format!("{who}'s workspace"),
                            None,
                            0,
                            0,
                            Some(ws.unwrap_or_else(|| "{}".into())),
                        )
                    }
                };
                c.prepare_cached(
                    "INSERT INTO inbox (from_user, from_device, to_user, to_device_id, to_device, kind, path, node_id, \
                     name, view, workspace, mode, state, size, files, created_ns, expires_ns) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending', ?13, ?14, ?15, ?16)",
                )?
                .execute(params![
                    from.0,
                    from_device,
                    to.0,
                    to_device_id,
                    to_device,
                    kind,
                    path,
                    node_id,
                    name,
                    view,
                    workspace,
                    mode.as_str(),
                    size as i64,
                    files as i64,
                    now,
                    now + EXPIRY_DAYS * DAY_NS
                ])?;
                let entry = entry_on(c, from, c.last_insert_rowid())?;
                let last = announce_entry(c, &entry, now)?;
                Ok((entry, last))
            })
            .await?;
        self.announce(last);
        Ok(entry)
    }

    /// `user`'s inbox; on a device, what was sent to that device or to the user as a person.
    pub fn inbox(&self, user: UserId, device: Option<DeviceId>) -> Result<Inbox> {
        self.read(|c| {
            let list = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Vec<Entry>> {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map(p, entry_from_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            };
            let received = list(
                &format!(
                    "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE i.to_user = ?1 \
                     AND (i.to_device_id IS NULL OR ?2 IS NULL OR i.to_device_id = ?2) \
                     ORDER BY i.id DESC LIMIT {LISTED}"
                ),
                &[&user.0, &device.map(|d| d.0)],
            )?;
            let sent = list(
                &format!(
                    "SELECT {ENTRY_COLUMNS} {ENTRY_FROM} WHERE i.from_user = ?1 ORDER BY i.id DESC LIMIT {LISTED}"
                ),
                &[&user.0],
            )?;
            Ok(Inbox { received, sent })
        })
    }

    /// Entry `id`, if `user` sent or received it.
    pub fn inbox_entry(&self, user: UserId, id: i64) -> Result<Entry> {
        self.read(|c| entry_on(c, user, id))
    }

    /// The recipient acts on entry `id`: a device's entry becomes `opened`; a person's is copied
    /// or moved into `user`'s directory `into` (see the module doc), in one transaction.
    pub async fn accept(&self, user: UserId, id: i64, into: &str) -> Result<Entry> {
        // A transfer may delete the sender's objects in the clouds: content evicted from the box
        // comes back first (a copy leaves the sender's objects, which the uplink reads from).
        let evicted: Vec<i64> = self.read(|c| {
            let entry = entry_on(c, user, id)?;
            if entry.mode != Mode::Move || entry.state != State::Pending {
                return Ok(vec![]);
            }
            let from = user_id(c, &entry.from_user)?;
            Ok(match source_of(c, from, id)? {
                Some(src) => subtree_blobs(c, src.id)?
                    .into_iter()
                    .filter(|(_, local)| !local)
                    .map(|(b, _)| b)
                    .collect(),
                None => vec![],
            })
        })?;
        for blob in evicted {
            self.local_content(blob).await?;
        }
        let into = into.to_owned();
        let (outcome, last) = self
            .writer()
            .write(vec![], move |c| {
                let now = now_ns();
                let entry = entry_on(c, user, id)?;
                let to = user_id(c, &entry.to_user)?;
                if to != user {
                    // The sender cannot accept their own send: to them it is not found.
                    return Err(StoreError::NoSuchEntry { id });
                }
                if entry.state != State::Pending {
                    return Err(StoreError::EntryDecided {
                        id,
                        state: entry.state.as_str(),
                    });
                }
                if entry.expires_ns <= now {
                    set_state(c, id, State::Expired, None, now)?;
                    let e = entry_on(c, user, id)?;
                    let last = announce_entry(c, &e, now)?;
                    return Ok((Outcome::Gone(e), last));
                }
                let from = user_id(c, &entry.from_user)?;
                let source = source_of(c, from, id)?;
                if entry.path.is_some() && source.is_none() {
                    set_state(c, id, State::Gone, None, now)?;
                    let e = entry_on(c, user, id)?;
                    let last = announce_entry(c, &e, now)?;
                    return Ok((Outcome::Gone(e), last));
                }
                // What lands: the file or folder sent, or the files a workspace had open (into
                // a folder of their own, as a workspace is not one place).
                let sources: Vec<(Node, String)> = match (entry.mode, &entry.workspace, source) {
                    (Mode::Open, _, _) => vec![],
                    (_, Some(ws), _) => workspace_items(c, from, ws)?,
                    (_, None, Some(src)) => {
                        vec![(src, canonical(entry.path.as_deref().unwrap_or("/"))?)]
                    }
                    (_, None, None) => vec![],
                };
                let limit: Option<i64> = c
                    .prepare_cached("SELECT space_bytes FROM users WHERE id = ?1")?
                    .query_row([user.0], |r| r.get(0))?;
                if let (Some(limit), false) = (limit, sources.is_empty()) {
                    let mut needed = 0;
                    for (src, _) in &sources {
                        needed += weigh(c, src)?.1;
                    }
                    let used = used_by(c, user)?;
                    if used + needed > limit as u64 {
                        return Err(StoreError::OverSpace {
                            user: entry.to_user.clone(),
                            used,
                            limit: limit as u64,
                            needed,
                        });
                    }
                }
                let result = if entry.workspace.is_some() && entry.mode != Mode::Open {
                    let dir = namespace::lookup(c, user, &into)?;
                    if !dir.is_dir {
                        return Err(StoreError::NotDir { path: into.clone() });
                    }
                    let name = free_name(c, dir.id, &entry.name, true)?;
                    let folder = join(&canonical(&into)?, &name);
                    namespace::mkdir(c, user, &folder, now)?;
                    for (src, path) in &sources {
                        let source = Source {
                            sender: from,
                            node: src,
                            path,
                        };
                        transfer(c, source, user, &folder, Mode::Copy, now)?;
                    }
                    Some(folder)
                } else {
                    match sources.first() {
                        Some((src, path)) => {
                            let source = Source {
                                sender: from,
                                node: src,
                                path,
                            };
                            Some(transfer(c, source, user, &into, entry.mode, now)?)
                        }
                        None => None,
                    }
                };
                let result = result.map(|p| format!("/{p}"));
                let state = if entry.mode == Mode::Open {
                    State::Opened
                } else {
                    State::Accepted
                };
                set_state(c, id, state, result.as_deref(), now)?;
                let e = entry_on(c, user, id)?;
                let last = announce_entry(c, &e, now)?;
                Ok((Outcome::Done(e), last))
            })
            .await?;
        self.announce(last);
        match outcome {
            Outcome::Done(e) => Ok(e),
            Outcome::Gone(e) if e.state == State::Expired => Err(StoreError::EntryDecided {
                id,
                state: State::Expired.as_str(),
            }),
            Outcome::Gone(e) => Err(StoreError::EntryGone {
                id,
                path: e
                    .path
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned(),
            }),
        }
    }

    /// The recipient declines entry `id`, or its sender takes it back.
    pub async fn decline(&self, user: UserId, id: i64) -> Result<Entry> {
        let (e, last) = self
            .writer()
            .write(vec![], move |c| {
                let now = now_ns();
                let entry = entry_on(c, user, id)?;
                if entry.state != State::Pending {
                    return Err(StoreError::EntryDecided {
                        id,
                        state: entry.state.as_str(),
                    });
                }
                set_state(c, id, State::Declined, None, now)?;
                let e = entry_on(c, user, id)?;
                let last = announce_entry(c, &e, now)?;
                Ok((e, last))
            })
            .await?;
        self.announce(last);
        Ok(e)
    }

    /// Marks entries nobody acted on within [`EXPIRY_DAYS`] at `now_ns` as expired.
    pub async fn expire_inbox(&self, now_ns: i64) -> Result<u64> {
        let (n, last) = self
            .writer()
            .write(vec![], move |c| {
                let ids: Vec<(i64, i64)> = c
                    .prepare("SELECT id, to_user FROM inbox WHERE state = 'pending' AND expires_ns <= ?1")?
                    .query_map([now_ns], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut last = 0;
                for &(id, to) in &ids {
                    set_state(c, id, State::Expired, None, now_ns)?;
                    let e = entry_on(c, UserId(to), id)?;
                    last = announce_entry(c, &e, now_ns)?;
                }
                Ok((ids.len() as u64, last))
            })
            .await?;
        self.announce(last);
        Ok(n)
    }

    /// Limits `name`'s files to `bytes` (`None`: no limit); hand-offs past it are refused.
    pub async fn set_user_space(&self, name: &str, bytes: Option<u64>) -> Result<()> {
        let name = name.to_owned();
        self.writer()
            .write(vec![], move |c| {
                let n = c.execute(
                    "UPDATE users SET space_bytes = ?2 WHERE name = ?1",
                    params![name, bytes.map(|b| b as i64)],
                )?;
                if n == 0 {
                    return Err(StoreError::NoSuchUser { name });
                }
                Ok(())
            })
            .await
    }
}
