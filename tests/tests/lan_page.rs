//! The page's view of the LAN (`GET /api/lan`) against a real gateway, with a LAN view written
//! where the discovery agent writes it: a session is needed, a user sees their own paired devices
//! and the other devices on the LAN (never another user's tablet), an administrator sees every
//! paired device, a revoked tablet's session is refused, a damaged file is a clear JSON error the
//! gateway survives, and a flood of requests is answered.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use microcloud_neighbours::{Announced, LanView, Neighbour};
use microcloud_tests::page::{http_from, onboard, pair_tablet, Client};
use microcloud_tests::{add_user, microcloud, Gateway, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A name an attacker on the LAN could announce over mDNS.
const XSS: &str = "<img src=x onerror=alert(1)>";
const TABLET_MAC: &str = "02:11:22:33:44:55";
const PRINTER_MAC: &str = "00:1b:21:0a:0b:0c";
const PRINTER_ADDRESS: &str = "192.168.1.50";

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn neighbour(address: &str, mac: &str, names: &[&str], last_seen_unix: i64) -> Neighbour {
    Neighbour {
        address: address.parse().unwrap(),
        mac: Some(mac.into()),
        randomized_mac: microcloud_neighbours::randomized(&[
            u8::from_str_radix(&mac[..2], 16).unwrap()
        ]),
        interface: "eth0".into(),
        state: "reachable".into(),
        first_seen_unix: last_seen_unix - 600,
        last_seen_unix,
        names: names.iter().map(|n| n.to_string()).collect(),
        services: vec![],
    }
}

fn write_lan(data: &Path, view: &LanView) {
    let dir = data.join(microcloud_neighbours::DIR);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(microcloud_neighbours::FILE),
        serde_json::to_vec_pretty(view).unwrap(),
    )
    .unwrap();
}

/// The LAN: the box itself, the tablet paired from 127.0.0.2, and a printer announcing a name
/// made to be markup.
fn lan_view(now: i64) -> LanView {
    let mut printer = neighbour(
        PRINTER_ADDRESS,
        PRINTER_MAC,
        &[XSS, "printer.local"],
        now - 5,
    );
    printer.services = vec!["Printer._ipp._tcp.local.".into()];
    LanView {
        updated_unix: now,
        pid: 1,
        announced: Announced {
            instance: "microcloud".into(),
            host: "microcloud-test.local".into(),
            addresses: vec!["127.0.0.1".parse().unwrap()],
            services: vec!["_webdav._tcp".into()],
        },
        neighbours: vec![
            neighbour("127.0.0.2", TABLET_MAC, &["Bobs-iPad.local"], now - 2),
            printer,
        ],
    }
}

async fn lan(c: &mut Client) -> (StatusCode, Value, String) {
    let a = c.call(Method::GET, "/api/lan", None).await;
    let v = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    (a.status, v, a.body)
}

