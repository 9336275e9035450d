//! A stand-in for the far end of an S3 cloud whose CPU is not ours, for benchmarks: an
//! S3-compatible server that keeps its objects in memory and spends as little CPU per request as
//! it can, so that what bounds a client measured against it (behind the `distance` proxy) is the
//! round trip and the requests it keeps in flight, not a server sharing the client's cores.
//!
//! It is a stand-in, not a server to keep data in, and not a check that a client is right:
//! - no signature, credential or permission is checked (any request is the owner's);
//! - path-style URLs only (`http://host/bucket/key`);
//! - an object's bytes are kept only when it is at most `keep_max` bytes (a multipart object
//!   when its parts add up to at most that); a larger one keeps its size, ETag and metadata, and
//!   a GET of it answers 501. A 1 GiB upload costs no memory, only its MD5;
//! - with `--trust-md5`, a body's `Content-MD5` is taken as its MD5 without hashing the body;
//! - one version per object; no ACLs, tags, checksums other than MD5, regions, CopyObject,
//!   DeleteObjects or bucket deletion (501 NotImplemented).
//!
//! What it does as S3 does: `Content-MD5` is verified (400 BadDigest); the ETag is the hex MD5 in
//! quotes (a multipart object's is the MD5 of its parts' MD5s, then `-N`); `If-None-Match: *` and
//! `If-Match` are honoured on PutObject and CompleteMultipartUpload (412); `x-amz-meta-*` and
//! `Content-Type` are kept; ListObjects V1 and V2 (prefix, delimiter, pages of up to 1,000,
//! `encoding-type=url`), HeadObject, GetObject (one byte range), DeleteObject, the multipart calls
//! and ListMultipartUploads (one page), CreateBucket and HeadBucket (a bucket not created answers
//! NoSuchBucket).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Largest object (or sum of a multipart upload's parts) whose bytes are kept by default.
pub const KEEP_MAX: u64 = 16 << 20;
/// Most entries in one listing page.
const PAGE: usize = 1000;
/// What keys in listings with `encoding-type=url` keep as they are.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

#[cfg(test)]
mod tests;

type Reply = Response<Full<Bytes>>;
type Query = HashMap<String, String>;
/// An object's kept headers, and its bytes if kept.
type Meta = (Vec<(String, String)>, Option<Bytes>);

struct Obj {
    size: u64,
    etag: String,
    /// `content-type` and `x-amz-meta-*` headers.
    meta: Vec<(String, String)>,
    modified: jiff::Timestamp,
    body: Option<Bytes>,
}

struct Part {
    size: u64,
    md5: [u8; 16],
    body: Option<Bytes>,
}

struct Upload {
    bucket: String,
    key: String,
    meta: Vec<(String, String)>,
    started: jiff::Timestamp,
    parts: BTreeMap<u16, Part>,
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, BTreeMap<String, Obj>>,
    uploads: BTreeMap<String, Upload>,
    next_upload: u64,
}

struct Sink {
    keep_max: u64,
    trust_md5: bool,
    state: Mutex<State>,
    versions: Arc<Versions>,
}

/// Requests answered, by HTTP version.
#[derive(Default, Debug)]
pub struct Versions {
    pub http1: std::sync::atomic::AtomicU64,
    pub http2: std::sync::atomic::AtomicU64,
}

impl Versions {
    /// (HTTP/1.x requests, HTTP/2 requests) so far.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.http1.load(Relaxed), self.http2.load(Relaxed))
    }
}

