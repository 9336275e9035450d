//! A request path (or href) and a COPY/MOVE Destination header, decoded to a store path. The
//! input is `value\nhost` (without a newline, the host is `box.local`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use microcloud_webdav::hygiene;

/// What a decoded path may never be: anything that could leave the user's space.
fn check(path: &str, from: &str) {
    assert!(path.starts_with('/'), "{from:?} gave {path:?}");
    assert!(!path.contains('\0'), "{from:?} gave a NUL: {path:?}");
    assert!(
        !path.chars().any(char::is_control),
        "{from:?} gave a control character: {path:?}"
    );
    if path != "/" {
        assert!(
            !path.ends_with('/') && !path.contains("//"),
            "{from:?} gave an empty segment: {path:?}"
        );
        for segment in path[1..].split('/') {
            assert!(
                segment != "." && segment != "..",
                "{from:?} gave a relative segment: {path:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (value, host) = text.split_once('\n').unwrap_or((&text, "box.local"));
    if let Ok(path) = hygiene::dav_path(value) {
        check(&path, value);
        // A decoded path without escapes names itself.
        if !path.contains('%') && !path.contains('?') && !path.contains('#') {
            let again = hygiene::dav_path(&format!("/dav{path}")).expect("a decoded path decodes");
            assert_eq!(again, path);
        }
    }
    if let Ok(path) = hygiene::destination(value, host) {
        check(&path, value);
        assert_ne!(path, "/", "{value:?} would replace the user's root");
    }
});
