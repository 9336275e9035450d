//! The data directory and the files the store makes in it: modes whatever the umask, and durable
//! replacement of small state files.

use std::path::Path;

/// The permission bits of what the store creates in its data directory, whatever the umask: the
/// owner reads and writes; the group too only when the data directory itself lets its group write
/// (a shared directory: the appliance's is root:microcloud 0770, so that the two agents' users
/// share the catalog and the content; files 0660, directories 0770); nobody else ever (elsewhere,
/// a directory made 0700 here or 0755 by someone's mkdir: files 0600, directories 0700).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    /// For files (the catalog and its -wal and -shm, blobs, staging files, state files).
    pub file: u32,
    /// For directories.
    pub dir: u32,
}

impl Modes {
    /// The modes for what is made in a directory of mode `dir_mode`.
    pub fn within(dir_mode: u32) -> Modes {
        if dir_mode & 0o020 != 0 {
            Modes {
                file: 0o660,
                dir: 0o770,
            }
        } else {
            Modes {
                file: 0o600,
                dir: 0o700,
            }
        }
    }

    /// The modes for what is made in directory `dir`.
    pub fn of(dir: &Path) -> std::io::Result<Modes> {
        use std::os::unix::fs::PermissionsExt;
        Ok(Modes::within(std::fs::metadata(dir)?.permissions().mode()))
    }
}

/// Makes the data directory private whatever the umask: a missing one is created 0700 (its missing
/// parents as usual), an existing one loses any permission for others (the group's are kept: the
/// appliance's is root:microcloud 0770). Returns the modes for what the store creates in it.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<Modes> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        create_dir(dir, 0o700)?;
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o007 != 0 {
        let private = mode & 0o7770;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(private)) {
            // Someone else's directory: say so, and go on (its owner decides who may look in).
            log::warn!(
                "{}: mode {:o} lets others in, and it could not be made {private:o}: {e}",
                dir.display(),
                mode & 0o7777
            );
            return Ok(Modes::within(mode));
        }
    }
    Ok(Modes::within(mode))
}

/// Creates directory `path` (its parent exists) with exactly `mode`; an existing one is left as
/// it is.
pub(crate) fn create_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        // The umask may have taken bits away: set them (the directory is ours, just made).
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the directory `path` inside the data directory, its missing parents too, each with the
/// directory mode of [`Modes::of`] its parent; existing ones are left as they are.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_dir_all(parent)?;
    create_dir(path, Modes::of(parent)?.dir)
}

/// Creates the new empty file `path` with exactly `mode` (an existing one is left as it is).
pub(crate) fn create_file(path: &Path, mode: u32) -> std::io::Result<()> {
    match open_new(
        std::fs::OpenOptions::new().write(true).create_new(true),
        path,
        mode,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` with `opts` (which create it), then sets its mode to exactly `mode`, which the
/// umask does not touch (fchmod on the open file).
pub(crate) fn open_new(
    opts: &mut std::fs::OpenOptions,
    path: &Path,
    mode: u32,
) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = opts.mode(mode).open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(f)
}

/// Replaces the small file `path` with `data`, durably: a temporary file beside it is written and
/// fsync'd, renamed over `path`, and the directory is fsync'd. A crash leaves the old content or
/// the new, never a mix. Used for the state files kept beside the catalog (secrets, the setup
/// code, ssh keys, the host name). The file's mode is `mode` within the [`Modes`] of its
/// directory, whatever the umask: 0640 asked for gives 0640 in the appliance's 0770 directory and
/// 0600 in a private 0700 one.
pub fn write_file_durably(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mode = mode & Modes::of(dir)?.file;
    let mut f = open_new(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        &tmp,
        mode,
    )?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
