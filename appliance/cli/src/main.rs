//! `microcloud`: the one command of the appliance. It runs the agents (`gateway`) and maintains the
//! box (`status`, `user`). Every subcommand works on a data directory, so the same binary serves
//! the image (where the data partition is the data directory) and development on loopback.

mod agent;
mod bwlimit;
mod check;
mod console;
mod device;
mod discovery;
mod flush;
mod front;
mod gateway;
mod handoff;
mod metrics;
mod redirect;
mod remote;
mod restore;
mod scrub;
mod setup_code;
mod ssh_key;
mod status;
mod tls;
mod update;
mod uplink;
mod user;
mod versions;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// microcloud: a LAN gateway that keeps files at LAN speed and persists them to the cloud.
#[derive(Parser)]
#[command(
    name = "microcloud",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway agents in the foreground: the WebDAV LAN service on the store.
    ///
    /// Serves each user's space at http://ADDR/dav/ with HTTP Basic authentication. A write is
    /// acknowledged only once its bytes and its catalog entry are on stable storage. Stop it with
    /// Ctrl-C or SIGTERM; a kill at any moment loses nothing that was acknowledged.
    Gateway(gateway::Args),
    /// Show what the store holds: files, bytes, dirty bytes and cache use, and whether the gateway
    /// runs. Works whether or not the gateway is running.
    Status(status::Args),
    /// Check that the catalog and the uplink's state are sound (SQLite's integrity check), as
    /// after a power cut. Works beside the running agents; exits 1 if either is damaged.
    Check(check::Args),
    /// Manage the users who may read and write files over WebDAV.
    #[command(subcommand)]
    User(user::Command),
    /// Manage each user's devices: add one with a password of its own, list, revoke.
    #[command(subcommand)]
    Device(device::Command),
    /// Paired devices (online now, or when last seen) and the other devices on the box's LAN, as
    /// the discovery agent sees them.
    Devices(discovery::DevicesArgs),
    /// Run the discovery agent: the box's mDNS responder (its name and services on every
    /// address; goodbyes when it stops) and the watcher of the LAN's neighbours.
    Discovery(discovery::Args),
    /// Print the one-time setup code that the setup page asks for on first boot.
    ///
    /// The code exists until the first administrator is created (on the page, or here with
    /// `microcloud user add NAME --admin`); afterwards this says that setup is done.
    SetupCode(setup_code::Args),
    /// Manage the ssh public keys allowed into the maintenance shell.
    #[command(subcommand)]
    SshKey(ssh_key::Command),
    /// Manage the cloud destinations every file is persisted to.
    #[command(subcommand)]
    Remote(remote::Command),
    /// Wait until every file is safe at every destination, with progress.
    Flush(flush::Args),
    /// Show or set the upload bandwidth limit and its weekly timetable.
    Bwlimit(bwlimit::Args),
    /// Rebuild a blank box from one destination: users, directories and files come back from
    /// the destination's manifest (or its objects' metadata); content is fetched when first read.
    Restore(restore::Args),
    /// Check that every destination still holds every file (presence, size, hash; optionally
    /// reading objects in full) and queue the repair of what is missing or damaged.
    Scrub(scrub::Args),
    /// Run only the uplink agent (the gateway starts it as a process of its own unless given
    /// --no-uplink; this is for running it as its own service, with its own privileges).
    Uplink(uplink::Args),
    /// List a file's kept versions (id, when replaced, size, BLAKE3, the device that wrote it).
    Versions(versions::VersionsArgs),
    /// List a user's deleted files by folder, or bring one back (a file, or a whole folder).
    Trash(versions::TrashArgs),
    /// Put a user's file or folder back as it was at a moment (or one version of a file), in one
    /// step that can itself be undone.
    Rollback(versions::RollbackArgs),
    /// Show or set how long versions are kept and the ransomware guard's rule; expire versions.
    Retention(versions::RetentionArgs),
    /// The ransomware guard's trips, and the owner's decision: roll the user back, or keep.
    Guard(versions::GuardArgs),
    /// Send a file or folder to one of the user's devices (it opens there), or hand it to another
    /// user, who accepts a copy or, with --move, the ownership.
    Handoff(handoff::HandoffArgs),
    /// What was sent to a user or by them, and accepting or declining it.
    Inbox(handoff::InboxArgs),
    /// Show the box's certificate authority (its file and SHA-256 fingerprint, which a tablet
    /// checks when it trusts it) and the names, addresses and end of the server certificate.
    Tls(tls::Args),
    /// Updates of the box's system from signed bundles, to the slot that is not running, with
    /// automatic rollback: `update verify`, `apply`, `status`, `rollback`, `health`.
    #[command(subcommand)]
    Update(update::Command),
}

/// Where every subcommand finds the box's state.
#[derive(clap::Args, Clone)]
pub struct DataArg {
    /// The data directory (catalog and file content). On the appliance: /var/lib/microcloud.
    #[arg(long, value_name = "DIR", env = "MICROCLOUD_DATA")]
    pub data: PathBuf,
}

/// An error of the command line, printed as one line for the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] microcloud_store::StoreError),
    #[error(transparent)]
    Account(#[from] microcloud_accounts::AccountError),
    #[error(transparent)]
    Destination(#[from] microcloud_uplink::DestinationError),
    #[error(transparent)]
    Uplink(#[from] microcloud_uplink::UplinkError),
    #[error(transparent)]
    UplinkState(#[from] microcloud_uplink_state::StateError),
    #[error(transparent)]
    Socket(#[from] microcloud_uplink_api::ApiError),
    #[error(transparent)]
    Update(#[from] microcloud_update::UpdateError),
    #[error(transparent)]
    Slot(#[from] microcloud_update::SlotError),
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Gateway(_) | Command::Uplink(_) | Command::Discovery(_)
    ) {
        agent::tune_allocator();
    }
    let result = match cli.command {
        Command::Gateway(a) => gateway::run(a),
        Command::Status(a) => status::run(a),
        Command::Check(a) => check::run(a),
        Command::User(c) => user::run(c),
        Command::Device(c) => device::run(c),
        Command::Devices(a) => discovery::devices(a),
        Command::Discovery(a) => discovery::run(a),
        Command::Remote(c) => remote::run(c),
        Command::SetupCode(a) => setup_code::run(a),
        Command::SshKey(c) => ssh_key::run(c),
        Command::Flush(a) => flush::run(a),
        Command::Scrub(a) => scrub::run(a),
        Command::Restore(a) => restore::run(a),
        Command::Bwlimit(a) => bwlimit::run(a),
        Command::Uplink(a) => uplink::run(a),
        Command::Tls(a) => tls::run(a),
        Command::Versions(a) => versions::versions(a),
        Command::Trash(a) => versions::trash(a),
        Command::Rollback(a) => versions::rollback(a),
        Command::Retention(a) => versions::retention(a),
        Command::Guard(a) => versions::guard(a),
        Command::Handoff(a) => handoff::handoff(a),
        Command::Inbox(a) => handoff::inbox(a),
        Command::Update(c) => update::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("microcloud: error: {e}");
            ExitCode::FAILURE
        }
    }
}
