//! hostile: a careless and hostile LAN client against a running gateway, next to an honest one.
//!
//! First a baseline: the honest client alone PUTs files of 64 KiB and GETs each back (checking
//! every byte), one request at a time on a kept-alive connection, and its latencies are recorded.
//! Then attack phases of the same kind, each with, all at once:
//!
//! - idle TCP connections held open (reopened whenever the server closes one);
//! - slowloris: requests whose headers never end (a header line every few seconds);
//! - a Basic brute force: wrong passwords for the victim user, as fast as the server answers;
//! - a LOCK flood: LOCKs with no Timeout header and a large owner element, each on a new path of
//!   the attacker's own user;
//! - Range abuse: GETs of the attacker's own file with thousands of overlapping ranges;
//! - malformed and hostile XML in PROPFIND bodies (deep nesting, entity expansion, unclosed,
//!   huge, not UTF-8);
//!
//! while the honest client keeps up its PUT/GET loop. The honest client's sockets are bound to
//! `--honest-addr`; each attack phase binds the attacker's to one of `--attacker-addr` (given
//! twice by default: 127.0.0.1, the honest client's own address, and 127.0.0.2, another loopback
//! address on Linux, which is how a LAN sees an attacker: per-address caps then apply to it
//! alone). The gateway's resident memory, threads and open files are sampled every second from
//! /proc. The report gives, per phase, the honest client's p50/p99/max latency and errors (any
//! non-2xx answer, transport error or wrong byte), the ratio of its p99 to the baseline's, what
//! the attacker got (by status), and the gateway's peaks. Exits non-zero when the honest client
//! saw an error or its p99 under attack exceeded `--max-ratio` times the baseline's.
//!
//! The attacker needs a few thousand sockets: raise the open-files limit first (`ulimit -n`);
//! `ci/hostile-lan` does it, builds, and starts a gateway with the three users.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

/// An honest WebDAV client's latency with and without hostile clients on the LAN.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The gateway's base URL (e.g. http://127.0.0.1:8080/); WebDAV is under dav/.
    #[arg(long)]
    url: String,
    /// The gateway's process id, for its memory; or see --lock.
    #[arg(long)]
    pid: Option<u32>,
    /// The gateway's lock file (DATA/gateway.lock), whose first word is its process id.
    #[arg(long, value_name = "FILE")]
    lock: Option<std::path::PathBuf>,
    /// The honest user.
    #[arg(long, default_value = "honest")]
    user: String,
    /// The honest user's password.
    #[arg(long, env = "HOSTILE_PASSWORD")]
    password: String,
    /// The user whose password the brute force tries to guess.
    #[arg(long, default_value = "victim")]
    victim: String,
    /// The attacker's own account (for LOCK, Range and PROPFIND, which need one).
    #[arg(long, default_value = "mallory")]
    attacker: String,
    /// The attacker's password.
    #[arg(long, env = "HOSTILE_ATTACKER_PASSWORD")]
    attacker_password: String,
    /// Seconds of the baseline phase (the honest client alone).
    #[arg(long, default_value_t = 60)]
    baseline_seconds: u64,
    /// Seconds of each attack phase.
    #[arg(long, default_value_t = 600)]
    attack_seconds: u64,
    /// Address the honest client's sockets are bound to.
    #[arg(long, default_value = "127.0.0.1")]
    honest_addr: IpAddr,
    /// Address the attacker's sockets are bound to; one attack phase per address given.
    #[arg(long, default_values = ["127.0.0.1", "127.0.0.2"])]
    attacker_addr: Vec<IpAddr>,
    /// Idle connections held open.
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// Slowloris connections (headers never finished).
    #[arg(long, default_value_t = 200)]
    slowloris: usize,
    /// Brute-force tasks (each one request at a time).
    #[arg(long, default_value_t = 4)]
    brute: usize,
    /// LOCK-flood tasks.
    #[arg(long, default_value_t = 4)]
    lock_tasks: usize,
    /// Bytes of the owner element of each LOCK (900: just under the gateway's 1 KiB bound, so
    /// that every LOCK is taken and the flood runs into the per-user cap on locks).
    #[arg(long, default_value_t = 900)]
    lock_owner_bytes: usize,
    /// Range-abuse tasks.
    #[arg(long, default_value_t = 2)]
    range_tasks: usize,
    /// Ranges per Range header.
    #[arg(long, default_value_t = 2000)]
    ranges: usize,
    /// Bytes of the file the Range abuse reads.
    #[arg(long, default_value_t = 1 << 20)]
    range_file_bytes: usize,
    /// Response bytes a Range-abuse request reads before it drops the connection.
    #[arg(long, default_value_t = 256 << 20)]
    range_read_limit: u64,
    /// Malformed-XML tasks.
    #[arg(long, default_value_t = 2)]
    xml_tasks: usize,
    /// Bytes of each honest file.
    #[arg(long, default_value_t = 65536)]
    size: usize,
    /// Largest acceptable ratio of the honest p99 under attack to the baseline's.
    #[arg(long, default_value_t = 5.0)]
    max_ratio: f64,
}

