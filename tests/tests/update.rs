//! `microcloud update verify` against bundles made the way `image/build` makes them: openssl
//! signs, GNU tar packs. Every kind of bad bundle is refused with its reason and a failing exit.

use std::path::{Path, PathBuf};
use std::process::Command;

use microcloud_tests::bin;

fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes key `name` (private `name.pem`, public `name.pub.pem`) in `dir`.
fn key(dir: &Path, name: &str) {
    sh(
        dir,
        &format!("openssl genpkey -algorithm ed25519 -out {name}.pem && openssl pkey -in {name}.pem -pubout -out {name}.pub.pem"),
    );
}

/// A bundle `out` signed with key `key`, for `arch`, of the payloads in `dir` (made once).
fn bundle(dir: &Path, out: &str, key: &str, arch: &str, version: &str) -> PathBuf {
    sh(
        dir,
        &format!(
            r#"[ -f root.squashfs ] || {{ head -c 3000000 /dev/urandom >root.squashfs; head -c 400000 /dev/urandom >vmlinuz; head -c 90000 /dev/urandom >initrd.img; }}
entry() {{ printf '{{"name":"%s","size":%s,"sha256":"%s"}}' "$1" "$(stat -c %s "$1")" "$(sha256sum <"$1" | cut -d' ' -f1)"; }}
printf '{{"format":"microcloud-update","format_version":1,"system_version":"%s","arch":"%s","commit":"c0ffee","built":"2026-12-03T00:00:00Z","payloads":[%s,%s,%s]}}\n' \
    {version} {arch} "$(entry root.squashfs)" "$(entry vmlinuz)" "$(entry initrd.img)" >bundle.json
openssl pkeyutl -sign -inkey {key}.pem -rawin -in bundle.json -out bundle.json.sig
tar --format=ustar --owner=0 --group=0 --numeric-owner --mode=0644 --mtime=@1764700000 -cf {out} bundle.json bundle.json.sig root.squashfs vmlinuz initrd.img"#
        ),
    );
    dir.join(out)
}

