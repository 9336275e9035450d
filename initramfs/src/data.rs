//! The data partition: formatted on first boot, grown to the disk's size, wiped on factory reset,
//! and the home of every writable path of the otherwise read-only system.
//!
//! Layout of the data partition (mounted at `/data` in the booted system):
//!
//! | on the data partition | bound onto | holds |
//! |---|---|---|
//! | `var/` | `/var` | agents' state (`/var/lib/microcloud`), journal, ssh host keys (`/var/lib/ssh`), network state |
//! | `root/` | `/root` | root's home: `.ssh/authorized_keys` |
//! | `etc/machine-id` | `/etc/machine-id` | the machine id, made here on first boot |
//! | `factory-reset` | | if present at boot, the partition is wiped (like `microcloud.factory_reset`) |
//!
//! The tools that format and grow (`mkfs.ext4`, `sfdisk`, `partx`, `resize2fs`, `e2fsck`) are not
//! copied into the initramfs: they run from the read-only root, already mounted, through chroot.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::mount::MsFlags;

use microcloud_constants as constants;

use crate::error::{io, InitError, Result};
use crate::log;
use crate::mounts;
use crate::partitions::Partition;

/// Where the data partition is mounted, relative to the root.
pub const DATA_DIR: &str = "data";
/// GPT partition name and file system label of the data partition.
pub const DATA_LABEL: &str = "mc-data";
/// A file at the top of the data partition that asks for a factory reset at the next boot.
pub const RESET_FLAG: &str = "factory-reset";
/// Writable directories on the data partition and the paths of the root they are bound onto.
const BINDS: &[(&str, &str)] = &[
    ("var", "var"),
    ("root", "root"),
    ("etc/machine-id", "etc/machine-id"),
];
/// Grow the partition only if at least this much (in 512-byte sectors, 16 MiB) lies unused after it.
const GROW_THRESHOLD_SECTORS: u64 = 32768;

pub struct Data {
    pub machine_id: String,
    pub formatted: bool,
    /// The host name the owner chose on the setup page, if any.
    pub hostname: Option<String>,
}

/// The agents' data directory, relative to the data partition's root (it is bound onto `/var`).
pub fn agents_dir() -> PathBuf {
    Path::new(DATA_VAR).join(
        constants::APPLIANCE_DATA_DIR
            .strip_prefix("/var/")
            .expect("the agents' data directory is under /var"),
    )
}

/// The partition's directory bound onto `/var`.
const DATA_VAR: &str = "var";

/// Where the setup page keeps the owner's choice of host name.
fn hostname_file() -> PathBuf {
    agents_dir().join(constants::HOSTNAME_FILE)
}

/// The agents' data directory on the data partition, with the owners and modes that
/// units/tmpfiles.d/microcloud.conf declares: made here, before systemd, so that the agents
/// start without waiting for systemd-tmpfiles (or running it themselves: a second under
/// emulation). (directory, owner user or "" for root, mode)
fn agent_dirs() -> [(PathBuf, &'static str, u32); 4] {
    [
        (agents_dir(), "", 0o770),
        (
            agents_dir().join(constants::SECRETS_DIR),
            constants::APPLIANCE_UPLINK_USER,
            0o700,
        ),
        (agents_dir().join(constants::SECRETS_INBOX_DIR), "", 0o770),
        (
            agents_dir().join(constants::DISCOVERY_DIR),
            constants::APPLIANCE_DISCOVERY_USER,
            0o750,
        ),
    ]
}
/// The group both agents share.
const AGENT_GROUP: &str = constants::APPLIANCE_GROUP;

/// The id of `name` in an /etc/passwd or /etc/group file's text.
fn id_in(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next() == Some(name))
            .then(|| f.nth(1).and_then(|id| id.parse().ok()))
            .flatten()
    })
}

