//! `microcloud user`: add, list and re-key the users of the WebDAV service.

use std::io::{BufRead, IsTerminal};

use microcloud_store::{OpenOptions, Store, StoreError};

use crate::{CliError, DataArg};

/// Subcommands of `microcloud user`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a user. The password is read from standard input (one line), or asked for twice when
    /// standard input is a terminal; it is stored only as an argon2 hash.
    Add {
        /// Login name: 1-64 letters, digits, '-', '_' or '.'.
        name: String,
        #[command(flatten)]
        data: DataArg,
        /// Make the user an administrator of the box.
        #[arg(long)]
        admin: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Limit the space a user's files may take ("50G"; "none" for no limit). Hand-offs that
    /// would take them past it are refused when they accept.
    Space {
        /// Login name.
        name: String,
        /// The limit: a size such as 500M or 2T, or "none".
        #[arg(value_parser = parse_space)]
        limit: SpaceLimit,
        #[command(flatten)]
        data: DataArg,
    },
    /// Set a user's password (read like `add` does).
    Passwd {
        /// Login name.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
}

/// A user's space limit as given: a size, or none.
#[derive(Clone, Copy)]
pub struct SpaceLimit(Option<u64>);

fn parse_space(s: &str) -> Result<SpaceLimit, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(SpaceLimit(None));
    }
    microcloud_remotes::size::parse_size(s)
        .map(|b| SpaceLimit(Some(b)))
        .map_err(|e| format!("{e} (or \"none\")"))
}

fn read_password() -> Result<String, CliError> {
    let io_err = |e| CliError::Io {
        what: "reading the password".into(),
        source: e,
    };
    if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").map_err(io_err)?;
        let b = rpassword::prompt_password("Again: ").map_err(io_err)?;
        if a != b {
            return Err(CliError::Usage("the two passwords differ".into()));
        }
        return Ok(a);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(io_err)?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        return Err(CliError::Usage(
            "no password on standard input (try: echo PASSWORD | microcloud user add ...)".into(),
        ));
    }
    Ok(pw)
}

pub fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Add { name, data, admin } => {
            microcloud_store::check_user_name(&name)?;
            let password = read_password()?;
            let store = Store::open(
                &data.data,
                OpenOptions {
                    create: true,
                    ..Default::default()
                },
            )?;
            microcloud_accounts::add_user(&store, &name, &password, admin)?;
            println!(
                "added user {name}{}",
                if admin { " (administrator)" } else { "" }
            );
        }
        Command::List { data } => {
            let store = Store::open(&data.data, OpenOptions::default())?;
            for u in store.users()? {
                println!("{}{}", u.name, if u.admin { "\tadmin" } else { "" });
            }
        }
        Command::Space { name, limit, data } => {
            let store = Store::open(&data.data, OpenOptions::default())?;
            crate::versions::runtime()?.block_on(store.set_user_space(&name, limit.0))?;
            match limit.0 {
                Some(b) => println!("{name} may use {} ({b} bytes)", indicatif::HumanBytes(b)),
                None => println!("{name}'s space is not limited"),
            }
        }
        Command::Passwd { name, data } => {
            let store = Store::open(&data.data, OpenOptions::default())?;
            if store.user(&name)?.is_none() {
                return Err(StoreError::NoSuchUser { name }.into());
            }
            let password = read_password()?;
            let hash = microcloud_accounts::hash_password(&password)?;
            store.set_password(&name, &hash)?;
            println!("password of {name} changed");
        }
    }
    Ok(())
}