/// Runs `microcloud update verify BUNDLE --key KEY.pub.pem ARGS`: exit status and output.
fn verify(bundle: &Path, key: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .args(["update", "verify"])
        .arg(bundle)
        .arg("--key")
        .arg(key)
        .args(args)
        .output()
        .expect("run microcloud");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_bundle_signed_by_openssl_verifies_and_bad_ones_are_refused_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    key(d, "box");
    key(d, "other");
    let trusted = d.join("box.pub.pem");
    let good = bundle(d, "good.update", "box", "x86_64", "0.1.0.5");

    let (ok, out) = verify(&good, &trusted, &["--running", "0.1.0.4"]);
    assert!(ok, "{out}");
    assert!(out.contains("signature and checksums good"), "{out}");
    assert!(
        out.contains("newer than the running system (0.1.0.4)"),
        "{out}"
    );
    let (ok, out) = verify(&good, &trusted, &["--running", "0.1.0.10", "--json"]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["verified"].as_bool(), v["relation"].as_str()),
        (Some(true), Some("older"))
    );
    assert_eq!(v["manifest"]["payloads"][0]["size"], 3_000_000);

    // Another key's signature.
    let (ok, out) = verify(&good, &d.join("other.pub.pem"), &[]);
    assert!(!ok && out.contains("signature does not match"), "{out}");
    // No key to trust, or not a key.
    let (ok, out) = verify(&good, &d.join("missing.pem"), &[]);
    assert!(!ok && out.contains("missing.pem"), "{out}");
    let (ok, out) = verify(&good, &d.join("box.pem"), &[]);
    assert!(!ok && out.contains("not an Ed25519 public key"), "{out}");

    // A payload changed after signing: one byte of the kernel.
    let bytes = std::fs::read(&good).unwrap();
    // (the kernel's tar header: its name, NUL-padded; its bytes follow the 512-byte header)
    let at = bytes.windows(8).position(|w| w == b"vmlinuz\0").unwrap() + 512 + 1000;
    let mut damaged = bytes.clone();
    damaged[at] ^= 0x01;
    let path = d.join("damaged.update");
    std::fs::write(&path, &damaged).unwrap();
    let (ok, out) = verify(&path, &trusted, &[]);
    assert!(
        !ok && out.contains("vmlinuz is damaged or was changed"),
        "{out}"
    );

    // A payload's tar header damaged (its checksum no longer matches).
    let mut header = bytes.clone();
    let at = header
        .windows(14)
        .position(|w| w == b"root.squashfs\0")
        .unwrap();
    header[at + 300] ^= 0x01; // in its owner's group name: only the checksum catches it
    let path = d.join("header.update");
    std::fs::write(&path, &header).unwrap();
    let (ok, out) = verify(&path, &trusted, &[]);
    assert!(
        !ok && out.contains("header of root.squashfs is damaged"),
        "{out}"
    );

    // bundle.json changed after signing (its version raised).
    let mut forged = bytes.clone();
    let at = forged.windows(7).position(|w| w == b"0.1.0.5").unwrap();
    forged[at + 6] = b'9';
    let path = d.join("forged.update");
    std::fs::write(&path, &forged).unwrap();
    let (ok, out) = verify(&path, &trusted, &[]);
    assert!(!ok && out.contains("signature does not match"), "{out}");

    // Cut short: in the root file system, and in the last payload.
    for cut in [600_000, bytes.len() - 50_000] {
        let path = d.join("cut.update");
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (ok, out) = verify(&path, &trusted, &[]);
        assert!(!ok && out.contains("cut short"), "cut at {cut}: {out}");
    }

    // Signed, but for another machine.
    let arm = bundle(d, "arm.update", "box", "aarch64", "0.1.0.6");
    let (ok, out) = verify(&arm, &trusted, &[]);
    assert!(!ok && out.contains("built for aarch64"), "{out}");

    // Not a bundle at all, and an empty file.
    for (name, content) in [
        ("junk.update", vec![0x42u8; 10_000]),
        ("empty.update", Vec::new()),
    ] {
        let path = d.join(name);
        std::fs::write(&path, content).unwrap();
        let (ok, out) = verify(&path, &trusted, &[]);
        assert!(
            !ok && out.contains("not a microcloud update bundle"),
            "{name}: {out}"
        );
    }
}

/// A box's slots on files: an ESP with slot a's entry (version 0.1.0.1, good) and the factory
/// reset's, 4 MiB partitions, a kernel command line naming the booted slot, a data directory.
fn slots(d: &Path, booted: &str) -> Vec<String> {
    let esp = d.join("esp");
    std::fs::create_dir_all(esp.join("loader/entries")).unwrap();
    std::fs::create_dir_all(esp.join("microcloud/a")).unwrap();
    std::fs::write(esp.join("microcloud/a/vmlinuz"), b"k1").unwrap();
    std::fs::write(esp.join("microcloud/a/initrd.img"), b"i1").unwrap();
    let entries = esp.join("loader/entries");
    if !entries.join("microcloud-slot-a.conf").exists() {
        std::fs::write(
            entries.join("microcloud-slot-a.conf"),
            "title microcloud 0.1.0.1 (slot a)\nsort-key microcloud-999998\nversion 0.1.0.1\n\
             linux /microcloud/a/vmlinuz\ninitrd /microcloud/a/initrd.img\n\
             options quiet panic=10 microcloud.slot=a\n",
        )
        .unwrap();
    }
    std::fs::create_dir_all(d.join("dev")).unwrap();
    for s in ["a", "b"] {
        let f = std::fs::File::options()
            .create(true)
            .write(true)
            .truncate(false)
            .open(d.join(format!("dev/mc-root-{s}")))
            .unwrap();
        f.set_len(4 << 20).unwrap();
    }
    let cmdline = d.join(format!("cmdline-{booted}"));
    std::fs::write(&cmdline, format!("quiet microcloud.slot={booted}\n")).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    vec![
        "--esp".into(),
        esp.display().to_string(),
        "--partitions".into(),
        d.join("dev").display().to_string(),
        "--cmdline".into(),
        cmdline.display().to_string(),
        "--data".into(),
        d.join("data").display().to_string(),
    ]
}

