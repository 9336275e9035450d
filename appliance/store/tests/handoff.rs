//! Workspaces, event streams, the inbox and hand-offs, on the store alone.

use microcloud_store::namespace::{ListQuery, Sort};
use microcloud_store::{ChangeKind, HandoffMode, InboxState, Sending, Store, StoreError, UserId};
use serde_json::json;

mod common;
use common::{put, read, store};

const DAY: i64 = 86_400 * 1_000_000_000;

struct Box {
    _dir: tempfile::TempDir,
    s: Store,
    ann: UserId,
    bob: UserId,
}

fn open() -> Box {
    let (dir, s, _alice) = store();
    let ann = s.add_user("ann", "$argon2id$placeholder", false).unwrap();
    let bob = s.add_user("bob", "$argon2id$placeholder", false).unwrap();
    s.add_device("ann", "tablet-1", [1; 32]).unwrap();
    s.add_device("ann", "tablet-2", [2; 32]).unwrap();
    Box {
        _dir: dir,
        s,
        ann,
        bob,
    }
}

fn to_person<'a>(from: UserId, to: &'a str, path: &'a str, mode: HandoffMode) -> Sending<'a> {
    Sending {
        from,
        from_device: Some("tablet-1"),
        to_user: to,
        to_device: None,
        path: Some(path),
        view: None,
        mode,
    }
}

async fn folder(b: &Box) {
    b.s.mkdir(b.ann, "/Project").await.unwrap();
    b.s.mkdir(b.ann, "/Project/sub").await.unwrap();
    put(&b.s, b.ann, "/Project/a.txt", b"alpha").await;
    put(&b.s, b.ann, "/Project/sub/b.bin", &vec![7u8; 300_000]).await;
}

