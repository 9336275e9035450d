//! `microcloud versions`, `trash`, `rollback`, `retention` and `guard`: nothing a tablet does is
//! final. A file's earlier contents, the deleted files of a user, putting a file or a folder back
//! as it was at a moment, how long versions are kept, and the ransomware guard's trips.

use microcloud_remotes::size::parse_size;
use microcloud_store::{OpenOptions, Policy, RollbackReport, Store, StoreError, UserId, Version};

use crate::{CliError, DataArg};
use indicatif::HumanBytes;

/// `microcloud versions USER PATH`.
#[derive(clap::Args)]
pub struct VersionsArgs {
    /// The user whose file it is.
    user: String,
    /// The file's path in the user's space, e.g. /notes/today.txt (it may be deleted now).
    path: String,
    #[command(flatten)]
    data: DataArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `microcloud trash USER [PATH]`.
#[derive(clap::Args)]
pub struct TrashArgs {
    /// The user whose deleted files to show.
    user: String,
    /// Only what was deleted at or below this path (a file, or a folder).
    path: Option<String>,
    #[command(flatten)]
    data: DataArg,
    /// Bring back PATH (a deleted file, or a deleted folder with everything it held) instead of
    /// listing.
    #[arg(long, requires = "path")]
    restore: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `microcloud rollback USER PATH --at TIME`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("when").required(true).args(["at", "version"]))]
#[command(disable_version_flag = true)]
pub struct RollbackArgs {
    /// The user whose space to roll back.
    user: String,
    /// A file or folder of the user ("/" for the whole space).
    path: String,
    /// The moment to go back to: RFC 3339 ("2026-12-01T09:30:00Z"), a local date and time
    /// ("2026-12-01 09:30"), or a time ago ("10 minutes ago", "2 days ago").
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Put back this version (an id from `microcloud versions`) instead.
    #[arg(long, value_name = "ID")]
    version: Option<i64>,
    #[command(flatten)]
    data: DataArg,
    /// Print JSON instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// `microcloud retention`.
#[derive(clap::Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    data: DataArg,
    /// Keep versions this many days after they were replaced (0 turns versions off).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=3650))]
    days: Option<u32>,
    /// Keep at most this much of versions per user, oldest removed first ("20G"; 0 for no cap).
    #[arg(long, value_name = "SIZE", value_parser = parse_cap)]
    user_cap: Option<u64>,
    /// The guard trips when one user changes more than this many files within its window.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    guard_files: Option<u32>,
    /// ... or more than this percentage of the user's files (0 turns this rule off).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(0..=100))]
    guard_percent: Option<u32>,
    /// The guard's window in minutes.
    #[arg(long, value_name = "MIN", value_parser = clap::value_parser!(u32).range(1..=1440))]
    guard_window: Option<u32>,
    /// Remove the versions past the retention now (the gateway does it every hour).
    #[arg(long)]
    expire: bool,
    /// With --expire: the moment to expire as of, instead of now (RFC 3339 or "in 31 days").
    #[arg(long, value_name = "TIME", requires = "expire")]
    now: Option<String>,
    /// Pin every version of USER (never expires) ...
    #[arg(long, value_name = "USER", conflicts_with = "unpin")]
    pin: Option<String>,
    /// ... or unpin them.
    #[arg(long, value_name = "USER")]
    unpin: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `microcloud guard`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("decision").args(["rollback", "keep"]))]
