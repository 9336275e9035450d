//! The setup page's API against a real gateway process: onboarding with the one-time code, the
//! rate limits, sessions and CSRF on every admin endpoint, secrets never echoed, and the file
//! bridge. The browser end-to-end run (headless Chromium, Garage) is `browser_end_to_end`.

use std::path::Path;
use std::time::Duration;

use microcloud_tests::garage::Garage;
use microcloud_tests::page::{
    assert_refused_without_session_or_csrf, browser_tools, onboard, setup_code, Client,
    ADMIN_PASSWORD, KEY,
};
use microcloud_tests::{content_for, microcloud, s3, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test]
async fn the_setup_code_is_single_use_rate_limited_and_the_cli_can_end_onboarding() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(tmp.path(), &[]);
    let mut c = Client::new(&gw);
    // The page runs one inline script (boot.js), allowed by its hash and no other; its files run
    // by no inline script at all.
    let page = c.call(Method::GET, "/", None).await;
    assert_eq!(page.status, 200);
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(
        csp.matches("script-src 'self' 'sha256-").count(),
        1,
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(page.body.matches("<script>").count(), 1);
    let css = c.call(Method::GET, "/assets/app.css", None).await;
    assert_eq!(css.status, 200);
    assert!(!css.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sha256"));
    // A tablet that has a file of the page asks again and gets a 304 while it is unchanged.
    let tag = css.headers["etag"].to_str().unwrap().to_owned();
    let url = format!("http://{}/assets/app.css", gw.addr);
    let http = reqwest::Client::new();
    let again = http
        .get(&url)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
    assert!(again.bytes().await.unwrap().is_empty());
    for other in ["\"0123\"", "W/\"x\"", "", "garbage"] {
        let r = http
            .get(&url)
            .header("if-none-match", other)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "If-None-Match: {other}");
        assert_eq!(r.bytes().await.unwrap().len(), css.body.len());
    }
    let state = c.call(Method::GET, "/api/state", None).await.json();
    assert_eq!(state["onboarding"], true);
    assert_eq!(state["user"], Value::Null);
    // Before onboarding nothing else answers, and WebDAV has no user.
    for path in [
        "/api/status",
        "/api/destinations",
        "/api/users",
        "/api/ssh-keys",
        "/api/files",
        "/api/dav/",
    ] {
        let a = c.call(Method::GET, path, None).await;
        assert_eq!(a.status, 403, "{path} before onboarding: {}", a.body);
    }
    let a = c
        .call(
            Method::POST,
            "/api/session",
            Some(json!({"name": "x", "password": "whatever1"})),
        )
        .await;
    assert_eq!(a.status, 403, "sign-in before onboarding");
    let r = reqwest::Client::new()
        .get(gw.dav())
        .basic_auth("owner", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let code = setup_code(tmp.path());
    assert_eq!(code.len(), 14, "XXXX-XXXX-XXXX: {code}");
    for i in 0..5 {
        let a = c.call(Method::POST, "/api/onboarding", Some(json!({"code": format!("WRONG-CODE-{i:03}"), "name": "eve", "password": "eve password"}))).await;
        assert_eq!(a.status, 400, "wrong code {i}: {}", a.body);
        assert_eq!(a.json()["field"], "code");
        assert!(!a.body.contains(&code), "the code leaked in an answer");
    }
    // The sixth try is refused before the code is even looked at, right code or not.
    let a = c
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "eve", "password": "eve password"})),
        )
        .await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert!(
        microcloud(
            &["user", "list", "--data", tmp.path().to_str().unwrap()],
            ""
        )
        .is_empty(),
        "no user was made"
    );

    // Someone with a shell makes the first administrator: onboarding is over, the code retired.
    microcloud(
        &[
            "user",
            "add",
            "root-owner",
            "--admin",
            "--data",
            tmp.path().to_str().unwrap(),
        ],
        "shell password\n",
    );
    assert!(!tmp.path().join("setup-code").exists());
    let out = std::process::Command::new(microcloud_tests::bin())
        .args(["setup-code", "--data", tmp.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("setup is done")
    );
    assert_eq!(
        c.call(Method::GET, "/api/state", None).await.json()["onboarding"],
        false
    );
    let mut other = Client::new(&gw);
    let a = other
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": code, "name": "eve", "password": "eve password"})),
        )
        .await;
    assert_eq!(a.status, 403, "onboarding after setup: {}", a.body);
    let a = other.sign_in("root-owner", "shell password").await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn every_admin_endpoint_needs_a_session_an_admin_and_a_fresh_csrf_token() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("gateway.log");
    let data = tmp.path().join("data");
    let gw = Gateway::start_logged(&data, &[], &log);
    let mut admin = Client::new(&gw);
    onboard(&mut admin, &data).await;
    let keys = microcloud(&["ssh-key", "list", "--data", data.to_str().unwrap()], "");
    assert!(
        keys.contains("owner@laptop"),
        "the onboarding key is authorized: {keys}"
    );
    // A second onboarding with the (retired) code is refused.
    let a = Client::new(&gw)
        .call(
            Method::POST,
            "/api/onboarding",
            Some(json!({"code": "ABCD-EFGH-JKLM", "name": "x", "password": "xxxxxxxxxx"})),
        )
        .await;
    assert_eq!(a.status, 403);

    // A second, non-admin user, made by the admin on the page.
    let a = admin
        .call(
            Method::POST,
            "/api/users",
            Some(json!({"name": "bob", "password": PASSWORD, "admin": false})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);

    let dest_dir = tmp.path().join("dest");
    std::fs::create_dir(&dest_dir).unwrap();
    let dest = json!({"name": "disk", "kind": "dir", "path": dest_dir});
    let endpoints: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/api/status", None),
        (Method::GET, "/api/destinations", None),
        (Method::POST, "/api/destinations/test", Some(dest.clone())),
        (Method::POST, "/api/destinations", Some(dest.clone())),
        (Method::DELETE, "/api/destinations/disk", None),
        (Method::GET, "/api/users", None),
        (
            Method::POST,
            "/api/users",
            Some(json!({"name": "carol", "password": PASSWORD})),
        ),
        (
            Method::PUT,
            "/api/users/owner/password",
            Some(json!({"password": "taken over!"})),
        ),
        (
            Method::PUT,
            "/api/users/owner/devices-only",
            Some(json!({"on": true})),
        ),
        (Method::GET, "/api/ssh-keys", None),
        (
            Method::POST,
            "/api/ssh-keys",
            Some(json!({"key": KEY.replace("owner@laptop", "eve")})),
        ),
        (Method::DELETE, "/api/ssh-keys/0123456789abcdef", None),
        (Method::GET, "/api/system", None),
        (
            Method::PUT,
            "/api/system/hostname",
            Some(json!({"hostname": "evil"})),
        ),
        (
            Method::PUT,
            "/api/system/timezone",
            Some(json!({"timezone": "UTC"})),
        ),
        (Method::POST, "/api/system/reboot", None),
        (Method::GET, "/api/system/update", None),
        (
            Method::POST,
            "/api/system/update",
            Some(json!({"url": "https://example.invalid/x.update"})),
        ),
        (Method::POST, "/api/system/update/rollback", None),
        (
            Method::POST,
            "/api/system/factory-reset",
            Some(json!({"confirm": "factory reset"})),
        ),
    ];
    assert_refused_without_session_or_csrf(&gw, &admin, &endpoints).await;
    for (m, path, body) in &endpoints {
        let a = bob.call(m.clone(), path, body.clone()).await;
        assert_eq!(
            a.status, 403,
            "{m} {path} as a user who is not an admin: {}",
            a.body
        );
    }
    // None of those changed anything.
    let users = admin.call(Method::GET, "/api/users", None).await.json();
    assert_eq!(users.as_array().unwrap().len(), 2, "{users}");
    assert_eq!(
        admin
            .call(Method::GET, "/api/destinations", None)
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        admin
            .call(Method::GET, "/api/ssh-keys", None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        Client::new(&gw)
            .sign_in("owner", ADMIN_PASSWORD)
            .await
            .status,
        200,
        "the admin's password is unchanged"
    );

    // Off the appliance, the system page says so instead of touching this computer.
    let a = admin.call(Method::POST, "/api/system/reboot", None).await;
    assert_eq!(a.status, 503, "{}", a.body);

    // The real thing works with a session and the token; a secret goes in and never comes out.
    let secret = "s3cr3t-never-shown-0123456789";
    let bad_s3 = json!({"name": "cloud", "kind": "s3", "endpoint": "http://127.0.0.1:9", "bucket": "photos",
        "access_key_id": "GKtest", "secret_access_key": secret});
    let a = admin
        .call(Method::POST, "/api/destinations/test", Some(bad_s3.clone()))
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(!a.body.contains(secret));
    let a = admin
        .call(Method::POST, "/api/destinations", Some(bad_s3))
        .await;
    assert_eq!(
        a.status, 400,
        "an untested destination is not added: {}",
        a.body
    );
    for (bad, field) in [
        (
            json!({"name": "x", "kind": "s3", "endpoint": "ftp://h", "bucket": "abc", "access_key_id": "k", "secret_access_key": "s"}),
            "endpoint",
        ),
        (
            json!({"name": "x", "kind": "s3", "endpoint": "http://h", "bucket": "A", "access_key_id": "k", "secret_access_key": "s"}),
            "bucket",
        ),
        (
            json!({"name": "x", "kind": "dir", "path": "relative/dir"}),
            "path",
        ),
        (
            json!({"name": "../x", "kind": "dir", "path": "/tmp"}),
            "name",
        ),
        (json!({"name": "", "kind": "dir", "path": "/tmp"}), "name"),
        // A private CA typed into the API (the page's form offers none, the API takes one).
        (
            json!({"name": "x", "kind": "s3", "endpoint": "https://h", "bucket": "abc", "access_key_id": "k",
                "secret_access_key": secret, "ca_pem": "not a certificate"}),
            "ca_pem",
        ),
        (
            json!({"name": "x", "kind": "s3", "endpoint": "https://h", "bucket": "abc", "access_key_id": "k",
                "secret_access_key": secret, "ca_pem": format!("{PEM_CERT}{PEM_KEY}")}),
            "ca_pem",
        ),
        (
            json!({"name": "x", "kind": "s3", "endpoint": "http://h", "bucket": "abc", "access_key_id": "k",
                "secret_access_key": secret, "ca_pem": PEM_CERT}),
            "ca_pem",
        ),
    ] {
        let a = admin
            .call(Method::POST, "/api/destinations/test", Some(bad.clone()))
            .await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert_eq!(a.json()["field"], field, "{bad}: {}", a.body);
        assert!(!a.body.contains(secret), "{}", a.body);
    }
    // A block that reads as a certificate but is not one: the TLS library's refusal, said plainly.
    let bogus = json!({"name": "x", "kind": "s3", "endpoint": "https://127.0.0.1:9", "bucket": "abc",
        "access_key_id": "k", "secret_access_key": secret, "ca_pem": PEM_CERT});
    let a = admin
        .call(Method::POST, "/api/destinations", Some(bogus))
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.json()["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        a.body
    );
    assert!(!a.body.contains(secret), "{}", a.body);
    // More CA than a request may carry: refused whole.
    let huge = json!({"name": "x", "kind": "s3", "endpoint": "https://h", "bucket": "abc", "access_key_id": "k",
        "secret_access_key": secret, "ca_pem": PEM_CERT.repeat(3000)});
    let a = admin
        .call(Method::POST, "/api/destinations/test", Some(huge))
        .await;
    assert_eq!(a.status, 413, "{}", &a.body[..a.body.len().min(200)]);
    assert!(!a.body.contains(secret));
    let a = admin
        .call(Method::POST, "/api/destinations", Some(dest))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let listed = admin.call(Method::GET, "/api/destinations", None).await;
    assert!(listed.body.contains("\"disk\""));
    assert!(
        !listed.body.contains("\"x\""),
        "nothing refused was added: {}",
        listed.body
    );
    let cli = microcloud(&["remote", "list", "--data", data.to_str().unwrap()], "");
    assert!(
        cli.contains("disk\tdir"),
        "the CLI sees what the page added: {cli}"
    );

    // Malformed and oversized bodies get JSON errors.
    let a = admin.call(Method::POST, "/api/users", None).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["error"].as_str().unwrap().contains("malformed"));
    let a = admin
        .call(
            Method::POST,
            "/api/ssh-keys",
            Some(json!({"key": "x".repeat(200_000)})),
        )
        .await;
    assert_eq!(a.status, 413, "{}", &a.body[..a.body.len().min(200)]);
    let a = admin
        .call(
            Method::POST,
            "/api/ssh-keys",
            Some(json!({"key": "command=\"sh\" ssh-ed25519 AAAA"})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["field"], "key");
    let a = admin
        .call(
            Method::POST,
            "/api/users",
            Some(json!({"name": "dave", "password": "short"})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("password"))
    );

    // Files: each user sees their own; traversal is refused.
    let a = admin.call(Method::PUT, "/api/dav/notes.txt", None).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = bob.call(Method::GET, "/api/dav/notes.txt", None).await;
    assert_eq!(a.status, 404, "bob cannot read the owner's file");
    assert_eq!(
        bob.call(Method::GET, "/api/files?path=/", None)
            .await
            .json()["entries"],
        json!([])
    );
    let a = admin
        .call(Method::GET, "/api/files?path=/../../etc", None)
        .await;
    assert_eq!(a.status, 400);
    // (reqwest would normalize the dots away: send the path as an attacker would.)
    let cookie = admin.cookie.clone().unwrap();
    for path in [
        "/api/dav/%2e%2e/%2e%2e/etc/passwd",
        "/api/dav/../../etc/passwd",
        "/api/dav/a%2f..%2f..%2fb",
    ] {
        let r = microcloud_tests::raw(
            gw.addr,
            &format!("GET {path} HTTP/1.1\nHost: x\nCookie: mc_session={cookie}"),
            b"",
        );
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            String::from_utf8_lossy(&r.body).contains("bad path"),
            "{path}"
        );
    }
    let a = admin
        .call(Method::GET, "/api/dav/notes.txt?download=1", None)
        .await;
    assert_eq!(a.status, 200);
    assert!(a.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(a.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    // Sign-in is rate limited per client.
    let mut guesser = Client::new(&gw);
    for _ in 0..5 {
        assert_eq!(guesser.sign_in("owner", "wrong guess").await.status, 401);
    }
    let a = guesser.sign_in("owner", ADMIN_PASSWORD).await;
    assert_eq!(a.status, 429, "{}", a.body);

    // A password change ends the user's other sessions.
    let a = admin
        .call(
            Method::PUT,
            "/api/users/bob/password",
            Some(json!({"password": "bob's new one"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(bob.call(Method::GET, "/api/files", None).await.status, 401);
    // Signing out ends the session.
    let signed_out = admin.cookie.clone();
    assert_eq!(
        admin
            .call(Method::DELETE, "/api/session", None)
            .await
            .status,
        200
    );
    let mut replay = Client::new(&gw);
    replay.cookie = signed_out;
    assert_eq!(
        replay.call(Method::GET, "/api/status", None).await.status,
        401,
        "a signed-out cookie is dead"
    );

    drop(gw);
    let logged = std::fs::read_to_string(&log).unwrap();
    for s in [secret, ADMIN_PASSWORD, PASSWORD, "bob's new one"] {
        assert!(!logged.contains(s), "the gateway logged a secret ({s})");
    }
}

/// The browser run: onboarding, a Garage destination, an upload from the file page watched from
/// `local` to `cloud:all`, a download, sign-out; screenshots at tablet and phone sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_end_to_end() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let (web, chromium) = browser_tools(&repo);

    let garage = Garage::start();
    garage.create_bucket("photos");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start(&data, &[]);
    let upload = tmp.path().join("holiday.jpg");
    let bytes = content_for("holiday.jpg", 3 << 20);
    std::fs::write(&upload, &bytes).unwrap();
    let shots = repo.join("target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let creds = garage.credentials();

    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(web.join("e2e.mjs"))
            .current_dir(&web)
            .env("CHROMIUM", &chromium)
            .env("MC_URL", format!("http://{}", gw.addr))
            .env("MC_SETUP_CODE", setup_code(&data))
            .env("MC_ADMIN", "owner")
            .env("MC_PASSWORD", ADMIN_PASSWORD)
            .env("MC_S3_ENDPOINT", garage.endpoint())
            .env("MC_S3_REGION", garage.region())
            .env("MC_S3_BUCKET", "photos")
            .env("MC_S3_KEY_ID", &creds.0)
            .env("MC_S3_SECRET", &creds.1)
            .env("MC_UPLOAD_FILE", &upload)
            .env("MC_SCREENSHOTS", &shots)
            .env("MC_TIMEOUT_MS", "120000")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run ended within 300 s")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser run failed (see its output above)"
    );

    // What the page showed is true: the bucket holds the file, with the same bytes.
    let remote = s3(&garage.endpoint(), garage.region(), "photos", &creds);
    let got = microcloud_remotes::collect(
        remote
            .get("owner/holiday.jpg", None)
            .await
            .expect("object in the bucket"),
    )
    .await
    .unwrap();
    assert_eq!(blake3::hash(&got), blake3::hash(&bytes));
    for page in ["onboarding", "dashboard", "files", "destinations"] {
        for size in ["tablet", "phone"] {
            let f = shots.join(format!("{size}-{page}.png"));
            assert!(
                std::fs::metadata(&f)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false),
                "{} missing",
                f.display()
            );
        }
    }
}

/// A PEM block of the certificate kind whose content is no certificate (3 bytes of DER).
const PEM_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PEM_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
/// The MAC and the announced name (markup, which the page must show as text) of the device on
/// the LAN that the pairing run finds under "On this network".
const LAN_MAC: &str = "02:aa:bb:cc:dd:ee";
const LAN_NAME: &str = "<img src=x onerror=alert(1)>";

/// Pairing in the browser (tests/web/pairing.mjs): two contexts, pair by code, the same
/// confirmation on both, approve, upload from the new tablet, revoke, its page says so; then the
/// file is on the box with its bytes and the device is gone. First, "On this network" shows a
/// LAN device's announced markup as text, and its "Invite" starts a pairing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pairs_a_tablet_and_revokes_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let (web, chromium) = browser_tools(&repo);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start(&data, &["--no-uplink"]);
    let mut owner = Client::new(&gw);
    onboard(&mut owner, &data).await;
    let upload = tmp.path().join("sketch.png");
    let bytes = content_for("sketch.png", 200_000);
    std::fs::write(&upload, &bytes).unwrap();
    let shots = repo.join("target/web-screenshots");
    // A device on the LAN announcing markup as its name (DATA/discovery/lan.json, as the
    // discovery agent writes it).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lan = microcloud_neighbours::LanView {
        updated_unix: now,
        pid: 1,
        announced: Default::default(),
        neighbours: vec![microcloud_neighbours::Neighbour {
            address: "192.168.1.77".parse().unwrap(),
            mac: Some(LAN_MAC.into()),
            randomized_mac: true,
            interface: "eth0".into(),
            state: "reachable".into(),
            first_seen_unix: now - 60,
            last_seen_unix: now,
            names: vec![LAN_NAME.into()],
            services: vec![],
        }],
    };
    std::fs::create_dir_all(data.join(microcloud_neighbours::DIR)).unwrap();
    std::fs::write(
        microcloud_neighbours::path(&data),
        serde_json::to_vec(&lan).unwrap(),
    )
    .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(web.join("pairing.mjs"))
            .current_dir(&web)
            .env("CHROMIUM", &chromium)
            .env("MC_URL", format!("http://{}", gw.addr))
            .env("MC_ADMIN", "owner")
            .env("MC_PASSWORD", ADMIN_PASSWORD)
            .env("MC_UPLOAD_FILE", &upload)
            .env("MC_SCREENSHOTS", &shots)
            .env("MC_LAN_MAC", LAN_MAC)
            .env("MC_LAN_NAME", LAN_NAME)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the pairing run ended within 300 s")
    .expect("run node");
    println!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the pairing run failed (see above)");

    let r = reqwest::Client::new()
        .get(format!("{}sketch.png", gw.dav()))
        .basic_auth("owner", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        blake3::hash(&r.bytes().await.unwrap()),
        blake3::hash(&bytes)
    );
    let devices = microcloud(
        &["device", "list", "--json", "--data", data.to_str().unwrap()],
        "",
    );
    assert_eq!(devices.trim(), "[]", "the revoked tablet is gone");
    for name in [
        "lan",
        "pairing-qr",
        "pair-code-form",
        "pair-confirmation-new-tablet",
        "pair-confirmation-approving-tablet",
        "pair-done",
        "device-list",
        "pair-removed",
    ] {
        for size in ["tablet", "phone"] {
            let f = shots.join(format!("{size}-{name}.png"));
            assert!(
                std::fs::metadata(&f).is_ok_and(|m| m.len() > 1000),
                "{} missing",
                f.display()
            );
        }
    }
}
