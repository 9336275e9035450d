//! davbench: a WebDAV load client for the benchmarks in `ci/bench-gateway` and `ci/bench-uplink`.
//!
//! By default it PUTs many small files from concurrent clients (each with its own kept-alive
//! connection) and reports acknowledged files per second, so that microcloud, nginx and rclone
//! are measured by the same client in the same run.
//!
//! `davbench latency` measures how long a file takes to reach the cloud once acknowledged: it PUTs
//! files at a fixed rate (open loop: a slow server does not slow the sender) and, for each file,
//! polls HEAD until microcloud's `X-Microcloud-Durability` header says `cloud:1` or `cloud:all`.
//!
//! `davbench s3-floor` sends an S3 bucket the very requests the uplink sends for new small files
//! (microcloud's own S3 client: signed PutObject with Content-MD5 and the BLAKE3 metadata), from
//! memory, with nothing else to do: the fastest any uplink built on that client could be against
//! that server on that machine, which the uplink benchmark reports next to the real thing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::StreamExt as _;

/// PUT many small files concurrently and report files per second.
#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Collection URL to write into, ending in '/' (e.g. http://127.0.0.1:8080/dav/bench/).
    #[arg(long, required = true)]
    url: Option<String>,
    /// User name for HTTP Basic authentication (none when absent).
    #[arg(long)]
    user: Option<String>,
    /// Password for HTTP Basic authentication.
    #[arg(long, env = "DAVBENCH_PASSWORD")]
    password: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Files in all.
    #[arg(long, default_value_t = 10000)]
    count: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Print a JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Make every file's content distinct: its first bytes are the file's number and this tag
    /// (otherwise every file has the same bytes, which content-addressed storage would share).
    #[arg(long, value_name = "TAG")]
    unique: Option<u64>,
    /// Trust this CA certificate (PEM) for an https URL, e.g. the box's DATA/tls/ca.crt.
    #[arg(long, value_name = "PEM")]
    ca_cert: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Mode {
    /// PUT files at a fixed rate and measure, for each, the time from the PUT's acknowledgement
    /// until HEAD reports it `cloud:1` (or `cloud:all`) in X-Microcloud-Durability.
    Latency(LatencyArgs),
    /// PUT files one at a time and measure, for each, the time from the PUT's acknowledgement
    /// (the change is committed) until the uplink's first request for it reaches the S3 server,
    /// seen by a proxy this command runs in front of that server.
    UploadStart(UploadStartArgs),
    /// PUT objects straight into an S3 bucket with microcloud's S3 client, as the uplink would,
    /// from memory and with no bookkeeping: a floor for the uplink's time.
    S3Floor(FloorArgs),
}

