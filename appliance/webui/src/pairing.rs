//! Pairing a new tablet from one that is signed in, as KDE Connect and Matter do it: the signed-in
//! screen shows a one-time token as a QR code and as an 8-character code; the new tablet sends it
//! back with a fresh secret of its own; both screens then show the same 6-digit confirmation,
//! derived from both sides' secrets; the first screen approves, and the new tablet becomes a
//! device of that user with a page session and a device password of its own.
//!
//! A pairing lives in memory (a restart voids them all: the safe direction), works once, ends 5
//! minutes after it was started, and is voided after 5 wrong codes: a wrong code cannot say which
//! pairing it was aimed at, so it counts against every open one. With 40 bits in a code and 5
//! tries, a guess succeeds about once in 2^37 attempts; the address is throttled besides.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use microcloud_accounts::codes;
use microcloud_store::UserId;

/// How long a pairing stays open.
pub const LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Wrong codes after which every open pairing is voided.
pub const MAX_WRONG: u32 = 5;
/// Open pairings per user.
const PER_USER: usize = 3;
/// Open pairings in all.
const MAX_PAIRINGS: usize = 200;
/// Characters of a code (Crockford's base32: 40 bits), shown as two groups of four.
const CODE_LEN: usize = 8;

/// Why a pairing step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// No open pairing has this code or token.
    #[error("wrong pairing code: check it on the other tablet's screen")]
    WrongCode,
    /// The pairing's 5 minutes are over, or it was voided by wrong codes.
    #[error("this pairing has expired: start a new one on the other tablet")]
    Expired,
    /// The pairing was claimed already (a code works once).
    #[error("this pairing code was used already: start a new one on the other tablet")]
    Used,
    /// No such pairing for this user.
    #[error("no such pairing")]
    NotFound,
    /// The pairing is not in the state this step needs.
    #[error("{0}")]
    State(&'static str),
    /// The user has too many pairings open.
    #[error("too many pairings open at once: finish or cancel one first")]
    TooMany,
}

/// The state of a pairing as its creator's screen sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum View {
    /// Waiting for the new tablet.
    Open { expires_in: u64 },
    /// The new tablet sent the code: compare the confirmations, then approve or refuse.
    Claimed {
        expires_in: u64,
        confirmation: String,
        device_name: String,
        kind: String,
        address: String,
    },
    /// Approved: the new tablet is a device now.
    Approved { device_name: String },
    /// Refused by the creator.
    Refused,
    /// Over (time, wrong codes).
    Expired,
}

/// What the new tablet learns when its claim is approved: taken once.
#[derive(Debug, Clone)]
pub struct Handover {
    /// Its page session's cookie token.
    pub session_token: String,
    /// Its device password, for WebDAV apps.
    pub password: String,
    /// Whose device it is.
    pub user: String,
    /// Its name.
    pub device_name: String,
}

/// The state of a pairing as the new tablet sees it.
#[derive(Debug, Clone)]
pub enum ClaimView {
    /// The creator has not decided yet.
    Waiting { confirmation: String },
    /// Approved: here are the credentials (once).
    Approved(Handover),
    /// Refused, expired, or already handed over.
    Over(PairError),
}

#[derive(Debug)]
enum State {
    Open,
    Claimed {
        claim_key: [u8; 32],
        confirmation: String,
        device_name: String,
        kind: String,
        address: String,
    },
    Approved {
        claim_key: [u8; 32],
        device_name: String,
        handover: Option<Handover>,
    },
    Refused {
        claim_key: [u8; 32],
    },
}

#[derive(Debug)]
struct Pairing {
    user: UserId,
    user_name: String,
    token_key: [u8; 32],
    code_key: [u8; 32],
    /// The creator's secret, from which with the claimer's the confirmation is derived.
    token: String,
    created: Instant,
    wrong: u32,
    state: State,
}

impl Pairing {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.created) >= LIFETIME || self.wrong >= MAX_WRONG
    }

    fn expires_in(&self, now: Instant) -> u64 {
        LIFETIME
            .saturating_sub(now.saturating_duration_since(self.created))
            .as_secs()
    }
}

