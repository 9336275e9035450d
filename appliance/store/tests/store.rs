//! The store's own contract, without HTTP: namespace changes, content, totals, and cleanup.

use bytes::Bytes;
use microcloud_store::{Content, OpenOptions, Store, StoreError, UploadOptions};

mod common;
use common::{put, store};

#[tokio::test]
async fn small_content_lives_in_the_catalog_and_large_in_files() {
    let (dir, s, u) = store();
    let small = put(&s, u, "/small", b"hello").await;
    let large = put(&s, u, "/large", &vec![7u8; 2 << 20]).await;
    assert_eq!(small.hash.unwrap(), *blake3::hash(b"hello").as_bytes());
    assert_eq!(
        large.hash.unwrap(),
        *blake3::hash(&vec![7u8; 2 << 20]).as_bytes()
    );
    assert!(
        matches!(s.content(small.blob_id.unwrap()).unwrap(), Content::Inline(b) if b.as_ref() == b"hello")
    );
    match s.content(large.blob_id.unwrap()).unwrap() {
        Content::File(p) => assert_eq!(std::fs::read(p).unwrap().len(), 2 << 20),
        c => panic!("large content inline: {c:?}"),
    }
    let st = s.stats().unwrap();
    assert_eq!(
        (st.files, st.bytes, st.dirty_bytes),
        (2, 5 + (2 << 20), 5 + (2 << 20))
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn copy_shares_content_and_the_last_delete_frees_it() {
    let (_dir, s, u) = store();
    let a = put(&s, u, "/a", &vec![1u8; 1 << 20]).await;
    s.copy_file(u, "/a", "/b").await.unwrap();
    assert_eq!(s.lookup(u, "/b").unwrap().blob_id, a.blob_id);
    assert_eq!(s.stats().unwrap().bytes, 1 << 20, "a copy adds no bytes");
    let path = s.blob_path(a.blob_id.unwrap());
    s.remove(u, "/a", false).await.unwrap();
    assert!(path.exists(), "still referenced by /b");
    s.remove(u, "/b", false).await.unwrap();
    assert!(path.exists(), "kept for the versions of /a and /b");
    assert_eq!(s.stats().unwrap().bytes, 1 << 20);
    // Once their retention ends, the content goes.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(31 * 86_400);
    let later = later
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert_eq!(s.expire_versions(later).await.unwrap().versions, 2);
    assert!(!path.exists(), "unreferenced blob removed");
    assert_eq!(s.stats().unwrap().bytes, 0);
}

#[tokio::test]
async fn namespace_rules() {
    let (_dir, s, u) = store();
    s.mkdir(u, "/d").await.unwrap();
    s.mkdir(u, "/d/e").await.unwrap();
    assert!(matches!(
        s.mkdir(u, "/d").await,
        Err(StoreError::Exists { .. })
    ));
    assert!(matches!(
        s.mkdir(u, "/missing/x").await,
        Err(StoreError::NoParent { .. })
    ));
    assert!(matches!(
        s.rename(u, "/d", "/d/e/inside").await,
        Err(StoreError::IntoItself { .. })
    ));
    assert!(matches!(
        s.remove(u, "/d", true).await,
        Err(StoreError::NotEmpty { .. })
    ));
    put(&s, u, "/d/e/f", b"x").await;
    s.rename(u, "/d", "/moved").await.unwrap();
    assert_eq!(s.lookup(u, "/moved/e/f").unwrap().size, 1);
    assert!(matches!(
        s.lookup(u, "/d/e/f"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.begin_upload(u, "/moved/e", UploadOptions::default()),
        Err(StoreError::IsDir { .. })
    ));
    assert!(matches!(
        s.lookup(u, "/a/../b"),
        Err(StoreError::InvalidName { .. })
    ));
    // A second user does not see the first's files.
    let bob = s.add_user("bob", "$argon2id$placeholder", false).unwrap();
    assert!(s.list(bob, "/").unwrap().is_empty());
    assert!(matches!(
        s.add_user("bob", "h", false),
        Err(StoreError::UserExists { .. })
    ));
}

#[tokio::test]
async fn an_abandoned_upload_leaves_nothing() {
    let (dir, s, u) = store();
    let mut up = s.begin_upload(u, "/cut", UploadOptions::default()).unwrap();
    up.write(Bytes::from(vec![0u8; 3 << 20])).await.unwrap();
    drop(up);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(matches!(
        s.lookup(u, "/cut"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))
            .unwrap()
            .count(),
        0
    );
    // The reservation was returned: a bound of exactly 1 MiB still takes 1 MiB.
    drop(s);
    let s = Store::open(
        dir.path(),
        OpenOptions {
            create: false,
            cache_limit: Some(1 << 20),
        },
    )
    .unwrap();
    put(&s, u, "/fits", &vec![0u8; 1 << 20]).await;
    assert!(matches!(
        s.begin_upload(
            u,
            "/too-much",
            UploadOptions {
                expected_size: Some(1),
                ..Default::default()
            }
        ),
        Err(StoreError::Full { .. })
    ));
}

#[tokio::test]
async fn writers_are_slowed_down_near_the_bound_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        dir.path(),
        OpenOptions {
            create: true,
            cache_limit: Some(10 << 20),
        },
    )
    .unwrap();
    let u = s.add_user("alice", "$argon2id$placeholder", false).unwrap();
    // Below 90% of the bound: no pause.
    put(&s, u, "/a", &vec![1u8; 8 << 20]).await;
    assert_eq!(s.throttling().0, 0);
    // Between 90% and the bound: the writer is paused, and still succeeds.
    put(&s, u, "/b", &vec![2u8; 1 << 20]).await;
    put(&s, u, "/c", &vec![3u8; 512 << 10]).await;
    let (writes, pause) = s.throttling();
    assert!(
        writes > 0 && pause > std::time::Duration::ZERO,
        "no throttling near the bound"
    );
    // Past the bound: refused, and the refused upload leaves the totals as they were.
    let before = s.stats().unwrap();
    let mut up = s.begin_upload(u, "/d", UploadOptions::default()).unwrap();
    let mut refused = false;
    for _ in 0..8 {
        if let Err(e) = up.write(Bytes::from(vec![4u8; 256 << 10])).await {
            assert!(matches!(e, StoreError::Full { .. }), "{e}");
            refused = true;
            break;
        }
    }
    assert!(refused, "writes past the bound were accepted");
    drop(up);
    let after = s.stats().unwrap();
    assert_eq!((before.files, before.bytes), (after.files, after.bytes));
}

#[tokio::test]
async fn every_namespace_change_is_journaled_in_order() {
    let (_dir, s, u) = store();
    put(&s, u, "/a", b"1").await;
    s.mkdir(u, "/d").await.unwrap();
    s.rename(u, "/a", "/d/b").await.unwrap();
    s.copy_file(u, "/d/b", "/c").await.unwrap();
    s.remove(u, "/c", false).await.unwrap();
    s.rename(u, "/d", "/e").await.unwrap();
    let journal: Vec<(String, String, Option<String>)> = s
        .changes_after(0, 100)
        .unwrap()
        .into_iter()
        .map(|c| (c.kind.as_str().to_owned(), c.path, c.to_path))
        .collect();
    let expect = [
        ("put", "a", None),
        ("mkdir", "d", None),
        ("rename", "a", Some("d/b")),
        ("put", "c", None),
        // The deleted content stays as a version: the clouds must keep it too.
        ("version", "c", None),
        ("delete", "c", None),
        ("rename", "d", Some("e")),
    ];
    let got: Vec<(&str, &str, Option<&str>)> = journal
        .iter()
        .map(|(k, p, t)| (k.as_str(), p.as_str(), t.as_deref()))
        .collect();
    assert_eq!(got, expect);
}

/// A box's first boot: the gateway and the uplink open the same blank data directory at the same
/// moment. Every opener succeeds and the catalog is made once.
#[test]
fn a_blank_catalog_opened_by_several_at_once_is_made_once() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, barrier) = (dir.path().to_owned(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(
                        &path,
                        OpenOptions {
                            create: true,
                            cache_limit: None,
                        },
                    )
                    .map(|_| ())
                    .map_err(|e| e.to_string())
                })
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
        let s = Store::open(dir.path(), OpenOptions::default()).unwrap();
        assert_eq!(s.stats().unwrap().files, 0);
    }
}
