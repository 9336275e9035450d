//! Sign-in sessions and CSRF tokens.
//!
//! Sessions live in memory: a restart signs everyone out, which is the safe direction. The cookie
//! carries a random token; the table is keyed by its BLAKE3 hash, so a memory dump or a timing
//! probe of the map learns nothing usable as a cookie. Each session has its own CSRF token, which
//! the page reads from `/api/state` (same origin only) and sends back on every change.
//!
//! A session ends after 12 hours unused, and 7 days after sign-in however much it is used. A user
//! has at most 20 at once: a new one ends that user's least recently used, never anyone else's.
//! (Guessing is slowed down by `microcloud_accounts::throttle`, shared with WebDAV.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use microcloud_store::{DeviceId, UserId};

/// The session cookie's name.
pub const COOKIE: &str = "mc_session";
/// A session ends after this long without use.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after sign-in, used or not.
const LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most sessions of one user (a new one ends their least recently used).
pub const PER_USER: usize = 20;
/// Most sessions in all. Reached only with hundreds of users; then the user holding the most
/// sessions loses their least recently used, so one user signing in a lot never ends another's.
const MAX_SESSIONS: usize = 10_000;

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
    /// The device this session is, for a tablet signed in by pairing: revoking the device ends
    /// the session.
    pub device: Option<(DeviceId, String)>,
    /// Set once its device was found revoked: the session is kept (until it expires) only to
    /// answer every later request with the reason, never again as a sign-in. Removing it at the
    /// first refusal told only the first request why: a page whose event stream asked first
    /// then showed a bare sign-in screen.
    pub revoked: bool,
    created: Instant,
    last_used: Instant,
}

impl Session {
    fn alive(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_used) < IDLE
            && now.saturating_duration_since(self.created) < LIFETIME
    }
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

/// The least recently used session of `user`.
fn least_recent(map: &HashMap<[u8; 32], Session>, user: UserId) -> Option<[u8; 32]> {
    map.iter()
        .filter(|(_, s)| s.user == user)
        .min_by_key(|(_, s)| s.last_used)
        .map(|(k, _)| *k)
}

impl Sessions {
    /// Starts a session; returns the cookie token.
    pub fn create(&self, user: UserId, name: &str, phc: &str) -> String {
        self.create_at(user, name, phc, Instant::now())
    }

    fn create_at(&self, user: UserId, name: &str, phc: &str, now: Instant) -> String {
        let token = random_token();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.alive(now));
        // The user's own least recently used sessions go first.
        while map.values().filter(|s| s.user == user).count() >= PER_USER {
            let Some(k) = least_recent(&map, user) else {
                break;
            };
            map.remove(&k);
        }
        if map.len() >= MAX_SESSIONS {
            let mut per_user: HashMap<UserId, usize> = HashMap::new();
            for s in map.values() {
                *per_user.entry(s.user).or_default() += 1;
            }
            if let Some((&busiest, _)) = per_user.iter().max_by_key(|(_, n)| **n) {
                if let Some(k) = least_recent(&map, busiest) {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            *blake3::hash(token.as_bytes()).as_bytes(),
            Session {
                user,
                name: name.to_owned(),
                csrf: random_token(),
                password_tag: password_tag(phc),
                device: None,
                revoked: false,
                created: now,
                last_used: now,
            },
        );
        token
    }

    /// Starts the page session of a tablet that was just paired as `device`: revoking the device
    /// ends it.
    pub fn create_for_device(
        &self,
        user: UserId,
        name: &str,
        phc: &str,
        device: (DeviceId, String),
    ) -> String {
        let token = self.create(user, name, phc);
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&key)
        {
            s.device = Some(device);
        }
        token
    }

    /// The live session for a cookie token.
    pub fn get(&self, token: &str) -> Option<Session> {
        self.get_at(token, Instant::now())
    }