pub struct GuardArgs {
    #[command(flatten)]
    data: DataArg,
    /// Decide trip ID: put the user's whole space back as it was just before the burst (one
    /// transaction; what it replaces is kept as versions, so this can be undone too).
    #[arg(long, value_name = "ID")]
    rollback: Option<i64>,
    /// Decide trip ID: keep the files as they are, and let versions expire normally again.
    #[arg(long, value_name = "ID")]
    keep: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_cap(s: &str) -> Result<u64, String> {
    if s.trim() == "0" {
        return Ok(0);
    }
    parse_size(s).map_err(|e| e.to_string())
}

/// The store, with evicted content fetched back through the uplink's socket (a rollback makes
/// sure every content it restores can be had before it changes anything).
pub(crate) fn open(data: &DataArg) -> Result<Store, CliError> {
    let store = Store::open(&data.data, OpenOptions::default())?;
    store.set_fetcher(std::sync::Arc::new(
        microcloud_uplink_api::SocketFetcher::new(microcloud_uplink_api::Client::new(&data.data)),
    ));
    Ok(store)
}

pub(crate) fn user_id(store: &Store, name: &str) -> Result<UserId, CliError> {
    Ok(store
        .user(name)?
        .ok_or_else(|| StoreError::NoSuchUser {
            name: name.to_owned(),
        })?
        .id)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    crate::remote::runtime()
}

/// A moment (ns since the epoch) as RFC 3339 in UTC, to the second.
pub fn time(ns: i64) -> String {
    microcloud_store::versions::rfc3339(ns)
}

/// Reads a moment given on the command line: RFC 3339, a civil date and time in the box's time
/// zone, or a span before (or after) now.
pub fn parse_time(s: &str) -> Result<i64, CliError> {
    let s = s.trim();
    let bad = |why: &str| {
        CliError::Usage(format!(
            "{s:?} is not a time ({why}): give RFC 3339 (2026-12-01T09:30:00Z), a local date and time \
             (2026-12-01 09:30), or a time ago (10 minutes ago)"
        ))
    };
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_nanosecond() as i64);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        let z = dt
            .to_zoned(jiff::tz::TimeZone::system())
            .map_err(|e| bad(&e.to_string()))?;
        return Ok(z.timestamp().as_nanosecond() as i64);
    }
    // "10 minutes ago" parses as a negative span; "in 31 days" is written as "31 days".
    let span_text = s.strip_prefix("in ").unwrap_or(s);
    match span_text.parse::<jiff::Span>() {
        Ok(span) => {
            let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
            let at = now.checked_add(span).map_err(|e| bad(&e.to_string()))?;
            Ok(at.timestamp().as_nanosecond() as i64)
        }
        Err(_) => Err(bad("unrecognized")),
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialize")
    );
}

fn short(hex: &str) -> &str {
    &hex[..hex.len().min(12)]
}

/// One line per version.
fn table(versions: &[Version]) {
    println!(
        "{:>8}  {:<20}  {:<9}  {:>10}  {:<12}  {:<9}  DEVICE",
        "ID", "REPLACED", "BY", "SIZE", "BLAKE3", "WHERE"
    );
    for v in versions {
        println!(
            "{:>8}  {:<20}  {:<9}  {:>10}  {:<12}  {:<9}  {}{}",
            v.id,
            time(v.until_ns),
            v.kind.as_str(),
            HumanBytes(v.size).to_string(),
            short(&v.blake3),
            if v.local { "box" } else { "cloud" },
            v.device
                .as_deref()
                .map(microcloud_accounts::log_safe)
                .unwrap_or_else(|| "-".into()),
            if v.pinned { "  (pinned)" } else { "" }
        );
    }
}

pub fn versions(args: VersionsArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let user = user_id(&store, &args.user)?;
    let versions = store.versions(user, &args.path)?;
    let current = store.lookup(user, &args.path).ok().filter(|n| !n.is_dir);
    if versions.is_empty() && current.is_none() {
        return Err(StoreError::NeverExisted {
            path: args.path.clone(),
        }
        .into());
    }
    if args.json {
        #[derive(serde::Serialize)]
        struct Current {
            size: u64,
            blake3: Option<String>,
            mtime_ns: i64,
            device: Option<String>,
        }
        #[derive(serde::Serialize)]
        struct Out {
            user: String,
            path: String,
            current: Option<Current>,
            versions: Vec<Version>,
        }
        let device = match &current {
            Some(_) => store.writer_of(user, &args.path)?,
            None => None,
        };
        print_json(&Out {
            user: args.user,
            path: args.path,
            current: current.map(|n| Current {
                size: n.size,
                blake3: n.hash_hex(),
                mtime_ns: n.mtime_ns,
                device,
            }),
            versions,
        });
        return Ok(());
    }
    match &current {
        Some(n) => println!(
            "{} of {}: now {} (BLAKE3 {}), {} earlier version{}",
            args.path,
            args.user,
            HumanBytes(n.size),
            n.hash_hex().as_deref().map(short).unwrap_or("-"),
            versions.len(),
            if versions.len() == 1 { "" } else { "s" }
        ),
        None => println!(
            "{} of {}: deleted; {} version{} kept",
            args.path,
            args.user,
            versions.len(),
            if versions.len() == 1 { "" } else { "s" }
        ),
    }
    if !versions.is_empty() {
        table(&versions);
        println!(
            "put one back: microcloud rollback {} {} --version ID --data {}",
            args.user,
            args.path,
            args.data.data.display()
        );
    }
    Ok(())
}

