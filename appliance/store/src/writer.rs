//! The catalog writer: one thread owns the only writable connection and commits the changes of all
//! concurrent requests in groups.
//!
//! Each change runs in its own savepoint, so one failing request does not undo the others; the
//! directories that received new blob files are fsync'd, then one COMMIT (one WAL fsync) makes the
//! whole group durable, and only then is every request answered. Under load this turns many small
//! acknowledged writes into few disk flushes, which is what lets small files arrive at thousands
//! per second without weakening "acknowledged means on stable storage".
//!
//! Relaxed changes (the uplink's bookkeeping: durability levels raised, journal entries it took
//! in trimmed) need not survive a power cut: a level lower than the truth is safe and is worked out
//! again, and a trimmed entry coming back is skipped by its position. A group made only of them
//! lingers a few milliseconds for company (unless one of them is waited for at once) and commits
//! without the WAL fsync. A killed process still loses none of them (the WAL is written before the
//! answer), and the next durable commit makes them durable too.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::error::{Result, StoreError};

/// Work the writer runs inside the group transaction.
trait Job: Send {
    /// Runs the change; `Ok` keeps its savepoint, `Err` rolls it back.
    fn run(&mut self, conn: &Connection) -> Result<()>;
    /// Answers the requester once the group's commit has succeeded or failed.
    fn finish(self: Box<Self>, committed: Result<(), String>);
    /// Directories whose entries must be durable before the commit.
    fn sync_dirs(&self) -> &[PathBuf];
    /// Whether the change may be committed without waiting for the disk.
    fn relaxed(&self) -> bool;
    /// Whether a group of relaxed changes may wait a little for more before committing.
    fn lingers(&self) -> bool;
}

/// Where a job's answer goes: an async waiter, or a thread blocked on a plain channel.
enum Reply<T> {
    Async(oneshot::Sender<Result<T>>),
    Blocking(mpsc::SyncSender<Result<T>>),
}

struct TypedJob<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: Reply<T>,
    dirs: Vec<PathBuf>,
    relaxed: bool,
    lingers: bool,
}

impl<T: Send, F: FnOnce(&Connection) -> Result<T> + Send> Job for TypedJob<T, F> {
    fn run(&mut self, conn: &Connection) -> Result<()> {
        let f = self.f.take().expect("job runs once");
        match f(conn) {
            Ok(v) => {
                self.result = Some(Ok(v));
                Ok(())
            }
            Err(e) => {
                // The error goes back to the requester; the writer only needs to know it failed.
                let msg = e.to_string();
                self.result = Some(Err(e));
                Err(StoreError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(msg),
                })
            }
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let result = match (committed, self.result) {
            (Ok(()), Some(r)) => r,
            (Err(e), Some(Ok(_))) if e.contains("disk is full") => Err(StoreError::DiskFull {
                path: PathBuf::from(microcloud_constants::CATALOG_FILE),
            }),
            (Err(e), Some(Ok(_))) => Err(StoreError::Io {
                path: PathBuf::from(microcloud_constants::CATALOG_FILE),
                source: std::io::Error::other(format!("commit failed: {e}")),
            }),
            (_, Some(Err(e))) => Err(e),
            (_, None) => Err(StoreError::WriterGone),
        };
        match self.reply {
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
        }
    }

    fn sync_dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn relaxed(&self) -> bool {
        self.relaxed
    }

    fn lingers(&self) -> bool {
        self.lingers
    }
}

