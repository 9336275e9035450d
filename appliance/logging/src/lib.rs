//! Log setup shared by every agent: records go to the systemd journal when the process runs under
//! systemd (its stderr is connected to the journal), and to stderr with a short prefix otherwise.
//!
//! Agents log through the `log` facade; this crate only decides where the records end up.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

/// Installs the logger for this process at `level` (overridden by `MICROCLOUD_LOG`, e.g. `debug`).
pub fn init(level: LevelFilter) {
    let level = std::env::var("MICROCLOUD_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(level);
    if systemd_journal_logger::connected_to_journal() {
        if let Ok(journal) = systemd_journal_logger::JournalLog::new() {
            if journal.install().is_ok() {
                log::set_max_level(level);
                return;
            }
        }
    }
    if log::set_boxed_logger(Box::new(StderrLog { level })).is_ok() {
        log::set_max_level(level);
    }
}

struct StderrLog {
    level: LevelFilter,
}

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
            // Dependencies are noisy at debug level; show only our own crates there.
            && (metadata.level() <= log::Level::Info || metadata.target().starts_with("microcloud"))
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{} {}: {}",
            record.level().as_str().to_lowercase(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
