//! A ListObjectsV2 answer from a server, read as the S3 remote reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_remotes::xml;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(page) = xml::list_objects_v2(&text) {
        for obj in &page.objects {
            assert!(
                !obj.etag.starts_with('"') && !obj.etag.ends_with('"'),
                "etag still quoted: {:?}",
                obj.etag
            );
            assert!(obj.blake3.is_none());
        }
    }
});
