//! A real distributed Garage for tests: three nodes on 127.0.0.1, one zone each, replication
//! factor 3 (a write needs two of them, a read one), as one S3 endpoint (node 0's API: the other
//! nodes are the ones tests kill). Each node has its own configuration and data in a temporary
//! folder; the cluster shares a fresh RPC secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::garage::{free_ports, garage_bin, s3_answers, write_private, REGION};

const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

struct Node {
    dir: PathBuf,
    s3_port: u16,
    rpc_port: u16,
    child: Option<Child>,
}

/// Three Garage nodes in one cluster, killed when dropped.
pub struct GarageCluster {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    nodes: Vec<Node>,
    key_id: String,
    secret: String,
}

impl GarageCluster {
    /// Starts three nodes, connects them, applies a layout of three zones and makes a key.
    pub fn start() -> GarageCluster {
        let dir = tempfile::Builder::new()
            .prefix("garage-cluster-")
            .tempdir()
            .expect("temporary folder for garage");
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret[..]);
        let rpc_secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let mut c = GarageCluster {
            bin: garage_bin(),
            nodes: (0..3)
                .map(|i| {
                    let d = dir.path().join(format!("node{i}"));
                    std::fs::create_dir_all(&d).unwrap();
                    let [s3_port, rpc_port] = free_ports();
                    write_private(
                        &d.join("garage.toml"),
                        &format!(
                            r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "lmdb"
lmdb_map_size = "1G"
replication_factor = 3

rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"
"#,
                            d = d.display()
                        ),
                    );
                    Node {
                        dir: d,
                        s3_port,
                        rpc_port,
                        child: None,
                    }
                })
                .collect(),
            _dir: dir,
            key_id: String::new(),
            secret: String::new(),
        };
        for i in 0..3 {
            c.spawn(i);
        }
        for i in 0..3 {
            c.wait_cli(i);
        }
        let ids: Vec<String> = (0..3)
            .map(|i| {
                c.cli(i, &["node", "id", "-q"])
                    .trim()
                    .split('@')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for (id, node) in ids.iter().zip(&c.nodes).skip(1) {
            let peer = format!("{id}@127.0.0.1:{}", node.rpc_port);
            c.cli(0, &["node", "connect", &peer]);
        }
        for (i, id) in ids.iter().enumerate() {
            let zone = format!("dc{}", i + 1);
            c.cli(0, &["layout", "assign", "-z", &zone, "-c", "1G", id]);
        }
        c.cli(0, &["layout", "apply", "--version", "1"]);
        let key = c.cli(
            0,
            &["json-api", "CreateKey", r#"{"name":"microcloud-test"}"#],
        );
        let key: serde_json::Value = serde_json::from_str(&key).expect("CreateKey answers JSON");
        c.key_id = key["accessKeyId"].as_str().expect("accessKeyId").to_owned();
        c.secret = key["secretAccessKey"]
            .as_str()
            .expect("secretAccessKey")
            .to_owned();
        let deadline = Instant::now() + BOOT_TIMEOUT;
        while !s3_answers(c.s3_addr()) {
            assert!(
                Instant::now() < deadline,
                "the cluster's S3 API does not answer\n{}",
                c.log(0)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// The S3 endpoint (node 0), `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.nodes[0].s3_port)
    }

    /// The S3 API's address (node 0).
    pub fn s3_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.nodes[0].s3_port))
    }

    /// The region to sign requests for.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The access key id and secret of the key every bucket allows.
    pub fn credentials(&self) -> (String, String) {
        (self.key_id.clone(), self.secret.clone())
    }

    /// Creates bucket `name` and gives the key every right on it.
    pub fn create_bucket(&self, name: &str) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let out = self.try_cli(0, &["bucket", "create", name]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "garage bucket create {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.cli(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                name,
                "--key",
                &self.key_id,
            ],
        );
    }

    /// Kills node `i` (1 or 2: node 0 is the endpoint) with SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its folders and ports.
    pub fn revive(&mut self, i: usize) {
        self.spawn(i);
        self.wait_cli(i);
    }

    /// Node `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("garage.log")).unwrap_or_default()
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("garage.log"))
            .expect("garage log file");
        node.child = Some(
            Command::new(&self.bin)
                .arg("-c")
                .arg(node.dir.join("garage.toml"))
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display())),
        );
    }

    fn wait_cli(&mut self, i: usize) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        while !self.try_cli(i, &["status"]).status.success() {
            if let Some(status) = self.nodes[i].child.as_mut().unwrap().try_wait().unwrap() {
                panic!("garage node {i} exited: {status}\n{}", self.log(i));
            }
            assert!(
                Instant::now() < deadline,
                "garage node {i} does not answer\n{}",
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn cli(&self, i: usize, args: &[&str]) -> String {
        let out = self.try_cli(i, args);
        assert!(
            out.status.success(),
            "garage (node {i}) {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("garage prints UTF-8")
    }

    fn try_cli(&self, i: usize, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("-c")
            .arg(self.nodes[i].dir.join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }
}

impl Drop for GarageCluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}
