//! Which event streams are open: a device is "online" while it has one, and a user has at most
//! [`PER_USER`] at once (a new one ends their oldest, so a script opening streams in a loop
//! holds eight tasks, not thousands).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use microcloud_store::{DeviceId, UserId};

/// Most open streams of one user.
pub const PER_USER: usize = 8;

struct Open {
    id: u64,
    device: Option<DeviceId>,
    ended: Arc<AtomicBool>,
}

/// The open streams.
#[derive(Default)]
pub struct Streams {
    by_user: Mutex<HashMap<UserId, VecDeque<Open>>>,
    next: AtomicU64,
}

/// One open stream; dropping it (the client went away) takes it off the list.
pub struct Ticket {
    streams: Arc<Streams>,
    user: UserId,
    id: u64,
    ended: Arc<AtomicBool>,
}

impl Ticket {
    /// Whether a newer stream of the same user ended this one.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut map = self
            .streams
            .by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(list) = map.get_mut(&self.user) {
            list.retain(|o| o.id != self.id);
            if list.is_empty() {
                map.remove(&self.user);
            }
        }
    }
}

impl Streams {
    /// Registers a stream of `user` on `device`, ending their oldest beyond [`PER_USER`].
    pub fn open(self: &Arc<Self>, user: UserId, device: Option<DeviceId>) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let ended = Arc::new(AtomicBool::new(false));
        let mut map = self.by_user.lock().unwrap_or_else(|e| e.into_inner());
        let list = map.entry(user).or_default();
        while list.len() >= PER_USER {
            if let Some(old) = list.pop_front() {
                old.ended.store(true, Ordering::Relaxed);
            }
        }
        list.push_back(Open {
            id,
            device,
            ended: ended.clone(),
        });
        Ticket {
            streams: self.clone(),
            user,
            id,
            ended,
        }
    }

    /// Whether `device` has a stream open.
    pub fn online(&self, user: UserId, device: DeviceId) -> bool {
        self.by_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
            .is_some_and(|l| {
                l.iter()
                    .any(|o| o.device == Some(device) && !o.ended.load(Ordering::Relaxed))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_eight_streams_and_a_closed_one_goes_offline() {
        let s = Arc::new(Streams::default());
        let t = s.open(UserId(1), Some(DeviceId(5)));
        assert!(s.online(UserId(1), DeviceId(5)));
        assert!(!s.online(UserId(1), DeviceId(6)));
        let more: Vec<_> = (0..PER_USER).map(|_| s.open(UserId(1), None)).collect();
        assert!(t.ended(), "the oldest ended");
        assert!(!s.online(UserId(1), DeviceId(5)));
        assert!(more.iter().all(|m| !m.ended()));
        let other = s.open(UserId(2), Some(DeviceId(9)));
        assert!(!other.ended(), "another user's count is their own");
        drop(other);
        assert!(!s.online(UserId(2), DeviceId(9)));
    }
}
