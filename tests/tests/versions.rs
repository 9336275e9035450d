//! Nothing a tablet does is final, end to end: a real gateway, real WebDAV clients (rclone, curl),
//! and the command line a maintainer uses: versions, trash, rollback, retention and the
//! ransomware guard; and a rollback killed with SIGKILL leaves the old tree or the new one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use microcloud_tests::{add_user, bin, content_for, microcloud, status_json, Gateway, PASSWORD};

fn data(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

/// Runs `microcloud ARGS`, expecting failure; returns its stderr.
fn microcloud_fails(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        !out.status.success(),
        "microcloud {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&microcloud(args, "")).unwrap()
}

async fn put(client: &reqwest::Client, url: &str, body: Vec<u8>) {
    let r = client
        .put(url)
        .basic_auth("alice", Some(PASSWORD))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "PUT {url}: {}", r.status());
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Vec<u8>) {
    let r = client
        .get(url)
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// Every file of a local tree: relative path → BLAKE3 hex.
fn local_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
                out.insert(
                    rel,
                    blake3::hash(&std::fs::read(&p).unwrap())
                        .to_hex()
                        .to_string(),
                );
            }
        }
    }
    out
}

/// rclone on the gateway's WebDAV, with more transfers than its default (1,000 small files).
fn rclone(gw: &Gateway, args: &[&str]) -> String {
    let args = [args, &["--transfers", "8", "--checkers", "8"]].concat();
    microcloud_tests::rclone(&gw.dav(), None, &args)
}

/// A file overwritten 10 times over WebDAV lists 10 versions with the device that wrote each, and
/// every one comes back byte for byte with `microcloud rollback --version`.
#[tokio::test]
async fn ten_overwrites_ten_versions_each_restored_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    add_user(dir, "alice");
    let gw = Gateway::start(dir, &["--no-uplink"]);
    let client = reqwest::Client::new();
    let url = format!("{}notes.txt", gw.dav());
    let body = |round: usize| content_for(&format!("round {round}"), 1000 + round * 7919);
    for round in 0..11 {
        put(&client, &url, body(round)).await;
    }
    let listed = json(&[
        "versions",
        "alice",
        "/notes.txt",
        "--data",
        data(dir),
        "--json",
    ]);
    let versions = listed["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 10);
    assert_eq!(
        listed["current"]["blake3"].as_str().unwrap(),
        blake3::hash(&body(10)).to_hex().to_string()
    );
    for v in versions {
        let id = v["id"].as_i64().unwrap().to_string();
        microcloud(
            &[
                "rollback",
                "alice",
                "/notes.txt",
                "--version",
                &id,
                "--data",
                data(dir),
            ],
            "",
        );
        let (status, got) = get(&client, &url).await;
        assert_eq!(status, 200);
        assert_eq!(
            blake3::hash(&got).to_hex().to_string(),
            v["blake3"].as_str().unwrap(),
            "version {id}"
        );
        assert_eq!(got.len() as u64, v["size"].as_u64().unwrap());
    }
    // The text form names the columns and how to put one back.
    let text = microcloud(
        &["versions", "alice", "/notes.txt", "--data", data(dir)],
        "",
    );
    assert!(
        text.contains("BLAKE3") && text.contains("--version ID"),
        "{text}"
    );
}

/// A folder of 1,000 files deleted by a WebDAV client is in the trash, grouped by folder, and
/// comes back as an identical tree (paths and hashes) with one command.
#[tokio::test]
async fn a_deleted_folder_comes_back_from_the_trash_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    add_user(&dir, "alice");
    let gw = Gateway::start(&dir, &["--no-uplink"]);
    let src = tmp.path().join("src");
    for i in 0..1000 {
        let p = src.join(format!("album {}/photo-{i}.jpg", i % 8));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content_for(&p.to_string_lossy(), 100 + (i * 37) % 3000)).unwrap();
    }
    let src_s = src.to_str().unwrap();
    rclone(&gw, &["copy", src_s, "mc:photos"]);
    rclone(&gw, &["purge", "mc:photos"]);
    assert_eq!(rclone(&gw, &["lsf", "mc:"]).trim(), "");
    let trash = json(&["trash", "alice", "--data", data(&dir), "--json"]);
    assert_eq!(trash.as_array().unwrap().len(), 1000);
    assert_eq!(
        trash
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["folder"] == "photos/album 3")
            .count(),
        125
    );
    let text = microcloud(&["trash", "alice", "--data", data(&dir)], "");
    assert!(text.contains("/photos/album 3: 125 files"), "{text}");
    microcloud(
        &[
            "trash",
            "alice",
            "/photos",
            "--restore",
            "--data",
            data(&dir),
        ],
        "",
    );
    let back = tmp.path().join("back");
    rclone(&gw, &["copy", "mc:photos", back.to_str().unwrap()]);
    assert_eq!(local_tree(&back), local_tree(&src));
    let err = microcloud_fails(&[
        "trash",
        "alice",
        "/photos",
        "--restore",
        "--data",
        data(&dir),
    ]);
    assert!(err.contains("nothing in the trash"), "{err}");
}

