//! `distance`: a TCP proxy that puts a cloud far away (a fixed delay each way, an optional
//! bandwidth cap, optionally cutting a share of connections), for benchmarks run from scripts
//! (`ci/bench-uplink`). Prints the address it listens on as its first line, then runs until
//! killed. See `microcloud_tests::distance`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use microcloud_tests::distance::{DistanceProxy, Line};

/// Forwards LISTEN to TARGET with a round trip of RTT_MS added.
#[derive(Parser)]
#[command(name = "distance", version)]
struct Args {
    /// Where to listen (port 0: any free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to forward to (HOST:PORT of the server).
    #[arg(long)]
    target: SocketAddr,
    /// Round trip to add, in milliseconds (half each way).
    #[arg(long, default_value_t = 0)]
    rtt_ms: u64,
    /// Bandwidth cap of each direction, in megabits per second (none by default).
    #[arg(long)]
    rate_mbit: Option<u64>,
    /// Share of connections (0 to 1) cut after a random number of bytes.
    #[arg(long, default_value_t = 0.0)]
    cut_fraction: f64,
    /// Share of new connections (0 to 1) answered "503 SlowDown".
    #[arg(long, default_value_t = 0.0)]
    busy_fraction: f64,
}

fn main() {
    let a = Args::parse();
    for (name, v) in [
        ("--cut-fraction", a.cut_fraction),
        ("--busy-fraction", a.busy_fraction),
    ] {
        if !(0.0..=1.0).contains(&v) {
            eprintln!("distance: {name} must be between 0 and 1");
            std::process::exit(2);
        }
    }
    let line = Line {
        rtt: Duration::from_millis(a.rtt_ms),
        rate: a.rate_mbit.map(|m| m * 1_000_000 / 8),
        cut_fraction: a.cut_fraction,
        busy_fraction: a.busy_fraction,
        busy_after: 0,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let proxy = match DistanceProxy::start(a.listen, a.target, line).await {
            Ok(p) => p,
            Err(e) => {
                eprintln!("distance: listening on {}: {e}", a.listen);
                std::process::exit(1);
            }
        };
        println!("{}", proxy.addr);
        std::future::pending::<()>().await;
    });
}
