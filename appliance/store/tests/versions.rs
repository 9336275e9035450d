//! Versions, trash, rollback, retention and the ransomware guard, on the store alone.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use microcloud_store::{ChangeKind, Policy, Store, StoreError};

const DAY: i64 = 86_400 * 1_000_000_000;

mod common;
use common::{put, put_as, read, store};

/// Every file of `user` below `base`, path → BLAKE3.
fn tree(s: &Store, user: &str, base: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    s.walk(|e| {
        if e.user == user && e.path.starts_with(base) {
            if let Some(f) = e.file {
                out.insert(
                    e.path,
                    blake3::Hash::from_bytes(f.blob.hash).to_hex().to_string(),
                );
            }
        }
        ControlFlow::Continue(())
    })
    .unwrap();
    out
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn content(i: usize, round: usize) -> Vec<u8> {
    // Mixed sizes: inline content and blob files both.
    let len = if i.is_multiple_of(3) { 70_000 } else { 100 + i };
    (0..len)
        .map(|k| (k * 31 + i * 7 + round * 13) as u8)
        .collect()
}

#[tokio::test]
async fn a_file_overwritten_ten_times_lists_ten_versions_each_restorable() {
    let (_d, s, u) = store();
    for round in 0..11 {
        put_as(
            &s,
            u,
            "/doc",
            &content(0, round),
            Some(&format!("tab{round}")),
        )
        .await;
    }
    let versions = s.versions(u, "/doc").unwrap();
    assert_eq!(versions.len(), 10);
    // Newest first; each names the content it had and the device that wrote it.
    for (k, v) in versions.iter().enumerate() {
        let round = 9 - k;
        assert_eq!(
            v.blake3,
            blake3::hash(&content(0, round)).to_hex().to_string()
        );
        assert_eq!(v.size, content(0, round).len() as u64);
        assert_eq!(v.device.as_deref(), Some(format!("tab{round}").as_str()));
        assert_eq!(v.kind, microcloud_store::versions::Kind::Overwrite);
    }
    assert_eq!(s.writer_of(u, "/doc").unwrap().as_deref(), Some("tab10"));
    // Each one restores byte for byte, and the content it replaced becomes a version.
    for v in versions.clone() {
        s.restore_version(u, v.id).await.unwrap();
        assert_eq!(
            blake3::hash(&read(&s, u, "/doc")).to_hex().to_string(),
            v.blake3
        );
    }
    assert_eq!(s.versions(u, "/doc").unwrap().len(), 20);
    // Versions share blobs: 11 contents, no copies.
    assert_eq!(s.stats().unwrap().files, 1);
    let space = s.version_space().unwrap();
    assert_eq!(space.versions, 20);
    let all: u64 = (0..11).map(|r| content(0, r).len() as u64).sum();
    assert_eq!(s.stats().unwrap().bytes, all);
}

#[tokio::test]
async fn a_deleted_folder_of_1000_files_is_in_the_trash_and_comes_back_identical() {
    let (_d, s, u) = store();
    s.mkdir(u, "/photos").await.unwrap();
    for sub in 0..10 {
        s.mkdir(u, &format!("/photos/day{sub}")).await.unwrap();
    }
    for i in 0..1000 {
        put(
            &s,
            u,
            &format!("/photos/day{}/img{i}.jpg", i % 10),
            &content(i, 0),
        )
        .await;
    }
    put(&s, u, "/keep.txt", b"unrelated").await;
    let before = tree(&s, "alice", "photos");
    assert_eq!(before.len(), 1000);
    // Deleted the way a WebDAV client does it: every file, then every folder.
    for i in 0..1000 {
        s.remove(u, &format!("/photos/day{}/img{i}.jpg", i % 10), false)
            .await
            .unwrap();
    }
    for sub in 0..10 {
        s.remove(u, &format!("/photos/day{sub}"), true)
            .await
            .unwrap();
    }
    s.remove(u, "/photos", true).await.unwrap();
    assert!(tree(&s, "alice", "photos").is_empty());
    let trash = s.trash(u, "").unwrap();
    assert_eq!(trash.len(), 1000);
    assert_eq!(s.trash(u, "/photos/day3").unwrap().len(), 100);
    assert!(trash.iter().all(|v| v.path.starts_with("photos/day")));
    let r = s.undelete(u, "/photos").await.unwrap();
    assert_eq!(r.restored, 1000);
    assert_eq!(tree(&s, "alice", "photos"), before);
    assert!(s.trash(u, "").unwrap().is_empty());
    assert_eq!(read(&s, u, "/keep.txt"), b"unrelated");
    // Nothing in the trash there any more: a clear error.
    assert!(matches!(
        s.undelete(u, "/photos").await,
        Err(StoreError::NotInTrash { .. })
    ));
}

#[tokio::test]
async fn a_folder_rolls_back_to_a_moment_and_the_rollback_itself_can_be_undone() {
    let (_d, s, u) = store();
    s.mkdir(u, "/work").await.unwrap();
    put(&s, u, "/work/a.txt", b"a1").await;
    put(&s, u, "/work/b.txt", b"b1").await;
    put(&s, u, "/outside", b"o1").await;
    let t1 = now();
    let then = tree(&s, "alice", "work");
    // Afterwards: an overwrite, a delete, a new file, a move, a new folder.
    put(&s, u, "/work/a.txt", b"a2").await;
    s.remove(u, "/work/b.txt", false).await.unwrap();
    put(&s, u, "/work/new.txt", b"n").await;
    s.mkdir(u, "/work/sub").await.unwrap();
    s.rename(u, "/work/a.txt", "/work/sub/a-moved.txt")
        .await
        .unwrap();
    put(&s, u, "/outside", b"o2").await;
    let t2 = now();
    let later = tree(&s, "alice", "work");
    let r = s.rollback(u, "/work", t1).await.unwrap();
    assert_eq!(tree(&s, "alice", "work"), then);
    assert_eq!((r.restored, r.removed, r.folders_removed), (2, 2, 1));
    assert!(s.lookup(u, "/work/sub").is_err());
    // Outside the folder nothing moved.
    assert_eq!(read(&s, u, "/outside"), b"o2");
    // The state it replaced was kept: rolling back to just before the rollback undoes it
    // (new.txt and the moved file come back; the empty folder holding it too).
    s.rollback(u, "/work", t2).await.unwrap();
    assert_eq!(tree(&s, "alice", "work"), later);
    // A single file: back to its content then, or gone if it did not exist then.
    s.rollback(u, "/outside", t1).await.unwrap();
    assert_eq!(read(&s, u, "/outside"), b"o1");
    let r = s.rollback(u, "/work/sub/a-moved.txt", t1).await.unwrap();
    assert_eq!((r.removed, r.restored), (1, 0));
    assert!(s.lookup(u, "/work/sub/a-moved.txt").is_err());
}

#[tokio::test]
async fn a_file_and_a_folder_that_swapped_places_are_put_back() {
    let (_d, s, u) = store();
    put(&s, u, "/x", b"file x").await;
    s.mkdir(u, "/y").await.unwrap();
    put(&s, u, "/y/inner", b"inner").await;
    let t = now();
    let then = tree(&s, "alice", "");
    s.rename(u, "/x", "/tmp-x").await.unwrap();
    s.rename(u, "/y", "/x").await.unwrap();
    s.rename(u, "/tmp-x", "/y").await.unwrap();
    assert!(s.lookup(u, "/x").unwrap().is_dir);
    s.rollback(u, "", t).await.unwrap();
    assert_eq!(tree(&s, "alice", ""), then);
    assert!(s.lookup(u, "/y").unwrap().is_dir);
    assert_eq!(read(&s, u, "/x"), b"file x");
}

#[tokio::test]
async fn bad_rollbacks_are_refused_with_clear_errors_and_change_nothing() {
    let (_d, s, u) = store();
    put(&s, u, "/f", b"1").await;
    let t = now();
    put(&s, u, "/f", b"2").await;
    let before = tree(&s, "alice", "");
    let e = s.rollback(u, "/never", t).await.unwrap_err();
    assert!(matches!(e, StoreError::NeverExisted { .. }), "{e}");
    assert!(e.to_string().contains("/never"));
    let e = s.rollback(u, "/f", t - 40 * DAY).await.unwrap_err();
    assert!(matches!(e, StoreError::BeforeRetention { .. }), "{e}");
    assert!(e.to_string().contains("before the retention"), "{e}");
    let e = s.rollback(u, "/f", now() + DAY).await.unwrap_err();
    assert!(matches!(e, StoreError::InTheFuture { .. }), "{e}");
    let e = s.rollback(u, "/../etc", t).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidName { .. }), "{e}");
    assert!(matches!(
        s.restore_version(u, 999_999).await,
        Err(StoreError::NoSuchVersion { .. })
    ));
    // A version of another user is not found by id either.
    let bob = s.add_user("bob", "$argon2id$placeholder", false).unwrap();
    let id = s.versions(u, "/f").unwrap()[0].id;
    assert!(matches!(
        s.restore_version(bob, id).await,
        Err(StoreError::NoSuchVersion { .. })
    ));
    // A file sitting where a folder must come back blocks the whole rollback.
    s.mkdir(u, "/d").await.unwrap();
    put(&s, u, "/d/g", b"g").await;
    let t2 = now();
    s.remove(u, "/d/g", false).await.unwrap();
    s.remove(u, "/d", true).await.unwrap();
    put(&s, u, "/d", b"now a file").await;
    let mid = tree(&s, "alice", "");
    let e = s.rollback(u, "/d/g", t2).await.unwrap_err();
    assert!(matches!(e, StoreError::RollbackBlocked { .. }), "{e}");
    assert_eq!(tree(&s, "alice", ""), mid);
    assert_ne!(mid, before);
}

