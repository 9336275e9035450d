//! The cloud destinations of microcloud's uplink: S3-compatible object stores (AWS S3, Garage,
//! MinIO, Ceph RGW, R2, B2...) spoken to over reqwest with SigV4 signatures from rusty-s3, and a
//! local directory, the embedded default that lets the product run without a cloud account.
//!
//! Both kinds offer the same operations with the same meaning through [`Remote`]: whole-object
//! PUT with a checksum the server verifies and the content's BLAKE3 hash as metadata, HEAD, ranged
//! streaming GET, idempotent DELETE, server-side copy with its metadata ([`Remote::copy`], so
//! that content only the cloud still holds can be kept under a second key without downloading
//! it), listing, resumable multipart uploads, conditional writes (so that an object changed by
//! someone else is never silently overwritten), and a [`Remote::probe`] that proves a
//! destination works end to end.
//!
//! Errors separate "the remote is down" ([`RemoteError::Unreachable`], the only transient kind)
//! from answers about an object, and every network call is bounded: a connect timeout and a stall
//! timeout turn a dead or frozen destination into an error instead of a hang.

mod dir;
mod error;
pub mod limit;
mod s3;
pub mod size;
/// S3 answer readers, public for the fuzz targets (`tests/fuzz`) only.
#[doc(hidden)]
pub mod xml;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

pub use error::RemoteError;

pub use microcloud_destination::{Credentials, RemoteConfig, RemoteKind};

/// What a remote knows about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the remote's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag, without quotes; opaque, only compared for equality.
    pub etag: String,
    /// BLAKE3 hex of the content from the object's metadata, where known (not from listings).
    pub blake3: Option<String>,
}

/// A condition a write must meet, so that someone else's change is never silently overwritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally.
    None,
    /// Write only if no object exists under the key.
    IfAbsent,
    /// Write only if the object exists with this ETag (without quotes).
    IfMatch(String),
}

/// A stream of downloaded bytes, yielded as they arrive.
pub type BoxStream = Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, RemoteError>> + Send>>;

/// How long a remote may take before it counts as unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a TCP (and TLS) connection.
    pub connect: Duration,
    /// A request that makes no progress for this long (no body bytes taken by the socket, no
    /// response, no body bytes received) is abandoned. It is a stall bound, not a total: a large
    /// upload that keeps moving is never cut off.
    pub stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            stall: Duration::from_secs(30),
        }
    }
}

/// Folder of the objects [`Remote::probe`] writes (and deletes again).
pub const PROBE_PREFIX: &str = ".microcloud-probe/";

