//! The options of the kernel command line that the early init reads.
//!
//! | option | meaning |
//! |---|---|
//! | `microcloud.factory_reset` (or `=1`, `=yes`) | wipe the data partition on this boot |
//! | `microcloud.wait=SECONDS` | how long to wait for the partitions to appear (default 20) |
//! | `microcloud.init=PATH` | the program to start after switch_root (default `/sbin/init`) |
//! | `microcloud.slot=a` or `=b` | the root slot to mount: partition `mc-root-a` or `mc-root-b` (default `a`) |
//!
//! systemd-boot's entry for each slot names the slot here, so the boot loader, which counts a
//! new slot's tries and falls back to the other one, also decides which root is mounted.

use std::time::Duration;

/// One of the two root slots (GPT partitions `mc-root-a` and `mc-root-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slot {
    #[default]
    A,
    B,
}

impl Slot {
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmdline {
    pub factory_reset: bool,
    pub wait: Duration,
    pub init: String,
    pub slot: Slot,
    /// What was wrong with our options, for the console: the default was taken instead.
    pub warnings: Vec<String>,
}

impl Default for Cmdline {
    fn default() -> Self {
        Cmdline {
            factory_reset: false,
            wait: Duration::from_secs(20),
            init: "/sbin/init".into(),
            slot: Slot::A,
            warnings: Vec::new(),
        }
    }
}

impl Cmdline {
    /// Parses the text of `/proc/cmdline`. Unknown words are ignored; a malformed value of ours
    /// keeps the default (an appliance must boot rather than stop over a typo).
    pub fn parse(text: &str) -> Cmdline {
        let mut c = Cmdline::default();
        let mut bad_slots = Vec::new();
        for word in text.split_ascii_whitespace() {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            match key {
                "microcloud.factory_reset" | "microcloud.factory-reset" => {
                    c.factory_reset = matches!(value, None | Some("1" | "yes" | "true" | "on"));
                }
                "microcloud.wait" => {
                    if let Some(s) = value.and_then(|v| v.parse::<u64>().ok()) {
                        c.wait = Duration::from_secs(s.clamp(1, 600));
                    }
                }
                "microcloud.init" => {
                    if let Some(v) = value.filter(|v| v.starts_with('/')) {
                        c.init = v.to_string();
                    }
                }
                "microcloud.slot" => {
                    // The last one wins, as for the kernel's own options. A bad one means slot
                    // a, which the image ships: an entry typed by hand still boots.
                    c.slot = match value {
                        Some("a") => Slot::A,
                        Some("b") => Slot::B,
                        _ => {
                            bad_slots.push(word);
                            Slot::A
                        }
                    };
                }
                _ => {}
            }
        }
        for word in bad_slots {
            c.warnings.push(format!(
                "{word}: a slot is a or b; booting slot {}",
                c.slot.letter()
            ));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_absent() {
        let c = Cmdline::parse("console=ttyS0 quiet systemd.gpt_auto=0\n");
        assert_eq!(c, Cmdline::default());
    }

    #[test]
    fn factory_reset_forms() {
        assert!(Cmdline::parse("quiet microcloud.factory_reset").factory_reset);
        assert!(Cmdline::parse("microcloud.factory_reset=1").factory_reset);
        assert!(Cmdline::parse("microcloud.factory-reset=yes").factory_reset);
        assert!(!Cmdline::parse("microcloud.factory_reset=0").factory_reset);
        assert!(!Cmdline::parse("xmicrocloud.factory_reset").factory_reset);
    }

    #[test]
    fn wait_and_init() {
        let c = Cmdline::parse("microcloud.wait=5 microcloud.init=/usr/lib/systemd/systemd");
        assert_eq!(c.wait, Duration::from_secs(5));
        assert_eq!(c.init, "/usr/lib/systemd/systemd");
        let bad = Cmdline::parse("microcloud.wait=soon microcloud.init=relative");
        assert_eq!(bad.wait, Cmdline::default().wait);
        assert_eq!(bad.init, "/sbin/init");
    }

    #[test]
    fn slot() {
        assert_eq!(Cmdline::parse("quiet").slot, Slot::A);
        assert_eq!(Cmdline::parse("panic=10 microcloud.slot=a").slot, Slot::A);
        let b = Cmdline::parse("console=ttyS0 microcloud.slot=b quiet");
        assert_eq!(b.slot, Slot::B);
        assert!(b.warnings.is_empty());
        assert_eq!(b.slot.letter(), "b");
        assert_eq!(
            Cmdline::parse("microcloud.slot=b microcloud.slot=a").slot,
            Slot::A
        );
    }

    #[test]
    fn bad_slot_boots_a_with_a_warning() {
        for word in [
            "microcloud.slot=c",
            "microcloud.slot=B",
            "microcloud.slot=",
            "microcloud.slot",
            "microcloud.slot=b2",
        ] {
            let c = Cmdline::parse(&format!("quiet {word}"));
            assert_eq!(c.slot, Slot::A, "{word}");
            assert_eq!(c.warnings.len(), 1, "{word}");
            assert!(c.warnings[0].starts_with(word), "{:?}", c.warnings);
            assert!(
                c.warnings[0].ends_with("booting slot a"),
                "{:?}",
                c.warnings
            );
        }
        // A later good value wins, and the typo is still worth seeing.
        let c = Cmdline::parse("microcloud.slot=x microcloud.slot=b");
        assert_eq!(c.slot, Slot::B);
        assert_eq!(
            c.warnings,
            ["microcloud.slot=x: a slot is a or b; booting slot b"]
        );
    }
}