#[tokio::test]
async fn retention_expires_versions_on_the_box_never_pinned_ones() {
    let (_d, s, u) = store();
    let bob = s.add_user("bob", "$argon2id$placeholder", false).unwrap();
    let big = vec![9u8; 200_000];
    put(&s, u, "/f", &big).await;
    put(&s, u, "/f", b"new").await;
    put(&s, bob, "/f", &big).await;
    put(&s, bob, "/f", b"new").await;
    assert_eq!(s.pin_versions(bob, true).await.unwrap(), 1);
    // Within the retention nothing goes.
    let e = s.expire_versions(now() + 29 * DAY).await.unwrap();
    assert_eq!(e.versions, 0);
    let e = s.expire_versions(now() + 31 * DAY).await.unwrap();
    assert_eq!(e.versions, 1);
    // Alice's and Bob's old contents are separate blobs (each upload makes its own).
    assert_eq!(e.bytes, 200_000);
    assert!(s.versions(u, "/f").unwrap().is_empty());
    assert_eq!(s.versions(bob, "/f").unwrap().len(), 1);
    // The journal told the uplink: one `version` per user, one `unversion` for alice.
    let journal = s.changes_after(0, 1000).unwrap();
    let kinds: Vec<(String, ChangeKind)> = journal
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::Version | ChangeKind::Unversion))
        .map(|c| (c.user.clone(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("alice".into(), ChangeKind::Version),
            ("bob".into(), ChangeKind::Version),
            ("alice".into(), ChangeKind::Unversion)
        ]
    );
    let unversion = journal
        .iter()
        .find(|c| c.kind == ChangeKind::Unversion)
        .unwrap();
    assert_eq!(
        unversion.blob.map(|b| (b.size, b.hash)),
        Some((200_000, *blake3::hash(&big).as_bytes()))
    );
    // The version entry comes before the put that replaced the content.
    let pos = |k: ChangeKind, user: &str| {
        journal
            .iter()
            .position(|c| c.kind == k && c.user == user)
            .unwrap()
    };
    assert!(
        pos(ChangeKind::Version, "alice")
            < journal
                .iter()
                .rposition(|c| c.kind == ChangeKind::Put && c.user == "alice")
                .unwrap()
    );
    // A size cap per user removes the oldest first.
    s.set_version_policy(Policy {
        user_cap_bytes: 150,
        ..Policy::default()
    })
    .await
    .unwrap();
    for round in 0..5 {
        put(&s, u, "/g", &[round as u8; 100]).await;
    }
    s.expire_versions(now()).await.unwrap();
    let left = s.versions(u, "/g").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].blake3,
        blake3::hash(&[3u8; 100]).to_hex().to_string()
    );
}

