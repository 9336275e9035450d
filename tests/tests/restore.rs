//! Restore is exact: a box lost right after `flush`, or cut at a random moment while tablets
//! write, is rebuilt on a blank box with every file that was `cloud:all` on it (same user, path
//! and BLAKE3), against a real Garage. The manifest alone is not enough for that: it is written
//! every few seconds, so these tests also lose the box between two of its writes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use microcloud_store::{Durability, OpenOptions, Store};
use microcloud_tests::garage::Garage;
use microcloud_tests::{add_user, content_for, dav_mkcol, flush, remote_add_s3, Gateway, PASSWORD};
use rand::{Rng, SeedableRng};

/// (user, path) -> BLAKE3 of the content.
type Files = BTreeMap<(String, String), blake3::Hash>;

/// The files of the box in `dir` (opened as a box that boots again opens it), with their hashes;
/// only those at `cloud:all` when `safe_only`.
fn files_of(dir: &Path, safe_only: bool) -> Files {
    let store = Store::open(dir, OpenOptions::default()).expect("open the catalog");
    let mut files = Files::new();
    store
        .walk(|e| {
            if let Some(f) = e.file {
                if !safe_only || f.durability == Durability::CloudAll {
                    files.insert((e.user, e.path), blake3::Hash::from_bytes(f.blob.hash));
                }
            }
            ControlFlow::Continue(())
        })
        .expect("walk the catalog");
    files
}

/// A box of users alice and bob, uploading to a new bucket `name` of `g`.
fn new_box(g: &Garage, dir: &Path, name: &str) {
    g.create_bucket(name);
    for u in ["alice", "bob"] {
        add_user(dir, u);
    }
    remote_add_s3(
        dir,
        "home",
        &g.endpoint(),
        g.region(),
        name,
        &g.credentials(),
    );
}

/// The folders each user's files go into: ten projects, each with a sketches folder.
fn folders() -> Vec<String> {
    let mut v = vec!["projects".to_owned()];
    for p in 0..10 {
        v.push(format!("projects/p{p}"));
        v.push(format!("projects/p{p}/sketches"));
    }
    v
}

/// Where file `n` goes, with its content: small files (some empty) in nested folders.
fn file(user: &str, tag: &str, n: usize) -> (String, Vec<u8>) {
    let path = if n.is_multiple_of(3) {
        format!("projects/p{}/{tag}-{n}.txt", n % 10)
    } else {
        format!("projects/p{}/sketches/{tag}-{n}.png", n % 10)
    };
    let len = (n * 37) % 3000;
    (path.clone(), content_for(&format!("{user}/{path}"), len))
}

