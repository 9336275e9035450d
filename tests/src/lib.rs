//! Test support for microcloud's whole-system tests: start and kill a real `microcloud gateway`
//! process on a data directory, talk to it over HTTP (including raw, deliberately malformed
//! requests that an HTTP library would refuse to send), and make deterministic file content.

pub mod distance;
pub mod garage;
pub mod garage_cluster;
pub mod lan;
pub mod page;
pub mod s3sink;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Password every test user gets.
pub const PASSWORD: &str = "test-password-1";

/// The `microcloud` binary under test: `MICROCLOUD_BIN`, else the one beside the test executable.
pub fn bin() -> PathBuf {
    if let Ok(p) = std::env::var("MICROCLOUD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/microcloud
    let p = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("microcloud");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        p.display()
    );
    p
}

/// Runs `microcloud ARGS` to completion with `stdin` as input; panics with its stderr on failure.
pub fn microcloud(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn microcloud");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "microcloud {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Adds user `name` with [`PASSWORD`] to the data directory `dir`.
pub fn add_user(dir: &Path, name: &str) {
    microcloud(
        &["user", "add", name, "--data", dir.to_str().unwrap()],
        &format!("{PASSWORD}\n"),
    );
}

/// A running gateway process, killed when dropped.
pub struct Gateway {
    child: Option<Child>,
    /// Its data directory.
    pub dir: PathBuf,
    /// Its listen address.
    pub addr: SocketAddr,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    log: Option<PathBuf>,
    listen: String,
}

impl Gateway {
    fn launch(dir: &Path, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Gateway {
        let mut g = Gateway {
            child: None,
            dir: dir.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            log: log.map(Path::to_owned),
            listen: "127.0.0.1:0".to_owned(),
        };
        g.restart();
        g
    }

    /// Like [`Gateway::start`], listening on every address, IPv4 and IPv6 on one socket (`[::]`,
    /// as the appliance does), so that tests can be clients from several loopback addresses
    /// (127.0.0.2 is another host as far as the gateway can tell) and from `::1`.
    /// [`Gateway::addr`] is then 127.0.0.1 with the chosen port.
    pub fn start_on_all_addresses(dir: &Path, extra: &[&str]) -> Gateway {
        let mut g = Gateway {
            child: None,
            dir: dir.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            log: None,
            listen: "[::]:0".to_owned(),
        };
        g.restart();
        g
    }

    /// Like [`Gateway::start`], with extra environment variables (uplink tunables).
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Gateway {
        Gateway::launch(dir, extra, env, None)
    }

    /// Starts a gateway on `dir` and waits until it answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Gateway {
        Gateway::launch(dir, extra, &[], None)
    }

    /// Like [`Gateway::start`], with the gateway's standard output and error appended to `log`
    /// (for tests that check what it prints and logs).
    pub fn start_logged(dir: &Path, extra: &[&str], log: &Path) -> Gateway {
        Gateway::launch(dir, extra, &[], Some(log))
    }

    /// Starts the process again (after `kill`). The gateway picks a free port itself and the
    /// address is read back from its lock file, so that parallel tests never race for a port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "gateway still running");
        let child = Command::new(bin())
            .args([
                "gateway",
                "--data",
                self.dir.to_str().unwrap(),
                "--listen",
                &self.listen,
            ])
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(match &self.log {
                Some(p) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("gateway log"),
                ),
                None => Stdio::null(),
            })
            .stderr(match &self.log {
                Some(p) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("gateway log"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("spawn gateway");
        let pid = child.id().to_string();
        self.child = Some(child);
        let lock = self.dir.join("gateway.lock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let content = std::fs::read_to_string(&lock).unwrap_or_default();
            // The gateway rewrites its lock file in place (it holds the lock on it, so it cannot
            // rename a new one over it): a line without its newline is still being written.
            let content = if content.ends_with('\n') {
                content
            } else {
                String::new()
            };
            let mut parts = content.split_whitespace();
            if parts.next() == Some(pid.as_str()) {
                if let Some(url) = parts.next() {
                    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
                    self.addr = hostport.parse().expect("gateway URL in lock file");
                    if self.addr.ip().is_unspecified() {
                        self.addr.set_ip([127, 0, 0, 1].into());
                    }
                    if TcpStream::connect(self.addr).is_ok() {
                        return;
                    }
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("gateway exited at start: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("gateway did not answer within 20 s");
    }

    /// Kills the process with SIGKILL (a crash or power cut, as far as the process can tell).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The HTTPS base URL (`https://ADDR:PORT/`) when the gateway was given `--tls-listen`.
    pub fn https_url(&self) -> Option<String> {
        Some(format!("https://{}/", https_addr(&self.dir)))
    }

    /// The base URL of the WebDAV space: `http://ADDR/dav/`.
    pub fn dav(&self) -> String {
        format!("http://{}/dav/", self.addr)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The HTTPS address a gateway on `dir` wrote into its lock file (third word); panics when there
/// is none.
pub fn https_addr(dir: &Path) -> SocketAddr {
    let lock = std::fs::read_to_string(dir.join("gateway.lock")).unwrap();
    let url = lock
        .split_whitespace()
        .nth(2)
        .expect("no HTTPS address in gateway.lock");
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// Body bytes (as far as read).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Basic credentials header value for `user` with [`PASSWORD`].
pub fn basic(user: &str) -> String {
    use std::fmt::Write as _;
    let raw = format!("{user}:{PASSWORD}");
    // Minimal base64, to keep raw requests free of client libraries.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::from("Basic ");
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                let _ = out.write_char(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Sends `head` (request line and headers, without the blank line) plus `body` exactly as given,
/// with `Connection: close`, and reads the response.
pub fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = head.trim_end().replace('\n', "\r\n").into_bytes();
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    req.extend_from_slice(body);
    // The server may answer and close before reading a refused body; that is fine.
    let _ = s.write_all(&req);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> RawResponse {
    let text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has headers");
    let head = String::from_utf8_lossy(&buf[..text_end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[text_end + 4..];
    // A 100 Continue is followed by the real response.
    if status == 100 {
        return parse_response(rest);
    }
    RawResponse {
        status,
        headers,
        body: rest.to_vec(),
    }
}

/// Deterministic content for a name: `len` bytes of BLAKE3 output keyed by the name, so a test
/// can tell what any listed file should contain without remembering it.
pub fn content_for(name: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(name.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// Lists the names directly inside a collection (PROPFIND Depth: 1), excluding itself.
pub async fn list(client: &reqwest::Client, url: &str, user: &str) -> Vec<String> {
    let r = client
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), url)
        .basic_auth(user, Some(PASSWORD))
        .header("Depth", "1")
        .send()
        .await
        .expect("PROPFIND");
    assert_eq!(r.status().as_u16(), 207, "PROPFIND {url}");
    let text = r.text().await.unwrap();
    let base = reqwest::Url::parse(url).unwrap().path().to_owned();
    text.split("<D:href>")
        .skip(1)
        .filter_map(|s| s.split("</D:href>").next())
        .filter(|h| h.trim_end_matches('/') != base.trim_end_matches('/'))
        .map(|h| h.trim_start_matches(&base).trim_end_matches('/').to_owned())
        .collect()
}

/// The gateway's `/metrics` text, read with a scrape token that this sets up in the data
/// directory the way the page does (only the token's BLAKE3 hash is kept there).
pub async fn metrics(client: &reqwest::Client, gw: &Gateway) -> String {
    const TOKEN: &str = "test-scrape-token";
    std::fs::write(
        gw.dir.join("metrics-token"),
        format!("{}\n", blake3::hash(TOKEN.as_bytes()).to_hex()),
    )
    .unwrap();
    let r = client
        .get(format!("http://{}/metrics", gw.addr))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "/metrics with the scrape token");
    r.text().await.unwrap()
}

/// Every file below the data directory's `staging/` folder (uploads in progress or leftovers).
pub fn staging_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Adds S3 destination `name` (bucket `bucket` of `garage`) to the data directory `dir`, through
/// the CLI as an owner would, credentials in the environment.
pub fn remote_add_s3(
    dir: &Path,
    name: &str,
    endpoint: &str,
    region: &str,
    bucket: &str,
    creds: &(String, String),
) {
    let out = Command::new(bin())
        .args([
            "remote",
            "add",
            name,
            "--data",
            dir.to_str().unwrap(),
            "--endpoint",
            endpoint,
            "--region",
            region,
        ])
        .args(["--bucket", bucket, "--path-style"])
        .env("AWS_ACCESS_KEY_ID", &creds.0)
        .env("AWS_SECRET_ACCESS_KEY", &creds.1)
        .output()
        .expect("run microcloud remote add");
    assert!(
        out.status.success(),
        "remote add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(&creds.1), "remote add printed the secret");
}

/// An S3 client on a bucket, for checking what the gateway put there (and for changing it
/// behind the gateway's back).
pub fn s3(
    endpoint: &str,
    region: &str,
    bucket: &str,
    creds: &(String, String),
) -> microcloud_remotes::Remote {
    use microcloud_remotes::{Credentials, Remote, RemoteConfig, RemoteKind};
    let cfg = RemoteConfig {
        name: format!("check-{bucket}"),
        kind: RemoteKind::S3 {
            endpoint: endpoint.to_owned(),
            region: region.to_owned(),
            bucket: bucket.to_owned(),
            prefix: String::new(),
            path_style: true,
            ca_pem: None,
        },
    };
    Remote::new(
        cfg,
        Some(Credentials {
            access_key_id: creds.0.clone(),
            secret_access_key: creds.1.clone(),
        }),
    )
    .unwrap()
}

/// Runs `microcloud flush --data DIR --timeout SECS`; returns its exit status and output.
pub fn flush(dir: &Path, timeout_secs: u32) -> (bool, String) {
    let out = Command::new(bin())
        .args([
            "flush",
            "--data",
            dir.to_str().unwrap(),
            "--timeout",
            &timeout_secs.to_string(),
        ])
        .output()
        .expect("run microcloud flush");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `microcloud status --json` of `dir`.
pub fn status_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&microcloud(
        &["status", "--data", dir.to_str().unwrap(), "--json"],
        "",
    ))
    .unwrap()
}

/// A TCP proxy on loopback that counts the bytes clients send through it, for tests that must
/// tell how much was uploaded (a resumed multipart upload must not send finished parts again).
pub struct CountingProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Bytes sent by clients so far.
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CountingProxy {
    /// Starts a proxy to `target` on the current tokio runtime.
    pub async fn start(target: SocketAddr) -> CountingProxy {
        CountingProxy::start_limited(target, None).await
    }

    /// Like `start`, passing at most `limit` bytes per second per connection upstream (so that
    /// uploads last long enough to be interrupted).
    pub async fn start_limited(target: SocketAddr, limit: Option<u64>) -> CountingProxy {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            counter.fetch_add(n as u64, Ordering::Relaxed);
                            if let Some(rate) = limit {
                                tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64))
                                    .await;
                            }
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        CountingProxy { addr, sent }
    }
}

/// Runs rclone on the WebDAV collection `url` (remote `mc:`) as user alice with [`PASSWORD`],
/// trusting `ca` for https; rclone comes from ci/install-deps.
pub fn run_rclone(url: &str, ca: Option<&Path>, args: &[&str]) -> std::process::Output {
    let obscured = Command::new("rclone")
        .args(["obscure", PASSWORD])
        .output()
        .expect("rclone is installed (ci/install-deps)");
    let obscured = String::from_utf8(obscured.stdout).unwrap();
    let mut cmd = Command::new("rclone");
    cmd.args(args)
        .env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_MC_TYPE", "webdav")
        .env("RCLONE_CONFIG_MC_URL", url)
        .env("RCLONE_CONFIG_MC_VENDOR", "other")
        .env("RCLONE_CONFIG_MC_USER", "alice")
        .env("RCLONE_CONFIG_MC_PASS", obscured.trim());
    if let Some(ca) = ca {
        cmd.arg("--ca-cert").arg(ca);
    }
    cmd.output().unwrap()
}

/// Like [`run_rclone`], panicking with rclone's error output unless it succeeds; its output.
pub fn rclone(url: &str, ca: Option<&Path>, args: &[&str]) -> String {
    let out = run_rclone(url, ca, args);
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// PUT `body` at `path` of `user`'s space over WebDAV (Basic credentials, [`PASSWORD`]) with
/// `http`; panics unless it was stored.
pub async fn dav_put(http: &reqwest::Client, gw: &Gateway, user: &str, path: &str, body: &[u8]) {
    let r = http
        .put(format!("{}{}", gw.dav(), path.trim_start_matches('/')))
        .basic_auth(user, Some(PASSWORD))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "PUT {path} as {user}: {}",
        r.status()
    );
}

/// MKCOL `path` in `user`'s space over WebDAV; panics unless it answered 201.
pub async fn dav_mkcol(http: &reqwest::Client, gw: &Gateway, user: &str, path: &str) {
    let r = http
        .request(
            reqwest::Method::from_bytes(b"MKCOL").unwrap(),
            format!("{}{}", gw.dav(), path.trim_start_matches('/')),
        )
        .basic_auth(user, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "MKCOL {path} as {user}");
}
