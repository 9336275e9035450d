//! The discovery agent on a LAN of network namespaces made by each test (a bridge, the box, a
//! tablet, a second box), seen by an independent mDNS client (python-zeroconf) from the tablet:
//! it finds the box's WebDAV service with its path and port, resolves the box's name to its IPv4
//! and IPv6 addresses, follows a rename, hears the goodbye when the agent stops; two boxes with
//! one name end with two; and a tablet that talks to the box is listed with its MAC.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use microcloud_tests::lan::{can_make_namespaces, Host, Lan};
use microcloud_tests::{add_user, bin, microcloud};
use serde_json::Value;

const HTTPS_PORT: &str = "8443";

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("mdns/client.py")
}

/// Debian's python3 with python3-zeroconf (ci/install-deps installs it), never a pyenv one.
const PYTHON: &str = "/usr/bin/python3";

/// The discovery agent in `host`'s namespace, in a UTS namespace of its own called `name`
/// (so that a test can rename the box).
struct Agent {
    child: Child,
    data: PathBuf,
}

impl Agent {
    fn start(host: &Host, name: &str, data: &Path) -> Agent {
        let log = std::fs::File::create(data.with_extension("log")).unwrap();
        let child = host
            .ns
            .command("unshare")
            .args([
                "--uts",
                "sh",
                "-c",
                &format!("hostname {name} && exec \"$0\" \"$@\""),
            ])
            .arg(bin())
            .args(["discovery", "--https-port", HTTPS_PORT, "--data"])
            .arg(data)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Agent {
            child,
            data: data.to_owned(),
        }
    }