/// A started pairing, for its creator's screen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Started {
    /// Names the pairing in the creator's later requests.
    pub id: String,
    /// The one-time token (in the QR code's URL).
    pub token: String,
    /// The same, short enough to type: `ABCD-EFGH`.
    pub code: String,
    /// Seconds left.
    pub expires_in: u64,
}

/// A claim the new tablet made: its secret for asking how it went, and the confirmation.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The bearer secret of the claim (only the claimer has it).
    pub claim: String,
    /// The 6 digits both screens show.
    pub confirmation: String,
    /// Whose box account the tablet is joining.
    pub user: String,
}

fn random_b64(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key(s: &str) -> [u8; 32] {
    *blake3::hash(s.as_bytes()).as_bytes()
}

/// A code as typed (any case, dashes, spaces, look-alikes) in canonical form.
pub fn canonical_code(typed: &str) -> Option<String> {
    codes::canonical(typed, CODE_LEN).map(|c| c.to_ascii_uppercase())
}

/// The confirmation both screens show: 6 digits derived from the creator's token and the
/// claimer's fresh secret, so that a claim by someone else shows different digits.
fn confirmation(token: &str, claimer_secret: &str) -> String {
    let mut h = blake3::Hasher::new_derive_key("microcloud pairing confirmation v1");
    h.update(&(token.len() as u64).to_le_bytes());
    h.update(token.as_bytes());
    h.update(claimer_secret.as_bytes());
    let n = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap());
    format!("{:06}", n % 1_000_000)
}

/// The open pairings.
#[derive(Default)]
pub struct Pairings {
    map: Mutex<HashMap<String, Pairing>>,
}

