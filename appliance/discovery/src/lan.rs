//! The LAN's neighbours: the kernel's neighbour table (ARP and NDP, so every device that talks to
//! the box, with its MAC), and what devices announce over mDNS.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use mdns_sd::{ServiceDaemon, ServiceEvent};
use microcloud_neighbours::{format_mac, randomized, LanView, Neighbour};
use netlink_packet_core::NetlinkPayload;
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::AsyncSocket;
use rtnetlink::constants::{RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_NEIGH};

use crate::{now_unix, DiscoveryError, Shared};

/// The kernel's neighbour table is read in full this often (notifications say when an entry
/// changes state, not each time a device is heard from: the dump's ages refresh "last seen").
const DUMP_EVERY: Duration = Duration::from_secs(30);
/// At most this many service types are browsed (a LAN announcing hundreds is not one of tablets).
const MAX_TYPES: usize = 32;

fn netlink_error(e: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::Io {
        what: "the kernel's neighbour table (rtnetlink)".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Dump the neighbour table, then follow its notifications (and the address notifications, which
/// ring `address_changed`).
pub async fn watch(
    shared: Shared,
    address_changed: Arc<tokio::sync::Notify>,
    new_neighbour: Arc<tokio::sync::Notify>,
) -> Result<(), DiscoveryError> {
    let (mut connection, handle, mut messages) =
        rtnetlink::new_connection().map_err(netlink_error)?;
    connection
        .socket_mut()
        .socket_mut()
        .bind(&netlink_sys::SocketAddr::new(
            0,
            RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
        ))
        .map_err(netlink_error)?;
    tokio::spawn(connection);

    let dumper = {
        let shared = shared.clone();
        let new_neighbour = new_neighbour.clone();
        async move {
            loop {
                let mut dump = handle.neighbours().get().execute();
                let mut entries = Vec::new();
                loop {
                    match dump.try_next().await {
                        Ok(Some(m)) => entries.push(m),
                        Ok(None) => break,
                        Err(e) => {
                            log::warn!("reading the kernel's neighbour table: {e}");
                            break;
                        }
                    }
                }
                let now = now_unix();
                let mut new = false;
                shared.update(|v| {
                    for m in &entries {
                        new |= apply(v, m, now, true);
                    }
                });
                if new {
                    new_neighbour.notify_one();
                }
                tokio::time::sleep(DUMP_EVERY).await;
            }
        }
    };
    let dumper = tokio::spawn(dumper);

    while let Some((message, _)) = messages.next().await {
        let now = now_unix();
        match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(m)) => {
                let mut new = false;
                shared.update(|v| new = apply(v, &m, now, false));
                if new {
                    new_neighbour.notify_one();
                }
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(m)) => {
                if let Some(address) = address_of(&m) {
                    shared.update(|v| {
                        if let Some(n) = v.neighbours.iter_mut().find(|n| n.address == address) {
                            n.state = "gone".into();
                        }
                    });
                }
            }
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_),
            ) => address_changed.notify_one(),
            _ => {}
        }
    }
    dumper.abort();
    Err(netlink_error("the kernel closed the notification socket"))
}

fn address_of(m: &NeighbourMessage) -> Option<IpAddr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })
}

fn state_name(s: NeighbourState) -> Option<&'static str> {
    Some(match s {
        NeighbourState::Reachable => "reachable",
        NeighbourState::Stale => "stale",
        NeighbourState::Delay => "delay",
        NeighbourState::Probe => "probe",
        NeighbourState::Failed => "failed",
        // Incomplete: the box asked and nobody answered yet. Noarp and permanent: multicast,
        // loopback and hand-made entries, not devices.
        _ => return None,
    })
}

