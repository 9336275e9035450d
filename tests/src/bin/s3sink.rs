//! `s3sink`: an S3-compatible stand-in for the far end of a cloud whose CPU is not ours, for
//! benchmarks run from scripts (`ci/bench-uplink-distance` with `CLOUD=sink`). Objects are kept
//! in memory (only size, ETag and metadata above `--keep-max`); no signature is checked. Prints
//! the address it listens on as its first line, then runs until killed. See
//! `microcloud_tests::s3sink` for what it answers and what it does not.

use std::net::SocketAddr;

use clap::Parser;

/// Answers S3 requests (path style) on LISTEN, keeping objects in memory.
#[derive(Parser)]
#[command(name = "s3sink", version)]
struct Args {
    /// Where to listen (port 0: any free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Largest object whose bytes are kept (larger ones keep only size, ETag and metadata).
    #[arg(long, default_value_t = microcloud_tests::s3sink::KEEP_MAX)]
    keep_max: u64,
    /// Buckets to create at the start (others with PUT /BUCKET).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// Take a body's Content-MD5 as its MD5 without hashing the body (a cloud hashes on its own
    /// CPU, not ours); bodies without one are hashed.
    #[arg(long)]
    trust_md5: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() {
    let a = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let (addr, task) =
            match microcloud_tests::s3sink::start(a.listen, a.keep_max, a.trust_md5, &a.buckets)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("s3sink: listening on {}: {e}", a.listen);
                    std::process::exit(1);
                }
            };
        println!("{addr}");
        let _ = task.await;
    });
}
