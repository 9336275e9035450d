//! The cloud side on a real distributed store: three-node Garage clusters (replication factor 3,
//! three processes on loopback each) as destinations. A node lost during uploads loses nothing;
//! two lost make the destination "down" while the LAN goes on; healed, it drains. Two clusters as
//! two destinations ("regions"): with one down, evicted files are read from the other, and what
//! was written meanwhile reaches the first once it is back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use microcloud_remotes::{collect, Remote};
use microcloud_tests::garage_cluster::GarageCluster;
use microcloud_tests::{
    add_user, content_for, flush, remote_add_s3, s3, status_json, Gateway, PASSWORD,
};

async fn put(c: &reqwest::Client, gw: &Gateway, name: &str, body: &[u8]) -> u16 {
    c.put(format!("{}{name}", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The bucket `name` of `c`, made, as a client of its own.
fn bucket(c: &GarageCluster, name: &str) -> Remote {
    c.create_bucket(name);
    s3(&c.endpoint(), c.region(), name, &c.credentials())
}

/// Every file of `files` is in `b` under alice/ with its bytes.
async fn holds_all(b: &Remote, files: &BTreeMap<String, Vec<u8>>) {
    for (name, data) in files {
        let got = collect(b.get(&format!("alice/{name}"), None).await.unwrap())
            .await
            .unwrap();
        assert_eq!(blake3::hash(&got), blake3::hash(data), "{name}");
    }
}

/// The destination's state in `status --json`.
fn state_of(dir: &std::path::Path, dest: &str) -> serde_json::Value {
    let st = status_json(dir);
    st["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == dest)
        .cloned()
        .unwrap_or_else(|| panic!("no destination {dest}: {st}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_node_cloud_loses_one_node_then_two_and_heals() {
    let mut c = GarageCluster::start();
    let b = bucket(&c, "home");
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "cluster",
        &c.endpoint(),
        c.region(),
        "home",
        &c.credentials(),
    );
    let gw = Gateway::start(tmp.path(), &[]);
    let http = reqwest::Client::new();
    let mut files = BTreeMap::new();
    // Uploads under way when a node dies.
    for i in 0..300 {
        let name = format!("a{i}.txt");
        let body = content_for(&name, 2000 + i * 13);
        assert_eq!(put(&http, &gw, &name, &body).await, 201, "{name}");
        files.insert(name, body);
        if i == 100 {
            c.kill(2);
        }
    }
    let (ok, out) = flush(tmp.path(), 180);
    assert!(ok, "with one node of three lost: {out}");
    holds_all(&b, &files).await;

    // Two of three lost: no quorum. The LAN does not notice; the destination is down.
    c.kill(1);
    let t = Instant::now();
    for i in 0..50 {
        let name = format!("b{i}.txt");
        let body = content_for(&name, 3000);
        assert_eq!(put(&http, &gw, &name, &body).await, 201, "{name}");
        files.insert(name, body);
    }
    println!("50 PUTs with the cloud down took {:?}", t.elapsed());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let d = state_of(tmp.path(), "cluster");
        if d["state"] != "ok" && d["pending_files"].as_u64().unwrap() > 0 {
            println!("with two nodes lost: {d}");
            break;
        }
        assert!(Instant::now() < deadline, "never taken as down: {d}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Healed: everything drains.
    c.revive(1);
    c.revive(2);
    let (ok, out) = flush(tmp.path(), 300);
    assert!(ok, "after healing: {out}");
    assert_eq!(state_of(tmp.path(), "cluster")["state"], "ok");
    holds_all(&b, &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_regions_one_down_reads_come_from_the_other_and_it_is_backfilled() {
    let (mut ca, cb) = (GarageCluster::start(), GarageCluster::start());
    let (ba, bb) = (bucket(&ca, "region-a"), bucket(&cb, "region-b"));
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    remote_add_s3(
        tmp.path(),
        "a",
        &ca.endpoint(),
        ca.region(),
        "region-a",
        &ca.credentials(),
    );
    remote_add_s3(
        tmp.path(),
        "b",
        &cb.endpoint(),
        cb.region(),
        "region-b",
        &cb.credentials(),
    );
    // A small cache: content safe in both regions is evicted from the box.
    let gw = Gateway::start(tmp.path(), &["--cache-size", "4M"]);
    let http = reqwest::Client::new();
    let mut files = BTreeMap::new();
    for i in 0..3 {
        let name = format!("big{i}.bin");
        let body = content_for(&name, 1_500_000);
        assert_eq!(put(&http, &gw, &name, &body).await, 201, "{name}");
        files.insert(name, body);
        let (ok, out) = flush(tmp.path(), 120);
        assert!(ok, "{out}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while status_json(tmp.path())["bytes"].as_u64().unwrap() > 4 << 20 {
        assert!(
            Instant::now() < deadline,
            "nothing evicted: {}",
            status_json(tmp.path())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    holds_all(&ba, &files).await;
    holds_all(&bb, &files).await;

    // Region A loses two of its three nodes: down.
    ca.kill(1);
    ca.kill(2);
    for (name, data) in &files {
        let r = http
            .get(format!("{}{name}", gw.dav()))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name} with region A down");
        assert_eq!(
            blake3::hash(&r.bytes().await.unwrap()),
            blake3::hash(data),
            "{name}"
        );
    }
    let mut later = BTreeMap::new();
    for i in 0..5 {
        let name = format!("later{i}.txt");
        let body = content_for(&name, 10_000);
        assert_eq!(put(&http, &gw, &name, &body).await, 201, "{name}");
        later.insert(name, body);
    }
    // Region B takes them; A waits.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (a, b) = (state_of(tmp.path(), "a"), state_of(tmp.path(), "b"));
        if b["pending_files"] == 0 && a["pending_files"].as_u64().unwrap() >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "region a {a}, region b {b}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    holds_all(&bb, &later).await;

    // Back: A is backfilled.
    ca.revive(1);
    ca.revive(2);
    let (ok, out) = flush(tmp.path(), 300);
    assert!(ok, "after region A came back: {out}");
    holds_all(&ba, &later).await;
    holds_all(&ba, &files).await;
}
