//! `microcloud uplink`: the uplink agent on its own.

use std::time::Duration;

use microcloud_remotes::size::parse_size;
use microcloud_store::{OpenOptions, Store};
use microcloud_uplink::{Settings, Uplink};

use crate::{CliError, DataArg};

/// Options of `microcloud uplink`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The uplink's tunables, from the command line or the environment (the unit files set the
/// environment). A value that does not parse, or is out of range, stops the agent with a message:
/// it is never ignored.
#[derive(clap::Args, Clone, Debug)]
pub struct SettingsArgs {
    /// Requests in flight per destination to start with (more as the destination's distance
    /// shows it helps; never fewer unless the destination asks to slow down).
    #[arg(long, env = "MICROCLOUD_UPLINK_CONCURRENCY", default_value_t = 16,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    uplink_concurrency: u16,
    /// Most requests in flight per destination (at least --uplink-concurrency).
    #[arg(long, env = "MICROCLOUD_UPLINK_MAX_CONCURRENCY", default_value_t = 256,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    uplink_max_concurrency: u16,
    /// Files at least this large go up as multipart uploads (bytes, or with K/M/G; at least 5M).
    #[arg(long, env = "MICROCLOUD_MULTIPART_THRESHOLD", default_value = "32M",
          value_name = "SIZE", value_parser = part_bytes)]
    multipart_threshold: u64,
    /// Size of each multipart part (at least 5M, S3's smallest part).
    #[arg(long, env = "MICROCLOUD_PART_SIZE", default_value = "8M",
          value_name = "SIZE", value_parser = part_bytes)]
    part_size: u64,
    /// Parts of one file in flight at once.
    #[arg(long, env = "MICROCLOUD_PART_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    part_concurrency: u16,
    /// Seconds between scrubs of each destination.
    #[arg(long, env = "MICROCLOUD_SCRUB_INTERVAL", default_value_t = 24 * 3600,
          value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    scrub_interval: u64,
    /// Seconds between rewrites of each destination's manifest (when it changed).
    #[arg(long, env = "MICROCLOUD_MANIFEST_INTERVAL", default_value_t = 10,
          value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    manifest_interval: u64,
}

/// A size of at least 5 MiB (S3 refuses smaller parts, but the last).
fn part_bytes(s: &str) -> Result<u64, String> {
    let v = parse_size(s).map_err(|e| e.to_string())?;
    if v < 5 << 20 {
        return Err(format!("{s} is below 5M, the smallest part S3 accepts"));
    }
    Ok(v)
}

impl SettingsArgs {
    /// The uplink's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            concurrency: self.uplink_concurrency.into(),
            max_concurrency: self
                .uplink_max_concurrency
                .max(self.uplink_concurrency)
                .into(),
            multipart_threshold: self.multipart_threshold,
            part_size: self.part_size,
            part_concurrency: self.part_concurrency.into(),
            scrub_interval: Duration::from_secs(self.scrub_interval),
            manifest_interval: Duration::from_secs(self.manifest_interval),
            ..Settings::default()
        }
    }

    /// The same settings as `microcloud uplink` arguments, for a child started by the gateway.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            format!("--uplink-concurrency={}", self.uplink_concurrency),
            format!("--uplink-max-concurrency={}", self.uplink_max_concurrency),
            format!("--multipart-threshold={}", self.multipart_threshold),
            format!("--part-size={}", self.part_size),
            format!("--part-concurrency={}", self.part_concurrency),
            format!("--scrub-interval={}", self.scrub_interval),
            format!("--manifest-interval={}", self.manifest_interval),
        ]
    }
}

pub fn run(args: Args) -> Result<(), CliError> {
    microcloud_logging::init(log::LevelFilter::Info);
    let mut lock = crate::agent::lock_file(
        &args.data.data,
        microcloud_constants::UPLINK_LOCK_FILE,
        "uplink",
    )?;
    {
        use std::io::Write;
        let _ = lock.set_len(0);
        let _ = writeln!(&mut *lock, "{}", std::process::id());
    }
    let store = Store::open(&args.data.data, OpenOptions::default())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("microcloud-uplink")
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })?;
    rt.block_on(async move {
        let uplink = Uplink::new(store, args.settings.settings())?;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        log::info!("uplink running on {}", args.data.data.display());
        uplink.run(crate::agent::shutdown_signal()).await;
        Ok(())
    })
}
