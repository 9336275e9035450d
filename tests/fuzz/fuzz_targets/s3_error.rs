//! An S3 error body, and the other small answers read with the same reader: the results of
//! CreateMultipartUpload and CompleteMultipartUpload (which may hold an error too).
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_remotes::xml;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(e) = xml::error(data) {
        // Decoding never makes text longer than what it decodes.
        assert!(e.code.len() <= text.len() && e.message.len() <= text.len());
    }
    if let Ok(id) = xml::create_multipart_upload(data) {
        assert!(!id.is_empty() && id.len() <= data.len());
    }
    match xml::complete_multipart_upload(data) {
        Ok(xml::Completed::Done { etag: Some(etag) }) => {
            assert!(!etag.starts_with('"') && !etag.ends_with('"'), "{etag:?}");
        }
        Ok(xml::Completed::Failed(e)) => assert!(e.code.len() <= data.len()),
        _ => {}
    }
    // What we escape (CompleteMultipartUpload's ETags) reads back unchanged.
    let written = format!("<Error><Code>{}</Code></Error>", xml::escape(&text));
    assert_eq!(xml::error(written.as_bytes()).unwrap().code, text);
});