impl Pairings {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pairing>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a pairing for `user`.
    pub fn start(&self, user: UserId, user_name: &str) -> Result<Started, PairError> {
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, p| !p.expired(now) || matches!(p.state, State::Approved { .. }));
        map.retain(|_, p| now.saturating_duration_since(p.created) < 2 * LIFETIME);
        let open = |p: &Pairing| matches!(p.state, State::Open | State::Claimed { .. });
        if map.values().filter(|p| p.user == user && open(p)).count() >= PER_USER
            || map.len() >= MAX_PAIRINGS
        {
            return Err(PairError::TooMany);
        }
        let token = random_b64(24);
        let code = codes::random(CODE_LEN).to_ascii_uppercase();
        let id = random_b64(12);
        map.insert(
            id.clone(),
            Pairing {
                user,
                user_name: user_name.to_owned(),
                token_key: key(&token),
                code_key: key(&code),
                token: token.clone(),
                created: now,
                wrong: 0,
                state: State::Open,
            },
        );
        Ok(Started {
            id,
            token,
            code: codes::grouped(&code, 4),
            expires_in: LIFETIME.as_secs(),
        })
    }

    /// The new tablet's claim with a code or the token, under `device_name`.
    pub fn claim(
        &self,
        code_or_token: &str,
        device_name: &str,
        kind: &str,
        address: &str,
    ) -> Result<Claimed, PairError> {
        let now = Instant::now();
        let token_key = blake3::Hash::from_bytes(key(code_or_token));
        let code_key = canonical_code(code_or_token).map(|c| blake3::Hash::from_bytes(key(&c)));
        let mut map = self.lock();
        let found = map
            .iter()
            .find(|(_, p)| {
                blake3::Hash::from_bytes(p.token_key) == token_key
                    || code_key.is_some_and(|k| blake3::Hash::from_bytes(p.code_key) == k)
            })
            .map(|(id, _)| id.clone());
        let Some(id) = found else {
            for p in map.values_mut() {
                if matches!(p.state, State::Open) {
                    p.wrong += 1;
                }
            }
            return Err(PairError::WrongCode);
        };
        let p = map.get_mut(&id).expect("found above");
        if !matches!(p.state, State::Open) {
            return Err(PairError::Used);
        }
        if p.expired(now) {
            return Err(PairError::Expired);
        }
        let claim = random_b64(32);
        let confirmation = confirmation(&p.token, &claim);
        p.state = State::Claimed {
            claim_key: key(&claim),
            confirmation: confirmation.clone(),
            device_name: device_name.to_owned(),
            kind: kind.to_owned(),
            address: address.to_owned(),
        };
        Ok(Claimed {
            claim,
            confirmation,
            user: p.user_name.clone(),
        })
    }

    fn mine<'a>(
        map: &'a mut HashMap<String, Pairing>,
        id: &str,
        user: UserId,
    ) -> Result<&'a mut Pairing, PairError> {
        map.get_mut(id)
            .filter(|p| p.user == user)
            .ok_or(PairError::NotFound)
    }

    /// The pairing `id` of `user`, as its creator's screen shows it.
    pub fn view(&self, id: &str, user: UserId) -> Result<View, PairError> {
        let now = Instant::now();
        let mut map = self.lock();
        let p = Self::mine(&mut map, id, user)?;
        Ok(match &p.state {
            State::Approved { device_name, .. } => View::Approved {
                device_name: device_name.clone(),
            },
            State::Refused { .. } => View::Refused,
            _ if p.expired(now) => View::Expired,
            State::Open => View::Open {
                expires_in: p.expires_in(now),
            },
            State::Claimed {
                confirmation,
                device_name,
                kind,
                address,
                ..
            } => View::Claimed {
                expires_in: p.expires_in(now),
                confirmation: confirmation.clone(),
                device_name: device_name.clone(),
                kind: kind.clone(),
                address: address.clone(),
            },
        })
    }

    /// The claimed pairing `id` of `user`, ready to approve: the claimer's device name.
    pub fn approvable(&self, id: &str, user: UserId) -> Result<String, PairError> {
        let now = Instant::now();
        let mut map = self.lock();
        let p = Self::mine(&mut map, id, user)?;
        if p.expired(now) {
            return Err(PairError::Expired);
        }
        match &p.state {
            State::Claimed { device_name, .. } => Ok(device_name.clone()),
            State::Open => Err(PairError::State("no tablet has sent the code yet")),
            _ => Err(PairError::Used),
        }
    }

    /// Approves pairing `id` of `user`: hands the new device's credentials to the claimer.
    pub fn approve(&self, id: &str, user: UserId, handover: Handover) -> Result<(), PairError> {
        let mut map = self.lock();
        let p = Self::mine(&mut map, id, user)?;
        let State::Claimed { claim_key, .. } = p.state else {
            return Err(PairError::Used);
        };
        p.state = State::Approved {
            claim_key,
            device_name: handover.device_name.clone(),
            handover: Some(handover),
        };
        Ok(())
    }

    /// Refuses (or cancels) pairing `id` of `user`.
    pub fn refuse(&self, id: &str, user: UserId) -> Result<(), PairError> {
        let mut map = self.lock();
        let p = Self::mine(&mut map, id, user)?;
        match p.state {
            State::Claimed { claim_key, .. } => p.state = State::Refused { claim_key },
            State::Open => {
                map.remove(id);
            }
            _ => return Err(PairError::Used),
        }
        Ok(())
    }

    /// How the claim with bearer secret `claim` stands, for the new tablet.
    pub fn claim_view(&self, claim: &str) -> Result<ClaimView, PairError> {
        let now = Instant::now();
        let k = blake3::Hash::from_bytes(key(claim));
        let mut map = self.lock();
        let p = map
            .values_mut()
            .find(|p| match &p.state {
                State::Claimed { claim_key, .. }
                | State::Approved { claim_key, .. }
                | State::Refused { claim_key } => blake3::Hash::from_bytes(*claim_key) == k,
                State::Open => false,
            })
            .ok_or(PairError::NotFound)?;
        let expired = p.expired(now);
        Ok(match &mut p.state {
            State::Approved { handover, .. } => match handover.take() {
                Some(h) => ClaimView::Approved(h),
                None => ClaimView::Over(PairError::Used),
            },
            State::Refused { .. } => {
                ClaimView::Over(PairError::State("the other tablet refused this pairing"))
            }
            _ if expired => ClaimView::Over(PairError::Expired),
            State::Claimed { confirmation, .. } => ClaimView::Waiting {
                confirmation: confirmation.clone(),
            },
            State::Open => unreachable!("an open pairing has no claim"),
        })
    }

    #[cfg(test)]
    fn age(&self, id: &str, by: Duration) {
        let mut map = self.lock();
        let p = map.get_mut(id).unwrap();
        p.created = p.created.checked_sub(by).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handover() -> Handover {
        Handover {
            session_token: "s".into(),
            password: "p".into(),
            user: "anna".into(),
            device_name: "iPad".into(),
        }
    }

    #[test]
    fn a_code_pairs_once_and_both_sides_see_the_same_confirmation() {
        let p = Pairings::default();
        let anna = UserId(1);
        let s = p.start(anna, "anna").unwrap();
        assert_eq!(s.code.len(), 9);
        let typed = s.code.to_lowercase().replace('-', " ");
        let c = p.claim(&typed, "iPad", "iPad", "10.0.0.5").unwrap();
        assert_eq!(c.user, "anna");
        let View::Claimed { confirmation, .. } = p.view(&s.id, anna).unwrap() else {
            panic!("claimed")
        };
        assert_eq!(confirmation, c.confirmation);
        assert_eq!(c.confirmation.len(), 6);
        assert_eq!(p.claim(&s.code, "x", "x", "x").err(), Some(PairError::Used));
        assert!(matches!(
            p.claim_view(&c.claim),
            Ok(ClaimView::Waiting { .. })
        ));
        // Someone else's pairing is not theirs to see or approve.
        assert_eq!(p.view(&s.id, UserId(2)), Err(PairError::NotFound));
        assert_eq!(p.approvable(&s.id, UserId(2)), Err(PairError::NotFound));
        assert_eq!(p.approvable(&s.id, anna).unwrap(), "iPad");
        p.approve(&s.id, anna, handover()).unwrap();
        assert!(matches!(p.claim_view(&c.claim), Ok(ClaimView::Approved(_))));
        assert!(matches!(
            p.claim_view(&c.claim),
            Ok(ClaimView::Over(PairError::Used))
        ));
        assert_eq!(p.approve(&s.id, anna, handover()), Err(PairError::Used));
        assert!(p.claim_view("guessed").is_err());
    }

    #[test]
    fn the_token_works_like_the_code_and_expires_after_five_minutes() {
        let p = Pairings::default();
        let s = p.start(UserId(1), "anna").unwrap();
        p.age(&s.id, LIFETIME);
        assert_eq!(
            p.claim(&s.token, "x", "x", "x").err(),
            Some(PairError::Expired)
        );
        assert_eq!(p.view(&s.id, UserId(1)), Ok(View::Expired));
        let s = p.start(UserId(1), "anna").unwrap();
        assert!(p.claim(&s.token, "x", "x", "x").is_ok());
    }

    #[test]
    fn five_wrong_codes_void_every_open_pairing() {
        let p = Pairings::default();
        let s = p.start(UserId(1), "anna").unwrap();
        for _ in 0..MAX_WRONG {
            assert_eq!(
                p.claim("0000-0000", "x", "x", "x").err(),
                Some(PairError::WrongCode)
            );
        }
        assert_eq!(
            p.claim(&s.code, "x", "x", "x").err(),
            Some(PairError::Expired)
        );
    }

    #[test]
    fn a_user_has_few_pairings_open_and_a_refused_claim_says_so() {
        let p = Pairings::default();
        let ids: Vec<_> = (0..PER_USER)
            .map(|_| p.start(UserId(1), "anna").unwrap())
            .collect();
        assert_eq!(p.start(UserId(1), "anna").err(), Some(PairError::TooMany));
        assert!(p.start(UserId(2), "bob").is_ok());
        let c = p.claim(&ids[0].code, "x", "x", "x").unwrap();
        p.refuse(&ids[0].id, UserId(1)).unwrap();
        assert!(matches!(
            p.claim_view(&c.claim),
            Ok(ClaimView::Over(PairError::State(_)))
        ));
        p.refuse(&ids[1].id, UserId(1)).unwrap();
        assert!(p.start(UserId(1), "anna").is_ok());
    }

    #[test]
    fn codes_are_read_as_typed() {
        assert_eq!(canonical_code("abcd-efgh").as_deref(), Some("ABCDEFGH"));
        assert_eq!(canonical_code("ABCD EFGO").as_deref(), Some("ABCDEFG0"));
        assert_eq!(canonical_code("ABCD-EFG"), None);
        assert_eq!(canonical_code("ABCD-EFGU"), None);
        assert_eq!(canonical_code(&"A".repeat(100)), None);
    }
}