#[derive(clap::Args)]
struct FloorArgs {
    /// S3 endpoint URL (e.g. http://127.0.0.1:3900).
    #[arg(long)]
    endpoint: String,
    /// Region used in signatures.
    #[arg(long, default_value = "garage")]
    region: String,
    /// Bucket to write into (new keys under --prefix).
    #[arg(long)]
    bucket: String,
    /// Folder inside the bucket for the objects.
    #[arg(long, default_value = "floor")]
    prefix: String,
    /// Access key id (the secret comes from AWS_SECRET_ACCESS_KEY only, never the command line).
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    access_key: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Objects in all.
    #[arg(long, default_value_t = 10000)]
    count: usize,
    /// Bytes per object.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Print a JSON line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct UploadStartArgs {
    /// Collection URL to write into, ending in '/' (e.g. http://127.0.0.1:8080/dav/lat/).
    #[arg(long)]
    url: String,
    /// User name for HTTP Basic authentication (none when absent).
    #[arg(long)]
    user: Option<String>,
    /// Password for HTTP Basic authentication.
    #[arg(long, env = "DAVBENCH_PASSWORD")]
    password: Option<String>,
    /// Where the proxy listens: the destination's endpoint as the uplink knows it.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: std::net::SocketAddr,
    /// The S3 server behind the proxy.
    #[arg(long, value_name = "ADDR:PORT")]
    s3: std::net::SocketAddr,
    /// Files measured (after one unmeasured file that waits out the uplink's first contact).
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Milliseconds of quiet between one file's upload start and the next PUT, so that each file
    /// is measured alone (a poll would be met at a random phase).
    #[arg(long, default_value_t = 100)]
    gap_ms: u64,
    /// Print a JSON line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LatencyArgs {
    /// Collection URL to write into, ending in '/' (e.g. http://127.0.0.1:8080/dav/lat/).
    #[arg(long)]
    url: String,
    /// User name for HTTP Basic authentication (none when absent).
    #[arg(long)]
    user: Option<String>,
    /// Password for HTTP Basic authentication.
    #[arg(long, env = "DAVBENCH_PASSWORD")]
    password: Option<String>,
    /// PUTs started per second (the files are spread evenly over time).
    #[arg(long)]
    rate: f64,
    /// Files in all.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Bytes per file.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Milliseconds between two HEADs of one file.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Follow only every Nth file with HEADs (1: every file). The polling costs the server work
    /// of its own; a sample shows how much of the latency is due to it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    sample: u64,
    /// Seconds to wait for one file to reach the cloud before counting it as timed out.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Print a JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Also write one CSV line per file to this file: index, PUT sent (s after the start), PUT
    /// milliseconds, acknowledgement -> cloud milliseconds (empty when failed or timed out).
    #[arg(long, value_name = "FILE")]
    trace: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match args.mode {
        Some(Mode::Latency(l)) => return latency(l).await,
        Some(Mode::S3Floor(f)) => return s3_floor(f).await,
        Some(Mode::UploadStart(u)) => return upload_start(u).await,
        None => {}
    }
    let url = args.url.expect("clap requires --url");
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(args.clients);
    if let Some(ca) = &args.ca_cert {
        let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    let client = builder.build()?;
    let body = pattern(args.size);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, body, next, unique) =
            (client.clone(), body.clone(), next.clone(), args.unique);
        let (url, user, pw, count) = (
            url.clone(),
            args.user.clone(),
            args.password.clone(),
            args.count,
        );
        tasks.push(tokio::spawn(async move {
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let body = match unique {
                    Some(tag) => {
                        let mut b = body.to_vec();
                        let stamp = [(i as u64).to_le_bytes(), tag.to_le_bytes()].concat();
                        let n = stamp.len().min(b.len());
                        b[..n].copy_from_slice(&stamp[..n]);
                        bytes::Bytes::from(b)
                    }
                    None => body.clone(),
                };
                let mut req = client.put(format!("{url}f{i:07}")).body(body);
                if let Some(u) = &user {
                    req = req.basic_auth(u, pw.as_deref());
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        failures += 1;
                        if failures < 3 {
                            eprintln!("davbench: PUT f{i:07}: {}", r.status());
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        if failures < 3 {
                            eprintln!("davbench: PUT f{i:07}: {e}");
                        }
                    }
                }
            }
            failures
        }));
    }
    let mut failures = 0;
    for t in tasks {
        failures += t.await?;
    }
    report(
        args.count,
        failures,
        args.size,
        start.elapsed().as_secs_f64(),
        args.json,
        "files",
    );
    Ok(())
}

/// Prints how many of `count` writes of `size` bytes succeeded in `secs` and at what rate (a JSON
/// line or text naming `what`); exits non-zero if any failed.
fn report(count: usize, failures: usize, size: usize, secs: f64, json: bool, what: &str) {
    let ok = count - failures;
    let rate = ok as f64 / secs;
    if json {
        println!("{{\"files\":{ok},\"failures\":{failures},\"seconds\":{secs:.3},\"files_per_second\":{rate:.1}}}");
    } else {
        println!(
            "{ok} {what} of {size} bytes in {secs:.2} s: {rate:.0} {what}/s ({failures} failures)"
        );
    }
    if failures > 0 {
        std::process::exit(1);
    }
}

/// The content of every file: bytes 0, 1, ... 250, 0, 1, ... (the same for every file).
/// Request lines seen by the proxy: the first time each file name appeared in one.
type Seen = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