/// Makes the agents' directories (see `agent_dirs`) and sets their owners and modes.
pub fn prepare_agent_dirs(sysroot: &Path, data: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let passwd = std::fs::read_to_string(sysroot.join("etc/passwd"))?;
    let group = std::fs::read_to_string(sysroot.join("etc/group"))?;
    let missing = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("no {what} in the root file system"),
        )
    };
    let gid = id_in(&group, AGENT_GROUP).ok_or_else(|| missing("group microcloud"))?;
    for (dir, user, mode) in agent_dirs() {
        let uid = if user.is_empty() {
            0
        } else {
            id_in(&passwd, user).ok_or_else(|| missing(user))?
        };
        let path = data.join(dir);
        std::fs::create_dir_all(&path)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// Where the setup page keeps the owner's time zone.
fn timezone_file() -> PathBuf {
    agents_dir().join(constants::TIMEZONE_FILE)
}
/// The image's /etc/localtime points here (the root is read-only): a link to the zone's file.
const LOCALTIME_LINK: &str = "var/lib/timezone/localtime";

/// Points the data partition's localtime link at the owner's time zone (UTC when none is chosen
/// or the choice is not a zone the root file system has). Returns the zone.
pub fn apply_timezone(sysroot: &Path, data: &Path) -> std::io::Result<String> {
    let chosen = std::fs::read_to_string(data.join(timezone_file())).unwrap_or_default();
    let chosen = chosen.trim();
    let valid = !chosen.is_empty()
        && !chosen.contains("..")
        && chosen
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
        && sysroot.join("usr/share/zoneinfo").join(chosen).is_file();
    let zone = if valid { chosen } else { "Etc/UTC" };
    let link = data.join(LOCALTIME_LINK);
    std::fs::create_dir_all(link.parent().unwrap())?;
    let target = Path::new("/usr/share/zoneinfo").join(zone);
    if std::fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)?;
        std::fs::rename(&tmp, &link)?;
    }
    Ok(zone.to_owned())
}

/// The owner's host name from the data partition, if it is there and a valid name.
pub fn chosen_hostname(data: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data.join(hostname_file())).ok()?;
    let h = text.trim();
    let ok = !h.is_empty()
        && h.len() <= 63
        && !h.starts_with('-')
        && !h.ends_with('-')
        && h.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then(|| h.to_owned())
}

/// Whether `dev` holds an ext2/3/4 file system (the superblock magic 0xEF53 at byte 1080).
pub fn has_ext4_magic(dev: &Path) -> Result<bool> {
    let mut f = File::open(dev).map_err(io("open", dev))?;
    let mut sb = [0u8; 1082];
    match f.read_exact(&mut sb) {
        Ok(()) => Ok(sb[1080] == 0x53 && sb[1081] == 0xEF),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(io("read", dev)(e)),
    }
}

