//! `microcloud setup-code`: the one-time code that onboarding on the page asks for.

use microcloud_store::{OpenOptions, Store};

use crate::{CliError, DataArg};

/// Options of `microcloud setup-code`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let store = Store::open(
        &args.data.data,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )?;
    match microcloud_accounts::setup::code(&store)? {
        Some(code) => println!("{code}"),
        None => {
            return Err(CliError::Usage("setup is done: an administrator exists (sign in on the page, or add users with `microcloud user add`)".into()))
        }
    }
    Ok(())
}
