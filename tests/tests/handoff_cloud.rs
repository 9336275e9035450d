//! Hand-offs persisted by the uplink like any change, against real S3-compatible storage
//! (Garage): a copy for one user and a transfer of ownership to another, of content the box had
//! already evicted, end with every object under the new owners' keys, the moved keys gone, and
//! every byte readable on the box.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use microcloud_remotes::{collect, Remote};
use microcloud_tests::garage::Garage;
use microcloud_tests::{
    add_user, content_for, flush, microcloud, remote_add_s3, s3, status_json, Gateway, PASSWORD,
};
use serde_json::Value;

async fn object_hash(r: &Remote, key: &str) -> Option<blake3::Hash> {
    match r.get(key, None).await {
        Ok(s) => Some(blake3::hash(&collect(s).await.unwrap())),
        Err(microcloud_remotes::RemoteError::NotFound { .. }) => None,
        Err(e) => panic!("GET {key}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evicted_content_handed_on_ends_under_the_new_owners_keys() {
    let g = Garage::start();
    g.create_bucket("handoff");
    let bucket = s3(&g.endpoint(), g.region(), "handoff", &g.credentials());
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    for u in ["ann", "bob", "cat"] {
        add_user(tmp.path(), u);
    }
    remote_add_s3(
        tmp.path(),
        "garage",
        &g.endpoint(),
        g.region(),
        "handoff",
        &g.credentials(),
    );
    let log = tmp.path().join("gateway.log");
    let gw = Gateway::start_logged(tmp.path(), &["--cache-size", "4M"], &log);
    let http = reqwest::Client::new();
    let mkcol = reqwest::Method::from_bytes(b"MKCOL").unwrap();
    for dir in ["Moved", "Copied"] {
        let r = http
            .request(mkcol.clone(), format!("{}{dir}", gw.dav()))
            .basic_auth("ann", Some(PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let mut files = BTreeMap::new();
    for (i, dir) in ["Moved", "Moved", "Copied", "Copied"].iter().enumerate() {
        let name = format!("{dir}/f{i}.bin");
        let body = content_for(&name, 1_500_000);
        let r = http
            .put(format!("{}{name}", gw.dav()))
            .basic_auth("ann", Some(PASSWORD))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{name}");
        files.insert(name, body);
        let (ok, out) = flush(tmp.path(), 60);
        assert!(ok, "{out}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // Past 90% of the 4 MiB bound, content safe in the bucket is evicted.
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_json(tmp.path())["bytes"].as_u64().unwrap() > 4 << 20 {
        assert!(Instant::now() < deadline, "nothing evicted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let send = |path: &str, to: &str, transfer: bool| -> String {
        let mut args = vec!["handoff", "ann", path, "--to", to, "--json", "--data", d];
        if transfer {
            args.push("--move");
        }
        let e: Value = serde_json::from_str(&microcloud(&args, "")).unwrap();
        e["id"].to_string()
    };
    let moved = send("/Moved", "bob", true);
    let copied = send("/Copied", "cat", false);
    let out = microcloud(&["inbox", "bob", "--accept", &moved, "--data", d], "");
    assert!(out.contains("accepted at /Moved"), "{out}");
    let out = microcloud(&["inbox", "cat", "--accept", &copied, "--data", d], "");
    assert!(out.contains("accepted at /Copied"), "{out}");
    let (ok, out) = flush(tmp.path(), 60);
    assert!(
        ok,
        "{out}\n{}\n{}",
        status_json(tmp.path()),
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    for (name, body) in &files {
        let want = Some(blake3::hash(body));
        if name.starts_with("Moved") {
            assert_eq!(
                object_hash(&bucket, &format!("bob/{name}")).await,
                want,
                "bob/{name}"
            );
            assert_eq!(
                object_hash(&bucket, &format!("ann/{name}")).await,
                None,
                "ann/{name} deleted"
            );
        } else {
            assert_eq!(
                object_hash(&bucket, &format!("cat/{name}")).await,
                want,
                "cat/{name}"
            );
            assert_eq!(
                object_hash(&bucket, &format!("ann/{name}")).await,
                want,
                "ann/{name} kept"
            );
        }
    }
    // Every byte reads back on the box, for its owners, evicted again or not.
    let get = |user: &'static str, name: String| {
        let http = http.clone();
        let url = format!("{}{name}", gw.dav());
        async move {
            let r = http
                .get(url)
                .basic_auth(user, Some(PASSWORD))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    for (name, body) in &files {
        let owner = if name.starts_with("Moved") {
            "bob"
        } else {
            "cat"
        };
        let (st, got) = get(owner, name.clone()).await;
        assert_eq!(st, 200, "{owner}'s {name}");
        assert_eq!(blake3::hash(&got), blake3::hash(body), "{owner}'s {name}");
        let (st, _) = get("ann", name.clone()).await;
        assert_eq!(st, if owner == "bob" { 404 } else { 200 }, "ann's {name}");
    }
}
