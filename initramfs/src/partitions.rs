//! Finds partitions by their GPT partition name (`PARTNAME` in sysfs), waiting for the storage
//! drivers to discover the disks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmdline::Slot;
use crate::error::{InitError, Result};

/// GPT partition name of a slot's read-only root. image/build names them, and `microcloud update
/// apply` writes the inactive one by this name.
pub fn root_name(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "mc-root-a",
        Slot::B => "mc-root-b",
    }
}

/// A partition as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Kernel name, e.g. `vda4` or `nvme0n1p4`.
    pub name: String,
    /// The whole disk, e.g. `vda`.
    pub disk: String,
    /// Partition number on the disk.
    pub number: u32,
}

impl Partition {
    /// Device node path below a given `/dev`.
    pub fn dev(&self, dev_dir: &Path) -> PathBuf {
        dev_dir.join(&self.name)
    }
}

/// One block device's `uevent` fields that matter here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uevent {
    pub devname: Option<String>,
    pub devtype: Option<String>,
    pub partname: Option<String>,
    pub partn: Option<u32>,
}

pub fn parse_uevent(text: &str) -> Uevent {
    let mut u = Uevent::default();
    for line in text.lines() {
        match line.split_once('=') {
            Some(("DEVNAME", v)) => u.devname = Some(v.to_string()),
            Some(("DEVTYPE", v)) => u.devtype = Some(v.to_string()),
            Some(("PARTNAME", v)) => u.partname = Some(v.to_string()),
            Some(("PARTN", v)) => u.partn = v.parse().ok(),
            _ => {}
        }
    }
    u
}

/// Every block device below `sys_class_block`, with its uevent, sorted by name.
fn scan(sys_class_block: &Path) -> Vec<(String, Uevent, PathBuf)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(sys_class_block) else {
        return out;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(path.join("uevent")) else {
            continue;
        };
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            parse_uevent(&text),
            path,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The partitions named `name` found by one scan.
pub fn find(sys_class_block: &Path, name: &str) -> Vec<Partition> {
    let mut found = Vec::new();
    for (kname, ev, path) in scan(sys_class_block) {
        if ev.devtype.as_deref() != Some("partition") || ev.partname.as_deref() != Some(name) {
            continue;
        }
        // The partition's sysfs directory sits inside its disk's directory.
        let disk = std::fs::canonicalize(&path).ok().and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        });
        let (Some(disk), Some(number)) = (disk, ev.partn) else {
            continue;
        };
        found.push(Partition {
            name: ev.devname.unwrap_or(kname),
            disk,
            number,
        });
    }
    found
}

