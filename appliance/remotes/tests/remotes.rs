//! The remotes against a real Garage and against a local directory: the same test bodies run on
//! both kinds, so that they keep the same meaning; then the S3-only faults (wrong keys, a stopped
//! or frozen server, a missing bucket).

use std::time::{Duration, Instant};

use bytes::Bytes;
use microcloud_remotes::{
    collect, Condition, Credentials, ObjectInfo, Remote, RemoteConfig, RemoteError, RemoteKind,
    Timeouts, PROBE_PREFIX,
};
use microcloud_tests::content_for;
use microcloud_tests::garage::Garage;

const MIB: usize = 1024 * 1024;

/// Keys that need care: spaces, unicode, characters with a meaning in URLs, `+` and `%`.
const ODD_KEYS: [&str; 6] = [
    "alice/photos/a b.jpg",
    "ünïcødé/日本語 ファイル.txt",
    "plus+sign/100% sure.txt",
    "punct/!$&'()*,;=@[]~`^{}|.bin",
    "query/a?b#c.txt",
    "empty",
];

fn hash(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

fn s3_config(garage: &Garage, bucket: &str, prefix: &str) -> RemoteConfig {
    RemoteConfig {
        name: format!("garage-{bucket}"),
        kind: RemoteKind::S3 {
            endpoint: garage.endpoint(),
            region: garage.region().to_owned(),
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            path_style: true,
            ca_pem: None,
        },
    }
}

fn s3_remote(garage: &Garage, bucket: &str, prefix: &str, timeouts: Timeouts) -> Remote {
    let (access_key_id, secret_access_key) = garage.credentials();
    let creds = Credentials {
        access_key_id,
        secret_access_key,
    };
    Remote::with_timeouts(s3_config(garage, bucket, prefix), Some(creds), timeouts)
        .expect("S3 remote")
}

/// A fresh Garage with bucket `b`, and a remote on it under prefix `box1`.
fn garage() -> (Garage, Remote) {
    let garage = Garage::start();
    garage.create_bucket("test-bucket");
    let remote = s3_remote(&garage, "test-bucket", "box1", Timeouts::default());
    (garage, remote)
}

/// A directory remote on a fresh temporary folder.
fn dir() -> (tempfile::TempDir, Remote) {
    let root = tempfile::tempdir().expect("temporary folder");
    let cfg = RemoteConfig {
        name: "local".into(),
        kind: RemoteKind::Dir {
            path: root.path().to_owned(),
        },
    };
    let remote = Remote::new(cfg, None).expect("directory remote");
    (root, remote)
}

async fn get_all(remote: &Remote, key: &str, range: Option<(u64, u64)>) -> Bytes {
    collect(
        remote
            .get(key, range)
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("read {key}: {e}"))
}

// ---- put, head, get, ranges, delete, list ----

async fn objects(remote: &Remote) {
    let mut written = Vec::new();
    for (i, key) in ODD_KEYS.iter().enumerate() {
        let len = if *key == "empty" { 0 } else { 1000 * i + 17 };
        let data = content_for(key, len);
        let etag = remote
            .put(
                key,
                Bytes::from(data.clone()),
                &hash(&data),
                &Condition::None,
            )
            .await
            .unwrap();
        let info = remote
            .head(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing after put"));
        assert_eq!(
            info,
            ObjectInfo {
                key: key.to_string(),
                size: len as u64,
                etag: etag.clone(),
                blake3: Some(hash(&data))
            }
        );
        assert_eq!(get_all(remote, key, None).await, data, "{key}");
        if len > 20 {
            assert_eq!(
                get_all(remote, key, Some((3, 12))).await,
                data[3..=12],
                "{key} range"
            );
            // A range past the end is clipped to the object, as in HTTP.
            assert_eq!(
                get_all(remote, key, Some((10, 1 << 40))).await,
                data[10..],
                "{key} open range"
            );
        }
        written.push((key.to_string(), len as u64, etag));
    }
    written.sort();

    let listed: Vec<_> = remote
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.key, o.size, o.etag))
        .collect();
    assert_eq!(listed, written);
    let photos = remote.list("alice/").await.unwrap();
    assert_eq!(
        photos.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["alice/photos/a b.jpg"]
    );
    let partial = remote.list("plus+sign/100").await.unwrap();
    assert_eq!(
        partial.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["plus+sign/100% sure.txt"]
    );
    assert!(remote.list("nothing/").await.unwrap().is_empty());

    // A range starting past the end is refused, as HTTP does (416).
    match remote
        .get("alice/photos/a b.jpg", Some((1 << 30, 1 << 31)))
        .await
        .map(|_| ())
    {
        Err(RemoteError::Rejected { status: 416, .. }) => {}
        other => panic!("range past the end: {other:?}"),
    }

    for key in ODD_KEYS {
        remote.delete(key).await.unwrap();
        assert_eq!(remote.head(key).await.unwrap(), None, "{key} after delete");
        remote
            .delete(key)
            .await
            .expect("deleting an absent object succeeds");
    }
    assert!(remote.list("").await.unwrap().is_empty());
    match remote.get("alice/photos/a b.jpg", None).await.map(|_| ()) {
        Err(RemoteError::NotFound { key, .. }) => assert_eq!(key, "alice/photos/a b.jpg"),
        other => panic!("get of a deleted object: {other:?}"),
    }

    // Keys that could escape a root or break URLs are refused before any request.
    for bad in ["../escape", "/abs", "a/./b", "nul\0", ".microcloud-meta/x"] {
        let err = remote
            .put(bad, Bytes::from_static(b"x"), &hash(b"x"), &Condition::None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, RemoteError::Rejected { status: 400, .. }),
            "{bad:?}: {err}"
        );
    }
}

