//! Real WebDAV clients against the gateway: rclone copies a tree in, checks it, reads it back,
//! moves and deletes, and every byte is compared.

use std::path::Path;
use std::process::Command;

use microcloud_tests::{add_user, content_for, Gateway, PASSWORD};

fn rclone(gw: &Gateway, args: &[&str]) -> String {
    let obscured = Command::new("rclone")
        .args(["obscure", PASSWORD])
        .output()
        .expect("rclone is installed (ci/install-deps)");
    let obscured = String::from_utf8(obscured.stdout).unwrap();
    let out = Command::new("rclone")
        .args(args)
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_MC_TYPE", "webdav")
        .env("RCLONE_CONFIG_MC_URL", gw.dav())
        .env("RCLONE_CONFIG_MC_VENDOR", "other")
        .env("RCLONE_CONFIG_MC_USER", "alice")
        .env("RCLONE_CONFIG_MC_PASS", obscured.trim())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (i, len) in [0usize, 1, 4096, 65_536, 65_537, 1_000_000, 5_000_000]
        .iter()
        .enumerate()
    {
        let name = if i % 2 == 0 {
            format!("top-{i}.bin")
        } else {
            format!("sub dir/nested {i}/f-{i}.bin")
        };
        let data = content_for(&name, *len);
        let p = root.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.push((name, data));
    }
    files
}

#[test]
fn rclone_copies_checks_reads_moves_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let gw = Gateway::start(&data, &[]);
    let src = tmp.path().join("src");
    let files = write_tree(&src);

    rclone(&gw, &["copy", src.to_str().unwrap(), "mc:tree"]);
    rclone(&gw, &["check", src.to_str().unwrap(), "mc:tree"]);
    let dst = tmp.path().join("dst");
    rclone(&gw, &["copy", "mc:tree", dst.to_str().unwrap()]);
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(dst.join(name)).unwrap(),
            bytes,
            "{name} read back"
        );
    }
    let listing: serde_json::Value =
        serde_json::from_str(&rclone(&gw, &["lsjson", "-R", "--files-only", "mc:tree"])).unwrap();
    assert_eq!(listing.as_array().unwrap().len(), files.len());

    rclone(&gw, &["moveto", "mc:tree/top-0.bin", "mc:tree/renamed.bin"]);
    rclone(&gw, &["deletefile", "mc:tree/top-2.bin"]);
    rclone(&gw, &["purge", "mc:tree/sub dir"]);
    let names = rclone(&gw, &["lsf", "-R", "mc:tree"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, vec!["renamed.bin", "top-4.bin", "top-6.bin"]);
}

/// davfs2 (the Linux kernel-mount client) writes and reads through a real mount. Directory
/// listing is not checked: in this sandbox davfs2's FUSE readdir fails with EINVAL against every
/// server tried (rclone serve webdav as well), so it says nothing about microcloud.
#[test]
fn davfs2_mount_writes_and_reads() {
    if !Path::new("/dev/fuse").exists() || !nix::unistd::Uid::effective().is_root() {
        eprintln!("davfs2: skipped, needs root and /dev/fuse");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let gw = Gateway::start(&data, &[]);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let secrets = tmp.path().join("secrets");
    std::fs::write(&secrets, format!("{} alice {PASSWORD}\n", gw.dav())).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    // mount.davfs drops to its own user: it must reach its cache directory.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(tmp.path().join("cache")).unwrap();
    std::fs::set_permissions(
        tmp.path().join("cache"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let conf = tmp.path().join("davfs2.conf");
    std::fs::write(
        &conf,
        format!(
            "secrets {}\nuse_locks 1\ndelay_upload 0\ncache_dir {}\n",
            secrets.display(),
            tmp.path().join("cache").display()
        ),
    )
    .unwrap();
    // A file written over HTTP before the mount is readable through it.
    let via_http = content_for("via-http", 70_000);
    let st = Command::new("curl")
        .args(["-sf", "-u", &format!("alice:{PASSWORD}"), "-T", "-"])
        .arg(format!("{}via-http.bin", gw.dav()))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&via_http)?;
            c.wait()
        })
        .unwrap();
    assert!(st.success());
    let st = Command::new("mount.davfs")
        .arg("-o")
        .arg(format!("conf={}", conf.display()))
        .arg(gw.dav())
        .arg(&mnt)
        .status()
        .expect("davfs2 is installed (ci/install-deps)");
    assert!(st.success(), "mount.davfs failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let guard = Unmount(mnt.clone());
    let written = content_for("via-davfs2", 300_000);
    std::fs::write(mnt.join("via-davfs2.bin"), &written).unwrap();
    std::fs::create_dir(mnt.join("folder")).unwrap();
    std::fs::write(mnt.join("folder/note.txt"), b"note").unwrap();
    assert_eq!(std::fs::read(mnt.join("via-http.bin")).unwrap(), via_http);
    drop(guard); // umount flushes davfs2's cache to the server
    let get = |name: &str| {
        Command::new("curl")
            .args(["-sf", "-u", &format!("alice:{PASSWORD}")])
            .arg(format!("{}{name}", gw.dav()))
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(get("via-davfs2.bin"), written);
    assert_eq!(get("folder/note.txt"), b"note");
}
