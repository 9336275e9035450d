//! The uplink end to end against directory destinations (the embedded default): changes reach
//! every destination, durability climbs from local to cloud:all, renames and deletes follow.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use microcloud_remotes::{Remote, RemoteConfig, RemoteKind};
use microcloud_store::{Durability, OpenOptions, Store, UploadOptions, UserId};
use microcloud_uplink::{destinations, Settings, Uplink};
use microcloud_uplink_api::{Client, Notifier, SocketFetcher};

async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) {
    let mut up = s.begin_upload(u, path, UploadOptions::default()).unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    up.commit().await.unwrap();
}

/// Replicas not done, plus journal entries the uplink has not taken in.
fn pending(s: &Store) -> u64 {
    let state = microcloud_uplink_state::UplinkState::open_read_only(s.dir()).unwrap();
    let journal = Store::open_read_only(s.dir())
        .unwrap()
        .changes_after_count(state.cursor().unwrap())
        .unwrap();
    state.pending().unwrap().files + journal
}

/// Waits until nothing is pending and the levels that rose reached the store (they are pushed
/// just after the marks that raise them).
async fn settle(s: &Store) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(s) > 0 || s.stats().unwrap().dirty_bytes > 0 {
        assert!(
            Instant::now() < deadline,
            "uplink did not drain its queue in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The appliance's arrangement inside one test: the uplink gets a store handle of its own, and the
/// test's handle plays the LAN service, which sends change notices and asks for read-through over
/// the uplink's socket.
fn uplink_store(lan: &Store) -> Store {
    let client = Client::new(lan.dir());
    Notifier::spawn(client.clone(), lan.changed());
    lan.set_fetcher(Arc::new(SocketFetcher::new(client)));
    Store::open(lan.dir(), OpenOptions::default()).unwrap()
}

/// A new, empty store in `dir`.
fn new_store(dir: &std::path::Path) -> Store {
    Store::open(
        dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap()
}

/// An uplink running on a store of its own (see [`uplink_store`]) until stopped.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn start(lan: &Store, settings: Settings) -> Running {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(
            Uplink::new(uplink_store(lan), settings)
                .unwrap()
                .run(async {
                    let _ = stopped.await;
                }),
        );
        Running { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }
}

/// Reads evicted `blob` as the LAN service does (streamed), with the stream's outcome.
async fn read_streamed(s: &Store, blob: i64) -> (Vec<u8>, Result<(), String>) {
    let microcloud_store::ReadSource::Streaming(mut fs) = s.open_for_read(blob).await.unwrap()
    else {
        panic!("blob {blob} was not streamed");
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = fs.chunks.recv().await {
        bytes.extend_from_slice(&chunk);
    }
    let outcome = match fs.done.await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the stream's outcome never came".into()),
    };
    (bytes, outcome)
}

fn dir_remote(name: &str, path: &std::path::Path) -> RemoteConfig {
    RemoteConfig {
        name: name.into(),
        kind: RemoteKind::Dir {
            path: path.to_owned(),
        },
    }
}

async fn body(r: &Remote, key: &str) -> Option<Vec<u8>> {
    match r.get(key, None).await {
        Ok(stream) => Some(microcloud_remotes::collect(stream).await.unwrap().to_vec()),
        Err(microcloud_remotes::RemoteError::NotFound { .. }) => None,
        Err(e) => panic!("get {key}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_reach_every_destination_and_follow_renames_and_deletes() {
    let data = tempfile::tempdir().unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    put(
        &store,
        alice,
        "/before.txt",
        b"written before any destination",
    )
    .await;
    destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();

    let settings = Settings {
        multipart_threshold: 1 << 20,
        part_size: 256 << 10,
        ..Settings::default()
    };
    let uplink = Running::start(&store, settings);

    let big: Vec<u8> = (0..(3 << 20) + 12345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    put(&store, alice, "/big.bin", &big).await;
    store.mkdir(alice, "/dir").await.unwrap();
    put(&store, alice, "/dir/a.txt", b"a").await;
    settle(&store).await;

    let r1 = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    assert_eq!(
        body(&r1, "alice/before.txt").await.unwrap(),
        b"written before any destination",
        "backfilled"
    );
    assert_eq!(
        body(&r1, "alice/big.bin").await.unwrap(),
        big,
        "multipart upload"
    );
    let info = r1.head("alice/big.bin").await.unwrap().unwrap();
    assert_eq!(
        info.blake3.as_deref(),
        Some(blake3::hash(&big).to_hex().as_str())
    );
    assert_eq!(
        store.lookup(alice, "/big.bin").unwrap().durability,
        Durability::CloudAll
    );

    // A second destination: everything drops to cloud:1 until it is backfilled.
    destinations::add(&store, dir_remote("two", d2.path()), None, true)
        .await
        .unwrap();
    assert_ne!(
        store.lookup(alice, "/big.bin").unwrap().durability,
        Durability::Local
    );
    settle(&store).await;
    let r2 = Remote::new(dir_remote("two", d2.path()), None).unwrap();
    assert_eq!(body(&r2, "alice/big.bin").await.unwrap(), big);
    assert_eq!(
        store.lookup(alice, "/dir/a.txt").unwrap().durability,
        Durability::CloudAll
    );

    // Renames and deletes reach both.
    store.rename(alice, "/dir", "/moved").await.unwrap();
    store.remove(alice, "/before.txt", false).await.unwrap();
    put(&store, alice, "/big.bin", b"now small").await;
    settle(&store).await;
    for r in [&r1, &r2] {
        assert_eq!(body(r, "alice/moved/a.txt").await.unwrap(), b"a");
        assert!(
            body(r, "alice/dir/a.txt").await.is_none(),
            "old name removed"
        );
        assert!(
            body(r, "alice/before.txt").await.is_none(),
            "deleted file removed"
        );
        assert_eq!(body(r, "alice/big.bin").await.unwrap(), b"now small");
        assert!(
            r.list_multipart("").await.unwrap().is_empty(),
            "no multipart upload left open"
        );
    }
    let status = microcloud_uplink::status::read(store.dir()).unwrap();
    assert_eq!(status.destinations.len(), 2);
    for d in &status.destinations {
        assert_eq!(
            (d.state.as_str(), d.pending_files, d.conflicts),
            ("ok", 0, 0),
            "{d:?}"
        );
    }
    uplink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_changed_behind_our_back_is_kept_and_reported() {
    let data = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let uplink = Running::start(&store, Settings::default());
    put(&store, alice, "/doc.txt", b"version 1").await;
    settle(&store).await;
    // Someone else changes the object in the cloud.
    let r1 = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    let theirs = b"their edit".to_vec();
    r1.put(
        "alice/doc.txt",
        Bytes::from(theirs.clone()),
        &blake3::hash(&theirs).to_hex(),
        &microcloud_remotes::Condition::None,
    )
    .await
    .unwrap();
    // Our next version must not overwrite theirs.
    put(&store, alice, "/doc.txt", b"version 2").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = microcloud_uplink::status::read(store.dir()).unwrap();
        if st.destinations[0].conflicts == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "conflict not detected: {st:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        body(&r1, "alice/doc.txt").await.unwrap(),
        theirs,
        "their version kept in the cloud"
    );
    let local = store.lookup(alice, "/doc.txt").unwrap();
    assert_eq!(
        local.hash.unwrap(),
        *blake3::hash(b"version 2").as_bytes(),
        "ours kept locally"
    );
    assert_ne!(local.durability, Durability::CloudAll);
    uplink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrub_finds_a_deleted_object_and_it_is_uploaded_again() {
    let data = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    let dest = destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let uplink = Running::start(&store, Settings::default());
    for i in 0..5 {
        put(
            &store,
            alice,
            &format!("/f{i}"),
            format!("file {i}").as_bytes(),
        )
        .await;
    }
    settle(&store).await;
    let r1 = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    r1.delete("alice/f3").await.unwrap();
    let report = microcloud_uplink::scrub::scrub(&store, &dest, 1.0)
        .await
        .unwrap();
    assert_eq!(
        (
            report.checked,
            report.read_in_full,
            report.missing,
            report.corrupt,
            report.conflicts
        ),
        (5, 5, 1, 0, 0)
    );
    settle(&store).await;
    assert_eq!(body(&r1, "alice/f3").await.unwrap(), b"file 3", "repaired");
    let again = microcloud_uplink::scrub::scrub(&store, &dest, 1.0)
        .await
        .unwrap();
    assert_eq!((again.missing, again.corrupt), (0, 0));
    uplink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_content_is_read_through_and_verified() {
    let data = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", false)
        .unwrap();
    destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("/f{i}"),
                (0..1_500_000u32)
                    .map(|j| (j * (i + 3) % 253) as u8)
                    .collect(),
            )
        })
        .collect();
    for (p, d) in &files {
        put(&store, alice, p, d).await;
    }
    // Not yet safe anywhere (no uplink runs yet): nothing may be evicted.
    assert_eq!(store.evict(u64::MAX).await.unwrap(), 0);
    let uplink = Running::start(&store, Settings::default());
    settle(&store).await;
    let used = store.used_bytes();
    assert_eq!(store.evict(u64::MAX).await.unwrap(), 3 * 1_500_000);
    assert_eq!(store.used_bytes(), used - 3 * 1_500_000);
    let blob0 = store.lookup(alice, "/f0").unwrap().blob_id.unwrap();
    assert!(matches!(
        store.content(blob0).unwrap(),
        microcloud_store::Content::Evicted { .. }
    ));
    // Read-through brings it back, whole.
    match store.local_content(blob0).await.unwrap() {
        microcloud_store::Content::File(p) => assert_eq!(std::fs::read(p).unwrap(), files[0].1),
        c => panic!("{c:?}"),
    }
    // A damaged cloud copy is refused, never served.
    let blob1 = store.lookup(alice, "/f1").unwrap().blob_id.unwrap();
    std::fs::write(d1.path().join("alice/f1"), vec![0u8; 1_500_000]).unwrap();
    let err = store.local_content(blob1).await.unwrap_err();
    assert!(
        matches!(err, microcloud_store::StoreError::Unavailable { .. }),
        "{err}"
    );
    assert!(matches!(
        store.content(blob1).unwrap(),
        microcloud_store::Content::Evicted { .. }
    ));
    // Streamed over the socket while it is written back: a sound copy arrives whole and ends
    // well; the damaged one (the reader cannot know before the end) ends in an error, whatever
    // part of it was on its way.
    let blob2 = store.lookup(alice, "/f2").unwrap().blob_id.unwrap();
    let (bytes, outcome) = read_streamed(&store, blob2).await;
    assert_eq!(blake3::hash(&bytes), blake3::hash(&files[2].1));
    assert!(outcome.is_ok(), "{outcome:?}");
    assert!(matches!(
        store.content(blob2).unwrap(),
        microcloud_store::Content::File(_)
    ));
    let (bytes, outcome) = read_streamed(&store, blob1).await;
    assert!(bytes.len() <= 1_500_000);
    assert!(outcome.is_err(), "a damaged copy ended as if complete");
    assert!(matches!(
        store.content(blob1).unwrap(),
        microcloud_store::Content::Evicted { .. }
    ));
    uplink.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blank_box_is_restored_from_the_destination_alone() {
    let data = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", true)
        .unwrap();
    let bob = store
        .add_user("bob", "$argon2id$placeholder", false)
        .unwrap();
    let dest = destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let uplink = Running::start(&store, Settings::default());
    store.mkdir(alice, "/a").await.unwrap();
    store.mkdir(alice, "/a/b").await.unwrap();
    let mut files = Vec::new();
    for (u, p, len) in [
        (alice, "/a/b/deep.bin", 200_000usize),
        (alice, "/top.txt", 10),
        (bob, "/bob file.txt", 70_000),
    ] {
        let d: Vec<u8> = (0..len).map(|i| (i * 31 % 255) as u8).collect();
        put(&store, u, p, &d).await;
        files.push((u, p, d));
    }
    store.mkdir(alice, "/empty").await.unwrap();
    settle(&store).await;
    let remote = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    microcloud_uplink::manifest::publish(&store, &dest, &remote)
        .await
        .unwrap();
    uplink.stop().await;

    // A blank box.
    let data2 = tempfile::tempdir().unwrap();
    let store2 = new_store(data2.path());
    let dest2 = destinations::add(&store2, dir_remote("one", d1.path()), None, false)
        .await
        .unwrap();
    let report = microcloud_uplink::manifest::restore(&store2, &dest2)
        .await
        .unwrap();
    assert!(report.from_manifest);
    assert_eq!((report.files, report.users.len()), (3, 2));
    let uplink = Running::start(&store2, Settings::default());
    assert!(store2.user("alice").unwrap().unwrap().admin);
    assert!(
        store2
            .lookup(store2.user("alice").unwrap().unwrap().id, "/empty")
            .unwrap()
            .is_dir
    );
    for (u, p, d) in &files {
        let name = if *u == alice { "alice" } else { "bob" };
        let uid = store2.user(name).unwrap().unwrap().id;
        let node = store2.lookup(uid, p).unwrap();
        assert_eq!(node.durability, Durability::CloudAll, "{p}");
        let got = match store2.local_content(node.blob_id.unwrap()).await.unwrap() {
            microcloud_store::Content::File(f) => std::fs::read(f).unwrap(),
            microcloud_store::Content::Inline(b) => b.to_vec(),
            c => panic!("{c:?}"),
        };
        assert_eq!(&got, d, "{p} restored");
    }
    // Nothing is uploaded again.
    assert_eq!(pending(&store2), 0);
    uplink.stop().await;
}

/// Restore reconciles the manifest with the bucket: objects uploaded or changed after the
/// manifest was written are placed from their own metadata, keys the manifest lists that the
/// bucket lost are reported, and objects that fit no namespace (no user, a user name microcloud
/// refuses, a path taken by a folder) are skipped with why, never fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_places_what_the_manifest_missed_and_reports_what_it_cannot() {
    let d1 = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", true)
        .unwrap();
    let dest = destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let uplink = Running::start(&store, Settings::default());
    store.mkdir(alice, "/docs").await.unwrap();
    store.mkdir(alice, "/empty").await.unwrap();
    for (p, d) in [
        ("/docs/kept.txt", &b"kept"[..]),
        ("/docs/changed.txt", b"old"),
        ("/docs/lost.txt", b"lost"),
    ] {
        put(&store, alice, p, d).await;
    }
    settle(&store).await;
    let remote = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    microcloud_uplink::manifest::publish(&store, &dest, &remote)
        .await
        .unwrap();
    uplink.stop().await;
    // After the manifest: the box uploaded a new file, changed one, and one object was lost;
    // other tools left objects of their own.
    let write = |key: &'static str, data: &'static [u8]| {
        let remote = &remote;
        async move {
            let hex = blake3::hash(data).to_hex();
            remote
                .put(
                    key,
                    Bytes::from_static(data),
                    &hex,
                    &microcloud_remotes::Condition::None,
                )
                .await
                .unwrap();
        }
    };
    write("alice/docs/late.txt", b"uploaded after the manifest").await;
    write("alice/docs/changed.txt", b"new content").await;
    write("bob/fresh.txt", b"a user the manifest did not know").await;
    write("loose.txt", b"no user").await;
    write("Not A User!/x.txt", b"refused name").await;
    write("alice/empty", b"a file where a folder is").await;
    remote.delete("alice/docs/lost.txt").await.unwrap();

    let data2 = tempfile::tempdir().unwrap();
    let store2 = new_store(data2.path());
    let dest2 = destinations::add(&store2, dir_remote("one", d1.path()), None, false)
        .await
        .unwrap();
    let report = microcloud_uplink::manifest::restore(&store2, &dest2)
        .await
        .unwrap();
    assert!(report.from_manifest);
    assert_eq!((report.files, report.from_listing), (4, 3), "{report:?}");
    assert_eq!(report.missing, vec!["alice/docs/lost.txt".to_owned()]);
    assert_eq!(report.skipped.len(), 3, "{report:?}");
    for (key, why) in [
        ("loose.txt", "not under a user"),
        ("Not A User!/x.txt", "not a user name"),
        ("alice/empty", "clashes"),
    ] {
        assert!(
            report
                .skipped
                .iter()
                .any(|s| s.starts_with(key) && s.contains(why)),
            "{key}: {report:?}"
        );
    }
    let hash_at = |user: &str, path: &str| {
        let uid = store2.user(user).unwrap().unwrap().id;
        store2.lookup(uid, path).unwrap().hash.unwrap()
    };
    for (user, path, data) in [
        ("alice", "/docs/kept.txt", &b"kept"[..]),
        ("alice", "/docs/changed.txt", b"new content"),
        ("alice", "/docs/late.txt", b"uploaded after the manifest"),
        ("bob", "/fresh.txt", b"a user the manifest did not know"),
    ] {
        assert_eq!(
            hash_at(user, path),
            *blake3::hash(data).as_bytes(),
            "{user}{path}"
        );
    }
    assert!(!store2.user("bob").unwrap().unwrap().admin);
    let uid = store2.user("alice").unwrap().unwrap().id;
    assert!(store2.lookup(uid, "/docs/lost.txt").is_err());
    // What was placed is recorded as held: nothing is uploaded again.
    let uplink = Running::start(&store2, Settings::default());
    settle(&store2).await;
    assert_eq!(pending(&store2), 0);
    uplink.stop().await;
}

/// The whole manifest read back from `d` (its generation left out, entries in path order).
async fn merged(remote: &Remote) -> microcloud_uplink::manifest::Manifest {
    let mut m = microcloud_uplink::manifest::fetch(remote)
        .await
        .unwrap()
        .expect("a manifest");
    m.generation = None;
    m.sort();
    m
}

/// After the first whole manifest, `flush` writes a small delta instead; the whole manifest
/// amended by it says, entry for entry, what a whole one built now says, through every kind of
/// change: new files and folders, overwrites and deletes (versions), a file and a folder tree
/// moved, an empty folder removed, another user. A later delta replaces the earlier one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_amends_the_whole_manifest_to_what_a_whole_one_says() {
    let data = tempfile::tempdir().unwrap();
    let d1 = tempfile::tempdir().unwrap();
    let store = new_store(data.path());
    let alice = store
        .add_user("alice", "$argon2id$placeholder", true)
        .unwrap();
    let dest = destinations::add(&store, dir_remote("one", d1.path()), None, true)
        .await
        .unwrap();
    let settings = Settings {
        manifest_interval: Duration::from_secs(3600),
        ..Settings::default()
    };
    let uplink = Running::start(&store, settings);
    let client = Client::new(store.dir());
    let remote = Remote::new(dir_remote("one", d1.path()), None).unwrap();
    let bytes =
        |i: usize, len: usize| -> Vec<u8> { (0..len).map(|j| ((i * 7 + j) % 251) as u8).collect() };
    for d in ["/a", "/a/b", "/a/b/c", "/gone", "/keep"] {
        store.mkdir(alice, d).await.unwrap();
    }
    // Files no later change touches: the delta does not grow with them.
    store.mkdir(alice, "/bulk").await.unwrap();
    for i in 0..200 {
        put(&store, alice, &format!("/bulk/{i}.txt"), &bytes(i, 10)).await;
    }
    for (i, p) in [
        "/a/b/one.txt",
        "/a/b/c/two.txt",
        "/top.txt",
        "/moved.txt",
        "/del.txt",
    ]
    .iter()
    .enumerate()
    {
        put(&store, alice, p, &bytes(i, 1_000 + i)).await;
    }
    settle(&store).await;
    client.publish_manifests().await.unwrap();
    let whole = body(&remote, microcloud_uplink::manifest::MANIFEST_KEY)
        .await
        .unwrap();
    assert!(body(&remote, microcloud_uplink::manifest::DELTA_KEY)
        .await
        .is_none());
    assert_eq!(
        merged(&remote).await,
        microcloud_uplink::manifest::build(&store, dest.id).unwrap()
    );

    // Every kind of change, then a flush.
    let bob = store
        .add_user("bob", "$argon2id$placeholder", false)
        .unwrap();
    put(&store, bob, "/bob.txt", &bytes(9, 500)).await;
    put(&store, alice, "/top.txt", &bytes(10, 2_000)).await; // overwritten: a version
    store.remove(alice, "/del.txt", false).await.unwrap(); // deleted: a version
    store
        .rename(alice, "/moved.txt", "/keep/moved.txt")
        .await
        .unwrap();
    store.rename(alice, "/a/b", "/keep/b").await.unwrap(); // a tree moves
    store.remove(alice, "/gone", true).await.unwrap();
    store.mkdir(alice, "/new").await.unwrap();
    store.mkdir(alice, "/new/deep").await.unwrap();
    put(&store, alice, "/new/deep/n.txt", &bytes(11, 300)).await;
    settle(&store).await;
    client.publish_manifests().await.unwrap();
    assert_eq!(
        body(&remote, microcloud_uplink::manifest::MANIFEST_KEY)
            .await
            .unwrap(),
        whole,
        "the whole manifest is left as it was"
    );
    let delta = body(&remote, microcloud_uplink::manifest::DELTA_KEY)
        .await
        .unwrap();
    assert!(
        delta.len() < whole.len() / 4,
        "delta {} bytes, whole {}",
        delta.len(),
        whole.len()
    );
    let now = microcloud_uplink::manifest::build(&store, dest.id).unwrap();
    // An overwrite, a delete, and a move per file moved (three).
    assert_eq!(now.versions.len(), 5, "{:?}", now.versions);
    assert!(now.files.iter().any(|f| f.path == "keep/b/c/two.txt"));
    assert_eq!(merged(&remote).await, now);

    // More changes: the next delta still covers everything since the whole manifest.
    store.rename(alice, "/keep/b", "/a/b2").await.unwrap();
    store.remove(bob, "/bob.txt", false).await.unwrap();
    store.remove(alice, "/new/deep/n.txt", false).await.unwrap();
    store.remove(alice, "/new/deep", true).await.unwrap();
    settle(&store).await;
    client.publish_manifests().await.unwrap();
    assert_eq!(
        body(&remote, microcloud_uplink::manifest::MANIFEST_KEY)
            .await
            .unwrap(),
        whole
    );
    let now = microcloud_uplink::manifest::build(&store, dest.id).unwrap();
    assert!(now.files.iter().any(|f| f.path == "a/b2/c/two.txt"));
    assert!(!now.dirs.iter().any(|d| d.path == "new/deep"));
    assert_eq!(merged(&remote).await, now);
    uplink.stop().await;
}
