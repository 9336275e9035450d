//! `microcloud update`: system updates of the appliance from signed bundles, written to the slot
//! that is not running, with boot counting and automatic rollback (see `microcloud_update`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use microcloud_constants as constants;
use microcloud_update::{
    compare_versions, verify, BootFailure, Layout, Progress, PublicKey, Slot, SlotState, Status,
};

use crate::{CliError, DataArg};

/// `microcloud update ...`
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check an update bundle completely, writing nothing: its signature against the key this box
    /// trusts, the machine it is for, and every payload's size and SHA-256; then say what it
    /// holds and how it compares with the running system.
    Verify(VerifyArgs),
    /// Check a bundle (a file, or an http(s) URL to download first) and write it to the slot that
    /// is not running: its root partition, kernel and initramfs, then a boot entry with 3 tries,
    /// so that the box boots it at the next restart. Nothing is written unless the whole bundle
    /// checks out; the data partition is never touched. Reboot to run the new system: if it does
    /// not come up healthy in 3 tries, the box goes back to this one by itself.
    Apply(ApplyArgs),
    /// Each slot's system and state, which one runs, which one boots next, and any update that
    /// was rolled back, with why.
    Status(StatusArgs),
    /// Boot the other slot's system next (the one that ran before the last update), with 3 tries.
    Rollback(RollbackArgs),
    /// Wait until the gateway, the uplink and the discovery agent are up and answering (the boot
    /// is then healthy, and a new slot is kept). If they are not within --wait, record why on the
    /// data partition and fail; with --reboot-if-trial, reboot when this boot is a counted try of
    /// a new slot, so that its tries run out and the box goes back to the old one.
    Health(HealthArgs),
    /// Apply what the page asked for (`update/request.json` in the data directory: an uploaded
    /// bundle or a URL), reporting progress in `update/progress.json`. Run by
    /// microcloud-update.service.
    #[command(hide = true)]
    ApplyRequested(ApplyRequestedArgs),
}

/// Options of `microcloud update apply-requested`.
#[derive(clap::Args)]
pub struct ApplyRequestedArgs {
    #[command(flatten)]
    data: DataArg,
    /// The public key to trust (PEM, Ed25519).
    #[arg(long, value_name = "PEM", default_value = constants::UPDATE_KEY_FILE)]
    key: PathBuf,
    #[command(flatten)]
    slots: SlotArgs,
}

/// Where the slots are. The defaults are the appliance's; the options exist for tests.
#[derive(clap::Args, Clone)]
pub struct SlotArgs {
    /// The mounted EFI system partition.
    #[arg(long, value_name = "DIR", default_value = "/efi", hide = true)]
    esp: PathBuf,
    /// The directory of the partitions by GPT name.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/dev/disk/by-partlabel",
        hide = true
    )]
    partitions: PathBuf,
    /// The kernel command line of this boot (it names the booted slot).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/proc/cmdline",
        hide = true
    )]
    cmdline: PathBuf,
}

impl SlotArgs {
    fn layout(&self) -> Result<Layout, CliError> {
        // On the box, the appliance's own reading: it falls back to the boot loader's word where
        // a sandbox hides /proc/cmdline.
        if self.cmdline == Path::new("/proc/cmdline") {
            return Ok(Layout {
                esp: self.esp.clone(),
                partitions: self.partitions.clone(),
                ..Layout::system()?
            });
        }
        let cmdline = std::fs::read_to_string(&self.cmdline).map_err(|e| CliError::Io {
            what: self.cmdline.display().to_string(),
            source: e,
        })?;
        Ok(Layout {
            esp: self.esp.clone(),
            partitions: self.partitions.clone(),
            cmdline,
        })
    }
}