#[tokio::test]
async fn garage_objects() {
    let (garage, remote) = garage();
    objects(&remote).await;
    // The prefix is where the objects went: seen from the bucket's root, and stripped in listings.
    let root = s3_remote(&garage, "test-bucket", "", Timeouts::default());
    remote
        .put("k", Bytes::from_static(b"v"), &hash(b"v"), &Condition::None)
        .await
        .unwrap();
    assert_eq!(
        root.list("")
            .await
            .unwrap()
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["box1/k"]
    );
    assert_eq!(get_all(&root, "box1/k", None).await, &b"v"[..]);
}

#[tokio::test]
async fn dir_objects() {
    let (root, remote) = dir();
    objects(&remote).await;
    // One plain file per object, readable by any tool.
    remote
        .put(
            "a/b.txt",
            Bytes::from_static(b"hello"),
            &hash(b"hello"),
            &Condition::None,
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(root.path().join("a/b.txt")).unwrap(),
        b"hello"
    );
    // Deleting the last object of a folder removes the folder too.
    remote.delete("a/b.txt").await.unwrap();
    assert!(!root.path().join("a").exists());
}

// ---- multipart ----

async fn multipart(remote: &Remote) {
    let key = "big/video file.mp4";
    let data = content_for(key, 15 * MIB);
    let whole = hash(&data);
    let id = remote.create_multipart(key, &whole).await.unwrap();
    assert_eq!(
        remote.list_multipart("").await.unwrap(),
        [(key.to_string(), id.clone())]
    );
    assert_eq!(remote.list_multipart("big/").await.unwrap().len(), 1);
    assert!(remote.list_multipart("other/").await.unwrap().is_empty());

    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(5 * MIB).enumerate() {
        let number = i as u16 + 1;
        let etag = remote
            .upload_part(key, &id, number, Bytes::copy_from_slice(chunk))
            .await
            .unwrap();
        parts.push((number, etag));
    }
    assert_eq!(parts.len(), 3);
    // Re-sending a part (a resumed upload) replaces it with the same content.
    let again = remote
        .upload_part(
            key,
            &id,
            2,
            Bytes::copy_from_slice(&data[5 * MIB..10 * MIB]),
        )
        .await
        .unwrap();
    assert_eq!(again, parts[1].1);
    // No object before completion.
    assert_eq!(remote.head(key).await.unwrap(), None);

    let etag = remote
        .complete_multipart(key, &id, &parts, &Condition::IfAbsent)
        .await
        .unwrap();
    let info = remote
        .head(key)
        .await
        .unwrap()
        .expect("object after complete");
    assert_eq!(
        (info.size, info.etag.as_str(), info.blake3.as_deref()),
        (data.len() as u64, etag.as_str(), Some(whole.as_str()))
    );
    assert_eq!(hash(&get_all(remote, key, None).await), whole);
    assert_eq!(
        get_all(remote, key, Some((5 * MIB as u64 - 3, 5 * MIB as u64 + 2))).await,
        data[5 * MIB - 3..5 * MIB + 3]
    );
    assert!(
        remote.list_multipart("").await.unwrap().is_empty(),
        "completed upload still open"
    );

    // An aborted upload leaves nothing open, and aborting twice is fine.
    let id = remote
        .create_multipart("big/abandoned", &whole)
        .await
        .unwrap();
    remote
        .upload_part(
            "big/abandoned",
            &id,
            1,
            Bytes::copy_from_slice(&data[..5 * MIB]),
        )
        .await
        .unwrap();
    assert_eq!(
        remote.list_multipart("").await.unwrap(),
        [("big/abandoned".to_string(), id.clone())]
    );
    remote.abort_multipart("big/abandoned", &id).await.unwrap();
    remote.abort_multipart("big/abandoned", &id).await.unwrap();
    assert!(remote.list_multipart("").await.unwrap().is_empty());
    assert_eq!(remote.head("big/abandoned").await.unwrap(), None);
    match remote
        .upload_part("big/abandoned", &id, 2, Bytes::from_static(b"late"))
        .await
    {
        Err(RemoteError::NotFound { .. }) => {}
        other => panic!("part of an aborted upload: {other:?}"),
    }

    // Completing with a part the server does not have is the caller's error.
    let id = remote.create_multipart("big/wrong", &whole).await.unwrap();
    let etag1 = remote
        .upload_part(
            "big/wrong",
            &id,
            1,
            Bytes::copy_from_slice(&data[..5 * MIB]),
        )
        .await
        .unwrap();
    let err = remote
        .complete_multipart(
            "big/wrong",
            &id,
            &[(1, etag1), (2, "0123".into())],
            &Condition::None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RemoteError::Rejected { status: 400, .. }),
        "{err}"
    );
    remote.abort_multipart("big/wrong", &id).await.unwrap();
}

