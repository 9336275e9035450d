//! Sign-in sessions, CSRF tokens and the rate limits on guessing.
//!
//! Sessions live in memory: a restart signs everyone out, which is the safe direction. The cookie
//! carries a random token; the table is keyed by its BLAKE3 hash, so a memory dump or a timing
//! probe of the map learns nothing usable as a cookie. Each session has its own CSRF token, which
//! the page reads from `/api/state` (same origin only) and sends back on every change.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use microcloud_store::UserId;

/// The session cookie's name.
pub const COOKIE: &str = "mc_session";
/// A session ends after this long without use.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept at once (the oldest go first).
const MAX_SESSIONS: usize = 1024;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: UserId,
    /// Their name (for logs).
    pub name: String,
    /// The token every change must carry.
    pub csrf: String,
    /// A digest of the password hash at sign-in: changing the password ends old sessions.
    pub password_tag: [u8; 32],
    last_used: Instant,
}

/// The session table.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A tag of a password hash, so that sessions notice a password change.
pub fn password_tag(phc: &str) -> [u8; 32] {
    *blake3::hash(phc.as_bytes()).as_bytes()
}

/// Whether two secrets are equal, in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    blake3::hash(a.as_bytes()) == blake3::hash(b.as_bytes())
}

impl Sessions {
    /// Starts a session; returns the cookie token.
    pub fn create(&self, user: UserId, name: &str, phc: &str) -> String {
        let token = random_token();
        let mut map = self.map.lock().unwrap();
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            *blake3::hash(token.as_bytes()).as_bytes(),
            Session { user, name: name.to_owned(), csrf: random_token(), password_tag: password_tag(phc), last_used: now },
        );
        token
    }

    /// The live session for a cookie token.
    pub fn get(&self, token: &str) -> Option<Session> {
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        let mut map = self.map.lock().unwrap();
        let now = Instant::now();
        match map.get_mut(&key) {
            Some(s) if now.duration_since(s.last_used) < IDLE => {
                s.last_used = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.map.lock().unwrap().remove(blake3::hash(token.as_bytes()).as_bytes());
    }

    /// Ends every session of a user (password changed elsewhere, user removed).
    pub fn remove_user(&self, user: UserId) {
        self.map.lock().unwrap().retain(|_, s| s.user != user);
    }
}

/// The session token from a request's cookies.
pub fn cookie_token(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The Set-Cookie value that starts a session.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}", IDLE.as_secs())
}

/// The Set-Cookie value that ends it.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Counts failures in a sliding window, per client and in total, to slow down guessing.
pub struct Limiter {
    per_client: usize,
    total: usize,
    window: Duration,
    failures: Mutex<(HashMap<IpAddr, VecDeque<Instant>>, VecDeque<Instant>)>,
}

impl Limiter {
    /// At most `per_client` failures from one address and `total` from all within `window`.
    pub fn new(per_client: usize, total: usize, window: Duration) -> Limiter {
        Limiter { per_client, total, window, failures: Mutex::new((HashMap::new(), VecDeque::new())) }
    }

    /// `Err(seconds to wait)` when this client (or everyone) has failed too often lately.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut guard = self.failures.lock().unwrap();
        let (clients, all) = &mut *guard;
        let window = self.window;
        let prune = |q: &mut VecDeque<Instant>| {
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
        };
        prune(all);
        clients.retain(|_, q| {
            prune(q);
            !q.is_empty()
        });
        let wait = |q: &VecDeque<Instant>| window.saturating_sub(now.duration_since(*q.front().unwrap())).as_secs().max(1);
        if let Some(q) = clients.get(&client) {
            if q.len() >= self.per_client {
                return Err(wait(q));
            }
        }
        if all.len() >= self.total {
            return Err(wait(all));
        }
        Ok(())
    }

    /// Records a failure from `client`.
    pub fn fail(&self, client: IpAddr) {
        let now = Instant::now();
        let mut guard = self.failures.lock().unwrap();
        guard.0.entry(client).or_default().push_back(now);
        guard.1.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_and_cookies() {
        let s = Sessions::default();
        let t = s.create(UserId(1), "ann", "$argon2id$x");
        let got = s.get(&t).unwrap();
        assert_eq!(got.user, UserId(1));
        assert_ne!(got.csrf, t);
        assert!(s.get("forged").is_none());
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, format!("a=b; {COOKIE}={t}; c=d").parse().unwrap());
        assert_eq!(cookie_token(&h).as_deref(), Some(t.as_str()));
        s.remove(&t);
        assert!(s.get(&t).is_none());
        assert!(set_cookie("x").contains("HttpOnly") && set_cookie("x").contains("SameSite=Strict"));
    }

    #[test]
    fn limiter_counts_per_client_and_total() {
        let l = Limiter::new(2, 3, Duration::from_secs(60));
        let (a, b, c) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        l.fail(a);
        assert!(l.check(a).is_ok());
        l.fail(a);
        assert!(l.check(a).is_err());
        assert!(l.check(b).is_ok());
        l.fail(b);
        assert!(l.check(c).is_err(), "the total bound holds for every client");
    }
}
