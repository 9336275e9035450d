//! Versions in the clouds, against a real Garage: the uplink never removes an object that a kept
//! version still needs. Overwrites and deletes keep the old content under
//! `.microcloud/versions/<user>/<blake3>`, content evicted from the box is copied server-side from
//! the live object before that is replaced, expiry removes the version objects (never pinned
//! ones), and a blank box restored from the bucket gets its versions back.
//!
//! (These live in the uplink's own tests rather than in `tests/tests/`: they run the uplink in
//! process, and the tests crate does not depend on it.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use microcloud_remotes::{Credentials, Remote, RemoteConfig, RemoteKind};
use microcloud_store::{Content, Durability, OpenOptions, Store, UploadOptions, UserId};
use microcloud_tests::garage::Garage;
use microcloud_uplink::{destinations, Settings, Uplink};
use microcloud_uplink_api::{Client, Notifier, SocketFetcher};
use microcloud_uplink_state::{version_key, UplinkState, VERSIONS_PREFIX};

const DAY_NS: i64 = 86_400 * 1_000_000_000;

async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) -> i64 {
    let mut up = s.begin_upload(u, path, UploadOptions::default()).unwrap();
    up.write(Bytes::copy_from_slice(data)).await.unwrap();
    up.commit().await.unwrap().blob_id.unwrap()
}

fn content(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + u64::from(tag) * 7919) as u8 ^ tag)
        .collect()
}

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

/// Replicas not done, plus journal entries the uplink has not taken in.
fn pending(s: &Store) -> u64 {
    let state = UplinkState::open_read_only(s.dir()).unwrap();
    let journal = Store::open_read_only(s.dir())
        .unwrap()
        .changes_after_count(state.cursor().unwrap())
        .unwrap();
    state.pending().unwrap().files + journal
}

