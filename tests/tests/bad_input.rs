//! Bad input gets a clear 4xx/5xx and leaves the store unchanged: one test per kind of abuse.

use std::path::Path;

use microcloud_tests::{add_user, basic, content_for, raw, staging_files, Gateway, PASSWORD};

/// The store's file count and bytes, from `microcloud status --json`.
fn totals(dir: &Path) -> (u64, u64) {
    let out =
        microcloud_tests::microcloud(&["status", "--data", dir.to_str().unwrap(), "--json"], "");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    (v["files"].as_u64().unwrap(), v["bytes"].as_u64().unwrap())
}

/// A gateway with user alice and one file, `keep.txt`.
fn setup(extra: &[&str]) -> (tempfile::TempDir, Gateway) {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let gw = Gateway::start(tmp.path(), extra);
    let r = raw(
        gw.addr,
        &format!(
            "PUT /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {}\nContent-Length: 4",
            basic("alice")
        ),
        b"keep",
    );
    assert_eq!(r.status, 201);
    (tmp, gw)
}

fn assert_unchanged(gw: &Gateway) {
    assert_eq!(totals(&gw.dir), (1, 4), "store changed");
    assert_eq!(staging_files(&gw.dir), 0, "upload leftovers in staging/");
    let r = raw(
        gw.addr,
        &format!(
            "GET /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {}",
            basic("alice")
        ),
        b"",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, b"keep".as_slice()));
}

#[test]
fn path_traversal_is_refused() {
    let (_tmp, gw) = setup(&[]);
    let auth = basic("alice");
    for target in [
        "/dav/../catalog.sqlite",
        "/dav/%2e%2e/catalog.sqlite",
        "/dav/%2E%2E/%2E%2E/etc/passwd",
        "/dav/a/..%2f..%2fx",
        "/dav/%2fetc%2fpasswd",
        "/dav/x%5c..%5cy",
        "/dav/nul%00byte",
        "/dav/./keep.txt",
    ] {
        for method in ["GET", "PUT", "DELETE", "MKCOL"] {
            let r = raw(
                gw.addr,
                &format!(
                    "{method} {target} HTTP/1.1\nHost: x\nAuthorization: {auth}\nContent-Length: 3"
                ),
                b"bad",
            );
            assert_eq!(r.status, 400, "{method} {target}");
        }
    }
    // An absolute-form request target for another path is judged by its path.
    let r = raw(
        gw.addr,
        &format!("GET http://x/../../etc/passwd HTTP/1.1\nHost: x\nAuthorization: {auth}"),
        b"",
    );
    assert!(
        r.status == 400 || r.status == 404,
        "absolute-form traversal got {}",
        r.status
    );
    // Outside /dav/ nothing is served, with or without credentials.
    let r = raw(
        gw.addr,
        &format!("GET /catalog.sqlite HTTP/1.1\nHost: x\nAuthorization: {auth}"),
        b"",
    );
    assert_eq!(r.status, 404);
    assert_unchanged(&gw);
}

