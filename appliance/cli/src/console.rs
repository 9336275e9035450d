//! What the gateway prints for the owner (on the appliance, its output goes to the console, the
//! serial line and the screen): every HTTPS address of the box, by name and by IP address, the
//! CA's fingerprint and, until the box is set up, the setup code with a QR code of the setup URL
//! that carries it. Printed at start and again when the box's addresses change.

use std::net::{IpAddr, SocketAddr};

use qrcode::render::unicode::Dense1x2;

/// The HTTPS URLs of a gateway listening on `bound`: `https://<host>.local/` and one per address
/// of the box (loopback and link-local left out: a tablet cannot use them in a URL), or just
/// the address it listens on when that is not the wildcard.
pub fn urls(bound: SocketAddr) -> Vec<String> {
    let port = if bound.port() == 443 {
        String::new()
    } else {
        format!(":{}", bound.port())
    };
    let ip = bound.ip();
    if !ip.is_unspecified() {
        return vec![url_of(ip, &port)];
    }
    let mut out = vec![format!("https://{}.local{port}/", crate::tls::host_name())];
    for a in microcloud_discovery::box_addresses() {
        // 0.0.0.0 serves IPv4 only; [::] both.
        if a.is_loopback() || link_local(a) || (ip.is_ipv4() && a.is_ipv6()) {
            continue;
        }
        out.push(url_of(a, &port));
    }
    out
}

fn link_local(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
    }
}

fn url_of(a: IpAddr, port: &str) -> String {
    match a {
        IpAddr::V4(_) => format!("https://{a}{port}/"),
        IpAddr::V6(_) => format!("https://[{a}]{port}/"),
    }
}

/// `scheme://host[:port]/` for a socket the gateway listens on, with a real address of the box
/// in place of the wildcard (`0.0.0.0` or `[::]` is no address a person can open).
pub fn url(scheme: &str, bound: SocketAddr) -> String {
    let default = if scheme == "https" { 443 } else { 80 };
    let port = if bound.port() == default {
        String::new()
    } else {
        format!(":{}", bound.port())
    };
    let ip = if bound.ip().is_unspecified() {
        microcloud_discovery::box_addresses()
            .into_iter()
            .filter(|a| !a.is_loopback() && !link_local(*a))
            .filter(|a| bound.is_ipv6() || a.is_ipv4())
            .min_by_key(|a| a.is_ipv6())
    } else {
        Some(bound.ip())
    };
    match ip {
        Some(a) => url_of(a, &port).replacen("https", scheme, 1),
        None => format!("{scheme}://{}.local{port}/", crate::tls::host_name()),
    }
}

/// The setup URL that carries the code (in the fragment: it never reaches a server log).
pub fn setup_url(base: &str, code: &str) -> String {
    format!("{base}#setup={code}")
}

/// A QR code for a terminal: half-block characters, light modules drawn dark so that it scans on
/// a console's light-on-dark text.
pub fn qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// The banner: addresses, fingerprint, and the setup code with its QR code until setup is done.
pub fn banner(urls: &[String], fingerprint: Option<&str>, setup_code: Option<&str>) -> String {
    let mut s = String::new();
    let mut first = true;
    for u in urls {
        s.push_str(if first { "  open:    " } else { "           " });
        s.push_str(u);
        s.push('\n');
        first = false;
    }
    // The name alone: no address yet (DHCP still running, no cable).
    if urls.len() <= 1 && urls.first().is_some_and(|u| u.contains(".local")) {
        s.push_str("           (no address yet: shown again when the box gets one)\n");
    }
    if let Some(f) = fingerprint {
        s.push_str(&format!("  CA SHA-256 fingerprint: {f}\n"));
    }
    if let Some(code) = setup_code {
        // The IP address, not the .local name: it works on every tablet (Android resolves
        // .local only since version 12, not always).
        let base = urls
            .get(1)
            .or(urls.first())
            .map(String::as_str)
            .unwrap_or("");
        let url = setup_url(base, code);
        s.push_str(&format!(
            "  setup:   scan the code below, or open {base} and enter the setup code {code}\n"
        ));
        if let Some(q) = qr(&url) {
            s.push_str(&q);
            s.push('\n');
        }
        s.push_str(&format!("           {url}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_the_only_url_and_ports_other_than_443_are_written() {
        let u = urls("10.0.0.5:8443".parse().unwrap());
        assert_eq!(u, vec!["https://10.0.0.5:8443/"]);
        let u = urls("[fd00::5]:443".parse().unwrap());
        assert_eq!(u, vec!["https://[fd00::5]/"]);
    }

    #[test]
    fn the_wildcard_lists_the_name_and_never_the_wildcard() {
        let u = urls("[::]:443".parse().unwrap());
        assert!(u[0].ends_with(".local/"), "{u:?}");
        assert!(
            u.iter()
                .all(|u| !u.contains("0.0.0.0") && !u.contains("[::]")),
            "{u:?}"
        );
    }

    #[test]
    fn the_banner_carries_the_setup_code_in_a_qr_code_and_a_url() {
        let urls = vec![
            "https://box.local/".to_owned(),
            "https://10.0.0.5/".to_owned(),
        ];
        let b = banner(&urls, Some("AB:CD"), Some("ABCD-EFGH-JKMN"));
        assert!(b.contains("https://10.0.0.5/#setup=ABCD-EFGH-JKMN"), "{b}");
        assert!(b.contains('▀') || b.contains('▄'), "{b}");
        assert!(b.contains("AB:CD"));
        let done = banner(&urls, None, None);
        assert!(!done.contains("setup"), "{done}");
        let waiting = banner(&urls[..1], None, None);
        assert!(waiting.contains("no address yet"), "{waiting}");
    }
}
