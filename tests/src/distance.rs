//! A distance between the box and its cloud, for tests and benchmarks: a TCP proxy on loopback
//! that holds every byte for a fixed delay in each direction (half the round trip), optionally
//! caps each direction's bandwidth, and can cut a share of its connections part way. netem is
//! not available on the machines the tests run on; this is the userspace stand-in.
//!
//! Bytes are delayed, not connections: a request sent at t arrives at t + delay however many are
//! in flight, as on a long line, so a client that keeps more requests in flight goes faster,
//! exactly as it would against a real cloud far away.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the line between the box and the cloud is like.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line {
    /// Round trip added (half each way).
    pub rtt: Duration,
    /// Bytes per second each way, per direction of the whole proxy (None: unlimited).
    pub rate: Option<u64>,
    /// Share of connections (0..=1) cut after a random number of bytes (up to 256 KiB) in
    /// either direction: a flaky line.
    pub cut_fraction: f64,
    /// Share of new connections (0..=1) whose first request is answered `503 SlowDown`, as S3
    /// answers a client it wants to slow down (the connection is closed after it).
    pub busy_fraction: f64,
    /// Connections spared by `busy_fraction` first (a setup step's), counted from the start.
    pub busy_after: u64,
}

/// What S3 answers a client that should slow down.
const SLOW_DOWN: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: 125\r\nConnection: close\r\n\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";

/// A running proxy; stops when dropped.
pub struct DistanceProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Connections cut on purpose so far.
    pub cut: Arc<AtomicU64>,
    /// Requests answered `503 SlowDown` so far.
    pub slowed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DistanceProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A shared sender's schedule: when its next byte may leave (a token bucket of depth zero).
struct Pace {
    rate: u64,
    next: tokio::sync::Mutex<Instant>,
}

impl Pace {
    /// Waits until `n` bytes may leave.
    async fn take(&self, n: usize) {
        let at = {
            let mut next = self.next.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + Duration::from_secs_f64(n as f64 / self.rate as f64);
            start
        };
        tokio::time::sleep_until(at).await;
    }
}

impl DistanceProxy {
    /// Listens on `listen` (port 0: any) and forwards to `target` over `line`, on the current
    /// tokio runtime.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        line: Line,
    ) -> std::io::Result<DistanceProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicU64::new(0));
        let paces = line.rate.map(|rate| {
            let pace = || {
                Arc::new(Pace {
                    rate: rate.max(1),
                    next: tokio::sync::Mutex::new(Instant::now()),
                })
            };
            (pace(), pace())
        });
        let slowed = Arc::new(AtomicU64::new(0));
        let (counter, slow_counter) = (cut.clone(), slowed.clone());
        let task = tokio::spawn(async move {
            let mut accepted: u64 = 0;
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                accepted += 1;
                let spared = accepted <= line.busy_after;
                let (line, paces, counter) = (line, paces.clone(), counter.clone());
                let slow_counter = slow_counter.clone();
                tokio::spawn(async move {
                    if !spared
                        && line.busy_fraction > 0.0
                        && rand::rng().random_bool(line.busy_fraction.clamp(0.0, 1.0))
                    {
                        // Read the request's head (the body may follow; it is not waited for),
                        // then answer after the line's round trip.
                        let mut buf = vec![0u8; 64 << 10];
                        let mut head = Vec::new();
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match client.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        tokio::time::sleep(line.rtt).await;
                        slow_counter.fetch_add(1, Ordering::Relaxed);
                        let _ = client.write_all(SLOW_DOWN).await;
                        let _ = client.shutdown().await;
                        return;
                    }
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let cut_after = (line.cut_fraction > 0.0
                        && rand::rng().random_bool(line.cut_fraction.clamp(0.0, 1.0)))
                    .then(|| rand::rng().random_range(0..256u64 << 10));
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let budget = Arc::new(AtomicU64::new(cut_after.unwrap_or(u64::MAX)));
                    let up = pump(
                        cr,
                        sw,
                        line.rtt / 2,
                        paces.as_ref().map(|p| p.0.clone()),
                        budget.clone(),
                    );
                    let down = pump(
                        sr,
                        cw,
                        line.rtt / 2,
                        paces.as_ref().map(|p| p.1.clone()),
                        budget,
                    );
                    // Either side ending (or the cut) ends the connection both ways.
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                    if cut_after.is_some() {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(DistanceProxy {
            addr,
            cut,
            slowed,
            task,
        })
    }
}

/// Copies `from` to `to`, each chunk leaving `delay` after it arrived (and no sooner than `pace`
/// lets it), until either end closes or `budget` bytes (shared by both directions) are spent.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    pace: Option<Arc<Pace>>,
    budget: Arc<AtomicU64>,
) {
    // Chunks in transit: bounded, so that a slow reader holds the writer back as TCP would.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Instant, Vec<u8>)>(256);
    let reader = async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let left = budget.fetch_sub(
                (n as u64).min(budget.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            if left <= n as u64 {
                return;
            }
            if tx
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            // The timer's granularity is a millisecond: no sleep at all for what is due.
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if let Some(p) = &pace {
                p.take(chunk.len()).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    // The writer drains what is in transit after the reader saw the end.
    tokio::join!(reader, writer);
}

/// A named line for benchmarks' tables: "20ms", "20ms@100mbit".
pub fn describe(line: &Line) -> String {
    let mut s = format!("{}ms", line.rtt.as_millis());
    if let Some(r) = line.rate {
        s.push_str(&format!("@{}mbit", r * 8 / 1_000_000));
    }
    s
}