/// A TCP proxy to `s3` on `listen` that notes when a request naming `ustart-N` first arrives.
async fn recording_proxy(
    listen: std::net::SocketAddr,
    s3: std::net::SocketAddr,
    seen: Seen,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("proxy on {listen}: {e}"))?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(s3).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let at = Instant::now();
                        // A request line: "METHOD /bucket/prefix/.../ustart-N.bin?... HTTP/1.1".
                        let head = &buf[..n.min(512)];
                        if let Some(line) = head.split(|b| *b == b'\n').next() {
                            let line = String::from_utf8_lossy(line);
                            if let Some(pos) = line.find("ustart-") {
                                let name: String = line[pos..]
                                    .chars()
                                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                                    .collect();
                                seen.lock().unwrap().entry(name).or_insert(at);
                            }
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
    Ok(())
}

async fn upload_start(a: UploadStartArgs) -> Result<(), Box<dyn std::error::Error>> {
    let seen: Seen = Default::default();
    recording_proxy(a.listen, a.s3, seen.clone()).await?;
    let client = reqwest::Client::new();
    let body = pattern(a.size);
    // Signed milliseconds: the uplink may begin before the acknowledgement reaches the client.
    let mut lat: Vec<f64> = Vec::new();
    let mut missed = 0usize;
    for i in 0..=a.count {
        let name = format!("ustart-{i}");
        let mut req = client
            .put(format!("{}{name}.bin", a.url))
            .body(body.clone());
        if let Some(u) = &a.user {
            req = req.basic_auth(u, a.password.as_deref());
        }
        let r = req.send().await?;
        let acked = Instant::now();
        if !r.status().is_success() {
            return Err(format!("PUT {name}: {}", r.status()).into());
        }
        // The first file waits out the uplink's first contact with the destination.
        let wait = if i == 0 { 120.0 } else { 30.0 };
        let deadline = acked + Duration::from_secs_f64(wait);
        let started = loop {
            if let Some(at) = seen.lock().unwrap().get(&name).copied() {
                break Some(at);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        match (i, started) {
            (0, None) => return Err("the first file never reached the S3 server".into()),
            (0, Some(_)) => {}
            (_, Some(at)) => lat.push(if at >= acked {
                (at - acked).as_secs_f64() * 1000.0
            } else {
                -((acked - at).as_secs_f64() * 1000.0)
            }),
            (_, None) => missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
    }
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        lat[((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    let (p50, p90, p99, max) = (pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    if a.json {
        println!(
            "{{\"files\":{},\"missed\":{missed},\"commit_to_upload_start_ms\":{{\"median\":{p50:.2},\"p90\":{p90:.2},\"p99\":{p99:.2},\"max\":{max:.2}}}}}",
            lat.len()
        );
    } else {
        println!(
            "{} files: commit -> upload start median {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; {missed} never started within 30 s",
            lat.len()
        );
    }
    Ok(())
}

fn pattern(size: usize) -> bytes::Bytes {
    bytes::Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

async fn s3_floor(args: FloorArgs) -> Result<(), Box<dyn std::error::Error>> {
    use microcloud_remotes::{Credentials, Remote, RemoteConfig, RemoteKind};
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").map_err(|_| "set AWS_SECRET_ACCESS_KEY")?;
    let cfg = RemoteConfig {
        name: "floor".into(),
        kind: RemoteKind::S3 {
            endpoint: args.endpoint.clone(),
            region: args.region.clone(),
            bucket: args.bucket.clone(),
            prefix: String::new(),
            path_style: true,
            ca_pem: None,
        },
    };
    let creds = Credentials {
        access_key_id: args.access_key.clone(),
        secret_access_key: secret,
    };
    let remote = Remote::new(cfg, Some(creds))?;
    let body = pattern(args.size);
    let hash = blake3::hash(&body).to_hex().to_string();
    let prefix = args.prefix.trim_matches('/').to_owned();
    let start = Instant::now();
    let results: Vec<Result<String, microcloud_remotes::RemoteError>> =
        futures_util::stream::iter(0..args.count)
            .map(|i| {
                let (remote, body, hash) = (&remote, body.clone(), &hash);
                let key = format!("{prefix}/f{i:07}");
                async move { remote.put_listed_absent(&key, body, hash).await }
            })
            .buffer_unordered(args.concurrency.max(1))
            .collect()
            .await;
    let secs = start.elapsed().as_secs_f64();
    let failures = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("davbench: s3-floor: {e}");
    }
    report(args.count, failures, args.size, secs, args.json, "objects");
    Ok(())
}

/// Failed requests after which latency mode stops sending.
const MAX_FAILURES: usize = 10;

/// What became of one file in latency mode.
enum Fate {
    /// Acknowledged after `put`, then seen in the cloud `cloud` after the acknowledgement.
    Cloud {
        put: Duration,
        cloud: Duration,
        heads: u64,
    },
    /// Acknowledged, but not seen in the cloud within the timeout.
    TimedOut { put: Duration, heads: u64 },
    /// Acknowledged and not followed (see --sample).
    Acked { put: Duration },
    /// The PUT or a HEAD failed.
    Failed { heads: u64 },
}

async fn latency(args: LatencyArgs) -> Result<(), Box<dyn std::error::Error>> {
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err(format!(
            "--rate must be a positive number of files per second, not {}",
            args.rate
        )
        .into());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let body = pattern(args.size);
    let auth = Arc::new((args.user.clone(), args.password.clone()));
    let poll = Duration::from_millis(args.poll_ms.max(1));
    let timeout = Duration::from_secs_f64(args.timeout.max(0.001));
    let step = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now();
    let mut max_late = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    // Open loop, but not blind: a server that refuses everything (wrong password, full disk) is
    // not hammered for the whole run.
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut not_sent = 0;
    for i in 0..args.count {
        if failed.load(std::sync::atomic::Ordering::Relaxed) >= MAX_FAILURES {
            not_sent = args.count - i;
            eprintln!("davbench: {MAX_FAILURES} requests failed: {not_sent} files not sent");
            break;
        }
        let due = start + step.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        max_late = max_late.max(Instant::now().saturating_duration_since(due));
        let (client, body, auth, failed) =
            (client.clone(), body.clone(), auth.clone(), failed.clone());
        let url = format!("{}l{i:07}", args.url);
        let follow = (i as u64).is_multiple_of(args.sample);
        tasks.spawn(async move {
            let fate = async {
                let with_auth = |req: reqwest::RequestBuilder| match &auth.0 {
                    Some(u) => req.basic_auth(u, auth.1.as_deref()),
                    None => req,
                };
                let sent = Instant::now();
                match with_auth(client.put(&url).body(body)).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        eprintln!("davbench: PUT {url}: {}", r.status());
                        return Fate::Failed { heads: 0 };
                    }
                    Err(e) => {
                        eprintln!("davbench: PUT {url}: {e}");
                        return Fate::Failed { heads: 0 };
                    }
                }
                let acked = Instant::now();
                let put = acked - sent;
                if !follow {
                    return Fate::Acked { put };
                }
                let mut heads = 0u64;
                loop {
                    heads += 1;
                    match with_auth(client.head(&url)).send().await {
                        Ok(r) if r.status().is_success() => {
                            let level = r
                                .headers()
                                .get("x-microcloud-durability")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            if level.starts_with("cloud:") {
                                return Fate::Cloud {
                                    put,
                                    cloud: acked.elapsed(),
                                    heads,
                                };
                            }
                        }
                        Ok(r) => {
                            eprintln!("davbench: HEAD {url}: {}", r.status());
                            return Fate::Failed { heads };
                        }
                        Err(e) => {
                            eprintln!("davbench: HEAD {url}: {e}");
                            return Fate::Failed { heads };
                        }
                    }
                    if acked.elapsed() >= timeout {
                        return Fate::TimedOut { put, heads };
                    }
                    tokio::time::sleep(poll).await;
                }
            };
            let fate = fate.await;
            if matches!(fate, Fate::Failed { .. }) {
                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (i, due - start, fate)
        });
    }
    let send_secs = start.elapsed().as_secs_f64();
    let (mut cloud, mut puts) = (Vec::new(), Vec::new());
    let (mut failures, mut timeouts, mut heads) = (not_sent, 0usize, 0u64);
    let mut trace = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, sent, fate) = joined?;
        let (put_ms, cloud_ms) = match &fate {
            Fate::Cloud { put, cloud, .. } => (
                format!("{:.2}", put.as_secs_f64() * 1e3),
                format!("{:.2}", cloud.as_secs_f64() * 1e3),
            ),
            Fate::TimedOut { put, .. } | Fate::Acked { put } => {
                (format!("{:.2}", put.as_secs_f64() * 1e3), String::new())
            }
            Fate::Failed { .. } => (String::new(), String::new()),
        };
        trace.push((
            i,
            format!("{i},{:.4},{put_ms},{cloud_ms}\n", sent.as_secs_f64()),
        ));
        match fate {
            Fate::Cloud {
                put,
                cloud: c,
                heads: h,
            } => {
                puts.push(put);
                cloud.push(c);
                heads += h;
            }
            Fate::TimedOut { put, heads: h } => {
                // Counted at the timeout: the percentiles are then lower bounds, never flattered.
                puts.push(put);
                cloud.push(timeout);
                timeouts += 1;
                heads += h;
            }
            Fate::Acked { put } => puts.push(put),
            Fate::Failed { heads: h } => {
                failures += 1;
                heads += h;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    if let Some(path) = &args.trace {
        trace.sort_by_key(|(i, _)| *i);
        let text: String = std::iter::once("index,sent_s,put_ms,ack_to_cloud_ms\n".to_owned())
            .chain(trace.into_iter().map(|(_, l)| l))
            .collect();
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    cloud.sort();
    puts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // Nearest-rank percentile; 0 when there is nothing to rank.
    let pct = |v: &[Duration], q: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        ms(v[rank - 1])
    };
    let mean = if cloud.is_empty() {
        0.0
    } else {
        cloud.iter().map(|d| ms(*d)).sum::<f64>() / cloud.len() as f64
    };
    // The first PUT leaves at 0 s and the last at (count - 1) / rate.
    let sent = args.count - not_sent;
    let sent_rate = if sent > 1 {
        (sent - 1) as f64 / send_secs.max(1e-9)
    } else {
        args.rate
    };
    if args.json {
        println!(
            "{{\"files\":{},\"in_cloud\":{},\"timeouts\":{timeouts},\"failures\":{failures},\"rate\":{:.1},\"sent_rate\":{sent_rate:.1},\
             \"max_send_lateness_ms\":{:.1},\"seconds\":{secs:.3},\"followed\":{},\"heads\":{heads},\"poll_ms\":{},\
             \"ack_to_cloud_ms\":{{\"median\":{:.1},\"p90\":{:.1},\"p99\":{:.1},\"max\":{:.1},\"mean\":{mean:.1}}},\
             \"put_ms\":{{\"median\":{:.1},\"p99\":{:.1},\"max\":{:.1}}}}}",
            args.count,
            cloud.len() - timeouts,
            args.rate,
            ms(max_late),
            cloud.len(),
            args.poll_ms,
            pct(&cloud, 0.5),
            pct(&cloud, 0.9),
            pct(&cloud, 0.99),
            pct(&cloud, 1.0),
            pct(&puts, 0.5),
            pct(&puts, 0.99),
            pct(&puts, 1.0),
        );
    } else {
        println!(
            "{} files of {} bytes at {:.1}/s (sent at {sent_rate:.1}/s, at most {:.0} ms late) in {secs:.2} s: \
             ack -> cloud median {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms; PUT median {:.1} ms, p99 {:.1} ms; \
             {} in the cloud, {timeouts} timed out, {failures} failed, {heads} HEADs",
            args.count,
            args.size,
            args.rate,
            ms(max_late),
            pct(&cloud, 0.5),
            pct(&cloud, 0.9),
            pct(&cloud, 0.99),
            pct(&cloud, 1.0),
            pct(&puts, 0.5),
            pct(&puts, 0.99),
            cloud.len() - timeouts,
        );
    }
    if failures > 0 || timeouts > 0 {
        std::process::exit(1);
    }
    Ok(())
}
