//! What the store's integration tests share: a fresh store with a user, and writing and reading
//! whole files.
#![allow(dead_code)]

use bytes::Bytes;
use microcloud_store::{Content, Node, OpenOptions, Store, UploadOptions, UserId};

/// A fresh store in a temporary directory, with user `alice`.
pub fn store() -> (tempfile::TempDir, Store, UserId) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(
        dir.path(),
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )
    .unwrap();
    let u = s.add_user("alice", "$argon2id$placeholder", false).unwrap();
    (dir, s, u)
}

/// Writes `data` at `path` as `u`, from `device` when given, in chunks as a client sends them.
pub async fn put_as(s: &Store, u: UserId, path: &str, data: &[u8], device: Option<&str>) -> Node {
    let mut up = s
        .begin_upload(
            u,
            path,
            UploadOptions {
                expected_size: Some(data.len() as u64),
                device: device.map(str::to_owned),
                ..Default::default()
            },
        )
        .unwrap();
    for chunk in data.chunks(300_000) {
        up.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    up.commit().await.unwrap()
}

/// Writes `data` at `path` as `u`.
pub async fn put(s: &Store, u: UserId, path: &str, data: &[u8]) -> Node {
    put_as(s, u, path, data, None).await
}

/// The bytes of blob `blob` (on the box).
pub fn bytes_of(s: &Store, blob: i64) -> Vec<u8> {
    match s.content(blob).unwrap() {
        Content::Inline(b) => b.to_vec(),
        Content::File(p) => std::fs::read(p).unwrap(),
        Content::Evicted { .. } => panic!("evicted"),
    }
}

/// The bytes of the file at `path` of `u`.
pub fn read(s: &Store, u: UserId, path: &str) -> Vec<u8> {
    bytes_of(s, s.lookup(u, path).unwrap().blob_id.unwrap())
}