/// PUT over WebDAV; the status, or None when the box did not answer (cut meanwhile).
async fn put(
    http: &reqwest::Client,
    gw_dav: &str,
    user: &str,
    path: &str,
    body: Vec<u8>,
) -> Option<u16> {
    http.put(format!("{gw_dav}{path}"))
        .basic_auth(user, Some(PASSWORD))
        .body(body)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// 2,002 files of two users in nested folders, `flush` succeeded, and the box is lost at once
/// (SIGKILL of the gateway and its uplink): the manifest would be written only every hour here,
/// so the one restore finds is the one `flush` wrote before it returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_box_lost_right_after_flush_restores_every_file() {
    let g = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box");
    new_box(&g, &dir, "flushed");
    let mut gw = Gateway::start_with_env(&dir, &[], &[("MICROCLOUD_MANIFEST_INTERVAL", "3600")]);
    let http = reqwest::Client::new();
    for user in ["alice", "bob"] {
        for f in folders() {
            dav_mkcol(&http, &gw, user, &f).await;
        }
    }
    let dav = gw.dav();
    let written: Vec<(String, String, blake3::Hash)> =
        futures_util::stream::iter((0..2002usize).map(|n| {
            let (http, dav) = (http.clone(), dav.clone());
            async move {
                let user = if n.is_multiple_of(2) { "alice" } else { "bob" };
                let (path, body) = file(user, "f", n);
                let hash = blake3::hash(&body);
                assert_eq!(
                    put(&http, &dav, user, &path, body).await,
                    Some(201),
                    "{user}/{path}"
                );
                (user.to_owned(), path, hash)
            }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
    let (ok, out) = flush(&dir, 600);
    assert!(ok, "{out}");
    assert!(out.contains("and in its manifest"), "{out}");
    gw.kill();
    let mut want: Files = written.into_iter().map(|(u, p, h)| ((u, p), h)).collect();
    assert_eq!(want.len(), 2002);
    assert_eq!(files_of(&dir, true), want, "every file was cloud:all");

    let fresh = tmp.path().join("restored");
    let text = g.restore("flushed", &fresh);
    assert!(text.contains("restored 2002 files"), "{text}");
    assert!(
        !text.contains("had no manifest")
            && !text.contains("not yet in the bucket's manifest")
            && !text.contains("not restored"),
        "everything came from the manifest flush wrote: {text}"
    );
    assert_eq!(files_of(&fresh, false), std::mem::take(&mut want));
}

/// Tablets write continuously and the box is cut (SIGKILL) at a random moment, three times: each
/// time, a restore of the bucket on a blank box holds every file that was `cloud:all` on the cut
/// box, with its content's hash, whether the manifest was written since it reached the cloud or
/// not. Each cut comes 0-4 s after the round's first file reached the cloud. The seed of the
/// moments is printed; MICROCLOUD_TEST_SEED replays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_box_cut_while_writing_restores_every_file_that_was_cloud_all() {
    let seed = std::env::var("MICROCLOUD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (MICROCLOUD_TEST_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let g = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("box");
    new_box(&g, &dir, "cut");
    // The manifest as the appliance writes it: every 2 s at most (cuts land between two writes).
    let env = [("MICROCLOUD_MANIFEST_INTERVAL", "2")];
    let mut gw = Gateway::start_with_env(&dir, &[], &env);
    let http = reqwest::Client::new();
    for user in ["alice", "bob"] {
        for f in folders() {
            dav_mkcol(&http, &gw, user, &f).await;
        }
    }
    for round in 1..=3 {
        if round > 1 {
            gw.restart();
        }
        let dav = gw.dav();
        let writer = {
            let http = http.clone();
            tokio::spawn(async move {
                let mut stored = 0;
                for n in 0usize.. {
                    let user = if n.is_multiple_of(2) { "alice" } else { "bob" };
                    let (path, body) = file(user, &format!("r{round}"), n);
                    match put(&http, &dav, user, &path, body).await {
                        Some(201) => stored += 1,
                        Some(s) => panic!("PUT {user}/{path}: {s}"),
                        None => return stored,
                    }
                }
                stored
            })
        };
        // Some file of this round reaches the cloud first (or the round could check nothing on
        // a slow machine); the cut comes at a random moment after that.
        // (File 2 is alice's and not empty.)
        let (first_user, (first_path, _)) = ("alice", file("alice", &format!("r{round}"), 2));
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let r = http
                .head(format!("{}{first_path}", gw.dav()))
                .basic_auth(first_user, Some(PASSWORD))
                .send()
                .await;
            if r.is_ok_and(|r| {
                r.headers()
                    .get("x-microcloud-durability")
                    .is_some_and(|v| v == "cloud:all")
            }) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: {first_user}/{first_path} never reached the cloud"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let cut_after = Duration::from_millis(rng.random_range(0..4000));
        tokio::time::sleep(cut_after).await;
        gw.kill();
        let stored = writer.await.unwrap();
        let safe = files_of(&dir, true);
        let fresh = tmp.path().join(format!("restored-{round}"));
        let text = g.restore("cut", &fresh);
        let restored = files_of(&fresh, false);
        let lost: Vec<_> = safe
            .iter()
            .filter(|(k, h)| restored.get(*k) != Some(*h))
            .map(|((u, p), _)| format!("{u}/{p}"))
            .collect();
        println!(
            "round {round}: cut {} ms after its first file was cloud:all, {stored} files stored this round, {} cloud:all on the cut box, {} restored",
            cut_after.as_millis(),
            safe.len(),
            restored.len()
        );
        assert!(
            lost.is_empty(),
            "round {round}: {} cloud:all files not restored as they were, e.g. {:?}\n{text}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        assert!(!safe.is_empty(), "round {round}: nothing was cloud:all");
    }
}
