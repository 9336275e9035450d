//! What the store creates is private whatever the umask: a new data directory is 0700 with files
//! 0600 in it; a directory whose group may write (the appliance's root:microcloud 0770) gives
//! 0660 files and 0770 directories, so that the two agents' users share them; nobody else ever
//! gets a bit. The umask belongs to the process: this binary holds a single test, which sets it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use microcloud_store::{Content, OpenOptions, Store, UploadOptions};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn set_umask(m: u32) {
    // SAFETY: umask only changes this process's file creation mask; this binary's only test
    // thread is the one running.
    unsafe {
        libc::umask(m as libc::mode_t);
    }
}

/// Opens a store in `dir`, writes a large file (a blob file) and a small one (the catalog and its
/// WAL), and returns the blob's path. The store is closed on return.
fn fill(dir: &Path) -> PathBuf {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = Store::open(
        dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let u = s.add_user("alice", "$argon2id$placeholder", false).unwrap();
    let blob = rt.block_on(async {
        let data = vec![5u8; 300_000];
        let mut up = s
            .begin_upload(
                u,
                "/large",
                UploadOptions {
                    expected_size: Some(data.len() as u64),
                    ..Default::default()
                },
            )
            .unwrap();
        up.write(Bytes::from(data)).await.unwrap();
        let node = up.commit().await.unwrap();
        let mut up = s
            .begin_upload(u, "/small", UploadOptions::default())
            .unwrap();
        up.write(Bytes::from_static(b"hello")).await.unwrap();
        up.commit().await.unwrap();
        node.blob_id.unwrap()
    });
    let Content::File(p) = s.content(blob).unwrap() else {
        panic!("300 kB inline")
    };
    // While the store is open: SQLite made the WAL and the shared-memory index.
    assert!(dir.join("catalog.sqlite-wal").exists(), "no WAL file");
    check_wal(dir, s.modes().file);
    p
}

fn check_wal(dir: &Path, file: u32) {
    for name in ["catalog.sqlite-wal", "catalog.sqlite-shm"] {
        let p = dir.join(name);
        if p.exists() {
            assert_eq!(mode(&p), file, "{}: {name}", dir.display());
        }
    }
}

/// Asserts the modes of everything the store made in `dir`.
fn check(dir: &Path, blob: &Path, dir_mode: u32, file: u32, sub: u32, what: &str) {
    assert_eq!(mode(dir), dir_mode, "{what}: the data directory");
    assert_eq!(
        mode(&dir.join("catalog.sqlite")),
        file,
        "{what}: the catalog"
    );
    assert_eq!(mode(&dir.join("blobs")), sub, "{what}: blobs/");
    assert_eq!(mode(&dir.join("staging")), sub, "{what}: staging/");
    assert_eq!(
        mode(blob.parent().unwrap()),
        sub,
        "{what}: the blob's fan-out directory"
    );
    assert_eq!(mode(blob), file, "{what}: the blob");
    microcloud_store::write_file_durably(&dir.join("state"), b"x\n", 0o666).unwrap();
    assert_eq!(
        mode(&dir.join("state")),
        file,
        "{what}: a state file asked 0666"
    );
    microcloud_store::write_file_durably(&dir.join("code"), b"x\n", 0o640).unwrap();
    assert_eq!(
        mode(&dir.join("code")),
        0o640 & file,
        "{what}: a state file asked 0640"
    );
    microcloud_store::write_file_durably(&dir.join("secret"), b"x\n", 0o600).unwrap();
    assert_eq!(
        mode(&dir.join("secret")),
        0o600,
        "{what}: a state file asked 0600"
    );
    microcloud_store::create_dir_all(&dir.join("ssh/deeper")).unwrap();
    assert_eq!(mode(&dir.join("ssh")), sub, "{what}: a state directory");
    assert_eq!(
        mode(&dir.join("ssh/deeper")),
        sub,
        "{what}: a state directory's directory"
    );
}

#[test]
fn modes_do_not_depend_on_the_umask() {
    for umask in [0o022, 0o000, 0o077, 0o007] {
        set_umask(umask);
        let what = format!("umask {umask:03o}");
        let base = tempfile::tempdir().unwrap();

        // A new data directory, and its missing parent (made as usual).
        let new = base.path().join("parent/data");
        let blob = fill(&new);
        check(
            &new,
            &blob,
            0o700,
            0o600,
            0o700,
            &format!("{what}, new directory"),
        );
        // Opened again (as every agent does at start): nothing changes.
        let blob2 = fill_again(&new);
        check(
            &new,
            &blob2,
            0o700,
            0o600,
            0o700,
            &format!("{what}, reopened"),
        );

        // An existing directory others may look into loses their bits; its group may not write,
        // so nothing is shared with the group.
        let open = base.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let blob = fill(&open);
        check(
            &open,
            &blob,
            0o750,
            0o600,
            0o700,
            &format!("{what}, existing 0755 directory"),
        );

        // The appliance's scheme: a directory its group may write gives the group rw.
        let shared = base.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o770)).unwrap();
        let blob = fill(&shared);
        check(
            &shared,
            &blob,
            0o770,
            0o660,
            0o770,
            &format!("{what}, 0770 directory"),
        );

        // Even a world-writable one (someone's careless chmod) is closed to others.
        let world = base.path().join("world");
        std::fs::create_dir(&world).unwrap();
        std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o777)).unwrap();
        let blob = fill(&world);
        check(
            &world,
            &blob,
            0o770,
            0o660,
            0o770,
            &format!("{what}, existing 0777 directory"),
        );
    }
    set_umask(0o022);
}

/// Opens the store of `dir` again and writes one more large file.
fn fill_again(dir: &Path) -> PathBuf {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let s = Store::open(dir, OpenOptions::default()).unwrap();
    let u = s.user("alice").unwrap().unwrap().id;
    let blob = rt.block_on(async {
        let data = vec![6u8; 300_000];
        let mut up = s
            .begin_upload(u, "/large2", UploadOptions::default())
            .unwrap();
        up.write(Bytes::from(data)).await.unwrap();
        up.commit().await.unwrap().blob_id.unwrap()
    });
    check_wal(dir, s.modes().file);
    let Content::File(p) = s.content(blob).unwrap() else {
        panic!("300 kB inline")
    };
    p
}
