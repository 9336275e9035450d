//! The options of the kernel command line that the early init reads.
//!
//! | option | meaning |
//! |---|---|
//! | `microcloud.factory_reset` (or `=1`, `=yes`) | wipe the data partition on this boot |
//! | `microcloud.wait=SECONDS` | how long to wait for the partitions to appear (default 20) |
//! | `microcloud.init=PATH` | the program to start after switch_root (default `/sbin/init`) |

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmdline {
    pub factory_reset: bool,
    pub wait: Duration,
    pub init: String,
}

impl Default for Cmdline {
    fn default() -> Self {
        Cmdline {
            factory_reset: false,
            wait: Duration::from_secs(20),
            init: "/sbin/init".into(),
        }
    }
}

impl Cmdline {
    /// Parses the text of `/proc/cmdline`. Unknown words are ignored; a malformed value of ours
    /// keeps the default (an appliance must boot rather than stop over a typo).
    pub fn parse(text: &str) -> Cmdline {
        let mut c = Cmdline::default();
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
                _ => {}
            }
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
}
