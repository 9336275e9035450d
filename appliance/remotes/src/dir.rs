//! Directory remotes: a local folder (another disk, a NAS mount) that holds one plain file per
//! object, so any tool can read it, with the same meaning as an S3 bucket.
//!
//! Layout under the root:
//!
//! - `<key>`: the object's bytes, at the key's path.
//! - `.microcloud-meta/<key>.json`: a sidecar with the content's BLAKE3 hash, and the size, inode
//!   and mtime of the file it describes. A sidecar whose file identity does not match the object
//!   (a crash between the two renames of a write, or a file changed by another tool) is ignored
//!   and the hash is computed again from the bytes, so the metadata can never lie.
//! - `.microcloud-multipart/<upload id>/`: `upload.json` (key and BLAKE3) and `part-NNNNN` files.
//! - `.microcloud-tmp/`: files being written; leftovers of a crash are removed after an hour.
//!
//! Writes are durable before they return: data goes to a temporary file that is fsync'd and then
//! renamed into place (sidecar first, then content), and the changed directories are fsync'd. The
//! ETag is the first 128 bits of the content's BLAKE3 hash, the BLAKE3 hash claimed by the caller
//! is checked against the bytes (the counterpart of S3's Content-MD5 check), and conditional
//! writes are checked and committed under one lock, which is atomic for every writer in this
//! process (the uplink owns its remotes; other programs should only read the folder).
//!
//! A missing root is [`RemoteError::Unreachable`], like an unmounted disk, never "no objects".

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::{blake3_etag, BoxStream, Condition, ObjectInfo, RemoteError};

const META: &str = ".microcloud-meta";
const MULTIPART: &str = ".microcloud-multipart";
const TMP: &str = ".microcloud-tmp";
/// Chunk size of downloads.
const READ_CHUNK: usize = 256 * 1024;
/// Age after which a file in `.microcloud-tmp` is a crash leftover.
const TMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// A local directory remote.
#[derive(Clone)]
pub(crate) struct Dir {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    root: PathBuf,
    /// Serializes condition checks with the renames that commit a write.
    commit: Mutex<()>,
    /// Whether leftovers of `.microcloud-tmp` were cleaned since start.
    cleaned: AtomicBool,
}

/// The sidecar of an object.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    blake3: String,
    size: u64,
    ino: u64,
    mtime_ns: i128,
}

/// What a multipart upload's folder records.
#[derive(serde::Serialize, serde::Deserialize)]
struct UploadMeta {
    key: String,
    blake3: String,
}