pub fn trash(args: TrashArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let user = user_id(&store, &args.user)?;
    let path = args.path.clone().unwrap_or_default();
    if args.restore {
        let report = runtime()?.block_on(store.undelete(user, &path))?;
        return done(&report, args.json, &format!("brought back {path}"));
    }
    let items = store.trash(user, &path)?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Item<'a> {
            folder: &'a str,
            #[serde(flatten)]
            version: &'a Version,
        }
        let out: Vec<Item> = items
            .iter()
            .map(|v| Item {
                folder: v.path.rsplit_once('/').map(|(f, _)| f).unwrap_or(""),
                version: v,
            })
            .collect();
        print_json(&out);
        return Ok(());
    }
    if items.is_empty() {
        println!("the trash of {} is empty", args.user);
        return Ok(());
    }
    // Grouped by folder, so a deleted folder reads as one.
    let mut by_folder: std::collections::BTreeMap<&str, Vec<&Version>> = Default::default();
    for v in &items {
        let folder = v.path.rsplit_once('/').map(|(f, _)| f).unwrap_or("");
        by_folder.entry(folder).or_default().push(v);
    }
    for (folder, files) in by_folder {
        let bytes: u64 = files.iter().map(|v| v.size).sum();
        println!(
            "/{folder}: {} file{} ({})",
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            HumanBytes(bytes)
        );
        for v in files {
            println!(
                "  {}  deleted {}  {}",
                v.path.rsplit('/').next().unwrap_or(&v.path),
                time(v.until_ns),
                HumanBytes(v.size)
            );
        }
    }
    println!(
        "bring back a file or a folder: microcloud trash {} PATH --restore --data {}",
        args.user,
        args.data.data.display()
    );
    Ok(())
}

fn done(report: &RollbackReport, json: bool, what: &str) -> Result<(), CliError> {
    if json {
        print_json(report);
    } else {
        println!(
            "{what}: {} file{} restored, {} removed, {} unchanged{}",
            report.restored,
            if report.restored == 1 { "" } else { "s" },
            report.removed,
            report.unchanged,
            if report.folders_removed > 0 {
                format!(", {} empty folders removed", report.folders_removed)
            } else {
                String::new()
            }
        );
        println!("what this replaced is kept as versions: it can be undone the same way");
    }
    Ok(())
}

pub fn rollback(args: RollbackArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let user = user_id(&store, &args.user)?;
    let rt = runtime()?;
    if let Some(id) = args.version {
        let v = store.version(user, id)?;
        if microcloud_store::namespace::canonical(&args.path)? != v.path {
            return Err(CliError::Usage(format!(
                "version {id} is of /{}, not of {}",
                v.path, args.path
            )));
        }
        let report = rt.block_on(store.restore_version(user, id))?;
        return done(
            &report,
            args.json,
            &format!("put back version {id} of /{}", v.path),
        );
    }
    let at = parse_time(args.at.as_deref().unwrap_or_default())?;
    let report = rt.block_on(store.rollback(user, &args.path, at))?;
    done(
        &report,
        args.json,
        &format!(
            "{} of {} is as it was at {}",
            args.path,
            args.user,
            time(at)
        ),
    )
}

