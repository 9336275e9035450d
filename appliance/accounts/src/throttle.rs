//! One rule against guessing, for the page's sign-in, the setup code and WebDAV's Basic
//! authentication: per client address and per account, a few free tries, then exponential
//! backoff up to a cap.
//!
//! - Failures are counted per client address (IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6
//!   by its /64: whoever has one address of a /64 usually has all of it), per account name
//!   (normalised: trimmed, lowercased, cut to 64 bytes; names that exist nowhere count too), and
//!   per pair of both.
//! - After `free` failures the next try waits `base * 2^(failures - free)`, at most `cap`, from the
//!   last failure.
//! - The per-account count applies only to addresses that have themselves failed recently (at
//!   all, or for that account): someone guessing `owner`'s password from one address never locks
//!   `owner` out at another address that has not been failing. Many addresses guessing one
//!   account share its backoff as soon as each has failed once.
//! - A success clears the address's count, and takes that address's failures for the account off
//!   the account's count. Its failures for other accounts stay (signing in as oneself does not
//!   excuse guessing someone else).
//! - An entry is forgotten after `4 * cap` without a new failure (an hour by default).
//! - Each table holds at most `max_tracked` entries; past that, the least recently failed entry
//!   goes (amortised constant time per failure, so a flood of new names or addresses costs little,
//!   and memory stays bounded whatever the names). Names are
//!   kept as 64-bit keyed hashes (a key per throttle): an entry costs the same for any name.
//!
//! The default policy: 5 free tries (a person mistypes a few times), 1 s doubling, capped at
//! 15 minutes. At the cap a guesser gets at most 4 tries an hour per address (about 100 a day),
//! while an owner who mistyped fifteen times waits at most a quarter of an hour.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest account name kept, in bytes (longer names are cut at a character boundary).
const NAME_MAX: usize = 64;

/// How many tries are free and how the wait grows after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free: u32,
    /// The wait after the `free`-th failure; it doubles with each further failure.
    pub base: Duration,
    /// The longest wait.
    pub cap: Duration,
    /// Most entries in each table (addresses, accounts, address-account pairs).
    pub max_tracked: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            free: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(15 * 60),
            max_tracked: 10_000,
        }
    }
}

impl Policy {
    /// The wait after `failures` failures, counted from the last one.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = failures - self.free;
        if doublings >= 32 {
            return self.cap;
        }
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }

    /// How long an entry is kept without a new failure.
    fn forget(&self) -> Duration {
        self.cap
            .saturating_mul(4)
            .max(self.base)
            .max(Duration::from_secs(1))
    }
}

