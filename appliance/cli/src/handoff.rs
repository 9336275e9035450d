//! `microcloud handoff` and `microcloud inbox`: the page's "send to a device" and "hand to a
//! person" for scripts and the maintenance shell, through the same store operations, so both
//! ends' tablets hear of it at once (the gateway's event streams watch the same catalog).

use indicatif::HumanBytes;
use microcloud_store::{HandoffMode, InboxEntry, InboxState, Sending, Store};

use crate::versions::{open, runtime, time, user_id};
use crate::{CliError, DataArg};

/// `microcloud handoff USER PATH --to USER|DEVICE [--move]`.
#[derive(clap::Args)]
pub struct HandoffArgs {
    /// The user who sends.
    user: String,
    /// A file or folder in their space.
    path: String,
    /// To whom: another user's name (they accept or decline it), or one of USER's devices (it
    /// opens there). Write `user:NAME` or `device:NAME` when a name is both.
    #[arg(long, value_name = "USER|DEVICE")]
    to: String,
    /// Transfer ownership instead of giving a copy: once the recipient accepts, it is theirs and
    /// no longer USER's.
    #[arg(long = "move")]
    transfer: bool,
    #[command(flatten)]
    data: DataArg,
    /// Print the entry as JSON.
    #[arg(long)]
    json: bool,
}

/// `microcloud inbox USER`.
#[derive(clap::Args)]
pub struct InboxArgs {
    /// The user whose inbox to show.
    user: String,
    #[command(flatten)]
    data: DataArg,
    /// Accept entry ID (a copy, or the ownership, lands in USER's space).
    #[arg(long, value_name = "ID", conflicts_with = "decline")]
    accept: Option<i64>,
    /// Where an accepted hand-off lands: a folder of USER's.
    #[arg(long, value_name = "FOLDER", default_value = "/", requires = "accept")]
    into: String,
    /// Decline entry ID (or, for one USER sent, take it back).
    #[arg(long, value_name = "ID")]
    decline: Option<i64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

enum Target {
    Person(String),
    Device(String),
}

/// Who `--to` names: a device of `user`'s or another user.
fn target(store: &Store, user: &str, to: &str) -> Result<Target, CliError> {
    if let Some(name) = to.strip_prefix("user:") {
        return Ok(Target::Person(name.to_owned()));
    }
    if let Some(name) = to.strip_prefix("device:") {
        return Ok(Target::Device(name.to_owned()));
    }
    let device = store.devices(Some(user))?.iter().any(|d| d.name == to);
    let person = to != user && store.user(to)?.is_some();
    match (device, person) {
        (true, true) => Err(CliError::Usage(format!(
            "{to:?} is both a device of {user} and a user: write --to device:{to} or --to user:{to}"
        ))),
        (true, false) => Ok(Target::Device(to.to_owned())),
        _ => Ok(Target::Person(to.to_owned())),
    }
}

fn describe(e: &InboxEntry) -> String {
    let to = match &e.to_device {
        Some(d) => format!("device {d}"),
        None => e.to_user.clone(),
    };
    let what = match e.mode {
        HandoffMode::Open => "to open",
        HandoffMode::Copy => "a copy",
        HandoffMode::Move => "ownership",
    };
    format!(
        "#{} {} {:?} ({}, {} files, {}) from {} to {to}: {}{}",
        e.id,
        e.kind,
        e.name,
        what,
        e.files,
        HumanBytes(e.size),
        e.from_user,
        e.state.as_str(),
        e.result_path
            .as_deref()
            .map(|p| format!(" at {p}"))
            .unwrap_or_default()
    )
}

pub fn handoff(args: HandoffArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let from = user_id(&store, &args.user)?;
    let target = target(&store, &args.user, &args.to)?;
    if args.transfer && matches!(target, Target::Device(_)) {
        return Err(CliError::Usage(
            "--move hands ownership to another user; a device of yours has it already".into(),
        ));
    }
    let (to_user, to_device, mode) = match &target {
        Target::Device(d) => (args.user.as_str(), Some(d.as_str()), HandoffMode::Open),
        Target::Person(p) => (
            p.as_str(),
            None,
            if args.transfer {
                HandoffMode::Move
            } else {
                HandoffMode::Copy
            },
        ),
    };
    let e = runtime()?.block_on(store.send(Sending {
        from,
        from_device: None,
        to_user,
        to_device,
        path: Some(&args.path),
        view: None,
        mode,
    }))?;
    if args.json {
        println!("{}", e.to_json());
    } else {
        println!("sent: {}", describe(&e));
        println!(
            "it waits until {} (10 days) in the recipient's inbox",
            time(e.expires_ns)
        );
    }
    Ok(())
}

pub fn inbox(args: InboxArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let user = user_id(&store, &args.user)?;
    let decided = match (args.accept, args.decline) {
        (Some(id), _) => Some(runtime()?.block_on(store.accept(user, id, &args.into))?),
        (_, Some(id)) => Some(runtime()?.block_on(store.decline(user, id))?),
        _ => None,
    };
    if let Some(e) = decided {
        if args.json {
            println!("{}", e.to_json());
        } else {
            println!("{}", describe(&e));
        }
        return Ok(());
    }
    let inbox = store.inbox(user, None)?;
    if args.json {
        let list = |v: &[InboxEntry]| v.iter().map(InboxEntry::to_json).collect::<Vec<_>>();
        println!(
            "{}",
            serde_json::json!({"received": list(&inbox.received), "sent": list(&inbox.sent)})
        );
        return Ok(());
    }
    for (title, list) in [("received", &inbox.received), ("sent", &inbox.sent)] {
        println!("{title}:");
        if list.is_empty() {
            println!("  nothing");
        }
        for e in list.iter() {
            println!("  {}", describe(e));
        }
    }
    let waiting = inbox
        .received
        .iter()
        .filter(|e| e.state == InboxState::Pending && e.mode != HandoffMode::Open)
        .count();
    if waiting > 0 {
        println!(
            "accept with: microcloud inbox {} --accept ID --data {}",
            args.user,
            args.data.data.display()
        );
    }
    Ok(())
}