/// Options of `microcloud update apply`.
#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The bundle: a file, or an http:// or https:// URL.
    #[arg(value_name = "FILE|URL")]
    bundle: String,
    #[command(flatten)]
    data: DataArg,
    /// Install a bundle that is not newer than the running system.
    #[arg(long)]
    force: bool,
    /// The public key to trust (PEM, Ed25519). On the appliance, the one it was built with.
    #[arg(long, value_name = "PEM", default_value = constants::UPDATE_KEY_FILE)]
    key: PathBuf,
    /// The running system's version (default: the appliance's own).
    #[arg(long, value_name = "VERSION")]
    running: Option<String>,
    /// Print the result as one JSON object (and no progress).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    slots: SlotArgs,
}

/// Options of `microcloud update status`.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    data: DataArg,
    /// Print the status as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    slots: SlotArgs,
}

/// Options of `microcloud update rollback`.
#[derive(clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    slots: SlotArgs,
}

/// Options of `microcloud update health`.
#[derive(clap::Args)]
pub struct HealthArgs {
    #[command(flatten)]
    data: DataArg,
    /// How long to wait for the agents, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 90)]
    wait: u64,
    /// On failure, reboot if this boot is a counted try of a slot not yet found healthy.
    #[arg(long)]
    reboot_if_trial: bool,
    /// The systemd units that must be active (none: check only what answers).
    #[arg(
        long,
        value_name = "UNIT",
        value_delimiter = ',',
        default_value = "microcloud-gateway.service,microcloud-uplink.service,microcloud-discovery.service"
    )]
    units: Vec<String>,
    /// The running system's version, for the record (default: the appliance's own).
    #[arg(long, value_name = "VERSION")]
    running: Option<String>,
    #[command(flatten)]
    slots: SlotArgs,
}

/// Options of `microcloud update verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The bundle (`microcloud-VERSION.update`, made by image/build).
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// The public key to trust (PEM, Ed25519). On the appliance, the one it was built with.
    #[arg(long, value_name = "PEM", default_value = constants::UPDATE_KEY_FILE)]
    key: PathBuf,
    /// The running system's version to compare with (default: the appliance's own, when there).
    #[arg(long, value_name = "VERSION")]
    running: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Verify(a) => verify_bundle(a),
        Command::Apply(a) => apply(a),
        Command::Status(a) => status(a),
        Command::Rollback(a) => rollback(a),
        Command::Health(a) => health(a),
        Command::ApplyRequested(a) => apply_requested(a),
    }
}