/// A simulated ransomware run over WebDAV (random bytes written over 1,000 files, each renamed
/// `.locked`) trips the guard, which pins every version and shows in `status --json`; one
/// decision puts every original back, byte for byte, and the `.locked` files go.
#[tokio::test]
async fn a_ransomware_run_trips_the_guard_and_one_rollback_restores_every_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    add_user(&dir, "alice");
    let log = tmp.path().join("gateway.log");
    let gw = Gateway::start_logged(&dir, &["--no-uplink"], &log);
    let src = tmp.path().join("docs");
    for i in 0..1000 {
        let p = src.join(format!("project {}/report-{i}.txt", i % 10));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let text =
            format!("Report {i}: quarterly figures, minutes and plans. ").repeat(20 + i % 50);
        std::fs::write(&p, text).unwrap();
    }
    rclone(&gw, &["copy", src.to_str().unwrap(), "mc:docs"]);
    assert!(status_json(&dir)["guard"].as_array().unwrap().is_empty());
    // The attack: every file rewritten in place with random bytes...
    let evil = tmp.path().join("evil");
    for (rel, _) in local_tree(&src) {
        let p = evil.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content_for(&format!("encrypted {rel}"), 4096)).unwrap();
    }
    rclone(
        &gw,
        &["copy", "--ignore-times", evil.to_str().unwrap(), "mc:docs"],
    );
    // ... then renamed to `.locked`, with curl's MOVE.
    let config = tmp.path().join("moves.curl");
    let mut text = String::new();
    for (k, rel) in local_tree(&src).keys().enumerate() {
        if k > 0 {
            text.push_str("next\n");
        }
        let url = format!("{}docs/{}", gw.dav(), rel.replace(' ', "%20"));
        text.push_str(&format!(
            "url = \"{url}\"\nrequest = \"MOVE\"\nheader = \"Destination: {url}.locked\"\nuser = \"alice:{PASSWORD}\"\noutput = \"/dev/null\"\nsilent\nfail\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    // Eight at a time, as ransomware does not wait for one file before the next.
    let out = Command::new("curl")
        .args(["--parallel", "--parallel-max", "8", "-K"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl MOVE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = rclone(&gw, &["lsf", "-R", "--files-only", "mc:docs"]);
    assert_eq!(
        listed.lines().filter(|l| l.ends_with(".locked")).count(),
        1000
    );
    // The box kept serving and the guard tripped, once.
    let status = status_json(&dir);
    let trips = status["guard"].as_array().unwrap();
    assert_eq!(trips.len(), 1, "{status}");
    assert_eq!(trips[0]["user"], "alice");
    assert!(
        status["versions"]["pinned"].as_u64().unwrap() >= 2000,
        "{status}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("ransomware guard #"), "{logged}");
    // Retention cannot take the originals while the owner has not decided.
    microcloud(
        &[
            "retention",
            "--expire",
            "--now",
            "in 400 days",
            "--data",
            data(&dir),
        ],
        "",
    );
    let id = trips[0]["id"].as_i64().unwrap().to_string();
    let guard_text = microcloud(&["guard", "--data", data(&dir)], "");
    assert!(
        guard_text.contains("OPEN") && guard_text.contains(&format!("--rollback {id}")),
        "{guard_text}"
    );
    let report = json(&["guard", "--rollback", &id, "--data", data(&dir), "--json"]);
    assert_eq!(report["restored"], 1000, "{report}");
    assert_eq!(report["removed"], 1000, "{report}");
    let back = tmp.path().join("back");
    rclone(&gw, &["copy", "mc:docs", back.to_str().unwrap()]);
    assert_eq!(local_tree(&back), local_tree(&src));
    assert!(status_json(&dir)["guard"].as_array().unwrap().is_empty());
}

/// Bad input to the new commands: clear one-line errors, nothing changed.
#[test]
fn bad_input_gets_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    add_user(dir, "alice");
    let d = data(dir);
    for (args, expect) in [
        (
            vec!["versions", "nobody", "/x", "--data", d],
            "no user named",
        ),
        (
            vec!["versions", "alice", "/never", "--data", d],
            "no such file or folder",
        ),
        (
            vec!["versions", "alice", "/../etc/passwd", "--data", d],
            "relative path",
        ),
        (
            vec![
                "rollback",
                "alice",
                "/",
                "--at",
                "yesterday-ish",
                "--data",
                d,
            ],
            "is not a time",
        ),
        (
            vec![
                "rollback",
                "alice",
                "/never",
                "--at",
                "10 minutes ago",
                "--data",
                d,
            ],
            "no such file or folder",
        ),
        (
            vec![
                "rollback",
                "alice",
                "/",
                "--at",
                "2001-01-01T00:00:00Z",
                "--data",
                d,
            ],
            "before the retention",
        ),
        (
            vec!["rollback", "alice", "/", "--at", "in 2 days", "--data", d],
            "in the future",
        ),
        (
            vec!["rollback", "alice", "/x", "--version", "12345", "--data", d],
            "no version #12345",
        ),
        (
            vec!["trash", "alice", "/nothing", "--restore", "--data", d],
            "nothing in the trash",
        ),
        (
            vec!["guard", "--rollback", "7", "--data", d],
            "no ransomware guard trip #7",
        ),
        (vec!["retention", "--days", "99999", "--data", d], "99999"),
        (vec!["retention", "--user-cap", "lots", "--data", d], "lots"),
    ] {
        let err = microcloud_fails(&args);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Neither --at nor --version: usage text.
    let err = microcloud_fails(&["rollback", "alice", "/", "--data", d]);
    assert!(err.contains("--at") && err.contains("Usage"), "{err}");
    for cmd in ["versions", "trash", "rollback", "retention", "guard"] {
        let help = microcloud(&[cmd, "--help"], "");
        assert!(help.contains("--data"), "{cmd} --help: {help}");
    }
    // Settings round-trip.
    let r = json(&[
        "retention",
        "--days",
        "7",
        "--user-cap",
        "1G",
        "--guard-files",
        "50",
        "--data",
        d,
        "--json",
    ]);
    assert_eq!(r["policy"]["keep_days"], 7);
    assert_eq!(r["policy"]["user_cap_bytes"], 1u64 << 30);
    assert_eq!(r["policy"]["guard_files"], 50);
}

/// Every file of alice below /f, path → BLAKE3, read from the catalog (no other process runs).
fn catalog_tree(dir: &Path) -> BTreeMap<String, String> {
    let store = microcloud_store::Store::open(dir, Default::default()).unwrap();
    let mut out = BTreeMap::new();
    store
        .walk(|e| {
            if let (Some(f), true) = (e.file, e.path.starts_with("f/")) {
                out.insert(
                    e.path,
                    blake3::Hash::from_bytes(f.blob.hash).to_hex().to_string(),
                );
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    out
}

/// A moment between two steps of a test, as RFC 3339.
fn moment() -> String {
    std::thread::sleep(Duration::from_millis(5));
    let t = jiff::Timestamp::now();
    std::thread::sleep(Duration::from_millis(5));
    t.to_string()
}

/// kill -9 at any moment of a rollback of a 1,000-file folder leaves the old tree or the new one,
/// never a mix; rolling forward again gives the newer tree back.
#[test]
fn a_rollback_killed_at_any_moment_leaves_the_old_tree_or_the_new() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    add_user(&dir, "alice");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = Gateway::start(&dir, &["--no-uplink"]);
    let client = reqwest::Client::new();
    let base = format!("{}f", gw.dav());
    let write_all = |tag: &'static str| {
        rt.block_on(async {
            for i in 0..1000 {
                put(
                    &client,
                    &format!("{base}/{i}"),
                    content_for(&format!("{tag} {i}"), 200),
                )
                .await;
            }
        })
    };
    rt.block_on(async {
        let r = client
            .request(reqwest::Method::from_bytes(b"MKCOL").unwrap(), &base)
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    });
    write_all("old");
    let then = moment();
    write_all("new");
    let later = moment();
    drop(gw);
    let newer = catalog_tree(&dir);
    assert_eq!(newer.len(), 1000);
    let older: BTreeMap<String, String> = (0..1000)
        .map(|i| {
            (
                format!("f/{i}"),
                blake3::hash(&content_for(&format!("old {i}"), 200))
                    .to_hex()
                    .to_string(),
            )
        })
        .collect();
    let args =
        |at: &str| ["rollback", "alice", "/f", "--at", at, "--data", data(&dir)].map(str::to_owned);
    let rollback = |at: &str| microcloud(&args(at).each_ref().map(String::as_str), "");
    // How long one rollback takes here, start to exit, so the kills spread over all of it.
    let started = std::time::Instant::now();
    rollback(&then);
    let whole = started.elapsed();
    assert_eq!(catalog_tree(&dir), older);
    rollback(&later);
    assert_eq!(catalog_tree(&dir), newer);
    let (mut cut, mut completed) = (0, 0);
    for k in 0..16u32 {
        let delay = whole * k / 14;
        let mut child = Command::new(bin())
            .args(args(&then))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        child.wait().unwrap();
        let now = catalog_tree(&dir);
        if now == newer {
            cut += 1;
            continue;
        }
        assert_eq!(
            now, older,
            "after a kill {delay:?} in: neither the old tree nor the new"
        );
        completed += 1;
        // Forward again, to the moment before any rollback.
        rollback(&later);
        assert_eq!(catalog_tree(&dir), newer);
    }
    println!(
        "a rollback takes {whole:?}; killed before its commit: {cut}; committed before the kill: {completed}"
    );
    rollback(&then);
    assert_eq!(catalog_tree(&dir), older);
}
