//! `microcloud ssh-key`: the public keys allowed into the maintenance shell (the same list the
//! setup page edits).

use std::io::Read;

use microcloud_accounts::ssh_keys;

use crate::{CliError, DataArg};

/// Subcommands of `microcloud ssh-key`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Authorize a public key (one line, as in a .pub file), given as an argument or on
    /// standard input. Options such as command= are refused.
    Add {
        /// The key: `TYPE BASE64 [COMMENT]`. Read from standard input when absent.
        key: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// List authorized keys: id, type, fingerprint, comment.
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Remove a key by its id or fingerprint (as `list` prints them).
    Remove {
        /// Id or SHA256 fingerprint.
        id: String,
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Add { key, data } => {
            let key = match key {
                Some(k) => k,
                None => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| CliError::Io {
                            what: "reading the key from standard input".into(),
                            source: e,
                        })?;
                    s
                }
            };
            let k = ssh_keys::add(&data.data, &key)?;
            println!("authorized {} {} {}", k.kind, k.fingerprint, k.comment);
        }
        Command::List { data } => {
            for k in ssh_keys::list(&data.data)? {
                println!("{}\t{}\t{}\t{}", k.id, k.kind, k.fingerprint, k.comment);
            }
        }
        Command::Remove { id, data } => {
            let k = ssh_keys::remove(&data.data, &id)?;
            println!("removed {} {}", k.fingerprint, k.comment);
        }
    }
    Ok(())
}
