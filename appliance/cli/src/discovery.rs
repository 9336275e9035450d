//! `microcloud discovery` (the discovery agent: the box's mDNS responder and its view of the LAN)
//! and `microcloud devices` (paired devices online or not, and the other devices on the LAN).

use microcloud_discovery::{Config, Services};
use microcloud_neighbours::{overview, Overview};
use microcloud_store::{OpenOptions, Store};

use crate::{CliError, DataArg};

/// Options of `microcloud discovery`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// The HTTPS port announced for the page (`_https._tcp`) and WebDAV (`_webdavs._tcp`).
    #[arg(long, default_value_t = 443, value_name = "PORT")]
    https_port: u16,
    /// The plain-http port announced as `_http._tcp` (it redirects to HTTPS); 0: none.
    #[arg(long, default_value_t = 80, value_name = "PORT")]
    http_port: u16,
    /// The ssh port announced as `_ssh._tcp`; 0: none.
    #[arg(long, default_value_t = 22, value_name = "PORT")]
    ssh_port: u16,
    /// The model announced in `_device-info._tcp`.
    #[arg(long, default_value = "microcloud")]
    model: String,
    /// Announce this name instead of the host name (for several agents on one machine).
    #[arg(long, value_name = "NAME", value_parser = box_name)]
    name: Option<String>,
}

/// A DNS label a tablet can type: letters, digits and inner hyphens, 1-63 characters.
fn box_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "{s:?} is not a host name: use 1-63 letters, digits and inner hyphens"
        ))
    }
}

fn port(p: u16) -> Option<u16> {
    (p != 0).then_some(p)
}

pub fn run(args: Args) -> Result<(), CliError> {
    microcloud_logging::init(log::LevelFilter::Info);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io {
            what: "tokio runtime".into(),
            source: e,
        })?;
    let config = Config {
        data: args.data.data,
        services: Services {
            https_port: args.https_port,
            http_port: port(args.http_port),
            ssh_port: port(args.ssh_port),
            model: args.model,
        },
        name: args.name,
    };
    rt.block_on(async move {
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        microcloud_discovery::run(config, crate::agent::shutdown_signal()).await
    })
    .map_err(|e| CliError::Usage(format!("discovery agent: {e}")))
}

/// Options of `microcloud devices`.
#[derive(clap::Args)]
pub struct DevicesArgs {
    #[command(flatten)]
    data: DataArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The paired devices and the LAN, as `microcloud devices` and the page show them.
pub fn lan_overview(store: &Store, data: &std::path::Path) -> Result<Overview, CliError> {
    let view = microcloud_neighbours::load(data).map_err(|e| CliError::Usage(e.to_string()))?;
    let paired = microcloud_accounts::devices::paired(store)?;
    Ok(overview(view.as_ref(), &paired, now_unix()))
}

fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// "2 min ago", "3 h ago", or the date.
fn ago(t: Option<i64>, now: i64) -> String {
    let Some(t) = t else { return "never".into() };
    let d = (now - t).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => jiff::Timestamp::from_second(t)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "?".into()),
    }
}

pub fn devices(args: DevicesArgs) -> Result<(), CliError> {
    let store = Store::open(&args.data.data, OpenOptions::default())?;
    let o = lan_overview(&store, &args.data.data)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&o).expect("overview serializes")
        );
        return Ok(());
    }
    let now = now_unix();
    if o.watching {
        println!(
            "the box: {} ({}) on {}",
            o.announced.host,
            o.announced.instance,
            o.announced
                .addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        println!("the discovery agent has not run on this box: only paired devices are known");
    }
    println!();
    if o.paired.is_empty() {
        println!("paired devices: none (pair one from the page's Devices view)");
    } else {
        println!("paired devices:");
        for p in &o.paired {
            let state = if p.online {
                "online now".to_owned()
            } else {
                format!("last seen {}", ago(p.last_seen_unix, now))
            };
            println!(
                "  {} ({}): {state}{}",
                p.name,
                p.user,
                p.address
                    .as_deref()
                    .map(|a| format!(", from {a}"))
                    .unwrap_or_default()
            );
        }
    }
    if o.watching {
        println!();
        if o.others.is_empty() {
            println!("other devices on the LAN: none seen");
        } else {
            println!("other devices on the LAN (invite one from the page's Devices view):");
            for d in &o.others {
                let addrs: Vec<String> = d.addresses.iter().map(|a| a.to_string()).collect();
                println!(
                    "  {}{}  {}  {}{}",
                    d.mac.as_deref().unwrap_or("(MAC not known)"),
                    if d.randomized_mac { " (private)" } else { "" },
                    addrs.join(", "),
                    if d.online {
                        "online now".to_owned()
                    } else {
                        format!("last seen {}", ago(Some(d.last_seen_unix), now))
                    },
                    if d.names.is_empty() {
                        String::new()
                    } else {
                        format!("  {}", d.names.join(", "))
                    }
                );
            }
        }
    }
    Ok(())
}
