//! Whether this boot is a counted try of a freshly updated slot, and what the early init does when
//! such a try fails.
//!
//! systemd-boot sets `LoaderBootCountPath` only when it boots an entry whose file name carries a
//! counter (`microcloud-slot-b+2-1.conf`), that is a slot not yet found healthy. A failure in the
//! early init there must end the try by itself: a box that stopped with a message would wait for
//! someone to power-cycle it three times before systemd-boot goes back to the previous slot. On a
//! blessed slot there is nothing to fall back to, so the early init stops with its message (a
//! reboot loop would only hide it).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use nix::mount::MsFlags;

use crate::error::InitError;
use crate::mounts;

/// systemd-boot's vendor GUID for the variables it sets (the Boot Loader Interface).
const LOADER_GUID: &str = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
const EFIVARS: &str = "/sys/firmware/efi/efivars";
/// image/build decompresses the modules into the initramfs under their base names.
const EFIVARFS_MODULE: &str = "/lib/modules/efivarfs.ko";

/// A counted boot, as systemd-boot reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Try {
    /// The entry's file as systemd-boot renamed it for this try
    /// (`\loader\entries\microcloud-slot-b+2-1.conf`).
    pub entry: String,
    /// Tries left after this one, and tries done with this one, from the counter in the file name;
    /// None when the name carries no counter systemd-boot's way.
    pub left: Option<u32>,
    pub done: Option<u32>,
}

/// The string of an EFI variable as efivarfs gives it: 4 bytes of attributes, then UTF-16LE,
/// NUL-terminated. None if it is empty or not UTF-16.
pub fn efi_string(bytes: &[u8]) -> Option<String> {
    let text = bytes.get(4..)?;
    let units: Vec<u16> = text
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let s = String::from_utf16(&units).ok()?;
    (!s.trim().is_empty()).then_some(s)
}

/// Reads the counter of a counted entry's path, `NAME+LEFT[-DONE].conf`. systemd-boot renames the
/// file before it starts the kernel and puts the new name in `LoaderBootCountPath` (the name
/// systemd-bless-boot renames on success), so this try is already counted in it.
pub fn parse_try(path: &str) -> Try {
    let file = path.rsplit(['\\', '/']).next().unwrap_or(path);
    let stem = file.strip_suffix(".conf").unwrap_or(file);
    let counter = stem.rsplit_once('+').map(|(_, c)| c);
    let (left, done) = match counter.map(|c| c.split_once('-').unwrap_or((c, "0"))) {
        Some((l, d)) => match (l.parse::<u32>(), d.parse::<u32>()) {
            (Ok(l), Ok(d)) => (Some(l), Some(d)),
            _ => (None, None),
        },
        None => (None, None),
    };
    Try {
        entry: path.to_owned(),
        left,
        done,
    }
}

/// The counted try this boot is, if systemd-boot says it is one. Mounts efivarfs (loading its
/// module if the initramfs has it) to ask; any failure on the way means "not a counted boot", as
/// does a boot without UEFI or without systemd-boot.
pub fn current() -> Option<Try> {
    // The failure may have come after the API file systems were detached for switch_root.
    let _ = mounts::mount_api_filesystems();
    if !Path::new("/sys/firmware/efi").is_dir() {
        return None;
    }
    if let Ok(module) = File::open(EFIVARFS_MODULE) {
        match finit_module(&module, c"", ModuleInitFlags::empty()) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => crate::log::warn(&format!("module efivarfs did not load: {e}")),
        }
    }
    match mounts::mount_fs(
        "efivarfs",
        "efivarfs",
        Path::new(EFIVARS),
        "efivarfs",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV | MsFlags::MS_RDONLY,
        None,
    ) {
        Ok(())
        | Err(InitError::Mount {
            errno: Errno::EBUSY,
            ..
        }) => {}
        Err(e) => {
            crate::log::warn(&format!(
                "cannot tell whether this boot was a try of a new system: {e}"
            ));
            return None;
        }
    }
    let var = Path::new(EFIVARS).join(format!("LoaderBootCountPath-{LOADER_GUID}"));
    let mut bytes = Vec::new();
    File::open(&var).ok()?.read_to_end(&mut bytes).ok()?;
    efi_string(&bytes).map(|p| parse_try(&p))
}

