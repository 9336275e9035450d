//! The HTTP side of an S3 remote, apart from what its requests mean: SigV4 presigning with
//! rusty-s3, the reqwest client and its connect timeout, the stall watchdog every request runs
//! under, the upload bandwidth limit, and reading answers within a size bound. Kept apart so that
//! every operation gets the same bounds whichever one sends the request, and so that the S3
//! operations (the parent module) deal only in signed URLs and answers.
//!
//! The stall watchdog: the request body is fed to the socket in slices and each slice taken
//! counts as progress, as does each response chunk; a request that makes no progress for
//! [`Timeouts::stall`] becomes [`RemoteError::Unreachable`]. A frozen server (SIGSTOP, a dead NAT
//! entry) thus fails within a bound instead of hanging the uplink, while a slow but moving upload
//! of any size is never cut off. Waiting for the bandwidth limit counts as progress.
//!
//! There are no retries here: the uplink retries [`RemoteError::Unreachable`] with backoff.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use rusty_s3::{Bucket, S3Action};

use crate::limit::Bandwidth;
use crate::{BoxStream, RemoteError, Timeouts};

/// How long a presigned URL stays valid: only its start matters, the server checks it on arrival.
const PRESIGN_VALID: Duration = Duration::from_secs(3600);
/// Slices in which request bodies are handed to the socket (each one is a sign of progress).
const BODY_SLICE: usize = 64 * 1024;
/// Largest response body read into memory (listings, errors); more is a misbehaving server.
const MAX_SMALL_BODY: usize = 64 * 1024 * 1024;
/// Request bodies from this size up go over HTTP/1.1 connections of their own (see
/// [`Transport::new`]).
const BULK_BODY: usize = 1024 * 1024;

