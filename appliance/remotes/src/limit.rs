//! Upload bandwidth limit with a weekly timetable, in the spirit of rclone's `--bwlimit`.
//!
//! A schedule is `off`, a single rate (`10M`: bytes per second, with the binary units of
//! [`crate::size::parse_size`]), or a
//! timetable of `[Day-]HH:MM,RATE` entries separated by spaces, e.g.
//! `Mon-08:00,512K Mon-19:00,off 08:00,1M 23:00,off Sat-00:00,off`. An entry without a day applies
//! every day. At any moment the latest entry at or before the current local time (wrapping around
//! the week) is in force. One limit is shared by every destination: it is the line that is scarce.

use std::sync::Mutex;
use std::time::Duration;

use crate::size::{self, SizeError};

// tokio's clock, so that tests can run the limiter on paused time.
use tokio::time::Instant;

/// A parsed timetable.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// (minute of the week from Monday 00:00, bytes per second or None for unlimited), sorted.
    points: Vec<(u32, Option<u64>)>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A rate in bytes per second (the syntax of [`crate::size::parse_size`]: `512K`, `10M`), or
/// `off` (or nothing) for no limit.
fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") || t.is_empty() {
        return Ok(None);
    }
    match size::parse_amount(t) {
        // A rate below one byte per second is one byte per second.
        Ok(rate) if rate > 0.0 => Ok(Some((rate as u64).max(1))),
        Ok(_) | Err(SizeError::Negative(_)) => Err(format!(
            "{s:?}: a rate must be above zero (use off for no limit)"
        )),
        Err(SizeError::NotASize(_)) => {
            Err(format!("{s:?} is not a rate (examples: 512K, 10M, off)"))
        }
        Err(SizeError::TooLarge(_)) => Err(format!("{s:?} is out of range")),
    }
}

