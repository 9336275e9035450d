//! Devices against a real gateway process: a device password works on WebDAV for its user only,
//! revoking it refuses the very next request and loses nothing, a user can be held to device
//! passwords, the dashboard names the device, and the page's device API refuses whoever may not
//! use it (no session, another user, stale or missing CSRF, malformed, oversized, a flood).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use microcloud_tests::page::{assert_refused_without_session_or_csrf, onboard, Client};
use microcloud_tests::{add_user, bin, content_for, microcloud, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const IPAD: &str = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15";

/// `microcloud device add USER NAME`: the password it prints.
fn add_device(dir: &Path, user: &str, name: &str) -> String {
    let out = microcloud(
        &["device", "add", user, name, "--data", dir.to_str().unwrap()],
        "",
    );
    let password = out
        .lines()
        .find(|l| l.starts_with("    "))
        .unwrap_or_else(|| panic!("no password in: {out}"))
        .trim()
        .to_owned();
    assert_eq!(password.len(), 34, "{out}");
    password
}

fn device_list(dir: &Path, user: Option<&str>) -> Value {
    let mut args = vec!["device", "list"];
    args.extend(user);
    args.extend(["--json", "--data", dir.to_str().unwrap()]);
    serde_json::from_str(&microcloud(&args, "")).unwrap()
}

/// Runs `microcloud ARGS`, expecting it to fail; its standard error.
fn microcloud_fails(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

async fn dav(
    http: &reqwest::Client,
    gw: &Gateway,
    method: &str,
    path: &str,
    user: &str,
    password: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let r = http
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", gw.dav()),
        )
        .basic_auth(user, Some(password))
        .header("user-agent", IPAD)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_device_password_works_for_its_user_and_revoking_refuses_the_next_request() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    add_user(data, "alice");
    add_user(data, "bob");
    let log = tmp.path().join("gateway.log");
    let gw = Gateway::start_logged(data, &["--no-uplink"], &log);
    let http = reqwest::Client::new();
    let ipad = add_device(data, "alice", "Anna's iPad");
    let phone = add_device(data, "alice", "phone");
    assert_ne!(ipad, phone, "each device has its own password");

    let content = content_for("notes.txt", 100_000);
    let (s, _) = dav(
        &http,
        &gw,
        "PUT",
        "notes.txt",
        "alice",
        &ipad,
        content.clone(),
    )
    .await;
    assert_eq!(s, 201);
    let (s, got) = dav(&http, &gw, "GET", "notes.txt", "alice", &phone, vec![]).await;
    assert_eq!(
        (s, blake3::hash(&got)),
        (StatusCode::OK, blake3::hash(&content))
    );
    // Typed as a person would: upper case, spaces instead of dashes.
    let typed = ipad.to_uppercase().replace('-', " ");
    let (s, _) = dav(&http, &gw, "GET", "notes.txt", "alice", &typed, vec![]).await;
    assert_eq!(s, 200);

    // Another user's name with alice's device password, and a well-formed guess: refused.
    let (s, _) = dav(&http, &gw, "GET", "", "bob", &ipad, vec![]).await;
    assert_eq!(s, 401, "a device password is its user's only");
    let guess = "0000-0000-0000-0000-0000-0000-0000";
    let (s, _) = dav(&http, &gw, "GET", "", "alice", guess, vec![]).await;
    assert_eq!(s, 401);

    // The list: kind from the user agent, last address (written down in the background, at
    // most once a minute), never the password.
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list = device_list(data, Some("alice"));
        if list[0]["last_seen"].is_string() || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let listed = list.to_string();
    assert!(
        !listed.contains(&ipad) && !listed.contains(&phone),
        "{listed}"
    );
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Anna's iPad", "phone"]);
    assert_eq!(list[0]["kind"], "iPad", "{list}");
    assert_eq!(list[0]["last_address"], "127.0.0.1", "{list}");
    assert!(list[0]["last_seen"].is_string(), "{list}");
    assert_eq!(device_list(data, Some("bob")), json!([]));
    let err = microcloud_fails(&["device", "list", "carol", "--data", data.to_str().unwrap()]);
    assert!(err.contains("no user named \"carol\""), "{err}");

    // Revoked: the very next request is refused; the other device and the files stay.
    microcloud(
        &[
            "device",
            "revoke",
            "alice",
            "Anna's iPad",
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    let revoked = Instant::now();
    let (s, _) = dav(&http, &gw, "GET", "notes.txt", "alice", &ipad, vec![]).await;
    let refused_after = revoked.elapsed();
    // The very next request is refused (no cached credential lets it through); how long that
    // request took is the machine's business, not the test's.
    assert_eq!(s, 401, "a revoked device is refused");
    println!("the revoked device's next request was refused in {refused_after:?}");
    let (s, got) = dav(&http, &gw, "GET", "notes.txt", "alice", &phone, vec![]).await;
    assert_eq!(
        (s, blake3::hash(&got)),
        (StatusCode::OK, blake3::hash(&content))
    );
    let (s, got) = dav(&http, &gw, "GET", "notes.txt", "alice", PASSWORD, vec![]).await;
    assert_eq!((s, got.len()), (StatusCode::OK, content.len()));
    let err = microcloud_fails(&[
        "device",
        "revoke",
        "alice",
        "Anna's iPad",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(err.contains("has no device named"), "{err}");

    // Held to device passwords: the account password no longer opens WebDAV, and says why.
    microcloud(
        &[
            "device",
            "require-devices",
            "alice",
            "on",
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    let (s, body) = dav(&http, &gw, "GET", "notes.txt", "alice", PASSWORD, vec![]).await;
    assert_eq!(s, 401);
    assert!(
        String::from_utf8_lossy(&body).contains("device passwords only"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (s, _) = dav(&http, &gw, "GET", "notes.txt", "alice", &phone, vec![]).await;
    assert_eq!(s, 200);
    let (s, _) = dav(&http, &gw, "GET", "bob.txt", "bob", PASSWORD, vec![]).await;
    assert_eq!(
        s, 404,
        "bob still uses his account password (and has no such file)"
    );
    microcloud(
        &[
            "device",
            "require-devices",
            "alice",
            "off",
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    let (s, _) = dav(&http, &gw, "GET", "notes.txt", "alice", PASSWORD, vec![]).await;
    assert_eq!(s, 200);

    // Bad names are refused with the reason, and change nothing.
    for bad in ["", " padded", "a/b", "tab\there", &"x".repeat(65)] {
        let out = Command::new(bin())
            .args([
                "device",
                "add",
                "alice",
                bad,
                "--data",
                data.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("device name"), "{bad:?}: {err}");
    }
    let err = microcloud_fails(&[
        "device",
        "add",
        "alice",
        "phone",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(err.contains("already has a device named"), "{err}");
    let err = microcloud_fails(&[
        "device",
        "add",
        "carol",
        "x",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(err.contains("no user named"), "{err}");
    let logged = std::fs::read_to_string(&log).unwrap();
    for secret in [&ipad, &phone, &typed] {
        assert!(
            !logged.contains(secret.as_str()),
            "a device password was logged"
        );
    }
    assert_eq!(device_list(data, None).as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_page_manages_devices_for_whoever_may_and_names_them_in_the_activity() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start_on_all_addresses(&data, &["--no-uplink"]);
    let mut owner = Client::new(&gw);
    onboard(&mut owner, &data).await;
    add_user(&data, "bob");
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);
    let http = reqwest::Client::new();

    // The owner adds a device on the page: its password comes back once.
    let a = owner
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "Owner's tablet"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let password = a.json()["password"].as_str().unwrap().to_owned();
    let (s, _) = dav(
        &http,
        &gw,
        "PUT",
        "report.pdf",
        "owner",
        &password,
        b"%PDF".to_vec(),
    )
    .await;
    assert_eq!(s, 201);
    let status = owner.call(Method::GET, "/api/status", None).await.json();
    let activity = status["activity"].to_string();
    assert!(
        activity.contains("owner (Owner's tablet): PUT /report.pdf"),
        "the activity names the device: {activity}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = owner.call(Method::GET, "/api/devices", None).await;
        if listed.json()[0]["kind"] == "iPad" || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !listed.body.contains(&password),
        "never echoed: {}",
        listed.body
    );
    assert_eq!(listed.json()[0]["kind"], "iPad", "{}", listed.body);
    assert_eq!(listed.json()[0]["last_address"], "127.0.0.1");

    // Bob adds his own; he sees only his, and may not add or revoke the owner's.
    let a = bob
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "bob's phone"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let bobs = bob.call(Method::GET, "/api/devices", None).await.json();
    assert_eq!(bobs.as_array().unwrap().len(), 1, "{bobs}");
    assert_eq!(bobs[0]["user"], "bob");
    let a = bob
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "planted", "user": "owner"})),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = bob
        .call(Method::DELETE, "/api/devices/owner/Owner's%20tablet", None)
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = bob
        .call(
            Method::PUT,
            "/api/users/bob/devices-only",
            Some(json!({"on": false})),
        )
        .await;
    assert_eq!(
        a.status, 403,
        "only administrators hold users to device passwords"
    );
    // The owner sees both.
    let all = owner.call(Method::GET, "/api/devices", None).await.json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    // No session, a forged one, a stale or missing CSRF token: refused, nothing changed.
    assert_refused_without_session_or_csrf(
        &gw,
        &owner,
        &[
            (Method::GET, "/api/devices", None),
            (Method::POST, "/api/devices", Some(json!({"name": "x"}))),
            (Method::DELETE, "/api/devices/bob/bob's%20phone", None),
            (
                Method::PUT,
                "/api/users/bob/devices-only",
                Some(json!({"on": true})),
            ),
        ],
    )
    .await;
    assert_eq!(
        owner.call(Method::GET, "/api/devices", None).await.json(),
        all
    );

    // Malformed, oversized, badly named, taken, unknown.
    let raw = owner
        .request(Method::POST, "/api/devices")
        .header("content-type", "application/json");
    let r = raw
        .try_clone()
        .unwrap()
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = raw
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(200_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    for bad in ["", "a/b", "line\nbreak", &"x".repeat(65)] {
        let a = owner
            .call(Method::POST, "/api/devices", Some(json!({"name": bad})))
            .await;
        assert_eq!(a.status, 400, "{bad:?}: {}", a.body);
        assert_eq!(a.json()["field"], "name");
    }
    let a = owner
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "Owner's tablet"})),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = owner
        .call(
            Method::POST,
            "/api/devices",
            Some(json!({"name": "x", "user": "nobody"})),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = owner
        .call(Method::DELETE, "/api/devices/bob/nothing", None)
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(
        owner.call(Method::GET, "/api/devices", None).await.json(),
        all
    );

    // A flood of well-formed wrong device passwords from one address is answered (401 or 429),
    // and the real device still works from another.
    let flood_from = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (c, url) = (flood_from.clone(), gw.dav());
        tasks.push(tokio::spawn(async move {
            c.get(url)
                .basic_auth(
                    "owner",
                    Some(format!("{i:04}-0000-0000-0000-0000-0000-0000")),
                )
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    for t in tasks {
        let s = t
            .await
            .unwrap()
            .expect("every request in the flood is answered");
        assert!(s == 401 || s == 429, "flood answered {s}");
    }
    let (s, got) = dav(&http, &gw, "GET", "report.pdf", "owner", &password, vec![]).await;
    assert_eq!((s, got.as_slice()), (StatusCode::OK, &b"%PDF"[..]));

    // The owner revokes bob's device on the page; bob's device password stops working.
    let a = owner
        .call(Method::DELETE, "/api/devices/bob/bob's%20phone", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        bob.call(Method::GET, "/api/devices", None).await.json(),
        json!([])
    );
}

/// One socket for IPv4 and IPv6 (`[::]`, as the appliance listens): a tablet reaches the box by
/// either, and an IPv4 client is recorded as its plain IPv4 address (not `::ffff:a.b.c.d`), so
/// that the LAN view can match it with the kernel's neighbour entry.
#[tokio::test]
async fn one_dual_stack_socket_serves_ipv4_and_ipv6_and_records_plain_ipv4_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let password = add_device(&data, "alice", "iPad");
    let gw = Gateway::start_on_all_addresses(&data, &["--no-uplink"]);
    let port = gw.addr.port();
    let http = reqwest::Client::new();
    let propfind = |host: &str| {
        http.request(
            Method::from_bytes(b"PROPFIND").unwrap(),
            format!("http://{host}:{port}/dav/"),
        )
        .basic_auth("alice", Some(&password))
        .header("depth", "0")
        .send()
    };
    let v4 = propfind("127.0.0.1").await.unwrap();
    assert_eq!(v4.status().as_u16(), 207);
    // Recorded as the plain IPv4 address (in the background, within a moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    let recorded = loop {
        let list = device_list(&data, Some("alice"));
        if let Some(a) = list[0]["last_address"].as_str() {
            break a.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no last address recorded: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(recorded, "127.0.0.1");
    match propfind("[::1]").await {
        Ok(v6) => assert_eq!(v6.status().as_u16(), 207),
        // A machine without IPv6 on loopback: the gateway fell back to 0.0.0.0.
        Err(e) => eprintln!("no IPv6 loopback here ({e}): the IPv6 half is skipped"),
    }
}
