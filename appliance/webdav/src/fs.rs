//! The store seen as a `dav_server` filesystem: one instance per user, rooted at that user's space.

use std::io::SeekFrom;
use std::time::SystemTime;

use bytes::Bytes;
use dav_server::davpath::DavPath;
use dav_server::fs::{
    DavDirEntry, DavFile, DavFileSystem, DavMetaData, DavProp, FsError, FsFuture, FsResult,
    FsStream, OpenOptions, ReadDirMeta,
};
use futures_util::FutureExt;
use http::StatusCode;
use microcloud_constants::DAV_NAMESPACE;
use microcloud_store::{
    Content, FetchStream, Node, Prop, ReadSource, Store, StoreError, Upload, UploadOptions, UserId,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A user's space in the store, as `dav_server` wants it.
#[derive(Clone)]
pub struct UserFs {
    store: Store,
    user: UserId,
    /// The device acting, recorded with what it writes.
    device: Option<String>,
}

impl UserFs {
    /// The space of `user` in `store`.
    pub fn new(store: Store, user: UserId) -> UserFs {
        UserFs {
            store,
            user,
            device: None,
        }
    }

    /// The space of `user`, written by the device named `device`.
    pub fn with_device(store: Store, user: UserId, device: Option<String>) -> UserFs {
        UserFs {
            store,
            user,
            device,
        }
    }
}

/// A request path as the store's path string; non-UTF-8 names are refused.
fn store_path(path: &DavPath) -> FsResult<String> {
    std::str::from_utf8(path.as_bytes())
        .map(str::to_owned)
        .map_err(|_| FsError::Forbidden)
}

/// Maps a store error to the status `dav_server` sends, logging what a maintainer needs to know.
pub(crate) fn fs_error(e: StoreError) -> FsError {
    match e {
        StoreError::NotFound { .. } | StoreError::NoParent { .. } => FsError::NotFound,
        StoreError::Exists { .. } | StoreError::NotEmpty { .. } => FsError::Exists,
        StoreError::IsDir { .. }
        | StoreError::NotDir { .. }
        | StoreError::InvalidName { .. }
        | StoreError::IntoItself { .. } => FsError::Forbidden,
        StoreError::Full { .. } | StoreError::DiskFull { .. } => {
            log::warn!("write refused: {e}");
            FsError::InsufficientStorage
        }
        ref e if e.is_disk_full() => {
            log::warn!("write refused, catalog disk full: {e}");
            FsError::InsufficientStorage
        }
        StoreError::Unavailable { .. } | StoreError::HashMismatch { .. } => {
            log::warn!("read-through failed: {e}");
            FsError::GeneralFailure
        }
        StoreError::Incomplete { .. } => {
            log::info!("{e}");
            FsError::GeneralFailure
        }
        e => {
            log::error!("store failure: {e}");
            FsError::GeneralFailure
        }
    }
}

/// Metadata of a node.
#[derive(Debug, Clone)]
pub struct NodeMeta(pub Node);

impl DavMetaData for NodeMeta {
    fn len(&self) -> u64 {
        self.0.size
    }
    fn modified(&self) -> FsResult<SystemTime> {
        Ok(self.0.mtime())
    }
    fn created(&self) -> FsResult<SystemTime> {
        Ok(self.0.ctime())
    }
    fn is_dir(&self) -> bool {
        self.0.is_dir
    }
    fn etag(&self) -> Option<String> {
        // The content hash is the file's identity end to end, so it is also its strong ETag.
        match self.0.hash_hex() {
            Some(h) if !self.0.is_dir => Some(h[..32].to_owned()),
            _ => Some(format!("d{:x}-{:x}", self.0.id, self.0.mtime_ns)),
        }
    }
}

struct Entry(Node);

impl DavDirEntry for Entry {
    fn name(&self) -> Vec<u8> {
        self.0.name.as_bytes().to_vec()
    }
    fn metadata(&self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let m: Box<dyn DavMetaData> = Box::new(NodeMeta(self.0.clone()));
        async move { Ok(m) }.boxed()
    }
}

/// Live properties of microcloud that every file shows (read-only).
fn live_props(node: &Node) -> Vec<DavProp> {
    if node.is_dir {
        return Vec::new();
    }
    let mut v = vec![DavProp::new(
        "durability".into(),
        "mc".into(),
        DAV_NAMESPACE.into(),
        node.durability.as_str().into(),
    )];
    if let Some(h) = node.hash_hex() {
        v.push(DavProp::new(
            "blake3".into(),
            "mc".into(),
            DAV_NAMESPACE.into(),
            h,
        ));
    }
    v
}

fn to_davprop(p: Prop) -> DavProp {
    DavProp {
        name: p.name,
        prefix: p.prefix,
        namespace: if p.ns.is_empty() { None } else { Some(p.ns) },
        xml: p.xml,
    }
}

impl DavFileSystem for UserFs {
    fn open<'a>(
        &'a self,
        path: &'a DavPath,
        options: OpenOptions,
    ) -> FsFuture<'a, Box<dyn DavFile>> {
        async move {
            let p = store_path(path)?;
            if options.write {
                let opts = UploadOptions {
                    expected_size: options.size,
                    create_new: options.create_new,
                    must_exist: !options.create,
                    keep_existing: !options.truncate,
                    device: self.device.clone(),
                };
                let up = match self.store.begin_upload(self.user, &p, opts.clone()) {
                    // Room may be made by evicting content that is safe in the cloud.
                    Err(StoreError::Full { needed, .. })
                        if self.store.evict(needed).await.unwrap_or(0) >= needed =>
                    {
                        self.store.begin_upload(self.user, &p, opts)
                    }
                    r => r,
                }
                .map_err(fs_error)?;
                return Ok(Box::new(WriteFile {
                    upload: Some(up),
                    committed: None,
                }) as Box<dyn DavFile>);
            }
            let node = self.store.lookup(self.user, &p).map_err(fs_error)?;
            if node.is_dir {
                return Err(FsError::Forbidden);
            }
            let blob = node.blob_id.ok_or(FsError::NotFound)?;
            // Evicted content streams in from a destination while it is written back (read-through).
            let source = match self.store.open_for_read(blob).await.map_err(fs_error)? {
                ReadSource::Streaming(s) => Source::Streaming {
                    stream: s,
                    pos: 0,
                    pending: Bytes::new(),
                    checked: false,
                },
                ReadSource::Local(c) => local_source(c, &p).await?,
            };
            Ok(Box::new(ReadFile {
                node,
                source,
                store: self.store.clone(),
            }) as Box<dyn DavFile>)
        }
        .boxed()
    }

    fn read_dir<'a>(
        &'a self,
        path: &'a DavPath,
        _meta: ReadDirMeta,
    ) -> FsFuture<'a, FsStream<Box<dyn DavDirEntry>>> {
        async move {
            let p = store_path(path)?;
            let store = self.store.clone();
            let user = self.user;
            let nodes = tokio::task::spawn_blocking(move || store.list(user, &p))
                .await
                .map_err(|_| FsError::GeneralFailure)?
                .map_err(fs_error)?;
            let entries = nodes
                .into_iter()
                .map(|n| Ok(Box::new(Entry(n)) as Box<dyn DavDirEntry>));
            Ok(Box::pin(futures_util::stream::iter(entries)) as FsStream<Box<dyn DavDirEntry>>)
        }
        .boxed()
    }

    fn metadata<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, Box<dyn DavMetaData>> {
        async move {
            let p = store_path(path)?;
            let node = self.store.lookup(self.user, &p).map_err(fs_error)?;
            Ok(Box::new(NodeMeta(node)) as Box<dyn DavMetaData>)
        }
        .boxed()
    }

    fn create_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.store
                .mkdir(self.user, &store_path(path)?)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn remove_dir<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.store
                .remove(self.user, &store_path(path)?, true)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn remove_file<'a>(&'a self, path: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.store
                .remove(self.user, &store_path(path)?, false)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn rename<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.store
                .rename(self.user, &store_path(from)?, &store_path(to)?)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn copy<'a>(&'a self, from: &'a DavPath, to: &'a DavPath) -> FsFuture<'a, ()> {
        async move {
            self.store
                .copy_file(self.user, &store_path(from)?, &store_path(to)?)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn set_modified<'a>(&'a self, path: &'a DavPath, tm: SystemTime) -> FsFuture<'a, ()> {
        async move {
            self.store
                .set_mtime(self.user, &store_path(path)?, tm)
                .await
                .map_err(fs_error)
        }
        .boxed()
    }

    fn have_props<'a>(
        &'a self,
        _path: &'a DavPath,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        async { true }.boxed()
    }

    fn patch_props<'a>(
        &'a self,
        path: &'a DavPath,
        patch: Vec<(bool, DavProp)>,
    ) -> FsFuture<'a, Vec<(StatusCode, DavProp)>> {
        async move {
            let p = store_path(path)?;
            // microcloud's own properties are computed, not stored: refuse to change them.
            let protected = patch
                .iter()
                .any(|(_, d)| d.namespace.as_deref() == Some(DAV_NAMESPACE));
            let strip = |d: &DavProp| DavProp {
                name: d.name.clone(),
                prefix: d.prefix.clone(),
                namespace: d.namespace.clone(),
                xml: None,
            };
            if protected {
                return Ok(patch
                    .iter()
                    .map(|(_, d)| {
                        let status = if d.namespace.as_deref() == Some(DAV_NAMESPACE) {
                            StatusCode::FORBIDDEN
                        } else {
                            StatusCode::FAILED_DEPENDENCY
                        };
                        (status, strip(d))
                    })
                    .collect());
            }
            let result: Vec<(StatusCode, DavProp)> = patch
                .iter()
                .map(|(_, d)| (StatusCode::OK, strip(d)))
                .collect();
            let props = patch
                .into_iter()
                .map(|(set, d)| {
                    (
                        set,
                        Prop {
                            ns: d.namespace.unwrap_or_default(),
                            name: d.name,
                            prefix: d.prefix,
                            xml: d.xml,
                        },
                    )
                })
                .collect();
            self.store
                .patch_props(self.user, &p, props)
                .await
                .map_err(fs_error)?;
            Ok(result)
        }
        .boxed()
    }

    fn get_props<'a>(&'a self, path: &'a DavPath, do_content: bool) -> FsFuture<'a, Vec<DavProp>> {
        async move {
            let p = store_path(path)?;
            let node = self.store.lookup(self.user, &p).map_err(fs_error)?;
            let mut v = live_props(&node);
            v.extend(
                self.store
                    .props(self.user, &p)
                    .map_err(fs_error)?
                    .into_iter()
                    .map(to_davprop),
            );
            if !do_content {
                for p in &mut v {
                    p.xml = None;
                }
            }
            Ok(v)
        }
        .boxed()
    }

    fn get_prop<'a>(&'a self, path: &'a DavPath, prop: DavProp) -> FsFuture<'a, Vec<u8>> {
        async move {
            let p = store_path(path)?;
            let node = self.store.lookup(self.user, &p).map_err(fs_error)?;
            let ns = prop.namespace.clone().unwrap_or_default();
            if ns == DAV_NAMESPACE {
                return live_props(&node)
                    .into_iter()
                    .find(|d| d.name == prop.name)
                    .and_then(|d| d.xml)
                    .ok_or(FsError::NotFound);
            }
            self.store
                .props(self.user, &p)
                .map_err(fs_error)?
                .into_iter()
                .find(|d| d.ns == ns && d.name == prop.name)
                .and_then(|d| d.xml)
                .ok_or(FsError::NotFound)
        }
        .boxed()
    }

    fn get_quota(&self) -> FsFuture<'_, (u64, Option<u64>)> {
        async move {
            let s = self.store.stats().map_err(fs_error)?;
            Ok((s.bytes, Some(s.cache_limit)))
        }
        .boxed()
    }
}

