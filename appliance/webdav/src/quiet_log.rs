//! A budget for log lines of one kind, shared by the request handling and the connection loop.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets at most 60 lines a minute of one kind reach the log, and says how many more there were:
/// a flood of refused requests must not become a flood of the journal.
pub struct QuietLog {
    window: Mutex<(Instant, u32, u64)>,
    what: &'static str,
}

impl QuietLog {
    /// A budget for lines about `what` ("refused requests").
    pub const fn new(what: &'static str, now: Instant) -> QuietLog {
        QuietLog {
            window: Mutex::new((now, 0, 0)),
            what,
        }
    }

    /// Whether this line may be logged.
    pub fn allow(&self) -> bool {
        let mut w = self.window.lock().unwrap();
        if w.0.elapsed() >= Duration::from_secs(60) {
            if w.2 > 0 {
                log::warn!(
                    "{} more {} in the last minute were not logged one by one",
                    w.2,
                    self.what
                );
            }
            *w = (Instant::now(), 0, 0);
        }
        if w.1 < 60 {
            w.1 += 1;
            true
        } else {
            w.2 += 1;
            false
        }
    }
}
