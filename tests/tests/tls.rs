//! HTTPS from the box's own certificate authority (`gateway --tls-listen`): clients that trust
//! the CA reach the box by its names and addresses, others are refused, and TLS clients that are
//! old, confused or stalled are turned away without harm.

use std::path::Path;
use std::time::{Duration, Instant};

use microcloud_tests::lan::{can_make_namespaces, ip, Netns};
use microcloud_tests::{add_user, basic, content_for, https_addr, microcloud, Gateway};

fn host_name() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    h.trim().split('.').next().unwrap().to_ascii_lowercase()
}

fn openssl(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl (ci/install-deps installs it)");
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_trust_the_box_ca_reach_it_by_name_and_address() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let _gw = Gateway::start(tmp.path(), &["--tls-listen", "127.0.0.1:0"]);
    let addr = https_addr(tmp.path());
    let ca_path = tmp.path().join("tls/ca.crt");
    let ca = std::fs::read(&ca_path).unwrap();

    // openssl, as the issue names it: by address and by the box's .local name.
    let connect = addr.to_string();
    let local = format!("{}.local", host_name());
    for server_name in [None, Some(local.as_str())] {
        let mut args = vec![
            "s_client",
            "-connect",
            &connect,
            "-verify_return_error",
            "-CAfile",
            ca_path.to_str().unwrap(),
        ];
        match server_name {
            Some(n) => args.extend(["-servername", n, "-verify_hostname", n]),
            None => args.extend(["-verify_ip", "127.0.0.1"]),
        }
        let (ok, out) = openssl(&args, "Q\n");
        assert!(
            ok && out.contains("Verify return code: 0 (ok)"),
            "{server_name:?}: {out}"
        );
    }

    // A name the box does not have: the box issues nothing for it (its certificate files stay as
    // they were), and a client asking for it finds the certificate does not cover it.
    let before = std::fs::read(tmp.path().join("tls/server.crt")).unwrap();
    let (ok, out) = openssl(
        &[
            "s_client",
            "-connect",
            &connect,
            "-verify_return_error",
            "-CAfile",
            ca_path.to_str().unwrap(),
            "-servername",
            "bank.example",
            "-verify_hostname",
            "bank.example",
        ],
        "Q\n",
    );
    assert!(
        !ok && out.contains("hostname mismatch"),
        "a name the box does not have: {out}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("tls/server.crt")).unwrap(),
        before,
        "nothing was issued for it"
    );

    // A WebDAV round trip over HTTPS, by name (resolved to loopback) and by address.
    let body = content_for("tls.bin", 300_000);
    let by_name = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .resolve(&local, addr)
        .build()
        .unwrap();
    let url = format!("https://{local}:{}/dav/tls.bin", addr.port());
    let r = by_name
        .put(&url)
        .header("authorization", basic("alice"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = client_trusting(&ca)
        .get(format!("https://{addr}/dav/tls.bin"))
        .header("authorization", basic("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(blake3::hash(&r.bytes().await.unwrap()), blake3::hash(&body));

    // A client that does not trust this CA is refused by its own TLS stack.
    let stranger = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    assert!(stranger
        .get(format!("https://{addr}/"))
        .send()
        .await
        .is_err());

    // `microcloud tls` tells the same fingerprint as openssl, and the names it covers.
    let json: serde_json::Value = serde_json::from_str(&microcloud(
        &["tls", "--data", tmp.path().to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap();
    let (_, fp) = openssl(
        &[
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            ca_path.to_str().unwrap(),
        ],
        "",
    );
    let fp = fp.trim().rsplit('=').next().unwrap().to_owned();
    assert_eq!(json["ca_fingerprint"].as_str().unwrap(), fp);
    let names: Vec<&str> = json["server"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(names.contains(&local.as_str()), "{names:?}");
    assert!(json["server"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_confused_and_stalled_tls_clients_are_turned_away() {
    let tmp = tempfile::tempdir().unwrap();
    add_user(tmp.path(), "alice");
    let gw = Gateway::start(tmp.path(), &["--tls-listen", "127.0.0.1:0"]);
    let addr = https_addr(tmp.path());
    let connect = addr.to_string();
    // TLS 1.1 (and older) is not spoken.
    let (ok, out) = openssl(
        &[
            "s_client",
            "-connect",
            &connect,
            "-tls1_1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ],
        "Q\n",
    );
    assert!(!ok, "a TLS 1.1 handshake succeeded: {out}");
    // Plain HTTP to the TLS port gets no answer but a closed connection.
    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::io::Write::write_all(&mut plain, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered on the TLS port"
    );
    // A connection that never starts its handshake is closed within the handshake bound.
    let t0 = Instant::now();
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 16];
    let n = std::io::Read::read(&mut idle, &mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "held {:?}",
        t0.elapsed()
    );
    // Through all of it, plain HTTP on its own port and HTTPS still serve.
    let ca = std::fs::read(tmp.path().join("tls/ca.crt")).unwrap();
    let r = client_trusting(&ca)
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            format!("https://{addr}/dav/"),
        )
        .header("authorization", basic("alice"))
        .header("depth", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 207);
    let r = reqwest::get(format!("http://{}/", gw.addr)).await.unwrap();
    assert!(r.status().is_success());
}

/// A new address on the box gets into the server certificate at once (the kernel announces it
/// over rtnetlink), without a restart: a gateway in a network namespace of its own, an address
/// added there, and the certificate it serves from then on covers it.
#[test]
fn the_certificate_follows_a_new_address_without_a_restart() {
    if !can_make_namespaces("the_certificate_follows_a_new_address_without_a_restart") {
        return;
    }
    let ns = Netns::new(format!("mc-tls-{}", std::process::id()));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    microcloud_tests::add_user(&data, "alice");
    let mut gw = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(microcloud_tests::bin())
        .args(["gateway", "--no-uplink", "--listen", "127.0.0.1:0"])
        .args(["--tls-listen", "0.0.0.0:0", "--data"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let report = |data: &Path| -> serde_json::Value {
        serde_json::from_str(&microcloud(
            &["tls", "--json", "--data", data.to_str().unwrap()],
            "",
        ))
        .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(data.join("gateway.lock"))
        .map(|l| l.split_whitespace().count() < 3)
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = report(&data)["server"]["addresses"].to_string();
    assert!(!before.contains("10.77.0.1"), "{before}");

    ip(&["-n", &ns.0, "addr", "add", "10.77.0.1/32", "dev", "lo"]);
    let added = Instant::now();
    let covered = loop {
        let addresses = report(&data)["server"]["addresses"].to_string();
        if addresses.contains("10.77.0.1") {
            break true;
        }
        if added.elapsed() > Duration::from_secs(20) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = added.elapsed();
    let _ = gw.kill();
    let _ = gw.wait();
    assert!(covered, "the new address never reached the certificate");
    // The periodic check runs every 60 s: well under it, the change was heard, not polled.
    assert!(took < Duration::from_secs(30), "{took:?}");
    println!("the certificate covered the new address {took:?} after it was added");
}
