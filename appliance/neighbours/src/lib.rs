//! What the box sees of its LAN, as the discovery agent records it in `DATA/discovery/lan.json`:
//! the names and addresses it announces over mDNS, and its neighbours (from the kernel's neighbour
//! table and what they announce themselves). The agent writes the file; the command line and the
//! page read it and match neighbours to paired devices by address. The agent gets no access to
//! the catalog, so the matching is the reader's.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The agent's own folder in the data directory (the only part of it the agent may write).
pub const DIR: &str = microcloud_constants::DISCOVERY_DIR;
/// The file in [`DIR`].
pub const FILE: &str = "lan.json";
/// At most this many neighbours are kept (the ones seen longest ago go first), so that a LAN
/// full of short-lived addresses (randomized MACs, privacy IPv6 addresses) cannot grow the file
/// without bound.
pub const MAX_NEIGHBOURS: usize = 1024;
/// A neighbour heard from within this many seconds counts as online.
pub const ONLINE_SECS: i64 = 180;

/// Errors reading or writing the LAN view.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a LAN view the discovery agent wrote: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Everything the agent knows, written as one file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LanView {
    /// When the agent last wrote the file (seconds since the epoch).
    pub updated_unix: i64,
    /// The process id of the agent that wrote it (to tell a stale file from a running agent).
    pub pid: u32,
    pub announced: Announced,
    pub neighbours: Vec<Neighbour>,
}

/// What the box announces over mDNS.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Announced {
    /// The instance name of its DNS-SD services (the box's name).
    pub instance: String,
    /// The host name it answers, e.g. `microcloud-ab12.local` (another if a second box on the LAN
    /// had that name first).
    pub host: String,
    /// The addresses it announces for that name.
    pub addresses: Vec<IpAddr>,
    /// The DNS-SD service types it announces, e.g. `_webdavs._tcp`.
    pub services: Vec<String>,
}

/// One neighbour on the LAN.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Neighbour {
    pub address: IpAddr,
    /// The link-layer address, as `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    /// A locally administered MAC: most tablets make up one per network ("private Wi-Fi
    /// address"), so it identifies the tablet on this LAN but not the hardware.
    pub randomized_mac: bool,
    /// The interface of the box it was seen on.
    pub interface: String,
    /// The kernel's word for the entry (reachable, stale, delay, probe, failed, gone).
    pub state: String,
    pub first_seen_unix: i64,
    pub last_seen_unix: i64,
    /// Host names it announces over mDNS (e.g. `Annas-iPad.local`).
    #[serde(default)]
    pub names: Vec<String>,
    /// DNS-SD service instances it announces (e.g. `Anna's iPad._companion-link._tcp.local.`).
    #[serde(default)]
    pub services: Vec<String>,
}

impl Neighbour {
    /// Heard from within [`ONLINE_SECS`] of `now`.
    pub fn online(&self, now_unix: i64) -> bool {
        self.state != "gone"
            && self.state != "failed"
            && now_unix - self.last_seen_unix <= ONLINE_SECS
    }
}

impl LanView {
    /// The neighbour with this address (an IPv4 address written as IPv4-mapped IPv6 matches too).
    pub fn neighbour(&self, address: IpAddr) -> Option<&Neighbour> {
        let address = address.to_canonical();
        self.neighbours.iter().find(|n| n.address == address)
    }

    /// Keep at most [`MAX_NEIGHBOURS`]: those the kernel saw (with a MAC) before those only
    /// heard of over mDNS (anyone can claim any number of those), then the most recently seen.
    pub fn bound(&mut self) {
        if self.neighbours.len() > MAX_NEIGHBOURS {
            self.neighbours
                .sort_by_key(|n| (n.mac.is_none(), std::cmp::Reverse(n.last_seen_unix)));
            self.neighbours.truncate(MAX_NEIGHBOURS);
        }
        self.neighbours.sort_by_key(|n| n.address);
    }
}

/// Whether a MAC address is locally administered (the second-lowest bit of the first octet).
pub fn randomized(mac: &[u8]) -> bool {
    mac.first().is_some_and(|b| b & 0x02 != 0)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Where the LAN view of the box with data directory `data` lives.
pub fn path(data: &Path) -> PathBuf {
    data.join(DIR).join(FILE)
}

/// The LAN view, or `None` when no discovery agent has written one.
pub fn load(data: &Path) -> Result<Option<LanView>, LanError> {
    let path = path(data);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| LanError::Format { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LanError::Io { path, source }),
    }
}

