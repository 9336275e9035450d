//! The box's names and services on mDNS, through one mdns-sd daemon.

use std::time::Duration;

use mdns_sd::{DaemonEvent, ServiceDaemon, ServiceInfo, UnregisterStatus};

use crate::{DiscoveryError, Shared};

/// What the box serves, and so announces.
#[derive(Clone, Debug)]
pub struct Services {
    /// The HTTPS port: the page (`_https._tcp`, path=/) and WebDAV (`_webdavs._tcp`, path=/dav/).
    pub https_port: u16,
    /// The plain-http port that redirects to HTTPS (`_http._tcp`), if any.
    pub http_port: Option<u16>,
    /// The ssh port of the maintenance shell (`_ssh._tcp`), if any.
    pub ssh_port: Option<u16>,
    /// The model announced in `_device-info._tcp`.
    pub model: String,
}

/// One DNS-SD service: its type, port and TXT properties.
type Record = (&'static str, u16, Vec<(&'static str, String)>);

impl Services {
    /// Every service announced.
    fn records(&self) -> Vec<Record> {
        let mut r = vec![
            (
                "_https._tcp",
                self.https_port,
                vec![("path", "/".to_owned())],
            ),
            (
                "_webdavs._tcp",
                self.https_port,
                vec![("path", "/dav/".to_owned())],
            ),
        ];
        if let Some(p) = self.http_port {
            r.push(("_http._tcp", p, vec![("path", "/".to_owned())]));
        }
        if let Some(p) = self.ssh_port {
            r.push(("_ssh._tcp", p, vec![]));
        }
        // Port 0: it describes the host, it is not a service to connect to (as Apple's are).
        r.push(("_device-info._tcp", 0, vec![("model", self.model.clone())]));
        r
    }
}

pub struct Responder {
    daemon: ServiceDaemon,
    services: Services,
    shared: Shared,
    name: String,
    /// The full names registered now (withdrawn with goodbyes on a rename and at the end).
    registered: Vec<String>,
}

impl Responder {
    pub fn start(services: Services, shared: Shared) -> Result<Self, DiscoveryError> {
        let daemon = ServiceDaemon::new()?;
        // New interfaces and addresses are noticed within a second (and at once through the
        // kernel's address events, which ask for a refresh).
        daemon.set_ip_check_interval(1)?;
        // Keep what devices announce unasked (a tablet joining the LAN announces its services
        // once): a later browse of that type is answered from the cache, where otherwise the
        // known-answer suppression of the query would leave it unanswered.
        daemon.accept_unsolicited(true)?;
        let monitor = daemon.monitor()?;
        let s = shared.clone();
        tokio::spawn(async move {
            let mut told = std::collections::HashSet::new();
            while let Ok(event) = monitor.recv_async().await {
                match event {
                    DaemonEvent::NameChange(c) => {
                        // Reported once per interface and address family: log each change once.
                        if !told.insert((c.original.clone(), c.new_name.clone())) {
                            continue;
                        }
                        log::warn!(
                            "the name {} is taken on the LAN (interface {}): answering as {} instead",
                            c.original,
                            c.intf_name,
                            c.new_name
                        );
                        s.update(|v| {
                            let new = c.new_name.trim_end_matches('.').to_owned();
                            if c.rr_type == mdns_sd::RRType::A || c.rr_type == mdns_sd::RRType::AAAA
                            {
                                v.announced.host = new;
                            } else if let Some(instance) = new.split("._").next() {
                                v.announced.instance = instance.to_owned();
                            }
                        });
                    }
                    DaemonEvent::Error(e) => log::warn!("mDNS: {e}"),
                    DaemonEvent::IpAdd(_) | DaemonEvent::IpDel(_) => {
                        s.update(|v| v.announced.addresses = crate::box_addresses());
                    }
                    _ => {}
                }
            }
        });
        Ok(Self {
            daemon,
            services,
            shared,
            name: String::new(),
            registered: Vec::new(),
        })
    }

    pub fn daemon(&self) -> ServiceDaemon {
        self.daemon.clone()
    }

    /// Announce `<name>.local` and every service under the instance name `name`.
    pub fn announce(&mut self, name: &str) -> Result<(), DiscoveryError> {
        self.name = name.to_owned();
        self.registered.clear();
        let host = format!("{name}.local.");
        let mut types = Vec::new();
        for (ty, port, txt) in self.services.records() {
            let info = ServiceInfo::new(&format!("{ty}.local."), name, &host, (), port, &txt[..])?
                .enable_addr_auto();
            self.registered.push(info.get_fullname().to_owned());
            self.daemon.register(info)?;
            types.push(ty.to_owned());
        }
        self.shared.update(|v| {
            v.announced.instance = name.to_owned();
            v.announced.host = format!("{name}.local");
            v.announced.addresses = crate::box_addresses();
            v.announced.services = types;
        });
        Ok(())
    }

    /// Announce again (new addresses).
    pub fn refresh(&mut self) -> Result<(), DiscoveryError> {
        let name = self.name.clone();
        self.announce(&name)
    }

    /// Withdraw every service with goodbyes (TTL 0): all at once, waiting up to a second in all.
    pub async fn withdraw(&mut self) {
        let mut pending = Vec::new();
        for fullname in std::mem::take(&mut self.registered) {
            match self.daemon.unregister(&fullname) {
                Ok(rx) => pending.push((fullname, rx)),
                Err(e) => log::warn!("withdrawing {fullname}: {e}"),
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        for (fullname, rx) in pending {
            match tokio::time::timeout_at(deadline, rx.recv_async()).await {
                Ok(Ok(UnregisterStatus::OK)) => {}
                other => log::warn!("withdrawing {fullname}: {other:?}"),
            }
        }
    }

    /// Withdraw everything and stop the daemon.
    pub async fn stop(mut self) {
        self.withdraw().await;
        if let Ok(rx) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(1), rx.recv_async()).await;
        }
        log::info!("stopped: goodbyes sent for {}.local", self.name);
    }
}
