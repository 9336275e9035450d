//! What a device needs to trust the box's CA, as served over plain HTTP next to the redirect to
//! HTTPS: an Apple configuration profile (iPadOS and iOS install a CA from a profile, not from a
//! bare certificate) and a self-contained page that says how to install the CA on each platform
//! and shows its fingerprint, to be compared with the one on the box's console.
//!
//! Both are built from the CA certificate alone (no key), and are the same for the same CA: the
//! profile's UUIDs are derived from the CA's fingerprint, so that installing it again replaces the
//! earlier one instead of adding a second.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::fingerprint;

/// Media type of an Apple configuration profile.
pub const MOBILECONFIG_TYPE: &str = "application/x-apple-aspen-config";
/// Media type of a CA certificate offered for download.
pub const CA_CERT_TYPE: &str = "application/x-x509-ca-cert";

/// Escapes text for XML and HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A UUID (RFC 9562 version 8, custom) made from `label` and the CA certificate: the same for
/// the same CA, different for another.
fn uuid(label: &str, ca_der: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"microcloud profile ");
    h.update(label.as_bytes());
    h.update([0]);
    h.update(ca_der);
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An Apple configuration profile (`.mobileconfig`, an XML property list) holding the CA
/// certificate `ca_der` as a root certificate payload (`com.apple.security.root`), named after
/// box `box_name`.
pub fn mobileconfig(ca_der: &[u8], box_name: &str) -> String {
    let name = escape(box_name);
    let data = base64::engine::general_purpose::STANDARD.encode(ca_der);
    let payload_uuid = uuid("root certificate", ca_der);
    let profile_uuid = uuid("profile", ca_der);
    let fp = fingerprint(ca_der);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>microcloud-{name}-ca.crt</string>
			<key>PayloadContent</key>
			<data>{data}</data>
			<key>PayloadDescription</key>
			<string>The certificate authority of the microcloud box {name}, SHA-256 fingerprint {fp}</string>
			<key>PayloadDisplayName</key>
			<string>microcloud {name} CA</string>
			<key>PayloadIdentifier</key>
			<string>microcloud.ca.{payload_uuid}</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>{payload_uuid}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDescription</key>
	<string>Lets this device reach the microcloud box {name} over HTTPS.</string>
	<key>PayloadDisplayName</key>
	<string>microcloud {name}</string>
	<key>PayloadIdentifier</key>
	<string>microcloud.profile.{profile_uuid}</string>
	<key>PayloadRemovalDisallowed</key>
	<false/>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{profile_uuid}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
"#
    )
}

/// The page that explains how to trust the CA (fingerprint `fingerprint`) of box `box_name` on
/// each platform, with links to `/ca.crt`, `/ca.mobileconfig` and to the box at `https_url`.
/// Plain HTML with its style inline: no script, nothing fetched from elsewhere.
pub fn trust_page(box_name: &str, fingerprint: &str, https_url: &str) -> String {
    let name = escape(box_name);
    let fp = escape(fingerprint);
    let url = escape(https_url);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trust the microcloud box {name}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 1rem auto; padding: 0 1rem; line-height: 1.45; }}
code, .fp {{ font-family: ui-monospace, monospace; overflow-wrap: anywhere; }}
.fp {{ background: #f2f2f2; padding: .5rem; display: block; }}
h2 {{ margin-top: 1.6rem; }}
</style>
</head>
<body>
<h1>Trust the microcloud box {name}</h1>
<p>This box serves its page and its files over HTTPS only, with a certificate from its own
certificate authority (CA). Install the CA on each device once; then open
<a href="{url}">{url}</a>.</p>
<p>Before you trust it, check that its SHA-256 fingerprint is the one the box shows on its
console (and <code>microcloud tls</code> prints):</p>
<p><span class="fp" id="fingerprint">{fp}</span></p>
<p>Downloads: <a href="/ca.crt">ca.crt</a> (the CA certificate) and
<a href="/ca.mobileconfig">ca.mobileconfig</a> (the same, as a profile for iPad and iPhone).</p>

<h2 id="ipad">iPad and iPhone</h2>
<ol>
<li>In Safari, open <a href="/ca.mobileconfig">ca.mobileconfig</a> and allow the download.</li>
<li>Settings, then <em>Profile Downloaded</em> (or General, VPN &amp; Device Management): select
<em>microcloud {name}</em>, Install; its fingerprint is shown under More Details.</li>
<li>Settings, General, About, Certificate Trust Settings: turn on full trust for
<em>microcloud {name} CA</em>.</li>
</ol>

<h2 id="android">Android</h2>
<ol>
<li>Download <a href="/ca.crt">ca.crt</a>.</li>
<li>Settings, Security (or Security &amp; privacy), More security settings, Encryption &amp;
credentials, Install a certificate, <em>CA certificate</em>: choose the downloaded file.</li>
<li>Browsers such as Chrome then trust the box; some apps trust only their own list.</li>
</ol>

<h2 id="windows">Windows</h2>
<ol>
<li>Download <a href="/ca.crt">ca.crt</a> and open it: Install Certificate, Current User,
<em>Place all certificates in the following store</em>, Trusted Root Certification
Authorities.</li>
<li>Or in a terminal: <code>certutil -user -addstore Root ca.crt</code></li>
<li>Firefox keeps its own list: Settings, Privacy &amp; Security, Certificates, View
Certificates, Authorities, Import.</li>
</ol>

<h2 id="macos">macOS</h2>
<ol>
<li>Download <a href="/ca.crt">ca.crt</a> and open it: Keychain Access adds it.</li>
<li>In Keychain Access, open <em>microcloud {name} CA</em>, Trust, <em>When using this
certificate</em>: Always Trust.</li>
<li>Or in a terminal: <code>sudo security add-trusted-cert -d -r trustRoot -k
/Library/Keychains/System.keychain ca.crt</code></li>
</ol>

<h2 id="linux">Linux</h2>
<ol>
<li>Debian, Ubuntu: <code>sudo cp ca.crt /usr/local/share/ca-certificates/microcloud-{name}.crt
&amp;&amp; sudo update-ca-certificates</code></li>
<li>Fedora: <code>sudo cp ca.crt /etc/pki/ca-trust/source/anchors/microcloud-{name}.crt &amp;&amp;
sudo update-ca-trust</code></li>
<li>Firefox and Chromium keep their own lists: Firefox as on Windows; Chromium under Settings,
Privacy and security, Security, Manage certificates, Authorities, Import.</li>
</ol>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_the_same_for_the_same_ca_and_holds_it() {
        let der = b"not really DER, any bytes do";
        let a = mobileconfig(der, "box1");
        assert_eq!(a, mobileconfig(der, "box1"));
        assert_ne!(uuid("profile", der), uuid("profile", b"another CA"));
        assert_ne!(uuid("profile", der), uuid("root certificate", der));
        assert!(a.contains(&base64::engine::general_purpose::STANDARD.encode(der)));
        assert!(a.contains("<string>com.apple.security.root</string>"));
        let u = uuid("profile", der);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "8");
    }

    #[test]
    fn names_are_escaped() {
        let p = trust_page("<b>", "AB:CD", "https://x/\"");
        assert!(!p.contains("<b>") && p.contains("&lt;b&gt;"));
        assert!(p.contains("https://x/&quot;"));
        assert!(!p.contains("<script"));
        assert!(mobileconfig(b"x", "a&b").contains("a&amp;b"));
    }
}