/// A box running 0.1.0.1 from slot a with 0.1.0.2 applied to slot b (next to boot, on trial);
/// returns the options that stand for its ESP, partitions, kernel command line and data.
fn updated_box(d: &Path) -> Vec<String> {
    key(d, "box");
    let more = slots(d, "a");
    let good = bundle(d, "good.update", "box", "x86_64", "0.1.0.2");
    let mut args = more.clone();
    args.extend(["--key".into(), d.join("box.pub.pem").display().to_string()]);
    let (ok, out) = update(
        &["apply", good.to_str().unwrap(), "--running", "0.1.0.1"],
        &args,
    );
    assert!(ok, "{out}");
    more
}

/// Runs `microcloud update ARGS`: exit status and output.
fn update(args: &[&str], more: &[String]) -> (bool, String) {
    let out = Command::new(bin())
        .arg("update")
        .args(args)
        .args(more)
        .output()
        .expect("run microcloud");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn status_json(more: &[String]) -> serde_json::Value {
    let (ok, out) = update(&["status", "--json"], more);
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap()
}

/// Every file under `d`'s esp and dev, for before/after comparisons.
fn snapshot(d: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![d.join("esp"), d.join("dev")];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn apply_writes_the_other_slot_and_status_says_it_boots_next_refusing_bad_bundles_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    key(d, "box");
    key(d, "other");
    let more = slots(d, "a");
    let trusted = d.join("box.pub.pem").display().to_string();
    let with_key = |extra: &[&str]| -> Vec<String> {
        let mut v = more.clone();
        v.extend(["--key".to_owned(), trusted.clone()]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let before = snapshot(d);

    // Refused, each with its reason, and nothing written: another key, a changed byte, cut short,
    // older than running, not there.
    let foreign = bundle(d, "foreign.update", "other", "x86_64", "0.1.0.2");
    let (ok, out) = update(
        &["apply", foreign.to_str().unwrap()],
        &with_key(&["--running", "0.1.0.1"]),
    );
    assert!(!ok && out.contains("signature does not match"), "{out}");
    let good = bundle(d, "good.update", "box", "x86_64", "0.1.0.2");
    sh(d, "cp good.update tampered.update && printf 'X' | dd of=tampered.update bs=1 seek=5000 conv=notrunc status=none");
    let tampered = d.join("tampered.update").display().to_string();
    let (ok, out) = update(&["apply", &tampered], &with_key(&["--running", "0.1.0.1"]));
    assert!(!ok && out.contains("damaged or was changed"), "{out}");
    sh(d, "head -c 2000000 good.update >cut.update");
    let cut = d.join("cut.update").display().to_string();
    let (ok, out) = update(&["apply", &cut], &with_key(&["--running", "0.1.0.1"]));
    assert!(!ok && out.contains("cut short"), "{out}");
    let (ok, out) = update(
        &["apply", good.to_str().unwrap()],
        &with_key(&["--running", "0.1.0.3"]),
    );
    assert!(!ok && out.contains("--force"), "{out}");
    let (ok, out) = update(&["apply", "/nonexistent.update"], &with_key(&[]));
    assert!(!ok && out.contains("/nonexistent.update"), "{out}");
    assert_eq!(snapshot(d), before, "refused bundles wrote nothing");

    // Applied: slot b holds the root, byte for byte, and boots next with three tries.
    let (ok, out) = update(
        &["apply", good.to_str().unwrap()],
        &with_key(&["--running", "0.1.0.1"]),
    );
    assert!(ok, "{out}");
    assert!(out.contains("verifying the signature"), "{out}");
    assert!(out.contains("slot b now holds microcloud 0.1.0.2"), "{out}");
    let root = std::fs::read(d.join("root.squashfs")).unwrap();
    let slot = std::fs::read(d.join("dev/mc-root-b")).unwrap();
    assert_eq!(&slot[..root.len()], &root[..]);
    assert_eq!(
        std::fs::read(d.join("esp/microcloud/b/initrd.img")).unwrap(),
        std::fs::read(d.join("initrd.img")).unwrap()
    );
    let s = status_json(&more);
    assert_eq!(s["next"], "b", "{s}");
    assert_eq!(s["booted"], "a", "{s}");
    assert_eq!(s["slots"][1]["state"], "trying", "{s}");
    assert_eq!(s["slots"][1]["tries_left"], 3, "{s}");
    assert_eq!(s["slots"][1]["version"], "0.1.0.2", "{s}");
    assert_eq!(s["slots"][0]["state"], "good", "{s}");
    let (ok, out) = update(&["status"], &more);
    assert!(ok && out.contains("next boot: slot b"), "{out}");
}

#[test]
fn a_failed_health_check_is_recorded_and_the_status_says_why_the_update_was_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let more = updated_box(d);
    // The box boots slot b three times (systemd-boot counts the tries in the name); each time
    // nothing answers: no gateway, no uplink in this data directory.
    let entries = d.join("esp/loader/entries");
    let on_b = slots(d, "b");
    for (from, to) in [("+3", "+2-1"), ("+2-1", "+1-2"), ("+1-2", "+0-3")] {
        std::fs::rename(
            entries.join(format!("microcloud-slot-b{from}.conf")),
            entries.join(format!("microcloud-slot-b{to}.conf")),
        )
        .unwrap();
        let (ok, out) = update(
            &[
                "health",
                "--wait",
                "0",
                "--units",
                "",
                "--running",
                "0.1.0.2",
            ],
            &on_b,
        );
        assert!(!ok, "{out}");
        assert!(out.contains("the gateway is not running"), "{out}");
        assert!(out.contains("the uplink"), "{out}");
    }
    let failures = std::fs::read_to_string(d.join("data/update/boot-failures.jsonl")).unwrap();
    assert_eq!(failures.lines().count(), 3, "{failures}");
    // Back on slot a, by systemd-boot's order: the status says an update was rolled back, and why.
    let s = status_json(&more);
    assert_eq!(s["next"], "a", "{s}");
    assert_eq!(s["slots"][1]["state"], "bad", "{s}");
    assert_eq!(s["rolled_back"]["version"], "0.1.0.2", "{s}");
    assert_eq!(s["rolled_back"]["tries"], 3, "{s}");
    assert!(
        s["rolled_back"]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("gateway"),
        "{s}"
    );
    let (ok, out) = update(&["status"], &more);
    assert!(
        ok && out.contains("rolled back: the update to 0.1.0.2"),
        "{out}"
    );
    // Rolling back by hand to a slot that never booted healthy is refused.
    let (ok, out) = update(&["rollback"], &more[..6]);
    assert!(!ok && out.contains("never booted healthy"), "{out}");
    // And so is the page's ask (through the update service), which says so in its progress.
    let progress = ask_rollback(d, &more);
    assert_eq!(progress["state"], "failed", "{progress}");
    assert!(
        progress["message"]
            .as_str()
            .unwrap()
            .contains("never booted healthy"),
        "{progress}"
    );
    assert_eq!(status_json(&more)["next"], "a");
}

/// What the page does to go back: a request for the update service, then the service's run.
/// Returns the progress it reports.
fn ask_rollback(d: &Path, more: &[String]) -> serde_json::Value {
    std::fs::create_dir_all(d.join("data/update")).unwrap();
    std::fs::write(d.join("data/update/request.json"), r#"{"rollback":true}"#).unwrap();
    let _ = update(&["apply-requested"], more);
    assert!(
        !d.join("data/update/request.json").exists(),
        "the request is taken once"
    );
    serde_json::from_slice(&std::fs::read(d.join("data/update/progress.json")).unwrap()).unwrap()
}

/// After an update proved good, the owner goes back to the earlier system from the page: it
/// starts next, with its tries counted; the slot running now stays good.
#[test]
fn the_page_can_go_back_to_the_earlier_good_system() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    updated_box(d);
    // Slot b booted and was blessed (systemd-bless-boot drops the counter from the name).
    let entries = d.join("esp/loader/entries");
    std::fs::rename(
        entries.join("microcloud-slot-b+3.conf"),
        entries.join("microcloud-slot-b.conf"),
    )
    .unwrap();
    let on_b = slots(d, "b");
    assert_eq!(status_json(&on_b)["next"], "b");
    let progress = ask_rollback(d, &on_b);
    assert_eq!(progress["state"], "done", "{progress}");
    assert_eq!(progress["rollback"], true, "{progress}");
    assert!(
        progress["message"]
            .as_str()
            .unwrap()
            .contains("(slot a) starts at the next restart"),
        "{progress}"
    );
    let s = status_json(&on_b);
    assert_eq!(s["next"], "a", "{s}");
    assert_eq!(s["slots"][0]["state"], "trying", "{s}");
    assert_eq!(s["slots"][0]["tries_left"], 3, "{s}");
    assert_eq!(s["slots"][1]["state"], "good", "{s}");
}

#[test]
fn apply_downloads_a_bundle_from_a_url_and_refuses_what_is_not_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    key(d, "box");
    let more = slots(d, "a");
    let good = bundle(d, "good.update", "box", "x86_64", "0.1.0.2");
    let bytes = std::fs::read(&good).unwrap();
    // A one-file web server on loopback: the bundle at /good.update, 404 elsewhere.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        for conn in listener.incoming().take(3) {
            let mut conn = conn.unwrap();
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            if line.starts_with("GET /good.update ") {
                write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    bytes.len()
                )
                .unwrap();
                conn.write_all(&bytes).unwrap();
            } else if line.starts_with("GET /junk ") {
                conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
                )
                .unwrap();
            } else {
                conn.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            }
        }
    });
    let mut args = more.clone();
    args.extend(["--key".into(), d.join("box.pub.pem").display().to_string()]);
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");
    let (ok, out) = update(&["apply", &url("missing"), "--running", "0.1.0.1"], &args);
    assert!(!ok && out.contains("404"), "{out}");
    let (ok, out) = update(&["apply", &url("junk"), "--running", "0.1.0.1"], &args);
    assert!(
        !ok && out.contains("not a microcloud update bundle"),
        "{out}"
    );
    let (ok, out) = update(
        &["apply", &url("good.update"), "--running", "0.1.0.1"],
        &args,
    );
    assert!(ok, "{out}");
    assert!(out.contains("slot b now holds microcloud 0.1.0.2"), "{out}");
    assert!(
        !d.join("data/update/download.update").exists(),
        "the download is removed once applied"
    );
    assert_eq!(status_json(&more)["next"], "b");
}

