//! `microcloud tls`: the box's certificate authority and what its server certificate covers; and
//! the gateway's HTTPS identity (the box's names and addresses, the certificate for them).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use microcloud_tls::{Authority, Names, ServerCert};

use crate::{CliError, DataArg};

/// Options of `microcloud tls`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn tls_error(e: microcloud_tls::TlsError) -> CliError {
    CliError::Usage(e.to_string())
}

/// This machine's host name (the box's name on the LAN).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.split('.').next().unwrap_or_default().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "microcloud".to_owned())
}

/// The names and addresses the box answers on now: its host name (and `.local`), every address
/// of every interface that is up.
pub fn box_names() -> Names {
    let mut addresses: Vec<IpAddr> = Vec::new();
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            if !i.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
                continue;
            }
            let Some(a) = i.address else { continue };
            if let Some(v4) = a.as_sockaddr_in() {
                addresses.push(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = a.as_sockaddr_in6() {
                let ip = v6.ip();
                // Link-local addresses need a zone, which no URL a tablet is given carries.
                if ip.segments()[0] & 0xffc0 != 0xfe80 {
                    addresses.push(IpAddr::V6(ip));
                }
            }
        }
    }
    Names::of(&host_name(), addresses)
}

/// Wakes `changed` whenever the kernel announces an address added or removed (the rtnetlink
/// address groups), so that the certificate follows a DHCP lease or a new interface at once
/// instead of at the next periodic check. Any message is enough: the names are read afresh.
pub fn watch_addresses(changed: Arc<tokio::sync::Notify>) -> std::io::Result<()> {
    use std::io::Read;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{
        bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
    };
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )?;
    bind(
        fd.as_raw_fd(),
        &NetlinkAddr::new(0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR),
    )?;
    let mut sock = std::fs::File::from(fd);
    std::thread::Builder::new()
        .name("address-watch".into())
        .spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match sock.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => changed.notify_one(),
                    // The kernel dropped messages for us: something changed all the same.
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => changed.notify_one(),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("watching address changes (rtnetlink): {e}; checking every minute instead");
                        break;
                    }
                }
            }
        })?;
    Ok(())
}

/// The gateway's server certificate in `dir` (the CA made at first use), for the box's names now.
pub fn server_cert(dir: &Path) -> Result<Arc<ServerCert>, CliError> {
    let ca = Authority::load_or_create(dir, &host_name()).map_err(tls_error)?;
    ServerCert::load_or_issue(ca, &box_names())
        .map(Arc::new)
        .map_err(tls_error)
}

pub fn run(args: Args) -> Result<(), CliError> {
    let dir = args.data.data;
    let Some(report) = microcloud_tls::report(&dir).map_err(tls_error)? else {
        return Err(CliError::Usage(format!(
            "no certificate authority on {} yet: the gateway makes it when it first serves HTTPS (`microcloud gateway --tls-listen ADDR:PORT`)",
            dir.display()
        )));
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        return Ok(());
    }
    println!("certificate authority: {}", report.ca_path.display());
    println!("  SHA-256 fingerprint: {}", report.ca_fingerprint);
    match &report.server {
        None => println!("server certificate: none issued yet"),
        Some(s) => {
            let days = (s.not_after_unix - now_unix()) / 86_400;
            println!("server certificate: valid {days} more days (renewed 30 days before its end)");
            println!("  names:     {}", s.names.join(", "));
            let addrs: Vec<String> = s.addresses.iter().map(|a| a.to_string()).collect();
            println!("  addresses: {}", addrs.join(", "));
        }
    }
    Ok(())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