#[tokio::test]
async fn a_workspace_write_names_its_version_and_every_device_hears_it_once() {
    let b = open();
    let ws = b.s.workspace(b.ann).unwrap();
    assert_eq!(ws.version, 0);
    let start = b.s.poll_events().unwrap();
    let doc =
        json!({"items": [{"path": "/r.pdf", "kind": "pdf", "view": {"page": 7}}], "front": 0});
    let w1 =
        b.s.put_workspace(b.ann, 0, &doc, Some("tablet-1"))
            .await
            .unwrap();
    assert_eq!(w1.version, 1);
    assert_eq!(w1.device.as_deref(), Some("tablet-1"));
    // A write based on version 0 again is stale: nothing changes.
    match b
        .s
        .put_workspace(b.ann, 0, &json!({}), Some("tablet-2"))
        .await
    {
        Err(StoreError::StaleWorkspace {
            based_on: 0,
            current: 1,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(b.s.workspace(b.ann).unwrap(), w1);
    // Too big a document is refused whole.
    let huge = json!({"items": ["x".repeat(70_000)]});
    assert!(matches!(
        b.s.put_workspace(b.ann, 1, &huge, None).await,
        Err(StoreError::BadWorkspace { .. })
    ));
    for v in 1..=5 {
        b.s.put_workspace(b.ann, v, &json!({"items": [], "front": v}), None)
            .await
            .unwrap();
    }
    // Every event after the one a device saw, in order, whatever page size it reads with.
    let all = b.s.events_after(b.ann, None, start, 100).unwrap();
    assert!(!all.reset);
    assert_eq!(all.events.len(), 6);
    assert!(all.events.windows(2).all(|w| w[0].id < w[1].id));
    let mut seen = vec![];
    let mut after = start;
    loop {
        let page = b.s.events_after(b.ann, None, after, 4).unwrap();
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.id;
        seen.extend(page.events.iter().map(|e| e.id));
    }
    assert_eq!(seen, all.events.iter().map(|e| e.id).collect::<Vec<_>>());
    // bob hears none of ann's.
    assert!(b
        .s
        .events_after(b.bob, None, start, 100)
        .unwrap()
        .events
        .is_empty());
    assert_eq!(*b.s.event_watch().borrow(), all.events.last().unwrap().id);
    // Pruned events make a device that missed them reload instead of silently skipping.
    let pruned = b.s.prune_events(super_now() + 11 * DAY).await.unwrap();
    assert_eq!(pruned, 6);
    assert!(b.s.events_after(b.ann, None, start, 100).unwrap().reset);
    assert!(!b.s.events_after(b.ann, None, after, 100).unwrap().reset);
}

fn super_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::test]
async fn a_send_to_a_device_waits_until_it_is_opened_and_expires_after_ten_days() {
    let b = open();
    put(&b.s, b.ann, "/v.mp4", b"video").await;
    let send = |dev: &'static str| Sending {
        from: b.ann,
        from_device: Some("tablet-1"),
        to_user: "ann",
        to_device: Some(dev),
        path: Some("/v.mp4"),
        view: Some(json!({"time": 42.5})),
        mode: HandoffMode::Open,
    };
    let e = b.s.send(send("tablet-2")).await.unwrap();
    assert_eq!(e.state, InboxState::Pending);
    assert_eq!(e.view, Some(json!({"time": 42.5})));
    assert_eq!(e.to_device.as_deref(), Some("tablet-2"));
    // To the device one is on, or to one that does not exist: refused, nothing stored.
    assert!(matches!(
        b.s.send(send("tablet-1")).await,
        Err(StoreError::BadHandoff(_))
    ));
    assert!(matches!(
        b.s.send(send("nope")).await,
        Err(StoreError::NoSuchDevice { .. })
    ));
    let devs = b.s.devices(Some("ann")).unwrap();
    let t2 = devs.iter().find(|d| d.name == "tablet-2").unwrap().id;
    let t1 = devs.iter().find(|d| d.name == "tablet-1").unwrap().id;
    assert_eq!(b.s.inbox(b.ann, Some(t2)).unwrap().received.len(), 1);
    assert!(b.s.inbox(b.ann, Some(t1)).unwrap().received.is_empty());
    // bob cannot see, accept or decline it.
    assert!(matches!(
        b.s.accept(b.bob, e.id, "/").await,
        Err(StoreError::NoSuchEntry { .. })
    ));
    assert!(matches!(
        b.s.decline(b.bob, e.id).await,
        Err(StoreError::NoSuchEntry { .. })
    ));
    let opened = b.s.accept(b.ann, e.id, "/").await.unwrap();
    assert_eq!(opened.state, InboxState::Opened);
    assert!(matches!(
        b.s.accept(b.ann, e.id, "/").await,
        Err(StoreError::EntryDecided {
            state: "opened",
            ..
        })
    ));
    // One more, never opened: expired after 10 days, not before.
    let e2 = b.s.send(send("tablet-2")).await.unwrap();
    assert_eq!(b.s.expire_inbox(super_now() + 9 * DAY).await.unwrap(), 0);
    assert_eq!(
        b.s.expire_inbox(super_now() + 10 * DAY + 1).await.unwrap(),
        1
    );
    assert_eq!(
        b.s.inbox_entry(b.ann, e2.id).unwrap().state,
        InboxState::Expired
    );
}

#[tokio::test]
async fn a_copy_for_another_person_shares_the_content_and_leaves_the_senders_alone() {
    let b = open();
    folder(&b).await;
    let bytes_before = b.s.stats().unwrap().bytes;
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project", HandoffMode::Copy))
            .await
            .unwrap();
    assert_eq!((e.kind.as_str(), e.files, e.size), ("folder", 2, 300_005));
    // bob already has a /Project: his is never replaced.
    b.s.mkdir(b.bob, "/Project").await.unwrap();
    let from = b.s.poll_events().unwrap();
    let done = b.s.accept(b.bob, e.id, "/").await.unwrap();
    assert_eq!(done.state, InboxState::Accepted);
    assert_eq!(done.result_path.as_deref(), Some("/Project (2)"));
    assert_eq!(read(&b.s, b.bob, "/Project (2)/a.txt"), b"alpha");
    assert_eq!(
        read(&b.s, b.bob, "/Project (2)/sub/b.bin"),
        vec![7u8; 300_000]
    );
    assert_eq!(read(&b.s, b.ann, "/Project/a.txt"), b"alpha");
    assert!(b.s.list(b.bob, "/Project").unwrap().is_empty());
    assert_eq!(
        b.s.stats().unwrap().bytes,
        bytes_before,
        "no content copied"
    );
    // Both sides heard it.
    for u in [b.ann, b.bob] {
        let ev = b.s.events_after(u, None, from, 10).unwrap().events;
        assert!(ev
            .iter()
            .any(|e| e.kind == "inbox" && e.data.contains("\"accepted\"")));
    }
    // The journal tells the uplink about bob's new files.
    let changes = b.s.changes_after(0, 10_000).unwrap();
    assert!(changes.iter().any(|c| c.user == "bob"
        && c.kind == ChangeKind::Put
        && c.path == "Project (2)/sub/b.bin"));
}

#[tokio::test]
async fn a_transfer_of_ownership_leaves_exactly_one_owner() {
    let b = open();
    folder(&b).await;
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project", HandoffMode::Move))
            .await
            .unwrap();
    // Until bob accepts, ann has it.
    assert_eq!(read(&b.s, b.ann, "/Project/a.txt"), b"alpha");
    let done = b.s.accept(b.bob, e.id, "/").await.unwrap();
    assert_eq!(done.result_path.as_deref(), Some("/Project"));
    assert!(matches!(
        b.s.lookup(b.ann, "/Project"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(read(&b.s, b.bob, "/Project/sub/b.bin"), vec![7u8; 300_000]);
    // ann keeps no version of what she gave away: her trash cannot make a second owner.
    assert!(b.s.trash(b.ann, "/").unwrap().is_empty());
    let changes = b.s.changes_after(0, 10_000).unwrap();
    assert!(changes
        .iter()
        .any(|c| c.user == "ann" && c.kind == ChangeKind::Delete && c.path == "Project/sub/b.bin"));
    assert!(changes
        .iter()
        .any(|c| c.user == "bob" && c.kind == ChangeKind::Put && c.path == "Project/sub/b.bin"));
    // bob's new files are his to change: an overwrite keeps a version in his space.
    put(&b.s, b.bob, "/Project/a.txt", b"beta").await;
    assert_eq!(b.s.versions(b.bob, "/Project/a.txt").unwrap().len(), 1);
}

#[tokio::test]
async fn bad_hand_offs_are_refused_and_change_nothing() {
    let b = open();
    folder(&b).await;
    let refuse = |r: Result<_, StoreError>| match r {
        Err(e) => e,
        Ok(e) => panic!("accepted: {e:?}"),
    };
    assert!(matches!(
        refuse(
            b.s.send(to_person(b.ann, "ann", "/Project", HandoffMode::Copy))
                .await
        ),
        StoreError::BadHandoff(_)
    ));
    assert!(matches!(
        refuse(
            b.s.send(to_person(b.ann, "zed", "/Project", HandoffMode::Copy))
                .await
        ),
        StoreError::NoSuchUser { .. }
    ));
    assert!(matches!(
        refuse(
            b.s.send(to_person(b.ann, "bob", "/nope", HandoffMode::Copy))
                .await
        ),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        refuse(
            b.s.send(to_person(b.ann, "bob", "/", HandoffMode::Move))
                .await
        ),
        StoreError::BadHandoff(_)
    ));
    assert!(refuse(
        b.s.send(to_person(b.ann, "bob", "/../etc", HandoffMode::Copy))
            .await
    )
    .to_string()
    .contains(".."));
    assert!(b.s.inbox(b.ann, None).unwrap().sent.is_empty());
    // Deleted since it was sent: gone, and bob gets nothing.
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project/a.txt", HandoffMode::Copy))
            .await
            .unwrap();
    b.s.remove(b.ann, "/Project/a.txt", false).await.unwrap();
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/").await),
        StoreError::EntryGone { .. }
    ));
    assert_eq!(
        b.s.inbox_entry(b.bob, e.id).unwrap().state,
        InboxState::Gone
    );
    assert!(b.s.list(b.bob, "/").unwrap().is_empty());
    // Replaced by another file of the same name: gone too (it is not what was sent).
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project/sub", HandoffMode::Move))
            .await
            .unwrap();
    b.s.rename(b.ann, "/Project/sub", "/Project/old")
        .await
        .unwrap();
    b.s.mkdir(b.ann, "/Project/sub").await.unwrap();
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/").await),
        StoreError::EntryGone { .. }
    ));
    assert_eq!(read(&b.s, b.ann, "/Project/old/b.bin").len(), 300_000);
    // Over bob's space: refused whole, still pending, nothing moved.
    b.s.set_user_space("bob", Some(100_000)).await.unwrap();
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project", HandoffMode::Move))
            .await
            .unwrap();
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/").await),
        StoreError::OverSpace {
            needed: 300_000,
            limit: 100_000,
            ..
        }
    ));
    assert_eq!(
        b.s.inbox_entry(b.bob, e.id).unwrap().state,
        InboxState::Pending
    );
    assert_eq!(read(&b.s, b.ann, "/Project/old/b.bin").len(), 300_000);
    assert!(b.s.list(b.bob, "/").unwrap().is_empty());
    // Declined: nothing moves, and it cannot be accepted after.
    b.s.decline(b.bob, e.id).await.unwrap();
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/").await),
        StoreError::EntryDecided {
            state: "declined",
            ..
        }
    ));
    // Into a folder bob does not have, or a file.
    b.s.set_user_space("bob", None).await.unwrap();
    put(&b.s, b.bob, "/f", b"x").await;
    let e =
        b.s.send(to_person(b.ann, "bob", "/Project", HandoffMode::Copy))
            .await
            .unwrap();
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/nope").await),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        refuse(b.s.accept(b.bob, e.id, "/f").await),
        StoreError::NotDir { .. }
    ));
    assert_eq!(
        b.s.accept(b.bob, e.id, "/").await.unwrap().state,
        InboxState::Accepted
    );
}

