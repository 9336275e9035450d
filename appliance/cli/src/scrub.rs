//! `microcloud scrub`: check every destination now and queue repairs.

use microcloud_store::{OpenOptions, Store};

use crate::{CliError, DataArg};

/// Options of `microcloud scrub`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Fraction of objects to read in full and hash (the rest are checked by HEAD: presence,
    /// size, hash metadata). 1 reads everything.
    #[arg(long, default_value_t = 1.0, value_name = "0..1")]
    full_fraction: f64,
    /// Print one JSON object per destination.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    if !(0.0..=1.0).contains(&args.full_fraction) {
        return Err(CliError::Usage(
            "--full-fraction must be between 0 and 1".into(),
        ));
    }
    let store = Store::open(&args.data.data, OpenOptions::default())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })?;
    let dests = microcloud_uplink::destinations::list(&store)?;
    if dests.is_empty() {
        return Err(CliError::Usage(
            "no destinations configured: nothing to scrub".into(),
        ));
    }
    let mut failed = None;
    for d in dests {
        match rt.block_on(microcloud_uplink::scrub::scrub(&store, &d, args.full_fraction)) {
            Ok(r) if args.json => println!("{}", serde_json::to_string(&r).expect("report serializes")),
            Ok(r) => println!(
                "{}: {} objects checked, {} read in full: {} missing, {} damaged (queued for upload), {} conflicts",
                r.destination, r.checked, r.read_in_full, r.missing, r.corrupt, r.conflicts
            ),
            Err(e) => {
                eprintln!("microcloud: {e}");
                failed = Some(e);
            }
        }
    }
    // A running uplink starts on the repairs at once (they are in its state, written here).
    let _ = rt.block_on(microcloud_uplink_api::Client::new(&args.data.data).notify_changed());
    match failed {
        Some(e) => Err(CliError::Usage(format!("scrub incomplete: {e}"))),
        None => Ok(()),
    }
}
