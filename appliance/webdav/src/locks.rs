//! WebDAV locks with bounds: `dav_server`'s in-memory lock table never expires a lock and takes
//! any number of them, so a client that LOCKs without a Timeout header, or a script that LOCKs
//! thousands of paths with large owners, would hold locks and memory for ever. This wrapper gives
//! every lock a lifetime (a default when the client names none, a maximum otherwise), drops
//! expired locks, and caps how many one user holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use dav_server::davpath::DavPath;
use dav_server::ls::{DavLock, DavLockSystem, LsFuture};
use dav_server::memls::MemLs;
use futures_util::FutureExt;
use xmltree::Element;

/// Lifetime of a lock whose client asked for none (or for "Infinite").
pub const DEFAULT_LOCK_LIFETIME: Duration = Duration::from_secs(600);
/// Longest lifetime granted; clients refresh long-held locks (Finder and Office do).
pub const MAX_LOCK_LIFETIME: Duration = Duration::from_secs(3600);
/// Most locks one user holds at once.
pub const MAX_LOCKS_PER_USER: usize = 1000;

/// One user's lock table.
#[derive(Debug, Clone)]
pub struct BoundedLs {
    inner: Box<MemLs>,
    /// Live locks: token -> (path, expiry).
    live: Arc<Mutex<HashMap<String, (DavPath, SystemTime)>>>,
}

impl BoundedLs {
    /// An empty table.
    pub fn new() -> BoundedLs {
        BoundedLs {
            inner: MemLs::new(),
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// How many locks are held now (expired ones dropped first).
    pub async fn held(&self) -> usize {
        self.purge().await;
        self.live.lock().unwrap().len()
    }

    /// Drops the locks whose lifetime ended.
    async fn purge(&self) {
        let now = SystemTime::now();
        let expired: Vec<(String, DavPath)> = {
            let mut live = self.live.lock().unwrap();
            let gone: Vec<String> = live
                .iter()
                .filter(|(_, (_, at))| *at <= now)
                .map(|(t, _)| t.clone())
                .collect();
            gone.into_iter()
                .filter_map(|t| live.remove(&t).map(|(p, _)| (t, p)))
                .collect()
        };
        for (token, path) in expired {
            let _ = self.inner.unlock(&path, &token).await;
        }
    }
}

impl Default for BoundedLs {
    fn default() -> Self {
        BoundedLs::new()
    }
}

/// The lifetime granted for a requested one.
fn lifetime(asked: Option<Duration>) -> Duration {
    asked
        .unwrap_or(DEFAULT_LOCK_LIFETIME)
        .min(MAX_LOCK_LIFETIME)
}

/// True when `path` is `root` or below it.
fn under(path: &DavPath, root: &DavPath) -> bool {
    let (p, r) = (path.as_bytes(), root.as_bytes());
    let r = r.strip_suffix(b"/").unwrap_or(r);
    p == r || (p.starts_with(r) && p.get(r.len()) == Some(&b'/'))
}

impl DavLockSystem for BoundedLs {
    fn lock(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        owner: Option<&Element>,
        timeout: Option<Duration>,
        shared: bool,
        deep: bool,
    ) -> LsFuture<'_, Result<DavLock, DavLock>> {
        let (path, principal, owner) = (path.clone(), principal.map(str::to_owned), owner.cloned());
        async move {
            self.purge().await;
            let timeout = lifetime(timeout);
            let lock = self
                .inner
                .lock(
                    &path,
                    principal.as_deref(),
                    owner.as_ref(),
                    Some(timeout),
                    shared,
                    deep,
                )
                .await?;
            let admitted = {
                let mut live = self.live.lock().unwrap();
                let room = live.len() < MAX_LOCKS_PER_USER;
                if room {
                    live.insert(
                        lock.token.clone(),
                        (path.clone(), SystemTime::now() + timeout),
                    );
                }
                room
            };
            if !admitted {
                // The caller checks the count first and answers with a reason; this is the
                // backstop for a race between two LOCKs. The new lock is its own "conflict".
                let _ = self.inner.unlock(&path, &lock.token).await;
                return Err(lock);
            }
            Ok(lock)
        }
        .boxed()
    }

    fn unlock(&'_ self, path: &DavPath, token: &str) -> LsFuture<'_, Result<(), ()>> {
        let (path, token) = (path.clone(), token.to_owned());
        async move {
            self.purge().await;
            let r = self.inner.unlock(&path, &token).await;
            if r.is_ok() {
                self.live.lock().unwrap().remove(&token);
            }
            r
        }
        .boxed()
    }

    fn refresh(
        &'_ self,
        path: &DavPath,
        token: &str,
        timeout: Option<Duration>,
    ) -> LsFuture<'_, Result<DavLock, ()>> {
        let (path, token) = (path.clone(), token.to_owned());
        async move {
            self.purge().await;
            let timeout = lifetime(timeout);
            let lock = self.inner.refresh(&path, &token, Some(timeout)).await?;
            if let Some(entry) = self.live.lock().unwrap().get_mut(&token) {
                entry.1 = SystemTime::now() + timeout;
            }
            Ok(lock)
        }
        .boxed()
    }

    fn check(
        &'_ self,
        path: &DavPath,
        principal: Option<&str>,
        ignore_principal: bool,
        deep: bool,
        submitted_tokens: &[String],
    ) -> LsFuture<'_, Result<(), DavLock>> {
        let (path, principal, tokens) = (
            path.clone(),
            principal.map(str::to_owned),
            submitted_tokens.to_vec(),
        );
        async move {
            self.purge().await;
            self.inner
                .check(&path, principal.as_deref(), ignore_principal, deep, &tokens)
                .await
        }
        .boxed()
    }