/// A sink on https, its certificate signed by a CA of its own.
pub struct TlsSink {
    pub addr: SocketAddr,
    /// The CA's certificate (PEM): what a client must trust.
    pub ca_pem: String,
    pub versions: Arc<Versions>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the sink on https at `listen`, for names `localhost` and 127.0.0.1, offering HTTP/2
/// and HTTP/1.1 (TLS's ALPN) when `offer_h2`, else HTTP/1.1 only: an endpoint of each kind.
pub async fn start_tls(
    listen: SocketAddr,
    trust_md5: bool,
    buckets: &[String],
    offer_h2: bool,
) -> std::io::Result<TlsSink> {
    let other = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(|e| other(&e))?;
    let mut ca = rcgen::CertificateParams::default();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "s3sink test CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| other(&e))?;
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().map_err(|e| other(&e))?;
    let params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| other(&e))?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| other(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other(&e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| other(&e))?;
    config.alpn_protocols = if offer_h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let sink = Arc::new(Sink::new(KEEP_MAX, trust_md5, buckets));
    let versions = sink.versions.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (sink, acceptor) = (sink.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| {
                    let sink = sink.clone();
                    async move { Ok::<_, Infallible>(sink.handle(req).await) }
                });
                let io = hyper_util::rt::TokioIo::new(tls);
                // What ALPN chose decides; a client that named nothing gets HTTP/1.1.
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder.serve_connection(io, service).await;
            });
        }
    });
    Ok(TlsSink {
        addr,
        ca_pem: ca_cert.pem(),
        versions,
        task,
    })
}

impl Sink {
    fn new(keep_max: u64, trust_md5: bool, buckets: &[String]) -> Sink {
        let mut state = State::default();
        for b in buckets {
            state.buckets.entry(b.clone()).or_default();
        }
        Sink {
            keep_max,
            trust_md5,
            state: Mutex::new(state),
            versions: Arc::default(),
        }
    }
}

/// Starts the sink on `listen` (port 0: any free port) with `buckets` made; returns its address
/// and the task that serves it (until aborted). With `trust_md5`, a body's `Content-MD5` is
/// taken as its MD5 unchecked (bodies without one are hashed): the hashing a cloud does on its own
/// CPU then costs none of ours.
pub async fn start(
    listen: SocketAddr,
    keep_max: u64,
    trust_md5: bool,
    buckets: &[String],
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let sink = Arc::new(Sink::new(keep_max, trust_md5, buckets));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let sink = sink.clone();
                    async move { Ok::<_, Infallible>(sink.handle(req).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let conn = hyper::server::conn::http1::Builder::new();
                let _ = conn.serve_connection(io, service).await;
            });
        }
    });
    Ok((addr, task))
}

fn reply(status: StatusCode, body: impl Into<Bytes>, headers: &[(&str, &str)]) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

/// An XML answer: `<root>inner</root>`.
fn doc(status: StatusCode, root: &str, inner: &str) -> Reply {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{inner}</{root}>"
    );
    reply(status, body, &[("content-type", "application/xml")])
}

