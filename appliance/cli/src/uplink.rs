//! `microcloud uplink`: the uplink agent on its own.

use microcloud_store::{OpenOptions, Store};
use microcloud_uplink::{Settings, Uplink};

use crate::{CliError, DataArg};

/// Options of `microcloud uplink`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
}

pub fn run(args: Args) -> Result<(), CliError> {
    microcloud_logging::init(log::LevelFilter::Info);
    let mut lock = crate::gateway::lock_file(
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
    let uplink = Uplink::new(store, Settings::from_env())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("microcloud-uplink")
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })?;
    rt.block_on(async move {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        log::info!("uplink running on {}", args.data.data.display());
        uplink.run(crate::gateway::shutdown_signal()).await;
    });
    Ok(())
}
