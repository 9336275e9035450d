//! Crash safety: clients write concurrently while the gateway is killed with SIGKILL at random
//! moments. After every restart, every acknowledged file must be there with its hash, and no
//! partial or temporary file may be visible through WebDAV.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use microcloud_tests::{add_user, content_for, list, staging_files, Gateway, PASSWORD};
use rand::Rng;

const ROUNDS: usize = 20;
const CLIENTS: usize = 8;

/// Sizes cover content kept in the catalog, small blob files and streamed multi-megabyte files.
fn size_for(name: &str) -> usize {
    let h = blake3::hash(name.as_bytes()).as_bytes()[0];
    match h % 4 {
        0 => 1 + h as usize * 16,
        1 => 70_000 + h as usize * 100,
        2 => (1 << 20) + h as usize * 4096,
        _ => (3 << 20) + h as usize * 1000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_concurrent_writes_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let mut gw = Gateway::start(tmp.path(), &[]);
    // name -> hash of every acknowledged write (later acknowledged overwrites replace it).
    let acked: Arc<Mutex<BTreeMap<String, blake3::Hash>>> = Arc::default();
    let attempted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let mut total_acked = 0usize;

    for round in 0..ROUNDS {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, acked, attempted, base) =
                (client.clone(), acked.clone(), attempted.clone(), gw.dav());
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    // Some names are rewritten across rounds, so overwrites are crashed too.
                    let name = if i % 5 == 4 {
                        format!("shared-{c}")
                    } else {
                        format!("r{round}-c{c}-{i}")
                    };
                    let gen = format!("{name}@{round}-{i}");
                    let data = content_for(&gen, size_for(&gen));
                    attempted
                        .lock()
                        .unwrap()
                        .insert(format!("{name}={}", blake3::hash(&data).to_hex()));
                    let r = client
                        .put(format!("{base}{name}"))
                        .basic_auth("alice", Some(PASSWORD))
                        .body(data.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().unwrap().insert(name, blake3::hash(&data));
                        }
                        Ok(r) => panic!("PUT {name}: unexpected status {}", r.status()),
                        Err(_) => return i, // the gateway died under us
                    }
                }
                unreachable!()
            }));
        }
        let delay = rand::rng().random_range(150..900);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        gw.kill();
        for t in tasks {
            t.await.unwrap();
        }
        gw.restart();

        // One read of every listed file (the rounds' reads were most of this test's time, so each
        // file is read once a round, a few at a time): nothing half-written or temporary is
        // visible, so every listed file is whole, matches its catalog hash and is some whole
        // attempted write.
        let listed = list(&client, &gw.dav(), "alice").await;
        let base = gw.dav();
        let read: BTreeMap<String, String> = futures_util::stream::iter(listed)
            .map(|name| {
                let (client, base) = (client.clone(), base.clone());
                async move {
                    let r = client
                        .get(format!("{base}{name}"))
                        .basic_auth("alice", Some(PASSWORD))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200, "round {round}: GET {name}");
                    let header = r.headers()["x-microcloud-blake3"]
                        .to_str()
                        .unwrap()
                        .to_owned();
                    let body = r.bytes().await.unwrap();
                    let got = blake3::hash(&body).to_hex().to_string();
                    assert_eq!(
                        got, header,
                        "round {round}: {name} content does not match its catalog hash"
                    );
                    (name, got)
                }
            })
            .buffer_unordered(4)
            .collect()
            .await;
        {
            let attempted = attempted.lock().unwrap();
            for (name, got) in &read {
                assert!(
                    attempted.contains(&format!("{name}={got}")),
                    "round {round}: {name} is visible but is not any whole write"
                );
            }
        }
        // Every acknowledged file is there: with its hash, or with a later, unacknowledged
        // overwrite, which the reads above showed to be a whole attempted write.
        let acked_now = acked.lock().unwrap().clone();
        total_acked = acked_now.len();
        for name in acked_now.keys() {
            assert!(
                read.contains_key(name),
                "round {round}: acknowledged {name} missing"
            );
        }
        // Leftovers of cut uploads were cleaned at start.
        assert_eq!(
            staging_files(&gw.dir),
            0,
            "round {round}: staging leftovers after restart"
        );
    }
    assert!(
        total_acked > ROUNDS * 5,
        "too few writes were acknowledged to mean anything: {total_acked}"
    );
    eprintln!("crash test: {ROUNDS} rounds, {total_acked} files acknowledged and verified");
}

/// `microcloud check` after a SIGKILL finds both databases sound (while the gateway runs again,
/// too), and names a catalog whose first page was overwritten, exiting 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_the_databases_sound_after_a_kill_and_names_a_damaged_catalog() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "ann");
    let mut gw = Gateway::start(dir.path(), &["--no-uplink"]);
    let http = reqwest::Client::new();
    for i in 0..50 {
        let name = format!("/f{i}.bin");
        microcloud_tests::dav_put(
            &http,
            &gw,
            "ann",
            &name,
            &content_for(&name, size_for(&name)),
        )
        .await;
    }
    gw.kill();
    let data = dir.path().to_str().unwrap();
    let out = microcloud_tests::microcloud(&["check", "--data", data], "");
    assert_eq!(out, "catalog: ok\nuplink state: ok\n");
    let gw = Gateway::start(dir.path(), &["--no-uplink"]);
    let json: serde_json::Value = serde_json::from_str(&microcloud_tests::microcloud(
        &["check", "--data", data, "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"catalog": [], "uplink_state": [], "ok": true})
    );
    drop(gw);

    // The catalog's first page overwritten after its 100-byte header, and its write-ahead log
    // gone: the schema SQLite reads first is garbage.
    let catalog = dir.path().join("catalog.sqlite");
    let mut bytes = std::fs::read(&catalog).unwrap();
    assert!(bytes.len() >= 4096, "catalog of {} bytes", bytes.len());
    for b in &mut bytes[100..4096] {
        *b = 0x5a;
    }
    let _ = std::fs::remove_file(dir.path().join("catalog.sqlite-wal"));
    let _ = std::fs::remove_file(dir.path().join("catalog.sqlite-shm"));
    std::fs::write(&catalog, &bytes).unwrap();
    let out = std::process::Command::new(microcloud_tests::bin())
        .args(["check", "--data", data])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("malformed") || said.contains("not a database") || said.contains("catalog: "),
        "the damage is named: {said}"
    );
    assert!(!said.contains("catalog: ok"), "{said}");
}
