//! The box's two system slots and what boots next.
//!
//! The disk has two root partitions, `mc-root-a` and `mc-root-b`; the ESP has each slot's kernel
//! and initramfs (`microcloud/a/`, `microcloud/b/`) and a loader entry per slot,
//! `loader/entries/microcloud-slot-a.conf`, whose options name the slot (`microcloud.slot=a`) for
//! the early init. Which slot boots is decided by systemd-boot alone, from those files:
//!
//! - entries with no tries left sort last; then by `sort-key`, ascending. An apply writes the new
//!   slot's entry with a sort-key below every other (`microcloud-` + 999999 - generation), so it
//!   boots next;
//! - the new entry carries a boot counter in its name (`microcloud-slot-b+3.conf`): systemd-boot
//!   renames it at each try (`+2-1`, `+1-2`, `+0-3`). systemd-bless-boot drops the counter once the
//!   boot is healthy (`boot-complete.target`); a slot whose tries run out sorts last, and the old
//!   slot boots by itself;
//! - `loader.conf`'s `default microcloud-slot-*` keeps the factory-reset entry from ever being
//!   picked by itself.
//!
//! Everything is written so that a power cut at any moment leaves a box that boots: the target
//! slot's entry is removed before its partition is written, and the new entry is the last thing
//! written, by rename.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::bundle::{verify, PublicKey, UpdateError, Verified};
use crate::version::compare;

/// Tries a newly written slot gets before it is given up.
pub const TRIES: u32 = 3;
/// Entry file names start with this, then the slot letter.
const ENTRY_PREFIX: &str = "microcloud-slot-";
/// The EFI variable in which systemd-boot names the entry it started.
const LOADER_ENTRY_SELECTED: &str =
    "/sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";
/// The factory-reset entry; it follows the slot the last apply ran from (a good one).
const RESET_ENTRY: &str = "microcloud-factory-reset.conf";
/// Sort keys count down from here as generations go up (systemd-boot sorts them ascending).
const SORT_BASE: u32 = 999_999;

/// One of the two system slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// `a` or `b`.
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    /// Parses `a` or `b`.
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "a" | "A" => Some(Slot::A),
            "b" | "B" => Some(Slot::B),
            _ => None,
        }
    }
    /// The slot a kernel command line boots (`microcloud.slot=`; the early init's default is a).
    pub fn from_cmdline(cmdline: &str) -> Slot {
        cmdline
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix("microcloud.slot="))
            .and_then(Slot::parse)
            .unwrap_or(Slot::A)
    }
    /// The GPT partition name of the slot's root.
    pub fn partition(self) -> String {
        format!("mc-root-{}", self.letter())
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.letter())
    }
}

/// Where the slots live. On the box: the ESP at `/efi`, the partitions in
/// `/dev/disk/by-partlabel`, the booted slot from `/proc/cmdline`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The mounted ESP.
    pub esp: PathBuf,
    /// A directory with the partitions by GPT name (`mc-root-a`, `mc-root-b`).
    pub partitions: PathBuf,
    /// The running kernel's command line.
    pub cmdline: String,
}

impl Layout {
    /// The appliance's layout. The booted slot comes from the kernel command line, or, where a
    /// sandbox hides it (the gateway's `ProcSubset=pid`), from the entry systemd-boot says it
    /// started (`LoaderEntrySelected`).
    pub fn system() -> Result<Layout, SlotError> {
        let cmdline = match std::fs::read_to_string("/proc/cmdline") {
            Ok(c) => c,
            Err(e) => {
                let var = Path::new(LOADER_ENTRY_SELECTED);
                let bytes = std::fs::read(var).map_err(|_| SlotError::Io {
                    path: PathBuf::from("/proc/cmdline"),
                    source: e,
                })?;
                let entry = efi_string(&bytes);
                let slot = entry
                    .strip_prefix(ENTRY_PREFIX)
                    .and_then(|r| r.get(..1))
                    .and_then(Slot::parse)
                    .unwrap_or(Slot::A);
                format!("microcloud.slot={slot}")
            }
        };
        Ok(Layout {
            esp: PathBuf::from("/efi"),
            partitions: PathBuf::from("/dev/disk/by-partlabel"),
            cmdline,
        })
    }
    fn entries_dir(&self) -> PathBuf {
        self.esp.join("loader/entries")
    }
    fn kernel_dir(&self, slot: Slot) -> PathBuf {
        self.esp.join("microcloud").join(slot.letter())
    }
    /// The slot this system booted from.
    pub fn booted(&self) -> Slot {
        Slot::from_cmdline(&self.cmdline)
    }
}