#[tokio::test]
async fn a_folder_page_is_sorted_searched_and_counted() {
    let b = open();
    b.s.mkdir(b.ann, "/big").await.unwrap();
    b.s.mkdir(b.ann, "/big/zdir").await.unwrap();
    for i in 0..50u32 {
        put(
            &b.s,
            b.ann,
            &format!("/big/f{i:03}.txt"),
            &vec![b'x'; i as usize],
        )
        .await;
    }
    let page = |q: ListQuery| b.s.list_page(b.ann, "/big", &q).unwrap();
    let (total, first) = page(ListQuery {
        limit: 10,
        ..Default::default()
    });
    assert_eq!(total, 51);
    assert_eq!(first[0].name, "zdir", "folders first");
    assert_eq!(first[1].name, "f000.txt");
    let (_, by_size) = page(ListQuery {
        sort: Sort::Size,
        desc: true,
        offset: 1,
        limit: 3,
        ..Default::default()
    });
    assert_eq!(
        by_size.iter().map(|n| n.size).collect::<Vec<_>>(),
        vec![49, 48, 47]
    );
    let (n, found) = page(ListQuery {
        search: Some("F04".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(n, 10);
    assert!(found.iter().all(|f| f.name.starts_with("f04")));
    let (_, past) = page(ListQuery {
        offset: 60,
        limit: 10,
        ..Default::default()
    });
    assert!(past.is_empty());
}

#[tokio::test]
async fn a_workspace_handed_to_a_person_brings_the_files_it_had_open() {
    let b = open();
    folder(&b).await;
    let doc = json!({"items": [
        {"path": "/Project/a.txt", "kind": "text", "view": {"scroll": 0.5}},
        {"path": "/Project/sub", "kind": "folder"},
        {"path": "/deleted.pdf", "kind": "pdf"},
        {"path": "/Project/a.txt", "kind": "text"},
    ], "front": 0});
    b.s.put_workspace(b.ann, 0, &doc, Some("tablet-1"))
        .await
        .unwrap();
    let e =
        b.s.send(Sending {
            path: None,
            ..to_person(b.ann, "bob", "/", HandoffMode::Copy)
        })
        .await
        .unwrap();
    assert_eq!(
        (e.kind.as_str(), e.name.as_str()),
        ("workspace", "ann's workspace")
    );
    assert_eq!(e.workspace, Some(doc));
    let done = b.s.accept(b.bob, e.id, "/").await.unwrap();
    assert_eq!(done.result_path.as_deref(), Some("/ann's workspace"));
    assert_eq!(read(&b.s, b.bob, "/ann's workspace/a.txt"), b"alpha");
    assert_eq!(
        read(&b.s, b.bob, "/ann's workspace/sub/b.bin"),
        vec![7u8; 300_000]
    );
    assert_eq!(b.s.list(b.bob, "/ann's workspace").unwrap().len(), 2);
    assert_eq!(
        read(&b.s, b.ann, "/Project/a.txt"),
        b"alpha",
        "ann keeps hers"
    );
}
