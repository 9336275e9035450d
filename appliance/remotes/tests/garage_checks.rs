//! What Garage itself checks, below the S3 remote's own emulation: these pin down the claims of
//! the S3 module's documentation (Content-MD5 verified, conditional headers ignored), so that a
//! Garage upgrade that changes them is noticed. The requests go through
//! `microcloud_remotes::unchecked`, which skips the remote's checks.

use bytes::Bytes;
use microcloud_remotes::{
    unchecked, Condition, Credentials, Remote, RemoteConfig, RemoteError, RemoteKind,
};
use microcloud_tests::garage::Garage;

/// A remote on a fresh bucket of `garage`, at the bucket's root.
fn remote(garage: &Garage) -> Remote {
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
            ca_pem: None,
        },
    };
    let creds = Credentials {
        access_key_id,
        secret_access_key,
    };
    Remote::new(cfg, Some(creds)).expect("S3 remote")
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
    let meant = unchecked::content_md5(b"the body that was meant");
    let err = unchecked::put(
        &s3,
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
    let err = unchecked::upload_part(&s3, "k", &id, 1, body.clone(), &meant)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Rejected { status: 400, detail, .. } if detail.contains("BadDigest")),
        "{err}"
    );
    s3.abort_multipart("k", &id).await.unwrap();

    // The real MD5 passes.
    unchecked::put(&s3, "k", body.clone(), &hash(&body), &Condition::None, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn garage_conditional_headers() {
    let garage = Garage::start();
    let s3 = remote(&garage);
    let (v1, v2) = (Bytes::from_static(b"one"), Bytes::from_static(b"two"));
    let put = |data: &Bytes, cond: Condition| {
        let (s3, data) = (s3.clone(), data.clone());
        async move { unchecked::put(&s3, "k", data.clone(), &hash(&data), &cond, None).await }
    };
    let e1 = put(&v1, Condition::None).await.unwrap();
    let absent = put(&v2, Condition::IfAbsent).await;
    let stale = put(
        &v2,
        Condition::IfMatch("00000000000000000000000000000000".into()),
    )
    .await;
    let current = put(&v1, Condition::IfMatch(e1.clone())).await;
    // Garage 2.5.0 ignores both headers: each write lands. Should a later Garage refuse the
    // first two with 412, the HEAD emulation of the S3 remote becomes a mere double check.
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
        s3.put(k, b.clone(), &hash(&b), &Condition::None)
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
