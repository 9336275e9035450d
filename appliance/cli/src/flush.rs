//! `microcloud flush`: wait until every file is safe at every destination.

use std::path::Path;
use std::time::{Duration, Instant};

use microcloud_store::Store;
use microcloud_uplink_state::UplinkState;

use crate::{CliError, DataArg};

/// Options of `microcloud flush`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Give up after this many seconds (exit status 1). Default: wait as long as it takes.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

struct Pending {
    files: u64,
    bytes: u64,
    conflicts: u64,
    destinations: u64,
    /// Bytes whose durability in the store is not yet `cloud:all` (a level raised by an upload
    /// reaches the store just after the upload is recorded).
    dirty_bytes: u64,
}

fn pending(dir: &Path, state: &UplinkState) -> Result<Pending, CliError> {
    let p = state.pending()?;
    let catalog = Store::open_read_only(dir)?;
    // Journal entries the uplink has not taken in yet wait too.
    let journal = catalog.changes_after_count(state.cursor()?)?;
    Ok(Pending {
        files: p.files + journal,
        bytes: p.bytes,
        conflicts: p.conflicts,
        destinations: p.destinations,
        dirty_bytes: catalog.stats()?.dirty_bytes,
    })
}

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    Store::open_read_only(&dir)?;
    let state = UplinkState::open_read_only(&dir)?;
    let first = pending(&dir, &state)?;
    if first.destinations == 0 {
        return Err(CliError::Usage(format!(
            "no destinations configured on {}: add one with `microcloud remote add`",
            dir.display()
        )));
    }
    let waiting = first.files > 0 || (first.dirty_bytes > 0 && first.conflicts == 0);
    if waiting && !crate::status::gateway_state(&dir).running {
        return Err(CliError::Usage(if first.files > 0 {
            format!(
                "{} changes wait for upload but no gateway runs on {}: start it with `microcloud gateway --data {}`",
                first.files,
                dir.display(),
                dir.display()
            )
        } else {
            format!(
                "durability levels wait to be brought up to date but no gateway runs on {}: start it with `microcloud gateway --data {}`",
                dir.display(),
                dir.display()
            )
        }));
    }
    let start = Instant::now();
    let total_bytes = first.bytes.max(1);
    let bar = indicatif::ProgressBar::new(total_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({eta})",
        )
        .expect("progress template")
        .progress_chars("=> "),
    );
    loop {
        let p = pending(&dir, &state)?;
        bar.set_length(total_bytes.max(p.bytes));
        bar.set_position(total_bytes.saturating_sub(p.bytes));
        bar.set_message(format!("{} files to go", p.files));
        if p.files == 0 && (p.dirty_bytes == 0 || p.conflicts > 0) {
            bar.finish_and_clear();
            if p.conflicts > 0 {
                return Err(CliError::Usage(format!(
                    "{} files are in conflict (changed in the cloud by someone else) and were not overwritten; see `microcloud status`",
                    p.conflicts
                )));
            }
            println!(
                "flushed: every file is at every destination ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if let Some(t) = args.timeout {
            if start.elapsed().as_secs_f64() >= t {
                bar.abandon();
                return Err(CliError::Usage(format!(
                    "timed out after {t} s: {} files ({} bytes) still wait for upload; `microcloud status` tells why",
                    p.files, p.bytes
                )));
            }
        }
        // Counting a long queue costs the catalog a scan: look often only near the end.
        std::thread::sleep(Duration::from_millis(if p.files < 1000 { 50 } else { 200 }));
    }
}