/// Handle to the writer thread; cloning shares the same thread.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(crate) fn start(conn: Connection, changed: std::sync::Arc<tokio::sync::Notify>) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("catalog-writer".into())
            .spawn(move || run(conn, rx, changed))
            .expect("spawn catalog writer thread");
        Writer { tx }
    }

    fn submit<T, F>(&self, dirs: Vec<PathBuf>, relaxed: bool, lingers: bool, reply: Reply<T>, f: F)
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let job = TypedJob {
            f: Some(f),
            result: None,
            reply,
            dirs,
            relaxed,
            lingers,
        };
        // If the thread is gone the reply sender is dropped with the job and the receiver errors.
        let _ = self.tx.send(Box::new(job));
    }

    fn submit_async<T, F>(
        &self,
        dirs: Vec<PathBuf>,
        relaxed: bool,
        lingers: bool,
        f: F,
    ) -> oneshot::Receiver<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(dirs, relaxed, lingers, Reply::Async(tx), f);
        rx
    }

    /// Submits `f` and blocks the calling thread until its group is committed. A plain channel
    /// works from any thread, inside an async runtime too (where tokio forbids `blocking_recv`).
    fn submit_blocking<T, F>(
        &self,
        dirs: Vec<PathBuf>,
        relaxed: bool,
        lingers: bool,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(dirs, relaxed, lingers, Reply::Blocking(tx), f);
        rx.recv().map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` in the next group commit and returns its result once it is durable.
    pub(crate) async fn write<T, F>(&self, dirs: Vec<PathBuf>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit_async(dirs, false, false, f)
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    /// Runs `f` in a group commit that may skip the disk flush (see the module doc); returns
    /// once it is committed.
    pub(crate) async fn write_relaxed<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit_async(vec![], true, true, f)
            .await
            .map_err(|_| StoreError::WriterGone)?
    }

    /// Like `write_relaxed`, for callers outside an async runtime who wait for the commit: their
    /// group commits at once, without lingering for company.
    pub(crate) fn write_relaxed_blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit_blocking(vec![], true, false, f)
    }

    /// Like `write`, for callers outside an async runtime.
    pub(crate) fn write_blocking<T, F>(&self, dirs: Vec<PathBuf>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit_blocking(dirs, false, false, f)
    }
}

/// Most jobs one group takes, so that a flood of requests still gets answered in bounded time.
const MAX_GROUP: usize = 512;
/// How long a group of relaxed changes waits for more before committing.
const RELAXED_LINGER: Duration = Duration::from_millis(5);

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    changed: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut synchronous_full = true;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut relaxed = jobs.iter().all(|j| j.relaxed());
        if relaxed && jobs.iter().all(|j| j.lingers()) {
            // Nobody waits for the disk: gather more of them into this commit, but stop at
            // the first change that someone does wait for.
            let until = Instant::now() + RELAXED_LINGER;
            while relaxed && jobs.len() < MAX_GROUP {
                let Some(left) = until.checked_duration_since(Instant::now()) else {
                    break;
                };
                match rx.recv_timeout(left) {
                    Ok(j) => {
                        relaxed = j.relaxed();
                        let prompt = !j.lingers();
                        jobs.push(j);
                        if prompt {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        let mut ready = Ok(());
        let want_full = !relaxed;
        if want_full != synchronous_full {
            // In WAL mode NORMAL commits without the fsync; FULL commits fsync the whole log,
            // relaxed commits before them included.
            let mode = if want_full { "FULL" } else { "NORMAL" };
            match conn.pragma_update(None, "synchronous", mode) {
                Ok(()) => synchronous_full = want_full,
                // A relaxed group may commit durably; a durable one must not commit relaxed.
                Err(e) if relaxed => log::warn!("catalog: PRAGMA synchronous = {mode}: {e}"),
                Err(e) => ready = Err(format!("PRAGMA synchronous = {mode}: {e}")),
            }
        }
        let committed = ready.and_then(|()| run_group(&conn, &mut jobs));
        match &committed {
            Ok(()) => changed.notify_one(),
            Err(e) => log::error!("catalog commit of {} changes failed: {e}", jobs.len()),
        }
        for job in jobs {
            job.finish(committed.clone());
        }
    }
}

/// Runs a fixed statement through the statement cache (no SQL parsing per job).
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn run_group(conn: &Connection, jobs: &mut [Box<dyn Job>]) -> Result<(), String> {
    exec(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let mut dirs: Vec<&PathBuf> = Vec::new();
    // A job alone needs no savepoint: if it fails, the whole transaction goes. A savepoint makes
    // SQLite keep the original of every page the job changes, which for a large job (a restore's
    // 20,000 files) went to a temporary file and took half of the job's time.
    if let [job] = jobs {
        if job.run(conn).is_err() {
            exec(conn, "ROLLBACK").map_err(|e| e.to_string())?;
            return Ok(());
        }
        dirs.extend(job.sync_dirs());
        return sync_and_commit(conn, dirs);
    }
    for job in jobs.iter_mut() {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
        let ok = job.run(conn).is_ok();
        let end = if ok {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|_| exec(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
        if ok {
            dirs.extend(job.sync_dirs());
        }
    }
    sync_and_commit(conn, dirs)
}

/// Makes the group's new directory entries durable, then commits.
fn sync_and_commit(conn: &Connection, mut dirs: Vec<&PathBuf>) -> Result<(), String> {
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        // The rename of a blob into place must be durable before the catalog points at it.
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(format!("{}: fsync: {e}", dir.display()));
        }
    }
    exec(conn, "COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}