/// Record one neighbour-table entry; true if it is a device not seen before. `dumped`: from a
/// full read, whose cache ages say when the device was last heard from; a notification means now.
fn apply(view: &mut LanView, m: &NeighbourMessage, now: i64, dumped: bool) -> bool {
    let Some(address) = address_of(m) else {
        return false;
    };
    if address.is_loopback() || address.is_multicast() || address.is_unspecified() {
        return false;
    }
    let Some(state) = state_name(m.header.state) else {
        return false;
    };
    let mac = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLocalAddress(mac) if mac.len() == 6 => Some(mac.clone()),
        _ => None,
    });
    let mut seen = now;
    if dumped {
        if let Some(ci) = m.attributes.iter().find_map(|a| match a {
            NeighbourAttribute::CacheInfo(ci) => Some(ci),
            _ => None,
        }) {
            // The kernel's ages are in clock ticks (USER_HZ, 100 a second).
            seen = now - i64::from(ci.confirmed.min(ci.updated)) / 100;
        }
    }
    let interface = nix::net::if_::if_indextoname(m.header.ifindex)
        .ok()
        .and_then(|n| n.into_string().ok())
        .unwrap_or_else(|| format!("if{}", m.header.ifindex));
    match view.neighbours.iter_mut().find(|n| n.address == address) {
        Some(n) => {
            if let Some(mac) = &mac {
                n.mac = Some(format_mac(mac));
                n.randomized_mac = randomized(mac);
            }
            n.state = state.into();
            n.interface = interface;
            n.last_seen_unix = n.last_seen_unix.max(seen);
            false
        }
        None if state != "failed" => {
            view.neighbours.push(Neighbour {
                address,
                randomized_mac: mac.as_deref().is_some_and(randomized),
                mac: mac.as_deref().map(format_mac),
                interface,
                state: state.into(),
                first_seen_unix: seen,
                last_seen_unix: seen,
                names: Vec::new(),
                services: Vec::new(),
            });
            true
        }
        None => false,
    }
}

/// Browse the LAN's service types (the DNS-SD meta-query), then the instances of each, and note
/// which names and services each neighbour announces. A browse asks again at doubling intervals
/// (up to an hour), so the meta-query starts afresh when a new device appears on the LAN (a
/// moment later, once it had time to announce itself) and every few minutes.
pub async fn browse(
    daemon: ServiceDaemon,
    shared: Shared,
    new_neighbour: Arc<tokio::sync::Notify>,
) {
    const META: &str = "_services._dns-sd._udp.local.";
    let (tx, mut found) = tokio::sync::mpsc::channel::<ServiceEvent>(256);
    let mut types = HashSet::new();
    let every = Duration::from_secs(300);
    let mut again = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let meta = match daemon.browse(META) {
            Ok(rx) => rx,
            Err(e) => {
                log::warn!("browsing the LAN's services: {e}");
                return;
            }
        };
        let restart = loop {
            tokio::select! {
                event = meta.recv_async() => {
                    let Ok(event) = event else { break false };
                    log::trace!("meta browse: {event:?}");
                    let ServiceEvent::ServiceFound(_, ty) = event else { continue };
                    if types.len() >= MAX_TYPES || !types.insert(ty.clone()) {
                        continue;
                    }
                    match daemon.browse(&ty) {
                        Ok(rx) => {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                while let Ok(e) = rx.recv_async().await {
                                    if tx.send(e).await.is_err() {
                                        break;
                                    }
                                }
                            });
                        }
                        Err(e) => log::debug!("browsing {ty}: {e}"),
                    }
                }
                Some(event) = found.recv() => {
                    log::trace!("browse: {event:?}");
                    note(&shared, event)
                }
                _ = again.tick() => break true,
                _ = new_neighbour.notified() => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    break true;
                }
            }
        };
        log::debug!("meta browse: again (restart: {restart})");
        let _ = daemon.stop_browse(META);
        if !restart {
            return;
        }
    }
}

/// Whether `a` is on one of the box's links (a neighbour can only be there): IPv6 link-local,
/// or inside the subnet of one of the box's addresses.
fn on_link(a: IpAddr, subnets: &[(IpAddr, IpAddr)]) -> bool {
    if let IpAddr::V6(v6) = a {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return true;
        }
    }
    subnets.iter().any(|(net, mask)| match (a, net, mask) {
        (IpAddr::V4(a), IpAddr::V4(n), IpAddr::V4(m)) => {
            u32::from(a) & u32::from(*m) == u32::from(*n) & u32::from(*m)
        }
        (IpAddr::V6(a), IpAddr::V6(n), IpAddr::V6(m)) => {
            u128::from(a) & u128::from(*m) == u128::from(*n) & u128::from(*m)
        }
        _ => false,
    })
}

