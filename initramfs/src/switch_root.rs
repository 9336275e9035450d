//! switch_root: frees the initramfs, makes the new root `/` and starts its init.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::{mount, MsFlags};
use nix::unistd::{chdir, chroot, execv};

use crate::error::{sys, InitError, Result};
use crate::log;

/// Deletes the initramfs' own files (they live in RAM) without crossing into other file systems.
fn free_initramfs(dir: &Path, root_dev: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != root_dev {
            continue; // a mount point (the new root, /dev...): not ours to delete
        }
        if meta.is_dir() {
            free_initramfs(&path, root_dev);
            let _ = std::fs::remove_dir(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

pub fn switch_root(new_root: &Path, init: &str) -> Result<Infallible> {
    let inside = new_root.join(init.trim_start_matches('/'));
    if std::fs::metadata(&inside).is_err() {
        return Err(InitError::NoInit { init: init.into() });
    }
    let root_dev = std::fs::metadata("/").map(|m| m.dev()).unwrap_or(0);
    free_initramfs(Path::new("/"), root_dev);

    chdir(new_root).map_err(sys("change directory to", new_root))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(sys("move to /", new_root))?;
    chroot(".").map_err(sys("chroot into", new_root))?;
    chdir("/").map_err(sys("change directory to", "/"))?;

    log::info(&format!("switching to {init}"));
    let prog = CString::new(init).map_err(|_| InitError::NoInit { init: init.into() })?;
    let err = execv(&prog, &[&prog]).unwrap_err();
    Err(InitError::Sys {
        what: "start",
        path: init.into(),
        errno: err,
    })
}