/// A slot's loader entry, as read from the ESP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub slot: Slot,
    /// Its file name, counter included.
    pub file: String,
    pub title: String,
    pub version: String,
    pub sort_key: String,
    /// Which apply wrote it (1 for the image's own slot).
    pub generation: u32,
    /// The boot counter: tries left and tries done, if the entry has one (a slot not yet blessed).
    pub tries: Option<(u32, u32)>,
    pub linux: String,
    pub initrd: String,
    pub options: String,
}

/// What a slot holds and whether it may boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SlotState {
    /// No entry: never written, or being written.
    Empty,
    /// Booted and found healthy (no boot counter).
    Good,
    /// Written, not yet found healthy: boots while it has tries left.
    Trying { tries_left: u32, tries_done: u32 },
    /// Its tries ran out: systemd-boot puts it last.
    Bad { tries_done: u32 },
}

impl Entry {
    /// The entry's state from its counter.
    pub fn state(&self) -> SlotState {
        match self.tries {
            None => SlotState::Good,
            Some((0, done)) => SlotState::Bad { tries_done: done },
            Some((left, done)) => SlotState::Trying {
                tries_left: left,
                tries_done: done,
            },
        }
    }

    /// Parses an entry file; `None` for a file that is not one of the slots' entries.
    pub fn parse(file: &str, text: &str) -> Option<Entry> {
        let stem = file.strip_suffix(".conf")?;
        let rest = stem.strip_prefix(ENTRY_PREFIX)?;
        let (letter, tries) = match rest.split_once('+') {
            None => (rest, None),
            Some((l, counter)) => {
                let (left, done) = counter.split_once('-').unwrap_or((counter, "0"));
                (l, Some((left.parse().ok()?, done.parse().ok()?)))
            }
        };
        let slot = Slot::parse(letter)?;
        let mut e = Entry {
            slot,
            file: file.to_owned(),
            title: String::new(),
            version: String::new(),
            sort_key: String::new(),
            generation: 0,
            tries,
            linux: String::new(),
            initrd: String::new(),
            options: String::new(),
        };
        for line in text.lines() {
            let line = line.trim();
            let (key, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let value = value.trim().to_owned();
            match key {
                "title" => e.title = value,
                "version" => e.version = value,
                "sort-key" => e.sort_key = value,
                "linux" => e.linux = value,
                "initrd" => e.initrd = value,
                "options" if e.options.is_empty() => e.options = value,
                "options" => e.options = format!("{} {value}", e.options),
                _ => {}
            }
        }
        e.generation = e
            .sort_key
            .strip_prefix("microcloud-")
            .and_then(|n| n.parse::<u32>().ok())
            .map(|n| SORT_BASE.saturating_sub(n))
            .unwrap_or(0);
        Some(e)
    }

    /// The file's text.
    fn render(&self) -> String {
        format!(
            "title {}\nsort-key {}\nversion {}\nlinux {}\ninitrd {}\noptions {}\n",
            self.title, self.sort_key, self.version, self.linux, self.initrd, self.options
        )
    }
}

fn sort_key(generation: u32) -> String {
    format!("microcloud-{:06}", SORT_BASE.saturating_sub(generation))
}

/// The order systemd-boot gives the entries (see the module's doc): the first is what boots.
pub fn boot_order(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        let bad = |e: &Entry| matches!(e.tries, Some((0, _)));
        bad(a)
            .cmp(&bad(b))
            .then_with(|| a.sort_key.cmp(&b.sort_key))
            .then_with(|| compare(&b.version, &a.version))
            .then_with(|| b.slot.letter().cmp(a.slot.letter()))
    });
}