#[tokio::test]
async fn garage_multipart() {
    let (_garage, remote) = garage();
    multipart(&remote).await;
}

#[tokio::test]
async fn dir_multipart() {
    let (_root, remote) = dir();
    multipart(&remote).await;
}

// ---- conditional writes ----

async fn conditions(remote: &Remote) {
    let (v1, v2, v3) = (
        Bytes::from_static(b"version 1"),
        Bytes::from_static(b"version 2"),
        Bytes::from_static(b"v3"),
    );
    let e1 = remote
        .put("doc.txt", v1.clone(), &hash(&v1), &Condition::IfAbsent)
        .await
        .unwrap();
    let precondition = |r: Result<String, RemoteError>| match r {
        Err(RemoteError::PreconditionFailed { key, .. }) => assert_eq!(key, "doc.txt"),
        other => panic!("expected PreconditionFailed, got {other:?}"),
    };
    precondition(
        remote
            .put("doc.txt", v2.clone(), &hash(&v2), &Condition::IfAbsent)
            .await,
    );
    precondition(
        remote
            .put(
                "doc.txt",
                v2.clone(),
                &hash(&v2),
                &Condition::IfMatch("0123456789abcdef".into()),
            )
            .await,
    );
    assert_eq!(
        get_all(remote, "doc.txt", None).await,
        v1,
        "a refused write changed the object"
    );

    let e2 = remote
        .put(
            "doc.txt",
            v2.clone(),
            &hash(&v2),
            &Condition::IfMatch(e1.clone()),
        )
        .await
        .unwrap();
    assert_ne!(e1, e2);
    assert_eq!(get_all(remote, "doc.txt", None).await, v2);
    // The ETag seen before the last write is stale now.
    precondition(
        remote
            .put("doc.txt", v3.clone(), &hash(&v3), &Condition::IfMatch(e1))
            .await,
    );
    // If-Match on a missing object: the object we expected is not there.
    let gone = remote
        .put(
            "gone.txt",
            v3.clone(),
            &hash(&v3),
            &Condition::IfMatch(e2.clone()),
        )
        .await;
    assert!(
        matches!(gone, Err(RemoteError::PreconditionFailed { .. })),
        "{gone:?}"
    );

    // The same on multipart completion; the refused upload stays open for the caller to abort.
    let data = content_for("mp", 6 * MIB);
    let id = remote
        .create_multipart("doc.txt", &hash(&data))
        .await
        .unwrap();
    let part = remote
        .upload_part("doc.txt", &id, 1, Bytes::from(data.clone()))
        .await
        .unwrap();
    let parts = [(1, part)];
    precondition(
        remote
            .complete_multipart("doc.txt", &id, &parts, &Condition::IfAbsent)
            .await,
    );
    let etag = remote
        .complete_multipart("doc.txt", &id, &parts, &Condition::IfMatch(e2))
        .await
        .unwrap();
    assert_eq!(remote.head("doc.txt").await.unwrap().unwrap().etag, etag);
    assert_eq!(hash(&get_all(remote, "doc.txt", None).await), hash(&data));
}

