//! What every agent run by this command shares: its lock file in the data directory (one agent
//! of a kind per store), the signals that stop it, and how its memory is allocated.

use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::CliError;

/// Takes lock file `name` of the data directory for agent `what`, or says who holds it.
pub fn lock_file(dir: &Path, name: &str, what: &str) -> Result<Flock<std::fs::File>, CliError> {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| CliError::Io {
            what: path.display().to_string(),
            source: e,
        })?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
        let holder = std::fs::read_to_string(&path).unwrap_or_default();
        let pid = holder.split_whitespace().next().unwrap_or("?").to_owned();
        CliError::Usage(format!(
            "another {what} (pid {pid}) is already running on {}",
            dir.display()
        ))
    })
}

/// Completes on Ctrl-C or SIGTERM (systemd's stop).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Keeps an agent's resident memory near what it uses, for a box with little of it. glibc's
/// defaults suit a server: an arena per thread (up to eight per core), and a threshold for
/// `mmap` that rises to the largest block freed, so a manifest's 8 MiB parts or a catalogue
/// walk's buffers, once freed, stay in the heap as resident memory. Two arenas and a fixed
/// threshold of 256 KiB give the large blocks back when they are freed.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
