//! S3-compatible remotes: the operations (PutObject, HeadObject, GetObject, DeleteObject,
//! ListObjectsV2, the multipart upload calls) and what their answers mean, each mapped to a
//! [`RemoteError`] that says whether the remote is down or answered about the object. How
//! requests are signed and sent, under which bounds, is the [`transport`] module's business;
//! the answers' XML is read by [`crate::xml`].
//!
//! Conditional writes. `If-None-Match: *` (IfAbsent) and `If-Match: "etag"` (IfMatch) are sent,
//! signed, on PutObject and CompleteMultipartUpload, which AWS S3 honours (since 2024). Garage
//! 2.5.0 ignores both headers: a PUT with `If-None-Match: *` over an existing object, or with a
//! stale `If-Match`, succeeds and overwrites (pinned by `garage_conditional_headers` in
//! `tests/garage_checks.rs`). So before a conditional write we also HEAD the object and refuse the
//! write with [`RemoteError::PreconditionFailed`] when the condition does not hold. That check and
//! the write are two requests, so a writer racing in between on a server that ignores the headers
//! is not caught; servers that honour the headers close that window themselves.
//!
//! Checksums. Every PutObject and UploadPart carries `Content-MD5`; Garage 2.5.0 verifies it and
//! answers 400 BadDigest to a body that does not match (`corrupt_body_is_rejected` in
//! `tests/garage_checks.rs`).

mod transport;

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use md5::Digest as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use rusty_s3::{Bucket, UrlStyle};

use crate::xml::{self, unquote};
use crate::{
    BoxStream, Condition, Credentials, ObjectInfo, RemoteConfig, RemoteError, RemoteKind, Timeouts,
};
use transport::{Done, Headers, Reply, Transport};

/// A private CA's certificates, each checked as rustls will use it (the client's builder would
/// only say "builder error" of a bad one).
fn ca_roots(pem: &str) -> Result<Vec<reqwest::Certificate>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = Vec::new();
    for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let n = i + 1;
        let der = der.map_err(|e| format!("its CA certificate {n} is not PEM: {e}"))?;
        rustls::RootCertStore::empty()
            .add(der.clone())
            .map_err(|e| format!("its CA certificate {n} cannot be used: {e}"))?;
        roots.push(
            reqwest::Certificate::from_der(&der)
                .map_err(|e| format!("its CA certificate {n}: {e}"))?,
        );
    }
    if roots.is_empty() {
        return Err("its CA certificates: no certificate in the PEM".into());
    }
    Ok(roots)
}