#[test]
fn wrong_credentials_are_refused() {
    let (_tmp, gw) = setup(&[]);
    for auth in [
        None,
        Some("Basic YWxpY2U6d3Jvbmc=".to_owned()), // alice:wrong
        Some("Basic Ym9iOnRlc3QtcGFzc3dvcmQtMQ==".to_owned()), // bob (no such user)
        Some("Basic !!!not-base64".to_owned()),
        Some("Bearer abc".to_owned()),
    ] {
        let h = auth
            .map(|a| format!("\nAuthorization: {a}"))
            .unwrap_or_default();
        let r = raw(
            gw.addr,
            &format!("PUT /dav/evil.txt HTTP/1.1\nHost: x{h}\nContent-Length: 4"),
            b"evil",
        );
        assert_eq!(r.status, 401);
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        let r = raw(
            gw.addr,
            &format!("GET /dav/keep.txt HTTP/1.1\nHost: x{h}"),
            b"",
        );
        assert_eq!(r.status, 401);
        assert!(!String::from_utf8_lossy(&r.body).contains("keep"));
    }
    assert_unchanged(&gw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_wrong_passwords_is_refused_within_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let gw = Gateway::start_on_all_addresses(tmp.path(), &[]);
    let client = reqwest::Client::new();
    let r = client
        .put(format!("{}keep.txt", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .body("keep")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let (c, url) = (client.clone(), format!("{}keep.txt", gw.dav()));
        // Half unknown users (decoy check), half a wrong password for a real one.
        let user = if i % 2 == 0 {
            format!("nobody{i}")
        } else {
            "alice".to_owned()
        };
        tasks.push(tokio::spawn(async move {
            c.get(url)
                .basic_auth(user, Some(format!("wrong-password-{i}")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    // Sent at once, the guesses are still checked one at a time per address: a few are answered
    // 401, the rest 429 without a password check.
    assert_eq!(
        counts.keys().copied().collect::<Vec<u16>>(),
        vec![401, 429],
        "{counts:?}"
    );
    assert!(counts[&401] <= 6, "{counts:?}");
    // Each argon2 check takes about 19 MiB; they are bounded, so the peak stays far below what
    // 120 at once would take (over 2 GiB).
    let status = std::fs::read_to_string(format!("/proc/{}/status", gw.pid().unwrap())).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        hwm_kb < 150 * 1024,
        "gateway peak memory {hwm_kb} kB under a login flood"
    );
    // alice, from an address that was not guessing, is let in at once.
    let honest = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let r = honest
        .get(format!("{}keep.txt", gw.dav()))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "keep");
}

#[test]
fn malformed_huge_and_deep_xml_is_refused() {
    let (_tmp, gw) = setup(&[]);
    let auth = basic("alice");
    let send = |method: &str, body: &[u8]| {
        raw(
            gw.addr,
            &format!("{method} /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {auth}\nDepth: 0\nContent-Type: application/xml\nContent-Length: {}", body.len()),
            body,
        )
    };
    for method in ["PROPFIND", "PROPPATCH", "LOCK"] {
        assert_eq!(
            send(
                method,
                b"<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>"
            )
            .status,
            400,
            "{method} truncated"
        );
        assert_eq!(
            send(method, b"this is not xml").status,
            400,
            "{method} garbage"
        );
        let deep = format!(
            "<?xml version=\"1.0\"?>{}{}",
            "<a>".repeat(5000),
            "</a>".repeat(5000)
        );
        assert_eq!(send(method, deep.as_bytes()).status, 400, "{method} deep");
        let huge = format!(
            "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><x>{}</x></D:prop></D:set></D:propertyupdate>",
            "y".repeat(200_000)
        );
        assert_eq!(send(method, huge.as_bytes()).status, 413, "{method} huge");
    }
    assert_unchanged(&gw);
}

#[test]
fn bad_ranges_get_416_or_the_whole_file() {
    let (_tmp, gw) = setup(&[]);
    let auth = basic("alice");
    let get = |range: &str| {
        raw(
            gw.addr,
            &format!("GET /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {auth}\nRange: {range}"),
            b"",
        )
    };
    for range in ["bytes=10-20", "bytes=100-"] {
        let r = get(range);
        assert_eq!(r.status, 416, "{range}");
        assert!(!r.body.starts_with(b"keep"));
    }
    // Syntactically invalid ranges are ignored (RFC 9110 14.2): the whole file.
    for range in ["bytes=5-2", "chars=0-1", "bytes=abc", "bytes=--1"] {
        let r = get(range);
        assert!(r.status == 200 || r.status == 416, "{range}: {}", r.status);
        if r.status == 200 {
            assert_eq!(r.body, b"keep", "{range}");
        }
    }
    let r = get("bytes=1-2");
    assert_eq!((r.status, r.body.as_slice()), (206, b"ee".as_slice()));
    assert_unchanged(&gw);
}

#[test]
fn destinations_outside_the_space_are_refused() {
    let (_tmp, gw) = setup(&[]);
    let auth = basic("alice");
    for (dest, want) in [
        ("http://elsewhere.example/dav/copy.txt", 502),
        ("/etc/copy.txt", 403),
        ("/copy.txt", 403),
        ("/dav/../copy.txt", 400),
        ("/dav/%2e%2e/copy.txt", 400),
        ("/dav/a%2fb", 400),
        ("not a uri at all", 400),
    ] {
        for method in ["COPY", "MOVE"] {
            let r = raw(gw.addr, &format!("{method} /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {auth}\nDestination: {dest}"), b"");
            assert_eq!(r.status, want, "{method} to {dest}");
        }
    }
    // The same host is fine.
    let r = raw(gw.addr, &format!("COPY /dav/keep.txt HTTP/1.1\nHost: {}\nAuthorization: {auth}\nDestination: http://{}/dav/copy.txt", gw.addr, gw.addr), b"");
    assert_eq!(r.status, 201);
}

#[test]
fn uploads_larger_than_the_space_left_get_507() {
    let (_tmp, gw) = setup(&["--cache-size", "1M"]);
    let auth = basic("alice");
    let big = content_for("big", 2 << 20);
    // Announced size: refused before the body is read.
    let r = raw(
        gw.addr,
        &format!(
            "PUT /dav/big.bin HTTP/1.1\nHost: x\nAuthorization: {auth}\nContent-Length: {}",
            big.len()
        ),
        &big,
    );
    assert_eq!(r.status, 507);
    // Chunked: refused once the bound is reached, the partial upload discarded.
    let mut chunked = Vec::new();
    for part in big.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(
        gw.addr,
        &format!(
            "PUT /dav/big.bin HTTP/1.1\nHost: x\nAuthorization: {auth}\nTransfer-Encoding: chunked"
        ),
        &chunked,
    );
    assert_eq!(r.status, 507);
    // Overwriting the kept file with too much also leaves the old content.
    let r = raw(
        gw.addr,
        &format!(
            "PUT /dav/keep.txt HTTP/1.1\nHost: x\nAuthorization: {auth}\nContent-Length: {}",
            big.len()
        ),
        &big,
    );
    assert_eq!(r.status, 507);
    assert_unchanged(&gw);
    // What fits still goes in.
    let small = content_for("small", 100_000);
    let r = raw(
        gw.addr,
        &format!(
            "PUT /dav/small.bin HTTP/1.1\nHost: x\nAuthorization: {auth}\nContent-Length: {}",
            small.len()
        ),
        &small,
    );
    assert_eq!(r.status, 201);
}

#[test]
fn truncated_uploads_leave_nothing() {
    let (_tmp, gw) = setup(&[]);
    let auth = basic("alice");
    for len in [1000usize, 3 << 20] {
        let data = content_for("cut", len);
        // Announce more than is sent, then close the connection: the client died mid-upload.
        let mut s = std::net::TcpStream::connect(gw.addr).unwrap();
        use std::io::Write;
        let head = format!("PUT /dav/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n", len * 2);
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&data).unwrap();
        drop(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = raw(
        gw.addr,
        &format!("GET /dav/cut.bin HTTP/1.1\nHost: x\nAuthorization: {auth}"),
        b"",
    );
    assert_eq!(r.status, 404);
    assert_unchanged(&gw);
    let _ = PASSWORD;
}

/// An uplink tunable that does not parse (or is out of range) stops the agent with a message
/// naming it, for the uplink on its own and for the gateway that would start one; nothing is
/// made in the data directory.
#[test]
fn uplink_settings_that_do_not_parse_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (command, var, value, says) in [
        (
            "uplink",
            "MICROCLOUD_UPLINK_CONCURRENCY",
            "lots",
            "--uplink-concurrency",
        ),
        ("uplink", "MICROCLOUD_PART_SIZE", "1M", "below 5M"),
        (
            "gateway",
            "MICROCLOUD_MANIFEST_INTERVAL",
            "0",
            "--manifest-interval",
        ),
        (
            "gateway",
            "MICROCLOUD_MULTIPART_THRESHOLD",
            "big",
            "not a size",
        ),
    ] {
        let out = std::process::Command::new(microcloud_tests::bin())
            .args([command, "--data", data.to_str().unwrap()])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command} {var}={value}: {stderr}"
        );
        assert!(stderr.contains(says), "{command} {var}={value}: {stderr}");
        assert!(
            !data.exists(),
            "{command} {var}={value} made the data directory"
        );
    }
}
