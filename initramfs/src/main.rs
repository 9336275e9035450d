//! microcloud-init: PID 1 of the appliance's initramfs.
//!
//! 1. mounts devtmpfs, proc and sysfs;
//! 2. loads the file system and storage modules the initramfs carries, in dependency order,
//!    until the partitions are visible;
//! 3. finds the root of the slot the boot loader chose (`microcloud.slot=a|b`: `mc-root-a` or
//!    `mc-root-b`) and the data partition (`mc-data`) by GPT partition name;
//! 4. mounts that root (squashfs) read-only at /sysroot, with its own devtmpfs, proc and sysfs;
//! 5. prepares the data partition (see `data`): format on first boot or factory reset, grow to
//!    the disk's size, mount at /data, bind the writable paths (/var, /root, /etc/machine-id);
//! 6. sets the hostname: the owner's choice from the setup page, else `microcloud-XXXX` from the
//!    machine id;
//! 7. switch_root to systemd.
//!
//! On any failure it prints what went wrong on the console. On a counted try of a freshly
//! updated slot (see `trial`) it then reboots after 10 s, so that the slot uses up its tries and
//! systemd-boot goes back to the previous one; otherwise it stops there: no panic, no reboot loop.
//! The kernel options it reads are in `cmdline`.

mod cmdline;
mod data;
mod error;
mod log;
mod modules;
mod mounts;
mod partitions;
mod switch_root;
mod trial;

use std::convert::Infallible;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use microcloud_constants as constants;
use nix::mount::MsFlags;

use crate::error::{io, Result};

const SYSROOT: &str = "/sysroot";

/// Makes /dev/console our stdin, stdout and stderr if the kernel could not (it opens it before
/// starting us only if the initramfs has the node).
fn attach_console() {
    let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    let fd = console.as_raw_fd();
    for target in 0..=2 {
        // SAFETY: F_GETFD only probes whether the descriptor is open; dup2 fills a closed one.
        unsafe {
            if nix::libc::fcntl(target, nix::libc::F_GETFD) < 0 {
                nix::libc::dup2(fd, target);
            }
        }
    }
}

fn run() -> Result<Infallible> {
    mounts::mount_api_filesystems()?;
    attach_console();
    log::open_kmsg();
    log::info("started");

    let cmdline = cmdline::Cmdline::parse(
        &std::fs::read_to_string("/proc/cmdline").map_err(io("read", "/proc/cmdline"))?,
    );
    for w in &cmdline.warnings {
        log::warn(w);
    }
    let root_label = partitions::root_name(cmdline.slot);
    let sys_block = Path::new("/sys/class/block");
    modules::load_until(Path::new("/lib/modules"), || {
        [root_label, data::DATA_LABEL]
            .iter()
            .all(|name| !partitions::find(sys_block, name).is_empty())
    });

    let parts = partitions::wait_for(sys_block, &[root_label, data::DATA_LABEL], cmdline.wait)?;
    modules::load_network(Path::new("/lib/modules"));
    let (root, data_part) = (&parts[0], &parts[1]);
    log::info(&format!(
        "root {root_label} ({}), data {} ({})",
        root.name,
        data::DATA_LABEL,
        data_part.name
    ));

    let sysroot = Path::new(SYSROOT);
    mounts::mount_fs(
        "the root file system",
        &root.dev(Path::new("/dev")).to_string_lossy(),
        sysroot,
        "squashfs",
        MsFlags::MS_RDONLY | MsFlags::MS_NODEV,
        None,
    )?;
    // The root's own instances of the API file systems, for the tools that run chrooted there
    // (and kept for systemd); the initramfs keeps its /dev, so device paths read /dev/vda4.
    mounts::mount_api_filesystems_in(sysroot)?;

    let data = data::prepare(sysroot, data_part, cmdline.factory_reset)?;
    trial::set_failure_log(trial::FailureLog {
        path: sysroot
            .join(data::DATA_DIR)
            .join(data::agents_dir())
            .join(constants::BOOT_FAILURES_FILE),
        slot: cmdline.slot.letter(),
        version: std::fs::read_to_string(
            sysroot.join(constants::SYSTEM_VERSION_FILE.trim_start_matches('/')),
        )
        .map(|v| v.trim().to_owned())
        .unwrap_or_default(),
    });
    let hostname = data
        .hostname
        .clone()
        .unwrap_or_else(|| format!("microcloud-{}", &data.machine_id[..4]));
    if let Err(e) = nix::unistd::sethostname(&hostname) {
        log::warn(&format!("could not set the hostname {hostname}: {e}"));
    }
    log::info(&format!(
        "hostname {hostname}{}",
        if data.formatted {
            ", fresh data partition"
        } else {
            ""
        }
    ));
    if let Err(e) = data::prepare_agent_dirs(sysroot, &sysroot.join(data::DATA_DIR)) {
        log::warn(&format!("could not prepare the agents' directories: {e}"));
    }
    match data::apply_timezone(sysroot, &sysroot.join(data::DATA_DIR)) {
        Ok(zone) => log::info(&format!("time zone {zone}")),
        Err(e) => log::warn(&format!("could not set the time zone: {e}")),
    }

    for api in ["/dev", "/proc", "/sys"] {
        let _ = nix::mount::umount2(api, nix::mount::MntFlags::MNT_DETACH);
    }
    switch_root::switch_root(sysroot, &cmdline.init)
}

/// How long the message of a failed try stays on the screen before the reboot.
const TRY_REBOOT_DELAY: Duration = Duration::from_secs(10);

/// Prints the reason on the console and stops: PID 1 must not exit (the kernel would panic), and
/// a reboot loop would hide the message. A counted try of a new slot is the exception: it reboots,
/// as the health check does when the new system comes up unhealthy.
fn halt(reason: &str) -> ! {
    let attempt = trial::current();
    let what_now = match &attempt {
        Some(t) => {
            let count = match (t.done, t.left) {
                (Some(done), Some(left)) => format!(" (try {done}, {left} left)"),
                _ => String::new(),
            };
            format!(
                "This was a try of a newly installed system{count}, boot entry\n\
                 {}.\n\
                 The new system failed. The box restarts in {} s, to try again or,\n\
                 once its tries are used up, to go back to the previous system.",
                t.entry,
                TRY_REBOOT_DELAY.as_secs()
            )
        }
        None => "The system is stopped here. Power the box off, fix the cause above\n\
                 and power it on again. To wipe the data partition, choose the\n\
                 \"factory reset\" entry of the boot menu (hold a key at power-on)."
            .to_owned(),
    };
    let text = format!(
        "\n\
         ==================================================================\n\
         microcloud cannot start:\n\
         {reason}\n\
         \n\
         {what_now}\n\
         ==================================================================\n"
    );
    eprintln!("{text}");
    for line in text.lines().filter(|l| !l.is_empty()) {
        log::kmsg(2, line);
    }
    if attempt.is_some() {
        trial::record_failure(reason);
        std::thread::sleep(TRY_REBOOT_DELAY);
        nix::unistd::sync();
        // Only returns on failure; then the box waits like a stopped one, and the next power
        // cycle counts the try.
        let Err(e) = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_AUTOBOOT);
        log::warn(&format!(
            "could not reboot: {e}; power the box off and on again"
        ));
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() {
    std::panic::set_hook(Box::new(|info| halt(&format!("internal error: {info}"))));
    match run() {
        Ok(never) => match never {},
        Err(e) => halt(&e.to_string()),
    }
}
