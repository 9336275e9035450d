//! The ransomware guard: when one user overwrites, deletes or renames far more files than usual
//! (the policy's rule: by default more than 200 files, or more than 20% of the user's files, in 10
//! minutes; a rename to an unusual extension and content that turns random count double), the box
//! keeps serving but pins every version of that user, so nothing from before the burst expires,
//! here or in the clouds, until the owner decides: roll the user back to before the burst, or
//! keep the files as they are.
//!
//! Counting happens in memory after each committed change (one map lookup); the catalog is read
//! only when a count nears the rule, and written only when it trips.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use rusqlite::{params, OptionalExtension};

use crate::error::{Result, StoreError};
use crate::versions::{guard_open, policy_on, RollbackReport};
use crate::{now_ns, Store, UserId};

/// Below this many weighted changes the percentage rule does not apply: deleting 3 of a new
/// user's 10 files is tidying up, not an attack.
const PERCENT_FLOOR: u32 = 20;

/// One tripping of the guard.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GuardTrip {
    /// Catalog id.
    pub id: i64,
    /// The user whose files were touched.
    pub user: String,
    /// The device of the change that tripped it, when known.
    pub device: Option<String>,
    /// The first change of the burst, ns since the epoch: "roll back to before" means before it.
    pub since_ns: i64,
    /// When it tripped.
    pub tripped_ns: i64,
    /// Weighted changes counted within the window.
    pub changes: u64,
    /// The user's files then.
    pub files: u64,
    /// When the owner decided, if they did.
    pub resolved_ns: Option<i64>,
    /// What they decided: "rolled back" or "kept".
    pub resolution: Option<String>,
}

#[derive(Default)]
struct Window {
    /// Weighted changes per second, oldest first, with the start of the second's first change
    /// (so "before the burst" is exact, not rounded to the second).
    seconds: VecDeque<(i64, u32, i64)>,
    total: u32,
    /// The user's file count and when it was read.
    files: Option<(i64, u64)>,
    /// The first change within the window that looked like encryption: where the burst began,
    /// rather than at ordinary work earlier in the window.
    first_suspicious_ns: Option<i64>,
    /// The last device seen writing within the window (deletes and renames do not say which).
    device: Option<String>,
}

/// Per-user sliding windows of the changes counted.
#[derive(Default)]
pub(crate) struct Guard {
    users: Mutex<HashMap<i64, Window>>,
}

impl Store {
    /// Counts `weight` changes of `user` (by `device`) that just committed; trips the guard when
    /// the rule is met.
    pub(crate) async fn guard_note(
        &self,
        user: UserId,
        device: Option<&str>,
        weight: u32,
        suspicious: bool,
        started_ns: i64,
    ) {
        if weight == 0 {
            return;
        }
        let now = now_ns();
        let sec = now / 1_000_000_000;
        let (total, first, files_known, device) = {
            let mut users = self.inner.guard.users.lock().unwrap();
            let w = users.entry(user.0).or_default();
            if let Some(d) = device {
                w.device = Some(d.to_owned());
            }
            match w.seconds.back_mut() {
                Some((s, n, first)) if *s == sec => {
                    *n += weight;
                    *first = (*first).min(started_ns);
                }
                _ => w.seconds.push_back((sec, weight, started_ns)),
            }
            w.total += weight;
            if suspicious {
                // Taken before the change committed: rolling back to a moment before it undoes
                // the change itself. The smallest, as concurrent changes are noted in any order.
                w.first_suspicious_ns = Some(
                    w.first_suspicious_ns
                        .map_or(started_ns, |t| t.min(started_ns)),
                );
            }
            // The window is trimmed with the policy's length below; 1 hour bounds it meanwhile.
            while w.seconds.front().is_some_and(|(s, ..)| *s <= sec - 3600) {
                let (_, n, _) = w.seconds.pop_front().unwrap();
                w.total -= n;
            }
            (
                w.total,
                w.seconds.front().map(|(.., f)| *f).unwrap_or(started_ns),
                w.files,
                w.device.clone(),
            )
        };
        if total < PERCENT_FLOOR.min(200) {
            return;
        }
        let check = self.read(|c| {
            let policy = policy_on(c)?;
            if guard_open(c, user)? {
                return Ok(None);
            }
            let files = match files_known {
                Some((at, n)) if now - at < 60_000_000_000 => n,
                _ => c
                    .prepare_cached("SELECT count(*) FROM nodes WHERE user_id = ?1 AND is_dir = 0")?
                    .query_row([user.0], |r| r.get::<_, i64>(0))?
                    .max(0) as u64,
            };
            Ok(Some((policy, files)))
        });
        let (policy, files) = match check {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                log::warn!(
                    "ransomware guard: reading the policy for user #{}: {e}",
                    user.0
                );
                return;
            }
        };
        // Counted within the policy's window only.
        let (total, first) = {
            let mut users = self.inner.guard.users.lock().unwrap();
            let w = users.entry(user.0).or_default();
            w.files = Some((now, files));
            let window = i64::from(policy.guard_window_s.max(1));
            while w.seconds.front().is_some_and(|(s, ..)| *s <= sec - window) {
                let (_, n, _) = w.seconds.pop_front().unwrap();
                w.total -= n;
            }
            if w.first_suspicious_ns
                .is_some_and(|t| t / 1_000_000_000 <= sec - window)
            {
                w.first_suspicious_ns = None;
            }
            let start = w.seconds.front().map(|(.., f)| *f).unwrap_or(first);
            (w.total, w.first_suspicious_ns.unwrap_or(start))
        };
        let by_count = policy.guard_files > 0 && total > policy.guard_files;
        let by_share = policy.guard_percent > 0
            && total >= PERCENT_FLOOR
            && u64::from(total) * 100 > files.max(1) * u64::from(policy.guard_percent);
        if !(by_count || by_share) {
            return;
        }
        // Counting starts again: the next trip needs a burst of its own.
        self.inner.guard.users.lock().unwrap().remove(&user.0);
        let since = first;
        let dev = device.clone();
        let r = self
            .writer()
            .write(vec![], move |c| {
                if guard_open(c, user)? {
                    return Ok(None);
                }
                c.prepare_cached(
                    "INSERT INTO guard_trips (user_id, device, since_ns, tripped_ns, changes, files) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![user.0, dev, since, now, total, files as i64])?;
                let id = c.last_insert_rowid();
                let pinned = c
                    .prepare_cached("UPDATE versions SET pinned = 1 WHERE user_id = ?1")?
                    .execute([user.0])?;
                let name: String = c
                    .prepare_cached("SELECT name FROM users WHERE id = ?1")?
                    .query_row([user.0], |r| r.get(0))?;
                Ok(Some((id, name, pinned)))
            })
            .await;
        match r {
            Ok(Some((id, name, pinned))) => log::error!(
                "ransomware guard #{id}: {name}{} overwrote, deleted or renamed {total} files (weighted) \
                 in {} s, of {files}; {pinned} versions pinned until the owner decides \
                 (`microcloud guard --data DIR`: roll back to before {} or keep)",
                device.map(|d| format!(" (device {d})")).unwrap_or_default(),
                policy.guard_window_s,
                crate::versions::rfc3339(since),
            ),
            Ok(None) => {}
            Err(e) => log::error!(
                "ransomware guard: user #{} tripped the rule but the trip could not be recorded: {e}",
                user.0
            ),
        }
    }

