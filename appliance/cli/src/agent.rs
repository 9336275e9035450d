//! What every agent run by this command shares: its lock file in the data directory (one agent
//! of a kind per store) and the signals that stop it.

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
