//! `microcloud restore`: rebuild a blank box from one destination.

use microcloud_store::{OpenOptions, Store};

use crate::remote::{runtime, Spec};
use crate::{CliError, DataArg};

/// Options of `microcloud restore`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Name to give the destination on this box (it stays configured afterwards).
    #[arg(long, value_name = "NAME")]
    from: String,
    #[command(flatten)]
    spec: Spec,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    if dir.join(microcloud_constants::CATALOG_FILE).exists() {
        return Err(CliError::Usage(format!(
            "{} already holds a microcloud catalog; restore only into an empty data directory",
            dir.display()
        )));
    }
    let (config, creds) = args.spec.resolve(&args.from)?;
    let store = Store::open(
        &dir,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        let dest = microcloud_uplink::destinations::add(&store, config, creds, false).await?;
        Ok::<_, CliError>(microcloud_uplink::manifest::restore(&store, &dest).await?)
    })?;
    println!(
        "restored {} files ({} bytes) in {} directories for {} users from {}; content is fetched from the cloud when first read",
        report.files,
        report.bytes,
        report.dirs,
        report.users.len(),
        args.from,
    );
    let total: f64 = report.phases.iter().map(|(_, s)| s).sum();
    println!(
        "took {total:.1} s: {}",
        report
            .phases
            .iter()
            .map(|(name, s)| format!("{name} {s:.2} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !report.from_manifest {
        println!("the bucket had no manifest: every file was placed from the bucket's listing, without its versions or modification time");
    } else if report.from_listing > 0 {
        println!(
            "{} of them were not yet in the bucket's manifest (uploaded or changed after it was written): placed from the bucket's listing, with the restore's time as their modification time",
            report.from_listing
        );
    }
    // A few lines each, then a count: a bucket full of foreign objects must not drown the rest.
    const SHOWN: usize = 20;
    for k in report.skipped.iter().take(SHOWN) {
        println!("skipped {k}");
    }
    if report.skipped.len() > SHOWN {
        println!(
            "... and {} more objects skipped",
            report.skipped.len() - SHOWN
        );
    }
    for k in report.missing.iter().take(SHOWN) {
        println!(
            "not restored: {} is in the manifest but not in the bucket (deleted after the manifest was written, or lost)",
            k.escape_debug()
        );
    }
    if report.missing.len() > SHOWN {
        println!("... and {} more not restored", report.missing.len() - SHOWN);
    }
    if !report.users.is_empty() {
        println!(
            "users have no password yet: set one with `microcloud user passwd NAME --data {}` ({})",
            dir.display(),
            report.users.join(", ")
        );
    }
    Ok(())
}