/// Reads the slots' entries from the ESP, in boot order.
pub fn read_entries(layout: &Layout) -> Result<Vec<Entry>, SlotError> {
    let dir = layout.entries_dir();
    let mut out = Vec::new();
    for item in std::fs::read_dir(&dir).map_err(io_at(&dir))? {
        let item = item.map_err(io_at(&dir))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.starts_with(ENTRY_PREFIX) || !name.ends_with(".conf") {
            continue;
        }
        let path = item.path();
        let text = std::fs::read_to_string(&path).map_err(io_at(&path))?;
        if let Some(e) = Entry::parse(&name, &text) {
            // systemd-boot skips an entry whose kernel is missing; so do we.
            if layout.esp.join(e.linux.trim_start_matches('/')).is_file() {
                out.push(e);
            }
        }
    }
    boot_order(&mut out);
    Ok(out)
}

/// One slot in a [`Status`].
#[derive(Debug, Clone, Serialize)]
pub struct SlotStatus {
    pub slot: Slot,
    pub booted: bool,
    #[serde(flatten)]
    pub state: SlotState,
    pub version: Option<String>,
    pub generation: Option<u32>,
    pub entry: Option<String>,
}

/// An update that failed its tries, after which the box came back on the slot it runs.
#[derive(Debug, Clone, Serialize)]
pub struct RolledBack {
    pub slot: Slot,
    pub version: String,
    pub tries: u32,
    /// What the failed boots recorded, the last first; empty when none got as far as recording
    /// (the kernel or the early init failed, or the box hung).
    pub reasons: Vec<String>,
}

/// The slots, and what boots next.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub booted: Slot,
    pub slots: Vec<SlotStatus>,
    /// The slot systemd-boot starts at the next boot.
    pub next: Option<Slot>,
    pub rolled_back: Option<RolledBack>,
}

/// Reads the slots' state; `failures` are the boot failures recorded on the data partition.
pub fn status(layout: &Layout, failures: &[BootFailure]) -> Result<Status, SlotError> {
    let entries = read_entries(layout)?;
    let booted = layout.booted();
    let next = entries
        .iter()
        .find(|e| !matches!(e.tries, Some((0, _))))
        .or(entries.first())
        .map(|e| e.slot);
    let slots = [Slot::A, Slot::B]
        .into_iter()
        .map(|slot| {
            let e = entries.iter().find(|e| e.slot == slot);
            SlotStatus {
                slot,
                booted: slot == booted,
                state: e.map_or(SlotState::Empty, Entry::state),
                version: e.map(|e| e.version.clone()),
                generation: e.map(|e| e.generation),
                entry: e.map(|e| e.file.clone()),
            }
        })
        .collect();
    let mine = entries.iter().find(|e| e.slot == booted);
    let rolled_back = entries
        .iter()
        .find(|e| {
            e.slot != booted
                && matches!(e.tries, Some((0, _)))
                && mine.is_none_or(|m| e.generation > m.generation)
        })
        .map(|e| RolledBack {
            slot: e.slot,
            version: e.version.clone(),
            tries: e.tries.map_or(0, |t| t.1),
            reasons: failures
                .iter()
                .rev()
                .filter(|f| f.slot == e.slot && f.version == e.version)
                .map(|f| f.reason.clone())
                .collect(),
        });
    Ok(Status {
        booted,
        slots,
        next,
        rolled_back,
    })
}

/// Whether the running boot is a counted try of a slot not yet found healthy.
pub fn is_trial(layout: &Layout) -> Result<bool, SlotError> {
    let booted = layout.booted();
    Ok(read_entries(layout)?
        .iter()
        .any(|e| e.slot == booted && e.tries.is_some()))
}

