//! A Range header for a file of some length: the first 8 bytes give the length (scaled down by
//! a shift taken from them, so small files come up as often as huge ones), the rest the header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_webdav::hygiene::{self, MAX_RANGES};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
    let len = raw >> (raw & 63);
    let value = String::from_utf8_lossy(&data[8..]);
    match hygiene::ranges(&value, len) {
        Ok(None) => {}
        Ok(Some(ranges)) => {
            assert!(
                !ranges.is_empty() && ranges.len() <= MAX_RANGES,
                "{} ranges for {value:?}",
                ranges.len()
            );
            for r in &ranges {
                assert!(
                    r.start < r.end && r.end <= len,
                    "range {r:?} of a {len}-byte file from {value:?}"
                );
            }
            for pair in ranges.windows(2) {
                // Sorted, apart and not even adjacent (adjacent ones are merged).
                assert!(
                    pair[0].end < pair[1].start,
                    "ranges {:?} and {:?} from {value:?}",
                    pair[0],
                    pair[1]
                );
            }
            // What we would ask another server for reads back as the same ranges.
            let again = hygiene::ranges(&hygiene::range_header(&ranges), len)
                .expect("our own header is satisfiable");
            assert_eq!(again.as_deref(), Some(&ranges[..]));
        }
        Err(refusal) => assert_eq!(refusal.status, 416, "{value:?}: {refusal}"),
    }
});
