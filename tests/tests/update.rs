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
