//! `microcloud bwlimit`: the upload bandwidth limit and its weekly timetable.

use microcloud_store::Store;
use microcloud_uplink_state::UplinkState;

use crate::{CliError, DataArg};

/// Options of `microcloud bwlimit`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// The new limit: `off`, a rate in bytes per second (`512K`, `10M`), or a weekly timetable of
    /// `[Day-]HH:MM,RATE` entries separated by spaces, e.g. "08:00,1M 19:00,off Sat-00:00,off".
    /// The latest entry at or before the box's local time applies. Without it, the current
    /// setting is shown. Takes effect when the uplink (re)starts.
    schedule: Option<String>,
}

pub fn run(args: Args) -> Result<(), CliError> {
    // A data directory with a catalog; the schedule lives in the uplink's state.
    Store::open_read_only(&args.data.data)?;
    match args.schedule {
        None => match microcloud_uplink::bandwidth_schedule(&UplinkState::open_read_only(
            &args.data.data,
        )?)
        .map_err(CliError::Usage)?
        {
            None => println!("no bandwidth limit"),
            Some(s) => match s.rate_now() {
                Some(rate) => println!(
                    "limit in force now: {} per second",
                    indicatif::HumanBytes(rate)
                ),
                None => println!("a timetable is set; no limit is in force now"),
            },
        },
        Some(s) => {
            let value = if s.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                Some(s.as_str())
            };
            microcloud_uplink::set_bandwidth_schedule(&UplinkState::open(&args.data.data)?, value)
                .map_err(CliError::Usage)?;
            println!("bandwidth limit set; it takes effect when the uplink (re)starts");
        }
    }
    Ok(())
}
