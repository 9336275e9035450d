//! `microcloud flush`: wait until every file is safe at every destination and listed in its
//! manifest (so that a box lost right after a flush restores all of it).

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

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    Store::open_read_only(&dir)?;
    let state = UplinkState::open_read_only(&dir)?;
    let first = microcloud_uplink::status::progress(&dir, &state)?;
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
    // The uplink tells how far it got whenever that moves (over its socket): nothing is polled.
    let mut last = None;
    let rt = crate::remote::runtime()?;
    let followed = rt.block_on(async {
        let client = microcloud_uplink_api::Client::new(&dir);
        let follow = async {
            // An uplink that is starting (with its gateway, or restarted by systemd) gets a
            // moment to open its socket.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let r = client
                    .follow_progress(|p| {
                        bar.set_length(total_bytes.max(p.bytes));
                        bar.set_position(total_bytes.saturating_sub(p.bytes));
                        bar.set_message(format!("{} files to go", p.files));
                        last = Some(p);
                        !p.done()
                    })
                    .await;
                match r {
                    Err(microcloud_uplink_api::ApiError::NotRunning { .. })
                        if Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                    r => return r,
                }
            }
        };
        match args.timeout {
            Some(t) => tokio::time::timeout(Duration::from_secs_f64(t.max(0.0)), follow)
                .await
                .ok(),
            None => Some(follow.await),
        }
    });
    match followed {
        None => {
            bar.abandon();
            let p = last.unwrap_or_default();
            Err(CliError::Usage(format!(
                "timed out after {} s: {} files ({} bytes) still wait for upload; `microcloud status` tells why",
                args.timeout.unwrap_or_default(),
                p.files,
                p.bytes
            )))
        }
        Some(Err(e)) => {
            bar.abandon();
            Err(e.into())
        }
        Some(Ok(())) => match last {
            Some(p) if p.done() => {
                bar.finish_and_clear();
                if p.conflicts > 0 {
                    return Err(CliError::Usage(format!(
                        "{} files are in conflict (changed in the cloud by someone else) and were not overwritten; see `microcloud status`",
                        p.conflicts
                    )));
                }
                // Uploaded is not yet restorable: a box lost now is rebuilt from each
                // destination's manifest, which must list what was just flushed.
                rt.block_on(microcloud_uplink_api::Client::new(&dir).publish_manifests())
                    .map_err(|e| {
                        CliError::Usage(format!(
                            "every file is uploaded, but a destination's manifest (what a restore reads) could not be written: {e}; flush again"
                        ))
                    })?;
                println!(
                    "flushed: every file is at every destination, and in its manifest ({:.1} s)",
                    start.elapsed().as_secs_f64()
                );
                Ok(())
            }
            _ => {
                bar.abandon();
                Err(CliError::Usage(format!(
                    "the uplink on {} stopped before every file was uploaded; start it again and flush again",
                    dir.display()
                )))
            }
        },
    }
}
