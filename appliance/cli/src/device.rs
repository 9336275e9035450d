//! `microcloud device`: the devices (tablets, WebDAV apps) of each user, each with a password of
//! its own that can be revoked without touching the person's password or other devices.

use microcloud_accounts::devices;
use microcloud_store::{OpenOptions, Store, StoreError};

use crate::{CliError, DataArg};

/// Subcommands of `microcloud device`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a device for a user and print its password, once. WebDAV takes the user's name with
    /// this password; it is stored only as a digest.
    Add {
        /// The user whose device it is.
        user: String,
        /// What the person calls it, e.g. "Anna's iPad" (1-64 characters).
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// List devices: name, user, when added, last seen and from where, and what kind.
    List {
        /// Only this user's devices.
        user: Option<String>,
        #[command(flatten)]
        data: DataArg,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its next request is refused, and any page it has open signs out.
    Revoke {
        /// The user whose device it is.
        user: String,
        /// The device's name.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Whether WebDAV takes only device passwords for a user (the account password then works
    /// on the page alone).
    RequireDevices {
        /// The user.
        user: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        data: DataArg,
    },
}

fn open(data: &DataArg) -> Result<Store, CliError> {
    Ok(Store::open(&data.data, OpenOptions::default())?)
}

/// A catalog time (ns since the epoch) as an RFC 3339 time to the second, in UTC.
fn time(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map(|t| t.round(jiff::Unit::Second).unwrap_or(t).to_string())
        .unwrap_or_else(|_| "?".into())
}

pub fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Add { user, name, data } => {
            let store = open(&data)?;
            let (_, password) = devices::add(&store, &user, &name)?;
            println!("added device {name:?} of {user}. Its password (shown only now):");
            println!();
            println!("    {password}");
            println!();
            println!("Use it with the name {user} in the device's WebDAV app.");
        }
        Command::List { user, data, json } => {
            let store = open(&data)?;
            if let Some(u) = &user {
                if store.user(u)?.is_none() {
                    return Err(StoreError::NoSuchUser { name: u.clone() }.into());
                }
            }
            let list = store.devices(user.as_deref())?;
            if json {
                let rows: Vec<serde_json::Value> = list
                    .iter()
                    .map(|d| {
                        serde_json::json!({
                            "user": d.user,
                            "name": d.name,
                            "created": time(d.created_ns),
                            "last_seen": d.last_seen_ns.map(time),
                            "last_address": d.last_addr,
                            "kind": devices::kind(d.user_agent.as_deref()),
                            "user_agent": d.user_agent,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).expect("JSON of plain values")
                );
                return Ok(());
            }
            if list.is_empty() {
                println!("no devices");
                return Ok(());
            }
            println!("USER\tDEVICE\tADDED\tLAST SEEN\tFROM\tKIND");
            for d in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    d.user,
                    d.name,
                    time(d.created_ns),
                    d.last_seen_ns.map(time).unwrap_or_else(|| "never".into()),
                    d.last_addr.as_deref().unwrap_or("-"),
                    devices::kind(d.user_agent.as_deref()),
                );
            }
        }
        Command::Revoke { user, name, data } => {
            open(&data)?.revoke_device(&user, &name)?;
            println!("revoked device {name:?} of {user}");
        }
        Command::RequireDevices { user, state, data } => {
            let on = state == "on";
            open(&data)?.set_devices_only(&user, on)?;
            if on {
                println!("WebDAV takes only device passwords for {user} now");
            } else {
                println!("WebDAV takes {user}'s account password again");
            }
        }
    }
    Ok(())
}