/// A file opened for reading: its committed blob, which never changes under it.
struct ReadFile {
    node: Node,
    source: Source,
    store: Store,
}

impl std::fmt::Debug for ReadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadFile")
            .field("node", &self.node.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Source {
    File(tokio::fs::File),
    Memory(Bytes, usize),
    /// Arriving from a destination; `pos` is how much was handed out.
    Streaming {
        stream: FetchStream,
        pos: u64,
        pending: Bytes,
        checked: bool,
    },
}

async fn local_source(c: Content, p: &str) -> FsResult<Source> {
    Ok(match c {
        Content::Inline(data) => Source::Memory(data, 0),
        Content::File(bp) => Source::File(tokio::fs::File::open(&bp).await.map_err(|e| {
            log::error!("{}: cannot open content of {p}: {e}", bp.display());
            FsError::GeneralFailure
        })?),
        Content::Evicted { .. } => return Err(FsError::GeneralFailure),
    })
}

impl ReadFile {
    /// Waits for a streaming fetch to finish, then reads the now local copy (for seeks).
    async fn settle(&mut self) -> FsResult<()> {
        if let Source::Streaming {
            stream, checked, ..
        } = &mut self.source
        {
            if !*checked {
                *checked = true;
                while stream.chunks.recv().await.is_some() {}
                if !matches!((&mut stream.done).await, Ok(Ok(()))) {
                    return Err(FsError::GeneralFailure);
                }
            }
            let blob = self.node.blob_id.ok_or(FsError::NotFound)?;
            let c = self.store.local_content(blob).await.map_err(fs_error)?;
            self.source = local_source(c, &self.node.name).await?;
        }
        Ok(())
    }
}

impl DavFile for ReadFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let m: Box<dyn DavMetaData> = Box::new(NodeMeta(self.node.clone()));
        async move { Ok(m) }.boxed()
    }
    fn write_buf(&mut self, _buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }
    fn write_bytes(&mut self, _buf: Bytes) -> FsFuture<'_, ()> {
        async { Err(FsError::Forbidden) }.boxed()
    }
    fn read_bytes(&mut self, count: usize) -> FsFuture<'_, Bytes> {
        async move {
            let size = self.node.size;
            match &mut self.source {
                Source::Streaming {
                    checked: true, pending, ..
                } if pending.is_empty() => Ok(Bytes::new()),
                Source::Streaming {
                    stream,
                    pos,
                    pending,
                    checked,
                } => {
                    let next = if pending.is_empty() {
                        stream.chunks.recv().await
                    } else {
                        Some(std::mem::take(pending))
                    };
                    match next {
                        Some(mut chunk) => {
                            // Never more than asked for: the caller counts down the file's length.
                            if chunk.len() > count {
                                *pending = chunk.split_off(count);
                            }
                            *pos += chunk.len() as u64;
                            // The last bytes wait for the hash check: a client that stops reading at
                            // the announced length must still never get a wrong file as complete.
                            if *pos >= size && !*checked {
                                *checked = true;
                                while stream.chunks.recv().await.is_some() {}
                                if !matches!((&mut stream.done).await, Ok(Ok(()))) {
                                    log::warn!(
                                        "read-through of {} did not match its hash; aborting the response",
                                        self.node.name
                                    );
                                    return Err(FsError::GeneralFailure);
                                }
                            }
                            Ok(chunk)
                        }
                        // All bytes handed out: complete only if they matched the hash.
                        None if *checked => Ok(Bytes::new()),
                        None => {
                            *checked = true;
                            match (&mut stream.done).await {
                                Ok(Ok(())) => Ok(Bytes::new()),
                                _ => {
                                    log::warn!(
                                        "read-through of {} failed after {pos} bytes; aborting the response",
                                        self.node.name
                                    );
                                    Err(FsError::GeneralFailure)
                                }
                            }
                        }
                    }
                }
                Source::Memory(data, pos) => {
                    let start = (*pos).min(data.len());
                    let end = (start + count).min(data.len());
                    *pos = end;
                    Ok(data.slice(start..end))
                }
                Source::File(file) => {
                    let mut buf = bytes::BytesMut::with_capacity(count);
                    while buf.len() < count {
                        let n = file.read_buf(&mut buf).await.map_err(|_| FsError::GeneralFailure)?;
                        if n == 0 {
                            break;
                        }
                    }
                    Ok(buf.freeze())
                }
            }
        }
        .boxed()
    }
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        async move {
            if let Source::Streaming { pos: at, .. } = &self.source {
                if pos == SeekFrom::Start(*at) {
                    return Ok(*at);
                }
                self.settle().await?;
            }
            match &mut self.source {
                Source::Streaming { .. } => Err(FsError::GeneralFailure),
                Source::File(file) => file.seek(pos).await.map_err(|_| FsError::GeneralFailure),
                Source::Memory(data, cur) => {
                    let len = data.len() as i64;
                    let new = match pos {
                        SeekFrom::Start(p) => p as i64,
                        SeekFrom::End(d) => len + d,
                        SeekFrom::Current(d) => *cur as i64 + d,
                    };
                    if new < 0 {
                        return Err(FsError::GeneralFailure);
                    }
                    *cur = new as usize;
                    Ok(new as u64)
                }
            }
        }
        .boxed()
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        async { Ok(()) }.boxed()
    }
}

