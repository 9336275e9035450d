//! An If header (RFC 4918 10.4), checked against its grammar and bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_webdav::hygiene;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    if let Ok(conditions) = hygiene::if_header(&value) {
        assert!(
            (1..=64).contains(&conditions),
            "{conditions} conditions in {value:?}"
        );
        assert!(value.len() <= 8 * 1024);
        // Every condition is a state token or an entity tag, inside a list.
        assert!(value.contains('(') && value.contains(')'));
    }
});
