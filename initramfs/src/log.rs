//! Messages of the early init. Progress goes to the kernel log (`/dev/kmsg`, so that it is kept in
//! the journal of the booted system and timed by the kernel's clock); warnings and the fatal
//! message also go to the console, which the kernel's `quiet` option leaves silent otherwise.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

static KMSG: Mutex<Option<File>> = Mutex::new(None);

/// Opens `/dev/kmsg`; until this is called (before devtmpfs is mounted) messages go to the
/// console only.
pub fn open_kmsg() {
    if let Ok(f) = OpenOptions::new().write(true).open("/dev/kmsg") {
        *KMSG.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }
}

/// Writes one record to the kernel log only; false if it is not open yet.
pub fn kmsg(level: u8, msg: &str) -> bool {
    let mut guard = KMSG.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_mut() {
        // One write per record: /dev/kmsg takes each write as one message.
        Some(f) => f
            .write_all(format!("<{level}>microcloud-init: {msg}\n").as_bytes())
            .is_ok(),
        None => false,
    }
}

/// A step of the boot, for the kernel log only.
pub fn info(msg: &str) {
    if !kmsg(6, msg) {
        eprintln!("microcloud-init: {msg}");
    }
}

/// Something a person may want to know, on the console and in the kernel log.
pub fn warn(msg: &str) {
    eprintln!("microcloud-init: warning: {msg}");
    kmsg(4, msg);
}

/// Important progress shown on the console too (formatting the data partition, factory reset).
pub fn notice(msg: &str) {
    eprintln!("microcloud-init: {msg}");
    kmsg(5, msg);
}
