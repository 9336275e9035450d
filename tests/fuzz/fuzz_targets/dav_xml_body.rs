//! A PROPFIND, PROPPATCH or LOCK request body (the first byte picks the method), read by the LAN
//! service's bounded reader before the WebDAV library sees it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_webdav::hygiene::{self, MAX_XML_BODY};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let method = ["PROPFIND", "PROPPATCH", "LOCK"][pick as usize % 3];
    let Ok(canonical) = hygiene::xml_body(method, body) else {
        return;
    };
    if canonical.is_empty() {
        assert!(
            std::str::from_utf8(body).is_ok_and(|s| s.trim().is_empty()),
            "a body with content read as none"
        );
        return;
    }
    assert!(
        std::str::from_utf8(&canonical).is_ok(),
        "the canonical form is not UTF-8"
    );
    // The canonical form is what the library parses: reading it again must accept it unchanged
    // (when it still fits the size bound; escaping can make it longer than the body was).
    if canonical.len() <= MAX_XML_BODY {
        let again = hygiene::xml_body(method, &canonical).expect("the canonical form is accepted");
        assert_eq!(again, canonical, "the canonical form is not a fixed point");
    }
});
