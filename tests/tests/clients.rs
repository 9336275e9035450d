//! Real WebDAV clients against the gateway: rclone copies a tree in, checks it, reads it back,
//! moves and deletes, and every byte is compared.

use std::path::{Path, PathBuf};
use std::process::Command;

use microcloud_tests::{add_user, content_for, Gateway, PASSWORD};

/// Where rclone goes: a WebDAV URL, and the CA file to trust for https.
struct Remote {
    url: String,
    ca: Option<PathBuf>,
}

fn run_rclone(remote: &Remote, args: &[&str]) -> std::process::Output {
    microcloud_tests::run_rclone(&remote.url, remote.ca.as_deref(), args)
}

fn rclone(remote: &Remote, args: &[&str]) -> String {
    microcloud_tests::rclone(&remote.url, remote.ca.as_deref(), args)
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

/// rclone copies a tree to `remote`, checks it, reads it back byte for byte, moves and deletes.
fn copy_check_read_move_delete(remote: &Remote, tmp: &Path) {
    let src = tmp.join("src");
    let files = write_tree(&src);

    rclone(remote, &["copy", src.to_str().unwrap(), "mc:tree"]);
    rclone(remote, &["check", src.to_str().unwrap(), "mc:tree"]);
    let dst = tmp.join("dst");
    rclone(remote, &["copy", "mc:tree", dst.to_str().unwrap()]);
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(dst.join(name)).unwrap(),
            bytes,
            "{name} read back"
        );
    }
    let listing: serde_json::Value = serde_json::from_str(&rclone(
        remote,
        &["lsjson", "-R", "--files-only", "mc:tree"],
    ))
    .unwrap();
    assert_eq!(listing.as_array().unwrap().len(), files.len());

    rclone(
        remote,
        &["moveto", "mc:tree/top-0.bin", "mc:tree/renamed.bin"],
    );
    rclone(remote, &["deletefile", "mc:tree/top-2.bin"]);
    rclone(remote, &["purge", "mc:tree/sub dir"]);
    let names = rclone(remote, &["lsf", "-R", "mc:tree"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, vec!["renamed.bin", "top-4.bin", "top-6.bin"]);
}

#[test]
fn rclone_copies_checks_reads_moves_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let gw = Gateway::start(&data, &[]);
    let remote = Remote {
        url: gw.dav(),
        ca: None,
    };
    copy_check_read_move_delete(&remote, tmp.path());
}

/// The same over https, trusting the box's CA (and refused without it).
#[test]
fn rclone_over_https_with_the_box_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let gw = Gateway::start(&data, &["--tls-listen", "127.0.0.1:0"]);
    let url = format!("{}dav/", gw.https_url().expect("an https address"));
    let untrusting = Remote {
        url: url.clone(),
        ca: None,
    };
    let out = run_rclone(&untrusting, &["lsf", "mc:"]);
    assert!(
        !out.status.success(),
        "rclone trusted a CA it was never given"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate"), "{err}");
    let remote = Remote {
        url,
        ca: Some(data.join("tls/ca.crt")),
    };
    copy_check_read_move_delete(&remote, tmp.path());
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
