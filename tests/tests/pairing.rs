//! Pairing a new tablet through the page's API against a real gateway: the code works once, both
//! sides see the same confirmation, only the pairing's own user approves, the new tablet gets a
//! device session and password, revoking it ends both at once, and guessed, reused, malformed,
//! oversized and flooded claims are refused with nothing changed. (The browser run of the same
//! is in web.rs.)

use std::time::Instant;

use base64::Engine;
use microcloud_tests::page::from_address as from;
use microcloud_tests::page::{assert_refused_without_session_or_csrf, onboard, Client};
use microcloud_tests::{add_user, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn claim(c: &mut Client, code: &str, name: &str) -> (StatusCode, Value) {
    let a = c
        .call(
            Method::POST,
            "/api/pair/claim",
            Some(json!({"code": code, "device_name": name})),
        )
        .await;
    let v = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    (a.status, v)
}

#[tokio::test]
async fn a_tablet_pairs_once_by_code_and_revoking_it_ends_its_session() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start_on_all_addresses(&data, &["--no-uplink"]);
    let mut owner = Client::new(&gw);
    onboard(&mut owner, &data).await;
    add_user(&data, "bob");
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);

    // Who may start one: a session, with its CSRF token, for its own account only.
    assert_refused_without_session_or_csrf(
        &gw,
        &owner,
        &[(Method::POST, "/api/pairings", Some(json!({})))],
    )
    .await;
    let mut anonymous = Client::new(&gw);
    let a = bob
        .call(
            Method::POST,
            "/api/pairings",
            Some(json!({"user": "owner"})),
        )
        .await;
    assert_eq!(
        a.status, 403,
        "pairing for someone else's account: {}",
        a.body
    );

    let a = owner
        .call(Method::POST, "/api/pairings", Some(json!({})))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let p = a.json();
    let (id, code, url) = (
        p["id"].as_str().unwrap().to_owned(),
        p["code"].as_str().unwrap().to_owned(),
        p["url"].as_str().unwrap().to_owned(),
    );
    assert_eq!(code.len(), 9, "{code}");
    let (base, token) = url.split_once("/pair#").expect("the QR code's URL");
    // The QR code names the scheme and host the page was reached by (plain http in development).
    assert_eq!(base, format!("http://127.0.0.1:{}", gw.addr.port()));
    let svg = base64::engine::general_purpose::STANDARD
        .decode(
            p["qr"]
                .as_str()
                .unwrap()
                .strip_prefix("data:image/svg+xml;base64,")
                .expect("an SVG data URL"),
        )
        .unwrap();
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));

    // The new tablet, from another address: bad bodies, a wrong code, then the code as typed.
    let mut tablet = from(&gw, 2);
    let r = tablet
        .request(Method::POST, "/api/pair/claim")
        .header("content-type", "application/json")
        .body("{\"code\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = tablet
        .request(Method::POST, "/api/pair/claim")
        .header("content-type", "application/json")
        .body(format!("{{\"code\": \"{}\"}}", "A".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (s, v) = claim(&mut tablet, &code, "bad/name").await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("device_name"))
    );
    let (s, v) = claim(&mut tablet, "ZZZZ-ZZZZ", "iPad").await;
    assert_eq!(
        (s, v["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("code")),
        "{v}"
    );
    let typed = code.to_lowercase().replace('-', " ");
    let (s, c) = claim(&mut tablet, &typed, "iPad").await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["user"], "owner");
    let confirmation = c["confirmation"].as_str().unwrap().to_owned();
    assert_eq!(confirmation.len(), 6);

    // Both screens show the same number; the code and the token work no more.
    let v = owner
        .call(Method::GET, &format!("/api/pairings/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "claimed", "{v}");
    assert_eq!(v["confirmation"], confirmation.as_str());
    assert_eq!(v["kind"], "iPad");
    assert_eq!(v["address"], "127.0.0.2");
    let mut thief = from(&gw, 3);
    assert_eq!(claim(&mut thief, &code, "x").await.0, 409);
    assert_eq!(claim(&mut thief, token, "x").await.0, 409);

    // Another user cannot see or approve it; the new tablet waits.
    let a = bob
        .call(Method::POST, &format!("/api/pairings/{id}/approve"), None)
        .await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(
        bob.call(Method::GET, &format!("/api/pairings/{id}"), None)
            .await
            .status,
        404
    );
    let claim_secret = c["claim"].as_str().unwrap().to_owned();
    let w = tablet
        .call(
            Method::POST,
            "/api/pair/status",
            Some(json!({"claim": claim_secret})),
        )
        .await;
    assert_eq!(w.json()["state"], "waiting");
    assert!(tablet.cookie.is_none());
    let a = anonymous
        .call(
            Method::POST,
            "/api/pair/status",
            Some(json!({"claim": "guessed"})),
        )
        .await;
    assert_eq!(a.status, 404);

    // Approved: the tablet gets its session and its device password, once.
    let a = owner
        .call(Method::POST, &format!("/api/pairings/{id}/approve"), None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = tablet
        .call(
            Method::POST,
            "/api/pair/status",
            Some(json!({"claim": claim_secret})),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    let d = d.json();
    assert_eq!(
        (d["state"].as_str(), d["device_name"].as_str()),
        (Some("approved"), Some("iPad"))
    );
    let device_password = d["password"].as_str().unwrap().to_owned();
    assert!(tablet.cookie.is_some(), "the tablet is signed in");
    let again = thief
        .call(
            Method::POST,
            "/api/pair/status",
            Some(json!({"claim": claim_secret})),
        )
        .await;
    assert_eq!(again.status, 409, "handed over once: {}", again.body);
    assert!(!again.body.contains(&device_password));
    tablet.refresh_csrf().await;
    let st = tablet.call(Method::GET, "/api/state", None).await.json();
    assert_eq!(
        (st["user"]["name"].as_str(), st["device"].as_str()),
        (Some("owner"), Some("iPad"))
    );

    // The tablet uploads through the page and through WebDAV with its password.
    let a = tablet
        .request(Method::PUT, "/api/dav/from-tablet.txt")
        .body("drawn on the iPad")
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 201);
    let r = reqwest::Client::new()
        .get(format!("{}from-tablet.txt", gw.dav()))
        .basic_auth("owner", Some(&device_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "drawn on the iPad");
    let status = owner.call(Method::GET, "/api/status", None).await.json();
    assert!(
        status["activity"]
            .to_string()
            .contains("owner (iPad): PUT /from-tablet.txt"),
        "{}",
        status["activity"]
    );
    let mine = tablet.call(Method::GET, "/api/devices", None).await.json();
    assert_eq!(mine[0]["this"], true, "{mine}");

    // Revoked from the first tablet: the new one's next request is refused and says why.
    let a = owner
        .call(Method::DELETE, "/api/devices/owner/iPad", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let t0 = Instant::now();
    let a = tablet.call(Method::GET, "/api/files?path=/", None).await;
    let took = t0.elapsed();
    assert_eq!(a.status, 401, "{}", a.body);
    assert!(a.body.contains("removed"), "{}", a.body);
    assert_eq!(a.json()["field"], "device");
    assert!(took.as_millis() < 1000, "{took:?}");
    // Every later request hears the same, whichever of the page's requests came first (its event
    // stream, its poll, the page it opened); a write still gets 401, not a CSRF refusal.
    for (method, path) in [
        (Method::GET, "/api/session"),
        (Method::GET, "/api/devices"),
        (Method::PUT, "/api/workspace"),
    ] {
        let a = tablet.call(method.clone(), path, None).await;
        assert_eq!(
            (a.status.as_u16(), a.json()["field"].as_str()),
            (401, Some("device")),
            "{method} {path}: {}",
            a.body
        );
    }
    let r = reqwest::Client::new()
        .get(format!("{}from-tablet.txt", gw.dav()))
        .basic_auth("owner", Some(&device_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The file it made stays.
    let a = owner.call(Method::GET, "/api/files?path=/", None).await;
    assert!(a.body.contains("from-tablet.txt"), "{}", a.body);
}

#[tokio::test]
async fn wrong_codes_void_a_pairing_and_a_flood_of_claims_is_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start_on_all_addresses(&data, &["--no-uplink"]);
    let mut owner = Client::new(&gw);
    onboard(&mut owner, &data).await;

    let p = owner
        .call(Method::POST, "/api/pairings", Some(json!({})))
        .await
        .json();
    let code = p["code"].as_str().unwrap().to_owned();
    let mut guesser = from(&gw, 4);
    for i in 0..5 {
        let (s, _) = claim(&mut guesser, &format!("0000-000{i}"), "x").await;
        assert_eq!(s, 400);
    }
    // The guesser's address now waits; from anywhere the code is void.
    assert_eq!(claim(&mut guesser, &code, "x").await.0, 429);
    let mut tablet = from(&gw, 5);
    let (s, v) = claim(&mut tablet, &code, "iPad").await;
    assert_eq!(s, 410, "{v}");
    let id = p["id"].as_str().unwrap();
    let v = owner
        .call(Method::GET, &format!("/api/pairings/{id}"), None)
        .await
        .json();
    assert_eq!(v["state"], "expired");

    // A user has at most three open at once.
    for _ in 0..3 {
        let a = owner
            .call(Method::POST, "/api/pairings", Some(json!({})))
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    assert_eq!(
        owner
            .call(Method::POST, "/api/pairings", Some(json!({})))
            .await
            .status,
        429
    );

    // A flood of claims from one address: every one answered, the gateway still serves.
    let flood = from(&gw, 6).http;
    let url = format!("http://{}/api/pair/claim", gw.addr);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (c, url) = (flood.clone(), url.clone());
            tokio::spawn(async move {
                c.post(url)
                    .header("content-type", "application/json")
                    .body(json!({"code": format!("{i:08}"), "device_name": "x"}).to_string())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for t in tasks {
        let s = t.await.unwrap().expect("answered");
        assert!(matches!(s, 400 | 429), "{s}");
    }
    assert_eq!(
        owner.call(Method::GET, "/api/devices", None).await.json(),
        json!([])
    );
}

/// Over https (the box's CA trusted), the QR code names https and the new tablet's session cookie
/// is `Secure`.
#[tokio::test]
async fn over_https_the_qr_code_says_https_and_the_cookie_is_secure() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start(&data, &["--no-uplink", "--tls-listen", "127.0.0.1:0"]);
    let https = gw.https_url().expect("an https address");
    let ca = std::fs::read(data.join("tls/ca.crt")).unwrap();
    let over_tls = || {
        let mut c = Client::new(&gw);
        c.http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        c.base = https.trim_end_matches('/').to_owned();
        c
    };
    let mut owner = over_tls();
    onboard(&mut owner, &data).await;
    let p = owner
        .call(Method::POST, "/api/pairings", Some(json!({})))
        .await
        .json();
    let url = p["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}pair#", https)), "{url}");
    let mut tablet = over_tls();
    let (s, c) = claim(&mut tablet, p["code"].as_str().unwrap(), "iPad").await;
    assert_eq!(s, 200, "{c}");
    let id = p["id"].as_str().unwrap();
    assert_eq!(
        owner
            .call(Method::POST, &format!("/api/pairings/{id}/approve"), None)
            .await
            .status,
        200
    );
    let a = tablet
        .call(
            Method::POST,
            "/api/pair/status",
            Some(json!({"claim": c["claim"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let cookie = a.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(a.json()["dav_url"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
}
