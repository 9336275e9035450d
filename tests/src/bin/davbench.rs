//! davbench: a WebDAV load client for the benchmarks in `ci/bench-gateway`.
//!
//! It PUTs many small files from concurrent clients (each with its own kept-alive connection) and
//! reports acknowledged files per second, so that microcloud, nginx and rclone are measured by the
//! same client in the same run.

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;

/// PUT many small files concurrently and report files per second.
#[derive(Parser)]
struct Args {
    /// Collection URL to write into, ending in '/' (e.g. http://127.0.0.1:8080/dav/bench/).
    #[arg(long)]
    url: String,
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.clients).build()?;
    let body = bytes::Bytes::from((0..args.size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, body, next) = (client.clone(), body.clone(), next.clone());
        let (url, user, pw, count) = (args.url.clone(), args.user.clone(), args.password.clone(), args.count);
        tasks.push(tokio::spawn(async move {
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let mut req = client.put(format!("{url}f{i:07}")).body(body.clone());
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
    let secs = start.elapsed().as_secs_f64();
    let ok = args.count - failures;
    let rate = ok as f64 / secs;
    if args.json {
        println!("{{\"files\":{ok},\"failures\":{failures},\"seconds\":{secs:.3},\"files_per_second\":{rate:.1}}}");
    } else {
        println!("{ok} files of {} bytes in {secs:.2} s: {rate:.0} files/s ({failures} failures)", args.size);
    }
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