/// A destination to read and write objects: cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Remote {
    cfg: std::sync::Arc<RemoteConfig>,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    S3(s3::S3),
    Dir(dir::Dir),
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config carries no secret; the credentials are left out on purpose.
        f.debug_struct("Remote")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// A remote with the default timeouts; S3 remotes require credentials. Does no I/O.
    pub fn new(cfg: RemoteConfig, creds: Option<Credentials>) -> Result<Remote, RemoteError> {
        Remote::with_timeouts(cfg, creds, Timeouts::default())
    }

    /// A remote with the given timeouts (tests use short ones). Does no I/O.
    pub fn with_timeouts(
        cfg: RemoteConfig,
        creds: Option<Credentials>,
        timeouts: Timeouts,
    ) -> Result<Remote, RemoteError> {
        let backend = match &cfg.kind {
            RemoteKind::S3 { .. } => Backend::S3(s3::S3::new(&cfg, creds, timeouts)?),
            RemoteKind::Dir { path } => Backend::Dir(dir::Dir::new(&cfg.name, path)?),
        };
        Ok(Remote {
            cfg: std::sync::Arc::new(cfg),
            backend,
        })
    }

    /// This remote, with its uploads paced by `limit` (shared between remotes: the line is
    /// what is scarce). Directory remotes are local disks and are not limited.
    pub fn with_bandwidth(mut self, limit: std::sync::Arc<limit::Bandwidth>) -> Remote {
        if let Backend::S3(s3) = &mut self.backend {
            s3.set_limit(limit);
        }
        self
    }

    /// The remote's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The remote's configuration.
    pub fn config(&self) -> &RemoteConfig {
        &self.cfg
    }

    /// Uploads a whole object in one request. A checksum of the body goes along (Content-MD5 for
    /// S3; the BLAKE3 hash itself for directories) so the remote rejects a corrupted body, and
    /// `blake3_hex` is stored as metadata (`x-amz-meta-blake3`). Returns the new ETag.
    pub async fn put(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.put(key, data, blake3_hex, cond).await,
            Backend::Dir(d) => d.put(key, data, blake3_hex, cond).await,
        }
    }

    /// The object's size, ETag and BLAKE3 metadata; `None` when there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.head(key).await,
            Backend::Dir(d) => d.head(key).await,
        }
    }

    /// Streams the object's bytes, or the inclusive byte range `(first, last)` of them (`last` is
    /// clipped to the object's end, as HTTP does), as they arrive.
    pub async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<BoxStream, RemoteError> {
        self.check_key(key)?;
        if let Some((first, last)) = range {
            if last < first {
                return Err(RemoteError::Rejected {
                    remote: self.name().to_owned(),
                    key: key.to_owned(),
                    status: 416,
                    detail: format!("empty byte range {first}-{last}"),
                });
            }
        }
        match &self.backend {
            Backend::S3(s) => s.get(key, range).await,
            Backend::Dir(d) => d.get(key, range).await,
        }
    }

    /// Copies object `from_key` to `to_key` inside the remote, its metadata (the BLAKE3 hash)
    /// included, without the bytes passing through this machine (S3 CopyObject; a file copy for
    /// directories). Unconditional: an object at `to_key` is replaced. Returns the new object's
    /// ETag; a missing source is [`RemoteError::NotFound`] naming `from_key`.
    pub async fn copy(&self, from_key: &str, to_key: &str) -> Result<String, RemoteError> {
        self.check_key(from_key)?;
        self.check_key(to_key)?;
        match &self.backend {
            Backend::S3(s) => s.copy(from_key, to_key).await,
            Backend::Dir(d) => d.copy(from_key, to_key).await,
        }
    }

    /// Deletes the object; deleting an absent object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.delete(key).await,
            Backend::Dir(d) => d.delete(key).await,
        }
    }

    /// Every object whose key starts with `prefix` ("" for all), in key order, across all pages.
    /// `blake3` is `None` for S3 remotes: listings carry no metadata.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        self.check_prefix(prefix)?;
        match &self.backend {
            Backend::S3(s) => s.list(prefix).await,
            Backend::Dir(d) => d.list(prefix).await,
        }
    }

    /// The keys of the objects directly in folder `dir` ("user/photos/"), for checking many new
    /// keys with one request instead of one HEAD each; `None` when there are more than `max`, or
    /// for directory remotes, whose conditional writes cost no request.
    pub async fn keys_in(
        &self,
        dir: &str,
        max: usize,
    ) -> Result<Option<std::collections::HashSet<String>>, RemoteError> {
        self.check_prefix(dir)?;
        match &self.backend {
            Backend::S3(s) => s.keys_in(dir, max).await,
            Backend::Dir(_) => Ok(None),
        }
    }

    /// Like `put` with [`Condition::IfAbsent`], for a key that [`Remote::keys_in`] showed absent
    /// moments ago: skips the per-object check that servers ignoring conditional headers need.
    /// The window in which another client's new object could be overwritten grows from one
    /// round trip to the listing's age (the caller bounds it).
    pub async fn put_listed_absent(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
    ) -> Result<String, RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.put_listed_absent(key, data, blake3_hex).await,
            Backend::Dir(d) => d.put(key, data, blake3_hex, &Condition::IfAbsent).await,
        }
    }

    /// Starts a multipart upload whose object will carry `blake3_hex` as metadata; returns its id.
    pub async fn create_multipart(
        &self,
        key: &str,
        blake3_hex: &str,
    ) -> Result<String, RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.create_multipart(key, blake3_hex).await,
            Backend::Dir(d) => d.create_multipart(key, blake3_hex).await,
        }
    }

    /// Uploads part `part_number` (1..=10000; at least 5 MiB except the last, for S3) with a
    /// checksum the server verifies; returns the part's ETag.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        data: Bytes,
    ) -> Result<String, RemoteError> {
        self.check_key(key)?;
        if !(1..=10_000).contains(&part_number) {
            return Err(RemoteError::Rejected {
                remote: self.name().to_owned(),
                key: key.to_owned(),
                status: 400,
                detail: format!("part number {part_number} is outside 1..=10000"),
            });
        }
        match &self.backend {
            Backend::S3(s) => s.upload_part(key, upload_id, part_number, data, None).await,
            Backend::Dir(d) => d.upload_part(key, upload_id, part_number, data).await,
        }
    }

    /// Assembles the parts (`(part number, part ETag)` in ascending order) into the object, if
    /// `cond` holds; returns the object's ETag.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.complete_multipart(key, upload_id, parts, cond).await,
            Backend::Dir(d) => d.complete_multipart(key, upload_id, parts, cond).await,
        }
    }

    /// Abandons a multipart upload and frees its parts; an unknown upload id succeeds.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), RemoteError> {
        self.check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.abort_multipart(key, upload_id).await,
            Backend::Dir(d) => d.abort_multipart(key, upload_id).await,
        }
    }

    /// The `(key, upload id)` of every open multipart upload whose key starts with `prefix`.
    pub async fn list_multipart(&self, prefix: &str) -> Result<Vec<(String, String)>, RemoteError> {
        self.check_prefix(prefix)?;
        match &self.backend {
            Backend::S3(s) => s.list_multipart(prefix).await,
            Backend::Dir(d) => d.list_multipart(prefix).await,
        }
    }

    /// Proves the destination works end to end: writes a small object under
    /// [`PROBE_PREFIX`], reads its metadata and bytes back and compares them, then deletes it.
    pub async fn probe(&self) -> Result<(), RemoteError> {
        let mut content = [0u8; 1024];
        rand::Rng::fill(&mut rand::rng(), &mut content[..]);
        let hash = blake3::hash(&content).to_hex().to_string();
        let key = format!("{PROBE_PREFIX}{}", &hash[..16]);
        let result = self
            .probe_object(&key, Bytes::copy_from_slice(&content), &hash)
            .await;
        // Clean up even after a failed check; a failed delete only matters if the rest worked.
        let deleted = self.delete(&key).await;
        result.and(deleted)
    }

    async fn probe_object(&self, key: &str, content: Bytes, hash: &str) -> Result<(), RemoteError> {
        let corrupt = |detail: String| RemoteError::Corrupt {
            remote: self.name().to_owned(),
            key: key.to_owned(),
            detail,
        };
        let etag = self
            .put(key, content.clone(), hash, &Condition::IfAbsent)
            .await?;
        let info = self
            .head(key)
            .await?
            .ok_or_else(|| corrupt("the object just written is not there".into()))?;
        if info.size != content.len() as u64 {
            return Err(corrupt(format!(
                "size {} read back, {} written",
                info.size,
                content.len()
            )));
        }
        if info.etag != etag {
            return Err(corrupt(format!(
                "ETag {} read back, {etag} returned by the write",
                info.etag
            )));
        }
        if info.blake3.as_deref() != Some(hash) {
            return Err(corrupt(format!(
                "BLAKE3 metadata {:?} read back, {hash} written",
                info.blake3
            )));
        }
        let got = collect(self.get(key, None).await?).await?;
        if got != content {
            return Err(corrupt(format!(
                "{} bytes read back differ from the {} written",
                got.len(),
                content.len()
            )));
        }
        Ok(())
    }

    /// The S3 backend, for the requests of [`unchecked`].
    fn s3(&self) -> Result<&s3::S3, RemoteError> {
        match &self.backend {
            Backend::S3(s) => Ok(s),
            Backend::Dir(_) => Err(RemoteError::Config {
                remote: self.name().to_owned(),
                detail: "not an S3 remote".into(),
            }),
        }
    }

    fn check_key(&self, key: &str) -> Result<(), RemoteError> {
        validate_key(key).map_err(|why| self.invalid_key(key, why))
    }

    fn check_prefix(&self, prefix: &str) -> Result<(), RemoteError> {
        if prefix.is_empty() {
            return Ok(());
        }
        // A prefix may end inside a name ("photos/ab") or at a folder ("photos/").
        validate_key(prefix.strip_suffix('/').unwrap_or(prefix))
            .map_err(|why| self.invalid_key(prefix, why))
    }

    fn invalid_key(&self, key: &str, why: &str) -> RemoteError {
        RemoteError::Rejected {
            remote: self.name().to_owned(),
            key: key.to_owned(),
            status: 400,
            detail: format!("invalid key: {why}"),
        }
    }
}

