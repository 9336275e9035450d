//! S3-compatible remotes: requests presigned with SigV4 by rusty-s3 (every header we send that
//! matters is signed), sent with reqwest, and every answer mapped to a [`RemoteError`] that says
//! whether the remote is down or answered about the object.
//!
//! Every request runs under a stall watchdog: the request body is fed to the socket in slices and
//! each slice taken counts as progress, as does each response chunk; a request that makes no
//! progress for [`Timeouts::stall`] becomes [`RemoteError::Unreachable`]. A frozen server
//! (SIGSTOP, a dead NAT entry) thus fails within a bound instead of hanging the uplink, while a
//! slow but moving upload of any size is never cut off.
//!
//! Conditional writes. `If-None-Match: *` (IfAbsent) and `If-Match: "etag"` (IfMatch) are sent,
//! signed, on PutObject and CompleteMultipartUpload, which AWS S3 honours (since 2024). Garage
//! 2.5.0 ignores both headers: a PUT with `If-None-Match: *` over an existing object, or with a
//! stale `If-Match`, succeeds and overwrites (pinned by `garage_checks::garage_conditional_headers`
//! below). So before a conditional write we also HEAD the object and refuse the write with
//! [`RemoteError::PreconditionFailed`] when the condition does not hold. That check and the write
//! are two requests, so a writer racing in between on a server that ignores the headers is not
//! caught; servers that honour the headers close that window themselves.
//!
//! Checksums. Every PutObject and UploadPart carries `Content-MD5`; Garage 2.5.0 verifies it and
//! answers 400 BadDigest to a body that does not match (`garage_checks::corrupt_body_is_rejected`).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::Digest as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use rusty_s3::{Bucket, S3Action, UrlStyle};

use crate::xml::{self, unquote};
use crate::{
    BoxStream, Condition, Credentials, ObjectInfo, RemoteConfig, RemoteError, RemoteKind, Timeouts,
};

/// How long a presigned URL stays valid: only its start matters, the server checks it on arrival.
const PRESIGN_VALID: Duration = Duration::from_secs(3600);
/// Slices in which request bodies are handed to the socket (each one is a sign of progress).
const BODY_SLICE: usize = 64 * 1024;
/// Largest response body read into memory (listings, errors); more is a misbehaving server.
const MAX_SMALL_BODY: usize = 64 * 1024 * 1024;

/// An S3 bucket (and prefix) with its credentials and HTTP client.
#[derive(Clone)]
pub(crate) struct S3 {
    inner: Arc<Inner>,
    /// Upload bandwidth limit shared with other remotes, if any.
    pub(crate) limit: Option<Arc<crate::limit::Bandwidth>>,
}

struct Inner {
    name: String,
    bucket: Bucket,
    creds: rusty_s3::Credentials,
    /// "" or the configured prefix with exactly one trailing `/`.
    prefix: String,
    client: reqwest::Client,
    stall: Duration,
}