impl Dir {
    pub(crate) fn new(name: &str, root: &Path) -> Result<Dir, RemoteError> {
        if !root.is_absolute() {
            return Err(RemoteError::Config {
                remote: name.to_owned(),
                detail: format!("directory {} is not an absolute path", root.display()),
            });
        }
        Ok(Dir {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                root: root.to_owned(),
                commit: Mutex::new(()),
                cleaned: AtomicBool::new(false),
            }),
        })
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, RemoteError> + Send + 'static,
    ) -> Result<T, RemoteError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .expect("directory remote task panicked")
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        let (key, claimed, cond) = (key.to_owned(), blake3_hex.to_owned(), cond.clone());
        self.blocking(move |d| {
            d.check_root("PutObject")?;
            let hash = blake3::hash(&data);
            d.check_claim(&key, &hash, &claimed)?;
            let (tmp_path, mut tmp) = d.tmp_file()?;
            let written = tmp.write_all(&data).and_then(|()| tmp.sync_all());
            drop(tmp);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp_path);
                return Err(io(&tmp_path, e));
            }
            d.commit(&key, &tmp_path, &hash, &cond)
        })
        .await
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let key = key.to_owned();
        self.blocking(move |d| {
            d.check_root("HeadObject")?;
            d.info(&key)
        })
        .await
    }

    pub(crate) async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<BoxStream, RemoteError> {
        let key = key.to_owned();
        let (file, path, len) = self
            .blocking(move |d| {
                d.check_root("GetObject")?;
                let path = d.object_path(&key);
                let mut file = match File::open(&path) {
                    Ok(f) => f,
                    Err(e) if absent(&e) => return Err(d.not_found(&key)),
                    Err(e) => return Err(io(&path, e)),
                };
                let stat = file.metadata().map_err(|e| io(&path, e))?;
                if stat.is_dir() {
                    return Err(d.not_found(&key));
                }
                let size = stat.len();
                let (first, len) = match range {
                    None => (0, size),
                    Some((first, _)) if first >= size => {
                        return Err(RemoteError::Rejected {
                            remote: d.name.clone(),
                            key,
                            status: 416,
                            detail: format!("range starts at {first}, the object has {size} bytes"),
                        })
                    }
                    Some((first, last)) => (first, last.min(size - 1) - first + 1),
                };
                file.seek(SeekFrom::Start(first))
                    .map_err(|e| io(&path, e))?;
                Ok((file, path, len))
            })
            .await?;
        // A reader thread feeds a small channel: the download streams, and memory stays bounded.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, RemoteError>>(4);
        tokio::task::spawn_blocking(move || {
            let mut file = file.take(len);
            loop {
                let mut buf = vec![0u8; READ_CHUNK];
                match file.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return; // the reader went away
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(io(&path, e)));
                        return;
                    }
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Box::pin(stream))
    }

    /// Copies the object's file to `to_key` through a temporary file (fsync'd, then renamed into
    /// place like any write); its sidecar gets the hash of the bytes copied, which is the
    /// source's hash unless the source was damaged, so the copy's metadata never lies.
    pub(crate) async fn copy(&self, from_key: &str, to_key: &str) -> Result<String, RemoteError> {
        let (from, to) = (from_key.to_owned(), to_key.to_owned());
        self.blocking(move |d| {
            d.check_root("CopyObject")?;
            let src_path = d.object_path(&from);
            let mut src = match File::open(&src_path) {
                Ok(f) => f,
                Err(e) if absent(&e) => return Err(d.not_found(&from)),
                Err(e) => return Err(io(&src_path, e)),
            };
            if src.metadata().map_err(|e| io(&src_path, e))?.is_dir() {
                return Err(d.not_found(&from));
            }
            let (tmp_path, mut tmp) = d.tmp_file()?;
            let copied = (|| {
                let mut hasher = blake3::Hasher::new();
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    let n = match src.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(io(&src_path, e)),
                    };
                    hasher.update(&buf[..n]);
                    tmp.write_all(&buf[..n]).map_err(|e| io(&tmp_path, e))?;
                }
                tmp.sync_all().map_err(|e| io(&tmp_path, e))?;
                Ok(hasher.finalize())
            })();
            drop(tmp);
            let hash = match copied {
                Ok(h) => h,
                Err(e) => {
                    let _ = fs::remove_file(&tmp_path);
                    return Err(e);
                }
            };
            d.commit(&to, &tmp_path, &hash, &Condition::None)
        })
        .await
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let key = key.to_owned();
        self.blocking(move |d| {
            d.check_root("DeleteObject")?;
            let _commit = d.commit.lock().unwrap_or_else(|p| p.into_inner());
            let path = d.object_path(&key);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => return Ok(()), // a folder, not an object
                Ok(_) => {}
                Err(e) if absent(&e) => return Ok(()),
                Err(e) => return Err(io(&path, e)),
            }
            let meta = d.meta_path(&key);
            fs::remove_file(&meta)
                .or_else(ignore_absent)
                .map_err(|e| io(&meta, e))?;
            fs::remove_file(&path)
                .or_else(ignore_absent)
                .map_err(|e| io(&path, e))?;
            let parent = path.parent().expect("object path has a parent");
            sync_dir(parent)?;
            d.prune(Some(parent));
            d.prune(meta.parent());
            Ok(())
        })
        .await
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let prefix = prefix.to_owned();
        self.blocking(move |d| {
            d.check_root("ListObjects")?;
            // Walk only the folder the prefix lies in.
            let folder = prefix.rfind('/').map(|i| &prefix[..i]).unwrap_or("");
            let mut keys = Vec::new();
            d.walk(&d.root.join(folder), folder, &prefix, &mut keys)?;
            keys.sort();
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                // A file deleted between the walk and now is simply not listed.
                if let Some(info) = d.info(&key)? {
                    out.push(info);
                }
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn create_multipart(
        &self,
        key: &str,
        blake3_hex: &str,
    ) -> Result<String, RemoteError> {
        let upload = UploadMeta {
            key: key.to_owned(),
            blake3: blake3_hex.to_ascii_lowercase(),
        };
        self.blocking(move |d| {
            d.check_root("CreateMultipartUpload")?;
            let mut id = [0u8; 16];
            rand::Rng::fill(&mut rand::rng(), &mut id[..]);
            let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
            let dir = d.root.join(MULTIPART).join(&id);
            d.ensure_dir(&dir)?;
            let json = serde_json::to_vec(&upload).expect("upload metadata serializes");
            d.write_durably(&dir.join("upload.json"), &json)?;
            Ok(id)
        })
        .await
    }

    pub(crate) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        data: Bytes,
    ) -> Result<String, RemoteError> {
        let (key, upload_id) = (key.to_owned(), upload_id.to_owned());
        self.blocking(move |d| {
            d.check_root("UploadPart")?;
            let dir = d.upload_dir(&key, &upload_id)?;
            d.write_durably(&dir.join(part_name(part_number)), &data)?;
            Ok(blake3_etag(&blake3::hash(&data)))
        })
        .await
    }

    pub(crate) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        let (key, upload_id, parts, cond) = (
            key.to_owned(),
            upload_id.to_owned(),
            parts.to_vec(),
            cond.clone(),
        );
        self.blocking(move |d| {
            d.check_root("CompleteMultipartUpload")?;
            let dir = d.upload_dir(&key, &upload_id)?;
            let upload: UploadMeta =
                read_json(&dir.join("upload.json"))?.ok_or_else(|| d.not_found(&key))?;
            let reject = |detail: String| RemoteError::Rejected {
                remote: d.name.clone(),
                key: key.clone(),
                status: 400,
                detail,
            };
            if parts.is_empty() {
                return Err(reject("MalformedXML: no parts".into()));
            }
            if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(reject("InvalidPartOrder: part numbers must ascend".into()));
            }
            // Assemble into a temporary file, checking each part's ETag and the whole BLAKE3.
            let (tmp_path, mut tmp) = d.tmp_file()?;
            let assembled = (|| {
                let mut whole = blake3::Hasher::new();
                for (number, etag) in &parts {
                    let part_path = dir.join(part_name(*number));
                    let bytes = match fs::read(&part_path) {
                        Ok(b) => b,
                        Err(e) if absent(&e) => {
                            return Err(reject(format!(
                                "InvalidPart: part {number} was not uploaded"
                            )))
                        }
                        Err(e) => return Err(io(&part_path, e)),
                    };
                    if blake3_etag(&blake3::hash(&bytes)) != etag.trim_matches('"') {
                        return Err(reject(format!(
                            "InvalidPart: part {number} has another ETag than {etag}"
                        )));
                    }
                    whole.update(&bytes);
                    tmp.write_all(&bytes).map_err(|e| io(&tmp_path, e))?;
                }
                tmp.sync_all().map_err(|e| io(&tmp_path, e))?;
                Ok(whole.finalize())
            })();
            drop(tmp);
            let hash = match assembled
                .and_then(|hash| d.check_claim(&key, &hash, &upload.blake3).map(|()| hash))
            {
                Ok(hash) => hash,
                Err(e) => {
                    let _ = fs::remove_file(&tmp_path);
                    return Err(e);
                }
            };
            let etag = d.commit(&key, &tmp_path, &hash, &cond)?;
            fs::remove_dir_all(&dir).map_err(|e| io(&dir, e))?;
            sync_dir(&d.root.join(MULTIPART))?;
            Ok(etag)
        })
        .await
    }

    pub(crate) async fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), RemoteError> {
        let (key, upload_id) = (key.to_owned(), upload_id.to_owned());
        self.blocking(move |d| {
            d.check_root("AbortMultipartUpload")?;
            let dir = match d.upload_dir(&key, &upload_id) {
                Ok(dir) => dir,
                Err(RemoteError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            fs::remove_dir_all(&dir)
                .or_else(ignore_absent)
                .map_err(|e| io(&dir, e))?;
            sync_dir(&d.root.join(MULTIPART))
        })
        .await
    }

    pub(crate) async fn list_multipart(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, RemoteError> {
        let prefix = prefix.to_owned();
        self.blocking(move |d| {
            d.check_root("ListMultipartUploads")?;
            let base = d.root.join(MULTIPART);
            let entries = match fs::read_dir(&base) {
                Ok(e) => e,
                Err(e) if absent(&e) => return Ok(Vec::new()),
                Err(e) => return Err(io(&base, e)),
            };
            let mut out = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| io(&base, e))?;
                let Some(id) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if let Some(upload) = read_json::<UploadMeta>(&entry.path().join("upload.json"))? {
                    if upload.key.starts_with(&prefix) {
                        out.push((upload.key, id));
                    }
                }
            }
            out.sort();
            Ok(out)
        })
        .await
    }
}

