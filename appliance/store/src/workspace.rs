//! What each user has open, and the events their devices hear.
//!
//! The workspace is a small JSON document owned by the page (open items with their view state,
//! which one is in front), kept here with a version number: a write names the version it was
//! based on and is refused when another device wrote since, so two tablets never silently undo
//! each other (HTTP's `If-Match`).
//!
//! Events are rows of one table whose id is the stream's event id, written in the same
//! transaction as the change they announce. A device that reconnects asks for the ids after the
//! last one it saw and gets exactly those, in order: no gap and no duplicate, whatever happened
//! in between (a restart of the box included). Streams wait on a watch of the newest id; other
//! processes (the CLI) write the same table, and [`Store::poll_events`] notices their rows.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Result, StoreError};
use crate::{now_ns, DeviceId, Store, UserId};

/// The largest workspace document, in bytes of JSON.
pub const MAX_DOC: usize = 64 * 1024;
/// Events are kept this long...
pub const EVENT_DAYS: i64 = 10;
/// ...and at most this many per user (the oldest go first).
pub const EVENTS_PER_USER: i64 = 10_000;

/// A user's workspace as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// 0 before the first write; each write adds one.
    pub version: i64,
    /// The document (JSON text; no items before the first write).
    pub doc: String,
    /// The device that wrote it last, when it was one.
    pub device: Option<String>,
    /// When it was written (ns since the epoch).
    pub updated_ns: Option<i64>,
}

impl Workspace {
    /// The workspace as the page and the event stream show it.
    pub fn to_json(&self) -> serde_json::Value {
        let doc: serde_json::Value =
            serde_json::from_str(&self.doc).unwrap_or_else(|_| serde_json::json!({}));
        serde_json::json!({
            "version": self.version,
            "doc": doc,
            "device": self.device,
            "updated": self.updated_ns.map(|ns| ns / 1_000_000_000),
        })
    }
}

/// One event of a user's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The stream's id: grows with every event.
    pub id: i64,
    /// `workspace` or `inbox`.
    pub kind: String,
    /// JSON text.
    pub data: String,
}

/// What a stream sends next.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// The events after the asked id, oldest first.
    pub events: Vec<Event>,
    /// Events after the asked id were dropped already (too old): the device must reload.
    pub reset: bool,
}

fn workspace_on(c: &Connection, user: UserId) -> Result<Workspace> {
    Ok(c.prepare_cached(
        "SELECT version, doc, device, updated_ns FROM workspaces WHERE user_id = ?1",
    )?
    .query_row([user.0], |r| {
        Ok(Workspace {
            version: r.get(0)?,
            doc: r.get(1)?,
            device: r.get(2)?,
            updated_ns: Some(r.get(3)?),
        })
    })
    .optional()?
    .unwrap_or(Workspace {
        version: 0,
        doc: r#"{"items":[],"front":null}"#.into(),
        device: None,
        updated_ns: None,
    }))
}

/// Appends an event for `user`'s devices (`device`: only that one), inside the caller's
/// transaction; returns its id.
pub(crate) fn emit(
    c: &Connection,
    user: UserId,
    device: Option<DeviceId>,
    kind: &str,
    data: &serde_json::Value,
    now: i64,
) -> Result<i64> {
    c.prepare_cached(
        "INSERT INTO events (user_id, device_id, kind, data, at_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        user.0,
        device.map(|d| d.0),
        kind,
        data.to_string(),
        now
    ])?;
    Ok(c.last_insert_rowid())
}

fn floor_key(user: UserId) -> String {
    format!("events_pruned:{}", user.0)
}

impl Store {
    /// `user`'s workspace.
    pub fn workspace(&self, user: UserId) -> Result<Workspace> {
        self.read(|c| workspace_on(c, user))
    }