/// What the early init knows once the data partition is mounted, so that a later failure can be
/// recorded where the health check records its own.
pub struct FailureLog {
    pub path: PathBuf,
    pub slot: &'static str,
    pub version: String,
}

static FAILURE_LOG: OnceLock<FailureLog> = OnceLock::new();

pub fn set_failure_log(log: FailureLog) {
    let _ = FAILURE_LOG.set(log);
}

/// One line of `boot-failures.jsonl`, as `microcloud_update::record_failure` writes it
/// (`{"slot":..,"version":..,"at":..,"reason":..}`). Written by hand: the early init may not
/// depend on the update crate (nor on serde) and a fixed shape of four fields needs neither.
pub fn failure_line(slot: &str, version: &str, at: u64, reason: &str) -> String {
    format!(
        "{{\"slot\":{},\"version\":{},\"at\":{at},\"reason\":{}}}\n",
        json_string(slot),
        json_string(version),
        json_string(reason)
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Appends this failure to the data partition's record if the data partition was mounted before
/// the failure; the health check trims the file to its last 50 records the next time it writes.
pub fn record_failure(reason: &str) {
    let Some(log) = FAILURE_LOG.get() else {
        return;
    };
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let line = failure_line(
        log.slot,
        &log.version,
        at,
        &format!("the early init failed: {reason}"),
    );
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = log.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = result {
        crate::log::warn(&format!(
            "could not record the failure in {}: {e}",
            log.path.display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(attrs: u32, s: &str, nul: bool) -> Vec<u8> {
        let mut b = attrs.to_le_bytes().to_vec();
        for u in s.encode_utf16().chain(nul.then_some(0)) {
            b.extend_from_slice(&u.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_the_variable() {
        let path = "\\loader\\entries\\microcloud-slot-b+3.conf";
        assert_eq!(efi_string(&var(6, path, true)).as_deref(), Some(path));
        assert_eq!(efi_string(&var(7, path, false)).as_deref(), Some(path));
    }

    #[test]
    fn empty_or_short_is_no_try() {
        assert_eq!(efi_string(&[]), None);
        assert_eq!(efi_string(&[6, 0, 0, 0]), None);
        assert_eq!(efi_string(&var(6, "", true)), None);
        assert_eq!(efi_string(&[6, 0, 0, 0, 0, 0, b'x', 0]), None);
        // An odd byte at the end is dropped, as systemd reads it.
        assert_eq!(
            efi_string(&[6, 0, 0, 0, b'a', 0, b'b']).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn lone_surrogate_is_no_try() {
        assert_eq!(efi_string(&[6, 0, 0, 0, 0x00, 0xd8, b'a', 0]), None);
    }

    #[test]
    fn counts_this_try() {
        let t = parse_try("\\loader\\entries\\microcloud-slot-b+2-1.conf");
        assert_eq!((t.left, t.done), (Some(2), Some(1)));
        let t = parse_try("\\loader\\entries\\microcloud-slot-a+0-3.conf");
        assert_eq!((t.left, t.done), (Some(0), Some(3)));
        let t = parse_try("/loader/entries/microcloud-slot-a+3.conf");
        assert_eq!((t.left, t.done), (Some(3), Some(0)));
    }

    #[test]
    fn odd_names_keep_the_path_without_counts() {
        let t = parse_try("\\loader\\entries\\microcloud-slot-a.conf");
        assert_eq!((t.left, t.done), (None, None));
        assert_eq!(t.entry, "\\loader\\entries\\microcloud-slot-a.conf");
        assert_eq!(parse_try("\\x+y-z.conf").left, None);
    }

    #[test]
    fn failure_line_is_the_health_checks_shape() {
        assert_eq!(
            failure_line(
                "b",
                "0.1.0.2",
                1_800_000_000,
                "cannot mount \"root\"\n\\ \u{1}"
            ),
            "{\"slot\":\"b\",\"version\":\"0.1.0.2\",\"at\":1800000000,\
             \"reason\":\"cannot mount \\\"root\\\"\\n\\\\ \\u0001\"}\n"
        );
    }

    #[test]
    fn records_only_once_told_where() {
        // No log set in this process: nothing happens, nothing panics.
        record_failure("nothing");
    }
}
