//! `microcloud check`: whether the box's two databases came through whole (SQLite's
//! `PRAGMA integrity_check` of the catalog and of the uplink's state), for the maintainer after a
//! power cut or a disk scare. Read-only: it runs beside the agents.

use microcloud_store::Store;
use serde::Serialize;

use crate::{CliError, DataArg};

/// Options of `microcloud check`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Print one JSON object instead of text: {"catalog": [problems], "uplink_state": [problems],
    /// "ok": bool}.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    catalog: Vec<String>,
    uplink_state: Vec<String>,
    ok: bool,
}

/// At most this many of a database's problems are printed as text (SQLite lists one per line).
const SHOWN: usize = 20;

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    let catalog = Store::open_read_only(&dir)?.integrity_check()?;
    let state = microcloud_uplink_state::UplinkState::open_read_only(&dir)?;
    let uplink_state = state.integrity_check()?;
    let ok = catalog.is_empty() && uplink_state.is_empty();
    let report = Report {
        catalog,
        uplink_state,
        ok,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).expect("a report serializes")
        );
    } else {
        for (name, problems) in [
            ("catalog", &report.catalog),
            ("uplink state", &report.uplink_state),
        ] {
            if problems.is_empty() {
                println!("{name}: ok");
                continue;
            }
            println!(
                "{name}: {} problem(s) found by SQLite's integrity check:",
                problems.len()
            );
            for p in problems.iter().take(SHOWN) {
                println!("  {p}");
            }
            if problems.len() > SHOWN {
                println!("  ... and {} more", problems.len() - SHOWN);
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "the databases in {} are damaged (see above); the uplink's destinations hold every file that reached them: `microcloud restore` rebuilds a box from one",
            dir.display()
        )))
    }
}
