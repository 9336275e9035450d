//! `microcloud update`: system updates of the appliance from signed bundles.

use std::path::PathBuf;

use microcloud_constants as constants;
use microcloud_update::{compare_versions, verify, PublicKey};

use crate::CliError;

/// `microcloud update ...`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an update bundle completely, writing nothing: its signature against the key this box
    /// trusts, the machine it is for, and every payload's size and SHA-256; then say what it
    /// holds and how it compares with the running system.
    Verify(VerifyArgs),
}

/// Options of `microcloud update verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The bundle (`microcloud-VERSION.update`, made by image/build).
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// The public key to trust (PEM, Ed25519). On the appliance, the one it was built with.
    #[arg(long, value_name = "PEM", default_value = constants::UPDATE_KEY_FILE)]
    key: PathBuf,
    /// The running system's version to compare with (default: the appliance's own, when there).
    #[arg(long, value_name = "VERSION")]
    running: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Verify(a) => verify_bundle(a),
    }
}

/// The running system's version: the appliance's version file, when there.
fn running_version() -> Option<String> {
    std::fs::read_to_string(constants::SYSTEM_VERSION_FILE)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn verify_bundle(a: VerifyArgs) -> Result<(), CliError> {
    let key = PublicKey::from_file(&a.key)?;
    let v = verify(&a.bundle, &key)?;
    let m = &v.manifest;
    let running = a.running.or_else(running_version);
    let relation = running
        .as_deref()
        .map(|r| match compare_versions(&m.system_version, r) {
            std::cmp::Ordering::Greater => "newer",
            std::cmp::Ordering::Equal => "same",
            std::cmp::Ordering::Less => "older",
        });
    if a.json {
        let out = serde_json::json!({
            "bundle": a.bundle,
            "verified": true,
            "manifest": m,
            "running": running,
            "relation": relation,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{}: microcloud {} for {}, built {} from {}: signature and checksums good",
        a.bundle.display(),
        m.system_version,
        m.arch,
        m.built,
        m.commit
    );
    for (p, _) in &v.payloads {
        println!("  {:<14} {:>12} bytes  sha256 {}", p.name, p.size, p.sha256);
    }
    match (running, relation) {
        (Some(r), Some("older")) => {
            println!("it is older than the running system ({r}): applying it needs --force")
        }
        (Some(r), Some("same")) => println!("it is the running system's version ({r})"),
        (Some(r), _) => println!("it is newer than the running system ({r})"),
        (None, _) => {}
    }
    Ok(())
}