/// The box's (address, netmask) pairs.
fn subnets() -> Vec<(IpAddr, IpAddr)> {
    let mut out = Vec::new();
    if let Ok(ifs) = nix::ifaddrs::getifaddrs() {
        for i in ifs {
            let (Some(a), Some(m)) = (i.address, i.netmask) else {
                continue;
            };
            if let (Some(a), Some(m)) = (a.as_sockaddr_in(), m.as_sockaddr_in()) {
                out.push((IpAddr::V4(a.ip()), IpAddr::V4(m.ip())));
            } else if let (Some(a), Some(m)) = (a.as_sockaddr_in6(), m.as_sockaddr_in6()) {
                out.push((IpAddr::V6(a.ip()), IpAddr::V6(m.ip())));
            }
        }
    }
    out
}

fn note(shared: &Shared, event: ServiceEvent) {
    let own: HashSet<IpAddr> = crate::box_addresses().into_iter().collect();
    // Anyone on the LAN can announce anything: only addresses on the box's own links become
    // neighbours (a flood of made-up far-away hosts does not).
    let subnets = subnets();
    match event {
        ServiceEvent::ServiceResolved(s) => {
            let host = s.get_hostname().trim_end_matches('.').to_owned();
            let fullname = s.get_fullname().to_owned();
            let addresses: Vec<IpAddr> = s
                .get_addresses()
                .iter()
                .map(|a| a.to_ip_addr())
                .filter(|a| !a.is_loopback() && !a.is_unspecified() && !own.contains(a))
                .filter(|a| on_link(*a, &subnets))
                .collect();
            if addresses.is_empty() {
                return;
            }
            let now = now_unix();
            shared.update(|v| {
                for address in addresses {
                    let n = match v.neighbours.iter_mut().position(|n| n.address == address) {
                        Some(i) => &mut v.neighbours[i],
                        None => {
                            // Heard over multicast only: no MAC until it talks to the box.
                            v.neighbours.push(Neighbour {
                                address,
                                mac: None,
                                randomized_mac: false,
                                interface: String::new(),
                                state: "mdns".into(),
                                first_seen_unix: now,
                                last_seen_unix: now,
                                names: Vec::new(),
                                services: Vec::new(),
                            });
                            v.neighbours.last_mut().expect("just pushed")
                        }
                    };
                    n.last_seen_unix = n.last_seen_unix.max(now);
                    if !n.names.contains(&host) {
                        n.names.push(host.clone());
                        n.names.truncate(8);
                    }
                    if !n.services.contains(&fullname) {
                        n.services.push(fullname.clone());
                        n.services.truncate(32);
                    }
                }
            });
        }
        ServiceEvent::ServiceRemoved(_, fullname) => shared.update(|v| {
            for n in &mut v.neighbours {
                n.services.retain(|s| s != &fullname);
            }
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::on_link;

    #[test]
    fn only_addresses_on_the_box_links_are_neighbours() {
        let subnets = [
            (
                "10.0.0.5".parse().unwrap(),
                "255.255.255.0".parse().unwrap(),
            ),
            (
                "fd00::5".parse().unwrap(),
                "ffff:ffff:ffff:ffff::".parse().unwrap(),
            ),
        ];
        assert!(on_link("10.0.0.77".parse().unwrap(), &subnets));
        assert!(!on_link("10.0.1.77".parse().unwrap(), &subnets));
        assert!(on_link("fd00::99".parse().unwrap(), &subnets));
        assert!(!on_link("fd01::99".parse().unwrap(), &subnets));
        assert!(on_link("fe80::1234".parse().unwrap(), &subnets));
    }
}