async fn settle(s: &Store) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pending(s) > 0 || s.stats().unwrap().dirty_bytes > 0 {
        assert!(
            Instant::now() < deadline,
            "uplink did not drain its queue in 60 s: {:?}",
            UplinkState::open_read_only(s.dir())
                .unwrap()
                .due_replicas(1, i64::MAX, 10)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The uplink with a store handle of its own; the test's handle plays the LAN service.
fn start_uplink(
    lan: &Store,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let client = Client::new(lan.dir());
    Notifier::spawn(client.clone(), lan.changed());
    lan.set_fetcher(Arc::new(SocketFetcher::new(client)));
    let store = Store::open(lan.dir(), OpenOptions::default()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Uplink::new(store, Settings::default()).unwrap().run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

fn s3_config(g: &Garage, bucket: &str) -> (RemoteConfig, Credentials) {
    let (id, secret) = g.credentials();
    (
        RemoteConfig {
            name: "garage".into(),
            kind: RemoteKind::S3 {
                endpoint: g.endpoint(),
                region: g.region().into(),
                bucket: bucket.into(),
                prefix: String::new(),
                path_style: true,
                ca_pem: None,
            },
        },
        Credentials {
            access_key_id: id,
            secret_access_key: secret,
        },
    )
}

/// A Garage with bucket `b`, a store with users, the destination added and the uplink running.
struct Setup {
    _garage: Garage,
    data: tempfile::TempDir,
    store: Store,
    remote: Remote,
    dest: destinations::Destination,
    uplink: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Setup {
    async fn start(users: &[&str]) -> (Setup, Vec<UserId>) {
        let garage = Garage::start();
        garage.create_bucket("versions-bucket");
        let data = tempfile::tempdir().unwrap();
        let store = new_store(data.path());
        let ids = users
            .iter()
            .map(|u| store.add_user(u, "$argon2id$placeholder", true).unwrap())
            .collect();
        let (cfg, creds) = s3_config(&garage, "versions-bucket");
        let remote = Remote::new(cfg.clone(), Some(creds.clone())).unwrap();
        let dest = destinations::add(&store, cfg, Some(creds), true)
            .await
            .unwrap();
        let uplink = Some(start_uplink(&store));
        (
            Setup {
                _garage: garage,
                data,
                store,
                remote,
                dest,
                uplink,
            },
            ids,
        )
    }

    async fn stop(&mut self) {
        if let Some((stop, task)) = self.uplink.take() {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }
}

async fn body(r: &Remote, key: &str) -> Option<Vec<u8>> {
    match r.get(key, None).await {
        Ok(stream) => Some(microcloud_remotes::collect(stream).await.unwrap().to_vec()),
        Err(microcloud_remotes::RemoteError::NotFound { .. }) => None,
        Err(e) => panic!("GET {key}: {e}"),
    }
}

fn vkey(user: &str, data: &[u8]) -> String {
    version_key(user, blake3::hash(data).as_bytes())
}

async fn bytes_under(r: &Remote, prefix: &str) -> (usize, u64) {
    let objects = r.list(prefix).await.unwrap();
    (objects.len(), objects.iter().map(|o| o.size).sum())
}

/// Reads a file's current content as the LAN service does (fetched back when evicted).
async fn read(s: &Store, u: UserId, path: &str) -> Vec<u8> {
    let node = s.lookup(u, path).unwrap();
    match s.local_content(node.blob_id.unwrap()).await.unwrap() {
        Content::File(f) => std::fs::read(f).unwrap(),
        Content::Inline(b) => b.to_vec(),
        c => panic!("{path}: {c:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overwrites_and_a_delete_keep_every_old_content_in_the_cloud() {
    let (mut t, ids) = Setup::start(&["alice"]).await;
    let alice = ids[0];
    let contents: Vec<Vec<u8>> = (0..4).map(|i| content(i, 150_000)).collect();
    // Written, then overwritten three times in quick succession (no time to upload between).
    for c in &contents {
        put(&t.store, alice, "/report.doc", c).await;
    }
    settle(&t.store).await;
    let (n, version_bytes) = bytes_under(&t.remote, VERSIONS_PREFIX).await;
    let (_, live_bytes) = bytes_under(&t.remote, "alice/").await;
    eprintln!(
        "space overhead after 3 overwrites: {n} version objects, {version_bytes} bytes under {VERSIONS_PREFIX} \
         for {live_bytes} live bytes ({:.2}x)",
        version_bytes as f64 / live_bytes as f64
    );
    t.store.remove(alice, "/report.doc", false).await.unwrap();
    settle(&t.store).await;
    for (i, c) in contents.iter().enumerate() {
        assert_eq!(
            body(&t.remote, &vkey("alice", c)).await.as_deref(),
            Some(c.as_slice()),
            "content {i} kept under its version key"
        );
        let info = t.remote.head(&vkey("alice", c)).await.unwrap().unwrap();
        assert_eq!(
            info.blake3.as_deref(),
            Some(blake3::hash(c).to_hex().as_str())
        );
    }
    assert!(
        body(&t.remote, "alice/report.doc").await.is_none(),
        "the live key is gone after the delete"
    );
    let (n, version_bytes) = bytes_under(&t.remote, VERSIONS_PREFIX).await;
    eprintln!(
        "space overhead after the delete: {n} version objects, {version_bytes} bytes under {VERSIONS_PREFIX}, 0 live bytes"
    );
    assert_eq!(n, 4);
    // Writing an old content again and replacing it adds no object (one per user and content).
    put(&t.store, alice, "/report.doc", &contents[1]).await;
    put(&t.store, alice, "/report.doc", b"short").await;
    settle(&t.store).await;
    assert_eq!(bytes_under(&t.remote, VERSIONS_PREFIX).await.0, 4);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evicted_content_is_copied_in_the_cloud_before_it_is_replaced() {
    let (mut t, ids) = Setup::start(&["alice"]).await;
    let alice = ids[0];
    let old = content(1, 300_000);
    let old_blob = put(&t.store, alice, "/photo.raw", &old).await;
    settle(&t.store).await;
    assert_eq!(
        t.store.lookup(alice, "/photo.raw").unwrap().durability,
        Durability::CloudAll
    );
    assert!(t.store.evict(u64::MAX).await.unwrap() >= old.len() as u64);
    assert!(matches!(
        t.store.content(old_blob).unwrap(),
        Content::Evicted { .. }
    ));
    let new = content(2, 300_000);
    put(&t.store, alice, "/photo.raw", &new).await;
    settle(&t.store).await;
    assert_eq!(
        body(&t.remote, &vkey("alice", &old)).await.as_deref(),
        Some(old.as_slice()),
        "the old content is kept under its version key"
    );
    assert_eq!(body(&t.remote, "alice/photo.raw").await.unwrap(), new);
    // Made by a copy in the cloud: the box never fetched the old content back.
    assert!(
        matches!(t.store.content(old_blob).unwrap(), Content::Evicted { .. }),
        "the old content was fetched back instead of copied in the cloud"
    );
    // Safe at every destination under its version key: still cloud:all (evictable).
    assert_eq!(
        t.store.blob(old_blob).unwrap().unwrap().durability,
        Durability::CloudAll
    );
    let versions = t.store.versions(alice, "/photo.raw").unwrap();
    let v = versions
        .iter()
        .find(|v| v.blake3 == blake3::hash(&old).to_hex().as_str())
        .expect("the old content is a version");
    t.store.restore_version(alice, v.id).await.unwrap();
    assert_eq!(read(&t.store, alice, "/photo.raw").await, old);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_removes_version_objects_but_never_pinned_ones() {
    let (mut t, ids) = Setup::start(&["alice", "bob"]).await;
    let (alice, bob) = (ids[0], ids[1]);
    let (a_old, b_old) = (content(3, 80_000), content(4, 80_000));
    put(&t.store, alice, "/a.txt", &a_old).await;
    put(&t.store, alice, "/a.txt", b"new a").await;
    put(&t.store, bob, "/b.txt", &b_old).await;
    put(&t.store, bob, "/b.txt", b"new b").await;
    settle(&t.store).await;
    assert!(body(&t.remote, &vkey("alice", &a_old)).await.is_some());
    assert!(body(&t.remote, &vkey("bob", &b_old)).await.is_some());
    assert_eq!(t.store.pin_versions(bob, true).await.unwrap(), 1);
    let now = microcloud_uplink_state::now_ns();
    let expired = t.store.expire_versions(now + 31 * DAY_NS).await.unwrap();
    assert_eq!(expired.versions, 1);
    settle(&t.store).await;
    assert!(
        body(&t.remote, &vkey("alice", &a_old)).await.is_none(),
        "an expired version's object is removed"
    );
    assert_eq!(
        body(&t.remote, &vkey("bob", &b_old)).await.as_deref(),
        Some(b_old.as_slice()),
        "a pinned version's object is kept"
    );
    // The live objects are untouched.
    assert_eq!(body(&t.remote, "alice/a.txt").await.unwrap(), b"new a");
    assert_eq!(body(&t.remote, "bob/b.txt").await.unwrap(), b"new b");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blank_box_restored_from_the_bucket_has_its_versions() {
    let (mut t, ids) = Setup::start(&["alice"]).await;
    let alice = ids[0];
    let contents: Vec<Vec<u8>> = (10..13).map(|i| content(i, 120_000)).collect();
    for c in &contents {
        put(&t.store, alice, "/notes.txt", c).await;
    }
    put(&t.store, alice, "/gone.txt", &content(20, 5_000)).await;
    t.store.remove(alice, "/gone.txt", false).await.unwrap();
    t.store.mkdir(alice, "/docs").await.unwrap();
    t.store.mkdir(alice, "/docs/empty").await.unwrap();
    put(&t.store, alice, "/docs/plan.txt", &content(30, 2_000)).await;
    settle(&t.store).await;
    microcloud_uplink::manifest::publish(&t.store, &t.dest, &t.remote)
        .await
        .unwrap();
    let manifest = microcloud_uplink::manifest::build(&t.store, t.dest.id).unwrap();
    assert_eq!(manifest.versions.len(), 3, "{:?}", manifest.versions);
    // What went up (written into a file as the catalog was walked) says what the build in
    // memory says, entry for entry.
    let sent = body(&t.remote, microcloud_uplink::manifest::MANIFEST_KEY)
        .await
        .unwrap();
    let mut sent = microcloud_uplink::manifest::parse(&sent).unwrap();
    assert!(
        sent.generation.is_some(),
        "a whole manifest names its generation"
    );
    sent.generation = None;
    sent.sort();
    assert_eq!(sent, manifest);
    assert_eq!((manifest.files.len(), manifest.dirs.len()), (2, 2));
    t.stop().await;

    // A blank box, rebuilt from the bucket.
    let data2 = tempfile::tempdir().unwrap();
    let store2 = new_store(data2.path());
    let (cfg, creds) = s3_config(&t._garage, "versions-bucket");
    let dest2 = destinations::add(&store2, cfg, Some(creds), false)
        .await
        .unwrap();
    let report = microcloud_uplink::manifest::restore(&store2, &dest2)
        .await
        .unwrap();
    assert_eq!((report.files, report.dirs, report.versions), (2, 2, 3));
    let (stop, task) = start_uplink(&store2);
    let alice2 = store2.user("alice").unwrap().unwrap().id;
    let versions = store2.versions(alice2, "/notes.txt").unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
    let original = t.store.versions(alice, "/notes.txt").unwrap();
    for (got, want) in versions.iter().zip(&original) {
        assert_eq!(
            (
                &got.blake3,
                got.from_ns,
                got.until_ns,
                got.kind,
                got.mtime_ns
            ),
            (
                &want.blake3,
                want.from_ns,
                want.until_ns,
                want.kind,
                want.mtime_ns
            )
        );
        assert_eq!(got.durability, Durability::CloudAll);
    }
    assert_eq!(
        store2.trash(alice2, "").unwrap().len(),
        1,
        "the deleted file"
    );
    // Nothing is uploaded again.
    assert_eq!(pending(&store2), 0);
    let first = versions
        .iter()
        .find(|v| v.blake3 == blake3::hash(&contents[0]).to_hex().as_str())
        .unwrap();
    store2.restore_version(alice2, first.id).await.unwrap();
    assert_eq!(read(&store2, alice2, "/notes.txt").await, contents[0]);
    let _ = stop.send(());
    task.await.unwrap();
    drop(t.data);
}

/// A version whose content was evicted from the box and whose cloud copy is missing, or damaged,
/// cannot be restored: the rollback fails with an error naming the version, and nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_version_whose_cloud_copy_is_missing_or_damaged_is_refused_whole() {
    let (mut t, ids) = Setup::start(&["alice"]).await;
    let alice = ids[0];
    let a_old = content(3, 200_000);
    let b_old = content(4, 200_000);
    t.store.mkdir(alice, "/d").await.unwrap();
    put(&t.store, alice, "/d/a.bin", &a_old).await;
    put(&t.store, alice, "/d/b.bin", &b_old).await;
    settle(&t.store).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    tokio::time::sleep(Duration::from_millis(20)).await;
    put(&t.store, alice, "/d/a.bin", &content(5, 200_000)).await;
    put(&t.store, alice, "/d/b.bin", &content(6, 200_000)).await;
    settle(&t.store).await;
    assert!(t.store.evict(u64::MAX).await.unwrap() > 0);
    let now_a = read(&t.store, alice, "/d/a.bin").await;
    let now_b = read(&t.store, alice, "/d/b.bin").await;
    // b's old content: missing in the cloud. a's: there, but damaged (same size, other bytes,
    // the metadata still claiming the old hash).
    t.remote.delete(&vkey("alice", &b_old)).await.unwrap();
    let mut damaged = a_old.clone();
    damaged[1000] ^= 0xff;
    t.remote
        .put(
            &vkey("alice", &a_old),
            Bytes::from(damaged),
            &blake3::hash(&a_old).to_hex(),
            &microcloud_remotes::Condition::None,
        )
        .await
        .unwrap();
    for (path, what) in [
        ("/d", "folder"),
        ("/d/b.bin", "missing"),
        ("/d/a.bin", "damaged"),
    ] {
        let e = t.store.rollback(alice, path, before).await.unwrap_err();
        assert!(
            matches!(e, microcloud_store::StoreError::VersionUnavailable { .. }),
            "{what}: {e}"
        );
        assert!(e.to_string().contains("version #"), "{what}: {e}");
        assert!(e.to_string().contains("nothing was changed"), "{what}: {e}");
        assert_eq!(read(&t.store, alice, "/d/a.bin").await, now_a, "{what}");
        assert_eq!(read(&t.store, alice, "/d/b.bin").await, now_b, "{what}");
    }
    t.stop().await;
}