/// Headers to sign and send with one request: lowercase names, values exactly as sent.
type Headers = Vec<(&'static str, String)>;

impl S3 {
    pub(crate) fn new(
        cfg: &RemoteConfig,
        creds: Option<Credentials>,
        timeouts: Timeouts,
    ) -> Result<S3, RemoteError> {
        let RemoteKind::S3 {
            endpoint,
            region,
            bucket,
            prefix,
            path_style,
        } = &cfg.kind
        else {
            unreachable!("S3::new called for a non-S3 remote");
        };
        let config = |detail: String| RemoteError::Config {
            remote: cfg.name.clone(),
            detail,
        };
        let creds =
            creds.ok_or_else(|| config("an S3 remote needs an access key and secret".into()))?;
        if bucket.is_empty() || region.is_empty() {
            return Err(config("bucket and region must not be empty".into()));
        }
        let url: Url = endpoint
            .parse()
            .map_err(|e| config(format!("endpoint {endpoint:?} is not a URL: {e}")))?;
        let style = if *path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(url, style, bucket.clone(), region.clone())
            .map_err(|e| config(format!("endpoint {endpoint:?} with bucket {bucket:?}: {e}")))?;
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            crate::validate_key(prefix)
                .map_err(|why| config(format!("prefix {prefix:?}: {why}")))?;
            // The store keeps paths short enough for a prefix of this length (its MAX_PREFIX_LEN).
            if prefix.len() > 127 {
                return Err(config(format!("prefix {prefix:?}: longer than 127 bytes")));
            }
        }
        let client = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            // A presigned request must not be replayed elsewhere; a redirect means a wrong
            // endpoint or region, which the status mapping reports.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("microcloud/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        Ok(S3 {
            inner: Arc::new(Inner {
                name: cfg.name.clone(),
                bucket,
                creds: rusty_s3::Credentials::new(creds.access_key_id, creds.secret_access_key),
                prefix: if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                },
                client,
                stall: timeouts.stall,
            }),
            limit: None,
        })
    }

    pub(crate) async fn put(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        self.check_condition(key, cond).await?;
        self.put_unchecked(key, data, blake3_hex, cond, None).await
    }

    /// The PutObject request alone: conditional headers are sent but not checked beforehand, and
    /// `declared_md5` (base64) replaces the body's real MD5 (for tests of the server's checks).
    async fn put_unchecked(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
        declared_md5: Option<&str>,
    ) -> Result<String, RemoteError> {
        let full = self.full_key(key);
        let md5 = declared_md5
            .map(str::to_owned)
            .unwrap_or_else(|| content_md5(&data));
        let mut headers: Headers = vec![
            ("content-md5", md5),
            ("x-amz-meta-blake3", blake3_hex.to_owned()),
        ];
        condition_headers(cond, &mut headers);
        let url = self.sign(
            self.inner.bucket.put_object(Some(&self.inner.creds), &full),
            &headers,
        );
        let resp = self
            .call("PutObject", Method::PUT, url, &headers, Some(data))
            .await?;
        self.expect_success(&resp, key, Some(cond))?;
        self.etag(&resp.headers, "PutObject")
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let full = self.full_key(key);
        let url = self.sign(
            self.inner
                .bucket
                .head_object(Some(&self.inner.creds), &full),
            &[],
        );
        let resp = self
            .call("HeadObject", Method::HEAD, url, &[], None)
            .await?;
        if resp.status == StatusCode::NOT_FOUND {
            // HEAD answers carry no body, so a missing bucket looks like a missing object here;
            // writes and listings do tell them apart (NoSuchBucket becomes a Config error).
            return Ok(None);
        }
        self.expect_success(&resp, key, None)?;
        let size = header(&resp.headers, "content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                self.unreachable("HeadObject", "answer without a Content-Length".into())
            })?;
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            size,
            etag: self.etag(&resp.headers, "HeadObject")?,
            blake3: header(&resp.headers, "x-amz-meta-blake3").map(str::to_owned),
        }))
    }

    pub(crate) async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<BoxStream, RemoteError> {
        let full = self.full_key(key);
        let mut headers: Headers = Vec::new();
        if let Some((first, last)) = range {
            headers.push(("range", format!("bytes={first}-{last}")));
        }
        let url = self.sign(
            self.inner.bucket.get_object(Some(&self.inner.creds), &full),
            &headers,
        );
        let progress = Arc::new(Progress::new());
        let resp = self
            .send("GetObject", Method::GET, url, &headers, None, &progress)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let headers = resp.headers().clone();
            let body = self.read_body("GetObject", resp, &progress).await?;
            let done = Done {
                op: "GetObject",
                status,
                headers,
                body,
            };
            return Err(self.status_error(&done, key, None));
        }
        if let Some((first, _)) = range {
            // A server that ignores Range would hand back the wrong bytes: check it did not.
            let ok = match status {
                StatusCode::PARTIAL_CONTENT => {
                    header(resp.headers(), "content-range")
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<u64>().ok())
                        == Some(first)
                }
                _ => first == 0,
            };
            if !ok {
                return Err(RemoteError::Corrupt {
                    remote: self.inner.name.clone(),
                    key: key.to_owned(),
                    detail: format!(
                        "asked for bytes from {first}, the answer ({status}) starts elsewhere"
                    ),
                });
            }
        }
        Ok(self.body_stream(resp))
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let full = self.full_key(key);
        let url = self.sign(
            self.inner
                .bucket
                .delete_object(Some(&self.inner.creds), &full),
            &[],
        );
        let resp = self
            .call("DeleteObject", Method::DELETE, url, &[], None)
            .await?;
        if resp.status == StatusCode::NOT_FOUND && !no_such_bucket(&resp.body) {
            return Ok(());
        }
        self.expect_success(&resp, key, None)
    }

    /// Every object under `prefix`, across all pages.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let mut out = Vec::new();
        self.list_pages(prefix, false, |info| {
            out.push(info);
            true
        })
        .await?;
        Ok(out)
    }

    /// The keys of the objects directly in folder `dir` (ending in '/', or "" for the top), not
    /// below it; `None` when there are more than `max`.
    pub(crate) async fn keys_in(
        &self,
        dir: &str,
        max: usize,
    ) -> Result<Option<std::collections::HashSet<String>>, RemoteError> {
        let mut out = std::collections::HashSet::new();
        let complete = self
            .list_pages(dir, true, |info| {
                out.insert(info.key);
                out.len() <= max
            })
            .await?;
        Ok(complete.then_some(out))
    }

    /// ListObjectsV2 under `prefix` (only its own level with `one_level`), page after page,
    /// handing each object to `each` until it answers false. Returns whether the listing ended
    /// (false: `each` stopped it).
    async fn list_pages(
        &self,
        prefix: &str,
        one_level: bool,
        mut each: impl FnMut(ObjectInfo) -> bool,
    ) -> Result<bool, RemoteError> {
        let full_prefix = self.full_key(prefix);
        let mut token: Option<String> = None;
        loop {
            let mut action = self.inner.bucket.list_objects_v2(Some(&self.inner.creds));
            if !full_prefix.is_empty() {
                action.with_prefix(full_prefix.as_str());
            }
            if one_level {
                action.with_delimiter("/");
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = self.sign(action, &[]);
            let resp = self
                .call("ListObjectsV2", Method::GET, url, &[], None)
                .await?;
            self.expect_success(&resp, prefix, None)?;
            let page = xml::list_objects_v2(&resp.body).map_err(|e| {
                self.unreachable("ListObjectsV2", format!("unreadable listing: {e}"))
            })?;
            for obj in page.objects {
                let Some(key) = obj.key.strip_prefix(&self.inner.prefix) else {
                    continue;
                };
                if !each(ObjectInfo {
                    key: key.to_owned(),
                    ..obj
                }) {
                    return Ok(false);
                }
            }
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(true),
            }
        }
    }

    /// PutObject for a key a listing has just shown absent: `If-None-Match: *` goes along for
    /// servers that honour it, without the emulated check's HEAD.
    pub(crate) async fn put_listed_absent(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
    ) -> Result<String, RemoteError> {
        self.put_unchecked(key, data, blake3_hex, &Condition::IfAbsent, None)
            .await
    }

    pub(crate) async fn create_multipart(
        &self,
        key: &str,
        blake3_hex: &str,
    ) -> Result<String, RemoteError> {
        let full = self.full_key(key);
        let headers: Headers = vec![("x-amz-meta-blake3", blake3_hex.to_owned())];
        let url = self.sign(
            self.inner
                .bucket
                .create_multipart_upload(Some(&self.inner.creds), &full),
            &headers,
        );
        let resp = self
            .call("CreateMultipartUpload", Method::POST, url, &headers, None)
            .await?;
        self.expect_success(&resp, key, None)?;
        xml::create_multipart_upload(&resp.body).map_err(|e| {
            self.unreachable("CreateMultipartUpload", format!("unreadable answer: {e}"))
        })
    }

    pub(crate) async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u16,
        data: Bytes,
        declared_md5: Option<&str>,
    ) -> Result<String, RemoteError> {
        let full = self.full_key(key);
        let md5 = declared_md5
            .map(str::to_owned)
            .unwrap_or_else(|| content_md5(&data));
        let headers: Headers = vec![("content-md5", md5)];
        let action =
            self.inner
                .bucket
                .upload_part(Some(&self.inner.creds), &full, part_number, upload_id);
        let url = self.sign(action, &headers);
        let resp = self
            .call("UploadPart", Method::PUT, url, &headers, Some(data))
            .await?;
        self.expect_success(&resp, key, None)?;
        self.etag(&resp.headers, "UploadPart")
    }

    pub(crate) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u16, String)],
        cond: &Condition,
    ) -> Result<String, RemoteError> {
        const OP: &str = "CompleteMultipartUpload";
        self.check_condition(key, cond).await?;
        let full = self.full_key(key);
        let mut headers: Headers = Vec::new();
        condition_headers(cond, &mut headers);
        // rusty-s3 numbers parts by position; ours carry their own numbers, so the (plain) body
        // is written here and only the signature comes from rusty-s3.
        let action = self.inner.bucket.complete_multipart_upload(
            Some(&self.inner.creds),
            &full,
            upload_id,
            std::iter::empty::<&str>(),
        );
        let url = self.sign(action, &headers);
        let body = xml::complete_multipart_body(parts);
        let resp = self
            .call(OP, Method::POST, url, &headers, Some(body.into()))
            .await?;
        self.expect_success(&resp, key, Some(cond))?;
        match xml::complete_multipart_upload(&resp.body) {
            Ok(xml::Completed::Done { etag: Some(etag) }) => Ok(etag),
            Ok(xml::Completed::Done { etag: None }) => self.etag(&resp.headers, OP),
            // S3 may answer 200 and still fail: the body then holds an <Error>.
            Ok(xml::Completed::Failed(error)) => {
                let status = match error.code.as_str() {
                    "InternalError" | "ServiceUnavailable" | "SlowDown" => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(self.status_error(&Done { status, ..resp }, key, Some(cond)))
            }
            // No usable body (some servers send none): the header's ETag, if there is one.
            Err(e) => header(&resp.headers, "etag")
                .map(|etag| unquote(etag).to_owned())
                .ok_or_else(|| self.unreachable(OP, format!("unreadable answer: {e}"))),
        }
    }

    pub(crate) async fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), RemoteError> {
        let full = self.full_key(key);
        let action =
            self.inner
                .bucket
                .abort_multipart_upload(Some(&self.inner.creds), &full, upload_id);
        let url = self.sign(action, &[]);
        let resp = self
            .call("AbortMultipartUpload", Method::DELETE, url, &[], None)
            .await?;
        if resp.status == StatusCode::NOT_FOUND && !no_such_bucket(&resp.body) {
            return Ok(());
        }
        self.expect_success(&resp, key, None)
    }

    pub(crate) async fn list_multipart(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, RemoteError> {
        let full_prefix = self.full_key(prefix);
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            // rusty-s3 has no ListMultipartUploads action: sign the request with its signer.
            let mut query = rusty_s3::Map::new();
            query.insert("encoding-type", "url");
            query.insert("uploads", "");
            if !full_prefix.is_empty() {
                query.insert("prefix", full_prefix.as_str());
            }
            if let Some((key_marker, id_marker)) = &markers {
                query.insert("key-marker", key_marker.as_str());
                query.insert("upload-id-marker", id_marker.as_str());
            }
            let url = rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                self.inner.bucket.base_url().clone(),
                self.inner.creds.key(),
                self.inner.creds.secret(),
                None,
                self.inner.bucket.region(),
                PRESIGN_VALID.as_secs(),
                query.iter(),
                std::iter::empty(),
            );
            let resp = self
                .call("ListMultipartUploads", Method::GET, url, &[], None)
                .await?;
            self.expect_success(&resp, prefix, None)?;
            let page = xml::list_multipart_uploads(&resp.body).map_err(|e| {
                self.unreachable("ListMultipartUploads", format!("unreadable listing: {e}"))
            })?;
            for (key, id) in page.uploads {
                if let Some(key) = key.strip_prefix(&self.inner.prefix) {
                    out.push((key.to_owned(), id));
                }
            }
            match page.next {
                Some(next) => {
                    if markers.as_ref() == Some(&next) {
                        return Err(self.unreachable(
                            "ListMultipartUploads",
                            "listing does not advance".into(),
                        ));
                    }
                    markers = Some(next);
                }
                None => return Ok(out),
            }
        }
    }

    /// For servers that ignore conditional headers (Garage): refuses a write whose condition
    /// does not hold now. See the module documentation for what this cannot catch.
    async fn check_condition(&self, key: &str, cond: &Condition) -> Result<(), RemoteError> {
        let holds = match cond {
            Condition::None => return Ok(()),
            Condition::IfAbsent => self.head(key).await?.is_none(),
            Condition::IfMatch(etag) => self
                .head(key)
                .await?
                .is_some_and(|info| info.etag == unquote(etag)),
        };
        if holds {
            Ok(())
        } else {
            Err(RemoteError::PreconditionFailed {
                remote: self.inner.name.clone(),
                key: key.to_owned(),
            })
        }
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.prefix)
    }

    fn sign<'a, A: S3Action<'a>>(
        &self,
        mut action: A,
        headers: &'a [(&'static str, String)],
    ) -> Url {
        for (name, value) in headers {
            action.headers_mut().insert(*name, value.as_str());
        }
        action.sign(PRESIGN_VALID)
    }

    /// Sends a request under the stall watchdog and returns the response once its headers are in.
    async fn send(
        &self,
        op: &str,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
        progress: &Arc<Progress>,
    ) -> Result<reqwest::Response, RemoteError> {
        let mut req = self.inner.client.request(method, url);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some(data) = body {
            // Declared up front so the server can refuse a short body, and fed in slices so that
            // the watchdog sees the socket taking them.
            req = req.header("content-length", data.len().to_string());
            req = req.body(reqwest::Body::wrap_stream(sliced(
                data,
                progress.clone(),
                self.limit.clone(),
            )));
        }
        match self.watch(op, progress, req.send()).await? {
            Ok(resp) => {
                progress.touch();
                Ok(resp)
            }
            Err(e) => Err(self.unreachable(op, describe(&e))),
        }
    }

    /// Sends a request and reads its whole (small) answer.
    async fn call(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
    ) -> Result<Done, RemoteError> {
        let progress = Arc::new(Progress::new());
        let resp = self.send(op, method, url, headers, body, &progress).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = self.read_body(op, resp, &progress).await?;
        Ok(Done {
            op,
            status,
            headers,
            body,
        })
    }

    async fn read_body(
        &self,
        op: &str,
        mut resp: reqwest::Response,
        progress: &Arc<Progress>,
    ) -> Result<Bytes, RemoteError> {
        let mut body = bytes::BytesMut::new();
        loop {
            match self.watch(op, progress, resp.chunk()).await? {
                Ok(Some(chunk)) => {
                    progress.touch();
                    if body.len() + chunk.len() > MAX_SMALL_BODY {
                        return Err(self.unreachable(
                            op,
                            format!("answer larger than {MAX_SMALL_BODY} bytes"),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body.freeze()),
                Err(e) => return Err(self.unreachable(op, describe(&e))),
            }
        }
    }

    /// The response body as a stream; a chunk that takes longer than the stall bound to arrive
    /// ends the stream with Unreachable.
    fn body_stream(&self, resp: reqwest::Response) -> BoxStream {
        let this = self.clone();
        let stream = futures_util::stream::unfold(Some(resp), move |state| {
            let this = this.clone();
            async move {
                let mut resp = state?;
                match tokio::time::timeout(this.inner.stall, resp.chunk()).await {
                    Ok(Ok(Some(chunk))) => Some((Ok(chunk), Some(resp))),
                    Ok(Ok(None)) => None,
                    Ok(Err(e)) => Some((Err(this.unreachable("GetObject", describe(&e))), None)),
                    Err(_) => Some((Err(this.unreachable("GetObject", this.stalled())), None)),
                }
            }
        });
        stream.boxed()
    }

    /// Runs `fut` until it ends or `progress` stands still for the stall bound.
    async fn watch<T>(
        &self,
        op: &str,
        progress: &Progress,
        fut: impl Future<Output = T>,
    ) -> Result<T, RemoteError> {
        tokio::pin!(fut);
        loop {
            let idle = progress.idle();
            if idle >= self.inner.stall {
                return Err(self.unreachable(op, self.stalled()));
            }
            tokio::select! {
                out = &mut fut => return Ok(out),
                _ = tokio::time::sleep(self.inner.stall - idle) => {}
            }
        }
    }

    fn stalled(&self) -> String {
        format!("no progress for {:.1} s", self.inner.stall.as_secs_f64())
    }

    fn expect_success(
        &self,
        resp: &Done,
        key: &str,
        cond: Option<&Condition>,
    ) -> Result<(), RemoteError> {
        if resp.status.is_success() {
            Ok(())
        } else {
            Err(self.status_error(resp, key, cond))
        }
    }

    /// Maps an unsuccessful answer to the error it means. A body that is no readable S3 error
    /// (a proxy's page, none at all) leaves the status alone to tell.
    fn status_error(&self, resp: &Done, key: &str, cond: Option<&Condition>) -> RemoteError {
        let remote = self.inner.name.clone();
        let key = key.to_owned();
        let xml::S3Error { code, message } = xml::error(&resp.body).unwrap_or_default();
        let status = resp.status.as_u16();
        let detail = match (code.is_empty(), message.is_empty()) {
            (true, _) => format!("HTTP {status}"),
            (false, true) => code.clone(),
            (false, false) => format!("{code}: {message}"),
        };
        match (status, code.as_str()) {
            (_, "NoSuchBucket") => RemoteError::Config {
                remote,
                detail: format!(
                    "bucket {:?} does not exist at {} ({detail})",
                    self.inner.bucket.name(),
                    self.endpoint()
                ),
            },
            (412, _) => RemoteError::PreconditionFailed { remote, key },
            // AWS answers If-Match on a missing object with 404: for us the object we expected
            // is not there, which is a failed precondition too.
            (404, _) if matches!(cond, Some(Condition::IfMatch(_))) => {
                RemoteError::PreconditionFailed { remote, key }
            }
            (404, _) => RemoteError::NotFound { remote, key },
            (401 | 403, _) | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                RemoteError::Denied { remote, detail }
            }
            // A concurrent conditional write on AWS: retrying shows who won.
            (408 | 429, _) | (500..=599, _) | (409, "ConditionalRequestConflict") => {
                self.unreachable(resp.op, detail)
            }
            (300..=399, _) => RemoteError::Config {
                remote,
                detail: format!("redirected ({detail}): check the endpoint, region and URL style"),
            },
            _ => RemoteError::Rejected {
                remote,
                key,
                status,
                detail,
            },
        }
    }

    fn etag(&self, headers: &HeaderMap, op: &str) -> Result<String, RemoteError> {
        header(headers, "etag")
            .map(|e| unquote(e).to_owned())
            .ok_or_else(|| self.unreachable(op, "answer without an ETag".into()))
    }

    fn endpoint(&self) -> String {
        self.inner.bucket.base_url().as_str().to_owned()
    }

    fn unreachable(&self, op: &str, detail: String) -> RemoteError {
        RemoteError::Unreachable {
            remote: self.inner.name.clone(),
            op: op.to_owned(),
            detail,
        }
    }
}

/// A finished exchange with a small answer.
struct Done {
    op: &'static str,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// When a request last moved, for the stall watchdog.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The body as a stream of zero-copy slices; taking each one counts as progress.
fn sliced(
    data: Bytes,
    progress: Arc<Progress>,
    limit: Option<Arc<crate::limit::Bandwidth>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(0usize, move |at| {
        let data = data.clone();
        let progress = progress.clone();
        let limit = limit.clone();
        async move {
            if at >= data.len() {
                return None;
            }
            progress.touch();
            let end = (at + BODY_SLICE).min(data.len());
            if let Some(l) = &limit {
                // Waiting for the limit is progress as far as the stall watchdog is concerned.
                l.acquire(end - at, || progress.touch()).await;
            }
            Some((Ok(data.slice(at..end)), end))
        }
    })
}

fn condition_headers(cond: &Condition, headers: &mut Headers) {
    match cond {
        Condition::None => {}
        Condition::IfAbsent => headers.push(("if-none-match", "*".to_owned())),
        Condition::IfMatch(etag) => headers.push(("if-match", format!("\"{}\"", unquote(etag)))),
    }
}

/// Base64 of the MD5 of `data`, the `Content-MD5` header's value.
pub(crate) fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an error body says the bucket does not exist.
fn no_such_bucket(body: &[u8]) -> bool {
    xml::error(body).is_ok_and(|e| e.code == "NoSuchBucket")
}

/// An error and its causes on one line, without the (presigned, so sensitive) URL.
fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        let text = if out.is_empty() {
            // reqwest's own message would print the URL; its kind is enough.
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else if e.is_body() || e.is_decode() {
                "broken response body".to_owned()
            } else {
                "request failed".to_owned()
            }
        } else {
            err.to_string()
        };
        if !out.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = err.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(endpoint: &str, path_style: bool, prefix: &str) -> S3 {
        let cfg = RemoteConfig {
            name: "t".into(),
            kind: RemoteKind::S3 {
                endpoint: endpoint.into(),
                region: "garage".into(),
                bucket: "photos".into(),
                prefix: prefix.into(),
                path_style,
            },
        };
        let creds = Credentials {
            access_key_id: "GKx".into(),
            secret_access_key: "s".into(),
        };
        S3::new(&cfg, Some(creds), Timeouts::default()).unwrap()
    }

    #[test]
    fn keys_are_percent_encoded_in_urls() {
        let s3 = remote("http://127.0.0.1:3900", true, "/backup/");
        let url = s3.sign(
            s3.inner
                .bucket
                .head_object(Some(&s3.inner.creds), &s3.full_key("a b/ü+%#?.jpg")),
            &[],
        );
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:3900/photos/backup/a%20b/%C3%BC%2B%25%23%3F.jpg?"),
            "{url}"
        );
    }

    #[test]
    fn virtual_host_style_puts_the_bucket_in_the_host() {
        let s3 = remote("https://s3.example.net", false, "");
        let url = s3.sign(s3.inner.bucket.get_object(Some(&s3.inner.creds), "k"), &[]);
        assert!(
            url.as_str().starts_with("https://photos.s3.example.net/k?"),
            "{url}"
        );
    }

    #[test]
    fn signed_headers_are_listed_in_the_url() {
        let s3 = remote("http://127.0.0.1:3900", true, "");
        let headers: Headers = vec![
            ("content-md5", "x".into()),
            ("if-none-match", "*".into()),
            ("x-amz-meta-blake3", "h".into()),
        ];
        let url = s3.sign(
            s3.inner.bucket.put_object(Some(&s3.inner.creds), "k"),
            &headers,
        );
        assert!(
            url.as_str().contains(
                "X-Amz-SignedHeaders=content-md5%3Bhost%3Bif-none-match%3Bx-amz-meta-blake3"
            ),
            "{url}"
        );
    }

    #[test]
    fn content_md5_is_base64_of_the_digest() {
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn missing_credentials_or_bad_endpoint_are_config_errors() {
        let mut cfg = RemoteConfig {
            name: "t".into(),
            kind: RemoteKind::S3 {
                endpoint: "ftp://x".into(),
                region: "r".into(),
                bucket: "test-bucket".into(),
                prefix: "".into(),
                path_style: true,
            },
        };
        assert!(matches!(
            S3::new(&cfg, None, Timeouts::default()),
            Err(RemoteError::Config { .. })
        ));
        let creds = Credentials {
            access_key_id: "a".into(),
            secret_access_key: "b".into(),
        };
        assert!(matches!(
            S3::new(&cfg, Some(creds.clone()), Timeouts::default()),
            Err(RemoteError::Config { .. })
        ));
        cfg.kind = RemoteKind::S3 {
            endpoint: "http://h".into(),
            region: "r".into(),
            bucket: "test-bucket".into(),
            prefix: "a/../b".into(),
            path_style: true,
        };
        assert!(matches!(
            S3::new(&cfg, Some(creds), Timeouts::default()),
            Err(RemoteError::Config { .. })
        ));
    }

    fn done(status: u16, body: &'static str) -> Done {
        Done {
            op: "PutObject",
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn answers_map_to_what_they_mean() {
        let s3 = remote("http://127.0.0.1:3900", true, "");
        let error = |status, body| s3.status_error(&done(status, body), "k", None);
        let bad_digest = "<Error><Code>BadDigest</Code><Message>differs</Message></Error>";
        assert!(matches!(
            error(400, bad_digest),
            RemoteError::Rejected { status: 400, ref detail, .. } if detail == "BadDigest: differs"
        ));
        assert!(matches!(
            error(404, "<Error><Code>NoSuchBucket</Code></Error>"),
            RemoteError::Config { .. }
        ));
        assert!(matches!(
            error(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>"),
            RemoteError::Denied { .. }
        ));
        // A proxy's page, or no body: the status tells.
        assert!(matches!(
            error(502, "<html><body>Bad Gateway</body></html>"),
            RemoteError::Unreachable { ref detail, .. } if detail == "HTTP 502"
        ));
        assert!(matches!(error(404, ""), RemoteError::NotFound { .. }));
        assert!(no_such_bucket(b"<Error><Code>NoSuchBucket</Code></Error>"));
        assert!(!no_such_bucket(b"<Error><Code>NoSuchKey</Code></Error>"));
        assert!(!no_such_bucket(b"NoSuchBucket"));
    }
}

/// What Garage itself checks, below the remote's own emulation: these pin down the claims of the
/// module documentation, so that a Garage upgrade that changes them is noticed.
#[cfg(test)]
mod garage_checks {
    use super::*;
    use microcloud_tests::garage::Garage;

    fn remote(garage: &Garage) -> S3 {
        garage.create_bucket("test-bucket");
        let (access_key_id, secret_access_key) = garage.credentials();
        let cfg = RemoteConfig {
            name: "garage".into(),
            kind: RemoteKind::S3 {
                endpoint: garage.endpoint(),
                region: garage.region().into(),
                bucket: "test-bucket".into(),
                prefix: "".into(),
                path_style: true,
            },
        };
        S3::new(
            &cfg,
            Some(Credentials {
                access_key_id,
                secret_access_key,
            }),
            Timeouts::default(),
        )
        .unwrap()
    }

    fn hash(data: &[u8]) -> String {
        blake3::hash(data).to_hex().to_string()
    }

    #[tokio::test]
    async fn corrupt_body_is_rejected() {
        let garage = Garage::start();
        let s3 = remote(&garage);
        let body = Bytes::from_static(b"the body that was sent");
        // The MD5 of what the sender meant to send, with a body that got corrupted on the way.
        let meant = content_md5(b"the body that was meant");
        let err = s3
            .put_unchecked(
                "k",
                body.clone(),
                &hash(&body),
                &Condition::None,
                Some(&meant),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RemoteError::Rejected { status: 400, detail, .. } if detail.contains("BadDigest")),
            "{err}"
        );
        assert_eq!(
            s3.head("k").await.unwrap(),
            None,
            "a rejected body was stored"
        );

        let id = s3.create_multipart("k", &hash(&body)).await.unwrap();
        let err = s3
            .upload_part("k", &id, 1, body.clone(), Some(&meant))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RemoteError::Rejected { status: 400, detail, .. } if detail.contains("BadDigest")),
            "{err}"
        );
        s3.abort_multipart("k", &id).await.unwrap();

        // The real MD5 passes.
        s3.put_unchecked("k", body.clone(), &hash(&body), &Condition::None, None)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn garage_conditional_headers() {
        let garage = Garage::start();
        let s3 = remote(&garage);
        let (v1, v2) = (Bytes::from_static(b"one"), Bytes::from_static(b"two"));
        let e1 = s3
            .put_unchecked("k", v1.clone(), &hash(&v1), &Condition::None, None)
            .await
            .unwrap();
        let absent = s3
            .put_unchecked("k", v2.clone(), &hash(&v2), &Condition::IfAbsent, None)
            .await;
        let stale = s3
            .put_unchecked(
                "k",
                v2.clone(),
                &hash(&v2),
                &Condition::IfMatch("00000000000000000000000000000000".into()),
                None,
            )
            .await;
        let current = s3
            .put_unchecked(
                "k",
                v1.clone(),
                &hash(&v1),
                &Condition::IfMatch(e1.clone()),
                None,
            )
            .await;
        // Garage 2.5.0 ignores both headers: each write lands. Should a later Garage refuse the
        // first two with 412, the HEAD emulation in `check_condition` becomes a mere double check.
        assert!(
            absent.is_ok(),
            "Garage now honours If-None-Match: {absent:?}"
        );
        assert!(stale.is_ok(), "Garage now honours If-Match: {stale:?}");
        assert!(current.is_ok(), "{current:?}");
        assert_eq!(s3.head("k").await.unwrap().unwrap().etag, current.unwrap());

        // Hence the emulation: the public path refuses what Garage would have let through.
        let refused = s3
            .put("k", v2.clone(), &hash(&v2), &Condition::IfAbsent)
            .await;
        assert!(
            matches!(refused, Err(RemoteError::PreconditionFailed { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn folder_listing_for_new_keys() {
        let garage = Garage::start();
        let s3 = remote(&garage);
        for k in ["u/a", "u/b", "u/sub/c", "v/d"] {
            let b = Bytes::from(k.as_bytes().to_vec());
            s3.put_unchecked(k, b.clone(), &hash(&b), &Condition::None, None)
                .await
                .unwrap();
        }
        let keys = s3.keys_in("u/", 10).await.unwrap().unwrap();
        let mut keys: Vec<_> = keys.into_iter().collect();
        keys.sort();
        assert_eq!(keys, ["u/a", "u/b"], "only the folder's own objects");
        assert_eq!(s3.keys_in("u/", 1).await.unwrap(), None, "more than max");
        assert!(s3.keys_in("w/", 10).await.unwrap().unwrap().is_empty());
    }
}