/// Replace the LAN view at once (a reader sees the old file or the new one, never half of one).
/// Not fsynced: the view is rebuilt from the kernel and the LAN within seconds of any restart.
pub fn save(data: &Path, view: &LanView) -> Result<(), LanError> {
    let path = path(data);
    let tmp = path.with_extension("json.tmp");
    let io = |source| LanError::Io {
        path: path.clone(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(view).expect("LAN view serializes");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// A paired device as the catalog knows it, for matching with what the LAN shows.
#[derive(Clone, Debug)]
pub struct Paired {
    pub user: String,
    pub name: String,
    /// The address of its last request.
    pub last_address: Option<String>,
    /// The time of its last request.
    pub last_seen_unix: Option<i64>,
}

/// Paired devices with whether they are online, and the other devices on the LAN.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Overview {
    /// Whether a discovery agent has written a LAN view at all.
    pub watching: bool,
    /// What the box announces (empty when no agent runs).
    pub announced: Announced,
    pub paired: Vec<PairedStatus>,
    /// Devices on the LAN that are not paired, one per MAC (or per address where the MAC is not
    /// known), most recently seen first.
    pub others: Vec<Other>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PairedStatus {
    pub user: String,
    pub name: String,
    pub online: bool,
    pub last_seen_unix: Option<i64>,
    pub address: Option<String>,
    pub mac: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Other {
    pub mac: Option<String>,
    pub randomized_mac: bool,
    pub addresses: Vec<IpAddr>,
    pub names: Vec<String>,
    pub services: Vec<String>,
    pub first_seen_unix: i64,
    pub last_seen_unix: i64,
    pub online: bool,
}

/// Match the LAN view with the paired devices: a device is the neighbour at the address of its
/// last request (and every other address with that neighbour's MAC).
pub fn overview(view: Option<&LanView>, paired: &[Paired], now_unix: i64) -> Overview {
    let empty = LanView::default();
    let v = view.unwrap_or(&empty);
    let mut claimed_macs: Vec<String> = Vec::new();
    let mut claimed_addresses: Vec<IpAddr> = Vec::new();
    let paired = paired
        .iter()
        .map(|p| {
            let address: Option<IpAddr> = p
                .last_address
                .as_deref()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .map(|a| a.to_canonical());
            let n = address.and_then(|a| v.neighbour(a));
            if let Some(a) = address {
                claimed_addresses.push(a);
            }
            if let Some(mac) = n.and_then(|n| n.mac.clone()) {
                claimed_macs.push(mac);
            }
            let heard = n
                .map(|n| n.last_seen_unix)
                .into_iter()
                .chain(p.last_seen_unix)
                .max();
            PairedStatus {
                user: p.user.clone(),
                name: p.name.clone(),
                online: n.is_some_and(|n| n.online(now_unix))
                    || p.last_seen_unix
                        .is_some_and(|t| now_unix - t <= ONLINE_SECS),
                last_seen_unix: heard,
                address: p.last_address.clone(),
                mac: n.and_then(|n| n.mac.clone()),
            }
        })
        .collect();
    let mut others: Vec<Other> = Vec::new();
    for n in &v.neighbours {
        if claimed_addresses.contains(&n.address)
            || n.mac.as_ref().is_some_and(|m| claimed_macs.contains(m))
            || v.announced.addresses.contains(&n.address)
        {
            continue;
        }
        // One device has several addresses (v4, v6, link-local): the same MAC, or where the MAC
        // is not known (heard over mDNS only), the same announced name.
        let same = others.iter_mut().find(|o| {
            (n.mac.is_some() && o.mac == n.mac)
                || ((n.mac.is_none() || o.mac.is_none())
                    && n.names.iter().any(|name| o.names.contains(name)))
        });
        match same {
            Some(o) => {
                o.addresses.push(n.address);
                if o.mac.is_none() {
                    o.mac.clone_from(&n.mac);
                    o.randomized_mac = n.randomized_mac;
                }
                for name in &n.names {
                    if !o.names.contains(name) {
                        o.names.push(name.clone());
                    }
                }
                for s in &n.services {
                    if !o.services.contains(s) {
                        o.services.push(s.clone());
                    }
                }
                o.first_seen_unix = o.first_seen_unix.min(n.first_seen_unix);
                o.last_seen_unix = o.last_seen_unix.max(n.last_seen_unix);
                o.online |= n.online(now_unix);
            }
            None => others.push(Other {
                mac: n.mac.clone(),
                randomized_mac: n.randomized_mac,
                addresses: vec![n.address],
                names: n.names.clone(),
                services: n.services.clone(),
                first_seen_unix: n.first_seen_unix,
                last_seen_unix: n.last_seen_unix,
                online: n.online(now_unix),
            }),
        }
    }
    others.sort_by_key(|o| std::cmp::Reverse(o.last_seen_unix));
    Overview {
        watching: view.is_some(),
        announced: v.announced.clone(),
        paired,
        others,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour(address: &str, last_seen_unix: i64) -> Neighbour {
        Neighbour {
            address: address.parse().unwrap(),
            mac: Some("02:00:00:00:00:01".into()),
            randomized_mac: true,
            interface: "eth0".into(),
            state: "reachable".into(),
            first_seen_unix: 1,
            last_seen_unix,
            names: vec![],
            services: vec![],
        }
    }

    #[test]
    fn round_trip_and_mapped_lookup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let view = LanView {
            updated_unix: 5,
            pid: 7,
            announced: Announced::default(),
            neighbours: vec![neighbour("10.0.0.9", 100)],
        };
        save(dir.path(), &view).unwrap();
        let back = load(dir.path()).unwrap().unwrap();
        assert_eq!(back, view);
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(back.neighbour(mapped).unwrap().last_seen_unix, 100);
        assert!(back.neighbour("10.0.0.8".parse().unwrap()).is_none());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR)).unwrap();
        std::fs::write(path(dir.path()), b"{not json").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("lan.json"), "{e}");
    }

    #[test]
    fn bounded_keeps_the_most_recent() {
        let mut view = LanView::default();
        for i in 0..(MAX_NEIGHBOURS + 10) {
            view.neighbours.push(neighbour(
                &format!("10.1.{}.{}", i / 250, i % 250),
                i as i64,
            ));
        }
        // A flood of names announced over mDNS (no MAC), all newer: the real ones stay.
        for i in 0..2000 {
            let mut n = neighbour(&format!("10.2.{}.{}", i / 250, i % 250), 1_000_000);
            n.mac = None;
            view.neighbours.push(n);
        }
        view.bound();
        assert_eq!(view.neighbours.len(), MAX_NEIGHBOURS);
        assert!(view.neighbours.iter().all(|n| n.mac.is_some()));
        assert!(view.neighbours.iter().all(|n| n.last_seen_unix >= 10));
    }

    #[test]
    fn paired_devices_are_matched_by_their_last_address_and_mac() {
        let mut tablet_v6 = neighbour("fd00::9", 990);
        tablet_v6.mac = Some("02:00:00:00:00:01".into());
        let mut other = neighbour("10.0.0.20", 500);
        other.mac = Some("00:1b:21:00:00:02".into());
        other.randomized_mac = false;
        let view = LanView {
            neighbours: vec![neighbour("10.0.0.9", 995), tablet_v6, other],
            ..LanView::default()
        };
        let paired = [
            Paired {
                user: "anna".into(),
                name: "iPad".into(),
                last_address: Some("::ffff:10.0.0.9".into()),
                last_seen_unix: Some(100),
            },
            Paired {
                user: "anna".into(),
                name: "old phone".into(),
                last_address: None,
                last_seen_unix: None,
            },
        ];
        let o = overview(Some(&view), &paired, 1000);
        assert!(o.watching);
        assert!(o.paired[0].online);
        assert_eq!(o.paired[0].last_seen_unix, Some(995));
        assert_eq!(o.paired[0].mac.as_deref(), Some("02:00:00:00:00:01"));
        assert!(!o.paired[1].online);
        // The tablet's IPv6 address shares its MAC: it is the tablet, not another device.
        assert_eq!(o.others.len(), 1);
        assert_eq!(
            o.others[0].addresses,
            vec!["10.0.0.20".parse::<IpAddr>().unwrap()]
        );
        assert!(!o.others[0].online, "last heard 500 s ago");
        assert!(!overview(None, &paired, 1000).watching);
    }

    #[test]
    fn locally_administered_macs() {
        assert!(randomized(&[0x02, 0, 0, 0, 0, 1]));
        assert!(randomized(&[0xda, 0xa1, 0, 0, 0, 1]));
        assert!(!randomized(&[0x00, 0x1b, 0x21, 0, 0, 1]));
        assert_eq!(format_mac(&[0xde, 0xad, 0, 1, 2, 3]), "de:ad:00:01:02:03");
    }
}