#[tokio::test]
async fn garage_conditions() {
    let (_garage, remote) = garage();
    conditions(&remote).await;
}

#[tokio::test]
async fn dir_conditions() {
    let (_root, remote) = dir();
    conditions(&remote).await;
}

// ---- probe ----

#[tokio::test]
async fn garage_probe() {
    let (garage, remote) = garage();
    remote.probe().await.unwrap();
    assert!(
        remote.list(PROBE_PREFIX).await.unwrap().is_empty(),
        "probe left its object"
    );

    let missing = s3_remote(&garage, "no-such-bucket", "", Timeouts::default());
    match missing.probe().await {
        Err(e @ RemoteError::Config { .. }) => {
            assert!(
                e.to_string()
                    .contains("bucket \"no-such-bucket\" does not exist"),
                "{e}"
            )
        }
        other => panic!("probe of a missing bucket: {other:?}"),
    }
}

#[tokio::test]
async fn dir_probe() {
    let (root, remote) = dir();
    remote.probe().await.unwrap();
    assert!(
        remote.list("").await.unwrap().is_empty(),
        "probe left its object"
    );
    // A missing root is an outage (an unmounted disk), not an empty remote.
    let cfg = RemoteConfig {
        name: "usb".into(),
        kind: RemoteKind::Dir {
            path: root.path().join("not-mounted"),
        },
    };
    let unmounted = Remote::new(cfg, None).unwrap();
    let err = unmounted.probe().await.unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("not-mounted"),
        "{err}"
    );
    let err = unmounted.head("x").await.unwrap_err();
    assert!(err.is_transient(), "head on a missing root: {err}");
}

// ---- checksums ----

#[tokio::test]
async fn dir_rejects_content_that_does_not_match_its_hash() {
    let (_root, remote) = dir();
    let err = remote
        .put(
            "k",
            Bytes::from_static(b"data"),
            &hash(b"other"),
            &Condition::None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Rejected { status: 400, detail, .. } if detail.contains("BadDigest")),
        "{err}"
    );
    assert_eq!(remote.head("k").await.unwrap(), None);

    let data = content_for("mp", 2 * MIB);
    let id = remote.create_multipart("k", &hash(b"other")).await.unwrap();
    let part = remote
        .upload_part("k", &id, 1, Bytes::from(data))
        .await
        .unwrap();
    let err = remote
        .complete_multipart("k", &id, &[(1, part)], &Condition::None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Rejected { status: 400, .. }),
        "{err}"
    );
}

// ---- S3 faults ----

#[tokio::test]
async fn wrong_credentials_are_denied() {
    let (garage, _remote) = garage();
    let (id, _) = garage.credentials();
    for creds in [
        Credentials {
            access_key_id: id,
            secret_access_key: "0".repeat(64),
        },
        Credentials {
            access_key_id: "GK000000000000000000000000".into(),
            secret_access_key: "0".repeat(64),
        },
    ] {
        let remote = Remote::new(s3_config(&garage, "test-bucket", ""), Some(creds)).unwrap();
        let put = remote
            .put("k", Bytes::from_static(b"v"), &hash(b"v"), &Condition::None)
            .await;
        assert!(
            matches!(put, Err(RemoteError::Denied { .. })),
            "put: {put:?}"
        );
        let head = remote.head("k").await;
        assert!(
            matches!(head, Err(RemoteError::Denied { .. })),
            "head: {head:?}"
        );
        let list = remote.list("").await;
        assert!(
            matches!(list, Err(RemoteError::Denied { .. })),
            "list: {list:?}"
        );
        let probe = remote.probe().await.unwrap_err();
        assert!(!probe.is_transient(), "{probe}");
    }
    // The secret never shows in errors or debug output.
    let remote = s3_remote(&garage, "test-bucket", "", Timeouts::default());
    assert!(!format!("{remote:?}").contains(&garage.credentials().1));
}

