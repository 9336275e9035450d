//! A LAN of network namespaces made by a test: a bridge in a namespace of its own, and hosts (the
//! box, tablets, a second box) each in a namespace with one veth port on it, with an IPv4 and an
//! IPv6 address. Removed when dropped. Needs root (the tests skip with a message without it).

use std::process::{Command, Stdio};

/// Runs `ip ARGS`, panicking with its error.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2; ci/install-deps installs it)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of the test's own, removed when dropped.
pub struct Netns(pub String);

impl Netns {
    /// A new namespace with its loopback up.
    pub fn new(name: String) -> Netns {
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// A command run in this namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether this test may make network namespaces; prints why it skips when not.
pub fn can_make_namespaces(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("{test}: skipped: needs root for network namespaces");
        return false;
    }
    true
}

/// One host on a [`Lan`].
pub struct Host {
    pub ns: Netns,
    pub v4: String,
    pub v6: String,
}

impl Host {
    /// The MAC address of the host's port on the LAN.
    pub fn mac(&self) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.ns.0, "-j", "link", "show", "eth0"])
            .output()
            .unwrap();
        let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        links[0]["address"].as_str().unwrap().to_owned()
    }
}

/// A bridge and the hosts plugged into it.
pub struct Lan {
    // Hosts first: their namespaces go before the bridge's.
    pub hosts: Vec<Host>,
    bridge: Netns,
    /// The second octet of the LAN's IPv4 addresses (10.X.0.N), distinct per test process and LAN.
    net: u8,
}

impl Lan {
    /// A LAN named `tag` (unique among the test's LANs).
    pub fn new(tag: &str) -> Lan {
        static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
        let net = 100 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 100;
        let bridge = Netns::new(format!("mc-{tag}-{}-br", std::process::id()));
        // Multicast (mDNS) floods to every port: no snooping that would wait for a querier.
        ip(&[
            "-n",
            &bridge.0,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &bridge.0, "link", "set", "br0", "up"]);
        Lan {
            hosts: Vec::new(),
            bridge,
            net,
        }
    }

    /// Plug a new host in; it gets 10.X.0.N/24 and fdX::N/64 (N counts from 1).
    pub fn add_host(&mut self, name: &str) -> &Host {
        let n = self.hosts.len() + 1;
        let ns = Netns::new(format!("{}-{name}", self.bridge.0.trim_end_matches("-br")));
        // IPv6 addresses usable at once (no duplicate address detection on a LAN the test owns).
        let st = ns
            .command("sysctl")
            .args([
                "-qw",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ])
            .status()
            .unwrap();
        assert!(st.success(), "sysctl in {}", ns.0);
        let port = format!("p{n}");
        ip(&[
            "-n",
            &ns.0,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            &port,
            "netns",
            &self.bridge.0,
        ]);
        ip(&[
            "-n",
            &self.bridge.0,
            "link",
            "set",
            &port,
            "master",
            "br0",
            "up",
        ]);
        let v4 = format!("10.{}.0.{n}", self.net);
        let v6 = format!("fd{:02x}::{n}", self.net);
        ip(&[
            "-n",
            &ns.0,
            "addr",
            "add",
            &format!("{v4}/24"),
            "dev",
            "eth0",
        ]);
        ip(&[
            "-n",
            &ns.0,
            "addr",
            "add",
            &format!("{v6}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ip(&["-n", &ns.0, "link", "set", "eth0", "up"]);
        self.hosts.push(Host { ns, v4, v6 });
        self.hosts.last().unwrap()
    }
}
