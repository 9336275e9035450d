//! A full disk is handled like a full cache: 507, and nothing already stored is harmed.
//! Needs root (it mounts a small tmpfs as the data directory's filesystem).

use microcloud_tests::{add_user, basic, content_for, raw, staging_files, Gateway};

#[test]
fn full_disk_gets_507_and_keeps_what_was_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small-disk");
    std::fs::create_dir(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    if !st.success() && !nix::unistd::Uid::effective().is_root() {
        eprintln!("full_disk: skipped, mounting a tmpfs needs root");
        return;
    }
    assert!(st.success(), "mount tmpfs failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let data = mnt.join("data");
    add_user(&data, "alice");
    // A cache bound far above the disk size, so that the disk is what runs out.
    let gw = Gateway::start(&data, &["--cache-size", "10G"]);
    let auth = basic("alice");
    let put = |name: &str, body: &[u8], chunked: bool| {
        if chunked {
            let mut b = Vec::new();
            for part in body.chunks(256 * 1024) {
                b.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                b.extend_from_slice(part);
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(b"0\r\n\r\n");
            raw(gw.addr, &format!("PUT /dav/{name} HTTP/1.1\nHost: x\nAuthorization: {auth}\nTransfer-Encoding: chunked"), &b)
        } else {
            raw(
                gw.addr,
                &format!(
                    "PUT /dav/{name} HTTP/1.1\nHost: x\nAuthorization: {auth}\nContent-Length: {}",
                    body.len()
                ),
                body,
            )
        }
    };
    let first = content_for("first", 8 << 20);
    assert_eq!(put("first.bin", &first, false).status, 201);
    let big = content_for("big", 20 << 20);
    // Announced: refused up front. Chunked: the disk fills during the write.
    assert_eq!(put("big.bin", &big, false).status, 507);
    assert_eq!(put("big.bin", &big, true).status, 507);
    assert_eq!(staging_files(&data), 0);
    // Small files (kept in the catalog) on a nearly full disk: either stored whole or refused.
    let mut stored = Vec::new();
    for i in 0..2000 {
        let name = format!("s{i}");
        let body = content_for(&name, 60_000);
        match put(&name, &body, false).status {
            201 => stored.push(name),
            507 => break,
            s => panic!("small PUT {name}: {s}"),
        }
    }
    let r = raw(
        gw.addr,
        &format!("GET /dav/first.bin HTTP/1.1\nHost: x\nAuthorization: {auth}"),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        blake3::hash(&r.body),
        blake3::hash(&first),
        "first file damaged by the full disk"
    );
    for name in stored {
        let r = raw(
            gw.addr,
            &format!("GET /dav/{name} HTTP/1.1\nHost: x\nAuthorization: {auth}"),
            b"",
        );
        assert_eq!(r.body, content_for(&name, 60_000), "{name} damaged");
    }
    let r = raw(
        gw.addr,
        &format!("GET /dav/big.bin HTTP/1.1\nHost: x\nAuthorization: {auth}"),
        b"",
    );
    assert_eq!(r.status, 404);
}
