//! A destination's manifest, as restore reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_uplink::manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = manifest::parse(data) else { return };
    for f in &m.files {
        let _ = blake3::Hash::from_hex(&f.blake3);
    }
    // What the uplink writes, restore reads back the same.
    let written = serde_json::to_vec(&m).expect("a manifest serializes");
    assert_eq!(
        manifest::parse(&written).expect("a written manifest parses"),
        m
    );
});
