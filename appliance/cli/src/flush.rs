//! `microcloud flush`: wait until every file is safe at every destination.

use std::time::{Duration, Instant};

use microcloud_store::Store;

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
}

fn pending(conn: &microcloud_store::Connection) -> Result<Pending, CliError> {
    let q = |sql: &str| -> Result<i64, CliError> {
        Ok(conn
            .query_row(sql, [], |r| r.get(0))
            .map_err(microcloud_store::StoreError::from)?)
    };
    Ok(Pending {
        files: (q("SELECT count(*) FROM replicas WHERE state = 'pending'")?
            + q("SELECT count(*) FROM changes")?) as u64,
        bytes: q("SELECT COALESCE(sum(size), 0) FROM replicas WHERE state = 'pending'")? as u64,
        conflicts: q("SELECT count(*) FROM replicas WHERE state = 'conflict'")? as u64,
        destinations: q("SELECT count(*) FROM destinations")? as u64,
    })
}

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    let conn = Store::open_read_only(&dir)?;
    let first = pending(&conn)?;
    if first.destinations == 0 {
        return Err(CliError::Usage(format!(
            "no destinations configured on {}: add one with `microcloud remote add`",
            dir.display()
        )));
    }
    if first.files > 0 && !crate::status::gateway_state(&dir).running {
        return Err(CliError::Usage(format!(
            "{} changes wait for upload but no gateway runs on {}: start it with `microcloud gateway --data {}`",
            first.files,
            dir.display(),
            dir.display()
        )));
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
        let p = pending(&conn)?;
        bar.set_length(total_bytes.max(p.bytes));
        bar.set_position(total_bytes.saturating_sub(p.bytes));
        bar.set_message(format!("{} files to go", p.files));
        if p.files == 0 {
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