fn paired_names(v: &Value) -> Vec<String> {
    v["paired"]
        .as_array()
        .unwrap_or_else(|| panic!("no paired list: {v}"))
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["user"].as_str().unwrap(),
                p["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn other_addresses(v: &Value) -> Vec<Vec<String>> {
    v["others"]
        .as_array()
        .unwrap_or_else(|| panic!("no others list: {v}"))
        .iter()
        .map(|o| {
            o["addresses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn device_list(dir: &Path) -> Value {
    serde_json::from_str(&microcloud(
        &["device", "list", "--json", "--data", dir.to_str().unwrap()],
        "",
    ))
    .unwrap()
}

#[tokio::test]
async fn the_page_shows_the_lan_to_each_user_as_they_may_see_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let gw = Gateway::start_on_all_addresses(&data, &["--no-uplink"]);
    let mut owner = Client::new(&gw);
    onboard(&mut owner, &data).await;
    add_user(&data, "bob");
    add_user(&data, "carol");
    let mut bob = Client::new(&gw);
    assert_eq!(bob.sign_in("bob", PASSWORD).await.status, 200);
    let mut carol = Client::new(&gw);
    assert_eq!(carol.sign_in("carol", PASSWORD).await.status, 200);

    // No session, a forged one: refused.
    let mut anonymous = Client::new(&gw);
    let (s, v, body) = lan(&mut anonymous).await;
    assert_eq!(s, 401, "{body}");
    assert!(v["error"].is_string(), "{body}");
    let mut forged = Client::new(&gw);
    forged.cookie = Some("forged".into());
    assert_eq!(lan(&mut forged).await.0, 401);

    // No discovery agent yet: the paired devices only, and the page is told.
    let (s, v, body) = lan(&mut bob).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(v["watching"], false, "{body}");
    assert_eq!(v["paired"], json!([]));
    assert_eq!(v["others"], json!([]));

    // Bob pairs his tablet from 127.0.0.2 and uses WebDAV with its password; the owner has a
    // device that was never used.
    let (mut tablet, password) = pair_tablet(&gw, &mut bob, "iPad").await;
    microcloud(
        &[
            "device",
            "add",
            "owner",
            "laptop",
            "--data",
            data.to_str().unwrap(),
        ],
        "",
    );
    let r = http_from(2)
        .put(format!("{}from-the-ipad.txt", gw.dav()))
        .basic_auth("bob", Some(&password))
        .body("drawn on the iPad")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = device_list(&data);
        let ipad = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["user"] == "bob" && d["name"] == "iPad")
            .cloned()
            .unwrap_or_else(|| panic!("bob's iPad not listed: {list}"));
        if ipad["last_address"] == "127.0.0.2" {
            break;
        }
        assert!(Instant::now() < deadline, "no last address: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }

    let now = now_unix();
    write_lan(&data, &lan_view(now));

    // Bob: his tablet, online, matched by address (with its MAC); the printer as another device.
    let (s, v, body) = lan(&mut bob).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(v["watching"], true, "{body}");
    assert_eq!(paired_names(&v), ["bob/iPad"], "{body}");
    let ipad = &v["paired"][0];
    assert_eq!(ipad["online"], true, "{body}");
    assert_eq!(ipad["address"], "127.0.0.2", "{body}");
    assert_eq!(ipad["mac"], TABLET_MAC, "{body}");
    assert!(
        ipad["last_seen_unix"].as_i64().unwrap() >= now - 60,
        "{body}"
    );
    assert_eq!(other_addresses(&v), [[PRINTER_ADDRESS]], "{body}");
    let printer = &v["others"][0];
    assert_eq!(printer["mac"], PRINTER_MAC);
    assert_eq!(printer["randomized_mac"], false);
    assert_eq!(printer["online"], true);
    assert_eq!(
        printer["names"],
        json!([XSS, "printer.local"]),
        "as announced"
    );
    assert!(v["now"].as_i64().unwrap() >= now, "{body}");
    assert!(!body.contains(&password), "no secrets: {body}");
    for secret in [&bob.cookie, &bob.csrf, &tablet.cookie, &tablet.csrf] {
        assert!(
            !body.contains(secret.as_deref().unwrap()),
            "no secrets: {body}"
        );
    }

    // Carol: none of her own, the printer; never bob's tablet, not even as an unpaired device.
    let (s, v, body) = lan(&mut carol).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(v["paired"], json!([]), "{body}");
    assert_eq!(other_addresses(&v), [[PRINTER_ADDRESS]], "{body}");
    for hidden in ["iPad", "127.0.0.2", TABLET_MAC, "bob"] {
        assert!(!body.contains(hidden), "carol sees {hidden:?}: {body}");
    }

    // The owner: every paired device (the unused laptop offline, never seen).
    let (s, v, body) = lan(&mut owner).await;
    assert_eq!(s, 200, "{body}");
    let mut all = paired_names(&v);
    all.sort();
    assert_eq!(all, ["bob/iPad", "owner/laptop"], "{body}");
    let laptop = v["paired"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "laptop")
        .unwrap();
    assert_eq!(laptop["online"], false);
    assert_eq!(laptop["last_seen_unix"], Value::Null);
    assert_eq!(other_addresses(&v), [[PRINTER_ADDRESS]], "{body}");

    // The tablet's own session sees it; revoked, its very next request is refused.
    let (s, v, body) = lan(&mut tablet).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(paired_names(&v), ["bob/iPad"]);
    let a = owner
        .call(Method::DELETE, "/api/devices/bob/iPad", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (s, v, body) = lan(&mut tablet).await;
    assert_eq!(s, 401, "{body}");
    assert_eq!(v["field"], "device", "{body}");
    // Unpaired now, the tablet is another device on the LAN, one to invite.
    let (_, v, body) = lan(&mut bob).await;
    assert_eq!(v["paired"], json!([]), "{body}");
    assert_eq!(v["others"].as_array().unwrap().len(), 2, "{body}");
    assert!(body.contains(TABLET_MAC), "{body}");

    // A damaged file: a 500 naming it, in JSON; the gateway goes on serving.
    let file = data
        .join(microcloud_neighbours::DIR)
        .join(microcloud_neighbours::FILE);
    for damaged in [&b"{not json"[..], b"[1, 2, 3]", b"\xff\xfe\x00garbage", b""] {
        std::fs::write(&file, damaged).unwrap();
        for c in [&mut owner, &mut bob] {
            let (s, v, body) = lan(c).await;
            assert_eq!(s, 500, "{body}");
            let e = v["error"].as_str().unwrap_or_else(|| panic!("{body}"));
            assert!(e.contains("lan.json"), "{e}");
            assert!(
                !e.contains(tmp.path().to_str().unwrap()),
                "the data directory's path stays on the box: {e}"
            );
        }
        assert_eq!(
            owner.call(Method::GET, "/api/status", None).await.status,
            200
        );
        assert_eq!(
            bob.call(Method::GET, "/api/devices", None).await.status,
            200
        );
    }
    // Back in order: answered again.
    write_lan(&data, &lan_view(now_unix()));
    let (s, _, body) = lan(&mut bob).await;
    assert_eq!(s, 200, "{body}");

    // A full LAN (as many neighbours as the agent keeps) and a flood of 200 requests at once:
    // all answered, no 5xx, and the gateway still serves.
    let mut full = lan_view(now_unix());
    for i in 0..microcloud_neighbours::MAX_NEIGHBOURS - full.neighbours.len() {
        let mac = format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256);
        let address = format!("10.0.{}.{}", i / 250, 1 + i % 250);
        full.neighbours.push(neighbour(
            &address,
            &mac,
            &["a-very-ordinary-name.local"],
            1000 + i as i64,
        ));
    }
    write_lan(&data, &full);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let req = bob.request(Method::GET, "/api/lan");
        tasks.push(tokio::spawn(async move {
            let r = req.send().await?;
            let status = r.status().as_u16();
            let body = r.bytes().await?;
            Ok::<_, reqwest::Error>((status, body.len()))
        }));
    }
    for t in tasks {
        let (s, len) = t
            .await
            .unwrap()
            .expect("every request in the flood is answered");
        assert!(s < 500, "flood answered {s}");
        assert!(s == 200 || s == 429, "flood answered {s}");
        if s == 200 {
            assert!(len > 100_000, "the full LAN: {len} bytes");
        }
    }
    let (s, v, body) = lan(&mut carol).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        v["others"].as_array().unwrap().len(),
        microcloud_neighbours::MAX_NEIGHBOURS,
        "{}",
        &body[..200]
    );
    assert_eq!(
        owner.call(Method::GET, "/api/status", None).await.status,
        200
    );
    assert!(gw.pid().is_some());
}