#[tokio::test]
async fn with_versions_off_content_is_freed_as_before() {
    let (_d, s, u) = store();
    s.set_version_policy(Policy {
        keep_days: 0,
        ..Policy::default()
    })
    .await
    .unwrap();
    put(&s, u, "/f", &vec![1u8; 100_000]).await;
    put(&s, u, "/f", &vec![2u8; 100_000]).await;
    s.remove(u, "/f", false).await.unwrap();
    assert_eq!(s.stats().unwrap().bytes, 0);
    assert!(s.versions(u, "/f").unwrap().is_empty());
    assert!(matches!(
        s.rollback(u, "/f", now()).await,
        Err(StoreError::VersionsOff)
    ));
}

#[tokio::test]
async fn the_guard_trips_on_a_burst_pins_everything_and_one_action_rolls_back() {
    let (_d, s, u) = store();
    let text =
        |i: usize| format!("notes {i}: the quick brown fox jumps over the lazy dog. ").repeat(40);
    for i in 0..300 {
        put(&s, u, &format!("/doc{i}.txt"), text(i).as_bytes()).await;
    }
    let before = tree(&s, "alice", "");
    // Ordinary work does not trip it.
    for i in 0..50 {
        put(&s, u, &format!("/doc{i}.txt"), text(i + 1).as_bytes()).await;
    }
    assert!(s.guard_trips().unwrap().is_empty());
    let clean = tree(&s, "alice", "");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Encryption in place: random content, then a rename to `.locked` (each counts double).
    for i in 0..300 {
        let random: Vec<u8> = (0..4096).map(|_| rand_byte()).collect();
        put_as(&s, u, &format!("/doc{i}.txt"), &random, Some("evil-tablet")).await;
        s.rename(u, &format!("/doc{i}.txt"), &format!("/doc{i}.txt.locked"))
            .await
            .unwrap();
    }
    let trips = s.guard_trips().unwrap();
    assert_eq!(trips.len(), 1, "{trips:?}");
    let trip = &trips[0];
    assert_eq!(trip.user, "alice");
    assert_eq!(trip.device.as_deref(), Some("evil-tablet"));
    assert!(trip.resolved_ns.is_none());
    // Every version is pinned: retention cannot take the originals.
    assert!(s.versions(u, "/doc7.txt").unwrap().iter().all(|v| v.pinned));
    assert_eq!(
        s.expire_versions(now() + 365 * DAY).await.unwrap().versions,
        0
    );
    let report = s.resolve_guard(trip.id, true).await.unwrap().unwrap();
    assert_eq!(report.restored, 300);
    assert_eq!(report.removed, 300);
    assert_eq!(tree(&s, "alice", ""), clean);
    assert_ne!(clean, before);
    let trips = s.guard_trips().unwrap();
    assert_eq!(trips[0].resolution.as_deref(), Some("rolled back"));
    assert!(s
        .versions(u, "/doc7.txt")
        .unwrap()
        .iter()
        .all(|v| !v.pinned));
    assert!(matches!(
        s.resolve_guard(trip.id, false).await,
        Err(StoreError::TripResolved { .. })
    ));
}