    fn discover(&'_ self, path: &DavPath) -> LsFuture<'_, Vec<DavLock>> {
        let path = path.clone();
        async move {
            self.purge().await;
            self.inner.discover(&path).await
        }
        .boxed()
    }

    fn delete(&'_ self, path: &DavPath) -> LsFuture<'_, Result<(), ()>> {
        let path = path.clone();
        async move {
            let r = self.inner.delete(&path).await;
            self.live
                .lock()
                .unwrap()
                .retain(|_, (p, _)| !under(p, &path));
            r
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> DavPath {
        DavPath::new(s).unwrap()
    }

    #[tokio::test]
    async fn locks_get_a_bounded_lifetime() {
        let ls = BoundedLs::new();
        let l = ls
            .lock(&p("/a"), None, None, None, false, false)
            .await
            .unwrap();
        assert_eq!(
            l.timeout,
            Some(DEFAULT_LOCK_LIFETIME),
            "no Timeout header: the default"
        );
        let l = ls
            .lock(
                &p("/b"),
                None,
                None,
                Some(Duration::from_secs(1 << 30)),
                false,
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            l.timeout,
            Some(MAX_LOCK_LIFETIME),
            "asked for years: the maximum"
        );
        let l = ls.refresh(&p("/b"), &l.token, None).await.unwrap();
        assert_eq!(l.timeout, Some(DEFAULT_LOCK_LIFETIME));
        assert_eq!(ls.held().await, 2);
    }

    #[tokio::test]
    async fn expired_locks_are_dropped() {
        let ls = BoundedLs::new();
        let l = ls
            .lock(
                &p("/a"),
                None,
                None,
                Some(Duration::from_secs(600)),
                false,
                false,
            )
            .await
            .unwrap();
        ls.live.lock().unwrap().get_mut(&l.token).unwrap().1 =
            SystemTime::now() - Duration::from_secs(1);
        assert_eq!(ls.held().await, 0);
        assert!(
            ls.discover(&p("/a")).await.is_empty(),
            "an expired lock is not reported"
        );
        assert!(
            ls.check(&p("/a"), None, false, false, &[]).await.is_ok(),
            "and does not block a write"
        );
    }

    #[tokio::test]
    async fn the_count_is_capped_and_delete_forgets_locks_below() {
        let ls = BoundedLs::new();
        for i in 0..MAX_LOCKS_PER_USER {
            ls.lock(&p(&format!("/d/{i}")), None, None, None, false, false)
                .await
                .unwrap();
        }
        assert!(ls
            .lock(&p("/one-more"), None, None, None, false, false)
            .await
            .is_err());
        assert!(
            ls.discover(&p("/one-more")).await.is_empty(),
            "the refused lock left nothing behind"
        );
        ls.delete(&p("/d")).await.unwrap();
        assert_eq!(ls.held().await, 0);
    }
}
