//! Thin wrappers over mount(2) that carry context into the error.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{io, InitError, Result};

/// Mounts a file system, creating the mount point if needed.
pub fn mount_fs(
    what: &'static str,
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    std::fs::create_dir_all(target).map_err(io("create the mount point", target))?;
    mount(Some(source), target, Some(fstype), flags, data).map_err(|errno| InitError::Mount {
        what,
        source_dev: source.into(),
        target: target.into(),
        fstype: fstype.into(),
        errno,
    })
}

/// The kernel's API file systems that the init needs (devtmpfs, proc, sysfs). Already mounted
/// ones (EBUSY) are fine.
pub fn mount_api_filesystems() -> Result<()> {
    mount_api_filesystems_in(Path::new("/"))
}

/// The same below another root.
pub fn mount_api_filesystems_in(root: &Path) -> Result<()> {
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    for (what, source, target, fstype, flags, data) in [
        (
            "devtmpfs",
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MsFlags::MS_NOSUID,
            Some("mode=0755"),
        ),
        (
            "proc",
            "proc",
            "/proc",
            "proc",
            nosuid_noexec | MsFlags::MS_NODEV,
            None,
        ),
        (
            "sysfs",
            "sysfs",
            "/sys",
            "sysfs",
            nosuid_noexec | MsFlags::MS_NODEV,
            None,
        ),
    ] {
        match mount_fs(
            what,
            source,
            &root.join(target.trim_start_matches('/')),
            fstype,
            flags,
            data,
        ) {
            Err(InitError::Mount {
                errno: Errno::EBUSY,
                ..
            }) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Bind-mounts `source` (a file or a directory) onto `target`, which must exist.
pub fn bind(source: &Path, target: &Path) -> Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|errno| InitError::Mount {
        what: "a writable path",
        source_dev: source.display().to_string(),
        target: target.into(),
        fstype: "bind".into(),
        errno,
    })
}

pub fn unmount(target: &Path) -> Result<()> {
    umount2(target, MntFlags::empty()).map_err(crate::error::sys("unmount", target))
}