fn rand_byte() -> u8 {
    use std::cell::Cell;
    thread_local!(static X: Cell<u64> = const { Cell::new(0x9E3779B97F4A7C15) });
    X.with(|x| {
        let mut v = x.get();
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        x.set(v);
        (v >> 24) as u8
    })
}

#[test]
fn random_content_is_told_from_text_and_unusual_extensions_from_common_ones() {
    let text = b"Dear diary, today the weather was fine. ".repeat(100);
    assert!(!microcloud_store::versions::looks_random(&text));
    let random: Vec<u8> = (0..16384).map(|_| rand_byte()).collect();
    assert!(microcloud_store::versions::looks_random(&random));
}

/// A rollback running while the user writes: every write is acknowledged, the rollback commits
/// as one step between them, and no write is lost: each file written has its new content, or
/// (when the rollback came after it) that content is kept as a version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_while_the_user_writes_loses_no_write() {
    let (_d, s, u) = store();
    s.mkdir(u, "/w").await.unwrap();
    for i in 0..200 {
        put(&s, u, &format!("/w/{i}"), &content(i, 0)).await;
    }
    let t = now();
    std::thread::sleep(std::time::Duration::from_millis(2));
    for i in 0..200 {
        put(&s, u, &format!("/w/{i}"), &content(i, 1)).await;
    }
    let writers: Vec<_> = (0..8)
        .map(|k| {
            let s = s.clone();
            tokio::spawn(async move {
                for i in (k..200).step_by(8) {
                    put(&s, u, &format!("/w/{i}"), &content(i, 2)).await;
                    put(&s, u, &format!("/w/new-{i}"), &content(i, 3)).await;
                }
            })
        })
        .collect();
    let r = s.rollback(u, "/w", t).await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    assert!(r.restored > 0);
    for i in 0..200 {
        for (path, round) in [(format!("/w/{i}"), 2), (format!("/w/new-{i}"), 3)] {
            let want = blake3::hash(&content(i, round)).to_hex().to_string();
            let here = s
                .lookup(u, &path)
                .ok()
                .and_then(|n| n.hash_hex())
                .is_some_and(|h| h == want);
            let kept = s
                .versions(u, &path)
                .unwrap()
                .iter()
                .any(|v| v.blake3 == want);
            assert!(here || kept, "{path}: the write is neither there nor kept");
        }
    }
}