impl Inner {
    fn object_path(&self, key: &str) -> PathBuf {
        // Keys are validated (relative, no `.`/`..`, no NUL), so this stays under the root.
        self.root.join(key)
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.root.join(META).join(format!("{key}.json"))
    }

    fn check_root(&self, op: &str) -> Result<(), RemoteError> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(RemoteError::Config {
                remote: self.name.clone(),
                detail: format!("{} is not a directory", self.root.display()),
            }),
            Err(e) => Err(RemoteError::Unreachable {
                remote: self.name.clone(),
                op: op.to_owned(),
                detail: format!(
                    "directory {} is not there ({e}); is its disk mounted?",
                    self.root.display()
                ),
            }),
        }
    }

    /// Refuses content whose BLAKE3 hash is not the one the caller declared.
    fn check_claim(
        &self,
        key: &str,
        hash: &blake3::Hash,
        claimed: &str,
    ) -> Result<(), RemoteError> {
        if hash.to_hex().as_str() == claimed.to_ascii_lowercase() {
            return Ok(());
        }
        Err(RemoteError::Rejected {
            remote: self.name.clone(),
            key: key.to_owned(),
            status: 400,
            detail: format!(
                "BadDigest: the content's BLAKE3 is {}, {claimed} was declared",
                hash.to_hex()
            ),
        })
    }

    fn not_found(&self, key: &str) -> RemoteError {
        RemoteError::NotFound {
            remote: self.name.clone(),
            key: key.to_owned(),
        }
    }

    /// The object's info from its sidecar when that still describes the file, else from its bytes.
    fn info(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let path = self.object_path(key);
        let stat = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Ok(None),
            Err(e) if absent(&e) => return Ok(None),
            Err(e) => return Err(io(&path, e)),
        };
        let meta_path = self.meta_path(key);
        let hash = match read_json::<Meta>(&meta_path).ok().flatten() {
            Some(m)
                if m.ino == stat.ino()
                    && m.size == stat.size()
                    && m.mtime_ns == mtime_ns(&stat) =>
            {
                m.blake3
            }
            _ => {
                let mut hasher = blake3::Hasher::new();
                match File::open(&path).and_then(|f| hasher.update_reader(f)) {
                    Ok(_) => {}
                    Err(e) if absent(&e) => return Ok(None),
                    Err(e) => return Err(io(&path, e)),
                }
                let hex = hasher.finalize().to_hex().to_string();
                // Remember it (best effort, not durable: it can always be computed again).
                if let Ok(stat) = fs::metadata(&path) {
                    let meta = Meta {
                        blake3: hex.clone(),
                        size: stat.size(),
                        ino: stat.ino(),
                        mtime_ns: mtime_ns(&stat),
                    };
                    let _ = self.write_meta(&meta_path, &meta, false);
                }
                hex
            }
        };
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            size: stat.size(),
            etag: hash[..32].to_owned(),
            blake3: Some(hash),
        }))
    }

    /// Moves a fsync'd temporary file into place as `key` if `cond` holds, sidecar first.
    fn commit(
        &self,
        key: &str,
        tmp_path: &Path,
        hash: &blake3::Hash,
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        let result = (|| {
            let _commit = self.commit.lock().unwrap_or_else(|p| p.into_inner());
            let holds = match cond {
                Condition::None => true,
                Condition::IfAbsent => self.info(key)?.is_none(),
                Condition::IfMatch(etag) => self
                    .info(key)?
                    .is_some_and(|i| i.etag == etag.trim_matches('"')),
            };
            if !holds {
                return Err(RemoteError::PreconditionFailed {
                    remote: self.name.clone(),
                    key: key.to_owned(),
                });
            }
            let path = self.object_path(key);
            let parent = path.parent().expect("object path has a parent");
            self.ensure_dir(parent)
                .map_err(|e| self.in_the_way(key, e))?;
            let stat = fs::metadata(tmp_path).map_err(|e| io(tmp_path, e))?;
            let meta = Meta {
                blake3: hash.to_hex().to_string(),
                size: stat.size(),
                ino: stat.ino(),
                mtime_ns: mtime_ns(&stat),
            };
            let meta_path = self.meta_path(key);
            self.ensure_dir(meta_path.parent().expect("sidecar has a parent"))?;
            self.write_meta(&meta_path, &meta, true)?;
            if let Err(e) = fs::rename(tmp_path, &path) {
                return Err(self.in_the_way(key, io(&path, e)));
            }
            sync_dir(parent)?;
            Ok(blake3_etag(hash))
        })();
        if result.is_err() {
            let _ = fs::remove_file(tmp_path);
        }
        result
    }

    /// A folder where a file must go, or the reverse: S3 allows both, a directory cannot.
    fn in_the_way(&self, key: &str, e: RemoteError) -> RemoteError {
        match &e {
            RemoteError::Io { source, .. }
                if matches!(
                    source.raw_os_error(),
                    Some(libc::ENOTDIR | libc::EISDIR | libc::EEXIST | libc::ENOTEMPTY)
                ) =>
            {
                RemoteError::Rejected {
                    remote: self.name.clone(),
                    key: key.to_owned(),
                    status: 409,
                    detail: format!("a file and a folder would share a name: {e}"),
                }
            }
            _ => e,
        }
    }

    fn write_meta(&self, path: &Path, meta: &Meta, durable: bool) -> Result<(), RemoteError> {
        let json = serde_json::to_vec(meta).expect("sidecar serializes");
        let (tmp_path, mut tmp) = self.tmp_file()?;
        let written = tmp
            .write_all(&json)
            .and_then(|()| if durable { tmp.sync_all() } else { Ok(()) });
        drop(tmp);
        let renamed = written.and_then(|()| fs::rename(&tmp_path, path));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp_path);
            return Err(io(path, e));
        }
        if durable {
            sync_dir(path.parent().expect("sidecar has a parent"))?;
        }
        Ok(())
    }

    /// Writes a whole file durably: temporary file, fsync, rename, fsync of the folder.
    fn write_durably(&self, path: &Path, data: &[u8]) -> Result<(), RemoteError> {
        let (tmp_path, mut tmp) = self.tmp_file()?;
        let written = tmp.write_all(data).and_then(|()| tmp.sync_all());
        drop(tmp);
        if let Err(e) = written.and_then(|()| fs::rename(&tmp_path, path)) {
            let _ = fs::remove_file(&tmp_path);
            return Err(io(path, e));
        }
        sync_dir(path.parent().expect("file has a parent"))
    }

    /// A new temporary file on the same filesystem as the objects (so renames are atomic).
    fn tmp_file(&self) -> Result<(PathBuf, File), RemoteError> {
        let dir = self.root.join(TMP);
        self.ensure_dir(&dir)?;
        if !self.cleaned.swap(true, Ordering::Relaxed) {
            clean_leftovers(&dir);
        }
        let mut name = [0u8; 12];
        rand::Rng::fill(&mut rand::rng(), &mut name[..]);
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = dir.join(format!("{name}.tmp"));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        Ok((path, file))
    }

    /// Creates `dir` and its missing ancestors below the root, fsyncing each parent that got a
    /// new entry so the folders survive a power cut along with the file put in them.
    fn ensure_dir(&self, dir: &Path) -> Result<(), RemoteError> {
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => return Err(io(dir, std::io::Error::from_raw_os_error(libc::ENOTDIR))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(dir, e)),
        }
        let parent = dir.parent().expect("folder below the root has a parent");
        if dir != self.root {
            self.ensure_dir(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => sync_dir(parent),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(io(dir, e)),
        }
    }

    /// Removes now-empty folders from `dir` up to (not including) the root and its own folders.
    fn prune(&self, mut dir: Option<&Path>) {
        while let Some(d) = dir {
            if d == self.root || d == self.root.join(META) || !d.starts_with(&self.root) {
                return;
            }
            if fs::remove_dir(d).is_err() {
                return; // not empty (or already gone)
            }
            dir = d.parent();
        }
    }

    /// The folder of an open upload of `key`; NotFound for an unknown id or another key.
    fn upload_dir(&self, key: &str, upload_id: &str) -> Result<PathBuf, RemoteError> {
        // Ids are ours: 32 hex digits; anything else cannot name a folder of ours.
        if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.not_found(key));
        }
        let dir = self.root.join(MULTIPART).join(upload_id);
        match read_json::<UploadMeta>(&dir.join("upload.json"))? {
            Some(upload) if upload.key == key => Ok(dir),
            _ => Err(self.not_found(key)),
        }
    }

    /// Collects the keys of files below `dir` (whose key is `rel`) that start with `prefix`.
    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        prefix: &str,
        keys: &mut Vec<String>,
    ) -> Result<(), RemoteError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if absent(&e) => return Ok(()),
            Err(e) => return Err(io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if rel.is_empty() && crate::RESERVED.contains(&name.as_str()) {
                continue;
            }
            let key = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            if kind.is_dir() {
                // Only folders that can hold matching keys.
                if key.starts_with(prefix) || prefix.starts_with(&format!("{key}/")) {
                    self.walk(&entry.path(), &key, prefix, keys)?;
                }
            } else if kind.is_file() && key.starts_with(prefix) {
                keys.push(key);
            }
        }
        Ok(())
    }
}

fn part_name(number: u16) -> String {
    format!("part-{number:05}")
}

fn mtime_ns(stat: &fs::Metadata) -> i128 {
    stat.mtime() as i128 * 1_000_000_000 + stat.mtime_nsec() as i128
}

/// Reads a JSON file; `None` if it does not exist (or a parent is not a folder).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, RemoteError> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if absent(&e) => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), RemoteError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

/// Removes temporary files old enough to be leftovers of a crash.
fn clean_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default() > TMP_MAX_AGE)
            .unwrap_or(false);
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether an error means "nothing there": not found, or a path component is a file.
fn absent(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR)
}

fn ignore_absent(e: std::io::Error) -> std::io::Result<()> {
    if absent(&e) {
        Ok(())
    } else {
        Err(e)
    }
}

fn io(path: &Path, source: std::io::Error) -> RemoteError {
    RemoteError::Io {
        path: path.to_owned(),
        source,
    }
}
