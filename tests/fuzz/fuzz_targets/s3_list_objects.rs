//! A ListObjectsV2 answer from a server, read as the S3 remote reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_remotes::xml;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = xml::list_objects_v2(data) else {
        return;
    };
    // Each object takes at least `<Contents><Key/></Contents>` of the answer.
    assert!(
        page.objects.len() * 26 <= data.len(),
        "{} objects from {} bytes",
        page.objects.len(),
        data.len()
    );
    for obj in &page.objects {
        assert!(
            !obj.etag.starts_with('"') && !obj.etag.ends_with('"'),
            "etag still quoted: {:?}",
            obj.etag
        );
        assert!(obj.blake3.is_none());
    }
    if let Some(token) = &page.next {
        // An empty token would restart the listing from the top.
        assert!(!token.is_empty());
    }
});