/// Runs one of the root file system's tools, chrooted into `sysroot`.
fn tool(sysroot: &Path, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let command = args.join(" ");
    let root =
        CString::new(sysroot.as_os_str().as_encoded_bytes()).expect("no NUL in the root path");
    // The program's path inside the root: std looks programs up in the parent (outside the
    // chroot), so it gets an absolute one.
    let program = ["/usr/sbin/", "/usr/bin/"]
        .iter()
        .map(|dir| format!("{dir}{}", args[0]))
        .find(|p| sysroot.join(p.trim_start_matches('/')).exists())
        .ok_or_else(|| InitError::Tool {
            command: command.clone(),
            status: "not found".into(),
            output: format!("the root file system has no {}", args[0]),
        })?;
    let mut cmd = Command::new(&program);
    cmd.args(&args[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if nix::libc::chroot(root.as_ptr()) != 0 || nix::libc::chdir(c"/".as_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| InitError::Tool {
        command: command.clone(),
        status: "could not start".into(),
        output: e.to_string(),
    })?;
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.unwrap_or("").as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| InitError::Tool {
        command: command.clone(),
        status: "lost".into(),
        output: e.to_string(),
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(InitError::Tool {
            command,
            status: out.status.to_string(),
            output: text.trim().into(),
        });
    }
    log::info(&format!("ran {command}"));
    Ok(text)
}

fn read_sectors(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Grows the data partition (the last one) over the unused end of its disk: moves the backup GPT
/// to the disk's end, enlarges the partition entry, and tells the kernel. Returns whether it grew.
fn grow_partition(sysroot: &Path, part: &Partition) -> Result<bool> {
    let sys = sysroot.join("sys/class/block");
    let (Some(disk_size), Some(start), Some(size)) = (
        read_sectors(&sys.join(&part.disk).join("size")),
        read_sectors(&sys.join(&part.name).join("start")),
        read_sectors(&sys.join(&part.name).join("size")),
    ) else {
        return Ok(false);
    };
    // 33 sectors at the end hold the backup GPT.
    if disk_size.saturating_sub(start + size + 33) < GROW_THRESHOLD_SECTORS {
        return Ok(false);
    }
    let disk = format!("/dev/{}", part.disk);
    let number = part.number.to_string();
    log::notice(&format!(
        "growing the data partition {} from {} MiB to the end of the disk ({} MiB)",
        part.name,
        size / 2048,
        disk_size / 2048
    ));
    tool(
        sysroot,
        &[
            "sfdisk",
            "-q",
            "--no-reread",
            "--no-tell-kernel",
            "--relocate",
            "gpt-bak-std",
            &disk,
        ],
        None,
    )?;
    tool(
        sysroot,
        &[
            "sfdisk",
            "-q",
            "--no-reread",
            "--no-tell-kernel",
            "-N",
            &number,
            &disk,
        ],
        Some(",+\n"),
    )?;
    tool(sysroot, &["partx", "-u", "-n", &number, &disk], None)?;
    let new_size = read_sectors(&sys.join(&part.name).join("size")).unwrap_or(size);
    Ok(new_size > size)
}

fn format(sysroot: &Path, part: &Partition) -> Result<()> {
    let dev = format!("/dev/{}", part.name);
    // Lazy initialisation keeps the first boot short; the kernel finishes it in the background.
    tool(
        sysroot,
        &[
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            DATA_LABEL,
            "-m",
            "1",
            "-E",
            "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
            &dev,
        ],
        None,
    )?;
    Ok(())
}

fn mount_data(sysroot: &Path, part: &Partition) -> Result<()> {
    let dev = part.dev(Path::new("/dev"));
    mounts::mount_fs(
        "the data partition",
        &dev.to_string_lossy(),
        &sysroot.join(DATA_DIR),
        "ext4",
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOATIME,
        Some("errors=remount-ro"),
    )
}

/// Checks the data file system before it is mounted (`e2fsck -p`, which replays the journal of a
/// power cut and checks when ext4 says it should), and says how it went on the console: the line
/// an owner or a test reads after a cut. e2fsck's exit code 1 means it corrected something (the
/// journal's replay counts), 2 that it did and the box should reboot, 4 and up that it could not
/// fix everything: then the mount decides (`mount_or_repair`), and the data is never wiped.
fn check_data_fs(sysroot: &Path, part: &Partition) {
    let dev = format!("/dev/{}", part.name);
    let summary = |out: &str| {
        out.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match tool(sysroot, &["e2fsck", "-p", &dev], None) {
        Ok(out) => log::notice(&format!(
            "data file system check: clean (exit 0): {}",
            summary(&out)
        )),
        Err(InitError::Tool { status, output, .. }) if status.ends_with("exit status: 1") => {
            log::notice(&format!(
                "data file system check: corrected (exit 1): {}",
                summary(&output)
            ))
        }
        Err(e) => log::warn(&format!("data file system check: {e}")),
    }
}

/// Mounts the data partition, with one repair attempt (`e2fsck -p`) if the first mount fails.
/// Data is never wiped because it failed to mount: that takes an explicit factory reset.
fn mount_or_repair(sysroot: &Path, part: &Partition) -> Result<()> {
    match mount_data(sysroot, part) {
        Ok(()) => Ok(()),
        Err(first) => {
            log::warn(&format!("{first}; checking the file system"));
            let dev = format!("/dev/{}", part.name);
            // e2fsck exits 1 when it corrected errors: that is a success here.
            match tool(sysroot, &["e2fsck", "-p", &dev], None) {
                Ok(_) | Err(InitError::Tool { .. }) => {}
                Err(e) => return Err(e),
            }
            mount_data(sysroot, part)
        }
    }
}

/// A machine id as systemd writes it: 32 lowercase hex digits of a random v4 UUID.
pub fn new_machine_id(random: [u8; 16]) -> String {
    let mut b = random;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn is_valid_machine_id(text: &str) -> bool {
    let id = text.trim_end_matches('\n');
    id.len() == 32
        && id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        && id.bytes().any(|c| c != b'0')
}

/// Writes a file and makes it durable (data, then the directory entry).
fn write_durably(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(content)
        .and_then(|_| f.sync_all())
        .map_err(io("write", &tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .map_err(io("set the mode of", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))?;
    }
    Ok(())
}

/// Reads the machine id from the data partition, or makes one.
fn machine_id(data: &Path) -> Result<String> {
    let path = data.join("etc/machine-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if is_valid_machine_id(&text) {
            return Ok(text.trim_end().to_string());
        }
        log::warn(&format!(
            "{} is not a valid machine id: making a new one",
            path.display()
        ));
    }
    let mut random = [0u8; 16];
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { nix::libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    if n != random.len() as isize {
        return Err(io("read random bytes from", "getrandom(2)")(
            std::io::Error::last_os_error(),
        ));
    }
    let id = new_machine_id(random);
    write_durably(&path, format!("{id}\n").as_bytes(), 0o444)?;
    log::notice(&format!("new machine id {id}"));
    Ok(id)
}

/// Creates the writable directories (idempotent) and binds them into the root.
fn lay_out(sysroot: &Path, data: &Path) -> Result<String> {
    for (dir, mode) in [("var", 0o755), ("root", 0o700), ("etc", 0o755)] {
        let p = data.join(dir);
        if !p.is_dir() {
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(&p)
                .map_err(io("create", &p))?;
        }
    }
    let id = machine_id(data)?;
    for (from, to) in BINDS {
        mounts::bind(&data.join(from), &sysroot.join(to))?;
    }
    Ok(id)
}

/// Everything the data partition needs before systemd starts. `sysroot` has the root mounted
/// read-only and the API file systems (`dev`, `proc`, `sys`) moved into it.
pub fn prepare(sysroot: &Path, part: &Partition, reset_requested: bool) -> Result<Data> {
    let data: PathBuf = sysroot.join(DATA_DIR);
    let dev = part.dev(Path::new("/dev"));
    let mut needs_format = !has_ext4_magic(&dev)?;
    if needs_format {
        log::notice("the data partition is blank: formatting it (first boot)");
    } else if reset_requested {
        log::notice(
            "factory reset requested on the kernel command line: wiping the data partition",
        );
        needs_format = true;
    }

    // Growing is an improvement, not a condition to boot: a failure is reported and boot goes on.
    let grown = grow_partition(sysroot, part).unwrap_or_else(|e| {
        log::warn(&format!("could not grow the data partition: {e}"));
        false
    });

    if !needs_format {
        check_data_fs(sysroot, part);
        mount_or_repair(sysroot, part)?;
        if data.join(RESET_FLAG).exists() {
            log::notice(&format!(
                "factory reset requested ({}): wiping the data partition",
                RESET_FLAG
            ));
            mounts::unmount(&data)?;
            needs_format = true;
        } else if grown {
            if let Err(e) = tool(
                sysroot,
                &["resize2fs", &format!("/dev/{}", part.name)],
                None,
            ) {
                log::warn(&format!("could not grow the data file system: {e}"));
            }
        }
    }
    if needs_format {
        format(sysroot, part)?;
        mount_data(sysroot, part)?;
    }
    let machine_id = lay_out(sysroot, &data)?;
    let hostname = chosen_hostname(&data);
    Ok(Data {
        machine_id,
        formatted: needs_format,
        hostname,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_from_passwd_and_group() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nmicrocloud-uplink:x:998:997::/var/lib/microcloud:/usr/sbin/nologin\n";
        assert_eq!(super::id_in(passwd, "microcloud-uplink"), Some(998));
        assert_eq!(super::id_in(passwd, "root"), Some(0));
        assert_eq!(super::id_in(passwd, "microcloud"), None);
        assert_eq!(
            super::id_in("microcloud:x:997:microcloud-gateway\n", "microcloud"),
            Some(997)
        );
    }

    #[test]
    fn the_owners_timezone() {
        let root = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("usr/share/zoneinfo/Europe")).unwrap();
        std::fs::write(root.path().join("usr/share/zoneinfo/Europe/Paris"), "TZif").unwrap();
        assert_eq!(
            super::apply_timezone(root.path(), data.path()).unwrap(),
            "Etc/UTC"
        );
        let f = data.path().join(super::timezone_file());
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "Europe/Paris\n").unwrap();
        assert_eq!(
            super::apply_timezone(root.path(), data.path()).unwrap(),
            "Europe/Paris"
        );
        let link = std::fs::read_link(data.path().join(super::LOCALTIME_LINK)).unwrap();
        assert_eq!(
            link,
            std::path::Path::new("/usr/share/zoneinfo/Europe/Paris")
        );
        std::fs::write(&f, "../../etc/shadow\n").unwrap();
        assert_eq!(
            super::apply_timezone(root.path(), data.path()).unwrap(),
            "Etc/UTC"
        );
    }

    #[test]
    fn the_owners_hostname() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(super::chosen_hostname(t.path()), None);
        let f = t.path().join(super::hostname_file());
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "studio-box\n").unwrap();
        assert_eq!(
            super::chosen_hostname(t.path()).as_deref(),
            Some("studio-box")
        );
        std::fs::write(&f, "bad name; rm -rf\n").unwrap();
        assert_eq!(super::chosen_hostname(t.path()), None);
    }

    use super::*;

    #[test]
    fn machine_id_is_a_v4_uuid_in_hex() {
        let id = new_machine_id([0xff; 16]);
        assert_eq!(id.len(), 32);
        assert_eq!(&id[12..13], "4");
        assert!(matches!(&id[16..17], "8" | "9" | "a" | "b"));
        assert!(is_valid_machine_id(&format!("{id}\n")));
        assert!(!is_valid_machine_id("uninitialized\n"));
        assert!(!is_valid_machine_id(""));
        assert!(!is_valid_machine_id(&"0".repeat(32)));
        assert!(!is_valid_machine_id(&"A".repeat(32)));
    }

    #[test]
    fn ext4_magic() {
        let t = tempfile::tempdir().unwrap();
        let blank = t.path().join("blank");
        std::fs::write(&blank, vec![0u8; 4096]).unwrap();
        assert!(!has_ext4_magic(&blank).unwrap());
        let mut sb = vec![0u8; 4096];
        sb[1080] = 0x53;
        sb[1081] = 0xEF;
        let ext4 = t.path().join("ext4");
        std::fs::write(&ext4, sb).unwrap();
        assert!(has_ext4_magic(&ext4).unwrap());
        let short = t.path().join("short");
        std::fs::write(&short, [0u8; 10]).unwrap();
        assert!(!has_ext4_magic(&short).unwrap());
    }

    #[test]
    fn machine_id_is_kept_once_made() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("etc")).unwrap();
        let a = machine_id(t.path()).unwrap();
        assert!(is_valid_machine_id(&a));
        assert_eq!(machine_id(t.path()).unwrap(), a);
        std::fs::write(t.path().join("etc/machine-id"), "garbage\n").unwrap();
        assert_ne!(machine_id(t.path()).unwrap(), a);
    }

    /// The early init makes what units/tmpfiles.d declares, with the same owners and modes, from
    /// the same constants the agents use: the file layout is written once.
    #[test]
    fn agent_dirs_agree_with_tmpfiles() {
        let conf = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../units/tmpfiles.d/microcloud.conf"),
        )
        .unwrap();
        let declared: Vec<Vec<&str>> = conf
            .lines()
            .filter(|l| l.starts_with("d /var/lib/microcloud"))
            .map(|l| l.split_whitespace().collect())
            .collect();
        let made = super::agent_dirs();
        assert_eq!(declared.len(), made.len(), "{declared:?}");
        for (line, (dir, user, mode)) in declared.iter().zip(made.iter()) {
            assert_eq!(Path::new("/").join(dir), Path::new(line[1]), "{line:?}");
            assert_eq!(format!("{mode:04o}"), line[2], "{line:?}");
            let owner = if user.is_empty() { "root" } else { user };
            assert_eq!(owner, line[3], "{line:?}");
            assert_eq!(constants::APPLIANCE_GROUP, line[4], "{line:?}");
        }
        assert_eq!(
            Path::new("/").join(super::agents_dir()),
            Path::new(constants::APPLIANCE_DATA_DIR)
        );
    }
}