/// S3 requests without the remote's own checks, for the tests that pin down what a server
/// verifies by itself (`tests/garage_checks.rs`); not for other use.
#[doc(hidden)]
pub mod unchecked {
    use bytes::Bytes;

    use crate::{Condition, Remote, RemoteError};

    /// PutObject alone: `cond`'s headers are sent but not checked beforehand, and `declared_md5`
    /// (base64), when given, is sent as the body's `Content-MD5` instead of its real one.
    pub async fn put(
        remote: &Remote,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
        declared_md5: Option<&str>,
    ) -> Result<String, RemoteError> {
        remote.check_key(key)?;
        remote
            .s3()?
            .put_unchecked(key, data, blake3_hex, cond, declared_md5)
            .await
    }

    /// UploadPart with `declared_md5` (base64) sent as the part's `Content-MD5`.
    pub async fn upload_part(
        remote: &Remote,
        key: &str,
        upload_id: &str,
        part_number: u16,
        data: Bytes,
        declared_md5: &str,
    ) -> Result<String, RemoteError> {
        remote.check_key(key)?;
        remote
            .s3()?
            .upload_part(key, upload_id, part_number, data, Some(declared_md5))
            .await
    }

    /// The `Content-MD5` value of `data`.
    pub fn content_md5(data: &[u8]) -> String {
        crate::s3::content_md5(data)
    }
}

