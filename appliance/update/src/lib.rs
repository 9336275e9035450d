//! Signed system updates of the appliance. This crate knows the update bundle that `image/build`
//! makes beside the image (`microcloud-VERSION.update`) and checks one completely (signature,
//! architecture, every payload's size and checksum) before anything is written, so that a bundle
//! that is forged, damaged, cut short or meant for another machine is refused with the reason and
//! changes nothing. It then writes a checked bundle to the system slot that is not running and
//! makes that slot boot next with a limited number of tries, which systemd-boot counts; the
//! module `slots` says how the box comes back to the old slot by itself when the new one is not
//! healthy, and why a power cut at any moment leaves a box that boots.
//!
//! The bundle is a POSIX tar file, readable with `tar tvf`, whose members come in this order:
//!
//! | member | content |
//! |---|---|
//! | `bundle.json` | what the bundle holds ([`Manifest`]): the system version, the architecture, the commit, and each payload's name, size and SHA-256 |
//! | `bundle.json.sig` | the Ed25519 signature of `bundle.json`'s bytes (64 bytes) |
//! | the payloads | `root.squashfs`, `vmlinuz`, `initrd.img`, in the order `bundle.json` lists them |
//!
//! Signing the small manifest, which carries the payloads' checksums, signs the whole; the
//! manifest comes first, so a box knows whom to trust before it reads a byte of what follows.
//! Why tar and Ed25519 with SHA-256: both can be made and checked with the tools of any Linux host
//! (`tar`, `openssl pkeyutl -rawin`, `sha256sum`), so an owner can check a bundle without us.

mod bundle;
mod slots;
mod version;

pub use bundle::{
    verify, Manifest, Payload, PublicKey, UpdateError, Verified, ARCH, BUNDLE_FORMAT, MANIFEST,
    SIGNATURE,
};
pub use slots::{
    apply, boot_order, is_trial, read_entries, read_failures, record_failure, rollback, status,
    Applied, BootFailure, Entry, Layout, Progress, RolledBack, Slot, SlotError, SlotState,
    SlotStatus, Status, TRIES,
};
pub use version::{compare as compare_versions, is_newer};