    /// Replaces `user`'s workspace with `doc` if it is still at version `based_on`
    /// ([`StoreError::StaleWorkspace`] otherwise), and tells the user's devices.
    pub async fn put_workspace(
        &self,
        user: UserId,
        based_on: i64,
        doc: &serde_json::Value,
        device: Option<&str>,
    ) -> Result<Workspace> {
        let text = doc.to_string();
        if text.len() > MAX_DOC {
            return Err(StoreError::BadWorkspace {
                why: format!("{} bytes, at most {MAX_DOC}", text.len()),
            });
        }
        let device = device.map(str::to_owned);
        let (ws, id) = self
            .writer()
            .write(vec![], move |c| {
                let current = workspace_on(c, user)?;
                if current.version != based_on {
                    return Err(StoreError::StaleWorkspace {
                        based_on,
                        current: current.version,
                    });
                }
                let now = now_ns();
                let ws = Workspace {
                    version: current.version + 1,
                    doc: text,
                    device,
                    updated_ns: Some(now),
                };
                c.prepare_cached(
                    "INSERT INTO workspaces (user_id, version, doc, device, updated_ns) VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (user_id) DO UPDATE SET version = excluded.version, doc = excluded.doc, \
                     device = excluded.device, updated_ns = excluded.updated_ns",
                )?
                .execute(params![user.0, ws.version, ws.doc, ws.device, now])?;
                let id = emit(c, user, None, "workspace", &ws.to_json(), now)?;
                Ok((ws, id))
            })
            .await?;
        self.announce(id);
        Ok(ws)
    }

    /// The events of `user` after id `after` that device `device` (or a session that is no
    /// device) should hear, oldest first, at most `limit`.
    pub fn events_after(
        &self,
        user: UserId,
        device: Option<DeviceId>,
        after: i64,
        limit: usize,
    ) -> Result<EventPage> {
        self.read(|c| {
            // The newest id pruned from this user's events: a device that saw less than that
            // may have missed one.
            let floor: i64 = c
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([floor_key(user)], |r| r.get::<_, String>(0))
                .optional()?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let reset = after < floor;
            let mut stmt = c.prepare_cached(
                "SELECT id, kind, data FROM events WHERE user_id = ?1 AND id > ?2 \
                 AND (device_id IS NULL OR device_id = ?3) ORDER BY id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![user.0, after, device.map(|d| d.0), limit as i64],
                |r| {
                    Ok(Event {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        data: r.get(2)?,
                    })
                },
            )?;
            Ok(EventPage {
                events: rows.collect::<rusqlite::Result<_>>()?,
                reset,
            })
        })
    }

    /// A watch of the newest event id: changes when any user gets an event.
    pub fn event_watch(&self) -> tokio::sync::watch::Receiver<i64> {
        crate::inner(self).events.subscribe()
    }

    /// The newest event id in the catalog; wakes the streams when another process (the CLI)
    /// added events since.
    pub fn poll_events(&self) -> Result<i64> {
        let id: i64 = self.read(|c| {
            Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
        })?;
        self.announce(id);
        Ok(id)
    }

    pub(crate) fn announce(&self, id: i64) {
        crate::inner(self).events.send_if_modified(|last| {
            let newer = id > *last;
            if newer {
                *last = id;
            }
            newer
        });
    }

    /// Drops events older than [`EVENT_DAYS`] at `now_ns` and beyond [`EVENTS_PER_USER`] per user.
    /// A device that comes back after that gets `reset` instead of a silent gap.
    pub async fn prune_events(&self, now_ns: i64) -> Result<u64> {
        self.writer()
            .write(vec![], move |c| {
                let cutoff = now_ns - EVENT_DAYS * 86_400 * 1_000_000_000;
                let mut gone: Vec<(i64, i64)> = c
                    .prepare("SELECT user_id, id FROM events WHERE at_ns < ?1")?
                    .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let users: Vec<i64> = c
                    .prepare("SELECT user_id FROM events GROUP BY user_id HAVING COUNT(*) > ?1")?
                    .query_map([EVENTS_PER_USER], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for u in users {
                    gone.extend(
                        c.prepare(
                            "SELECT user_id, id FROM events WHERE user_id = ?1 ORDER BY id DESC LIMIT -1 OFFSET ?2",
                        )?
                        .query_map(params![u, EVENTS_PER_USER], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?,
                    );
                }
                let mut floors: std::collections::HashMap<i64, i64> = Default::default();
                let mut del = c.prepare_cached("DELETE FROM events WHERE id = ?1")?;
                for &(user, id) in &gone {
                    del.execute([id])?;
                    let f = floors.entry(user).or_default();
                    *f = (*f).max(id);
                }
                for (user, max) in floors {
                    c.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        params![floor_key(UserId(user)), max.to_string()],
                    )?;
                }
                Ok(gone.len() as u64)
            })
            .await
    }
}
