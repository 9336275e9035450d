//! The uplink end to end, against real S3-compatible storage (Garage): outages, crashes during
//! multipart uploads, conflicts, scrub and restore. Each test starts its own Garage instances on
//! loopback and its own gateway process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use microcloud_remotes::{collect, Condition, Remote};
use microcloud_tests::garage::Garage;
use microcloud_tests::{
    add_user, content_for, flush, microcloud, remote_add_s3, s3, status_json, CountingProxy,
    Gateway, PASSWORD,
};
use microcloud_uplink_state::UplinkState;

async fn put(c: &reqwest::Client, gw: &Gateway, name: &str, data: Vec<u8>) -> reqwest::StatusCode {
    c.put(format!("{}{name}", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .body(data)
        .send()
        .await
        .unwrap()
        .status()
}

async fn object_hash(r: &Remote, key: &str) -> Option<blake3::Hash> {
    match r.get(key, None).await {
        Ok(s) => Some(blake3::hash(&collect(s).await.unwrap())),
        Err(microcloud_remotes::RemoteError::NotFound { .. }) => None,
        Err(e) => panic!("GET {key}: {e}"),
    }
}

async fn mkcol(c: &reqwest::Client, gw: &Gateway, path: &str) -> reqwest::StatusCode {
    c.request(
        reqwest::Method::from_bytes(b"MKCOL").unwrap(),
        format!("{}{path}", gw.dav()),
    )
    .basic_auth("alice", Some(PASSWORD))
    .send()
    .await
    .unwrap()
    .status()
}

/// The JSON object at `key`.
async fn json_object(r: &Remote, key: &str) -> serde_json::Value {
    serde_json::from_slice(&collect(r.get(key, None).await.unwrap()).await.unwrap()).unwrap()
}

fn bucket(g: &Garage, name: &str) -> Remote {
    g.create_bucket(name);
    s3(&g.endpoint(), g.region(), name, &g.credentials())
}

fn dest_status(dir: &std::path::Path, name: &str) -> serde_json::Value {
    status_json(dir)["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_of_one_destination_costs_nothing() {
    let (g1, mut g2) = (Garage::start(), Garage::start());
    let (b1, b2) = (bucket(&g1, "one"), bucket(&g2, "two"));
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "one",
        &g1.endpoint(),
        g1.region(),
        "one",
        &g1.credentials(),
    );
    remote_add_s3(
        tmp.path(),
        "two",
        &g2.endpoint(),
        g2.region(),
        "two",
        &g2.credentials(),
    );
    let gw = Gateway::start(tmp.path(), &[]);
    let client = reqwest::Client::new();

    // Continuous LAN writes, with "two" stopped from 1 s to 4 s.
    let (c, base) = (client.clone(), gw.dav());
    let writer = tokio::spawn(async move {
        let mut written = BTreeMap::new();
        let mut slowest = Duration::ZERO;
        for i in 0..240 {
            let name = format!("f{i:03}");
            let data = content_for(&name, if i % 10 == 0 { 300_000 } else { 3000 });
            let t = Instant::now();
            let r = c
                .put(format!("{base}{name}"))
                .basic_auth("alice", Some(PASSWORD))
                .body(data.clone())
                .send()
                .await
                .unwrap();
            slowest = slowest.max(t.elapsed());
            assert_eq!(
                r.status().as_u16(),
                201,
                "LAN write {name} during the outage"
            );
            written.insert(name, blake3::hash(&data));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (written, slowest)
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    g2.stop();
    // The outage is seen and reported, and "one" keeps up meanwhile.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let two = dest_status(tmp.path(), "two");
        if two["state"] != "ok" && two["last_error"].is_string() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outage of two not reported: {two}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = microcloud_tests::metrics(&client, &gw).await;
    assert!(
        metrics.contains("microcloud_destination_up{destination=\"two\"} 0"),
        "{metrics}"
    );
    // flush cannot finish while a destination is down: it says so, with a non-zero exit.
    let (ok, out) = flush(tmp.path(), 1);
    assert!(
        !ok && out.contains("timed out"),
        "flush during the outage: {out}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let one = dest_status(tmp.path(), "one");
    assert_eq!(one["state"], "ok", "{one}");
    g2.restart();
    let (written, slowest) = writer.await.unwrap();
    eprintln!(
        "outage test: slowest LAN write during the outage took {:.0} ms",
        slowest.as_secs_f64() * 1000.0
    );

    let (ok, out) = flush(tmp.path(), 180);
    assert!(ok, "flush after the outage: {out}");
    for (name, hash) in &written {
        for (b, label) in [(&b1, "one"), (&b2, "two")] {
            assert_eq!(
                object_hash(b, &format!("alice/{name}")).await,
                Some(*hash),
                "{name} at {label}"
            );
            let info = b.head(&format!("alice/{name}")).await.unwrap().unwrap();
            assert_eq!(
                info.blake3.as_deref(),
                Some(hash.to_hex().as_str()),
                "hash metadata of {name} at {label}"
            );
        }
    }
    // The secrets are stored for the uplink alone and never shown again.
    let secret = g1.credentials().1;
    let list = microcloud(
        &["remote", "list", "--data", tmp.path().to_str().unwrap()],
        "",
    );
    assert!(list.contains("one") && !list.contains(&secret), "{list}");
    assert!(!status_json(tmp.path()).to_string().contains(&secret));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(tmp.path().join("secrets/one.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "secret file readable by others");
    assert!(
        !tmp.path().join("secrets-inbox/one.json").exists(),
        "the uplink took the secret out of the inbox"
    );
    for name in ["one", "two"] {
        let d = dest_status(tmp.path(), name);
        assert_eq!(
            (d["state"].as_str(), d["pending_files"].as_u64()),
            (Some("ok"), Some(0)),
            "{d}"
        );
    }
    let r = client
        .get(format!("{}f000", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-microcloud-durability"], "cloud:all");
    let metrics = microcloud_tests::metrics(&client, &gw).await;
    for line in [
        "microcloud_destination_up{destination=\"one\"} 1",
        "microcloud_destination_up{destination=\"two\"} 1",
        "microcloud_destination_pending_files{destination=\"two\"} 0",
        "microcloud_files 240",
        "microcloud_dirty_bytes 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "metrics lack {line:?}:\n{metrics}"
        );
    }
    assert!(!metrics.contains(&secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_multipart_uploads_resumes_without_resending_parts() {
    const PART: u64 = 5 << 20;
    const ROUNDS: usize = 10;
    let g = Garage::start();
    let b = bucket(&g, "big");
    // 40 MB/s through a counting proxy, so uploads last long enough to be cut.
    let proxy = CountingProxy::start_limited(g.s3_addr(), Some(40 << 20)).await;
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "big",
        &format!("http://{}", proxy.addr),
        g.region(),
        "big",
        &g.credentials(),
    );
    let env = [
        ("MICROCLOUD_MULTIPART_THRESHOLD", "5242880"),
        ("MICROCLOUD_PART_SIZE", "5242880"),
        ("MICROCLOUD_PART_CONCURRENCY", "2"),
        ("MICROCLOUD_UPLINK_CONCURRENCY", "2"),
        ("MICROCLOUD_MANIFEST_INTERVAL", "3600"),
    ];
    let mut gw = Gateway::start_with_env(tmp.path(), &[], &env);
    let client = reqwest::Client::new();
    let mut files = BTreeMap::new();
    for i in 0..4 {
        let name = format!("big{i}.bin");
        let data = content_for(&name, (40 << 20) + i * 1234);
        assert_eq!(put(&client, &gw, &name, data.clone()).await.as_u16(), 201);
        files.insert(name, (blake3::hash(&data), data.len() as u64));
    }
    let total: u64 = files.values().map(|(_, l)| *l).sum();
    for round in 0..ROUNDS {
        let wait = 300 + (round as u64 * 137) % 500;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        gw.kill();
        gw.restart();
    }
    let (ok, out) = flush(tmp.path(), 300);
    assert!(ok, "flush after {ROUNDS} crashes: {out}");
    for (name, (hash, _)) in &files {
        assert_eq!(
            object_hash(&b, &format!("alice/{name}")).await,
            Some(*hash),
            "{name}"
        );
    }
    assert!(
        b.list_multipart("").await.unwrap().is_empty(),
        "multipart uploads left open in the bucket"
    );
    // Each crash may lose the parts in flight (2 files x 2 parts); finished parts are never
    // sent again. Without resuming, every crash would restart whole files.
    let sent = proxy.sent.load(std::sync::atomic::Ordering::Relaxed);
    let bound = total + (ROUNDS as u64 + 1) * 4 * PART + (4 << 20);
    eprintln!(
        "crash test: {} MiB of files, {} MiB sent, bound {} MiB",
        total >> 20,
        sent >> 20,
        bound >> 20
    );
    assert!(
        sent <= bound,
        "sent {sent} bytes for {total} bytes of files: finished parts were sent again"
    );
    assert!(
        sent >= total,
        "less sent than the files hold: {sent} < {total}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_changed_in_the_cloud_is_not_overwritten() {
    let g = Garage::start();
    let b = bucket(&g, "conflict");
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "conflict",
        &g.endpoint(),
        g.region(),
        "conflict",
        &g.credentials(),
    );
    let gw = Gateway::start(tmp.path(), &[]);
    let client = reqwest::Client::new();
    assert_eq!(
        put(&client, &gw, "doc.txt", b"ours, version 1".to_vec())
            .await
            .as_u16(),
        201
    );
    let (ok, out) = flush(tmp.path(), 60);
    assert!(ok, "{out}");
    // Someone else edits the object with another S3 client.
    let theirs = b"their edit, made in the cloud".to_vec();
    b.put(
        "alice/doc.txt",
        theirs.clone().into(),
        &blake3::hash(&theirs).to_hex(),
        &Condition::None,
    )
    .await
    .unwrap();
    assert_eq!(
        put(&client, &gw, "doc.txt", b"ours, version 2".to_vec())
            .await
            .as_u16(),
        204
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = status_json(tmp.path());
        if st["destinations"][0]["conflicts"] == 1 {
            assert_eq!(st["conflicts"][0]["key"], "alice/doc.txt");
            break;
        }
        assert!(Instant::now() < deadline, "conflict not reported: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        object_hash(&b, "alice/doc.txt").await,
        Some(blake3::hash(&theirs)),
        "their version was overwritten"
    );
    let r = client
        .get(format!("{}doc.txt", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-microcloud-durability"], "local");
    assert_eq!(r.text().await.unwrap(), "ours, version 2");
    let (ok, out) = flush(tmp.path(), 10);
    assert!(
        !ok && out.contains("conflict"),
        "flush must not report success with a conflict: {out}"
    );
}

/// Many new files in one folder are checked against the bucket with one listing instead of one
/// HEAD each: an object someone else put there first must still be kept, and reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_file_never_overwrites_an_object_made_by_someone_else() {
    let g = Garage::start();
    let b = bucket(&g, "batch");
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let gw = Gateway::start(tmp.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .request(
            reqwest::Method::from_bytes(b"MKCOL").unwrap(),
            format!("{}batch", gw.dav()),
        )
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let mut ours = BTreeMap::new();
    for i in 0..12 {
        let name = format!("batch/f{i:02}");
        let data = content_for(&name, 2000 + i);
        assert_eq!(put(&client, &gw, &name, data.clone()).await.as_u16(), 201);
        ours.insert(name, blake3::hash(&data));
    }
    let theirs = b"made in the cloud first".to_vec();
    b.put(
        "alice/batch/f03",
        theirs.clone().into(),
        &blake3::hash(&theirs).to_hex(),
        &Condition::None,
    )
    .await
    .unwrap();
    // The destination comes last: its backfill queues all twelve at once.
    remote_add_s3(
        tmp.path(),
        "batch",
        &g.endpoint(),
        g.region(),
        "batch",
        &g.credentials(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = dest_status(tmp.path(), "batch");
        if d["conflicts"] == 1 && d["pending_files"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "not settled: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status_json(tmp.path())["conflicts"][0]["key"],
        "alice/batch/f03"
    );
    for (name, hash) in &ours {
        let want = if name == "batch/f03" {
            blake3::hash(&theirs)
        } else {
            *hash
        };
        assert_eq!(
            object_hash(&b, &format!("alice/{name}")).await,
            Some(want),
            "{name}"
        );
    }
}

/// The uplink's "now in the cloud" marks are relaxed commits, which a power cut may take back;
/// a crash can also fall between an upload and its record. Either way the next round must find
/// the objects there with our hash and mark them again: no conflict, no object sent twice, and no
/// multipart upload left open. The lost records are made by editing the uplink state of a stopped
/// gateway: every replica pending again, one large file with no multipart record (lost between
/// completing the upload and marking it), one with a record of a finished upload whose completion
/// was not recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_upload_records_are_redone_without_sending_again() {
    const PART: usize = 5 << 20;
    let g = Garage::start();
    let b = bucket(&g, "redo");
    let proxy = CountingProxy::start(g.s3_addr()).await;
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "redo",
        &format!("http://{}", proxy.addr),
        g.region(),
        "redo",
        &g.credentials(),
    );
    let env = [
        ("MICROCLOUD_MULTIPART_THRESHOLD", "5242880"),
        ("MICROCLOUD_PART_SIZE", "5242880"),
        ("MICROCLOUD_MANIFEST_INTERVAL", "3600"),
    ];
    let mut gw = Gateway::start_with_env(tmp.path(), &[], &env);
    let client = reqwest::Client::new();
    let mut files = BTreeMap::new();
    let mut names: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
    names.extend(["big-a.bin".to_owned(), "big-b.bin".to_owned()]);
    for (i, name) in names.iter().enumerate() {
        let len = if name.starts_with("big") {
            2 * PART + 1000 + i
        } else {
            200_000 + i
        };
        let data = content_for(name, len);
        assert_eq!(put(&client, &gw, name, data.clone()).await.as_u16(), 201);
        files.insert(name.clone(), blake3::hash(&data));
    }
    let (ok, out) = flush(tmp.path(), 120);
    assert!(ok, "{out}");
    gw.kill();

    {
        let store =
            microcloud_store::Store::open(tmp.path(), microcloud_store::OpenOptions::default())
                .unwrap();
        let state = UplinkState::open(tmp.path()).unwrap();
        let n = state.reset_replicas(&store).unwrap();
        assert_eq!(n, names.len(), "replicas in the uplink state");
        // Every level is back to local (lowered with the records, before they were forgotten).
        let mut blobs = Vec::new();
        store
            .walk(|e| {
                blobs.extend(
                    e.file
                        .map(|f| (f.blob.id, microcloud_store::Durability::Local)),
                );
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        store.set_durability(&blobs).unwrap();
        assert_eq!(
            store.stats().unwrap().dirty_bytes,
            store.stats().unwrap().bytes
        );
        let dest = state.destinations().unwrap()[0].id;
        let blob = state
            .replica(dest, "alice/big-b.bin")
            .unwrap()
            .unwrap()
            .blob
            .unwrap();
        // A well-formed upload id the server no longer knows (its upload was completed).
        let gone = "0".repeat(64);
        state
            .begin_multipart(dest, "alice/big-b.bin", blob, &gone, PART as u64)
            .unwrap();
        for part in 1..=3 {
            state
                .record_part(dest, "alice/big-b.bin", part, "recorded")
                .unwrap();
        }
    }

    let sent_before = proxy.sent.load(std::sync::atomic::Ordering::Relaxed);
    gw.restart();
    let (ok, out) = flush(tmp.path(), 120);
    assert!(ok, "flush after the lost records: {out}");
    let resent = proxy.sent.load(std::sync::atomic::Ordering::Relaxed) - sent_before;
    // HEADs, a listing and an abort: tens of kilobytes; any file sent again would be 200 kB or more.
    eprintln!("redo test: {resent} bytes sent after the restart");
    assert!(
        resent < 150_000,
        "{resent} bytes sent after the restart: objects were uploaded again"
    );
    let st = status_json(tmp.path());
    assert_eq!(st["destinations"][0]["conflicts"], 0, "{st}");
    assert_eq!(st["destinations"][0]["pending_files"], 0, "{st}");
    for (name, hash) in &files {
        assert_eq!(
            object_hash(&b, &format!("alice/{name}")).await,
            Some(*hash),
            "{name}"
        );
        let r = client
            .head(format!("{}{name}", gw.dav()))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["x-microcloud-durability"],
            "cloud:all",
            "{name}"
        );
    }
    let left = UplinkState::open_read_only(tmp.path())
        .unwrap()
        .multipart_uploads()
        .unwrap()
        .len();
    assert_eq!(left, 0, "multipart records left in the uplink state");
    assert!(
        b.list_multipart("").await.unwrap().is_empty(),
        "multipart uploads left open in the bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scrub_finds_and_repairs_deleted_and_damaged_objects() {
    let g = Garage::start();
    let b = bucket(&g, "scrub");
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "scrub",
        &g.endpoint(),
        g.region(),
        "scrub",
        &g.credentials(),
    );
    let gw = Gateway::start(tmp.path(), &[]);
    let client = reqwest::Client::new();
    let mut files = BTreeMap::new();
    for i in 0..6 {
        let name = format!("f{i}");
        let data = content_for(&name, 100_000 + i * 10);
        assert_eq!(put(&client, &gw, &name, data.clone()).await.as_u16(), 201);
        files.insert(name, data);
    }
    let (ok, out) = flush(tmp.path(), 60);
    assert!(ok, "{out}");
    // Behind the gateway's back: one object deleted, one with its bytes damaged (same size,
    // label intact, as storage corruption looks), one truncated.
    b.delete("alice/f1").await.unwrap();
    let label = blake3::hash(&files["f2"]).to_hex().to_string();
    b.put(
        "alice/f2",
        vec![0u8; files["f2"].len()].into(),
        &label,
        &Condition::None,
    )
    .await
    .unwrap();
    let label = blake3::hash(&files["f3"]).to_hex().to_string();
    b.put(
        "alice/f3",
        files["f3"][..1000].to_vec().into(),
        &label,
        &Condition::None,
    )
    .await
    .unwrap();

    let report: serde_json::Value = serde_json::from_str(&microcloud(
        &["scrub", "--data", tmp.path().to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(report["checked"], 6, "{report}");
    assert_eq!(report["missing"], 1, "{report}");
    assert_eq!(report["corrupt"], 2, "{report}");
    assert_eq!(report["conflicts"], 0, "{report}");
    let (ok, out) = flush(tmp.path(), 60);
    assert!(ok, "{out}");
    for (name, data) in &files {
        assert_eq!(
            object_hash(&b, &format!("alice/{name}")).await,
            Some(blake3::hash(data)),
            "{name} repaired"
        );
    }
    let again: serde_json::Value = serde_json::from_str(&microcloud(
        &["scrub", "--data", tmp.path().to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(
        (again["missing"].as_u64(), again["corrupt"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blank_box_restored_from_one_bucket_serves_every_file() {
    let g = Garage::start();
    let b = bucket(&g, "restore");
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "restore",
        &g.endpoint(),
        g.region(),
        "restore",
        &g.credentials(),
    );
    let gw = Gateway::start_with_env(tmp.path(), &[], &[("MICROCLOUD_MANIFEST_INTERVAL", "3600")]);
    let client = reqwest::Client::new();
    for d in ["photos", "photos/2026", "empty"] {
        assert_eq!(mkcol(&client, &gw, d).await.as_u16(), 201);
    }
    let mut files = BTreeMap::new();
    for (name, len) in [
        ("photos/2026/a.jpg", 2_500_000usize),
        ("photos/b c.png", 70_000),
        ("notes.txt", 12),
        ("empty-file", 0),
    ] {
        let data = content_for(name, len);
        assert_eq!(put(&client, &gw, name, data.clone()).await.as_u16(), 201);
        files.insert(name.to_owned(), data);
    }
    let (ok, out) = flush(tmp.path(), 60);
    assert!(ok, "{out}");
    // The manifest is written hourly here: the one in the bucket is flush's, and lists every file.
    let m = json_object(&b, ".microcloud/manifest.json").await;
    assert_eq!(
        m["files"].as_array().map(Vec::len),
        Some(files.len()),
        "{m}"
    );
    // Later changes go up as a delta against that manifest: a new file in a new folder and an
    // empty folder (which only the manifest can bring back: no object stands for it).
    for d in ["later", "later/empty"] {
        assert_eq!(mkcol(&client, &gw, d).await.as_u16(), 201);
    }
    let data = content_for("later/new.txt", 3_000);
    assert_eq!(
        put(&client, &gw, "later/new.txt", data.clone())
            .await
            .as_u16(),
        201
    );
    files.insert("later/new.txt".to_owned(), data);
    let (ok, out) = flush(tmp.path(), 60);
    assert!(ok, "{out}");
    let whole = json_object(&b, ".microcloud/manifest.json").await;
    assert_eq!(
        whole, m,
        "the second flush wrote a delta, not the whole manifest"
    );
    let delta = json_object(&b, ".microcloud/manifest-delta.json").await;
    assert_eq!(delta["base"], m["generation"], "{delta}");
    let merged = microcloud_uplink::manifest::fetch(&b)
        .await
        .unwrap()
        .unwrap();
    let listed: Vec<&str> = merged.files.iter().map(|f| f.path.as_str()).collect();
    let expected: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(listed, expected);
    assert!(merged
        .dirs
        .iter()
        .any(|d| d.user == "alice" && d.path == "later/empty"));
    drop(gw);

    let fresh = tempfile::tempdir().unwrap();
    let text = g.restore("restore", fresh.path());
    assert!(text.contains("restored 5 files"), "{text}");
    microcloud(
        &[
            "user",
            "passwd",
            "alice",
            "--data",
            fresh.path().to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
    let gw2 = Gateway::start(fresh.path(), &[]);
    let client = reqwest::Client::new();
    for (name, data) in &files {
        let r = client
            .get(format!("{}{name}", gw2.dav()))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(r.headers()["x-microcloud-durability"], "cloud:all");
        assert_eq!(
            blake3::hash(&r.bytes().await.unwrap()),
            blake3::hash(data),
            "{name} restored"
        );
    }
    for d in ["empty", "later/empty"] {
        let r = client
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                format!("{}{d}", gw2.dav()),
            )
            .basic_auth("alice", Some(PASSWORD))
            .header("Depth", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 207, "empty directory {d} restored");
    }
    let st = status_json(fresh.path());
    assert_eq!(
        st["destinations"][0]["pending_files"], 0,
        "restore uploads nothing again: {st}"
    );
    let metrics = microcloud_tests::metrics(&client, &gw2).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "microcloud_cache_reads_total{result=\"miss\"} 5"),
        "{metrics}"
    );
    drop(gw2);

    // Another blank box, restored from the same bucket, whose copy of one file was damaged in
    // the cloud meanwhile: reading it fails loudly, never hands out wrong bytes as complete.
    let name = "photos/2026/a.jpg";
    let label = blake3::hash(&files[name]).to_hex().to_string();
    let mut damaged = files[name].clone();
    damaged[1_000_000] ^= 0xff;
    b.put(
        &format!("alice/{name}"),
        damaged.into(),
        &label,
        &Condition::None,
    )
    .await
    .unwrap();
    let third = tempfile::tempdir().unwrap();
    g.restore("restore", third.path());
    microcloud(
        &[
            "user",
            "passwd",
            "alice",
            "--data",
            third.path().to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
    let gw3 = Gateway::start(third.path(), &[]);
    let client = reqwest::Client::new();
    for attempt in 0..2 {
        let r = client
            .get(format!("{}{name}", gw3.dav()))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 200 {
            let body = r.bytes().await;
            assert!(
                body.is_err(),
                "attempt {attempt}: a damaged cloud copy was served as complete"
            );
        } else {
            assert!(
                r.status().is_server_error(),
                "attempt {attempt}: {}",
                r.status()
            );
        }
    }
    let r = client
        .get(format!("{}notes.txt", gw3.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        files["notes.txt"].as_slice(),
        "undamaged files still read"
    );
}

/// The appliance's layout: the LAN service and the uplink as separate processes (the LAN side
/// never holds cloud credentials), each started on its own as the appliance's services are.
/// Uploads, eviction and read-through work over the uplink's socket in the data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lan_service_and_uplink_as_separate_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    add_user(&data, "alice");
    microcloud(
        &[
            "remote",
            "add",
            "disk",
            "--data",
            data.to_str().unwrap(),
            "--dir",
            dest.to_str().unwrap(),
        ],
        "",
    );
    let gw = Gateway::start(&data, &["--no-uplink", "--cache-size", "4M"]);
    // A second uplink must be refused while this one runs.
    let mut uplink = std::process::Command::new(microcloud_tests::bin())
        .args(["uplink", "--data", data.to_str().unwrap()])
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let second = std::process::Command::new(microcloud_tests::bin())
        .args(["uplink", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !second.status.success()
            && String::from_utf8_lossy(&second.stderr).contains("already running")
    );
    assert!(uplink.try_wait().unwrap().is_none(), "the uplink exited");
    let _uplink = Kill(uplink);

    let client = reqwest::Client::new();
    let mut files = BTreeMap::new();
    for i in 0..3 {
        let name = format!("f{i}.bin");
        let body = content_for(&name, 1_500_000);
        assert_eq!(
            put(&client, &gw, &name, body.clone()).await.as_u16(),
            201,
            "{name}"
        );
        files.insert(name, body);
        // Once safe in the cloud, content may make room for the next file.
        let (ok, out) = flush(&data, 60);
        assert!(ok, "{out}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // Past 90% of the 4 MiB bound, content safe everywhere is evicted...
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_json(&data)["bytes"].as_u64().unwrap() > 4 << 20 {
        assert!(
            Instant::now() < deadline,
            "nothing evicted: {}",
            status_json(&data)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and every file still reads whole, fetched back by the uplink on request.
    for (name, d) in &files {
        let r = client
            .get(format!("{}{name}", gw.dav()))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(
            blake3::hash(&r.bytes().await.unwrap()),
            blake3::hash(d),
            "{name}"
        );
    }
}

/// The uplink the gateway starts is a process of its own: when it dies, the gateway starts it
/// again (as systemd does the appliance's service), and uploads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uplink_that_dies_is_started_again_by_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    add_user(&data, "alice");
    microcloud(
        &[
            "remote",
            "add",
            "disk",
            "--data",
            data.to_str().unwrap(),
            "--dir",
            dest.to_str().unwrap(),
        ],
        "",
    );
    let gw = Gateway::start(&data, &[]);
    let uplink_pid = || -> Option<i32> {
        std::fs::read_to_string(data.join("uplink.lock"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        if let Some(p) = uplink_pid() {
            break p;
        }
        assert!(Instant::now() < deadline, "the gateway started no uplink");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let client = reqwest::Client::new();
    let body = content_for("after.bin", 100_000);
    assert_eq!(
        put(&client, &gw, "after.bin", body.clone()).await.as_u16(),
        201
    );
    // Started again within its pause (2 s); the file written meanwhile reaches the destination.
    let (ok, out) = flush(&data, 60);
    assert!(ok, "{out}");
    let second = uplink_pid().unwrap();
    assert_ne!(first, second, "the uplink was not started again");
    assert_eq!(
        std::fs::read(dest.join("alice/after.bin")).unwrap(),
        body,
        "the file did not reach the destination"
    );
}
