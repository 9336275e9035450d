//! Device passwords: one random credential per tablet (as Nextcloud's app passwords), shown once
//! and stored as a digest.
//!
//! A device password is 28 characters of Crockford's base32 (140 random bits, see [`codes`]),
//! grouped by four with dashes for typing. It is random, so a fast digest (BLAKE3) stores it as safely as argon2
//! would and checking it costs microseconds: WebDAV sends it with every request. Comparison goes
//! through `blake3::Hash`, whose equality runs in constant time.

use microcloud_store::{DeviceId, Store, StoreError, User};

use crate::codes;

/// Characters of a device password, without its dashes (5 bits each: 140 bits).
const LEN: usize = 28;
/// Characters between dashes.
const GROUP: usize = 4;

/// A fresh device password, e.g. `7k2m-...` (seven groups of four).
pub fn new_password() -> String {
    codes::grouped(&codes::random(LEN), GROUP)
}

/// The password's characters in canonical form, when it has the shape of a device password
/// (`None` otherwise: then it is an account password, or wrong).
fn canonical(password: &str) -> Option<String> {
    codes::canonical(password, LEN)
}

/// Whether `password` has the shape of a device password.
pub fn looks_like_device_password(password: &str) -> bool {
    canonical(password).is_some()
}

/// The digest the catalog keeps of a device password.
pub fn digest(password: &str) -> Option<[u8; 32]> {
    let c = canonical(password)?;
    Some(blake3::derive_key(
        "microcloud device password v1",
        c.as_bytes(),
    ))
}

/// The device of `user` whose password this is.
pub fn find(
    store: &Store,
    user: &User,
    password: &str,
) -> Result<Option<(DeviceId, String)>, StoreError> {
    let Some(d) = digest(password) else {
        return Ok(None);
    };
    let d = blake3::Hash::from_bytes(d);
    let mut found = None;
    // Every device is compared, whichever matches, so the time taken does not tell which.
    for s in store.device_secrets(user.id)? {
        if blake3::Hash::from_bytes(s.digest) == d {
            found = Some((s.id, s.name));
        }
    }
    Ok(found)
}

/// Adds device `name` for `user`; returns its password, to be shown once.
pub fn add(store: &Store, user: &str, name: &str) -> Result<(DeviceId, String), StoreError> {
    let password = new_password();
    let id = store.add_device(user, name, digest(&password).expect("a fresh password"))?;
    Ok((id, password))
}

/// Every paired device as the LAN view matches them (by the address of its last request).
pub fn paired(store: &Store) -> Result<Vec<microcloud_neighbours::Paired>, StoreError> {
    Ok(store
        .devices(None)?
        .into_iter()
        .map(|d| microcloud_neighbours::Paired {
            user: d.user,
            name: d.name,
            last_address: d.last_addr,
            last_seen_unix: d.last_seen_ns.map(|ns| ns.div_euclid(1_000_000_000)),
        })
        .collect())
}

/// What kind of device a User-Agent names, for the device list.
pub fn kind(user_agent: Option<&str>) -> &'static str {
    let Some(ua) = user_agent else {
        return "unknown";
    };
    let ua = ua.to_ascii_lowercase();
    let kinds: [(&str, &str); 11] = [
        ("ipad", "iPad"),
        ("iphone", "iPhone"),
        ("android", "Android"),
        ("windows", "Windows"),
        ("microsoft-webdav", "Windows"),
        ("macintosh", "Mac"),
        ("cros ", "Chromebook"),
        ("linux", "Linux"),
        ("rclone", "rclone"),
        ("curl", "curl"),
        ("davfs", "davfs2"),
    ];
    kinds
        .iter()
        .find(|(k, _)| ua.contains(k))
        .map_or("other", |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_140_bits_in_typable_groups() {
        let p = new_password();
        assert_eq!(p.len(), 34, "{p}");
        assert_eq!(p.split('-').count(), 7);
        assert!(p.split('-').all(|g| g.len() == 4));
        assert!(looks_like_device_password(&p));
        assert_ne!(new_password(), p);
    }

    #[test]
    fn typing_variants_give_the_same_digest() {
        let p = "7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxyz";
        let d = digest(p).unwrap();
        assert_eq!(digest(&p.to_uppercase()), Some(d));
        assert_eq!(digest(&p.replace('-', " ")), Some(d));
        assert_eq!(digest(&p.replace('-', "")), Some(d));
        assert_eq!(digest(&p.replace('0', "O").replace('1', "l")), Some(d));
        assert_ne!(digest("7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxy0"), Some(d));
    }

    #[test]
    fn other_shapes_are_not_device_passwords() {
        for p in [
            "",
            "correct horse battery staple",
            "7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxy",
            "7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxyzz",
            "7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxyu",
            "7k2m-0a1b-cdef-ghjk-mnpq-rstv-wxyé",
        ] {
            assert!(!looks_like_device_password(p), "{p}");
        }
        assert!(!looks_like_device_password(&"a".repeat(10_000)));
    }

    #[test]
    fn kinds_from_user_agents() {
        assert_eq!(
            kind(Some("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")),
            "iPad"
        );
        assert_eq!(kind(Some("Mozilla/5.0 (Linux; Android 14)")), "Android");
        assert_eq!(kind(Some("rclone/v1.60.1")), "rclone");
        assert_eq!(kind(Some("Microsoft-WebDAV-MiniRedir/10.0")), "Windows");
        assert_eq!(kind(None), "unknown");
        assert_eq!(kind(Some("x")), "other");
    }
}