/// One boot that was not healthy, as the health check recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootFailure {
    pub slot: Slot,
    pub version: String,
    /// Seconds since the epoch.
    pub at: u64,
    pub reason: String,
}

/// Most failures kept (a box failing every boot must not fill its data partition).
const FAILURES_KEPT: usize = 50;

/// Reads the recorded boot failures (oldest first); a missing file is none.
pub fn read_failures(path: &Path) -> Vec<BootFailure> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Appends a failure to the record at `path`, durably, keeping the last 50.
pub fn record_failure(path: &Path, failure: &BootFailure) -> Result<(), SlotError> {
    let mut all = read_failures(path);
    all.push(failure.clone());
    let start = all.len().saturating_sub(FAILURES_KEPT);
    let text: String = all[start..]
        .iter()
        .map(|f| serde_json::to_string(f).expect("serializes") + "\n")
        .collect();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    }
    write_durably(path, text.as_bytes())
}

/// What an apply reports as it goes.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// What is being done: `verifying`, `writing root.squashfs`, ...
    pub step: &'a str,
    pub done: u64,
    pub total: u64,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub slot: Slot,
    pub version: String,
    pub running: Option<String>,
    /// The entry written (`microcloud-slot-b+3.conf`).
    pub entry: String,
    pub generation: u32,
    pub bytes_written: u64,
}

