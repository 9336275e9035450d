//! scalebench: makes a box of a given namespace for `ci/bench-scale` (issue 16's scale figures).
//!
//! `populate` writes a catalog of FILES files into an empty data directory the way a restore
//! does (the uplink's own restore path, from a manifest made here instead of one read from a
//! bucket): USERS users, each with ten top folders ("Documents", "Photos", ...) and FOLDERS /
//! USERS folders below them, FILES / FOLDERS files in each. Every file has a hash of its own and
//! SIZE bytes; its content is recorded as held by the destination (an S3 bucket given by
//! `--endpoint` and `--bucket`, credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY),
//! as after a restore, so the uplink has nothing to upload and the box is what a box holding that
//! many files in the cloud is. The objects themselves are not written: reading such a file would
//! fail, and the benchmark never reads one. Writing a million objects to a local Garage would
//! take the better part of an hour on two cores, and the catalog is what is measured.
//!
//! Prints one JSON object: files, directories and users made, and the seconds taken.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use microcloud_destination::{Credentials, RemoteConfig, RemoteKind};
use microcloud_store::{OpenOptions, Store};
use microcloud_uplink::manifest::{
    Manifest, ManifestDir, ManifestFile, ManifestUser, MANIFEST_VERSION,
};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The top folders of every user.
const TOPS: [&str; 10] = [
    "Documents",
    "Photos",
    "Music",
    "Projects",
    "Notes",
    "Scans",
    "School",
    "Video",
    "Drawings",
    "Archive",
];

#[derive(Parser)]
#[command(
    about = "Make a box of a given namespace (as a restore makes it) for the scale benchmark"
)]
enum Args {
    /// Write FILES files in FOLDERS folders of USERS users into an empty data directory.
    Populate(PopulateArgs),
}

#[derive(clap::Args)]
struct PopulateArgs {
    /// The data directory (empty, or not there yet).
    #[arg(long)]
    data: PathBuf,
    /// Files in all.
    #[arg(long, default_value_t = 1_000_000)]
    files: u64,
    /// Users.
    #[arg(long, default_value_t = 20)]
    users: u64,
    /// Folders in all (below the users' ten top folders).
    #[arg(long, default_value_t = 10_000)]
    folders: u64,
    /// Bytes per file (recorded, not written).
    #[arg(long, default_value_t = 4096)]
    size: u64,
    /// The destination's name on the box.
    #[arg(long, default_value = "cloud")]
    name: String,
    /// S3 endpoint URL of the destination.
    #[arg(long)]
    endpoint: String,
    /// Its bucket.
    #[arg(long)]
    bucket: String,
    /// Its region.
    #[arg(long, default_value = "garage")]
    region: String,
}

fn main() {
    let Args::Populate(a) = Args::parse();
    match populate(a) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("scalebench: {e}");
            std::process::exit(1);
        }
    }
}

fn populate(a: PopulateArgs) -> Res<serde_json::Value> {
    if a.users == 0 || a.folders < a.users || a.files < a.folders {
        return Err("need users >= 1, folders >= users and files >= folders".into());
    }
    if a.data.join(microcloud_constants::CATALOG_FILE).exists() {
        return Err(format!("{} already holds a catalog", a.data.display()).into());
    }
    let creds = Credentials {
        access_key_id: std::env::var("AWS_ACCESS_KEY_ID")
            .map_err(|_| "AWS_ACCESS_KEY_ID is not set")?,
        secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY")
            .map_err(|_| "AWS_SECRET_ACCESS_KEY is not set")?,
    };
    let config = RemoteConfig {
        name: a.name.clone(),
        kind: RemoteKind::S3 {
            endpoint: a.endpoint.clone(),
            region: a.region.clone(),
            bucket: a.bucket.clone(),
            prefix: String::new(),
            path_style: true,
            ca_pem: None,
        },
    };
    let manifest = namespace(&a);
    let (files, dirs) = (manifest.files.len(), manifest.dirs.len());
    let started = Instant::now();
    let store = Store::open(
        &a.data,
        OpenOptions {
            create: true,
            ..Default::default()
        },
    )?;
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(async {
        let dest = microcloud_uplink::destinations::add(&store, config, Some(creds), false).await?;
        microcloud_uplink::manifest::restore_manifest(&store, &dest, manifest).await
    })?;
    if report.files != files as u64 {
        return Err(format!("{} of {files} files were written", report.files).into());
    }
    Ok(json!({
        "files": files,
        "dirs": dirs,
        "users": a.users,
        "seconds": started.elapsed().as_secs_f64(),
        "phases": report.phases.iter().map(|(name, s)| json!({"phase": name, "seconds": s})).collect::<Vec<_>>(),
    }))
}

/// The namespace: users `user01`.., their top folders, `FOLDERS / USERS` folders each spread
/// over the tops, and the files spread evenly over those folders.
fn namespace(a: &PopulateArgs) -> Manifest {
    let users: Vec<String> = (1..=a.users).map(|u| format!("user{u:02}")).collect();
    let mut dirs = Vec::new();
    let mut folders = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for top in TOPS {
            dirs.push(ManifestDir {
                user: user.clone(),
                path: top.to_owned(),
            });
        }
        let mine = a.folders / a.users + u64::from((u as u64) < a.folders % a.users);
        for j in 0..mine {
            let path = format!("{}/folder-{j:04}", TOPS[j as usize % TOPS.len()]);
            dirs.push(ManifestDir {
                user: user.clone(),
                path: path.clone(),
            });
            folders.push((user.clone(), path));
        }
    }
    let mtime_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    let mut files = Vec::with_capacity(a.files as usize);
    for i in 0..a.files {
        let (user, folder) = &folders[(i % folders.len() as u64) as usize];
        let path = format!("{folder}/file-{:05}.dat", i / folders.len() as u64);
        let key = format!("{user}/{path}");
        files.push(ManifestFile {
            user: user.clone(),
            blake3: blake3::hash(key.as_bytes()).to_hex().to_string(),
            path,
            key,
            size: a.size,
            mtime_ns,
            etag: None,
        });
    }
    Manifest {
        format: "microcloud-manifest".into(),
        version: MANIFEST_VERSION,
        users: users
            .into_iter()
            .enumerate()
            .map(|(i, name)| ManifestUser {
                name,
                admin: i == 0,
            })
            .collect(),
        dirs,
        files,
        versions: Vec::new(),
        generation: None,
    }
}