/// The running system's version: the appliance's version file, when there.
fn running_version() -> Option<String> {
    std::fs::read_to_string(constants::SYSTEM_VERSION_FILE)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn verify_bundle(a: VerifyArgs) -> Result<(), CliError> {
    let key = PublicKey::from_file(&a.key)?;
    let v = verify(&a.bundle, &key)?;
    let m = &v.manifest;
    let running = a.running.or_else(running_version);
    let relation = running
        .as_deref()
        .map(|r| match compare_versions(&m.system_version, r) {
            std::cmp::Ordering::Greater => "newer",
            std::cmp::Ordering::Equal => "same",
            std::cmp::Ordering::Less => "older",
        });
    if a.json {
        let out = serde_json::json!({
            "bundle": a.bundle,
            "verified": true,
            "manifest": m,
            "running": running,
            "relation": relation,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{}: microcloud {} for {}, built {} from {}: signature and checksums good",
        a.bundle.display(),
        m.system_version,
        m.arch,
        m.built,
        m.commit
    );
    for (p, _) in &v.payloads {
        println!("  {:<14} {:>12} bytes  sha256 {}", p.name, p.size, p.sha256);
    }
    match (running, relation) {
        (Some(r), Some("older")) => {
            println!("it is older than the running system ({r}): applying it needs --force")
        }
        (Some(r), Some("same")) => println!("it is the running system's version ({r})"),
        (Some(r), _) => println!("it is newer than the running system ({r})"),
        (None, _) => {}
    }
    Ok(())
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> CliError {
    let what = what.to_string();
    move |source| CliError::Io { what, source }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn apply(a: ApplyArgs) -> Result<(), CliError> {
    let layout = a.slots.layout()?;
    let key = PublicKey::from_file(&a.key)?;
    let dir = &a.data.data;
    let downloaded = a.bundle.starts_with("http://") || a.bundle.starts_with("https://");
    let path = if downloaded {
        let dest = dir.join(constants::UPDATE_DOWNLOAD_FILE);
        download(&a.bundle, &dest, !a.json)?;
        dest
    } else {
        PathBuf::from(&a.bundle)
    };
    let running = a.running.clone().or_else(running_version);
    if !a.json {
        println!(
            "applying {} to slot {} (the running system, {}, is slot {} and stays as it is)",
            a.bundle,
            layout.booted().other(),
            running.as_deref().unwrap_or("of unknown version"),
            layout.booted()
        );
        if let Some(note) = unflushed_note(dir) {
            println!("{note}");
        }
    }
    let started = Instant::now();
    let mut last = (String::new(), 0u64);
    let show = !a.json;
    let mut eta = Eta::default();
    let mut progress = |p: Progress<'_>| {
        if !show {
            return;
        }
        let left = eta.left(&p);
        // One line per payload and per tenth of it: readable in a log and over ssh.
        let tenth = (p.done * 10).checked_div(p.total).unwrap_or(10);
        if last.0 != p.step || tenth > last.1 {
            if p.step.starts_with("writing") {
                let left = left.map_or(String::new(), |s| format!(", about {s} s left"));
                println!("  {} {} of {}{left}", p.step, mib(p.done), mib(p.total));
            } else if p.step == "verifying" {
                println!("  verifying the signature and every checksum before writing anything");
            }
            last = (p.step.to_owned(), tenth);
        }
    };
    let result = microcloud_update::apply(
        &layout,
        &path,
        &key,
        running.as_deref(),
        a.force,
        &mut progress,
    );
    if downloaded {
        let _ = std::fs::remove_file(&path);
    }
    let applied = result?;
    let secs = started.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&applied).expect("serializes");
        v["seconds"] = serde_json::json!(secs);
        println!("{v}");
        return Ok(());
    }
    println!(
        "slot {} now holds microcloud {} ({} written in {secs:.1} s) and boots next, with {} tries.",
        applied.slot,
        applied.version,
        mib(applied.bytes_written),
        microcloud_update::TRIES
    );
    println!(
        "Reboot to run it (`systemctl reboot`). If it is not healthy within its tries, the box \
         comes back to {} by itself; `microcloud update status` says what happened.",
        running.as_deref().unwrap_or("this system")
    );
    Ok(())
}

/// A note for an owner updating while files wait for the cloud: allowed, since the update does
/// not touch the data partition, but worth knowing.
fn unflushed_note(dir: &Path) -> Option<String> {
    let stats = microcloud_store::Store::inspect(dir).ok()?;
    (stats.dirty_bytes > 0).then(|| {
        format!(
            "note: {} of files are not yet in the cloud. The update does not touch them (the data \
             partition is never written by an update); the uplink goes on after the reboot.",
            mib(stats.dirty_bytes)
        )
    })
}

/// Downloads a bundle to `dest` (on the data partition: the root is read-only and /tmp is
/// memory). Bounded: no bundle is larger than two root slots.
fn download(url: &str, dest: &Path, show: bool) -> Result<(), CliError> {
    const MAX: u64 = 1 << 30;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent.display()))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("tokio runtime"))?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| CliError::Usage(format!("{url}: {e}")))?;
        let mut resp = client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| CliError::Usage(format!("could not download {url}: {e}")))?;
        let mut file = std::fs::File::create(dest).map_err(io(dest.display()))?;
        let mut got = 0u64;
        let mut shown = 0u64;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| CliError::Usage(format!("downloading {url}: {e}")))?
        {
            got += chunk.len() as u64;
            if got > MAX {
                drop(file);
                let _ = std::fs::remove_file(dest);
                return Err(CliError::Usage(format!(
                    "{url}: larger than {}; not an update bundle",
                    mib(MAX)
                )));
            }
            file.write_all(&chunk).map_err(io(dest.display()))?;
            if show && got >= shown + (8 << 20) {
                println!("  downloaded {}", mib(got));
                shown = got;
            }
        }
        file.sync_all().map_err(io(dest.display()))?;
        if show {
            println!("  downloaded {} from {url}", mib(got));
        }
        Ok(())
    })
}

