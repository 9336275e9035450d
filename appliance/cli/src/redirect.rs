//! Plain HTTP on the appliance (`gateway --redirect-http`): a redirect to HTTPS, and the box's CA.
//!
//! The page, its API, WebDAV and metrics are served over HTTPS only, because over plain HTTP
//! anyone on the LAN reads passwords, session cookies and files. Plain HTTP still answers, for two
//! reasons: a person types the box's name without `https://`, and a device has to fetch the CA
//! before it can trust HTTPS at all. So this router serves only:
//!
//! - `/ca.crt` (the CA certificate, PEM), `/ca.mobileconfig` (the same as an Apple configuration
//!   profile, what iPadOS and iOS install) and `/trust` (how to install it on each platform, with
//!   its fingerprint to compare with the console's);
//! - a refusal, 403 with a message naming the HTTPS address, for anything under `/dav` and for
//!   every method but GET and HEAD (sign-in, onboarding, any change): redirecting those would
//!   teach clients that credentials over plain HTTP work (they were sent already);
//! - a 308 redirect to the same path on HTTPS for every other GET or HEAD.
//!
//! It reads no body and holds no state; the serve loop in front of it
//! (`microcloud_webdav::connections::serve`) bounds connections and header times as for HTTPS.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use microcloud_tls::{trust, Authority};

/// What the plain-HTTP side knows: the CA's files, the box's name, the HTTPS port.
struct Plain {
    ca_pem: String,
    mobileconfig: String,
    fingerprint: String,
    box_name: String,
    tls_port: u16,
}

/// The router of the plain-HTTP port when HTTPS on `tls_port` is the real one.
pub fn router(ca: &Authority, box_name: &str, tls_port: u16) -> axum::Router {
    let plain = Arc::new(Plain {
        ca_pem: ca.cert_pem().to_owned(),
        mobileconfig: trust::mobileconfig(ca.cert_der(), box_name),
        fingerprint: ca.fingerprint(),
        box_name: box_name.to_owned(),
        tls_port,
    });
    let (p1, p2, p3, p4) = (plain.clone(), plain.clone(), plain.clone(), plain);
    axum::Router::new()
        .route(
            "/ca.crt",
            get(move || async move {
                download(
                    trust::CA_CERT_TYPE,
                    &format!("microcloud-{}-ca.crt", p1.box_name),
                    p1.ca_pem.clone(),
                )
            }),
        )
        .route(
            "/ca.mobileconfig",
            get(move || async move {
                download(
                    trust::MOBILECONFIG_TYPE,
                    &format!("microcloud-{}.mobileconfig", p2.box_name),
                    p2.mobileconfig.clone(),
                )
            }),
        )
        .route(
            "/trust",
            get(move |headers: HeaderMap| async move {
                let url = p3.https_url(&headers, "/");
                let mut resp = (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    trust::trust_page(&p3.box_name, &p3.fingerprint, &url),
                )
                    .into_response();
                plain_headers(&mut resp);
                resp.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'",
                    ),
                );
                resp
            }),
        )
        .fallback(move |req: Request| async move { p4.elsewhere(req) })
}

impl Plain {
    /// The HTTPS URL of `path` on the host the client asked for (its `Host` header, the port
    /// replaced by the HTTPS port), or on the box's `.local` name when that is missing or odd.
    fn https_url(&self, headers: &HeaderMap, path: &str) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(host_of)
            .unwrap_or_else(|| format!("{}.local", self.box_name));
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        match self.tls_port {
            443 => format!("https://{host}{path}"),
            port => format!("https://{host}:{port}{path}"),
        }
    }

    /// The plain-HTTP URL of `path` as the client reached this port (its `Host` header as is,
    /// when it is a host and port), else on the box's `.local` name.
    fn plain_url(&self, headers: &HeaderMap, path: &str) -> String {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| host_of(h).is_some() && !h.contains(['/', '@', ' ']))
            .map(|h| h.to_ascii_lowercase())
            .unwrap_or_else(|| format!("{}.local", self.box_name));
        format!("http://{host}{path}")
    }

    /// Anything but the CA and the page about it: refused (WebDAV, changes, sign-in) or
    /// redirected (other reads).
    fn elsewhere(&self, req: Request) -> Response {
        let path = req.uri().path();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or("/");
        let url = self.https_url(req.headers(), path_and_query);
        let dav = path == "/dav" || path.starts_with("/dav/");
        let read = req.method() == Method::GET || req.method() == Method::HEAD;
        let (status, body) = if dav || !read {
            (
                StatusCode::FORBIDDEN,
                format!(
                    "This box takes WebDAV, sign-in and changes over HTTPS only: use {url}\n\
                     To trust the box's certificate first, see {}\n",
                    self.plain_url(req.headers(), "/trust")
                ),
            )
        } else {
            (StatusCode::PERMANENT_REDIRECT, format!("moved to {url}\n"))
        };
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response();
        plain_headers(&mut resp);
        if status == StatusCode::PERMANENT_REDIRECT {
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
        }
        resp
    }
}

/// The host of a `Host` header (`name`, `name:port`, `[v6]:port`), without the port; None when
/// it holds anything a host name or address does not.
fn host_of(value: &str) -> Option<String> {
    let host = if let Some(rest) = value.strip_prefix('[') {
        rest.split_once(']')?.0
    } else {
        value.split(':').next()?
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    ok.then(|| host.to_ascii_lowercase())
}

/// A file offered for download.
fn download(content_type: &'static str, file_name: &str, body: String) -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", file_name.replace('"', "")),
            ),
        ],
        body,
    )
        .into_response();
    plain_headers(&mut resp);
    resp
}

/// Headers on every plain-HTTP answer: not to be sniffed, framed or cached.
fn plain_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_from_the_host_header() {
        assert_eq!(host_of("box.local"), Some("box.local".into()));
        assert_eq!(host_of("Box.local:8080"), Some("box.local".into()));
        assert_eq!(host_of("192.168.1.2:80"), Some("192.168.1.2".into()));
        assert_eq!(host_of("[fd00::1]:80"), Some("fd00::1".into()));
        assert_eq!(host_of("[fd00::1]"), Some("fd00::1".into()));
        assert_eq!(host_of("a/b"), None);
        assert_eq!(host_of("<x>"), None);
        assert_eq!(host_of(""), None);
    }
}
