//! The uplink at a distance: a real Garage behind the distance proxy (tests/src/distance.rs),
//! which adds a round trip, cuts connections or answers `503 SlowDown` as a far, flaky or busy
//! cloud does. The uplink keeps more requests in flight the farther the cloud, fewer when it
//! complains, and shows both in `status --json` and `/metrics`; nothing is lost either way.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use microcloud_tests::distance::{DistanceProxy, Line};
use microcloud_tests::garage::Garage;
use microcloud_tests::{
    add_user, content_for, flush, metrics, remote_add_s3, status_json, Gateway, PASSWORD,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An echo server on loopback; its address.
async fn echo() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn the_proxy_adds_its_round_trip_and_cuts_what_it_is_told() {
    let target = echo().await;
    let line = Line {
        rtt: Duration::from_millis(30),
        ..Line::default()
    };
    let p = DistanceProxy::start("127.0.0.1:0".parse().unwrap(), target, line)
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    // An echo goes out through the line (half the round trip) and comes back (the other half).
    let mut buf = [0u8; 5];
    for _ in 0..5 {
        let t = Instant::now();
        s.write_all(b"hello").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
    }
    // Every connection cut: none carries 300 KiB both ways.
    let cut = DistanceProxy::start(
        "127.0.0.1:0".parse().unwrap(),
        target,
        Line {
            cut_fraction: 1.0,
            ..Line::default()
        },
    )
    .await
    .unwrap();
    let mut s = tokio::net::TcpStream::connect(cut.addr).await.unwrap();
    let (mut r, mut w) = s.split();
    let data = vec![7u8; 300 << 10];
    let (_, got) = tokio::join!(
        async {
            let _ = w.write_all(&data).await;
        },
        async {
            let mut got = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut got)).await;
            got.len()
        }
    );
    assert!(got < 300 << 10, "{got} bytes came back through a cut line");
    assert_eq!(cut.cut.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// A box of alice uploading to bucket `name` of `g` through `line`; its gateway and the proxy.
async fn far_box(
    g: &Garage,
    dir: &std::path::Path,
    name: &str,
    line: Line,
) -> (Gateway, DistanceProxy) {
    g.create_bucket(name);
    let proxy = DistanceProxy::start("127.0.0.1:0".parse().unwrap(), g.s3_addr(), line)
        .await
        .unwrap();
    add_user(dir, "alice");
    remote_add_s3(
        dir,
        "far",
        &format!("http://{}", proxy.addr),
        g.region(),
        name,
        &g.credentials(),
    );
    (Gateway::start(dir, &[]), proxy)
}

/// PUTs `n` small files as alice; panics unless each is stored.
async fn put_small(gw: &Gateway, n: usize) {
    let http = reqwest::Client::new();
    let dav = gw.dav();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (http, dav) = (http.clone(), dav.clone());
            async move {
                let name = format!("f{i}.txt");
                let r = http
                    .put(format!("{dav}{name}"))
                    .basic_auth("alice", Some(PASSWORD))
                    .body(content_for(&name, 4096))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{name}");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// 80 ms away, the uplink grows past its starting 16 requests in flight, says so in `status
/// --json` (limit and round trip) and `/metrics`, and every file arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_far_cloud_gets_more_requests_in_flight() {
    let g = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    let line = Line {
        rtt: Duration::from_millis(80),
        ..Line::default()
    };
    let (gw, _proxy) = far_box(&g, tmp.path(), "far", line).await;
    put_small(&gw, 1500).await;
    let (ok, out) = flush(tmp.path(), 300);
    assert!(ok, "{out}");
    let st = status_json(tmp.path());
    let d = &st["destinations"][0];
    assert_eq!(d["state"], "ok", "{st}");
    let limit = d["concurrency_limit"].as_u64().expect("a limit");
    assert!(limit > 16, "the limit grew at 80 ms: {st}");
    let rtt = d["rtt_ms"].as_f64().expect("a round trip");
    assert!(rtt >= 80.0, "the round trip is at least the line's: {st}");
    let m = metrics(&reqwest::Client::new(), &gw).await;
    for family in [
        "microcloud_destination_concurrency_limit{destination=\"far\"}",
        "microcloud_destination_rtt_seconds{destination=\"far\"}",
        "microcloud_destination_in_flight{destination=\"far\"}",
    ] {
        assert!(m.lines().any(|l| l.starts_with(family)), "{family}:\n{m}");
    }
    assert_eq!(d["pending_files"], 0, "{st}");
}

/// A cloud that answers `503 SlowDown` to a share of new connections is busy, not down: the
/// uplink counts it (`status --json`, `/metrics`), takes it as a reason to send fewer requests at
/// once (the limiter's own tests show by how much; the limit grows back as soon as the
/// complaints stop), never marks it down, and every file arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloud_that_asks_to_slow_down_gets_fewer_requests_and_every_file() {
    let g = Garage::start();
    let tmp = tempfile::tempdir().unwrap();
    // `remote add` tests the destination first, on a connection or two: those are spared.
    let line = Line {
        busy_fraction: 0.3,
        busy_after: 4,
        ..Line::default()
    };
    let (gw, proxy) = far_box(&g, tmp.path(), "busy", line).await;
    put_small(&gw, 400).await;
    let (ok, out) = flush(tmp.path(), 300);
    assert!(ok, "{out}");
    let slowed = proxy.slowed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(slowed > 0, "the line answered SlowDown");
    let st = status_json(tmp.path());
    let d = &st["destinations"][0];
    assert_eq!(d["state"], "ok", "busy is not down: {st}");
    let counted = d["slow_downs"].as_u64().unwrap();
    assert!(
        counted > 0 && counted <= slowed,
        "{counted} of {slowed} SlowDowns counted: {st}"
    );
    let m = metrics(&reqwest::Client::new(), &gw).await;
    assert!(
        m.lines().any(|l| l
            == format!("microcloud_destination_slow_downs_total{{destination=\"far\"}} {counted}")),
        "{m}"
    );
    assert_eq!(d["pending_files"], 0, "{st}");
}