/// Counts by label ("brute 401", "lock error: ...").
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, label: impl Into<String>) {
        *self.0.lock().unwrap().entry(label.into()).or_default() += 1;
    }
    fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The short name of a transport error, so that tallies stay small.
fn err_kind(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect failed"
    } else if e.is_body() || e.is_decode() {
        "body cut"
    } else if e.is_request() {
        "request failed"
    } else {
        "error"
    };
    // The innermost cause says more (connection reset, closed before a response...).
    let mut src: &dyn std::error::Error = e;
    while let Some(s) = src.source() {
        src = s;
    }
    let cause = src.to_string();
    let cause: String = cause.chars().take(60).collect();
    format!("{what} ({cause})")
}

/// What the gateway's process looked like, sampled every second.
#[derive(Default, Clone)]
struct Peaks {
    rss_kib: u64,
    rss_last_kib: u64,
    threads: u64,
    fds: u64,
    samples: u64,
    gone: bool,
    /// Attacker's connections held open (idle + slowloris) at each sample.
    held: Vec<i64>,
}

fn proc_status(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

async fn sample(pid: u32, held: Arc<AtomicI64>, peaks: Arc<Mutex<Peaks>>) {
    loop {
        let status = proc_status(pid);
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        {
            let mut p = peaks.lock().unwrap();
            match status {
                Some((rss, threads)) => {
                    p.rss_kib = p.rss_kib.max(rss);
                    p.rss_last_kib = rss;
                    p.threads = p.threads.max(threads);
                    p.fds = p.fds.max(fds);
                    p.samples += 1;
                }
                None => p.gone = true,
            }
            p.held.push(held.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The honest client's record of one phase.
#[derive(Default)]
struct Honest {
    put_ms: Vec<f64>,
    get_ms: Vec<f64>,
    errors: u64,
    first_errors: Vec<String>,
}

impl Honest {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(what);
        }
    }
}

/// PUT a new file of `size` bytes, GET it back, compare; until `end`.
async fn honest(args: Arc<Args>, dav: String, phase: &str, end: Instant) -> Honest {
    let client = reqwest::Client::builder()
        .local_address(args.honest_addr)
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1)
        .build()
        .expect("reqwest client");
    let mut h = Honest::default();
    let dir = format!("{dav}honest-{phase}/");
    let mk = client
        .request(reqwest::Method::from_bytes(b"MKCOL").unwrap(), &dir)
        .basic_auth(&args.user, Some(&args.password))
        .send()
        .await;
    if let Err(e) = mk {
        h.error(format!("MKCOL {dir}: {}", err_kind(&e)));
    }
    let mut i = 0u64;
    while Instant::now() < end {
        let mut body = vec![0u8; args.size];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut body);
        let body = bytes::Bytes::from(body);
        let url = format!("{dir}f{i:06}");
        i += 1;
        let t = Instant::now();
        let r = client
            .put(&url)
            .basic_auth(&args.user, Some(&args.password))
            .body(body.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {
                let _ = r.bytes().await;
                h.put_ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok(r) => {
                h.error(format!("PUT {url}: {}", r.status()));
                continue;
            }
            Err(e) => {
                h.error(format!("PUT {url}: {}", err_kind(&e)));
                continue;
            }
        }
        let t = Instant::now();
        let r = client
            .get(&url)
            .basic_auth(&args.user, Some(&args.password))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) if b == body => h.get_ms.push(t.elapsed().as_secs_f64() * 1e3),
                Ok(b) => h.error(format!(
                    "GET {url}: {} bytes, not the {} sent",
                    b.len(),
                    body.len()
                )),
                Err(e) => h.error(format!("GET {url}: {}", err_kind(&e))),
            },
            Ok(r) => h.error(format!("GET {url}: {}", r.status())),
            Err(e) => h.error(format!("GET {url}: {}", err_kind(&e))),
        }
    }
    h
}

