//! A real Garage (S3-compatible object store) for tests: one node on 127.0.0.1 with its own
//! configuration and data in a temporary folder, a fresh RPC secret, the layout applied and one
//! access key created. Tests stop, restart, freeze and thaw it to make outages.
//!
//! The binary is `$GARAGE_BIN`, else `garage` on the PATH, else `~/.cargo/bin/garage`
//! (`ci/install-deps` installs it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Region Garage is configured with (`s3_region`).
pub const REGION: &str = "garage";

/// How long Garage may take to start answering (it opens its database, then joins itself).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// A running single-node Garage, killed when dropped.
pub struct Garage {
    dir: tempfile::TempDir,
    bin: PathBuf,
    s3_port: u16,
    child: Option<Child>,
    key_id: String,
    secret: String,
}

impl Garage {
    /// Starts a fresh Garage and waits until its S3 API answers with a layout and a key in place.
    pub fn start() -> Garage {
        let bin = garage_bin();
        let dir = tempfile::Builder::new()
            .prefix("garage-test-")
            .tempdir()
            .expect("temporary folder for garage");
        let mut garage = Garage {
            dir,
            bin,
            s3_port: 0,
            child: None,
            key_id: String::new(),
            secret: String::new(),
        };
        // Free ports are picked by binding port 0 and closing again, so another process may take
        // one before Garage binds it: start again on new ports if Garage exits at boot.
        for attempt in 1..=3 {
            garage.write_config();
            garage.spawn();
            // The S3 API may answer 503 until a layout exists: only its port must be open yet.
            match garage.wait_ready(false) {
                Ok(()) => break,
                Err(why) if attempt < 3 => {
                    eprintln!("garage did not start ({why}); trying other ports");
                    garage.stop();
                }
                Err(why) => panic!("garage did not start: {why}\n{}", garage.log_tail()),
            }
        }
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().expect("node id").to_owned();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        let key = garage.cli(&["json-api", "CreateKey", r#"{"name":"microcloud-test"}"#]);
        let key: serde_json::Value = serde_json::from_str(&key).expect("CreateKey answers JSON");
        garage.key_id = key["accessKeyId"].as_str().expect("accessKeyId").to_owned();
        garage.secret = key["secretAccessKey"]
            .as_str()
            .expect("secretAccessKey")
            .to_owned();
        if let Err(why) = garage.wait_ready(true) {
            panic!(
                "garage's S3 API does not answer: {why}\n{}",
                garage.log_tail()
            );
        }
        garage
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The S3 API's address.
    pub fn s3_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.s3_port))
    }

    /// The region to sign requests for.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The access key id and secret of the key every bucket allows.
    pub fn credentials(&self) -> (String, String) {
        (self.key_id.clone(), self.secret.clone())
    }