#[tokio::test]
async fn stopped_garage_is_unreachable_at_once_and_back_after_restart() {
    let (mut garage, remote) = garage();
    remote
        .put("k", Bytes::from_static(b"v"), &hash(b"v"), &Condition::None)
        .await
        .unwrap();
    garage.stop();
    let started = Instant::now();
    for result in [
        remote
            .put(
                "k2",
                Bytes::from_static(b"v"),
                &hash(b"v"),
                &Condition::None,
            )
            .await
            .map(|_| ()),
        remote.head("k").await.map(|_| ()),
        remote.get("k", None).await.map(|_| ()),
        remote.list("").await.map(|_| ()),
        remote.delete("k").await,
        remote.probe().await,
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, RemoteError::Unreachable { .. }) && err.is_transient(),
            "{err}"
        );
    }
    // Refused connections fail fast: no waiting for any timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    garage.restart();
    assert_eq!(
        get_all(&remote, "k", None).await,
        &b"v"[..],
        "data survives a restart"
    );
    remote.probe().await.unwrap();
}

#[tokio::test]
async fn paused_garage_is_unreachable_after_the_stall_timeout() {
    let (garage, _) = garage();
    let stall = Duration::from_secs(2);
    let remote = s3_remote(
        &garage,
        "test-bucket",
        "",
        Timeouts {
            connect: Duration::from_secs(2),
            stall,
        },
    );
    remote
        .put("k", Bytes::from_static(b"v"), &hash(b"v"), &Condition::None)
        .await
        .unwrap();
    let big = Bytes::from(content_for("big", 16 * MIB));
    let big_hash = hash(&big);

    garage.pause();
    let started = Instant::now();
    let head = remote.head("k").await;
    let head_took = started.elapsed();
    // A large upload fills the socket buffers and then stands still: caught as a stall too.
    let started = Instant::now();
    let put = remote
        .put("big", big.clone(), &big_hash, &Condition::None)
        .await;
    let put_took = started.elapsed();
    let started = Instant::now();
    let get = remote.get("k", None).await.map(|_| ());
    let get_took = started.elapsed();
    garage.resume();

    for (what, result, took) in [
        ("head", head.map(|_| ()), head_took),
        ("put", put.map(|_| ()), put_took),
        ("get", get, get_took),
    ] {
        let err = result.expect_err(what);
        assert!(
            matches!(&err, RemoteError::Unreachable { detail, .. } if detail.contains("no progress")),
            "{what}: {err}"
        );
        assert!(
            took >= stall && took < stall * 4,
            "{what} took {took:?} with a stall bound of {stall:?}"
        );
    }
    // Thawed, the same remote works again.
    remote
        .put("big", big, &big_hash, &Condition::None)
        .await
        .unwrap();
    assert_eq!(
        remote.head("big").await.unwrap().unwrap().blake3,
        Some(big_hash)
    );
}

// ---- server-side copy ----

/// A copy holds the source's bytes and BLAKE3 metadata under the new key, leaves the source as
/// it was, replaces an object already at the target, and a missing source is NotFound naming it.
async fn copies(remote: &Remote) {
    let data = Bytes::from(vec![7u8; 70_000]);
    let h = hash(&data);
    remote
        .put("alice/doc one.txt", data.clone(), &h, &Condition::None)
        .await
        .unwrap();
    let target = format!(".microcloud/versions/alice/{h}");
    let etag = remote.copy("alice/doc one.txt", &target).await.unwrap();
    let info = remote.head(&target).await.unwrap().expect("copy is there");
    assert_eq!(
        (info.size, info.etag.as_str(), info.blake3.as_deref()),
        (70_000, etag.as_str(), Some(h.as_str()))
    );
    assert_eq!(get_all(remote, &target, None).await, data);
    assert_eq!(get_all(remote, "alice/doc one.txt", None).await, data);
    // Over an existing object.
    remote
        .put(
            "other",
            Bytes::from_static(b"x"),
            &hash(b"x"),
            &Condition::None,
        )
        .await
        .unwrap();
    remote.copy("other", &target).await.unwrap();
    assert_eq!(get_all(remote, &target, None).await, &b"x"[..]);
    match remote.copy("alice/missing", "elsewhere").await {
        Err(RemoteError::NotFound { key, .. }) => assert_eq!(key, "alice/missing"),
        other => panic!("copy of a missing object: {other:?}"),
    }
    assert!(remote.head("elsewhere").await.unwrap().is_none());
}

#[tokio::test]
async fn dir_copies() {
    let (root, remote) = dir();
    copies(&remote).await;
    // The copy is a plain file too.
    let copied = std::fs::read_dir(root.path().join(".microcloud/versions/alice"))
        .unwrap()
        .count();
    assert_eq!(copied, 1);
}

#[tokio::test]
async fn garage_copies() {
    let (_garage, remote) = garage();
    copies(&remote).await;
}