fn error(status: u16, code: &str) -> Reply {
    let status = StatusCode::from_u16(status).expect("status");
    doc(
        status,
        "Error",
        &format!("<Code>{code}</Code><Message>{code}</Message>"),
    )
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn iso(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key or prefix for a listing: URL-encoded when asked, then escaped for XML.
fn listed(s: &str, url: bool) -> String {
    match url {
        true => esc(&utf8_percent_encode(s, KEY_SET).to_string()),
        false => esc(s),
    }
}

/// The headers a request asks to keep with its object.
fn meta_of(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(n, _)| n.as_str().starts_with("x-amz-meta-") || *n == "content-type")
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// Whether `If-None-Match: *` and `If-Match` let a write over `current` go ahead.
fn condition_holds(h: &HeaderMap, current: Option<&Obj>) -> bool {
    if header(h, "if-none-match").is_some_and(|v| v.trim() == "*") && current.is_some() {
        return false;
    }
    header(h, "if-match").is_none_or(|want| {
        let want = want.trim().trim_matches('"');
        current.is_some_and(|o| want == "*" || want == o.etag)
    })
}

impl Sink {
    async fn handle(&self, req: Request<Incoming>) -> Reply {
        let counter = match req.version() {
            hyper::Version::HTTP_2 => &self.versions.http2,
            _ => &self.versions.http1,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let head = req.method() == Method::HEAD;
        let mut r = self.answer(req).await;
        // HTTP/1.1 drops a HEAD answer's body by itself; HTTP/2 would send it, which a client
        // rightly takes for a protocol error.
        if head {
            *r.body_mut() = Full::new(Bytes::new());
        }
        r
    }

    async fn answer(&self, req: Request<Incoming>) -> Reply {
        let (parts, body) = req.into_parts();
        let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let path = dec(parts.uri.path());
        let (bucket, key) = path[1..].split_once('/').unwrap_or((&path[1..], ""));
        let query: Query = (parts.uri.query().unwrap_or("").split('&'))
            .filter(|s| !s.is_empty())
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .map(|(k, v)| (dec(&k.replace('+', " ")), dec(&v.replace('+', " "))))
            .collect();
        let q = |name: &str| query.get(name).map(String::as_str);
        let (h, m) = (&parts.headers, &parts.method);
        if bucket.is_empty() {
            return error(501, "NotImplemented");
        }
        if *m == Method::PUT && key.is_empty() && query.is_empty() {
            let mut st = self.state.lock().unwrap();
            st.buckets.entry(bucket.to_owned()).or_default();
            return reply(StatusCode::OK, "", &[]);
        }
        if !self.state.lock().unwrap().buckets.contains_key(bucket) {
            return error(404, "NoSuchBucket");
        }
        let copy = header(h, "x-amz-copy-source").is_some();
        match (m.clone(), key.is_empty()) {
            (Method::HEAD, true) => reply(StatusCode::OK, "", &[]),
            (Method::GET, true) if q("uploads").is_some() => self.list_uploads(bucket, &query),
            (Method::GET, true) if query.keys().all(|k| is_list_param(k)) => {
                self.list(bucket, &query)
            }
            (Method::PUT, false) if copy => error(501, "NotImplemented"),
            (Method::PUT, false) => match (q("uploadId"), q("partNumber")) {
                (Some(id), Some(n)) => self.upload_part(id, n, h, body).await,
                (None, None) => match self.read(h, body, self.keep_max).await {
                    Ok(p) => {
                        self.store((bucket, key), h, p.size, hex(&p.md5), (meta_of(h), p.body))
                    }
                    Err(r) => r,
                },
                _ => error(400, "InvalidRequest"),
            },
            (Method::POST, false) if q("uploads").is_some() => self.create(bucket, key, h),
            (Method::POST, false) if q("uploadId").is_some() => {
                let id = q("uploadId").unwrap_or("");
                self.complete(bucket, key, id, h, body).await
            }
            (Method::DELETE, false) => {
                let mut st = self.state.lock().unwrap();
                if let Some(id) = q("uploadId") {
                    if st.uploads.remove(id).is_none() {
                        return error(404, "NoSuchUpload");
                    }
                } else if let Some(b) = st.buckets.get_mut(bucket) {
                    b.remove(key);
                }
                reply(StatusCode::NO_CONTENT, "", &[])
            }
            (Method::GET | Method::HEAD, false) => self.get(bucket, key, m, h),
            _ => error(501, "NotImplemented"),
        }
    }

    /// Reads a body, checking `Content-MD5`; keeps its bytes if they are at most `keep_max`.
    async fn read(&self, h: &HeaderMap, mut body: Incoming, keep_max: u64) -> Result<Part, Reply> {
        let declared = header(h, "content-length").and_then(|v| v.parse::<u64>().ok());
        let mut keep = declared.is_none_or(|n| n <= keep_max).then(Vec::new);
        let want = header(h, "content-md5").map(|v| B64.decode(v.trim()).ok());
        let trusted: Option<[u8; 16]> = match &want {
            Some(Some(w)) if self.trust_md5 => w.as_slice().try_into().ok(),
            _ => None,
        };
        let (mut md5, mut size) = (Md5::new(), 0u64);
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(error(400, "IncompleteBody"));
            };
            if let Ok(data) = frame.into_data() {
                if trusted.is_none() {
                    md5.update(&data);
                }
                size += data.len() as u64;
                if size > keep_max {
                    keep = None;
                }
                if let Some(k) = &mut keep {
                    k.extend_from_slice(&data);
                }
            }
        }
        let md5: [u8; 16] = trusted.unwrap_or_else(|| md5.finalize().into());
        if want.is_some_and(|w| w.as_deref() != Some(&md5[..])) {
            return Err(error(400, "BadDigest"));
        }
        let body = keep.map(Bytes::from);
        Ok(Part { size, md5, body })
    }

    /// Stores an object of `size` bytes (`body` if kept) if the request's conditions hold.
    fn store(&self, at: (&str, &str), h: &HeaderMap, size: u64, etag: String, meta: Meta) -> Reply {
        let (meta, body) = meta;
        let mut st = self.state.lock().unwrap();
        let objects = st.buckets.entry(at.0.to_owned()).or_default();
        if !condition_holds(h, objects.get(at.1)) {
            return error(412, "PreconditionFailed");
        }
        let quoted = format!("\"{etag}\"");
        let modified = jiff::Timestamp::now();
        let obj = Obj {
            size,
            etag,
            meta,
            modified,
            body,
        };
        objects.insert(at.1.to_owned(), obj);
        reply(StatusCode::OK, "", &[("etag", &quoted)])
    }

    fn get(&self, bucket: &str, key: &str, m: &Method, h: &HeaderMap) -> Reply {
        let st = self.state.lock().unwrap();
        let Some(o) = st.buckets.get(bucket).and_then(|b| b.get(key)) else {
            return error(404, "NoSuchKey");
        };
        let (mut status, mut first, mut last) = (StatusCode::OK, 0, o.size.saturating_sub(1));
        let range = header(h, "range").and_then(|r| r.strip_prefix("bytes="));
        if let Some((a, b)) = range.and_then(|r| r.split_once('-')) {
            match (a.parse::<u64>().ok(), b.parse::<u64>().ok()) {
                (Some(a), b) if a < o.size => (first, last) = (a, b.unwrap_or(last).min(last)),
                (None, Some(n)) if n > 0 && o.size > 0 => first = o.size - n.min(o.size),
                _ => return error(416, "InvalidRange"),
            }
            status = StatusCode::PARTIAL_CONTENT;
        }
        let len = if o.size == 0 { 0 } else { last + 1 - first };
        let body = match (&o.body, m) {
            (_, &Method::HEAD) => Bytes::new(),
            (Some(b), _) => b.slice(first as usize..(first + len) as usize),
            (None, _) => return error(501, "NotImplemented"),
        };
        let (etag, size) = (format!("\"{}\"", o.etag), len.to_string());
        let modified = o.modified.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let range = format!("bytes {first}-{last}/{}", o.size);
        let mut headers = vec![
            ("etag", etag.as_str()),
            ("content-length", &size),
            ("last-modified", &modified),
            ("accept-ranges", "bytes"),
        ];
        if status == StatusCode::PARTIAL_CONTENT {
            headers.push(("content-range", &range));
        }
        headers.extend(o.meta.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        reply(status, body, &headers)
    }

    /// ListObjects, V1 (`marker`) or V2 (`list-type=2`, `continuation-token`, `start-after`).
    fn list(&self, bucket: &str, query: &Query) -> Reply {
        let q = |name: &str| query.get(name).map(String::as_str);
        let v2 = q("list-type") == Some("2");
        let prefix = q("prefix").unwrap_or("");
        let delim = q("delimiter").filter(|d| !d.is_empty());
        let url = q("encoding-type") == Some("url");
        let max = q("max-keys")
            .and_then(|n| n.parse().ok())
            .unwrap_or(PAGE)
            .min(PAGE);
        let after = match v2 {
            true => q("continuation-token").or(q("start-after")),
            false => q("marker"),
        };
        let after = after.filter(|a| !a.is_empty());
        let st = self.state.lock().unwrap();
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        // A marker holding the delimiter past the prefix (which no key listed with that
        // delimiter does) is a common prefix: it stands for every key under it.
        let mut skip = after.filter(|a| {
            delim.is_some_and(|d| a.len() > prefix.len() && a[prefix.len()..].contains(d))
        });
        let (mut contents, mut prefixes, mut n, mut last) = (String::new(), String::new(), 0, "");
        let mut truncated = false;
        for (k, o) in st.buckets[bucket].range::<str, _>((start, Bound::Unbounded)) {
            if skip.is_some_and(|s| k.starts_with(s)) {
                continue;
            }
            if !k.starts_with(prefix) {
                break;
            }
            if n == max {
                truncated = true;
                break;
            }
            n += 1;
            let common = delim.and_then(|d| {
                let i = k[prefix.len()..].find(d)?;
                Some(&k[..prefix.len() + i + d.len()])
            });
            if let Some(cp) = common {
                let cp_xml = listed(cp, url);
                prefixes.push_str(&format!(
                    "<CommonPrefixes><Prefix>{cp_xml}</Prefix></CommonPrefixes>"
                ));
                (skip, last) = (Some(cp), cp);
            } else {
                contents.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag>\
                     <Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    listed(k, url),
                    iso(o.modified),
                    o.etag,
                    o.size
                ));
                last = k;
            }
        }
        let mut out = format!(
            "<Name>{}</Name><Prefix>{}</Prefix><MaxKeys>{max}</MaxKeys>\
             <IsTruncated>{truncated}</IsTruncated>",
            esc(bucket),
            listed(prefix, url)
        );
        if let Some(d) = delim {
            out += &format!("<Delimiter>{}</Delimiter>", listed(d, url));
        }
        if url {
            out += "<EncodingType>url</EncodingType>";
        }
        let (next, marker) = match v2 {
            true => ("NextContinuationToken", esc(last)),
            false => ("NextMarker", listed(last, url)),
        };
        match v2 {
            true => out += &format!("<KeyCount>{n}</KeyCount>"),
            false => out += &format!("<Marker>{}</Marker>", listed(after.unwrap_or(""), url)),
        }
        if truncated {
            out += &format!("<{next}>{marker}</{next}>");
        }
        out += &(contents + &prefixes);
        doc(StatusCode::OK, "ListBucketResult", &out)
    }

    /// Every upload in progress under the prefix, on one page.
    fn list_uploads(&self, bucket: &str, query: &Query) -> Reply {
        let prefix = query.get("prefix").map_or("", String::as_str);
        let url = query.get("encoding-type").is_some_and(|e| e == "url");
        let mut out = format!(
            "<Bucket>{}</Bucket><IsTruncated>false</IsTruncated>",
            esc(bucket)
        );
        if url {
            out += "<EncodingType>url</EncodingType>";
        }
        let st = self.state.lock().unwrap();
        for (id, u) in &st.uploads {
            if u.bucket == bucket && u.key.starts_with(prefix) {
                out += &format!(
                    "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiated>{}</Initiated></Upload>",
                    listed(&u.key, url),
                    iso(u.started)
                );
            }
        }
        doc(StatusCode::OK, "ListMultipartUploadsResult", &out)
    }

    fn create(&self, bucket: &str, key: &str, h: &HeaderMap) -> Reply {
        let mut st = self.state.lock().unwrap();
        st.next_upload += 1;
        let id = format!("sink-{:016x}", st.next_upload);
        let (bucket, key, meta) = (bucket.to_owned(), key.to_owned(), meta_of(h));
        let inner = format!(
            "<Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId>",
            esc(&bucket),
            esc(&key)
        );
        let (started, parts) = (jiff::Timestamp::now(), BTreeMap::new());
        let upload = Upload {
            bucket,
            key,
            meta,
            started,
            parts,
        };
        st.uploads.insert(id, upload);
        doc(StatusCode::OK, "InitiateMultipartUploadResult", &inner)
    }

    async fn upload_part(&self, id: &str, n: &str, h: &HeaderMap, body: Incoming) -> Reply {
        let Some(n) = n.parse::<u16>().ok().filter(|n| (1..=10000).contains(n)) else {
            return error(400, "InvalidArgument");
        };
        // The parts' bytes are kept while the upload's parts add up to at most `keep_max`.
        let held = match self.state.lock().unwrap().uploads.get(id) {
            Some(u) => u
                .parts
                .iter()
                .filter(|(&k, _)| k != n)
                .map(|(_, p)| p.size)
                .sum(),
            None => return error(404, "NoSuchUpload"),
        };
        let part = match self.read(h, body, self.keep_max.saturating_sub(held)).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let etag = format!("\"{}\"", hex(&part.md5));
        let mut st = self.state.lock().unwrap();
        let Some(u) = st.uploads.get_mut(id) else {
            return error(404, "NoSuchUpload");
        };
        u.parts.insert(n, part);
        if u.parts.values().map(|p| p.size).sum::<u64>() > self.keep_max {
            u.parts.values_mut().for_each(|p| p.body = None);
        }
        reply(StatusCode::OK, "", &[("etag", &etag)])
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        h: &HeaderMap,
        body: Incoming,
    ) -> Reply {
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return error(400, "IncompleteBody");
        };
        // Each <Part> names its <PartNumber> and <ETag> (in either order; quotes as they are or
        // as entities).
        let inner = |s: &str, tag: &str| -> Option<String> {
            let from = s.find(&format!("<{tag}>"))? + tag.len() + 2;
            let to = from + s[from..].find(&format!("</{tag}>"))?;
            let v = s[from..to].replace("&quot;", "").replace("&#34;", "");
            Some(v.trim().trim_matches('"').to_owned())
        };
        let mut wanted = Vec::new();
        for p in String::from_utf8_lossy(&body).split("<Part>").skip(1) {
            let n = inner(p, "PartNumber").and_then(|n| n.parse::<u16>().ok());
            match (n, inner(p, "ETag")) {
                (Some(n), Some(e)) => wanted.push((n, e)),
                _ => return error(400, "MalformedXML"),
            }
        }
        let (mut md5s, mut size, mut bytes) = (Md5::new(), 0, Some(Vec::new()));
        let meta = {
            let st = self.state.lock().unwrap();
            let Some(u) = st
                .uploads
                .get(id)
                .filter(|u| u.bucket == bucket && u.key == key)
            else {
                return error(404, "NoSuchUpload");
            };
            if wanted.is_empty() || wanted.windows(2).any(|w| w[0].0 >= w[1].0) {
                return error(400, "InvalidPartOrder");
            }
            for (n, etag) in &wanted {
                let Some(p) = u.parts.get(n).filter(|p| hex(&p.md5) == *etag) else {
                    return error(400, "InvalidPart");
                };
                md5s.update(p.md5);
                size += p.size;
                match (&mut bytes, &p.body) {
                    (Some(b), Some(pb)) if size <= self.keep_max => b.extend_from_slice(pb),
                    _ => bytes = None,
                }
            }
            u.meta.clone()
        };
        let etag = format!("{}-{}", hex(&md5s.finalize()), wanted.len());
        let meta = (meta, bytes.map(Bytes::from));
        let stored = self.store((bucket, key), h, size, etag.clone(), meta);
        if stored.status() != StatusCode::OK {
            return stored;
        }
        self.state.lock().unwrap().uploads.remove(id);
        let inner = format!(
            "<Bucket>{}</Bucket><Key>{}</Key><ETag>\"{etag}\"</ETag>",
            esc(bucket),
            esc(key)
        );
        doc(StatusCode::OK, "CompleteMultipartUploadResult", &inner)
    }
}

/// Whether a query parameter may be a listing's (any other is another bucket request); a
/// presigned URL's own (`X-Amz-*`) are ignored.
fn is_list_param(k: &str) -> bool {
    const LIST: &[&str] = &[
        "list-type",
        "prefix",
        "delimiter",
        "encoding-type",
        "max-keys",
    ];
    const MORE: &[&str] = &["marker", "continuation-token", "start-after", "fetch-owner"];
    LIST.contains(&k) || MORE.contains(&k) || k.to_ascii_lowercase().starts_with("x-")
}
