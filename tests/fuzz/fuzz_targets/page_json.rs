//! The setup page's JSON request bodies (onboarding, sign-in, destinations, users, passwords,
//! ssh keys), each read as the page's API reads it, and a destination's validation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    microcloud_webui::fuzz_json_bodies(data);
});