/// A file opened for writing: an upload, committed on flush.
#[derive(Debug)]
struct WriteFile {
    upload: Option<Upload>,
    committed: Option<Node>,
}

impl DavFile for WriteFile {
    fn metadata(&mut self) -> FsFuture<'_, Box<dyn DavMetaData>> {
        let m = self.committed.clone();
        async move {
            match m {
                Some(n) => Ok(Box::new(NodeMeta(n)) as Box<dyn DavMetaData>),
                None => Err(FsError::NotFound),
            }
        }
        .boxed()
    }
    fn write_buf(&mut self, mut buf: Box<dyn bytes::Buf + Send>) -> FsFuture<'_, ()> {
        let bytes = buf.copy_to_bytes(buf.remaining());
        self.write_bytes(bytes)
    }
    fn write_bytes(&mut self, buf: Bytes) -> FsFuture<'_, ()> {
        async move {
            let up = self.upload.as_mut().ok_or(FsError::GeneralFailure)?;
            up.write(buf).await.map_err(fs_error)
        }
        .boxed()
    }
    fn read_bytes(&mut self, _count: usize) -> FsFuture<'_, Bytes> {
        async { Err(FsError::Forbidden) }.boxed()
    }
    fn seek(&mut self, pos: SeekFrom) -> FsFuture<'_, u64> {
        async move {
            let up = self.upload.as_mut().ok_or(FsError::GeneralFailure)?;
            match pos {
                SeekFrom::Start(p) => {
                    up.seek(p);
                    Ok(p)
                }
                _ => Err(FsError::NotImplemented),
            }
        }
        .boxed()
    }
    fn flush(&mut self) -> FsFuture<'_, ()> {
        async move {
            // The only flush dav_server makes is at the end of a PUT: that is the commit point.
            let Some(up) = self.upload.take() else {
                return Ok(());
            };
            let node = up.commit().await.map_err(fs_error)?;
            self.committed = Some(node);
            Ok(())
        }
        .boxed()
    }
}
