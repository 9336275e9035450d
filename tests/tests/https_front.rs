//! The appliance's front door (`gateway --tls-listen --redirect-http`): HTTPS serves the page, the
//! API, WebDAV and metrics, with `Secure` session cookies; plain HTTP only redirects there, hands
//! out the CA (`/ca.crt`, `/ca.mobileconfig`, `/trust`) and refuses WebDAV and sign-in with the
//! HTTPS address, whatever a client sends. Without `--redirect-http` (development) plain HTTP
//! still serves everything.

use std::net::SocketAddr;
use std::path::Path;

use microcloud_tests::{
    add_user, basic, content_for, https_addr, microcloud, raw, Gateway, PASSWORD,
};

fn add_admin(dir: &Path, name: &str) {
    microcloud(
        &[
            "user",
            "add",
            name,
            "--admin",
            "--data",
            dir.to_str().unwrap(),
        ],
        &format!("{PASSWORD}\n"),
    );
}

/// A client that trusts the box's CA and follows no redirect.
fn client(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("tls/ca.crt")).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn sign_in_body(name: &str) -> String {
    serde_json::json!({"name": name, "password": PASSWORD}).to_string()
}

/// The base64 of the CA's DER: its PEM body, the lines joined.
fn ca_base64(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("tls/ca.crt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn start(dir: &Path) -> (Gateway, SocketAddr) {
    add_user(dir, "alice");
    add_admin(dir, "owner");
    let gw = Gateway::start(
        dir,
        &[
            "--tls-listen",
            "127.0.0.1:0",
            "--redirect-http",
            "--no-uplink",
        ],
    );
    let tls = https_addr(dir);
    (gw, tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_redirects_and_hands_out_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, tls) = start(tmp.path());
    let port = tls.port();

    // Everything else that is read moves to the same path on HTTPS, on the host asked for.
    for (host, path, want) in [
        (
            gw.addr.to_string(),
            "/",
            format!("https://127.0.0.1:{port}/"),
        ),
        (
            gw.addr.to_string(),
            "/pair?code=x",
            format!("https://127.0.0.1:{port}/pair?code=x"),
        ),
        (
            "Box.local".to_owned(),
            "/api/state",
            format!("https://box.local:{port}/api/state"),
        ),
        (
            "[::1]:80".to_owned(),
            "/metrics",
            format!("https://[::1]:{port}/metrics"),
        ),
        (
            "evil/x".to_owned(),
            "/",
            format!("https://{}.local:{port}/", host_name()),
        ),
    ] {
        let r = raw(gw.addr, &format!("GET {path} HTTP/1.1\nHost: {host}"), b"");
        assert_eq!(r.status, 308, "{host} {path}: {r:?}");
        assert_eq!(r.header("location"), Some(want.as_str()), "{host} {path}");
    }
    let r = raw(gw.addr, &format!("HEAD / HTTP/1.1\nHost: {}", gw.addr), b"");
    assert_eq!(r.status, 308);

    // The CA, byte for byte, as a download.
    let ca = std::fs::read(tmp.path().join("tls/ca.crt")).unwrap();
    let r = raw(
        gw.addr,
        &format!("GET /ca.crt HTTP/1.1\nHost: {}", gw.addr),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-x509-ca-cert"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.body, ca);

    // The profile: an XML property list with the CA's DER as a root certificate payload, the
    // same at every fetch.
    let r = raw(
        gw.addr,
        &format!("GET /ca.mobileconfig HTTP/1.1\nHost: {}", gw.addr),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-apple-aspen-config")
    );
    let profile = String::from_utf8(r.body.clone()).unwrap();
    let (root, data, strings) = plist(&profile);
    assert_eq!(root, "plist");
    assert_eq!(data, vec![ca_base64(tmp.path())]);
    assert!(strings.contains(&"com.apple.security.root".to_owned()));
    assert!(strings.contains(&"Configuration".to_owned()));
    let again = raw(
        gw.addr,
        &format!("GET /ca.mobileconfig HTTP/1.1\nHost: {}", gw.addr),
        b"",
    );
    assert_eq!(again.body, r.body, "the profile (its UUIDs) is the same");

    // The page on how to trust it: the fingerprint `microcloud tls` prints, the links.
    let json: serde_json::Value = serde_json::from_str(&microcloud(
        &["tls", "--data", tmp.path().to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap();
    let fp = json["ca_fingerprint"].as_str().unwrap();
    let r = raw(
        gw.addr,
        &format!("GET /trust HTTP/1.1\nHost: {}", gw.addr),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = String::from_utf8(r.body).unwrap();
    for want in [
        fp,
        "href=\"/ca.crt\"",
        "href=\"/ca.mobileconfig\"",
        &format!("https://127.0.0.1:{port}/"),
        "iPad",
        "Android",
        "Windows",
        "macOS",
        "Linux",
    ] {
        assert!(page.contains(want), "/trust lacks {want}");
    }
    assert!(!page.contains("<script"));
    assert!(r
        .headers
        .iter()
        .any(|(n, v)| n == "content-security-policy" && v.contains("default-src 'none'")));
}

/// The root element, the `<data>` texts and the `<string>` texts of an XML document; panics when
/// it is not well-formed.
fn plist(xml: &str) -> (String, Vec<String>, Vec<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut root, mut data, mut strings) = (None, vec![], vec![]);
    let mut stack: Vec<String> = vec![];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                root.get_or_insert_with(|| name.clone());
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                let text: String = t.decode().unwrap().split_whitespace().collect();
                match stack.last().map(String::as_str) {
                    Some("data") => data.push(text),
                    Some("string") => strings.push(text),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    (root.unwrap(), data, strings)
}

fn host_name() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    h.trim().split('.').next().unwrap().to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_and_sign_in_over_plain_http_are_refused_with_the_https_address() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, tls) = start(tmp.path());
    let https = format!("https://127.0.0.1:{}", tls.port());
    let host = gw.addr.to_string();

    let body = content_for("plain.bin", 10_000);
    for (head, body, path) in [
        (
            format!(
                "PROPFIND /dav/ HTTP/1.1\nHost: {host}\nAuthorization: {}\nDepth: 1",
                basic("alice")
            ),
            &b""[..],
            "/dav/",
        ),
        (
            format!(
                "PUT /dav/plain.bin HTTP/1.1\nHost: {host}\nAuthorization: {}\nContent-Length: {}",
                basic("alice"),
                body.len()
            ),
            &body[..],
            "/dav/plain.bin",
        ),
        (
            format!(
                "GET /dav/plain.bin HTTP/1.1\nHost: {host}\nAuthorization: {}",
                basic("alice")
            ),
            &b""[..],
            "/dav/plain.bin",
        ),
        (
            format!(
                "POST /api/session HTTP/1.1\nHost: {host}\nContent-Type: application/json\nContent-Length: {}",
                sign_in_body("owner").len()
            ),
            sign_in_body("owner").as_bytes(),
            "/api/session",
        ),
        (
            format!("POST /api/onboarding HTTP/1.1\nHost: {host}\nContent-Length: 2"),
            &b"{}"[..],
            "/api/onboarding",
        ),
    ] {
        let r = raw(gw.addr, &head, body);
        assert_eq!(r.status, 403, "{head}: {r:?}");
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            text.contains(&format!("use {https}{path}")),
            "{head}: {text}"
        );
        assert!(text.contains(&format!("http://{host}/trust")), "{text}");
        assert!(r.header("location").is_none());
        assert!(r.header("set-cookie").is_none());
    }

    // Nothing was stored: over HTTPS the file is not there.
    let c = client(tmp.path());
    let r = c
        .get(format!("{https}/dav/plain.bin"))
        .header("authorization", basic("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            format!("{https}/dav/"),
        )
        .header("authorization", basic("alice"))
        .header("depth", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 207);
    assert!(!r.text().await.unwrap().contains("plain.bin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_survives_malformed_oversized_and_many_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, tls) = start(tmp.path());

    // Not HTTP at all.
    let r = raw_bytes(gw.addr, b"\x16\x03\x01 NOT HTTP\r\n\r\n");
    assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 400"), "{r:?}");
    // A request line without a path.
    let r = raw_bytes(gw.addr, b"GET\r\n\r\n");
    assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 400"), "{r:?}");
    // Too many header fields.
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let r = raw_bytes(gw.addr, many.as_bytes());
    assert!(r.is_empty() || r.starts_with(b"HTTP/1.1 431"), "{r:?}");
    // One long header field, still within hyper's buffer: just redirected.
    let long = raw(
        gw.addr,
        &format!(
            "GET / HTTP/1.1\nHost: {}\nX-Long: {}",
            gw.addr,
            "a".repeat(64 * 1024)
        ),
        b"",
    );
    assert_eq!(long.status, 308);
    // A header beyond any bound: closed or refused, nothing more.
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let r = raw_bytes(gw.addr, huge.as_bytes());
    assert!(
        r.is_empty() || r.starts_with(b"HTTP/1.1 431") || r.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&r[..r.len().min(200)])
    );

    // 200 requests at once: every one redirected.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let want = format!("https://127.0.0.1:{}/x", tls.port());
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (c, url) = (plain.clone(), format!("http://{}/x", gw.addr));
            tokio::spawn(async move { c.get(url).send().await })
        })
        .collect();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(r.status().as_u16(), 308);
        assert_eq!(r.headers()["location"].to_str().unwrap(), want);
    }
    // And it still answers, both ports.
    let r = raw(
        gw.addr,
        &format!("GET /ca.crt HTTP/1.1\nHost: {}", gw.addr),
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        std::fs::read(tmp.path().join("tls/ca.crt")).unwrap()
    );
    let r = client(tmp.path())
        .get(format!("https://{tls}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Sends `bytes` as they are and reads whatever comes back until the server closes.
fn raw_bytes(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.set_write_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_page_webdav_and_metrics_serve_and_cookies_are_secure() {
    let tmp = tempfile::tempdir().unwrap();
    let (_gw, tls) = start(tmp.path());
    let base = format!("https://{tls}");
    let c = client(tmp.path());

    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.text().await.unwrap().contains("<html"));

    let body = content_for("secure.bin", 100_000);
    let r = c
        .put(format!("{base}/dav/secure.bin"))
        .header("authorization", basic("alice"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = c
        .get(format!("{base}/dav/secure.bin"))
        .header("authorization", basic("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);

    let r = c
        .get(format!("{base}/metrics"))
        .header("authorization", basic("owner"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("microcloud_"));

    let r = c
        .post(format!("{base}/api/session"))
        .header("content-type", "application/json")
        .body(sign_in_body("owner"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mc_session="), "{cookie}");
    for attr in ["; Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    // The session works over HTTPS.
    let token = cookie.split(';').next().unwrap().to_owned();
    let r = c
        .get(format!("{base}/api/state"))
        .header("cookie", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let state: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(state["user"]["name"], "owner", "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redirect_http_plain_http_still_serves_everything() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    add_admin(tmp.path(), "owner");
    let gw = Gateway::start(tmp.path(), &["--tls-listen", "127.0.0.1:0", "--no-uplink"]);
    let tls = https_addr(tmp.path());
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://{}", gw.addr);

    let r = plain.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = content_for("dev.bin", 5_000);
    let r = plain
        .put(format!("{base}/dav/dev.bin"))
        .header("authorization", basic("alice"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = client(tmp.path())
        .get(format!("https://{tls}/dav/dev.bin"))
        .header("authorization", basic("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[..]);

    // Plain sign-in works, its cookie is not Secure (the browser would never send it back);
    // over HTTPS it is.
    for (base, secure) in [(base.clone(), false), (format!("https://{tls}"), true)] {
        let r = client(tmp.path())
            .post(format!("{base}/api/session"))
            .header("content-type", "application/json")
            .body(sign_in_body("owner"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{base}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        assert_eq!(cookie.contains("; Secure"), secure, "{base}: {cookie}");
    }

    // --redirect-http without HTTPS to redirect to is a usage error.
    let out = std::process::Command::new(microcloud_tests::bin())
        .args(["gateway", "--data", tmp.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--redirect-http"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