/// A short description of every block device seen, for error messages.
pub fn describe(sys_class_block: &Path) -> String {
    let all: Vec<String> = scan(sys_class_block)
        .into_iter()
        .filter(|(n, _, _)| !n.starts_with("loop") && !n.starts_with("ram"))
        .map(|(n, ev, _)| match ev.partname {
            Some(p) => format!("{n} (\"{p}\")"),
            None => n,
        })
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// Waits until exactly one partition carries each of `names`, or fails after `timeout`.
pub fn wait_for(
    sys_class_block: &Path,
    names: &[&str],
    timeout: Duration,
) -> Result<Vec<Partition>> {
    let start = Instant::now();
    loop {
        let found: Vec<Vec<Partition>> = names.iter().map(|n| find(sys_class_block, n)).collect();
        if let Some((i, parts)) = found.iter().enumerate().find(|(_, p)| p.len() > 1) {
            let devices = parts
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(InitError::PartitionAmbiguous {
                name: names[i].into(),
                devices,
            });
        }
        if found.iter().all(|p| p.len() == 1) {
            return Ok(found.into_iter().map(|mut p| p.remove(0)).collect());
        }
        if start.elapsed() >= timeout {
            let missing = names
                .iter()
                .zip(&found)
                .find(|(_, p)| p.is_empty())
                .map(|(n, _)| *n)
                .unwrap_or("?");
            return Err(InitError::PartitionMissing {
                name: missing.into(),
                waited_s: timeout.as_secs(),
                seen: describe(sys_class_block),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uevent_of_a_partition() {
        let u = parse_uevent("MAJOR=253\nMINOR=4\nDEVNAME=vda4\nDEVTYPE=partition\nDISKSEQ=1\nPARTN=4\nPARTNAME=mc-data\n");
        assert_eq!(
            u,
            Uevent {
                devname: Some("vda4".into()),
                devtype: Some("partition".into()),
                partname: Some("mc-data".into()),
                partn: Some(4)
            }
        );
    }

    /// A fake /sys/class/block with symlinks into a device tree, as the kernel lays it out.
    fn fake_sysfs(parts: &[(&str, &str, u32, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let devices = t.path().join("devices");
        let class = t.path().join("class");
        std::fs::create_dir_all(&class).unwrap();
        for (disk, part, n, label) in parts {
            let ddir = devices.join(disk);
            std::fs::create_dir_all(&ddir).unwrap();
            std::fs::write(
                ddir.join("uevent"),
                format!("DEVNAME={disk}\nDEVTYPE=disk\n"),
            )
            .unwrap();
            let _ = std::os::unix::fs::symlink(&ddir, class.join(disk));
            let pdir = ddir.join(part);
            std::fs::create_dir_all(&pdir).unwrap();
            std::fs::write(
                pdir.join("uevent"),
                format!("DEVNAME={part}\nDEVTYPE=partition\nPARTN={n}\nPARTNAME={label}\n"),
            )
            .unwrap();
            std::os::unix::fs::symlink(&pdir, class.join(part)).unwrap();
        }
        t
    }

    /// The image's layout: ESP, the two root slots, data last.
    fn image_layout() -> tempfile::TempDir {
        fake_sysfs(&[
            ("vda", "vda1", 1, "esp"),
            ("vda", "vda2", 2, "mc-root-a"),
            ("vda", "vda3", 3, "mc-root-b"),
            ("vda", "vda4", 4, "mc-data"),
        ])
    }

    #[test]
    fn finds_by_name_with_its_disk() {
        let t = image_layout();
        let class = t.path().join("class");
        let got = wait_for(
            &class,
            &[root_name(Slot::A), "mc-data"],
            Duration::from_millis(10),
        )
        .unwrap();
        assert_eq!(
            got[0],
            Partition {
                name: "vda2".into(),
                disk: "vda".into(),
                number: 2
            }
        );
        assert_eq!(
            got[1],
            Partition {
                name: "vda4".into(),
                disk: "vda".into(),
                number: 4
            }
        );
        assert_eq!(got[1].dev(Path::new("/dev")), Path::new("/dev/vda4"));
    }

    #[test]
    fn each_slot_its_own_root() {
        assert_eq!(root_name(Slot::A), "mc-root-a");
        assert_eq!(root_name(Slot::B), "mc-root-b");
        let t = image_layout();
        let class = t.path().join("class");
        let got = wait_for(
            &class,
            &[root_name(Slot::B), "mc-data"],
            Duration::from_millis(10),
        )
        .unwrap();
        assert_eq!((got[0].name.as_str(), got[0].number), ("vda3", 3));
        assert_eq!((got[1].name.as_str(), got[1].number), ("vda4", 4));
        // Names match whole: neither the old single root nor a prefix stands in for a slot.
        let old = fake_sysfs(&[("vda", "vda2", 2, "mc-root"), ("vda", "vda3", 3, "mc-data")]);
        let e = wait_for(
            &old.path().join("class"),
            &[root_name(Slot::A), "mc-data"],
            Duration::from_millis(10),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("no partition named \"mc-root-a\""),
            "{e}"
        );
    }

    #[test]
    fn missing_and_ambiguous_are_explained() {
        let t = fake_sysfs(&[
            ("vda", "vda2", 2, "mc-root-a"),
            ("sda", "sda2", 2, "mc-root-a"),
        ]);
        let class = t.path().join("class");
        let e = wait_for(&class, &["mc-root-a"], Duration::from_millis(10)).unwrap_err();
        assert!(matches!(e, InitError::PartitionAmbiguous { .. }), "{e}");
        let e = wait_for(&class, &["mc-data"], Duration::from_millis(10)).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("mc-data") && msg.contains("vda2 (\"mc-root-a\")"),
            "{msg}"
        );
    }
}
