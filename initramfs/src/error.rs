//! The one error type of the early init. Every variant names what failed (a path, a device, a
//! command) so that the message printed on the console tells the person in front of the box what
//! to look at.

use std::path::PathBuf;

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("cannot mount {what} ({source_dev} on {target}, type {fstype}): {errno}")]
    Mount {
        what: &'static str,
        source_dev: String,
        target: PathBuf,
        fstype: String,
        errno: Errno,
    },

    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot {what} {path}: {errno}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        errno: Errno,
    },

    #[error(
        "no partition named \"{name}\" appeared within {waited_s} s. Block devices seen: {seen}. \
         Is the microcloud disk attached, and is its storage controller supported?"
    )]
    PartitionMissing {
        name: String,
        waited_s: u64,
        seen: String,
    },

    #[error(
        "more than one partition is named \"{name}\" ({devices}): remove the other microcloud \
         disk (or rename its partitions) and boot again"
    )]
    PartitionAmbiguous { name: String, devices: String },

    #[error("`{command}` failed ({status}): {output}")]
    Tool {
        command: String,
        status: String,
        output: String,
    },

    #[error("the root file system has no {init}: the image is incomplete")]
    NoInit { init: String },
}

pub type Result<T> = std::result::Result<T, InitError>;

/// Shorthand for an I/O error with its context.
pub fn io(
    what: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> InitError {
    let path = path.into();
    move |source| InitError::Io { what, path, source }
}

/// Shorthand for a system call error with its context.
pub fn sys(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(Errno) -> InitError {
    let path = path.into();
    move |errno| InitError::Sys { what, path, errno }
}
