//! A ListMultipartUploads answer from a server, read as the S3 remote reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_remotes::xml;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = xml::list_multipart_uploads(data) else {
        return;
    };
    // Each upload takes at least `<Upload><Key/><UploadId/></Upload>` of the answer.
    assert!(
        page.uploads.len() * 34 <= data.len(),
        "{} uploads from {} bytes",
        page.uploads.len(),
        data.len()
    );
    if let Some((key_marker, _)) = &page.next {
        // An empty marker would restart the listing from the top, forever.
        assert!(!key_marker.is_empty());
    }
});