/// The page's update endpoint on a development gateway (not the appliance): it takes only a
/// whole bundle signed by the trusted key, refuses everything else with the reason, one at a time,
/// and says that applying is the appliance's.
#[tokio::test]
async fn the_page_takes_only_a_signed_bundle_one_at_a_time_and_refuses_the_rest_with_the_reason() {
    use microcloud_tests::page::{onboard, pair_tablet, Client};
    use microcloud_tests::Gateway;
    use reqwest::Method;
    use serde_json::json;

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    key(d, "box");
    key(d, "other");
    let good = bundle(d, "good.update", "box", "x86_64", "0.1.0.2");
    let foreign = bundle(d, "foreign.update", "other", "x86_64", "0.1.0.2");
    let good_bytes = std::fs::read(&good).unwrap();
    let mut tampered = good_bytes.clone();
    tampered[5000] ^= 1;
    let data = d.join("data");
    let key_path = d.join("box.pub.pem");
    let gw = Gateway::start_with_env(
        &data,
        &[],
        &[("MICROCLOUD_UPDATE_KEY", key_path.to_str().unwrap())],
    );
    let mut admin = Client::new(&gw);
    onboard(&mut admin, &data).await;
    let send = |c: &Client, body: Vec<u8>| {
        c.request(Method::POST, "/api/system/update")
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    // Each bad bundle: 400 with the reason, naming the form's field, and nothing left behind.
    for (what, body, says) in [
        (
            "junk",
            b"not a bundle at all".to_vec(),
            "not a microcloud update bundle",
        ),
        ("empty", Vec::new(), "choose an update bundle"),
        ("a changed byte", tampered.clone(), "damaged or was changed"),
        (
            "another key",
            std::fs::read(&foreign).unwrap(),
            "signature does not match",
        ),
        ("cut short", good_bytes[..2_000_000].to_vec(), "cut short"),
    ] {
        let (status, text) = answer(send(&admin, body).await.unwrap()).await;
        assert_eq!(status, 400, "{what}: {text}");
        assert!(text.contains(says), "{what}: {text}");
        assert!(text.contains("\"field\":\"bundle\""), "{what}: {text}");
        assert!(
            !text.contains(data.to_str().unwrap()),
            "{what}: no server path shown: {text}"
        );
    }
    assert!(
        !data.join("update/inbox.update").exists() && !data.join("update/inbox.part").exists(),
        "refused bundles are removed"
    );
    // Malformed addresses.
    for bad in [
        json!({"url": "ftp://x/y.update"}),
        json!({"url": "https://a b"}),
        json!({"nope": 1}),
    ] {
        let a = admin
            .call(Method::POST, "/api/system/update", Some(bad.clone()))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }
    // Declared larger than any bundle: refused before a byte of it is read.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(gw.addr).unwrap();
        write!(
            s,
            "POST /api/system/update HTTP/1.1\r\nHost: x\r\nCookie: mc_session={}\r\nX-CSRF-Token: {}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: 4000000000\r\n\r\n",
            admin.cookie.as_deref().unwrap(),
            admin.csrf.as_deref().unwrap()
        )
        .unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 413", "{}", String::from_utf8_lossy(&head));
    }
    // A good one is checked whole, then refused here only because this is not the appliance.
    let (status, text) = answer(send(&admin, good_bytes.clone()).await.unwrap()).await;
    assert_eq!(status, 503, "{text}");
    assert!(!data.join("update/inbox.update").exists());
    // A progress file left "writing" by a power cut during an apply: no update service runs
    // (none ever does on a development gateway), so it does not hold the next update back.
    std::fs::write(
        data.join("update/progress.json"),
        r#"{"state":"writing","step":"writing root.squashfs","done":1048576,"total":73400320}"#,
    )
    .unwrap();
    let (status, text) = answer(send(&admin, good_bytes.clone()).await.unwrap()).await;
    assert_eq!(status, 503, "a stale apply blocks nothing: {text}");
    std::fs::remove_file(data.join("update/progress.json")).unwrap();
    // A flood of uploads at once: one at a time is taken, the others are told to wait; no error
    // of the box's own, and it answers afterwards.
    let mut all = Vec::new();
    for _ in 0..12 {
        all.push(send(&admin, good_bytes.clone()));
    }
    // A refused upload is answered before its body is read; the client may then see the
    // connection closed under its upload (0 here) instead of the 409.
    let mut statuses = Vec::new();
    for r in futures_util::future::join_all(all).await {
        statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
    }
    assert!(
        statuses.iter().all(|s| [0, 409, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&503), "one went through: {statuses:?}");
    assert!(
        statuses.iter().any(|s| *s != 503),
        "concurrent uploads wait their turn: {statuses:?}"
    );
    assert_eq!(
        admin.call(Method::GET, "/api/state", None).await.status,
        200
    );
    // A tablet paired for the admin, once removed, is refused.
    let (mut tablet, _) = pair_tablet(&gw, &mut admin, "kitchen").await;
    let a = admin
        .call(Method::DELETE, "/api/devices/owner/kitchen", None)
        .await;
    assert!(a.status.is_success(), "{}", a.body);
    for (m, path) in [
        (Method::GET, "/api/system/update"),
        (Method::POST, "/api/system/update/rollback"),
    ] {
        let a = tablet.call(m.clone(), path, None).await;
        assert_eq!(a.status, 401, "{m} {path}: {}", a.body);
    }
    // Going back to the other slot is the appliance's too; a flood of asks gets the same answer,
    // one at a time, and the gateway answers afterwards.
    let mut asks = Vec::new();
    for _ in 0..20 {
        asks.push(
            admin
                .request(Method::POST, "/api/system/update/rollback")
                .send(),
        );
    }
    for r in futures_util::future::join_all(asks).await {
        let r = r.unwrap();
        assert_eq!(r.status().as_u16(), 503, "{}", r.text().await.unwrap());
    }
    assert_eq!(
        admin.call(Method::GET, "/api/state", None).await.status,
        200
    );
}
