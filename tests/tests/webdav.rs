//! The LAN service end to end: a real gateway process, a real HTTP client.

use microcloud_tests::{add_user, content_for, list, microcloud, Gateway, PASSWORD};

#[tokio::test]
async fn put_get_hash_and_durability_are_visible() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let gw = Gateway::start(tmp.path(), &[]);
    let c = reqwest::Client::new();
    for (name, len) in [
        ("small.bin", 5000usize),
        ("large.bin", 3 << 20),
        ("empty.bin", 0),
    ] {
        let data = content_for(name, len);
        let url = format!("{}{name}", gw.dav());
        let r = c
            .put(&url)
            .basic_auth("alice", Some(PASSWORD))
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "PUT {name}");
        let r = c
            .get(&url)
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let hash = blake3::hash(&data).to_hex().to_string();
        assert_eq!(r.headers()["x-microcloud-blake3"], hash.as_str());
        assert_eq!(r.headers()["x-microcloud-durability"], "local");
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{}\"", &hash[..32]));
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            data.as_slice(),
            "GET {name}"
        );
        // Conditional GET with the ETag.
        let r = c
            .get(&url)
            .basic_auth("alice", Some(PASSWORD))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 304);
        // The properties carry the same facts.
        let r = c
            .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), &url)
            .basic_auth("alice", Some(PASSWORD))
            .header("Depth", "0")
            .send()
            .await
            .unwrap();
        let xml = r.text().await.unwrap();
        assert!(xml.contains(&hash), "PROPFIND shows the hash: {xml}");
        assert!(
            xml.contains(">local</"),
            "PROPFIND shows the durability: {xml}"
        );
    }
    // Overwrite: 204, new content and hash.
    let url = format!("{}small.bin", gw.dav());
    let r = c
        .put(&url)
        .basic_auth("alice", Some(PASSWORD))
        .body("new")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = c
        .get(&url)
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "new");
    // A Range request on a file kept as a blob file.
    let r = c
        .get(format!("{}large.bin", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &content_for("large.bin", 3 << 20)[100..200]
    );

    let status: serde_json::Value = serde_json::from_str(&microcloud(
        &["status", "--data", tmp.path().to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap();
    assert_eq!(status["files"], 3);
    // The overwritten small.bin (5000 bytes) is kept as a version: it still counts.
    assert_eq!(status["bytes"], 5000 + 3 + (3 << 20));
    assert_eq!(status["dirty_bytes"], 5000 + 3 + (3 << 20));
    assert_eq!(status["versions"]["versions"], 1);
    assert_eq!(status["versions"]["bytes"], 5000);
    assert_eq!(status["gateway"]["running"], true);
}

#[tokio::test]
async fn users_see_only_their_own_space() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    add_user(tmp.path(), "bob");
    let gw = Gateway::start(tmp.path(), &[]);
    let c = reqwest::Client::new();
    let r = c
        .put(format!("{}secret.txt", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .body("alice's")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = c
        .get(format!("{}secret.txt", gw.dav()))
        .basic_auth("bob", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(list(&c, &gw.dav(), "bob").await.is_empty());
    assert_eq!(
        list(&c, &gw.dav(), "alice").await,
        vec!["secret.txt".to_owned()]
    );
    // Bob writing the same name does not touch Alice's file.
    let r = c
        .put(format!("{}secret.txt", gw.dav()))
        .basic_auth("bob", Some(PASSWORD))
        .body("bob's")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = c
        .get(format!("{}secret.txt", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "alice's");
}

#[tokio::test]
async fn restart_serves_what_was_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let mut gw = Gateway::start(tmp.path(), &[]);
    let c = reqwest::Client::new();
    let r = c
        .request(
            reqwest::Method::from_bytes(b"MKCOL").unwrap(),
            format!("{}dir", gw.dav()),
        )
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let data = content_for("dir/f", 200_000);
    let r = c
        .put(format!("{}dir/f", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    gw.kill();
    gw.restart();
    // A fresh client: the old one's pooled connection died with the process.
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{}dir/f", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());
}