/// Checks `bundle` whole against `key`, then writes it to the slot that is not running and makes
/// that slot boot next, with [`TRIES`] tries. `running` is the running system's version: a bundle
/// not newer than it is refused unless `force`.
pub fn apply(
    layout: &Layout,
    bundle: &Path,
    key: &PublicKey,
    running: Option<&str>,
    force: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Applied, SlotError> {
    let booted = layout.booted();
    let target = booted.other();
    let entries = read_entries(layout)?;
    let Some(current) = entries.iter().find(|e| e.slot == booted).cloned() else {
        return Err(SlotError::NoEntry { slot: booted });
    };
    if current.tries.is_some() {
        return Err(SlotError::NotBlessed {
            slot: booted,
            version: current.version.clone(),
        });
    }
    progress(Progress {
        step: "verifying",
        done: 0,
        total: 1,
    });
    let verified = verify(bundle, key)?;
    let version = verified.manifest.system_version.clone();
    if let Some(r) = running {
        if compare(&version, r) != std::cmp::Ordering::Greater && !force {
            return Err(SlotError::NotNewer {
                version,
                running: r.to_owned(),
            });
        }
    }
    let root_dev = layout.partitions.join(target.partition());
    let (root, root_at) = payload(&verified, "root.squashfs");
    let room = device_size(&root_dev)?;
    if root.size > room {
        return Err(SlotError::TooLarge {
            path: root_dev,
            size: root.size,
            room,
        });
    }
    // From here on the box is changed; every step leaves it bootable from `booted`.
    point_reset_at(layout, &current)?;
    let entries_dir = layout.entries_dir();
    for e in entries.iter().filter(|e| e.slot == target) {
        let path = entries_dir.join(&e.file);
        std::fs::remove_file(&path).map_err(io_at(&path))?;
    }
    sync_dir(&entries_dir)?;

    let mut written = 0;
    written += copy_payload(bundle, root_at, root, &root_dev, false, progress)?;
    let kdir = layout.kernel_dir(target);
    std::fs::create_dir_all(&kdir).map_err(io_at(&kdir))?;
    for name in ["vmlinuz", "initrd.img"] {
        let (p, at) = payload(&verified, name);
        let tmp = kdir.join(format!("{name}.new"));
        written += copy_payload(bundle, at, p, &tmp, true, progress)?;
        let dest = kdir.join(name);
        std::fs::rename(&tmp, &dest).map_err(io_at(&dest))?;
    }
    sync_dir(&kdir)?;

    let generation = entries.iter().map(|e| e.generation).max().unwrap_or(0) + 1;
    let options = current
        .options
        .split_ascii_whitespace()
        .filter(|w| !w.starts_with("microcloud.slot="))
        .chain(std::iter::once(
            format!("microcloud.slot={target}").as_str(),
        ))
        .collect::<Vec<_>>()
        .join(" ");
    let entry = Entry {
        slot: target,
        file: format!("{ENTRY_PREFIX}{target}+{TRIES}.conf"),
        title: format!("microcloud {version} (slot {target})"),
        version: version.clone(),
        sort_key: sort_key(generation),
        generation,
        tries: Some((TRIES, 0)),
        linux: format!("/microcloud/{target}/vmlinuz"),
        initrd: format!("/microcloud/{target}/initrd.img"),
        options,
    };
    write_durably(&entries_dir.join(&entry.file), entry.render().as_bytes())?;
    progress(Progress {
        step: "done",
        done: 1,
        total: 1,
    });
    Ok(Applied {
        slot: target,
        version,
        running: running.map(str::to_owned),
        entry: entry.file,
        generation,
        bytes_written: written,
    })
}

/// Makes the other slot boot next, with [`TRIES`] tries: the owner's way back to the system the
/// box ran before an update. The other slot must hold a system that booted healthy there.
pub fn rollback(layout: &Layout) -> Result<Entry, SlotError> {
    let booted = layout.booted();
    let entries = read_entries(layout)?;
    let target = booted.other();
    let Some(old) = entries.iter().find(|e| e.slot == target).cloned() else {
        return Err(SlotError::NoEntry { slot: target });
    };
    if old.tries.is_some() {
        return Err(SlotError::NotGood {
            slot: target,
            version: old.version.clone(),
        });
    }
    if let Some(current) = entries.iter().find(|e| e.slot == booted) {
        point_reset_at(layout, current)?;
    }
    let generation = entries.iter().map(|e| e.generation).max().unwrap_or(0) + 1;
    let entry = Entry {
        file: format!("{ENTRY_PREFIX}{target}+{TRIES}.conf"),
        sort_key: sort_key(generation),
        generation,
        tries: Some((TRIES, 0)),
        ..old.clone()
    };
    let dir = layout.entries_dir();
    // The new entry first, then the old one's removal: a cut between them leaves two entries of
    // the same slot, which boot the same system.
    write_durably(&dir.join(&entry.file), entry.render().as_bytes())?;
    let old_path = dir.join(&old.file);
    std::fs::remove_file(&old_path).map_err(io_at(&old_path))?;
    sync_dir(&dir)?;
    Ok(entry)
}

/// Rewrites the factory-reset entry to boot `good`'s kernel and root, unless it does already:
/// the slot about to be written must never be the reset's.
fn point_reset_at(layout: &Layout, good: &Entry) -> Result<(), SlotError> {
    let path = layout.entries_dir().join(RESET_ENTRY);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let slot_opt = format!("microcloud.slot={}", good.slot);
    let wanted: String = text
        .lines()
        .map(|line| {
            let key = line.split_whitespace().next().unwrap_or("");
            match key {
                "linux" => format!("linux {}", good.linux),
                "initrd" => format!("initrd {}", good.initrd),
                "options" => line
                    .split_whitespace()
                    .map(|w| {
                        if w.starts_with("microcloud.slot=") {
                            slot_opt.as_str()
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => line.to_owned(),
            }
        })
        .map(|l| l + "\n")
        .collect();
    if wanted == text {
        return Ok(());
    }
    write_durably(&path, wanted.as_bytes())
}

fn payload<'a>(v: &'a Verified, name: &str) -> (&'a crate::Payload, u64) {
    let (p, at) = v
        .payloads
        .iter()
        .find(|(p, _)| p.name == name)
        .expect("a verified bundle has every payload");
    (p, *at)
}

/// Size of a partition (or, in tests, of a file standing for one).
fn device_size(path: &Path) -> Result<u64, SlotError> {
    let mut f = File::open(path).map_err(io_at(path))?;
    f.seek(SeekFrom::End(0)).map_err(io_at(path))
}

/// Copies a payload from the bundle to `dest`, hashing what it writes: the bytes must still be
/// those verified (a bundle replaced after its check is caught here). `create` makes a new file;
/// otherwise `dest` is a partition, written in place. Synced before it returns.
fn copy_payload(
    bundle: &Path,
    at: u64,
    p: &crate::Payload,
    dest: &Path,
    create: bool,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<u64, SlotError> {
    let mut src = File::open(bundle).map_err(io_at(bundle))?;
    src.seek(SeekFrom::Start(at)).map_err(io_at(bundle))?;
    let mut out = if create {
        File::create(dest)
    } else {
        OpenOptions::new().write(true).open(dest)
    }
    .map_err(io_at(dest))?;
    let step = format!("writing {}", p.name);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < p.size {
        let n = ((p.size - done) as usize).min(buf.len());
        src.read_exact(&mut buf[..n]).map_err(io_at(bundle))?;
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_at(dest))?;
        done += n as u64;
        progress(Progress {
            step: &step,
            done,
            total: p.size,
        });
    }
    out.sync_all().map_err(io_at(dest))?;
    let found = hex(&hasher.finalize());
    if found != p.sha256.to_ascii_lowercase() {
        return Err(SlotError::Update(UpdateError::Checksum {
            path: bundle.to_owned(),
            name: p.name.clone(),
            expected: p.sha256.clone(),
            found,
        }));
    }
    Ok(done)
}

/// Writes a small file whole: a temporary beside it, synced, renamed over it, the directory
/// synced. On the ESP's FAT a rename is not atomic on every kernel; the entries are written to new
/// names wherever it matters (see `apply`).
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), SlotError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_at(&tmp))?;
    f.write_all(bytes).map_err(io_at(&tmp))?;
    f.sync_all().map_err(io_at(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_at(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), SlotError> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        // Some file systems cannot sync a directory; their metadata goes with the files' sync.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        Err(e) => Err(io_at(dir)(e)),
    }
}

/// An EFI string variable's value, as efivarfs gives it: 4 bytes of attributes, then UTF-16LE,
/// NUL-terminated.
fn efi_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .get(4..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> SlotError + '_ {
    move |source| SlotError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Why a slot operation did not happen. Nothing that would stop the box from booting was written
/// when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// The bundle was refused.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// A file or partition could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The slot has no loader entry.
    #[error("slot {slot} has no boot entry (it holds no system)")]
    NoEntry { slot: Slot },
    /// The running slot is still on trial: writing the other would overwrite the last good one.
    #[error("the running system ({version}, slot {slot}) has not yet been found healthy; wait until it is (systemctl status microcloud-healthy) before applying another update")]
    NotBlessed { slot: Slot, version: String },
    /// The slot to roll back to never booted healthy.
    #[error("slot {slot} ({version}) never booted healthy: rolling back to it is refused")]
    NotGood { slot: Slot, version: String },
    /// The bundle is not newer than the running system.
    #[error("the bundle holds {version}, which is not newer than the running system ({running}); add --force to install it anyway")]
    NotNewer { version: String, running: String },
    /// The root file system does not fit the slot.
    #[error("{}: the root file system ({size} bytes) does not fit the slot ({room} bytes)", path.display())]
    TooLarge { path: PathBuf, size: u64, room: u64 },
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_entry_systemd_boot_started_is_read_from_its_variable() {
        let mut v = vec![6, 0, 0, 0];
        for u in "microcloud-slot-b.conf\0".encode_utf16() {
            v.extend(u.to_le_bytes());
        }
        assert_eq!(super::efi_string(&v), "microcloud-slot-b.conf");
        assert_eq!(super::efi_string(&[1, 2]), "");
    }
}
