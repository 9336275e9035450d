//! `s3sink`: an S3-compatible stand-in for the far end of a cloud whose CPU is not ours, for
//! benchmarks run from scripts (`ci/bench-uplink-distance` with `CLOUD=sink`). Objects are kept
//! in memory (only size, ETag and metadata above `--keep-max`); no signature is checked. Prints
//! the address it listens on as its first line, then runs until killed. With `--tls-dir` it
//! serves https (HTTP/2 offered unless `--http1-only`), its CA's certificate in DIR/ca.pem. See
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
    /// Serve https, with a certificate (for localhost and 127.0.0.1) from a CA of its own whose
    /// certificate is written to DIR/ca.pem; HTTP/2 and HTTP/1.1 are offered.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<std::path::PathBuf>,
    /// With --tls-dir, offer HTTP/1.1 only (an endpoint without HTTP/2).
    #[arg(long, requires = "tls_dir")]
    http1_only: bool,
}

fn main() {
    let a = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        if let Some(dir) = &a.tls_dir {
            let started = microcloud_tests::s3sink::start_tls(
                a.listen,
                a.trust_md5,
                &a.buckets,
                !a.http1_only,
            )
            .await;
            let sink = match started {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("s3sink: listening on {} (https): {e}", a.listen);
                    std::process::exit(1);
                }
            };
            let ca = dir.join("ca.pem");
            if let Err(e) = std::fs::write(&ca, &sink.ca_pem) {
                eprintln!("s3sink: writing {}: {e}", ca.display());
                std::process::exit(1);
            }
            println!("{}", sink.addr);
            let _ = sink.task.await;
            return;
        }
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