pub fn retention(args: RetentionArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    let rt = runtime()?;
    let mut policy = store.version_policy()?;
    let old = policy;
    if let Some(d) = args.days {
        policy.keep_days = d;
    }
    if let Some(c) = args.user_cap {
        policy.user_cap_bytes = c;
    }
    if let Some(n) = args.guard_files {
        policy.guard_files = n;
    }
    if let Some(p) = args.guard_percent {
        policy.guard_percent = p;
    }
    if let Some(m) = args.guard_window {
        policy.guard_window_s = m * 60;
    }
    if policy != old {
        rt.block_on(store.set_version_policy(policy))?;
    }
    for (name, pinned) in [(&args.pin, true), (&args.unpin, false)] {
        if let Some(name) = name {
            let user = user_id(&store, name)?;
            let n = rt.block_on(store.pin_versions(user, pinned))?;
            if !args.json {
                println!(
                    "{} {n} versions of {name}",
                    if pinned { "pinned" } else { "unpinned" }
                );
            }
        }
    }
    let expired = if args.expire {
        let now = match &args.now {
            Some(t) => parse_time(t)?,
            None => jiff::Timestamp::now().as_nanosecond() as i64,
        };
        Some(rt.block_on(store.expire_versions(now))?)
    } else {
        None
    };
    let space = store.version_space()?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Out {
            policy: Policy,
            space: microcloud_store::VersionSpace,
            expired: Option<microcloud_store::Expired>,
        }
        print_json(&Out {
            policy,
            space,
            expired,
        });
        return Ok(());
    }
    if let Some(e) = expired {
        println!(
            "expired {} versions, freeing {} on the box",
            e.versions,
            HumanBytes(e.bytes)
        );
    }
    if policy.keep_days == 0 {
        println!("versions: off (overwritten and deleted files are gone at once)");
    } else {
        println!(
            "versions: kept {} days{}",
            policy.keep_days,
            if policy.user_cap_bytes > 0 {
                format!(", at most {} per user", HumanBytes(policy.user_cap_bytes))
            } else {
                String::new()
            }
        );
    }
    println!(
        "guard:    trips at more than {} files{} changed by one user in {} minutes",
        policy.guard_files,
        if policy.guard_percent > 0 {
            format!(" or {}% of their files", policy.guard_percent)
        } else {
            String::new()
        },
        policy.guard_window_s / 60
    );
    println!(
        "kept:     {} versions ({} pinned), {} only versions use ({} on the box)",
        space.versions,
        space.pinned,
        HumanBytes(space.bytes),
        HumanBytes(space.local_bytes)
    );
    Ok(())
}

pub fn guard(args: GuardArgs) -> Result<(), CliError> {
    let store = open(&args.data)?;
    if let Some(id) = args.rollback.or(args.keep) {
        let roll_back = args.rollback.is_some();
        let report = runtime()?.block_on(store.resolve_guard(id, roll_back))?;
        return match report {
            Some(r) => done(&r, args.json, &format!("trip {id}: rolled back")),
            None => {
                if args.json {
                    print_json(&serde_json::json!({"trip": id, "resolution": "kept"}));
                } else {
                    println!("trip {id}: files kept as they are; versions expire normally again");
                }
                Ok(())
            }
        };
    }
    let trips = store.guard_trips()?;
    if args.json {
        print_json(&trips);
        return Ok(());
    }
    if trips.is_empty() {
        println!("the ransomware guard has not tripped");
    }
    for t in &trips {
        println!(
            "#{} {}{}: {} files changed (weighted) since {}, of {}; tripped {}{}",
            t.id,
            t.user,
            t.device
                .as_deref()
                .map(|d| format!(" ({})", microcloud_accounts::log_safe(d)))
                .unwrap_or_default(),
            t.changes,
            time(t.since_ns),
            t.files,
            time(t.tripped_ns),
            match (&t.resolution, t.resolved_ns) {
                (Some(r), Some(at)) => format!("; {r} at {}", time(at)),
                _ => format!(
                    "; OPEN: every version of {} is pinned.\n    roll back: microcloud guard --rollback {} --data {}\n    keep:      microcloud guard --keep {} --data {}",
                    t.user,
                    t.id,
                    args.data.data.display(),
                    t.id,
                    args.data.data.display()
                ),
            }
        );
    }
    Ok(())
}