    fn get_at(&self, token: &str, now: Instant) -> Option<Session> {
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(&key) {
            Some(s) if s.alive(now) => {
                s.last_used = s.last_used.max(now);
                Some(s.clone())
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Marks a paired tablet's session as revoked (see [`Session::revoked`]).
    pub fn mark_revoked(&self, token: &str) {
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(blake3::hash(token.as_bytes()).as_bytes())
        {
            s.revoked = true;
        }
    }

    /// Ends a session.
    pub fn remove(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(blake3::hash(token.as_bytes()).as_bytes());
    }

    /// Ends every session of a user (password changed elsewhere, user removed).
    pub fn remove_user(&self, user: UserId) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| s.user != user);
    }

    /// Sessions in the table (live or not yet swept).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

/// The Set-Cookie value that starts a session; `secure` (the request came over HTTPS) adds
/// `Secure`, so that the browser never sends it over plain HTTP.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        IDLE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The Set-Cookie value that ends it (`secure` as for [`set_cookie`]).
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
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
        h.insert(
            http::header::COOKIE,
            format!("a=b; {COOKIE}={t}; c=d").parse().unwrap(),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some(t.as_str()));
        s.remove(&t);
        assert!(s.get(&t).is_none());
        assert!(
            set_cookie("x", false).contains("HttpOnly")
                && set_cookie("x", false).contains("SameSite=Strict")
        );
        assert!(!set_cookie("x", false).contains("Secure"));
        assert!(set_cookie("x", true).ends_with("; Secure"));
        assert!(clear_cookie(true).ends_with("; Secure"));
    }

    #[test]
    fn one_user_signing_in_a_lot_ends_only_their_own_oldest_sessions() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let admin = s.create_at(UserId(1), "owner", "$argon2id$a", t0);
        let mut bobs = vec![];
        for i in 0..1030u64 {
            bobs.push(s.create_at(
                UserId(2),
                "bob",
                "$argon2id$b",
                t0 + Duration::from_millis(i + 1),
            ));
        }
        let later = t0 + Duration::from_secs(2);
        assert!(
            s.get_at(&admin, later).is_some(),
            "the administrator's session survives"
        );
        assert_eq!(s.len(), 1 + PER_USER);
        assert!(
            bobs[..1030 - PER_USER]
                .iter()
                .all(|t| s.get_at(t, later).is_none()),
            "bob's oldest went"
        );
        assert!(
            bobs[1030 - PER_USER..]
                .iter()
                .all(|t| s.get_at(t, later).is_some()),
            "bob's newest stay"
        );
        // Least recently used goes first: using the oldest keeps it.
        let keep = bobs[1030 - PER_USER].clone();
        assert!(s.get_at(&keep, later + Duration::from_secs(1)).is_some());
        let newer = s.create_at(
            UserId(2),
            "bob",
            "$argon2id$b",
            later + Duration::from_secs(2),
        );
        let after = later + Duration::from_secs(3);
        assert!(s.get_at(&keep, after).is_some() && s.get_at(&newer, after).is_some());
        assert_eq!(
            bobs[1030 - PER_USER..]
                .iter()
                .filter(|t| s.get_at(t, after).is_some())
                .count(),
            PER_USER - 1,
            "one of the others went"
        );
        assert!(s.get_at(&admin, after).is_some());
    }

    #[test]
    fn sessions_end_when_idle_and_after_their_lifetime() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let idle = s.create_at(UserId(1), "ann", "x", t0);
        assert!(s
            .get_at(&idle, t0 + IDLE - Duration::from_secs(1))
            .is_some());
        assert!(
            s.get_at(&idle, t0 + IDLE * 2 - Duration::from_secs(2))
                .is_some(),
            "use keeps it alive"
        );
        assert!(
            s.get_at(&idle, t0 + IDLE * 3).is_none(),
            "12 hours unused ends it"
        );
        let busy = s.create_at(UserId(1), "ann", "x", t0);
        let mut now = t0;
        while now < t0 + LIFETIME - Duration::from_secs(3600) {
            now += Duration::from_secs(3600);
            assert!(s.get_at(&busy, now).is_some());
        }
        assert!(
            s.get_at(&busy, t0 + LIFETIME).is_none(),
            "7 days after sign-in it ends, however used"
        );
    }
}