    /// Every trip of the guard, open ones first, newest first.
    pub fn guard_trips(&self) -> Result<Vec<GuardTrip>> {
        self.read(trips_on)
    }
}

impl crate::CatalogReader {
    /// Every trip of the guard (see [`Store::guard_trips`]), read while the agents run.
    pub fn guard_trips(&self) -> Result<Vec<GuardTrip>> {
        trips_on(self.conn())
    }
}

fn trips_on(c: &rusqlite::Connection) -> Result<Vec<GuardTrip>> {
    {
        {
            let mut stmt = c.prepare_cached(
                "SELECT g.id, u.name, g.device, g.since_ns, g.tripped_ns, g.changes, g.files, g.resolved_ns, g.resolution \
                 FROM guard_trips g JOIN users u ON u.id = g.user_id \
                 ORDER BY g.resolved_ns IS NOT NULL, g.tripped_ns DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(GuardTrip {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    device: r.get(2)?,
                    since_ns: r.get(3)?,
                    tripped_ns: r.get(4)?,
                    changes: r.get::<_, i64>(5)?.max(0) as u64,
                    files: r.get::<_, i64>(6)?.max(0) as u64,
                    resolved_ns: r.get(7)?,
                    resolution: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        }
    }
}

impl Store {
    /// The owner decided about trip `id`: with `roll_back`, the user's whole space goes back to
    /// a moment before the burst (one transaction, undoable like any rollback); otherwise the
    /// files stay as they are. Either way the user's versions are unpinned and expire normally
    /// again.
    pub async fn resolve_guard(&self, id: i64, roll_back: bool) -> Result<Option<RollbackReport>> {
        let now = now_ns();
        let (report, fx) = self
            .writer()
            .write(vec![], move |c| {
                let trip: Option<(i64, i64, Option<i64>)> = c
                    .prepare_cached(
                        "SELECT user_id, since_ns, resolved_ns FROM guard_trips WHERE id = ?1",
                    )?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((user, since, resolved)) = trip else {
                    return Err(StoreError::NoSuchTrip { id });
                };
                if resolved.is_some() {
                    return Err(StoreError::TripResolved { id });
                }
                let user = UserId(user);
                let mut fx = crate::namespace::Effects::default();
                let report = if roll_back {
                    Some(crate::versions::rollback_on(
                        c,
                        user,
                        "",
                        since - 1,
                        now,
                        &mut fx,
                    )?)
                } else {
                    None
                };
                c.prepare_cached(
                    "UPDATE guard_trips SET resolved_ns = ?2, resolution = ?3 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    now,
                    if roll_back { "rolled back" } else { "kept" }
                ])?;
                if !guard_open(c, user)? {
                    c.prepare_cached("UPDATE versions SET pinned = 0 WHERE user_id = ?1")?
                        .execute([user.0])?;
                }
                Ok((report, fx))
            })
            .await?;
        self.unlink_blobs(fx.freed);
        Ok(report)
    }
}
