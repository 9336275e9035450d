//! The LAN's HTTP listener: who may hold a connection, and for how long.
//!
//! Every LAN client gets its share and no more: connections are capped per client address (an
//! IPv6 client counts by its /64) and in all; at an address's cap the idle connection that moved
//! no byte for longest makes room for the newcomer, so idle or half-sent connections never keep a
//! client out; a request's header must arrive in time, and a connection that moves no byte is
//! closed. Behind that, hyper (through hyper-util) speaks HTTP/1.1 and any axum `Router` answers;
//! the gateway composes that router (WebDAV, the page, its API, metrics). On shutdown, requests in
//! flight are let finish, for a bounded time, so that an upload being acknowledged is not cut.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::quiet_log::QuietLog;

/// Most connections held open from one client address (an IPv6 client counts by its /64).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Most connections held open in all; the unit's LimitNOFILE leaves room above it for files.
pub const MAX_CONNECTIONS: usize = 4096;
/// A request's header must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(20);
/// A kept-alive connection with no request is closed after this.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// A connection whose request moves no byte either way for this long is closed (a stalled upload
/// or a reader that stopped reading).
const REQUEST_IDLE: Duration = Duration::from_secs(300);

/// Open connections, per client address and in total.
struct Connections {
    per_address: Mutex<HashMap<IpAddr, Vec<Conn>>>,
    total: AtomicUsize,
    next_id: AtomicU64,
    /// What the connections' activity times count from.
    epoch: Instant,
}

/// What the table knows of one connection.
struct Conn {
    id: u64,
    shared: ConnShared,
}

/// What the table and the connection's task share about one connection.
#[derive(Clone)]
struct ConnShared {
    /// When a byte last moved, in milliseconds since [`Connections::epoch`].
    last: Arc<AtomicU64>,
    /// Requests being answered.
    in_flight: Arc<AtomicUsize>,
    /// Requests answered so far.
    served: Arc<AtomicU64>,
    /// Tells the connection's task to close it.
    close: Arc<tokio::sync::Notify>,
}

/// A counted connection; uncounted when dropped.
struct ConnectionSlot {
    table: Arc<Connections>,
    key: IpAddr,
    id: u64,
}