    /// Rename the box, as hostnamed does for the page.
    fn rename(&self, name: &str) {
        let st = Command::new("nsenter")
            .args([
                "--target",
                &self.child.id().to_string(),
                "--uts",
                "hostname",
                name,
            ])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM, as systemd stops it; the agent must exit cleanly.
    fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let st = self.child.wait().unwrap();
        assert!(st.success(), "the agent exited with {st}: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default()
    }

    /// Waits (10 s at most) until the agent has written its LAN view.
    fn wait_announced(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.announced_host().is_none() {
            assert!(Instant::now() < deadline, "no LAN view: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The LAN view's announced host name, once the agent wrote it.
    fn announced_host(&self) -> Option<String> {
        let v: Value =
            serde_json::from_slice(&std::fs::read(self.data.join("discovery/lan.json")).ok()?)
                .ok()?;
        v["announced"]["host"].as_str().map(str::to_owned)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The independent mDNS client browsing one service type, its events as JSON lines.
struct Browser {
    child: Child,
    events: mpsc::Receiver<Value>,
}

impl Browser {
    fn start(host: &Host, service_type: &str) -> Browser {
        let mut child = host
            .ns
            .command(PYTHON)
            .arg(client_script())
            .args(["browse", service_type])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with zeroconf (ci/install-deps installs python3-zeroconf)");
        let (tx, events) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let b = Browser { child, events };
        b.wait("the browser to start", Duration::from_secs(20), |e| {
            e["event"] == "ready"
        });
        b
    }

    /// The first event matching `f` within `timeout`, or a panic naming `what`.
    fn wait(&self, what: &str, timeout: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if f(&e) => return e,
                Ok(_) => {}
                Err(_) => panic!("waited {timeout:?} for {what}: nothing came"),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `name`'s A and AAAA addresses, asked over mDNS from `host`.
fn resolve(host: &Host, name: &str) -> Vec<String> {
    let out = host
        .ns
        .command(PYTHON)
        .arg(client_script())
        .args(["resolve", name, "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn added(e: &Value, instance: &str) -> bool {
    e["event"] == "added" && e["name"] == format!("{instance}._webdavs._tcp.local.")
}

#[test]
fn a_tablet_finds_the_box_resolves_its_name_follows_a_rename_and_hears_the_goodbye() {
    if !can_make_namespaces("discovery") {
        return;
    }
    let mut lan = Lan::new("disc");
    lan.add_host("box");
    lan.add_host("tab");
    let (boxh, tab) = (&lan.hosts[0], &lan.hosts[1]);
    let tmp = tempfile::tempdir().unwrap();
    let browser = Browser::start(tab, "_webdavs._tcp.local.");

    let agent = Agent::start(boxh, "mc-box-one", &tmp.path().join("data"));
    let e = browser.wait("the box's WebDAV service", Duration::from_secs(10), |e| {
        added(e, "mc-box-one")
    });
    assert_eq!(e["resolved"], true, "{e}");
    assert_eq!(e["server"], "mc-box-one.local.", "{e}");
    assert_eq!(e["port"].to_string(), HTTPS_PORT, "{e}");
    assert_eq!(e["txt"]["path"], "/dav/", "{e}");
    // The tablet's resolver returns as soon as it has one address (A and AAAA answers may come
    // in separate packets), so the service's addresses are checked through the name below,
    // which must resolve to both.
    let addresses = e["addresses"].to_string();
    assert!(
        addresses.contains(&format!("\"{}\"", boxh.v4))
            || addresses.contains(&format!("\"{}\"", boxh.v6)),
        "{e}"
    );

    let resolved = resolve(tab, "mc-box-one.local");
    assert!(resolved.contains(&boxh.v4), "{resolved:?}");
    assert!(resolved.contains(&boxh.v6), "{resolved:?}");

    // Renamed (as the page does through hostnamed): the new name is announced within 3 s.
    let renamed_at = now();
    agent.rename("mc-box-renamed");
    let e = browser.wait("the renamed box", Duration::from_secs(10), |e| {
        added(e, "mc-box-renamed")
    });
    let took = e["t"].as_f64().unwrap() - renamed_at;
    println!("the rename was announced {took:.2} s after it");
    assert!(took < 3.0, "the rename took {took:.2} s to be announced");
    assert_eq!(e["server"], "mc-box-renamed.local.", "{e}");
    let renamed = resolve(tab, "mc-box-renamed.local");
    assert!(renamed.contains(&boxh.v4), "{renamed:?}");

    // Stopped: the goodbye reaches the tablet within 2 s.
    let stopped_at = now();
    agent.stop();
    let e = browser.wait("the goodbye", Duration::from_secs(10), |e| {
        e["event"] == "removed" && e["name"] == "mc-box-renamed._webdavs._tcp.local."
    });
    let took = e["t"].as_f64().unwrap() - stopped_at;
    println!("the goodbye was heard {took:.3} s after the stop");
    assert!(took < 2.0, "the goodbye took {took:.2} s");
}

#[test]
fn two_boxes_with_one_name_on_one_lan_end_with_two_names() {
    if !can_make_namespaces("discovery") {
        return;
    }
    let mut lan = Lan::new("twin");
    lan.add_host("box1");
    lan.add_host("box2");
    lan.add_host("tab");
    let tmp = tempfile::tempdir().unwrap();
    let browser = Browser::start(&lan.hosts[2], "_webdavs._tcp.local.");
    let first = Agent::start(&lan.hosts[0], "mc-twin", &tmp.path().join("one"));
    browser.wait("the first box", Duration::from_secs(10), |e| {
        added(e, "mc-twin")
    });
    // The second box is plugged in with the same name: it must take another.
    let second = Agent::start(&lan.hosts[1], "mc-twin", &tmp.path().join("two"));
    let e = browser.wait(
        "the second box under another name",
        Duration::from_secs(15),
        |e| e["event"] == "added" && e["name"] != "mc-twin._webdavs._tcp.local.",
    );
    let server = e["server"]
        .as_str()
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    assert_ne!(server, "mc-twin.local", "{e}");
    assert!(e["addresses"].to_string().contains(&lan.hosts[1].v4), "{e}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while second.announced_host().as_deref() != Some(server.as_str()) {
        assert!(
            Instant::now() < deadline,
            "the second box's LAN view: {:?}",
            second.announced_host()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each name resolves to its own box only.
    let one = resolve(&lan.hosts[2], "mc-twin.local");
    let two = resolve(&lan.hosts[2], &server);
    assert!(
        one.contains(&lan.hosts[0].v4) && !one.contains(&lan.hosts[1].v4),
        "{one:?}"
    );
    assert!(
        two.contains(&lan.hosts[1].v4) && !two.contains(&lan.hosts[0].v4),
        "{two:?}"
    );
    assert_eq!(first.announced_host().as_deref(), Some("mc-twin.local"));
    assert!(
        second.log().contains("is taken on the LAN"),
        "{}",
        second.log()
    );
}

fn devices_json(data: &Path) -> Value {
    serde_json::from_str(&microcloud(
        &["devices", "--json", "--data", data.to_str().unwrap()],
        "",
    ))
    .unwrap()
}

#[test]
fn a_tablet_that_talks_to_the_box_is_listed_with_its_mac_and_the_names_it_announces() {
    if !can_make_namespaces("discovery") {
        return;
    }
    let mut lan = Lan::new("nbr");
    lan.add_host("box");
    lan.add_host("tab");
    let (boxh, tab) = (&lan.hosts[0], &lan.hosts[1]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let agent = Agent::start(boxh, "mc-nbr", &data);
    agent.wait_announced();
    let mac = tab.mac();
    let listed = |v: &Value| {
        v["others"].as_array().unwrap().iter().any(|o| {
            o["mac"] == mac.as_str()
                && o["addresses"]
                    .to_string()
                    .contains(&format!("\"{}\"", tab.v4))
        })
    };
    assert!(
        !listed(&devices_json(&data)),
        "listed before it sent anything"
    );

    // One packet from the tablet to the box.
    send_one_packet(tab, boxh);
    let sent = Instant::now();
    loop {
        let v = devices_json(&data);
        if listed(&v) {
            let o = v["others"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["mac"] == mac.as_str())
                .unwrap()
                .clone();
            assert_eq!(o["online"], true, "{o}");
            assert_eq!(o["randomized_mac"], mac_is_local(&mac), "{o}");
            break;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "never listed: {v:#}\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = sent.elapsed();
    println!("the tablet was listed {took:?} after its packet");
    assert!(took < Duration::from_secs(1), "listed only after {took:?}");

    // The tablet announces itself over mDNS: its name joins its entry.
    let mut announcer = tab
        .ns
        .command(PYTHON)
        .arg(client_script())
        .args([
            "announce",
            "Annas iPad",
            "_companion-link._tcp.local.",
            "annas-ipad.local",
            &tab.v4,
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let named = loop {
        let v = devices_json(&data);
        let o = v["others"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["mac"] == mac.as_str())
            .cloned();
        if let Some(o) = o.filter(|o| o["names"].to_string().contains("annas-ipad.local")) {
            break o;
        }
        if Instant::now() > deadline {
            let _ = announcer.kill();
            panic!("the tablet's name never came: {v:#}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = announcer.kill();
    let _ = announcer.wait();
    assert!(
        named["services"]
            .to_string()
            .contains("_companion-link._tcp"),
        "{named}"
    );
    // The text view says the same, for a person at the console.
    let text = microcloud(&["devices", "--data", data.to_str().unwrap()], "");
    assert!(text.contains(&mac) && text.contains(&tab.v4), "{text}");
    assert!(text.contains("mc-nbr.local"), "{text}");
    agent.stop();
}

/// One UDP datagram from `from` to `to` (the discard port): the least a tablet does.
fn send_one_packet(from: &Host, to: &Host) {
    let st = from
        .ns
        .command("bash")
        .args(["-c", &format!("echo hello > /dev/udp/{}/9", to.v4)])
        .status()
        .unwrap();
    assert!(st.success());
}

fn mac_is_local(mac: &str) -> bool {
    u8::from_str_radix(&mac[..2], 16).unwrap() & 2 != 0
}

/// A device on the LAN multicasts thousands of made-up services, each with a host and an address
/// of its own (on the LAN's IPv6 prefix, so they pass the on-link check), unasked: the agent keeps
/// answering, its LAN view stays bounded, and the real tablet it saw stays in it.
#[test]
fn a_flood_of_made_up_announcements_leaves_the_agent_answering_and_bounded() {
    if !can_make_namespaces("discovery") {
        return;
    }
    let mut lan = Lan::new("flood");
    lan.add_host("box");
    lan.add_host("tab");
    lan.add_host("bad");
    let (boxh, tab, bad) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let mut agent = Agent::start(boxh, "mc-flood", &data);
    agent.wait_announced();
    // The real tablet talks to the box first.
    send_one_packet(tab, boxh);
    let rss = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = rss(agent.child.id());

    let prefix = format!("{}::", tab.v6.trim_end_matches("::2"));
    let out = bad
        .ns
        .command(PYTHON)
        .arg(client_script())
        .args(["flood", "5000", &prefix])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "the agent died: {}",
        agent.log()
    );
    let after = rss(agent.child.id());
    println!("agent memory: {before} KiB before the flood of 5000 instances, {after} KiB after");

    // Still answering: a tablet that starts browsing now finds the box.
    let browser = Browser::start(tab, "_webdavs._tcp.local.");
    browser.wait("the box after the flood", Duration::from_secs(15), |e| {
        added(e, "mc-flood")
    });
    // Bounded, and the real tablet (seen by the kernel, with its MAC) is still there.
    let v = devices_json(&data);
    let others = v["others"].as_array().unwrap();
    let neighbours = std::fs::read_to_string(data.join("discovery/lan.json"))
        .unwrap()
        .matches("\"address\"")
        .count();
    println!("LAN view after the flood: {neighbours} neighbours");
    assert!(neighbours <= 1024, "{neighbours} neighbours kept");
    let mac = tab.mac();
    assert!(
        others.iter().any(|o| o["mac"] == mac.as_str()),
        "the real tablet was pushed out of the LAN view"
    );
    agent.stop();
}
