//! The sink answers the uplink's own S3 client (`microcloud_remotes`) as S3 would.

use bytes::Bytes;
use microcloud_remotes::{collect, Condition, RemoteError};

#[tokio::test]
async fn answers_the_uplinks_requests() {
    let buckets = ["b".to_owned()];
    let (addr, task) = super::start("127.0.0.1:0".parse().unwrap(), 1 << 20, false, &buckets)
        .await
        .unwrap();
    let creds = ("key".to_owned(), "secret".to_owned());
    let r = crate::s3(&format!("http://{addr}"), "garage", "b", &creds);
    r.probe().await.unwrap();

    // Pages of 1,000, a prefix, and common prefixes with a delimiter.
    for i in 0..2500 {
        let key = format!("{}/f{i:05}", if i % 2 == 0 { "a" } else { "b/c" });
        let body = Bytes::from(format!("{i}"));
        r.put(&key, body, "h", &Condition::None).await.unwrap();
    }
    assert_eq!(r.list("").await.unwrap().len(), 2500);
    assert_eq!(r.list("b/").await.unwrap().len(), 1250);
    assert_eq!(r.keys_in("a/", 5000).await.unwrap().unwrap().len(), 1250);
    assert_eq!(r.keys_in("a/", 999).await.unwrap(), None);
    assert!(r.keys_in("", 10).await.unwrap().unwrap().is_empty());

    // What a write over an object asks for is honoured by the sink itself.
    let put = r.put_listed_absent("a/f00000", Bytes::from("x"), "h").await;
    assert!(
        matches!(put, Err(RemoteError::PreconditionFailed { .. })),
        "{put:?}"
    );
    let info = r.head("a/f00002").await.unwrap().unwrap();
    assert_eq!((info.size, info.blake3.as_deref()), (1, Some("h")));
    let got = collect(r.get("b/c/f00001", None).await.unwrap())
        .await
        .unwrap();
    assert_eq!(got, Bytes::from("1"));

    // Multipart: kept when small, only its size and ETag when large; conditions on completion.
    for (key, size) in [("small", 10usize), ("large", 700 << 10)] {
        let id = r.create_multipart(key, "m").await.unwrap();
        assert_eq!(
            r.list_multipart("").await.unwrap(),
            vec![(key.to_owned(), id.clone())]
        );
        let mut parts = Vec::new();
        for n in 1..=2u16 {
            let data = Bytes::from(vec![n as u8; size]);
            parts.push((n, r.upload_part(key, &id, n, data).await.unwrap()));
        }
        let etag = r
            .complete_multipart(key, &id, &parts, &Condition::IfAbsent)
            .await
            .unwrap();
        assert!(etag.ends_with("-2"), "{etag}");
        let info = r.head(key).await.unwrap().unwrap();
        assert_eq!(
            (info.size, info.etag, info.blake3.as_deref()),
            (2 * size as u64, etag, Some("m"))
        );
        assert!(r.list_multipart("").await.unwrap().is_empty());
    }
    let small = collect(r.get("small", Some((8, 11))).await.unwrap())
        .await
        .unwrap();
    assert_eq!(&small[..], &[1, 1, 2, 2]);
    assert!(
        r.get("large", None).await.is_err(),
        "a large object's bytes are not kept"
    );
    let id = r.create_multipart("small", "m").await.unwrap();
    let etag = r
        .upload_part("small", &id, 1, Bytes::from("z"))
        .await
        .unwrap();
    let (parts, cond) = ([(1, etag)], Condition::IfMatch("nope".into()));
    let done = r.complete_multipart("small", &id, &parts, &cond).await;
    assert!(
        matches!(done, Err(RemoteError::PreconditionFailed { .. })),
        "{done:?}"
    );
    r.abort_multipart("small", &id).await.unwrap();
    assert!(r.list_multipart("").await.unwrap().is_empty());

    r.delete("small").await.unwrap();
    assert!(r.head("small").await.unwrap().is_none());
    task.abort();
}
