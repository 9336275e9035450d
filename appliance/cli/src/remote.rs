//! `microcloud remote`: the cloud destinations every file is persisted to.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use microcloud_destination::DestinationSpec;
use microcloud_remotes::{Credentials, RemoteConfig, RemoteKind};
use microcloud_store::{OpenOptions, Store};

use crate::{CliError, DataArg};

/// Where a destination is: S3-compatible storage or a directory.
#[derive(clap::Args, Clone)]
pub struct Spec {
    /// S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:3900.
    #[arg(long, value_name = "URL", conflicts_with = "dir", requires = "bucket")]
    endpoint: Option<String>,
    /// S3 region (as the provider names it).
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket name.
    #[arg(long)]
    bucket: Option<String>,
    /// Key prefix inside the bucket (objects go to PREFIX/user/path).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Address the bucket in the path (http://endpoint/bucket/key) instead of the host name.
    #[arg(long)]
    path_style: bool,
    /// The certificates (PEM) of a private CA that signed an https endpoint's certificate,
    /// trusted beside the public authorities (a self-hosted store with its own CA).
    #[arg(long, value_name = "PEM-FILE", requires = "endpoint")]
    ca_file: Option<PathBuf>,
    /// A local directory as the destination (another disk, a NAS mount).
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

/// A private CA's PEM file, read up to one byte past what a destination may carry (the
/// destination's check then says how large is too large).
fn read_ca_file(path: &std::path::Path) -> Result<String, CliError> {
    use std::io::Read;
    let io = |source| CliError::Io {
        what: format!("the CA file {}", path.display()),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(microcloud_destination::MAX_CA_PEM_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl Spec {
    /// The destination's configuration, and its credentials (read now) for S3, checked by the
    /// same rules and in the same words as the page (`microcloud_destination`).
    pub fn resolve(self, name: &str) -> Result<(RemoteConfig, Option<Credentials>), CliError> {
        let spec = match (self.endpoint, self.dir) {
            (Some(endpoint), None) => {
                let bucket = self
                    .bucket
                    .ok_or_else(|| CliError::Usage("--endpoint needs --bucket".into()))?;
                let ca_pem = match &self.ca_file {
                    Some(path) => read_ca_file(path)?,
                    None => String::new(),
                };
                let creds = read_credentials()?;
                DestinationSpec {
                    name: name.to_owned(),
                    kind: "s3".into(),
                    endpoint,
                    region: self.region,
                    bucket,
                    prefix: self.prefix,
                    path_style: self.path_style,
                    ca_pem,
                    access_key_id: creds.access_key_id,
                    secret_access_key: creds.secret_access_key,
                    path: String::new(),
                }
            }
            (None, Some(path)) => {
                let path = std::path::absolute(&path).map_err(|e| CliError::Io {
                    what: path.display().to_string(),
                    source: e,
                })?;
                DestinationSpec {
                    name: name.to_owned(),
                    kind: "dir".into(),
                    path: path.to_string_lossy().into_owned(),
                    ..Default::default()
                }
            }
            _ => {
                return Err(CliError::Usage(
                    "give either --endpoint and --bucket (S3) or --dir PATH".into(),
                ))
            }
        };
        spec.validate().map_err(|e| {
            let option = match e.field {
                "name" => "NAME".to_owned(),
                "access_key_id" => "AWS_ACCESS_KEY_ID".to_owned(),
                "secret_access_key" => "AWS_SECRET_ACCESS_KEY".to_owned(),
                "path" => "--dir".to_owned(),
                "ca_pem" => "--ca-file".to_owned(),
                f => format!("--{}", f.replace('_', "-")),
            };
            CliError::Usage(format!("{option}: {}", e.message))
        })
    }
}

/// Subcommands of `microcloud remote`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Add a destination. Every file already on the box, and every later change, goes to it.
    ///
    /// An S3-compatible destination (--endpoint, --bucket): the access key and secret are read
    /// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, else from standard input (two lines: key
    /// id, then secret). They are stored readable only by the uplink and never printed again.
    /// A directory destination (--dir) needs no secret. The destination is tested first with a
    /// real write, read and delete (skip with --no-test).
    Add {
        /// Name of the destination (letters, digits, '-', '_', '.').
        name: String,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        spec: Spec,
        /// Do not test the destination before adding it.
        #[arg(long)]
        no_test: bool,
    },
    /// List destinations (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Remove a destination. Objects already there stay; the box stops tracking them.
    Remove {
        /// Name of the destination.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
}

fn read_credentials() -> Result<Credentials, CliError> {
    if let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
        });
    }
    let io_err = |e| CliError::Io {
        what: "reading the credentials".into(),
        source: e,
    };
    if std::io::stdin().is_terminal() {
        eprint!("Access key id: ");
        let mut id = String::new();
        std::io::stdin().lock().read_line(&mut id).map_err(io_err)?;
        let secret = rpassword::prompt_password("Secret access key: ").map_err(io_err)?;
        return Ok(Credentials {
            access_key_id: id.trim().to_owned(),
            secret_access_key: secret,
        });
    }
    let mut lines = std::io::stdin().lock().lines();
    let id = lines
        .next()
        .transpose()
        .map_err(io_err)?
        .unwrap_or_default();
    let secret = lines
        .next()
        .transpose()
        .map_err(io_err)?
        .unwrap_or_default();
    if id.trim().is_empty() || secret.trim().is_empty() {
        return Err(CliError::Usage(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the key id and the secret on two lines of standard input".into(),
        ));
    }
    Ok(Credentials {
        access_key_id: id.trim().to_owned(),
        secret_access_key: secret.trim().to_owned(),
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })
}

pub fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Add {
            name,
            data,
            spec,
            no_test,
        } => {
            let (config, creds) = spec.resolve(&name)?;
            // A running uplink takes its new destination at once, and alone keeps its state.
            let asked = runtime()?.block_on(async {
                let client = microcloud_uplink_api::Client::new(&data.data);
                let d = microcloud_uplink_api::NewDestination {
                    config: config.clone(),
                    credentials: creds.clone(),
                };
                if !no_test {
                    client.test(&d).await?;
                }
                client.add(&d).await
            });
            match asked {
                Ok(()) => {
                    println!(
                        "added destination {name}{}",
                        if no_test {
                            ""
                        } else {
                            " (tested: write, read back, delete)"
                        }
                    );
                    return Ok(());
                }
                Err(microcloud_uplink_api::ApiError::NotRunning { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let store = Store::open(
                &data.data,
                OpenOptions {
                    create: true,
                    ..Default::default()
                },
            )?;
            let d = runtime()?.block_on(microcloud_uplink::destinations::add(
                &store, config, creds, !no_test,
            ))?;
            println!(
                "added destination {}{}",
                d.name,
                if no_test {
                    ""
                } else {
                    " (tested: write, read back, delete)"
                }
            );
        }
        Command::List { data } => {
            let store = Store::open(&data.data, OpenOptions::default())?;
            for d in microcloud_uplink::destinations::list(&store)? {
                match &d.config.kind {
                    RemoteKind::S3 {
                        endpoint,
                        region,
                        bucket,
                        prefix,
                        path_style,
                        ca_pem,
                    } => println!(
                        "{}\ts3\t{endpoint}\tregion={region}\tbucket={bucket}{}{}{}",
                        d.name,
                        if prefix.is_empty() {
                            String::new()
                        } else {
                            format!("\tprefix={prefix}")
                        },
                        if *path_style { "\tpath-style" } else { "" },
                        if ca_pem.is_some() { "\tprivate-ca" } else { "" }
                    ),
                    RemoteKind::Dir { path } => println!("{}\tdir\t{}", d.name, path.display()),
                }
            }
        }
        Command::Remove { name, data } => {
            let client = microcloud_uplink_api::Client::new(&data.data);
            match runtime()?.block_on(client.remove(&name)) {
                Ok(()) => {
                    println!("removed destination {name}");
                    return Ok(());
                }
                Err(microcloud_uplink_api::ApiError::NotRunning { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let store = Store::open(&data.data, OpenOptions::default())?;
            runtime()?.block_on(microcloud_uplink::destinations::remove(&store, &name))?;
            println!("removed destination {name}");
        }
    }
    Ok(())
}
