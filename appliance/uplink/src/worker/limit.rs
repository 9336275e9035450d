//! How many requests a worker keeps in flight to its destination: adaptive, as TCP's congestion
//! window and Netflix's concurrency-limits are. A cloud tens of milliseconds away is bound by
//! round trips, not by its own hardware: there, the only way to go faster is more requests at
//! once. So the limit grows while requests come back as fast as ever (slow start: +1 per
//! completion, doubling each round trip; then +1 per round trip), and shrinks when the
//! destination complains: by half on a 503 SlowDown, a 429 or a timeout (at most once per round
//! trip), by a tenth when small requests start to queue (their latency climbs well above the
//! lowest seen lately).
//!
//! Growth also stops, and the limit comes back down, when it is well above the requests the pace
//! reached kept at the destination (Little's law: completions per second times their recent
//! latency). Then the round trips are not what holds the pace back (the box's own CPU is, or the
//! link's bytes), and more requests would only wait in line here. Next to a destination, that
//! keeps the limit where it was. (The recent latency, not the lowest: a request on a new
//! connection pays for its handshake too, and slow start opens many.)
//!
//! Latency alone never takes the limit below the configured concurrency (what the uplink used
//! before it adapted): a nearby destination that is merely busy keeps today's pace. Only
//! complaints go lower, down to one request at a time.

use std::time::{Duration, Instant};

/// A small request whose latency is this many times the lowest seen (plus [`QUEUE_SLACK`]) is
/// taken as queued at the destination.
const QUEUE_FACTOR: f64 = 1.5;
/// Latency that is noise, not queueing (timer and scheduler jitter on a loaded box).
const QUEUE_SLACK: Duration = Duration::from_millis(5);
/// How long the lowest latency seen stays the reference (a route that got slower for good is
/// taken as the new normal after one or two of these).
const BASE_WINDOW: Duration = Duration::from_secs(10);
/// Weight of a new latency sample in the recent average (about the last 10 samples).
const RECENT_WEIGHT: f64 = 0.1;
/// The pace is measured over at least this long, and at least [`RATE_RTTS`] round trips.
const RATE_WINDOW: Duration = Duration::from_millis(50);
const RATE_RTTS: u32 = 2;
/// How far above the requests in flight that the pace needs the limit may be, and still grow. A
/// limit that is what bounds the pace is about that need (a little above, as latency varies).
const HEADROOM: f64 = 3.0;

/// The limit and what it is worked out from.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: f64,
    /// Latency never takes the limit below this.
    floor: f64,
    ceiling: f64,
    slow_start: bool,
    /// Lowest latency of a small request in the current and the previous window.
    base_now: Option<Duration>,
    base_before: Option<Duration>,
    window_start: Instant,
    /// Recent latency of small requests (weighted average), seconds.
    recent: Option<f64>,
    last_cut: Instant,
    /// Completions since `rate_since` and the sum of the limit at each; of the last whole
    /// window, the pace (per second) and the limit it ran under on average.
    done: u32,
    limit_sum: f64,
    /// Unset until the first completion: the time before it (a destination being added, files
    /// still arriving) says nothing of the pace.
    rate_since: Option<Instant>,
    pace: Option<(f64, f64)>,
    /// The limit the last whole window ran under on average.
    window_limit: Option<f64>,
}

impl Limiter {
    /// Starts at `floor` (the configured concurrency) and never goes above `ceiling`.
    pub(crate) fn new(floor: usize, ceiling: usize) -> Limiter {
        let floor = floor.max(1) as f64;
        Limiter {
            limit: floor,
            floor,
            ceiling: (ceiling as f64).max(floor),
            slow_start: true,
            base_now: None,
            base_before: None,
            window_start: Instant::now(),
            recent: None,
            last_cut: Instant::now(),
            done: 0,
            limit_sum: 0.0,
            rate_since: None,
            pace: None,
            window_limit: None,
        }
    }