    /// `microcloud restore` of bucket `bucket` into the blank data directory `fresh` (the
    /// destination is named after the bucket there); its output, after checking that it succeeded.
    pub fn restore(&self, bucket: &str, fresh: &std::path::Path) -> String {
        let creds = self.credentials();
        let out = std::process::Command::new(crate::bin())
            .args([
                "restore",
                "--data",
                fresh.to_str().unwrap(),
                "--from",
                bucket,
            ])
            .args(["--endpoint", &self.endpoint(), "--region", self.region()])
            .args(["--bucket", bucket, "--path-style"])
            .env("AWS_ACCESS_KEY_ID", &creds.0)
            .env("AWS_SECRET_ACCESS_KEY", &creds.1)
            .output()
            .expect("run microcloud restore");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "restore: {text}");
        text
    }

    /// Creates bucket `name` and gives the test key read, write and owner rights on it.
    pub fn create_bucket(&self, name: &str) {
        // Right after the layout is applied Garage may still refuse writes for a moment.
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let out = self.try_cli(&["bucket", "create", name]);
            if out.status.success() {
                break;
            }
            let err = String::from_utf8_lossy(&out.stderr);
            // A refused request (a bad name, a taken one) will not succeed later.
            let refused = err.contains("(400)") || err.contains("(409)");
            assert!(
                !refused && Instant::now() < deadline,
                "garage bucket create {name}: {err}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            name,
            "--key",
            &self.key_id,
        ]);
    }

    /// Runs `garage -c CONFIG ARGS` and returns its stdout; panics with its stderr on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self.try_cli(args);
        assert!(
            out.status.success(),
            "garage {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("garage prints UTF-8")
    }

    /// Kills the server with SIGKILL (a crash, as far as Garage can tell). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same folders and ports, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        if let Err(why) = self.wait_ready(true) {
            panic!("garage did not restart: {why}\n{}", self.log_tail());
        }
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel, never answered.
    /// Returns once every thread of it has stopped (the signal itself is asynchronous).
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
        let pid = self.child.as_ref().expect("garage is not running").id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !all_threads_stopped(pid) {
            assert!(Instant::now() < deadline, "garage did not stop on SIGSTOP");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// The server's log so far (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) {
        let child = self.child.as_ref().expect("garage is not running");
        kill(Pid::from_raw(child.id() as i32), signal).expect("signal garage");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    fn write_config(&mut self) {
        let [s3_port, rpc_port] = free_ports();
        self.s3_port = s3_port;
        let mut secret = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut secret[..]);
        let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let dir = self.dir.path().display();
        let config = format!(
            r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "lmdb"
lmdb_map_size = "1G"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"
"#
        );
        write_private(&self.config_path(), &config);
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "garage is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("garage.log"))
            .expect("garage log file");
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path())
            .arg("server")
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    /// Polls until the node answers its CLI and its S3 API accepts connections (`http`: and
    /// answers HTTP with no server error), within a bound.
    fn wait_ready(&mut self, http: bool) -> Result<(), String> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut cli_ok = false;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .expect("garage started")
                .try_wait()
                .expect("wait garage")
            {
                self.child = None;
                return Err(format!("garage exited: {status}"));
            }
            if !cli_ok {
                cli_ok = self.try_cli(&["status"]).status.success();
            }
            let s3_ok = if http {
                s3_answers(self.s3_addr())
            } else {
                TcpStream::connect_timeout(&self.s3_addr(), Duration::from_secs(1)).is_ok()
            };
            if cli_ok && s3_ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no answer within {} s", BOOT_TIMEOUT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_cli(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("-c")
            .arg(self.config_path())
            .args(args)
            .env("RUST_LOG", "garage=warn")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        format!("--- garage log (tail) ---\n{}", &log[start..])
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (paused) process too.
        self.stop();
    }
}

/// The garage binary: `$GARAGE_BIN`, else `garage` on the PATH, else `~/.cargo/bin/garage`.
pub fn garage_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GARAGE_BIN") {
        return PathBuf::from(bin);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("garage"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo/bin/garage"));
    on_path.or(in_cargo.filter(|p| p.is_file())).unwrap_or_else(|| {
        panic!("the garage binary is missing (not in $GARAGE_BIN, on the PATH or in ~/.cargo/bin): run ci/install-deps")
    })
}

/// Whether every thread of process `pid` is stopped (state `T` in `/proc/PID/task/*/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // "TID (comm) STATE ...": the state follows the last ')', as comm may contain spaces.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            == Some("T")
    })
}

/// Two distinct free TCP ports on 127.0.0.1 (held open together so they differ).
pub(crate) fn free_ports() -> [u16; 2] {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    [
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    ]
}

/// Whether an HTTP request to the S3 API gets an answer that is not a server error (an
/// anonymous request is refused with 403 once the node is up; 503 while the layout settles).
pub(crate) fn s3_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    if s.read_exact(&mut head).is_err() {
        return false;
    }
    // "HTTP/1.1 403"
    let status = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse::<u16>().ok());
    matches!(status, Some(s) if s < 500)
}

pub(crate) fn write_private(path: &Path, content: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(content.as_bytes()).unwrap();
}