/// Reads a whole download into memory (for small objects and tests).
pub async fn collect(mut stream: BoxStream) -> Result<Bytes, RemoteError> {
    use futures_util::StreamExt;
    let mut out = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out.freeze())
}

/// Folders of a directory remote's root that hold its own bookkeeping, never objects.
pub(crate) const RESERVED: [&str; 3] = [
    ".microcloud-meta",
    ".microcloud-multipart",
    ".microcloud-tmp",
];

/// Checks that a key is a relative UTF-8 path that stays inside its root on every kind of remote:
/// no empty, `.` or `..` component, no leading or trailing `/`, no control characters (NUL
/// included), not under a reserved bookkeeping folder, at most 1024 bytes (S3's limit).
pub fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > 1024 {
        return Err("longer than 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    if key.starts_with('/') {
        return Err("absolute path");
    }
    for part in key.split('/') {
        match part {
            "" => return Err("empty path component"),
            "." | ".." => return Err("`.` or `..` path component"),
            _ => {}
        }
    }
    let first = key.split('/').next().unwrap_or_default();
    if RESERVED.contains(&first) {
        return Err("reserved folder");
    }
    Ok(())
}

/// The first 128 bits of a BLAKE3 hash as hex: the ETag of directory remotes (and of the LAN
/// service), so that equal content has equal ETags.
pub(crate) fn blake3_etag(hash: &blake3::Hash) -> String {
    hash.to_hex()[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_would_escape_or_break_are_refused() {
        for bad in [
            "",
            "/abs",
            "a/../b",
            "..",
            "a/./b",
            "a//b",
            "a/",
            "nul\0x",
            "line\nbreak",
            ".microcloud-meta/x",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in [
            "a",
            "alice/photos/a b.jpg",
            "ünï/cødé+%20&?#.txt",
            ".hidden",
            "a/.microcloud-meta",
            "...",
            ".microcloud-probe/x",
        ] {
            assert!(validate_key(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let c = Credentials {
            access_key_id: "GKid".into(),
            secret_access_key: "s3cr3t".into(),
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("GKid") && shown.contains("<redacted>") && !shown.contains("s3cr3t"),
            "{shown}"
        );
    }

    #[test]
    fn config_serializes_with_a_type_tag() {
        let cfg = RemoteConfig {
            name: "garage".into(),
            kind: RemoteKind::S3 {
                endpoint: "http://127.0.0.1:3900".into(),
                region: "garage".into(),
                bucket: "b".into(),
                prefix: "".into(),
                path_style: true,
                ca_pem: None,
            },
        };
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains(r#""type":"s3""#), "{json}");
        assert_eq!(serde_json::from_str::<RemoteConfig>(&json).unwrap(), cfg);
        let dir: RemoteConfig =
            serde_json::from_str(r#"{"name":"local","kind":{"type":"dir","path":"/srv/x"}}"#)
                .unwrap();
        assert_eq!(
            dir.kind,
            RemoteKind::Dir {
                path: "/srv/x".into()
            }
        );
    }
}
