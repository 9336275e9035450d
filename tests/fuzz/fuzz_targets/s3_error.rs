//! An S3 error body (and the tag scanner and entity decoder under every S3 reader).
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_remotes::xml;

fuzz_target!(|data: &[u8]| {
    let (code, message) = xml::error(data);
    let text = String::from_utf8_lossy(data);
    // Decoding never makes text longer than what it decodes.
    assert!(code.len() <= text.len() && message.len() <= text.len());
    for tag in ["Error", "Code", "ETag", "Upload"] {
        for inner in xml::elements(&text, tag) {
            assert!(xml::unescape(inner).len() <= inner.len());
        }
    }
    let _ = xml::text(&text, "ETag").map(|e| xml::unquote(&e).to_owned());
    // What we escape (CompleteMultipartUpload's ETags) reads back unchanged.
    assert_eq!(xml::unescape(&xml::escape(&text)), text);
});
