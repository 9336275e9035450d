//! Loads the kernel modules that the initramfs carries: the storage controllers and the file
//! systems needed to reach the root and data partitions. image/build puts them, decompressed, in
//! `/lib/modules/` with a `load-order` file listing them dependencies first (from
//! `modprobe --show-depends`), so no dependency resolution happens at boot.

use std::fs::File;
use std::path::Path;

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};

use crate::log;

/// The names listed in a `load-order` file: one file name per line, `#` comments, duplicates
/// dropped (the first occurrence keeps its place).
pub fn parse_order(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter(|l| seen.insert(l.to_string()))
        .map(str::to_string)
        .collect()
}

/// Loads the modules of `dir/load-order` in order, until `enough()` says what is needed is there
/// (it is asked after each module). A module that fails to load is reported and skipped: drivers
/// for hardware this machine lacks may refuse to load, and the partition search that follows
/// says clearly if something needed is missing. Returns how many were loaded.
pub fn load_until(dir: &Path, enough: impl Fn() -> bool) -> usize {
    load_list(dir, "load-order", enough)
}

/// Loads every module of `dir/net-order`: the wired network drivers, so that the network
/// interface exists when systemd starts and DHCP begins at once, instead of after udev has
/// found and loaded the driver (seconds under emulation: the web page waits for the address).
pub fn load_network(dir: &Path) -> usize {
    if !dir.join("net-order").exists() {
        return 0;
    }
    load_list(dir, "net-order", || false)
}

fn load_list(dir: &Path, list: &str, enough: impl Fn() -> bool) -> usize {
    let order = dir.join(list);
    let text = match std::fs::read_to_string(&order) {
        Ok(t) => t,
        Err(e) => {
            log::warn(&format!(
                "no module list {}: {e}; relying on built-in drivers",
                order.display()
            ));
            return 0;
        }
    };
    let mut loaded = 0;
    for name in parse_order(&text) {
        let path = dir.join(&name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                log::warn(&format!("module {}: {e}", path.display()));
                continue;
            }
        };
        match finit_module(&file, c"", ModuleInitFlags::empty()) {
            Ok(()) => loaded += 1,
            Err(Errno::EEXIST) => {}
            // ENODEV: a driver or accelerator for hardware or CPU features this machine lacks.
            Err(Errno::ENODEV) => log::info(&format!("module {name}: no such device here")),
            Err(e) => log::warn(&format!("module {name} did not load: {e}")),
        }
        if enough() {
            log::info(&format!(
                "loaded {loaded} modules, up to {name}: the partitions are there"
            ));
            return loaded;
        }
    }
    log::info(&format!("loaded {loaded} modules"));
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keeps_first_occurrence() {
        let text = "crc16.ko\n# file systems\nmbcache.ko\njbd2.ko\next4.ko\n\ncrc16.ko  # again\n";
        assert_eq!(
            parse_order(text),
            ["crc16.ko", "mbcache.ko", "jbd2.ko", "ext4.ko"]
        );
    }
}