/// A TCP connection from `local` to `server`.
async fn connect(local: IpAddr, server: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let sock = if server.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.bind(SocketAddr::new(local, 0))?;
    sock.connect(server).await
}

/// Holds one connection open, sending nothing; reopens it when the server closes it.
async fn idle(
    local: IpAddr,
    server: SocketAddr,
    held: Arc<AtomicI64>,
    tally: Arc<Tally>,
    lifetimes: Arc<Mutex<Vec<f64>>>,
) {
    loop {
        match connect(local, server).await {
            Ok(mut s) => {
                held.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let mut buf = [0u8; 4096];
                let how = loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break "closed by the server".to_owned(),
                        Ok(_) => continue, // a 408 or similar: read on to the close
                        Err(e) => break format!("{:?}", e.kind()),
                    }
                };
                held.fetch_sub(1, Ordering::Relaxed);
                tally.add(format!("idle: {how}"));
                lifetimes.lock().unwrap().push(t.elapsed().as_secs_f64());
            }
            Err(e) => tally.add(format!("idle: connect {:?}", e.kind())),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends a request's first header lines and then one more line every few seconds, never the end.
async fn slowloris(
    local: IpAddr,
    server: SocketAddr,
    held: Arc<AtomicI64>,
    tally: Arc<Tally>,
    lifetimes: Arc<Mutex<Vec<f64>>>,
) {
    loop {
        match connect(local, server).await {
            Ok(s) => {
                held.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let (mut rd, mut wr) = s.into_split();
                let writer = async move {
                    if wr
                        .write_all(b"GET /dav/ HTTP/1.1\r\nHost: gateway\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let mut n = 0u64;
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        n += 1;
                        if wr
                            .write_all(format!("X-Slow-{n}: a\r\n").as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                };
                let reader = async move {
                    let mut buf = [0u8; 4096];
                    let mut answered = false;
                    loop {
                        match rd.read(&mut buf).await {
                            Ok(0) => {
                                break if answered {
                                    "answered, then closed"
                                } else {
                                    "closed by the server"
                                }
                            }
                            Ok(_) => answered = true,
                            Err(_) => break "reset",
                        }
                    }
                };
                let how = tokio::select! {
                    how = reader => how,
                    _ = writer => "write failed",
                };
                held.fetch_sub(1, Ordering::Relaxed);
                tally.add(format!("slowloris: {how}"));
                lifetimes.lock().unwrap().push(t.elapsed().as_secs_f64());
            }
            Err(e) => tally.add(format!("slowloris: connect {:?}", e.kind())),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn attacker_client(local: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(local)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

async fn brute(args: Arc<Args>, dav: String, local: IpAddr, task: usize, tally: Arc<Tally>) {
    let client = attacker_client(local);
    let mut n = 0u64;
    loop {
        n += 1;
        let guess = format!("guess-{task}-{n}");
        match client
            .get(&dav)
            .basic_auth(&args.victim, Some(guess))
            .send()
            .await
        {
            Ok(r) => {
                tally.add(format!("brute force: {}", r.status().as_u16()));
                let _ = r.bytes().await;
            }
            Err(e) => {
                tally.add(format!("brute force: {}", err_kind(&e)));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn lock_flood(args: Arc<Args>, dav: String, local: IpAddr, task: usize, tally: Arc<Tally>) {
    let client = attacker_client(local);
    let owner = "o".repeat(args.lock_owner_bytes);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope>\
         <D:locktype><D:write/></D:locktype><D:owner><D:href>{owner}</D:href></D:owner></D:lockinfo>"
    );
    let lock = reqwest::Method::from_bytes(b"LOCK").unwrap();
    let run = rand::random::<u32>();
    let mut n = 0u64;
    loop {
        n += 1;
        let url = format!("{dav}lockflood-{run:08x}-{task}-{n}");
        let r = client
            .request(lock.clone(), &url)
            .basic_auth(&args.attacker, Some(&args.attacker_password))
            .header("Content-Type", "application/xml")
            .body(body.clone())
            .send()
            .await;
        match r {
            Ok(r) => {
                tally.add(format!("LOCK flood: {}", r.status().as_u16()));
                let _ = r.bytes().await;
            }
            Err(e) => {
                tally.add(format!("LOCK flood: {}", err_kind(&e)));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn range_abuse(
    args: Arc<Args>,
    file: String,
    local: IpAddr,
    tally: Arc<Tally>,
    bytes_read: Arc<AtomicU64>,
) {
    let client = attacker_client(local);
    let ranges = format!("bytes={}", vec!["0-"; args.ranges].join(","));
    loop {
        let r = client
            .get(&file)
            .basic_auth(&args.attacker, Some(&args.attacker_password))
            .header("Range", &ranges)
            .send()
            .await;
        match r {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let mut got = 0u64;
                let mut cut = false;
                loop {
                    match r.chunk().await {
                        Ok(Some(c)) => {
                            got += c.len() as u64;
                            if got >= args.range_read_limit {
                                cut = true;
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break,
                    }
                }
                bytes_read.fetch_add(got, Ordering::Relaxed);
                let size = if got > args.range_file_bytes as u64 * 2 {
                    "more than twice the file"
                } else {
                    "at most twice the file"
                };
                tally.add(format!(
                    "Range abuse: {status} ({size}{})",
                    if cut {
                        ", dropped at the read limit"
                    } else {
                        ""
                    }
                ));
            }
            Err(e) => {
                tally.add(format!("Range abuse: {}", err_kind(&e)));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The hostile PROPFIND bodies, by name.
fn xml_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = 100_000;
    let mut nested = String::from("<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>");
    nested.push_str(&"<x>".repeat(deep));
    nested.push_str(&"</x>".repeat(deep));
    nested.push_str("</D:prop></D:propfind>");
    let laughs = {
        let mut s =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        s.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
        for i in 2..=9 {
            let p = i - 1;
            s.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">\n",
                format!("&lol{p};").repeat(10)
            ));
        }
        s.push_str(
            "]>\n<D:propfind xmlns:D=\"DAV:\"><D:prop><lolz>&lol9;</lolz></D:prop></D:propfind>",
        );
        s
    };
    let mut many = String::from("<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>");
    let mut i = 0;
    while many.len() < 8 << 20 {
        many.push_str(&format!("<p{i} xmlns=\"urn:x:{i}\"/>"));
        i += 1;
    }
    many.push_str("</D:prop></D:propfind>");
    let mut attrs = String::from("<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><x ");
    for i in 0..200_000 {
        attrs.push_str(&format!("a{i}=\"v\" "));
    }
    attrs.push_str("/></D:prop></D:propfind>");
    vec![
        ("deep nesting", nested.into_bytes()),
        ("entity expansion", laughs.into_bytes()),
        (
            "unclosed",
            b"<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag>".to_vec(),
        ),
        ("8 MiB of properties", many.into_bytes()),
        ("200,000 attributes", attrs.into_bytes()),
        ("not UTF-8", {
            let mut b =
                b"<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><"
                    .to_vec();
            b.extend_from_slice(&[0xff, 0xfe, 0xc0, 0x80]);
            b.extend_from_slice(b"/></D:prop></D:propfind>");
            b
        }),
        ("garbage", (0..4096).map(|i| (i * 7 % 256) as u8).collect()),
    ]
}

async fn xml_abuse(args: Arc<Args>, dav: String, local: IpAddr, task: usize, tally: Arc<Tally>) {
    let client = attacker_client(local);
    let bodies = xml_bodies();
    let propfind = reqwest::Method::from_bytes(b"PROPFIND").unwrap();
    let mut i = task;
    loop {
        let (name, body) = &bodies[i % bodies.len()];
        i += 1;
        let r = client
            .request(propfind.clone(), &dav)
            .basic_auth(&args.attacker, Some(&args.attacker_password))
            .header("Depth", "1")
            .header("Content-Type", "application/xml")
            .body(body.clone())
            .send()
            .await;
        match r {
            Ok(r) => {
                tally.add(format!("XML ({name}): {}", r.status().as_u16()));
                let _ = r.bytes().await;
            }
            Err(e) => {
                tally.add(format!("XML ({name}): {}", err_kind(&e)));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct PhaseResult {
    name: String,
    seconds: f64,
    honest: Honest,
    attacker: BTreeMap<String, u64>,
    peaks: Peaks,
    idle_lifetimes: Vec<f64>,
    range_bytes: u64,
}

impl PhaseResult {
    /// p50, p99, max over PUTs and GETs together.
    fn latency(&self) -> (f64, f64, f64, usize) {
        let mut all: Vec<f64> = self
            .honest
            .put_ms
            .iter()
            .chain(&self.honest.get_ms)
            .copied()
            .collect();
        all.sort_by(f64::total_cmp);
        (
            percentile(&all, 50.0),
            percentile(&all, 99.0),
            all.last().copied().unwrap_or(f64::NAN),
            all.len(),
        )
    }
    fn of(v: &[f64]) -> (f64, f64, f64) {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN),
        )
    }
}

async fn phase(
    args: Arc<Args>,
    pid: u32,
    server: SocketAddr,
    dav: String,
    name: String,
    attacker: Option<IpAddr>,
) -> PhaseResult {
    let secs = if attacker.is_some() {
        args.attack_seconds
    } else {
        args.baseline_seconds
    };
    let held = Arc::new(AtomicI64::new(0));
    let tally = Arc::new(Tally::default());
    let lifetimes = Arc::new(Mutex::new(Vec::new()));
    let range_bytes = Arc::new(AtomicU64::new(0));
    let peaks = Arc::new(Mutex::new(Peaks::default()));
    let mut tasks = JoinSet::new();
    tasks.spawn(sample(pid, held.clone(), peaks.clone()));
    if let Some(local) = attacker {
        // The attacker's own file for the Range abuse.
        let file = format!("{dav}range-{:08x}.bin", rand::random::<u32>());
        let content: Vec<u8> = (0..args.range_file_bytes)
            .map(|i| (i % 251) as u8)
            .collect();
        match attacker_client(local)
            .put(&file)
            .basic_auth(&args.attacker, Some(&args.attacker_password))
            .body(content)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => eprintln!("hostile: PUT of the Range file: {}", r.status()),
            Err(e) => eprintln!("hostile: PUT of the Range file: {e}"),
        }
        for _ in 0..args.idle {
            tasks.spawn(idle(
                local,
                server,
                held.clone(),
                tally.clone(),
                lifetimes.clone(),
            ));
        }
        for _ in 0..args.slowloris {
            tasks.spawn(slowloris(
                local,
                server,
                held.clone(),
                tally.clone(),
                lifetimes.clone(),
            ));
        }
        for t in 0..args.brute {
            tasks.spawn(brute(args.clone(), dav.clone(), local, t, tally.clone()));
        }
        for t in 0..args.lock_tasks {
            tasks.spawn(lock_flood(
                args.clone(),
                dav.clone(),
                local,
                t,
                tally.clone(),
            ));
        }
        for _ in 0..args.range_tasks {
            tasks.spawn(range_abuse(
                args.clone(),
                file.clone(),
                local,
                tally.clone(),
                range_bytes.clone(),
            ));
        }
        for t in 0..args.xml_tasks {
            tasks.spawn(xml_abuse(
                args.clone(),
                dav.clone(),
                local,
                t,
                tally.clone(),
            ));
        }
        // Let the connections pile up before the honest client starts measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    eprintln!("hostile: phase {name}: {secs} s");
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let tag = name.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let honest = honest(
        args.clone(),
        dav.clone(),
        &format!("{tag}-{:04x}", rand::random::<u16>()),
        end,
    )
    .await;
    let seconds = start.elapsed().as_secs_f64();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let peaks = peaks.lock().unwrap().clone();
    let idle_lifetimes = std::mem::take(&mut *lifetimes.lock().unwrap());
    PhaseResult {
        name,
        seconds,
        honest,
        attacker: tally.take(),
        peaks,
        idle_lifetimes,
        range_bytes: range_bytes.load(Ordering::Relaxed),
    }
}

fn gateway_pid(args: &Args) -> Result<u32, String> {
    if let Some(p) = args.pid {
        return Ok(p);
    }
    let lock = args.lock.as_ref().ok_or("give --pid or --lock")?;
    let text = std::fs::read_to_string(lock).map_err(|e| format!("{}: {e}", lock.display()))?;
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| format!("{}: no process id in it", lock.display()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Arc::new(Args::parse());
    let pid = gateway_pid(&args)?;
    let base = if args.url.ends_with('/') {
        args.url.clone()
    } else {
        format!("{}/", args.url)
    };
    let dav = format!("{base}dav/");
    let parsed = reqwest::Url::parse(&base)?;
    let host: IpAddr = parsed
        .host_str()
        .ok_or("the URL has no host")?
        .trim_matches(|c| c == '[' || c == ']')
        .parse()?;
    let server = SocketAddr::new(host, parsed.port_or_known_default().unwrap_or(80));

    let mut results = vec![
        phase(
            args.clone(),
            pid,
            server,
            dav.clone(),
            "baseline (honest client alone)".into(),
            None,
        )
        .await,
    ];
    for &a in &args.attacker_addr {
        // Let the server forget the previous phase's connections.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let same = if a == args.honest_addr {
            "same address as the honest client"
        } else {
            "another address"
        };
        let name = format!("attack from {a} ({same})");
        results.push(phase(args.clone(), pid, server, dav.clone(), name, Some(a)).await);
    }

    let base_p99 = results[0].latency().1;
    let mut failed = false;
    println!(
        "## Honest client ({} KiB PUT, then GET and compare; honest client on {})\n",
        args.size / 1024,
        args.honest_addr
    );
    println!("| phase | seconds | requests | p50 ms | p99 ms | max ms | p99 / baseline | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        let (p50, p99, max, n) = r.latency();
        let ratio = p99 / base_p99;
        println!(
            "| {} | {:.0} | {n} | {p50:.2} | {p99:.2} | {max:.1} | {ratio:.2}x | {} |",
            r.name, r.seconds, r.honest.errors
        );
        // A NaN ratio (no baseline) fails too.
        let within = matches!(
            ratio.partial_cmp(&args.max_ratio),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        );
        if r.honest.errors > 0 || !within {
            failed = true;
        }
    }
    println!("\nPUT and GET apart (p50 / p99 / max ms):\n");
    for r in &results {
        let (a, b, c) = PhaseResult::of(&r.honest.put_ms);
        let (d, e, f) = PhaseResult::of(&r.honest.get_ms);
        println!(
            "- {}: PUT {a:.2} / {b:.2} / {c:.1} ({} PUTs); GET {d:.2} / {e:.2} / {f:.1}",
            r.name,
            r.honest.put_ms.len()
        );
        for e in &r.honest.first_errors {
            println!("  - honest error: {e}");
        }
    }
    println!("\n## Gateway process (sampled every second)\n");
    println!("| phase | max VmRSS MiB | VmRSS at the end MiB | max threads | max open files | attacker connections held (median / max) |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for r in &results {
        let p = &r.peaks;
        let mut held = p.held.clone();
        held.sort();
        let med = held.get(held.len() / 2).copied().unwrap_or(0);
        let max = held.last().copied().unwrap_or(0);
        println!(
            "| {} | {:.1} | {:.1} | {} | {} | {med} / {max} |{}",
            r.name,
            p.rss_kib as f64 / 1024.0,
            p.rss_last_kib as f64 / 1024.0,
            p.threads,
            p.fds,
            if p.gone { " GATEWAY GONE" } else { "" }
        );
        if p.gone {
            failed = true;
        }
    }
    for r in results.iter().skip(1) {
        println!("\n## What the attacker got: {}\n", r.name);
        println!("| attack: outcome | count |");
        println!("| --- | ---: |");
        for (k, v) in &r.attacker {
            println!("| {k} | {v} |");
        }
        let (p50, _, max) = PhaseResult::of(&r.idle_lifetimes);
        println!(
            "\nConnections the server closed (idle and slowloris): {}; their lifetime p50 {p50:.1} s, max {max:.1} s. Range abuse read {:.1} MiB in all.",
            r.idle_lifetimes.len(),
            r.range_bytes as f64 / (1 << 20) as f64
        );
    }
    println!(
        "\nGoals: honest p99 under attack <= {}x the baseline's, 0 honest errors, gateway alive: {}",
        args.max_ratio,
        if failed { "MISSED" } else { "met" }
    );
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