fn read_status(slots: &SlotArgs, dir: &Path) -> Result<Status, CliError> {
    let failures = microcloud_update::read_failures(&dir.join(constants::BOOT_FAILURES_FILE));
    Ok(microcloud_update::status(&slots.layout()?, &failures)?)
}

fn status(a: StatusArgs) -> Result<(), CliError> {
    let s = read_status(&a.slots, &a.data.data)?;
    let running = running_version();
    if a.json {
        let mut v = serde_json::to_value(&s).expect("serializes");
        v["running_version"] = serde_json::json!(running);
        println!("{v}");
        return Ok(());
    }
    println!(
        "running: microcloud {} from slot {}",
        running.as_deref().unwrap_or("(unknown version)"),
        s.booted
    );
    for slot in &s.slots {
        let state = match slot.state {
            SlotState::Empty => "empty".to_owned(),
            SlotState::Good => "good".to_owned(),
            SlotState::Trying {
                tries_left,
                tries_done,
            } => format!("new, not yet found healthy ({tries_left} tries left, {tries_done} done)"),
            SlotState::Bad { tries_done } => {
                format!("failed: not healthy in {tries_done} tries; passed over at boot")
            }
        };
        println!(
            "slot {}: {}{}{}",
            slot.slot,
            slot.version
                .as_deref()
                .map(|v| format!("microcloud {v}, "))
                .unwrap_or_default(),
            state,
            if slot.booted { " (running)" } else { "" }
        );
    }
    match s.next {
        Some(n) => println!("next boot: slot {n}"),
        None => println!("next boot: no slot has a boot entry (the ESP is not mounted at /efi?)"),
    }
    if let Some(rb) = &s.rolled_back {
        println!(
            "rolled back: the update to {} (slot {}) did not come up healthy in {} tries; the box went back to slot {}",
            rb.version, rb.slot, rb.tries, s.booted
        );
        match rb.reasons.first() {
            Some(r) => println!("  why (last try): {r}"),
            None => println!("  why: no try got as far as the health check (the kernel or early boot failed, or it hung)"),
        }
    }
    Ok(())
}

fn rollback(a: RollbackArgs) -> Result<(), CliError> {
    let layout = a.slots.layout()?;
    let e = microcloud_update::rollback(&layout)?;
    println!(
        "slot {} (microcloud {}) boots next, with {} tries; reboot to run it (`systemctl reboot`)",
        e.slot,
        e.version,
        microcloud_update::TRIES
    );
    Ok(())
}

/// What is wrong with the agents now; empty when all are up and answering. `fatal` is set when
/// waiting longer cannot help (a unit failed for good or keeps restarting).
fn check_agents(dir: &Path, units: &[String], fatal: &mut bool) -> Vec<String> {
    let mut problems = Vec::new();
    for unit in units.iter().filter(|u| !u.is_empty()) {
        let out = std::process::Command::new("systemctl")
            .args([
                "show",
                unit,
                "-p",
                "ActiveState",
                "-p",
                "NRestarts",
                "-p",
                "Result",
            ])
            .output();
        let text = match out {
            Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
            Err(e) => {
                problems.push(format!("systemctl: {e}"));
                *fatal = true;
                continue;
            }
        };
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .unwrap_or("")
                .to_owned()
        };
        let (state, restarts, result) = (field("ActiveState"), field("NRestarts"), field("Result"));
        if state != "active" {
            problems.push(format!(
                "{unit} is {state} (result {result}, restarted {restarts} times)"
            ));
        } else if restarts.parse::<u32>().unwrap_or(0) >= 3 {
            problems.push(format!("{unit} restarted {restarts} times"));
        }
        if state == "failed" || restarts.parse::<u32>().unwrap_or(0) >= 3 {
            *fatal = true;
        }
    }
    let gw = crate::status::gateway_state(dir);
    match gw.url.as_deref().filter(|_| gw.running) {
        None => problems.push("the gateway is not running (no lock on its data directory)".into()),
        Some(url) => {
            if let Err(e) = http_answers(url) {
                problems.push(format!("the gateway does not answer at {url}: {e}"));
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let uplink = match rt {
        Ok(rt) => rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                microcloud_uplink_api::Client::new(dir).status(),
            )
            .await
        }),
        Err(e) => {
            problems.push(format!("tokio runtime: {e}"));
            return problems;
        }
    };
    match uplink {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => problems.push(format!("the uplink does not answer on its socket: {e}")),
        Err(_) => problems.push("the uplink did not answer on its socket within 5 s".into()),
    }
    problems
}