/// The wait in whole seconds, rounded up, at least 1 (for `Retry-After`).
pub fn wait_secs(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

/// The address failures are counted under: IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The name failures are counted under: trimmed, lowercased, at most 64 bytes.
pub fn account_key(account: &str) -> String {
    let mut buf = [0u8; NAME_MAX];
    let len = normalise(account, &mut buf);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Writes the normalised `account` into `buf`; returns its length.
fn normalise(account: &str, buf: &mut [u8; NAME_MAX]) -> usize {
    let mut len = 0;
    for c in account.trim().chars() {
        if c.is_ascii() {
            if len == NAME_MAX {
                break;
            }
            buf[len] = c.to_ascii_lowercase() as u8;
            len += 1;
            continue;
        }
        for l in c.to_lowercase() {
            let n = l.len_utf8();
            if len + n > NAME_MAX {
                return len;
            }
            l.encode_utf8(&mut buf[len..len + n]);
            len += n;
        }
    }
    len
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// Keys are already keyed BLAKE3 hashes: the map uses them as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Failures per key (a keyed hash of an address, an account or both), bounded, with the keys in
/// the order they last failed.
struct Table {
    map: HashMap<u64, Entry, BuildHasherDefault<KeyHasher>>,
    /// (last failure, key), oldest first; an element whose time is not its key's `last` any more
    /// is stale and skipped. Rebuilt from `map` when it holds twice as many elements.
    order: VecDeque<(Instant, u64)>,
    max: usize,
}

impl Table {
    fn new(max: usize) -> Table {
        Table {
            map: HashMap::default(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// The entry for `k`, unless it is forgotten.
    fn live(&self, k: &u64, now: Instant, forget: Duration) -> Option<Entry> {
        self.map
            .get(k)
            .copied()
            .filter(|e| now.saturating_duration_since(e.last) < forget)
    }

    fn current(&self, t: Instant, k: &u64) -> bool {
        self.map.get(k).is_some_and(|e| e.last == t)
    }

    /// Counts one failure for `k` at `now`; drops forgotten entries and, past `max`, the least
    /// recently failed (exactly so with a monotonic clock; amortised constant time).
    fn fail(&mut self, k: u64, now: Instant, forget: Duration) {
        let e = self.map.entry(k).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.saturating_duration_since(e.last) >= forget {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last = e.last.max(now);
        let last = e.last;
        self.order.push_back((last, k));
        while let Some(&(t, old)) = self.order.front() {
            let stale = !self.current(t, &old);
            if stale {
                self.order.pop_front();
            } else if self.map.len() > self.max || now.saturating_duration_since(t) >= forget {
                self.order.pop_front();
                self.map.remove(&old);
            } else {
                break;
            }
        }
        if self.order.len() > 2 * self.max + 16 {
            let mut order: Vec<(Instant, u64)> =
                self.map.iter().map(|(k, e)| (e.last, *k)).collect();
            order.sort_unstable_by_key(|(t, _)| *t);
            self.order = order.into();
        }
    }

    /// Forgets `k`.
    fn remove(&mut self, k: &u64) -> Option<Entry> {
        self.map.remove(k)
    }
}

struct State {
    ips: Table,
    accounts: Table,
    pairs: Table,
}

/// Failure counts per client address and per account, and the waits they impose.
pub struct Throttle {
    policy: Policy,
    /// Keys the tables' hashes (random per throttle, so that no one can aim collisions).
    key: [u8; 32],
    state: Mutex<State>,
}

impl Throttle {
    /// A throttle with nothing counted yet.
    pub fn new(policy: Policy) -> Throttle {
        let max = policy.max_tracked;
        Throttle {
            policy,
            key: rand::random(),
            state: Mutex::new(State {
                ips: Table::new(max),
                accounts: Table::new(max),
                pairs: Table::new(max),
            }),
        }
    }

    /// Its policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    fn id(&self, parts: &[&[u8]]) -> u64 {
        let mut h = blake3::Hasher::new_keyed(&self.key);
        for p in parts {
            h.update(p);
        }
        u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// The keys an address, an account and the pair of both are counted under.
    fn ids(&self, ip: IpAddr, account: &str) -> (u64, u64, u64) {
        let ip = match client_key(ip) {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        let mut buf = [0u8; NAME_MAX];
        let len = normalise(account, &mut buf);
        let (ip_id, account_id) = (self.id(&[b"ip", &ip]), self.id(&[b"account", &buf[..len]]));
        (
            ip_id,
            account_id,
            self.id(&[b"pair", &ip_id.to_le_bytes(), &account_id.to_le_bytes()]),
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok(())` when `ip` may try `account` now; `Err(wait)` otherwise (wait = time until it may
    /// try again, >= 1 s when rounded up).
    pub fn check(&self, ip: IpAddr, account: &str) -> Result<(), Duration> {
        self.check_at(ip, account, Instant::now())
    }

    /// [`Throttle::check`] as at `now`.
    pub fn check_at(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Duration> {
        let (ip, account, pair) = self.ids(ip, account);
        let forget = self.policy.forget();
        let st = self.lock();
        let remaining =
            |e: Entry| (e.last + self.policy.delay(e.failures)).saturating_duration_since(now);
        let by_ip = st.ips.live(&ip, now, forget);
        let pair = st.pairs.live(&pair, now, forget);
        let mut wait = Duration::ZERO;
        for e in [by_ip, pair].into_iter().flatten() {
            wait = wait.max(remaining(e));
        }
        // The account's count only for addresses that have been failing themselves.
        if by_ip.is_some() || pair.is_some() {
            if let Some(e) = st.accounts.live(&account, now, forget) {
                wait = wait.max(remaining(e));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts a wrong credential from `ip` for `account`.
    pub fn fail(&self, ip: IpAddr, account: &str) {
        self.fail_at(ip, account, Instant::now())
    }

    /// [`Throttle::fail`] as at `now`.
    pub fn fail_at(&self, ip: IpAddr, account: &str, now: Instant) {
        let (ip, account, pair) = self.ids(ip, account);
        let forget = self.policy.forget();
        let mut st = self.lock();
        st.ips.fail(ip, now, forget);
        st.pairs.fail(pair, now, forget);
        st.accounts.fail(account, now, forget);
    }

    /// Records a right credential from `ip` for `account`: the address's count is cleared, and
    /// its failures for this account are taken off the account's count.
    pub fn succeed(&self, ip: IpAddr, account: &str) {
        let (ip, account, pair) = self.ids(ip, account);
        let mut st = self.lock();
        st.ips.remove(&ip);
        if let Some(p) = st.pairs.remove(&pair) {
            if let Some(a) = st.accounts.map.get_mut(&account) {
                a.failures = a.failures.saturating_sub(p.failures);
                if a.failures == 0 {
                    st.accounts.remove(&account);
                }
            }
        }
    }

    /// Entries in each table (addresses, accounts, pairs), for tests and figures.
    pub fn tracked(&self) -> (usize, usize, usize) {
        let st = self.lock();
        (st.ips.map.len(), st.accounts.map.len(), st.pairs.map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn free_tries_then_backoff_that_grows_and_caps() {
        let t = Throttle::new(Policy::default());
        let (a, t0) = (ip("192.168.1.50"), Instant::now());
        let mut now = t0;
        for _ in 0..5 {
            assert_eq!(t.check_at(a, "owner", now), Ok(()));
            t.fail_at(a, "owner", now);
        }
        // After 5 failures: 1 s, then 2, 4, 8 ... up to 15 min.
        let mut expected = secs(1);
        for n in 5..30u32 {
            assert_eq!(
                t.check_at(a, "owner", now),
                Err(expected),
                "after {n} failures"
            );
            assert!(t
                .check_at(a, "owner", now + expected - Duration::from_millis(1))
                .is_err());
            now += expected;
            assert_eq!(
                t.check_at(a, "owner", now),
                Ok(()),
                "after {n} failures and the wait"
            );
            t.fail_at(a, "owner", now);
            expected = (expected * 2).min(secs(900));
        }
        assert_eq!(
            t.check_at(a, "owner", now),
            Err(secs(900)),
            "capped at 15 minutes"
        );
        // Another account from the same address: the address's own count holds.
        assert_eq!(t.check_at(a, "bob", now), Err(secs(900)));
        assert_eq!(Policy::default().delay(1000), secs(900));
        assert_eq!(Policy::default().delay(u32::MAX), secs(900));
        assert_eq!(wait_secs(Duration::from_millis(1)), 1);
        assert_eq!(wait_secs(Duration::from_millis(1001)), 2);
        assert_eq!(wait_secs(secs(3)), 3);
    }

    #[test]
    fn an_honest_address_is_never_refused_because_another_is_guessing() {
        let t = Throttle::new(Policy::default());
        let (attacker, honest, now) = (ip("10.0.0.66"), ip("10.0.0.7"), Instant::now());
        for i in 0..200 {
            t.fail_at(attacker, "owner", now + Duration::from_millis(i));
        }
        let later = now + secs(1);
        assert!(t.check_at(attacker, "owner", later).is_err());
        assert!(
            t.check_at(attacker, "someone-else", later).is_err(),
            "the address itself is throttled"
        );
        assert_eq!(
            t.check_at(honest, "owner", later),
            Ok(()),
            "the honest address has not failed"
        );
        assert_eq!(t.check_at(honest, "OWNER ", later), Ok(()));
        t.succeed(honest, "owner");
        assert!(
            t.check_at(attacker, "owner", later).is_err(),
            "someone else's success excuses nothing"
        );
        // An address that starts failing for the account shares the account's backoff at once.
        let other = ip("10.0.0.67");
        t.fail_at(other, "owner", later);
        assert!(
            t.check_at(other, "owner", later + secs(1)).is_err(),
            "the account's count now applies to it"
        );
        assert_eq!(t.check_at(honest, "owner", later + secs(1)), Ok(()));
    }

    #[test]
    fn success_clears_the_address_and_its_share_of_the_account() {
        let t = Throttle::new(Policy::default());
        let (a, b, now) = (ip("10.0.0.1"), ip("10.0.0.2"), Instant::now());
        for _ in 0..7 {
            t.fail_at(a, "ann", now);
        }
        assert!(t.check_at(a, "ann", now).is_err());
        t.succeed(a, "ann");
        assert_eq!(
            t.check_at(a, "ann", now),
            Ok(()),
            "a success clears the address"
        );
        assert_eq!(
            t.tracked(),
            (0, 0, 0),
            "and the account's count from that address"
        );
        // Failures for another account stay with that pair.
        for _ in 0..6 {
            t.fail_at(b, "owner", now);
        }
        t.succeed(b, "bob");
        assert_eq!(t.check_at(b, "bob", now), Ok(()));
        assert!(
            t.check_at(b, "owner", now).is_err(),
            "signing in as bob does not excuse guessing owner"
        );
    }

    #[test]
    fn many_addresses_guessing_one_account_share_its_backoff() {
        let t = Throttle::new(Policy::default());
        let now = Instant::now();
        for i in 0..50u8 {
            let a = ip(&format!("10.1.0.{i}"));
            assert_eq!(t.check_at(a, "owner", now), Ok(()));
            t.fail_at(a, "owner", now);
        }
        let a = ip("10.1.0.3");
        assert!(
            t.check_at(a, "owner", now + secs(60)).is_err(),
            "the account is at 50 failures"
        );
        assert_eq!(
            t.check_at(a, "bob", now + secs(60)),
            Ok(()),
            "one failure of its own is free"
        );
    }

    #[test]
    fn entries_are_forgotten() {
        let t = Throttle::new(Policy::default());
        let (a, now) = (ip("10.0.0.1"), Instant::now());
        for _ in 0..14 {
            t.fail_at(a, "x", now);
        }
        assert_eq!(t.check_at(a, "x", now + secs(511)), Err(secs(1)));
        let later = now + secs(3600);
        assert_eq!(t.check_at(a, "x", later), Ok(()));
        t.fail_at(a, "x", later);
        assert_eq!(t.check_at(a, "x", later), Ok(()), "counting starts again");
    }

    #[test]
    fn ipv6_by_its_64_and_mapped_ipv4_as_ipv4() {
        let t = Throttle::new(Policy::default());
        let now = Instant::now();
        for i in 0..5 {
            t.fail_at(ip(&format!("2001:db8:1:2::{i:x}")), "owner", now);
        }
        assert!(
            t.check_at(ip("2001:db8:1:2:ffff:1:2:3"), "anyone", now)
                .is_err(),
            "the whole /64 is one client"
        );
        assert_eq!(
            t.check_at(ip("2001:db8:1:3::1"), "anyone", now),
            Ok(()),
            "the next /64 is another"
        );
        for _ in 0..5 {
            t.fail_at(ip("::ffff:192.0.2.9"), "owner", now);
        }
        assert!(t.check_at(ip("192.0.2.9"), "anyone", now).is_err());
        assert_eq!(client_key(ip("::ffff:192.0.2.9")), ip("192.0.2.9"));
    }

    #[test]
    fn account_names_are_normalised_and_bounded() {
        assert_eq!(account_key("  Owner\n"), "owner");
        let long = "é".repeat(1000);
        let k = account_key(&long);
        assert!(k.len() <= 64 && k.len() >= 62);
        let t = Throttle::new(Policy::default());
        let now = Instant::now();
        for _ in 0..5 {
            t.fail_at(ip("10.0.0.1"), &format!("{}a", "x".repeat(100)), now);
        }
        assert!(
            t.check_at(ip("10.0.0.1"), &format!("{}b", "x".repeat(100)), now)
                .is_err(),
            "cut names are one account"
        );
    }

    #[test]
    fn tables_stay_bounded_under_a_million_names() {
        let t = Throttle::new(Policy::default());
        let now = Instant::now();
        let victim = ip("10.9.9.9");
        for _ in 0..6 {
            t.fail_at(victim, "owner", now);
        }
        for i in 0..1_000_000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 | (i % 200_000)));
            t.fail_at(
                a,
                &format!("name-{i}"),
                now + Duration::from_micros(u64::from(i)),
            );
            if i % 100_000 == 0 {
                let (ips, accounts, pairs) = t.tracked();
                assert!(
                    ips <= 10_000 && accounts <= 10_000 && pairs <= 10_000,
                    "{ips} {accounts} {pairs}"
                );
            }
        }
        let (ips, accounts, pairs) = t.tracked();
        assert!(
            ips <= 10_000 && accounts <= 10_000 && pairs <= 10_000,
            "{ips} {accounts} {pairs}"
        );
        assert_eq!(
            (ips, accounts, pairs),
            (10_000, 10_000, 10_000),
            "full, but no fuller"
        );
        // The least recently failed went first; the newest are kept.
        let st = t.lock();
        let has = |name: &str| st.accounts.map.contains_key(&t.ids(victim, name).1);
        assert!(has("name-999999") && !has("name-0"));
        assert!(
            !has("owner"),
            "an old entry is evicted, not a new one refused"
        );
        drop(st);
        let small = Throttle::new(Policy {
            max_tracked: 3,
            ..Policy::default()
        });
        for i in 0..100 {
            small.fail_at(ip("10.0.0.1"), &format!("n{i}"), now + secs(i));
        }
        assert_eq!(small.tracked(), (1, 3, 3));
    }
}