/// Headers to sign and send with one request: lowercase names, values exactly as sent.
pub(super) type Headers = Vec<(&'static str, String)>;

/// Signs and sends the requests of one S3 remote: cheap to clone.
#[derive(Clone)]
pub(super) struct Transport {
    shared: Arc<Shared>,
    /// Upload bandwidth limit shared with other remotes, if any.
    limit: Option<Arc<Bandwidth>>,
}

struct Shared {
    /// The remote's name, for errors.
    remote: String,
    bucket: Bucket,
    creds: rusty_s3::Credentials,
    /// HTTP/2 where offered: every request but large uploads.
    client: reqwest::Client,
    /// HTTP/1.1 only: request bodies of [`BULK_BODY`] and more.
    bulk: reqwest::Client,
    stall: Duration,
}

/// A finished exchange with a small answer.
pub(super) struct Done {
    pub(super) op: &'static str,
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// The answer to a request whose body is streamed.
pub(super) enum Reply {
    /// A successful answer: its status and headers, and its body as it arrives.
    Streaming {
        status: StatusCode,
        headers: HeaderMap,
        body: BoxStream,
    },
    /// An unsuccessful answer, read whole.
    Failed(Done),
}

impl Transport {
    /// A transport to `bucket` for the remote named `remote`, trusting `roots` (a private CA's
    /// certificates) beside the public authorities. Does no I/O.
    ///
    /// HTTP/2 where the endpoint offers it (TLS's ALPN): small requests then share one
    /// connection, with no handshake per connection the limiter opens, and the receive window
    /// follows the measured bandwidth-delay product. Large uploads (multipart parts) go over
    /// HTTP/1.1 connections of their own all the same: on one HTTP/2 connection every part waits
    /// on the window the server grants, and against the HTTP/2 stand-in at 80 ms that held
    /// 256 MiB to 10 MB/s. HTTP/1.1 connections are kept and reused.
    pub(super) fn new(
        remote: &str,
        bucket: Bucket,
        creds: rusty_s3::Credentials,
        timeouts: Timeouts,
        roots: Vec<reqwest::Certificate>,
    ) -> Result<Transport, reqwest::Error> {
        let build = |http1_only: bool| {
            let mut builder = reqwest::Client::builder();
            for root in &roots {
                builder = builder.add_root_certificate(root.clone());
            }
            if http1_only {
                builder = builder.http1_only();
            }
            builder
                .http2_adaptive_window(true)
                .connect_timeout(timeouts.connect)
                // A presigned request must not be replayed elsewhere; a redirect means a wrong
                // endpoint or region, which the status mapping reports.
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(Duration::from_secs(30))
                .tcp_keepalive(Duration::from_secs(30))
                .user_agent(concat!("microcloud/", env!("CARGO_PKG_VERSION")))
                .build()
        };
        Ok(Transport {
            shared: Arc::new(Shared {
                remote: remote.to_owned(),
                bucket,
                creds,
                client: build(false)?,
                bulk: build(true)?,
                stall: timeouts.stall,
            }),
            limit: None,
        })
    }

    /// Paces request bodies by `limit`.
    pub(super) fn set_limit(&mut self, limit: Arc<Bandwidth>) {
        self.limit = Some(limit);
    }

    /// The remote's name.
    pub(super) fn remote(&self) -> &str {
        &self.shared.remote
    }

    /// The bucket, to build the actions [`Transport::sign`] signs.
    pub(super) fn bucket(&self) -> &Bucket {
        &self.shared.bucket
    }

    /// The credentials, to build the actions [`Transport::sign`] signs.
    pub(super) fn credentials(&self) -> Option<&rusty_s3::Credentials> {
        Some(&self.shared.creds)
    }

    /// Presigns `action` with `headers` among the signed headers.
    pub(super) fn sign<'a, A: S3Action<'a>>(
        &self,
        mut action: A,
        headers: &'a [(&'static str, String)],
    ) -> Url {
        for (name, value) in headers {
            action.headers_mut().insert(*name, value.as_str());
        }
        action.sign(PRESIGN_VALID)
    }

    /// Presigns a GET of the bucket with `query`, for the requests rusty-s3 has no action for.
    pub(super) fn sign_bucket_get(&self, query: &rusty_s3::Map<'_>) -> Url {
        let shared = &self.shared;
        rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Get,
            shared.bucket.base_url().clone(),
            shared.creds.key(),
            shared.creds.secret(),
            None,
            shared.bucket.region(),
            PRESIGN_VALID.as_secs(),
            query.iter(),
            std::iter::empty(),
        )
    }

    /// Sends a request and reads its whole (small) answer.
    pub(super) async fn call(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
        body: Option<Bytes>,
    ) -> Result<Done, RemoteError> {
        let progress = Arc::new(Progress::new());
        let resp = self.send(op, method, url, headers, body, &progress).await?;
        self.finish(op, resp, &progress).await
    }

    /// Sends a request without a body whose successful answer is streamed as it arrives; an
    /// unsuccessful one is read whole.
    pub(super) async fn stream(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        headers: &[(&'static str, String)],
    ) -> Result<Reply, RemoteError> {
        let progress = Arc::new(Progress::new());
        let resp = self.send(op, method, url, headers, None, &progress).await?;
        if !resp.status().is_success() {
            return Ok(Reply::Failed(self.finish(op, resp, &progress).await?));
        }
        Ok(Reply::Streaming {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: self.body_stream(op, resp),
        })
    }

    /// The remote is down, or answered nothing usable, for `op`.
    pub(super) fn unreachable(&self, op: &str, detail: String) -> RemoteError {
        RemoteError::Unreachable {
            remote: self.shared.remote.clone(),
            op: op.to_owned(),
            detail,
        }
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
        let client = match &body {
            Some(data) if data.len() >= BULK_BODY => &self.shared.bulk,
            _ => &self.shared.client,
        };
        let mut req = client.request(method, url);
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

    /// Reads the whole (small) body of `resp`.
    async fn finish(
        &self,
        op: &'static str,
        mut resp: reqwest::Response,
        progress: &Arc<Progress>,
    ) -> Result<Done, RemoteError> {
        let status = resp.status();
        let headers = resp.headers().clone();
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
                Ok(None) => break,
                Err(e) => return Err(self.unreachable(op, describe(&e))),
            }
        }
        Ok(Done {
            op,
            status,
            headers,
            body: body.freeze(),
        })
    }

    /// The response body as a stream; a chunk that takes longer than the stall bound to arrive
    /// ends the stream with Unreachable.
    fn body_stream(&self, op: &'static str, resp: reqwest::Response) -> BoxStream {
        let this = self.clone();
        let stream = futures_util::stream::unfold(Some(resp), move |state| {
            let this = this.clone();
            async move {
                let mut resp = state?;
                match tokio::time::timeout(this.shared.stall, resp.chunk()).await {
                    Ok(Ok(Some(chunk))) => Some((Ok(chunk), Some(resp))),
                    Ok(Ok(None)) => None,
                    Ok(Err(e)) => Some((Err(this.unreachable(op, describe(&e))), None)),
                    Err(_) => Some((Err(this.unreachable(op, this.stalled())), None)),
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
            if idle >= self.shared.stall {
                return Err(self.unreachable(op, self.stalled()));
            }
            tokio::select! {
                out = &mut fut => return Ok(out),
                _ = tokio::time::sleep(self.shared.stall - idle) => {}
            }
        }
    }

    fn stalled(&self) -> String {
        format!("no progress for {:.1} s", self.shared.stall.as_secs_f64())
    }
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
    limit: Option<Arc<Bandwidth>>,
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

    fn transport(endpoint: &str, style: rusty_s3::UrlStyle) -> Transport {
        let bucket = Bucket::new(endpoint.parse().unwrap(), style, "photos", "garage").unwrap();
        let creds = rusty_s3::Credentials::new("GKx", "s");
        Transport::new("t", bucket, creds, Timeouts::default(), Vec::new()).unwrap()
    }

    #[test]
    fn signed_headers_are_listed_in_the_url() {
        let t = transport("http://127.0.0.1:3900", rusty_s3::UrlStyle::Path);
        let headers: Headers = vec![
            ("content-md5", "x".into()),
            ("if-none-match", "*".into()),
            ("x-amz-meta-blake3", "h".into()),
        ];
        let url = t.sign(t.bucket().put_object(t.credentials(), "k"), &headers);
        assert!(
            url.as_str().contains(
                "X-Amz-SignedHeaders=content-md5%3Bhost%3Bif-none-match%3Bx-amz-meta-blake3"
            ),
            "{url}"
        );
    }

    #[test]
    fn bucket_queries_are_signed() {
        let t = transport("http://127.0.0.1:3900", rusty_s3::UrlStyle::Path);
        let mut query = rusty_s3::Map::new();
        query.insert("uploads", "");
        query.insert("prefix", "a b/");
        let url = t.sign_bucket_get(&query);
        let s = url.as_str();
        assert!(s.starts_with("http://127.0.0.1:3900/photos/?"), "{url}");
        assert!(
            s.contains("prefix=a%20b%2F") && s.contains("X-Amz-Signature="),
            "{url}"
        );
    }

    #[tokio::test]
    async fn a_silent_server_is_unreachable_after_the_stall_bound() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let bucket = Bucket::new(
            format!("http://{addr}").parse().unwrap(),
            rusty_s3::UrlStyle::Path,
            "photos",
            "garage",
        )
        .unwrap();
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            stall: Duration::from_millis(300),
        };
        let t = Transport::new(
            "t",
            bucket,
            rusty_s3::Credentials::new("a", "b"),
            timeouts,
            Vec::new(),
        )
        .unwrap();
        let url = t.sign(t.bucket().head_object(t.credentials(), "k"), &[]);
        let start = Instant::now();
        let err = t
            .call("HeadObject", Method::HEAD, url, &[], None)
            .await
            .err()
            .expect("a silent server answered");
        assert!(
            matches!(&err, RemoteError::Unreachable { op, detail, .. } if op == "HeadObject" && detail.contains("no progress")),
            "{err}"
        );
        assert!(start.elapsed() < Duration::from_secs(3));
        hold.abort();
    }
}