/// Whether an HTTP server answers a GET at `url` (`http://host:port`) within 5 s.
fn http_answers(url: &str) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let authority = url
        .strip_prefix("http://")
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or("");
    let mut addr = authority
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    let t = Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&addr, t).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(t)).map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head.starts_with(b"HTTP/1.") {
        Ok(())
    } else {
        Err("not an HTTP answer".into())
    }
}

fn health(a: HealthArgs) -> Result<(), CliError> {
    let dir = &a.data.data;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.wait);
    let problems = loop {
        let mut fatal = false;
        let problems = check_agents(dir, &a.units, &mut fatal);
        if problems.is_empty() {
            println!(
                "healthy after {:.1} s: the gateway, the uplink and the discovery agent answer",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if fatal || Instant::now() >= deadline {
            break problems;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let reason = problems.join("; ");
    let layout = a.slots.layout();
    let slot = layout.as_ref().map_or(Slot::A, Layout::booted);
    let trial = layout
        .as_ref()
        .ok()
        .and_then(|l| microcloud_update::is_trial(l).ok())
        .unwrap_or(false);
    let version = a
        .running
        .clone()
        .or_else(running_version)
        .unwrap_or_default();
    let failure = BootFailure {
        slot,
        version: version.clone(),
        at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        reason: reason.clone(),
    };
    if let Err(e) =
        microcloud_update::record_failure(&dir.join(constants::BOOT_FAILURES_FILE), &failure)
    {
        eprintln!("microcloud: could not record the failure: {e}");
    }
    eprintln!(
        "microcloud: not healthy after {:.0} s (slot {slot}, {version}): {reason}",
        started.elapsed().as_secs_f64()
    );
    if trial && a.reboot_if_trial {
        eprintln!("microcloud: this boot was a try of slot {slot}: rebooting, so that the box goes back to the last good system once its tries run out");
        let status = std::process::Command::new("systemctl")
            .args(["reboot", "--no-block"])
            .status();
        if let Err(e) = status {
            eprintln!("microcloud: systemctl reboot: {e}");
        }
    }
    Err(CliError::Usage(format!("not healthy: {reason}")))
}

/// How long the step under way still takes, from its pace so far: said once it has run long
/// enough for the pace to mean something.
#[derive(Default)]
struct Eta {
    step: String,
    since: Option<Instant>,
}

impl Eta {
    fn left(&mut self, p: &Progress<'_>) -> Option<u64> {
        if self.step != p.step {
            self.step = p.step.to_owned();
            self.since = Some(Instant::now());
        }
        let spent = self.since?.elapsed().as_secs_f64();
        if spent < 1.0 || p.done == 0 || p.done >= p.total {
            return None;
        }
        Some((spent * (p.total - p.done) as f64 / p.done as f64).ceil() as u64)
    }
}

/// Writes the page's view of the apply (small; replaced whole, so the page never reads half).
/// Durably: after a power cut the page must read the state the apply had reached ("writing",
/// which it reports as interrupted), not an older one ("done" of an earlier update), which a
/// write still in the page cache would leave behind.
fn write_progress(dir: &Path, v: &serde_json::Value) {
    let path = dir.join(constants::UPDATE_PROGRESS_FILE);
    if let Err(e) = microcloud_store::write_file_durably(&path, v.to_string().as_bytes(), 0o660) {
        eprintln!("microcloud update: {}: {e}", path.display());
    }
}

/// The page's "go back": the other slot, if it holds a good system, boots next (with tries, so a
/// slot that no longer starts is passed over again).
fn rollback_requested(a: &ApplyRequestedArgs, dir: &Path) -> Result<(), CliError> {
    let result = a
        .slots
        .layout()
        .and_then(|layout| Ok(microcloud_update::rollback(&layout)?));
    match result {
        Ok(e) => {
            let message = format!(
                "microcloud {} (slot {}) starts at the next restart",
                e.version, e.slot
            );
            println!("{message}");
            write_progress(
                dir,
                &serde_json::json!({"state": "done", "rollback": true, "version": e.version,
                    "slot": e.slot, "message": message}),
            );
            Ok(())
        }
        Err(e) => {
            write_progress(
                dir,
                &serde_json::json!({"state": "failed", "rollback": true, "message": e.to_string()}),
            );
            Err(e)
        }
    }
}

fn apply_requested(a: ApplyRequestedArgs) -> Result<(), CliError> {
    let dir = a.data.data.clone();
    let request_path = dir.join(constants::UPDATE_REQUEST_FILE);
    let request: serde_json::Value = std::fs::read(&request_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{}: no update was asked for",
                request_path.display()
            ))
        })?;
    // Taken once: a crash from here on does not apply it again at the next start.
    let _ = std::fs::remove_file(&request_path);
    if request["rollback"].as_bool() == Some(true) {
        return rollback_requested(&a, &dir);
    }
    let force = request["force"].as_bool().unwrap_or(false);
    let inbox = dir.join(constants::UPDATE_INBOX_FILE);
    let started = Instant::now();
    let result = (|| -> Result<microcloud_update::Applied, CliError> {
        let path = match request["url"].as_str() {
            Some(url) => {
                write_progress(
                    &dir,
                    &serde_json::json!({"state": "downloading", "message": format!("downloading {url}")}),
                );
                let dest = dir.join(constants::UPDATE_DOWNLOAD_FILE);
                download(url, &dest, false)?;
                dest
            }
            None => inbox.clone(),
        };
        let layout = a.slots.layout()?;
        let key = PublicKey::from_file(&a.key)?;
        let running = running_version();
        let mut last = Instant::now() - Duration::from_secs(1);
        let mut eta = Eta::default();
        let mut progress = |p: Progress<'_>| {
            let left = eta.left(&p);
            if last.elapsed() < Duration::from_millis(250) && p.done < p.total {
                return;
            }
            last = Instant::now();
            let state = if p.step == "verifying" {
                "verifying"
            } else {
                "writing"
            };
            write_progress(
                &dir,
                &serde_json::json!({"state": state, "step": p.step, "done": p.done, "total": p.total,
                    "seconds_left": left}),
            );
        };
        let r = microcloud_update::apply(
            &layout,
            &path,
            &key,
            running.as_deref(),
            force,
            &mut progress,
        );
        if path != inbox {
            let _ = std::fs::remove_file(&path);
        }
        Ok(r?)
    })();
    let _ = std::fs::remove_file(&inbox);
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(applied) => {
            let message = format!(
                "microcloud {} is in slot {} and starts at the next restart ({} tries)",
                applied.version,
                applied.slot,
                microcloud_update::TRIES
            );
            println!("{message} ({secs:.1} s)");
            write_progress(
                &dir,
                &serde_json::json!({"state": "done", "version": applied.version, "slot": applied.slot,
                    "seconds": secs, "message": message}),
            );
            Ok(())
        }
        Err(e) => {
            write_progress(
                &dir,
                &serde_json::json!({"state": "failed", "message": e.to_string(), "seconds": secs}),
            );
            Err(e)
        }
    }
}
