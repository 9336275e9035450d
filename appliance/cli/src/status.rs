//! `microcloud status`: what the store holds and whether the gateway runs.

use std::path::Path;

use indicatif::HumanBytes;
use microcloud_constants as constants;
use microcloud_store::Store;
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;

use crate::{CliError, DataArg};

/// Options of `microcloud status`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Print one JSON object instead of text (stable field names, byte counts as integers).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
pub struct GatewayState {
    pub running: bool,
    pid: Option<u32>,
    pub url: Option<String>,
    /// The HTTPS address, when the gateway serves one.
    #[serde(skip_serializing_if = "Option::is_none")]
    https_url: Option<String>,
}

#[derive(Serialize)]
struct Report {
    data: String,
    gateway: GatewayState,
    users: u64,
    files: u64,
    dirs: u64,
    bytes: u64,
    dirty_bytes: u64,
    cache_limit: u64,
    cache_used_fraction: f64,
    destinations: Vec<microcloud_uplink::DestinationStatus>,
    conflicts: Vec<Conflict>,
    /// Versions kept and the bytes only they use.
    versions: microcloud_store::VersionSpace,
    /// Trips of the ransomware guard nobody decided on yet.
    guard: Vec<microcloud_store::GuardTrip>,
}

#[derive(Serialize)]
struct Conflict {
    destination: String,
    key: String,
}

/// Whether a gateway holds the data directory's lock, and what it wrote there.
pub fn gateway_state(dir: &Path) -> GatewayState {
    let path = dir.join(constants::GATEWAY_LOCK_FILE);
    let Ok(file) = std::fs::File::open(&path) else {
        return GatewayState {
            running: false,
            pid: None,
            url: None,
            https_url: None,
        };
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_released_on_drop) => GatewayState {
            running: false,
            pid: None,
            url: None,
            https_url: None,
        },
        Err(_) => {
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            let mut parts = content.split_whitespace();
            let pid = parts.next().and_then(|p| p.parse().ok());
            let url = parts.next().map(str::to_owned);
            let https_url = parts.next().map(str::to_owned);
            GatewayState {
                running: true,
                pid,
                url,
                https_url,
            }
        }
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    let stats = Store::inspect(&dir)?;
    let reader = Store::open_read_only(&dir)?;
    let versions = reader.version_space()?;
    let guard: Vec<_> = reader
        .guard_trips()?
        .into_iter()
        .filter(|t| t.resolved_ns.is_none())
        .collect();
    let gateway = gateway_state(&dir);
    let state = microcloud_uplink_state::UplinkState::open_read_only(&dir)?;
    let uplink = state.status()?;
    let conflicts = state
        .conflicts()?
        .into_iter()
        .map(|c| Conflict {
            destination: c.destination,
            key: c.key,
        })
        .collect();
    let fraction = if stats.cache_limit > 0 {
        stats.bytes as f64 / stats.cache_limit as f64
    } else {
        0.0
    };
    let report = Report {
        data: dir.display().to_string(),
        gateway,
        users: stats.users,
        files: stats.files,
        dirs: stats.dirs,
        bytes: stats.bytes,
        dirty_bytes: stats.dirty_bytes,
        cache_limit: stats.cache_limit,
        cache_used_fraction: fraction,
        destinations: uplink.destinations,
        conflicts,
        versions,
        guard,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        return Ok(());
    }
    let gw = match (
        &report.gateway.running,
        report.gateway.pid,
        &report.gateway.url,
    ) {
        (true, pid, url) => format!(
            "running (pid {}) at {}{}",
            pid.map(|p| p.to_string()).unwrap_or("?".into()),
            url.as_deref().unwrap_or("?"),
            report
                .gateway
                .https_url
                .as_deref()
                .map(|u| format!(" and {u}"))
                .unwrap_or_default()
        ),
        (false, ..) => "not running".into(),
    };
    println!("data:     {}", report.data);
    println!("gateway:  {gw}");
    println!("users:    {}", report.users);
    println!("files:    {} in {} directories", report.files, report.dirs);
    println!("bytes:    {}", HumanBytes(report.bytes));
    println!(
        "dirty:    {} (not yet safe at every cloud destination)",
        HumanBytes(report.dirty_bytes)
    );
    println!(
        "cache:    {} of {} in use ({:.1}%)",
        HumanBytes(report.bytes),
        HumanBytes(report.cache_limit),
        fraction * 100.0
    );
    println!(
        "versions: {} kept ({} pinned), {} only versions use",
        report.versions.versions,
        report.versions.pinned,
        HumanBytes(report.versions.bytes)
    );
    for t in &report.guard {
        println!(
            "GUARD:    {} changed {} files (weighted) since {}: every version of {} is pinned; \
             decide with `microcloud guard --data {}`",
            t.user,
            t.changes,
            crate::versions::time(t.since_ns),
            t.user,
            report.data
        );
    }
    if report.destinations.is_empty() {
        println!("clouds:   none configured (files stay on this box only; add one with `microcloud remote add`)");
    }
    for d in &report.destinations {
        println!(
            "cloud {}: {}, {} files ({}) pending, oldest {:.0} s{}{}{}",
            d.name,
            d.state,
            d.pending_files,
            HumanBytes(d.pending_bytes),
            d.oldest_pending_age_seconds,
            match (d.concurrency_limit, d.rtt_ms) {
                (Some(limit), rtt) => format!(
                    ", {} of {limit} requests in flight{}",
                    d.in_flight,
                    rtt.map(|r| format!(", round trip {r:.1} ms"))
                        .unwrap_or_default()
                ),
                (None, _) => String::new(),
            },
            if d.conflicts > 0 {
                format!(", {} in conflict", d.conflicts)
            } else {
                String::new()
            },
            d.last_error
                .as_deref()
                .map(|e| format!("\n    last error: {e}"))
                .unwrap_or_default()
        );
    }
    for c in &report.conflicts {
        println!(
            "conflict: {} at {} was changed in the cloud by someone else (both copies kept)",
            c.key, c.destination
        );
    }
    Ok(())
}