impl Connections {
    fn new() -> Arc<Connections> {
        Arc::new(Connections {
            per_address: Mutex::new(HashMap::new()),
            total: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Counts a new connection from `ip`. When the address holds its cap already, one of its
    /// idle connections (no request in flight) is closed to make room: the one that moved no
    /// byte for longest. Idle or half-sent connections thus never keep a client out, even one at
    /// the same address, and a connection that is being used is the last to go. Not "the one
    /// that served fewest": a connection accepted a moment ago has served nothing yet either, and
    /// a client opening many at once (a browser, a sync burst) had its own new connections reset
    /// before their first request while its spent ones were kept. When all are busy, or the
    /// server is full, `None`.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<(ConnectionSlot, ConnShared)> {
        let key = microcloud_accounts::throttle::client_key(ip);
        let mut map = self.per_address.lock().unwrap();
        if self.total.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            return None;
        }
        let list = map.entry(key).or_default();
        if list.len() >= MAX_CONNECTIONS_PER_ADDRESS {
            let idle = list
                .iter()
                .enumerate()
                .filter(|(_, c)| c.shared.in_flight.load(Ordering::Relaxed) == 0)
                .min_by_key(|(_, c)| {
                    (
                        c.shared.last.load(Ordering::Relaxed),
                        c.shared.served.load(Ordering::Relaxed),
                    )
                })
                .map(|(i, _)| i)?;
            list.swap_remove(idle).shared.close.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = ConnShared {
            last: Arc::new(AtomicU64::new(self.now_ms())),
            in_flight: Arc::new(AtomicUsize::new(0)),
            served: Arc::new(AtomicU64::new(0)),
            close: Arc::new(tokio::sync::Notify::new()),
        };
        list.push(Conn {
            id,
            shared: shared.clone(),
        });
        self.total.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot {
            table: self.clone(),
            key,
            id,
        };
        Some((slot, shared))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut map = self.table.per_address.lock().unwrap();
        if let Some(list) = map.get_mut(&self.key) {
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                map.remove(&self.key);
            }
        }
        self.table.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A socket that remembers when a byte last moved, for the idle timeouts.
struct Tracked<S> {
    inner: S,
    epoch: Instant,
    last: Arc<AtomicU64>,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Marks a request that arrived over TLS (a request extension [`serve_tls`] inserts): what it
/// answers may rely on the channel, e.g. mark its cookies `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverTls;

/// A TLS handshake must be done within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long requests in flight may take to finish once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 connections from `listener` with `app` until `shutdown` resolves, then stops
/// accepting, closes idle connections and lets requests in flight finish (up to 30 s).
///
/// Each request carries the client's address as axum's [`ConnectInfo<SocketAddr>`]. Connections
/// beyond the caps are closed at once; a header must arrive within 20 s; an idle kept-alive
/// connection is closed after 30 s, a request that moves no byte for 5 minutes too.
pub async fn serve(
    app: axum::Router,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_tls(app, listener, None, shutdown).await
}

/// Like [`serve`], speaking TLS with `tls` when given: the handshake runs in the connection's own
/// task, within [`HANDSHAKE_TIMEOUT`], under the same caps (a stalled handshake holds a slot of
/// its address only that long). Requests that arrive over TLS carry the extension [`OverTls`].
pub async fn serve_tls(
    app: axum::Router,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let over_tls = tls.is_some();
    tokio::pin!(shutdown);
    let connections = Connections::new();
    let refusals = QuietLog::new("refused connections", Instant::now());
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    log::warn!("accept on {:?} failed: {e}", listener.local_addr().ok());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // A dual-stack listener ([::]) sees IPv4 clients as ::ffff:a.b.c.d: one client, one
        // address, whichever way it came (throttles, device records, logs).
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let Some((slot, shared)) = connections.admit(peer.ip()) else {
            // Closed at once: holding it (even to answer 503) is what the flood wants.
            if refusals.allow() {
                log::warn!("{peer}: connection refused: all {MAX_CONNECTIONS_PER_ADDRESS} of its address's connections are busy, or {MAX_CONNECTIONS} are open in all");
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let epoch = connections.epoch;
        let ConnShared {
            last,
            in_flight,
            served,
            close,
        } = shared;
        let (app, flight) = (app.clone(), in_flight.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            if over_tls {
                req.extensions_mut().insert(OverTls);
            }
            let (app, flight, served) = (app.clone(), flight.clone(), served.clone());
            async move {
                flight.fetch_add(1, Ordering::Relaxed);
                let resp = app.oneshot(req.map(axum::body::Body::new)).await;
                flight.fetch_sub(1, Ordering::Relaxed);
                served.fetch_add(1, Ordering::Relaxed);
                resp
            }
        });
        let io = Tracked {
            inner: stream,
            epoch,
            last: last.clone(),
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => {
                    let conn = http1().serve_connection(TokioIo::new(io), service);
                    drive(watcher.watch(conn), peer, close, epoch, last, in_flight).await
                }
                Some(acceptor) => {
                    let io =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                            Ok(Ok(io)) => io,
                            Ok(Err(e)) => {
                                log::debug!("connection from {peer}: TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                log::debug!(
                                    "connection from {peer}: TLS handshake not done in {} s",
                                    HANDSHAKE_TIMEOUT.as_secs()
                                );
                                return;
                            }
                        };
                    let conn = http1().serve_connection(TokioIo::new(io), service);
                    drive(watcher.watch(conn), peer, close, epoch, last, in_flight).await
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        log::warn!(
            "requests still in flight after {} s of shutdown were cut",
            DRAIN_TIMEOUT.as_secs()
        );
    }
}

/// HTTP/1.1, a request's header due within [`HEADER_TIMEOUT`].
fn http1() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    b
}

/// Runs one connection until it ends, is closed to make room, or sits idle too long.
async fn drive<C, E>(
    conn: C,
    peer: std::net::SocketAddr,
    close: Arc<tokio::sync::Notify>,
    epoch: Instant,
    last: Arc<AtomicU64>,
    in_flight: Arc<AtomicUsize>,
) where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            r = &mut conn => {
                if let Err(e) = r {
                    log::debug!("connection from {peer}: {e}");
                }
                return;
            }
            _ = close.notified() => {
                log::debug!("connection from {peer}: closed to make room for a new one from its address");
                return;
            }
            _ = tick.tick() => {
                let idle = Duration::from_millis(epoch.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed));
                let limit = if in_flight.load(Ordering::Relaxed) > 0 { REQUEST_IDLE } else { KEEPALIVE_IDLE };
                if idle >= limit {
                    log::debug!("connection from {peer}: closed after {} s without traffic", idle.as_secs());
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At an address's cap, a connection accepted a moment ago (nothing served yet) is kept and
    /// the spent one idle longest goes; one with a request in flight never does.
    #[test]
    fn at_the_cap_the_longest_idle_connection_makes_room() {
        let table = Connections::new();
        let ip: IpAddr = [192, 168, 1, 20].into();
        let mut held = Vec::new();
        for i in 0..MAX_CONNECTIONS_PER_ADDRESS {
            let (slot, shared) = table.admit(ip).unwrap();
            // The first half served a request long ago; the rest were just accepted.
            if i < MAX_CONNECTIONS_PER_ADDRESS / 2 {
                shared.served.store(1, Ordering::Relaxed);
                shared.last.store(0, Ordering::Relaxed);
            } else {
                shared.last.store(10_000 + i as u64, Ordering::Relaxed);
            }
            held.push((slot, shared));
        }
        // The oldest spent one is busy now: it must stay.
        held[0].1.in_flight.store(1, Ordering::Relaxed);
        held[0].1.last.store(0, Ordering::Relaxed);
        let closed = |held: &[(ConnectionSlot, ConnShared)]| -> Vec<usize> {
            let map = table.per_address.lock().unwrap();
            let open: Vec<u64> = map[&ip].iter().map(|c| c.id).collect();
            (0..held.len())
                .filter(|&i| !open.contains(&held[i].0.id))
                .collect()
        };
        for n in 1..=10 {
            let (slot, shared) = table.admit(ip).unwrap();
            shared.last.store(20_000 + n, Ordering::Relaxed);
            held.push((slot, shared));
            let gone = closed(&held);
            assert_eq!(gone.len(), n as usize, "one closed per newcomer");
            assert!(
                gone.iter()
                    .all(|&i| (1..MAX_CONNECTIONS_PER_ADDRESS / 2).contains(&i)),
                "closed {gone:?}: a new or busy connection went before a spent idle one"
            );
        }
        // Another address is untouched by this one's cap.
        assert!(table.admit([192, 168, 1, 21].into()).is_some());
    }
}
