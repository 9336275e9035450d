//! An https endpoint, as a self-hosted store with a CA of its own is: HTTP/2 where it offers it
//! (one connection for every request in flight), HTTP/1.1 where it does not, and its private CA
//! trusted only when the destination carries it. The far end is the S3 stand-in on TLS
//! (`microcloud_tests::s3sink::start_tls`), which counts the requests of each HTTP version.

use bytes::Bytes;
use microcloud_remotes::{
    collect, Condition, Credentials, Remote, RemoteConfig, RemoteError, RemoteKind, Timeouts,
};
use microcloud_tests::s3sink::{start_tls, TlsSink};

const FILES: usize = 40;

async fn sink(offer_h2: bool) -> TlsSink {
    start_tls(
        "127.0.0.1:0".parse().unwrap(),
        false,
        &["b".into()],
        offer_h2,
    )
    .await
    .expect("the TLS sink starts")
}

/// The destination on `sink`, trusting `ca_pem`; made, or why not.
fn try_remote(sink: &TlsSink, ca_pem: Option<String>) -> Result<Remote, RemoteError> {
    let cfg = RemoteConfig {
        name: "tls".into(),
        kind: RemoteKind::S3 {
            endpoint: format!("https://localhost:{}", sink.addr.port()),
            region: "us-east-1".into(),
            bucket: "b".into(),
            prefix: "box".into(),
            path_style: true,
            ca_pem,
        },
    };
    let creds = Credentials {
        access_key_id: "k".into(),
        secret_access_key: "s".into(),
    };
    Remote::with_timeouts(cfg, Some(creds), Timeouts::default())
}

fn remote(sink: &TlsSink, ca_pem: Option<String>) -> Remote {
    try_remote(sink, ca_pem).expect("remote")
}

/// Writes FILES objects at once, then reads each back: the bytes must match.
async fn round_trip(remote: &Remote) {
    let puts = (0..FILES).map(|i| {
        let data = Bytes::from(format!("file {i} ").repeat(100 + i));
        let hex = blake3::hash(&data).to_hex().to_string();
        async move {
            remote
                .put(&format!("u/f{i}"), data, &hex, &Condition::IfAbsent)
                .await
                .expect("put")
        }
    });
    futures_util::future::join_all(puts).await;
    for i in 0..FILES {
        let got = collect(remote.get(&format!("u/f{i}"), None).await.expect("get"))
            .await
            .expect("body");
        assert_eq!(got, format!("file {i} ").repeat(100 + i).as_bytes());
    }
}

/// (HTTP/1.x requests, HTTP/2 requests) that a round trip made, to an endpoint offering HTTP/2
/// or not.
async fn versions_spoken(offer_h2: bool) -> (u64, u64) {
    let sink = sink(offer_h2).await;
    round_trip(&remote(&sink, Some(sink.ca_pem.clone()))).await;
    sink.versions.counts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_offering_http2_is_spoken_to_in_http2() {
    let (http1, http2) = versions_spoken(true).await;
    assert_eq!(http1, 0, "an endpoint offering HTTP/2 got HTTP/1.1");
    assert!(http2 >= 2 * FILES as u64, "{http2} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_offering_only_http1_is_spoken_to_in_http1() {
    let (http1, http2) = versions_spoken(false).await;
    assert_eq!(http2, 0, "an endpoint without HTTP/2 got HTTP/2");
    assert!(http1 >= 2 * FILES as u64, "{http1} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_the_destination_carries_it() {
    let sink = sink(true).await;
    // Without it, the endpoint's certificate is refused before any request is made.
    let err = remote(&sink, None)
        .put("u/x", Bytes::from_static(b"x"), "00", &Condition::IfAbsent)
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        matches!(err, RemoteError::Unreachable { .. }),
        "refused as unreachable, not as the object's fault: {err:?}"
    );
    assert_eq!(sink.versions.counts(), (0, 0), "no request reached it");
    // Another CA's certificate does not stand in for the right one.
    let other = microcloud_tests::s3sink::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        false,
        &["b".into()],
        true,
    )
    .await
    .unwrap();
    let err = remote(&sink, Some(other.ca_pem.clone()))
        .head("u/x")
        .await
        .expect_err("another CA is refused");
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err:?}");
    assert_eq!(sink.versions.counts(), (0, 0));
    // A CA that is not a certificate at all is the destination's fault, said when it is made.
    let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = try_remote(&sink, Some(broken.into())).expect_err("a broken CA is refused");
    assert!(
        matches!(&err, RemoteError::Config { detail, .. } if detail.contains("CA certificate 1")),
        "{err:?}"
    );
}

/// On an endpoint offering HTTP/2, a large body goes over an HTTP/1.1 connection of its own
/// (one HTTP/2 connection would hold every part to the window the server grants); small
/// requests stay on HTTP/2. The object arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_takes_an_http1_connection_of_its_own() {
    let sink = sink(true).await;
    let remote = remote(&sink, Some(sink.ca_pem.clone()));
    let data = Bytes::from(vec![7u8; 3 << 20]);
    let hex = blake3::hash(&data).to_hex().to_string();
    remote
        .put("u/big", data.clone(), &hex, &Condition::IfAbsent)
        .await
        .expect("put");
    let (http1, http2) = sink.versions.counts();
    assert_eq!(http1, 1, "the body alone over HTTP/1.1");
    assert!(http2 >= 1, "the small requests over HTTP/2 ({http2})");
    let got = collect(remote.get("u/big", None).await.expect("get"))
        .await
        .expect("body");
    assert_eq!(got, data);
}
