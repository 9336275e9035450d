//! A destination on https with a CA of its own (a self-hosted store), added as an owner would:
//! `remote add --ca-file`. The CA file is checked (missing, not PEM, a private key, too large:
//! each refused with a sentence, nothing added); without it the endpoint is refused; with it
//! every file goes up, in HTTP/2 since the endpoint offers it, and comes back byte for byte.

use std::path::Path;
use std::process::{Command, Output};

use bytes::Bytes;
use microcloud_remotes::{collect, Credentials, Remote, RemoteConfig, RemoteKind};
use microcloud_tests::s3sink::{start_tls, TlsSink};
use microcloud_tests::{add_user, bin, flush, microcloud, Gateway, PASSWORD};

const FILES: usize = 30;

fn remote_add(data: &Path, sink: &TlsSink, ca_file: Option<&Path>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(["remote", "add", "far", "--data", data.to_str().unwrap()])
        .args([
            "--endpoint",
            &format!("https://localhost:{}", sink.addr.port()),
        ])
        .args(["--bucket", "box", "--path-style"])
        .env("AWS_ACCESS_KEY_ID", "far-key")
        .env("AWS_SECRET_ACCESS_KEY", "far-secret-do-not-print");
    if let Some(f) = ca_file {
        cmd.arg("--ca-file").arg(f);
    }
    cmd.output().expect("run microcloud remote add")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `remote add` failed with a sentence containing `want`, no panic and no secret, and added
/// nothing.
fn refused(data: &Path, out: Output, want: &str) {
    let text = said(&out);
    assert!(!out.status.success(), "accepted: {text}");
    assert!(text.contains(want), "{want:?} not in: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("far-secret"),
        "{text}"
    );
    let list = microcloud(&["remote", "list", "--data", data.to_str().unwrap()], "");
    assert!(!list.contains("far"), "added anyway: {list}");
}

#[test]
fn an_https_destination_with_its_own_ca_gets_every_file_in_http2() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sink = rt
        .block_on(start_tls(
            "127.0.0.1:0".parse().unwrap(),
            false,
            &["box".into()],
            true,
        ))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_user(&data, "alice");
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };

    // Without the CA, the endpoint's certificate is not trusted.
    refused(&data, remote_add(&data, &sink, None), "UnknownIssuer");
    let missing = files.path().join("missing.pem");
    refused(
        &data,
        remote_add(&data, &sink, Some(&missing)),
        "the CA file",
    );
    let junk = file("junk.pem", "hello, I am not a certificate\n");
    refused(
        &data,
        remote_add(&data, &sink, Some(&junk)),
        "--ca-file: the CA certificates are not PEM",
    );
    let key = file(
        "key.pem",
        &format!(
            "{}-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
            sink.ca_pem
        ),
    );
    refused(&data, remote_add(&data, &sink, Some(&key)), "private key");
    let huge = file("huge.pem", &sink.ca_pem.repeat(200));
    refused(
        &data,
        remote_add(&data, &sink, Some(&huge)),
        "at most 64 KiB",
    );
    assert_eq!(
        sink.versions.counts(),
        (0, 0),
        "nothing reached the endpoint"
    );

    // With it: tested (write, read back, delete), listed as carrying a private CA.
    let ca = file("ca.pem", &sink.ca_pem);
    let out = remote_add(&data, &sink, Some(&ca));
    assert!(out.status.success(), "{}", said(&out));
    assert!(!said(&out).contains("far-secret"));
    let list = microcloud(&["remote", "list", "--data", data.to_str().unwrap()], "");
    assert!(
        list.contains("far") && list.contains("private-ca"),
        "{list}"
    );

    let gw = Gateway::start(&data, &[]);
    let client = reqwest::Client::new();
    let body = |i: usize| format!("file {i} over https ").repeat(50 + i);
    rt.block_on(async {
        for i in 0..FILES {
            let status = client
                .put(format!("{}f{i:03}", gw.dav()))
                .basic_auth("alice", Some(PASSWORD))
                .body(body(i))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status.as_u16(), 201, "PUT f{i:03}");
        }
    });
    let (ok, text) = flush(&data, 120);
    assert!(ok, "flush: {text}");
    let (http1, http2) = sink.versions.counts();
    assert_eq!(
        http1, 0,
        "an endpoint offering HTTP/2 got HTTP/1.1 requests"
    );
    assert!(
        http2 >= FILES as u64,
        "{http2} HTTP/2 requests for {FILES} files"
    );

    // Every file is there, byte for byte.
    let check = Remote::new(
        RemoteConfig {
            name: "check".into(),
            kind: RemoteKind::S3 {
                endpoint: format!("https://localhost:{}", sink.addr.port()),
                region: "us-east-1".into(),
                bucket: "box".into(),
                prefix: String::new(),
                path_style: true,
                ca_pem: Some(sink.ca_pem.clone()),
            },
        },
        Some(Credentials {
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
        }),
    )
    .unwrap();
    rt.block_on(async {
        for i in 0..FILES {
            let got = collect(check.get(&format!("alice/f{i:03}"), None).await.unwrap())
                .await
                .unwrap();
            assert_eq!(got, Bytes::from(body(i)), "alice/f{i:03}");
        }
    });
    drop(gw);
}
