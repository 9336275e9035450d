//! Constants that more than one microcloud agent or tool needs: file names inside the data
//! directory, the default listen address, the WebDAV prefix and the catalog schema version.
//!
//! Keeping them here gives every constant a single source of truth; the store, the LAN service and
//! the CLI all read from this crate instead of repeating literals.

/// The catalog's SQLite file, relative to the data directory.
pub const CATALOG_FILE: &str = "catalog.sqlite";
/// Committed blob files live below this directory of the data directory.
pub const BLOBS_DIR: &str = "blobs";
/// Uploads in progress are written here and moved into `BLOBS_DIR` only once complete.
pub const STAGING_DIR: &str = "staging";
/// Destination secrets (one JSON file each, mode 0600), read only by the uplink.
pub const SECRETS_DIR: &str = "secrets";
/// Held with an exclusive flock by the running gateway; holds its pid and URL.
pub const GATEWAY_LOCK_FILE: &str = "gateway.lock";

/// Held with an exclusive flock by the running uplink, so that one data directory never has two.
pub const UPLINK_LOCK_FILE: &str = "uplink.lock";

/// The uplink's own SQLite database (destinations, replicas, multipart uploads, conflicts, the
/// journal cursor and the bandwidth schedule), relative to the data directory. Written by the
/// uplink; the CLI and the page read it.
pub const UPLINK_STATE_FILE: &str = "uplink.sqlite";

/// The uplink's unix socket, relative to the data directory: the LAN service sends change notices
/// and asks for read-through, status and destinations there, and hears of durability changes.
pub const UPLINK_SOCKET_FILE: &str = "uplink.sock";

/// Version of the catalog schema this build writes; the store refuses a newer one.
pub const CATALOG_SCHEMA_VERSION: i64 = 6;

/// Where the LAN service listens when `--listen` is not given (loopback, for development).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// URL path prefix under which each user's WebDAV space is served.
pub const DAV_PREFIX: &str = "/dav";

/// XML namespace of microcloud's own WebDAV properties (durability, hash).
pub const DAV_NAMESPACE: &str = "urn:microcloud:dav";
/// Response header giving a file's durability level (`local`, `cloud:1`, `cloud:all`).
pub const HEADER_DURABILITY: &str = "x-microcloud-durability";
/// Response header giving a file's BLAKE3 hash in lowercase hex.
pub const HEADER_BLAKE3: &str = "x-microcloud-blake3";

/// Fraction of the cache bound above which writers are slowed down before the bound refuses them.
pub const THROTTLE_START_FRACTION: f64 = 0.90;

/// The one-time setup code (mode 0600), present until the first administrator exists. Not in
/// `SECRETS_DIR`: the LAN service, which shows and checks it, cannot see that directory.
pub const SETUP_CODE_FILE: &str = "setup-code";
/// New destinations' secrets, written by whoever adds the destination (the page runs in the LAN
/// service, which cannot see `SECRETS_DIR`) and moved into `SECRETS_DIR` by the uplink.
pub const SECRETS_INBOX_DIR: &str = "secrets-inbox";
/// The discovery agent's folder (relative to the data directory): the only part of the data
/// directory it sees; it writes the LAN view there for the page and the CLI.
pub const DISCOVERY_DIR: &str = "discovery";
/// The maintenance shell's authorized ssh keys, managed from the page and the CLI (relative to
/// the data directory); on the appliance sshd reads it for root.
pub const AUTHORIZED_KEYS_FILE: &str = "ssh/authorized_keys";
/// The hex BLAKE3 hash of the `/metrics` scrape token the owner set on the page (one line, mode
/// 0600, relative to the data directory); absent when none is set.
pub const METRICS_TOKEN_FILE: &str = "metrics-token";

/// The agents' data directory on the appliance (on the data partition, through `/var`). The
/// early init makes it and its subdirectories before systemd starts, as units/tmpfiles.d
/// declares them (a test of the early init checks that the two agree).
pub const APPLIANCE_DATA_DIR: &str = "/var/lib/microcloud";
/// The agents' shared group on the appliance: it owns the data directory.
pub const APPLIANCE_GROUP: &str = "microcloud";
/// The uplink's user on the appliance: it alone reads `SECRETS_DIR`.
pub const APPLIANCE_UPLINK_USER: &str = "microcloud-uplink";
/// The discovery agent's user on the appliance: it owns `DISCOVERY_DIR`.
pub const APPLIANCE_DISCOVERY_USER: &str = "microcloud-discovery";
/// The host name the owner chose on the page (one line, relative to the data directory); the
/// early init applies it at boot.
pub const HOSTNAME_FILE: &str = "hostname";
/// The time zone the owner chose on the page (an IANA name, relative to the data directory);
/// the early init applies it at boot.
pub const TIMEZONE_FILE: &str = "timezone";

/// The public key (PEM, Ed25519) whose signature an update bundle must carry: the one the image
/// was built with (see `image/build`).
pub const UPDATE_KEY_FILE: &str = "/usr/lib/microcloud/update-key.pem";

/// The running system's version, written into the image by `image/build`.
pub const SYSTEM_VERSION_FILE: &str = "/usr/lib/microcloud/version";

/// The boot failures the health check recorded (JSON lines, relative to the data directory): the
/// page and `microcloud update status` say from them why an update was rolled back.
pub const BOOT_FAILURES_FILE: &str = "update/boot-failures.jsonl";

/// The folder of the system updates' files in the data directory.
pub const UPDATE_DIR: &str = "update";

/// Where `microcloud update apply URL` keeps the bundle it downloads (relative to the data
/// directory); removed once applied or refused.
pub const UPDATE_DOWNLOAD_FILE: &str = "update/download.update";

/// A bundle uploaded on the page, checked by the gateway, waiting for the update service.
pub const UPDATE_INBOX_FILE: &str = "update/inbox.update";

/// What the page asked the update service to apply (JSON: `file` or `url`, and `force`).
pub const UPDATE_REQUEST_FILE: &str = "update/request.json";

/// The update service's progress, read by the page (JSON: `state`, `step`, `done`, `total`,
/// `version`, `message`).
pub const UPDATE_PROGRESS_FILE: &str = "update/progress.json";