/// An S3 bucket (and prefix) with its transport.
#[derive(Clone)]
pub(crate) struct S3 {
    http: Transport,
    /// "" or the configured prefix with exactly one trailing `/`.
    prefix: Arc<str>,
}

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
            ca_pem,
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
        let url: reqwest::Url = endpoint
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
        let creds = rusty_s3::Credentials::new(creds.access_key_id, creds.secret_access_key);
        let roots = match ca_pem {
            Some(pem) => ca_roots(pem).map_err(config)?,
            None => Vec::new(),
        };
        let http = Transport::new(&cfg.name, bucket, creds, timeouts, roots)
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        Ok(S3 {
            http,
            prefix: if prefix.is_empty() {
                "".into()
            } else {
                format!("{prefix}/").into()
            },
        })
    }

    /// Paces uploads by `limit`.
    pub(crate) fn set_limit(&mut self, limit: Arc<crate::limit::Bandwidth>) {
        self.http.set_limit(limit);
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
    pub(crate) async fn put_unchecked(
        &self,
        key: &str,
        data: Bytes,
        blake3_hex: &str,
        cond: &Condition,
        declared_md5: Option<&str>,
    ) -> Result<String, RemoteError> {
        let full = self.full_key(key);
        let md5 = match declared_md5 {
            Some(m) => m.to_owned(),
            None => body_md5(&data).await,
        };
        let mut headers: Headers = vec![
            ("content-md5", md5),
            ("x-amz-meta-blake3", blake3_hex.to_owned()),
        ];
        condition_headers(cond, &mut headers);
        let http = &self.http;
        let url = http.sign(
            http.bucket().put_object(http.credentials(), &full),
            &headers,
        );
        let resp = http
            .call("PutObject", Method::PUT, url, &headers, Some(data))
            .await?;
        self.expect_success(&resp, key, Some(cond))?;
        self.etag(&resp.headers, "PutObject")
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, RemoteError> {
        let full = self.full_key(key);
        let http = &self.http;
        let url = http.sign(http.bucket().head_object(http.credentials(), &full), &[]);
        let resp = http
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
                self.http
                    .unreachable("HeadObject", "answer without a Content-Length".into())
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
        let http = &self.http;
        let url = http.sign(
            http.bucket().get_object(http.credentials(), &full),
            &headers,
        );
        let (status, answer_headers, body) =
            match http.stream("GetObject", Method::GET, url, &headers).await? {
                Reply::Failed(done) => return Err(self.status_error(&done, key, None)),
                Reply::Streaming {
                    status,
                    headers,
                    body,
                } => (status, headers, body),
            };
        if let Some((first, _)) = range {
            // A server that ignores Range would hand back the wrong bytes: check it did not.
            let ok = match status {
                StatusCode::PARTIAL_CONTENT => {
                    header(&answer_headers, "content-range")
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.parse::<u64>().ok())
                        == Some(first)
                }
                _ => first == 0,
            };
            if !ok {
                return Err(RemoteError::Corrupt {
                    remote: self.name().to_owned(),
                    key: key.to_owned(),
                    detail: format!(
                        "asked for bytes from {first}, the answer ({status}) starts elsewhere"
                    ),
                });
            }
        }
        Ok(body)
    }

    /// CopyObject: a signed PUT of `to_key` naming `/<bucket>/<full from key>` (URL-encoded) as
    /// `x-amz-copy-source`, with `x-amz-metadata-directive: COPY` so that the BLAKE3 metadata
    /// goes along. The new ETag is in the answer's `<CopyObjectResult>`; S3 may answer 200 with an
    /// `<Error>` body when the copy failed after it started, which is an error here too.
    pub(crate) async fn copy(&self, from_key: &str, to_key: &str) -> Result<String, RemoteError> {
        const OP: &str = "CopyObject";
        let (from, to) = (self.full_key(from_key), self.full_key(to_key));
        let source = format!("/{}/{from}", self.http.bucket().name());
        let headers: Headers = vec![
            (
                "x-amz-copy-source",
                percent_encoding::utf8_percent_encode(&source, COPY_SOURCE).to_string(),
            ),
            ("x-amz-metadata-directive", "COPY".to_owned()),
        ];
        let http = &self.http;
        let url = http.sign(http.bucket().put_object(http.credentials(), &to), &headers);
        let resp = http
            .call(OP, Method::PUT, url, &headers, Some(Bytes::new()))
            .await?;
        if resp.status == StatusCode::NOT_FOUND && !no_such_bucket(&resp.body) {
            // NoSuchKey: the source is what is missing.
            return Err(RemoteError::NotFound {
                remote: self.name().to_owned(),
                key: from_key.to_owned(),
            });
        }
        self.expect_success(&resp, to_key, None)?;
        match xml::copy_object(&resp.body) {
            Ok(xml::Completed::Done { etag: Some(etag) }) => Ok(etag),
            Ok(xml::Completed::Done { etag: None }) => self.etag(&resp.headers, OP),
            Ok(xml::Completed::Failed(error)) => {
                let status = match error.code.as_str() {
                    "InternalError" | "ServiceUnavailable" | "SlowDown" => {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                Err(self.status_error(&Done { status, ..resp }, to_key, None))
            }
            Err(e) => Err(http.unreachable(OP, format!("unreadable answer: {e}"))),
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let full = self.full_key(key);
        let http = &self.http;
        let url = http.sign(http.bucket().delete_object(http.credentials(), &full), &[]);
        let resp = http
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
    ) -> Result<Option<HashSet<String>>, RemoteError> {
        let mut out = HashSet::new();
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
        let http = &self.http;
        let mut token: Option<String> = None;
        loop {
            let mut action = http.bucket().list_objects_v2(http.credentials());
            if !full_prefix.is_empty() {
                action.with_prefix(full_prefix.as_str());
            }
            if one_level {
                action.with_delimiter("/");
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = http.sign(action, &[]);
            let resp = http
                .call("ListObjectsV2", Method::GET, url, &[], None)
                .await?;
            self.expect_success(&resp, prefix, None)?;
            let page = xml::list_objects_v2(&resp.body).map_err(|e| {
                http.unreachable("ListObjectsV2", format!("unreadable listing: {e}"))
            })?;
            for obj in page.objects {
                let Some(key) = obj.key.strip_prefix(&*self.prefix) else {
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
        let http = &self.http;
        let url = http.sign(
            http.bucket()
                .create_multipart_upload(http.credentials(), &full),
            &headers,
        );
        let resp = http
            .call("CreateMultipartUpload", Method::POST, url, &headers, None)
            .await?;
        self.expect_success(&resp, key, None)?;
        xml::create_multipart_upload(&resp.body).map_err(|e| {
            http.unreachable("CreateMultipartUpload", format!("unreadable answer: {e}"))
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
        let md5 = match declared_md5 {
            Some(m) => m.to_owned(),
            None => body_md5(&data).await,
        };
        let headers: Headers = vec![("content-md5", md5)];
        let http = &self.http;
        let action = http
            .bucket()
            .upload_part(http.credentials(), &full, part_number, upload_id);
        let url = http.sign(action, &headers);
        let resp = http
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
        // rusty-s3 numbers parts by position; ours carry their own numbers, so the body is
        // written here and only the signature comes from rusty-s3.
        let http = &self.http;
        let action = http.bucket().complete_multipart_upload(
            http.credentials(),
            &full,
            upload_id,
            std::iter::empty::<&str>(),
        );
        let url = http.sign(action, &headers);
        let body = xml::complete_multipart_body(parts);
        let resp = http
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
                .ok_or_else(|| http.unreachable(OP, format!("unreadable answer: {e}"))),
        }
    }

    pub(crate) async fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), RemoteError> {
        let full = self.full_key(key);
        let http = &self.http;
        let action = http
            .bucket()
            .abort_multipart_upload(http.credentials(), &full, upload_id);
        let url = http.sign(action, &[]);
        let resp = http
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
        const OP: &str = "ListMultipartUploads";
        let full_prefix = self.full_key(prefix);
        let http = &self.http;
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            // rusty-s3 has no ListMultipartUploads action: the transport signs the query.
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
            let url = http.sign_bucket_get(&query);
            let resp = http.call(OP, Method::GET, url, &[], None).await?;
            self.expect_success(&resp, prefix, None)?;
            let page = xml::list_multipart_uploads(&resp.body)
                .map_err(|e| http.unreachable(OP, format!("unreadable listing: {e}")))?;
            for (key, id) in page.uploads {
                if let Some(key) = key.strip_prefix(&*self.prefix) {
                    out.push((key.to_owned(), id));
                }
            }
            match page.next {
                Some(next) => {
                    if markers.as_ref() == Some(&next) {
                        return Err(http.unreachable(OP, "listing does not advance".into()));
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
                remote: self.name().to_owned(),
                key: key.to_owned(),
            })
        }
    }

    fn name(&self) -> &str {
        self.http.remote()
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
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
        let remote = self.name().to_owned();
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
                    self.http.bucket().name(),
                    self.http.bucket().base_url().as_str()
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
            (429 | 503, _) | (_, "SlowDown") => RemoteError::Busy {
                remote,
                op: resp.op.to_owned(),
                detail,
            },
            // A concurrent conditional write on AWS: retrying shows who won.
            (408, _) | (500..=599, _) | (409, "ConditionalRequestConflict") => {
                self.http.unreachable(resp.op, detail)
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
            .ok_or_else(|| self.http.unreachable(op, "answer without an ETag".into()))
    }
}

/// What `x-amz-copy-source` leaves as it is: unreserved characters and the `/` between bucket
/// and key parts; everything else is percent-encoded (AWS requires the value URL-encoded).
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn condition_headers(cond: &Condition, headers: &mut Headers) {
    match cond {
        Condition::None => {}
        Condition::IfAbsent => headers.push(("if-none-match", "*".to_owned())),
        Condition::IfMatch(etag) => headers.push(("if-match", format!("\"{}\"", unquote(etag)))),
    }
}

/// Base64 of the MD5 of `data`, the `Content-MD5` header's value.
/// The `Content-MD5` of a body about to be sent. A large one is hashed off the runtime's
/// threads: a part of 16 MiB takes tens of milliseconds, which would hold up every task there.
async fn body_md5(data: &Bytes) -> String {
    if data.len() < 256 << 10 {
        return content_md5(data);
    }
    let d = data.clone();
    tokio::task::spawn_blocking(move || content_md5(&d))
        .await
        .expect("hashing does not panic")
}

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
                ca_pem: None,
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
        let http = &s3.http;
        let url = http.sign(
            http.bucket()
                .head_object(http.credentials(), &s3.full_key("a b/ü+%#?.jpg")),
            &[],
        );
        assert!(
            url.as_str()
                .starts_with("http://127.0.0.1:3900/photos/backup/a%20b/%C3%BC%2B%25%23%3F.jpg?"),
            "{url}"
        );
    }

    #[test]
    fn virtual_host_style_is_configured() {
        let s3 = remote("https://s3.example.net", false, "");
        let http = &s3.http;
        let url = http.sign(http.bucket().get_object(http.credentials(), "k"), &[]);
        assert!(
            url.as_str().starts_with("https://photos.s3.example.net/k?"),
            "{url}"
        );
    }

    #[test]
    fn copy_sources_are_url_encoded_with_their_slashes() {
        let source = "/photos/.microcloud/versions/alice/ab cd+ü%.jpg";
        assert_eq!(
            percent_encoding::utf8_percent_encode(source, COPY_SOURCE).to_string(),
            "/photos/.microcloud/versions/alice/ab%20cd%2B%C3%BC%25.jpg"
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
                ca_pem: None,
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
            ca_pem: None,
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