    /// Requests that may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        self.limit as usize
    }

    /// Recent latency of small requests: about one round trip to the destination.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.recent.map(Duration::from_secs_f64)
    }

    /// The lowest latency of a small request seen lately.
    fn base(&self) -> Option<Duration> {
        match (self.base_now, self.base_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A small request (one whose time is round trips, not bytes) took `latency`.
    pub(crate) fn sample(&mut self, latency: Duration) {
        if self.window_start.elapsed() >= BASE_WINDOW {
            self.base_before = self.base_now.take();
            self.window_start = Instant::now();
        }
        self.base_now = Some(self.base_now.map_or(latency, |b| b.min(latency)));
        let s = latency.as_secs_f64();
        self.recent = Some(match self.recent {
            Some(r) => r + RECENT_WEIGHT * (s - r),
            None => s,
        });
    }

    /// Whether small requests wait at the destination beyond their round trip.
    fn queueing(&self) -> bool {
        match (self.recent, self.base()) {
            (Some(recent), Some(base)) => {
                recent > base.as_secs_f64() * QUEUE_FACTOR + QUEUE_SLACK.as_secs_f64()
            }
            _ => false,
        }
    }

    /// At most one cut per round trip: the requests already in flight answer for the old limit.
    fn may_cut(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_cut)
            >= self.rtt().unwrap_or(Duration::from_millis(100))
    }

    /// Whether the limit the last window's pace answers for was well above the requests that pace
    /// kept at the destination. (That limit, not today's: slow start may have doubled it since,
    /// and the pace of the windows to come answers for that.)
    fn above_need(&self) -> bool {
        match (self.pace, self.recent) {
            (Some((rate, limit)), Some(latency)) => limit > HEADROOM * rate * latency,
            _ => false,
        }
    }

    /// A request succeeded while `in_flight` were out (itself included).
    pub(crate) fn on_success(&mut self, in_flight: usize) {
        self.on_success_at(in_flight, Instant::now());
    }

    fn on_success_at(&mut self, in_flight: usize, now: Instant) {
        self.done += 1;
        self.limit_sum += self.limit;
        let since = *self.rate_since.get_or_insert(now);
        let spent = now.saturating_duration_since(since);
        let window = RATE_WINDOW.max(self.rtt().unwrap_or_default() * RATE_RTTS);
        if spent >= window {
            let done = f64::from(self.done);
            let limit = self.limit_sum / done;
            // The pace of a window answers for the limit of the one before: what completes now
            // was started up to a round trip ago, and in slow start the limit doubles each one.
            let answers_for = self.window_limit.unwrap_or(limit).min(limit);
            self.pace = Some((done / spent.as_secs_f64(), answers_for));
            self.window_limit = Some(limit);
            self.done = 0;
            self.limit_sum = 0.0;
            self.rate_since = Some(now);
        }
        // Latency rising, or more in flight than the pace needs: requests wait in line (at the
        // destination, or here for the CPU), and a smaller limit loses nothing.
        let queueing = self.queueing();
        let too_many = self.above_need() && (in_flight as f64) >= self.limit * 0.75;
        if queueing || too_many {
            if self.may_cut(now) {
                log::debug!(
                    "limit {:.0} cut: {} (pace {:?}, latency {:?}, lowest {:?})",
                    self.limit,
                    if queueing {
                        "latency rising"
                    } else {
                        "more than the pace needs"
                    },
                    self.pace,
                    self.rtt(),
                    self.base()
                );
                self.limit = (self.limit * 0.9).max(self.floor.min(self.limit));
                self.slow_start = false;
                self.last_cut = now;
            }
            return;
        }
        // A limit the worker does not use says nothing about the destination: it grows only
        // while it is (nearly) reached, so that a trickle never earns a flood.
        if (in_flight as f64) < self.limit * 0.75 {
            return;
        }
        // Until the pace is known, slow start goes no further than twice the configured limit.
        if self.pace.is_none() && self.limit >= 2.0 * self.floor {
            return;
        }
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit
        };
        self.limit = (self.limit + step).min(self.ceiling);
    }

    /// The destination asked to slow down (503 SlowDown, 429) or a request timed out. Returns
    /// false once the limit is one request already: then the destination is failing, not busy.
    pub(crate) fn on_overload(&mut self) -> bool {
        if self.limit <= 1.0 {
            return false;
        }
        let now = Instant::now();
        if self.may_cut(now) {
            self.limit = (self.limit / 2.0).max(1.0);
            self.slow_start = false;
            self.last_cut = now;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `n` completions of requests that each take `latency`, the worker keeping the limit in
    /// flight: as many complete per `latency` as the limit allows (a destination that round trips
    /// bound, not its hardware). `clock` stands for the time.
    fn paced(l: &mut Limiter, latency: Duration, n: usize, clock: &mut Instant) {
        for _ in 0..n {
            l.sample(latency);
            *clock += latency / l.limit() as u32;
            let out = l.limit();
            l.on_success_at(out, *clock);
        }
    }

    #[test]
    fn grows_while_round_trips_hold_and_only_when_used() {
        let mut l = Limiter::new(16, 256);
        let mut clock = Instant::now();
        // Used in full, latency flat at 40 ms: slow start doubles it within a round trip's worth.
        paced(&mut l, ms(40), 16, &mut clock);
        assert_eq!(l.limit(), 32);
        paced(&mut l, ms(41), 3000, &mut clock);
        assert_eq!(l.limit(), 256, "capped at the ceiling");
        // A trickle (2 in flight) never grows it.
        let mut t = Limiter::new(16, 256);
        for _ in 0..1000 {
            t.sample(ms(40));
            t.on_success(2);
        }
        assert_eq!(t.limit(), 16);
    }

    /// The worker is made when the destination is added; its first upload may come much later.
    /// That wait is no pace: slow start still doubles the limit each round trip.
    #[test]
    fn a_late_first_request_does_not_end_slow_start() {
        let mut l = Limiter::new(16, 256);
        let mut clock = Instant::now() + Duration::from_secs(5);
        paced(&mut l, ms(80), 16 + 32 + 64 + 128, &mut clock);
        assert!(l.limit() >= 128, "{}", l.limit());
    }

    #[test]
    fn queueing_shrinks_it_but_never_below_the_floor() {
        let mut l = Limiter::new(16, 256);
        let mut clock = Instant::now();
        paced(&mut l, ms(20), 2000, &mut clock);
        let grown = l.limit();
        assert!(grown > 100, "{grown}");
        // Latency triples: the destination queues. Cuts come at most once per round trip.
        l.last_cut = Instant::now() - Duration::from_secs(1);
        for _ in 0..30 {
            l.sample(ms(60));
        }
        l.on_success(grown);
        assert!(l.limit() < grown, "{} < {grown}", l.limit());
        let once = l.limit();
        l.on_success(once);
        assert_eq!(l.limit(), once, "not twice in one round trip");
        for _ in 0..100 {
            l.last_cut = Instant::now() - Duration::from_secs(1);
            l.on_success(l.limit());
        }
        assert_eq!(l.limit(), 16, "latency alone stops at the floor");
    }

    #[test]
    fn complaints_halve_it_down_to_one_then_it_is_failing() {
        let mut l = Limiter::new(16, 256);
        let mut cuts = 0;
        loop {
            l.last_cut = Instant::now() - Duration::from_secs(1);
            if !l.on_overload() {
                break;
            }
            cuts += 1;
            assert!(cuts < 10);
        }
        assert_eq!((l.limit(), cuts), (1, 4), "16 -> 8 -> 4 -> 2 -> 1");
    }

    /// Next to the destination (2 ms), the box's own CPU bounds the pace at 1,000 requests a
    /// second: 2 in flight would do, so the limit stays where it was configured.
    #[test]
    fn a_limit_the_pace_does_not_need_does_not_grow() {
        let mut l = Limiter::new(16, 256);
        let mut clock = Instant::now();
        let mut highest = 0;
        for _ in 0..5000 {
            l.sample(ms(2));
            clock += ms(1);
            let out = l.limit();
            l.on_success_at(out, clock);
            highest = highest.max(l.limit());
        }
        assert_eq!(l.limit(), 16);
        assert!(
            highest <= 32,
            "slow start before the pace was known: {highest}"
        );
        // The same pace 40 ms away needs 40 in flight: there it grows.
        let mut far = Limiter::new(16, 256);
        let mut clock = Instant::now();
        paced(&mut far, ms(40), 3000, &mut clock);
        assert!(far.limit() > 32, "{}", far.limit());
    }

    #[test]
    fn an_unknown_latency_is_not_queueing() {
        let mut l = Limiter::new(4, 8);
        l.on_success(4);
        assert_eq!(l.limit(), 5);
        assert_eq!(l.rtt(), None);
    }
}