fn parse_time(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("{s:?} is not HH:MM"))?,
    );
    if h > 23 || m > 59 {
        return Err(format!("{s:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

impl Schedule {
    /// Parses a schedule (see the module documentation).
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let s = s.trim();
        if !s.contains(',') {
            return Ok(Schedule {
                points: vec![(0, parse_rate(s)?)],
            });
        }
        let mut points = Vec::new();
        for entry in s.split_whitespace() {
            let (when, rate) = entry
                .split_once(',')
                .ok_or_else(|| format!("{entry:?} is not [Day-]HH:MM,RATE"))?;
            let rate = parse_rate(rate)?;
            match when.split_once('-') {
                Some((day, time)) => {
                    let d = DAYS
                        .iter()
                        .position(|x| {
                            x.eq_ignore_ascii_case(&day[..day.len().min(3)]) && day.len() >= 3
                        })
                        .ok_or_else(|| format!("{day:?} is not a day (Mon..Sun)"))?;
                    points.push((d as u32 * 1440 + parse_time(time)?, rate));
                }
                None => {
                    let t = parse_time(when)?;
                    for d in 0..7 {
                        points.push((d * 1440 + t, rate));
                    }
                }
            }
        }
        // A later entry for the same minute wins (a day-specific one written after a daily one).
        points.sort_by_key(|(m, _)| *m);
        points.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        Ok(Schedule { points })
    }

    /// The rate in force at `minute_of_week` (0 = Monday 00:00).
    pub fn rate_at(&self, minute_of_week: u32) -> Option<u64> {
        self.points
            .iter()
            .rev()
            .find(|(m, _)| *m <= minute_of_week)
            .or_else(|| self.points.last())
            .and_then(|(_, r)| *r)
    }

    /// The rate in force now, by the box's local time.
    pub fn rate_now(&self) -> Option<u64> {
        let now = jiff::Zoned::now();
        let day = now.weekday().to_monday_zero_offset() as u32;
        self.rate_at(day * 1440 + now.hour() as u32 * 60 + now.minute() as u32)
    }
}

/// A token bucket that follows a [`Schedule`].
#[derive(Debug)]
pub struct Bandwidth {
    schedule: Schedule,
    state: Mutex<(f64, Instant)>,
}

impl Bandwidth {
    /// A limiter following `schedule`.
    pub fn new(schedule: Schedule) -> Bandwidth {
        Bandwidth {
            schedule,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The schedule followed.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Waits until `n` bytes may be sent, calling `alive` at least once a second while waiting
    /// (so that stall watchdogs know the wait is deliberate).
    pub async fn acquire(&self, n: usize, alive: impl Fn()) {
        let mut left = n as f64;
        while left > 0.0 {
            let Some(rate) = self.schedule.rate_now() else {
                return;
            };
            let rate = rate as f64;
            let wait = {
                let mut st = self.state.lock().unwrap();
                let now = Instant::now();
                // Refill, with at most one second of burst.
                st.0 = (st.0 + now.duration_since(st.1).as_secs_f64() * rate).min(rate);
                st.1 = now;
                let take = left.min(rate).min(st.0.max(0.0));
                st.0 -= take;
                left -= take;
                if left <= 0.0 {
                    break;
                }
                Duration::from_secs_f64((left.min(rate) / rate).clamp(0.001, 1.0))
            };
            alive();
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        assert_eq!(Schedule::parse("off").unwrap().rate_at(100), None);
        assert_eq!(
            Schedule::parse("10M").unwrap().rate_at(5000),
            Some(10 << 20)
        );
        let s = Schedule::parse("08:00,512K 19:00,off Sat-10:00,1M").unwrap();
        // Monday 07:59: before the first entry of the week, the last one (Sunday 19:00, off) holds.
        assert_eq!(s.rate_at(7 * 60 + 59), None);
        assert_eq!(s.rate_at(8 * 60), Some(512 << 10));
        assert_eq!(s.rate_at(18 * 60 + 59), Some(512 << 10));
        assert_eq!(s.rate_at(19 * 60), None);
        // Saturday 10:30: the Saturday entry; 19:00 the daily one again.
        assert_eq!(s.rate_at(5 * 1440 + 10 * 60 + 30), Some(1 << 20));
        assert_eq!(s.rate_at(5 * 1440 + 19 * 60), None);
        assert!(Schedule::parse("25:00,1M").is_err());
        assert!(Schedule::parse("Xyz-08:00,1M").is_err());
        assert!(Schedule::parse("08:00,fast").is_err());
        assert!(Schedule::parse("0").is_err());
    }

    #[test]
    fn rates() {
        for (text, rate) in [
            ("off", None),
            ("OFF", None),
            ("", None),
            ("512K", Some(512 << 10)),
            ("10M", Some(10 << 20)),
            ("10m", Some(10 << 20)),
            ("1G", Some(1 << 30)),
            ("100B", Some(100)),
            ("100b", Some(100)),
            ("1000", Some(1000)),
            ("1.5M", Some(3 << 19)),
            // The size syntax: T, and B or iB after the unit.
            ("10MB", Some(10 << 20)),
            ("10MiB", Some(10 << 20)),
            ("1T", Some(1 << 40)),
            // Below a byte per second: one byte per second.
            ("0.5", Some(1)),
        ] {
            assert_eq!(parse_rate(text), Ok(rate), "{text:?}");
        }
        assert_eq!(
            parse_rate("fast"),
            Err("\"fast\" is not a rate (examples: 512K, 10M, off)".into())
        );
        for zero in ["0", "0K", "-1M"] {
            assert_eq!(
                parse_rate(zero),
                Err(format!(
                    "{zero:?}: a rate must be above zero (use off for no limit)"
                ))
            );
        }
        assert_eq!(parse_rate("1e30"), Err("\"1e30\" is out of range".into()));
    }

    // On tokio's paused clock: the waits are counted, not timed.
    #[tokio::test(start_paused = true)]
    async fn a_constant_limit_paces_bytes() {
        let b = Bandwidth::new(Schedule::parse("1M").unwrap());
        let start = Instant::now();
        for _ in 0..16 {
            b.acquire(256 << 10, || {}).await;
        }
        // 4 MiB at 1 MiB/s starting from an empty bucket: 4 s of waiting, give or take a slice.
        let waited = start.elapsed().as_secs_f64();
        assert!(
            (3.9..=4.1).contains(&waited),
            "4 MiB at 1 MiB/s took {waited} s of clock"
        );
        let unlimited = Bandwidth::new(Schedule::parse("off").unwrap());
        let start = Instant::now();
        unlimited.acquire(1 << 30, || {}).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
