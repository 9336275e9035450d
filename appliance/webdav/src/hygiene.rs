//! What a request must look like before the WebDAV library sees it.
//!
//! `dav_server` trusts its input: its XML reader recurses once per nested element (a deep body
//! overflows the stack and aborts the whole process), it serves as many overlapping ranges as
//! asked, and it panics on a Destination that is the root. Each function here reads one part of
//! a request with explicit bounds and either refuses it with a status and a one-sentence reason or
//! hands back a normalised form that the library can only take one way. These are the functions
//! the fuzzers call.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use http::StatusCode;
use microcloud_constants::DAV_PREFIX;
use quick_xml::events::Event;

/// Largest XML request body (PROPFIND, PROPPATCH, LOCK) accepted.
pub const MAX_XML_BODY: usize = 64 * 1024;
/// Deepest element nesting accepted in an XML body; real clients send fewer than ten levels.
pub const MAX_XML_DEPTH: usize = 32;
/// Most elements in one XML body (a PROPFIND naming every property it wants needs a few dozen).
pub const MAX_XML_ELEMENTS: usize = 4096;
/// Most attributes on one element.
pub const MAX_XML_ATTRIBUTES: usize = 32;
/// Largest `<owner>` of a LOCK, as written back: it is kept in memory as long as the lock.
pub const MAX_LOCK_OWNER: usize = 1024;
/// Most ranges served in one response, after overlapping and adjacent ones are merged.
pub const MAX_RANGES: usize = 16;
/// Most range specifiers read from one Range header; beyond that the header is ignored.
const MAX_RANGE_SPECS: usize = 1000;
/// Longest If header read, and most conditions in it.
const MAX_IF_LEN: usize = 8 * 1024;
const MAX_IF_CONDITIONS: usize = 64;

/// A request refused: the status to answer and why, in one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The status code to answer with.
    pub status: StatusCode,
    /// Why, for the client and the log.
    pub why: Cow<'static, str>,
}

impl Refusal {
    fn bad(why: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            why: why.into(),
        }
    }
    fn forbidden(why: impl Into<Cow<'static, str>>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            why: why.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.why, self.status.as_u16())
    }
}

impl std::error::Error for Refusal {}

// ---- paths -------------------------------------------------------------------------------------

/// Decodes a request path under `/dav` to the store path it names ("/" for the user's root),
/// refusing what could leave the user's space (`..`, encoded slashes), what is not UTF-8, and
/// what the store's naming rule refuses (control characters, over-long names and paths).
pub fn dav_path(raw: &str) -> Result<String, Refusal> {
    let rest = raw
        .strip_prefix(DAV_PREFIX)
        .filter(|r| r.is_empty() || r.starts_with('/'));
    let Some(rest) = rest else {
        return Err(Refusal {
            status: StatusCode::NOT_FOUND,
            why: "not found: WebDAV is under /dav/".into(),
        });
    };
    let mut out = Vec::new();
    for segment in rest.split('/') {
        let lower = segment.to_ascii_lowercase();
        if lower.contains("%2f") || lower.contains("%5c") {
            return Err(Refusal::bad("bad path: an encoded slash in a name"));
        }
        let decoded = percent_encoding::percent_decode_str(segment).collect::<Vec<u8>>();
        let Ok(decoded) = String::from_utf8(decoded) else {
            return Err(Refusal::bad("bad path: a name that is not UTF-8"));
        };
        if decoded.contains('\0') {
            return Err(Refusal::bad("bad path: a NUL byte in a name"));
        }
        if decoded == "." || decoded == ".." {
            return Err(Refusal::bad("bad path: a relative path segment"));
        }
        if !decoded.is_empty() {
            out.push(decoded);
        }
    }
    let path = format!("/{}", out.join("/"));
    microcloud_store::namespace::check_path(&path)
        .map_err(|e| Refusal::bad(format!("bad name: {e}")))?;
    Ok(path)
}

/// Checks a COPY or MOVE `Destination` header against the request's `Host`, and decodes it to a
/// store path. Another server is 502, outside `/dav/` or the user's root folder itself is 403.
pub fn destination(value: &str, host: &str) -> Result<String, Refusal> {
    let uri: http::Uri = value
        .parse()
        .map_err(|_| Refusal::bad("bad Destination header: not a URL"))?;
    if let Some(authority) = uri.authority() {
        if !authority.as_str().eq_ignore_ascii_case(host) {
            return Err(Refusal {
                status: StatusCode::BAD_GATEWAY,
                why: "the Destination is on another server".into(),
            });
        }
    }
    let path = dav_path(uri.path()).map_err(|r| match r.status {
        StatusCode::NOT_FOUND => Refusal::forbidden("the Destination is outside your space"),
        _ => Refusal {
            why: format!("bad Destination: {}", r.why).into(),
            ..r
        },
    })?;
    if path == "/" {
        return Err(Refusal::forbidden(
            "your root folder cannot be replaced: name a file or folder inside it",
        ));
    }
    Ok(path)
}

// ---- XML bodies --------------------------------------------------------------------------------

/// Reads a PROPFIND, PROPPATCH or LOCK body with a streaming reader that enforces the bounds
/// (size, nesting depth, element and attribute counts, the size of a lock's owner; no DTD, so no
/// entity is ever declared or expanded) and writes it back in a canonical form: the same
/// elements, attributes and text, without comments, processing instructions or CDATA sections.
/// The WebDAV library only ever parses that canonical form, so no difference between two parsers
/// can smuggle anything past these bounds. An empty body stays empty (PROPFIND's allprop).
pub fn xml_body(method: &str, body: &[u8]) -> Result<Bytes, Refusal> {
    if body.len() > MAX_XML_BODY {
        return Err(Refusal {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            why: "the XML body is larger than 64 KiB".into(),
        });
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(Refusal::bad("the XML body is not UTF-8"));
    };
    if text.trim().is_empty() {
        return Ok(Bytes::new());
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut out = String::with_capacity(text.len() + 64);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let (mut depth, mut elements, mut roots) = (0usize, 0usize, 0usize);
    // Where the current LOCK owner started in `out`, and at which depth.
    let mut owner: Option<(usize, usize)> = None;
    let malformed = |e: &dyn std::fmt::Display| Refusal::bad(format!("malformed XML body: {e}"));
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                elements += 1;
                if elements > MAX_XML_ELEMENTS {
                    return Err(Refusal::bad(format!(
                        "the XML body has more than {MAX_XML_ELEMENTS} elements"
                    )));
                }
                if depth == 0 {
                    roots += 1;
                    if roots > 1 {
                        return Err(Refusal::bad(
                            "malformed XML body: more than one root element",
                        ));
                    }
                }
                let name = std::str::from_utf8(e.name().as_ref())
                    .map_err(|e| malformed(&e))?
                    .to_owned();
                if !xml_name(&name) {
                    return Err(Refusal::bad(
                        "malformed XML body: an element without a valid name",
                    ));
                }
                if !empty {
                    depth += 1;
                    if depth > MAX_XML_DEPTH {
                        return Err(Refusal::bad(format!(
                            "the XML body is nested deeper than {MAX_XML_DEPTH} levels"
                        )));
                    }
                    if method.eq_ignore_ascii_case("LOCK")
                        && owner.is_none()
                        && depth == 2
                        && local(&name) == "owner"
                    {
                        owner = Some((out.len(), depth));
                    }
                }
                out.push('<');
                out.push_str(&name);
                for (i, attr) in e.attributes().enumerate() {
                    if i >= MAX_XML_ATTRIBUTES {
                        return Err(Refusal::bad(format!(
                            "an XML element has more than {MAX_XML_ATTRIBUTES} attributes"
                        )));
                    }
                    let attr = attr.map_err(|e| malformed(&e))?;
                    let key = std::str::from_utf8(attr.key.as_ref()).map_err(|e| malformed(&e))?;
                    if !xml_name(key) {
                        return Err(Refusal::bad(
                            "malformed XML body: an attribute without a valid name",
                        ));
                    }
                    let value = attr.unescape_value().map_err(|e| malformed(&e))?;
                    out.push(' ');
                    out.push_str(key);
                    out.push_str("=\"");
                    out.push_str(&quick_xml::escape::escape(value.as_ref()));
                    out.push('"');
                }
                out.push_str(if empty { "/>" } else { ">" });
            }
            Event::End(ref e) => {
                let name = std::str::from_utf8(e.name().as_ref())
                    .map_err(|e| malformed(&e))?
                    .to_owned();
                out.push_str("</");
                out.push_str(&name);
                out.push('>');
                if let Some((start, at)) = owner {
                    if at == depth {
                        if out.len() - start > MAX_LOCK_OWNER {
                            return Err(Refusal::bad(format!(
                                "the lock owner is longer than {MAX_LOCK_OWNER} bytes"
                            )));
                        }
                        owner = None;
                    }
                }
                depth = depth.checked_sub(1).ok_or_else(|| {
                    Refusal::bad("malformed XML body: an end tag without a start")
                })?;
            }
            Event::Text(ref t) => {
                let s = t.decode().map_err(|e| malformed(&e))?;
                if depth == 0 {
                    if !s.trim().is_empty() {
                        return Err(Refusal::bad(
                            "malformed XML body: text outside the root element",
                        ));
                    }
                    continue;
                }
                out.push_str(&quick_xml::escape::escape(s.as_ref()));
            }
            Event::GeneralRef(ref r) => {
                if depth == 0 {
                    return Err(Refusal::bad(
                        "malformed XML body: text outside the root element",
                    ));
                }
                let resolved: String = match r.resolve_char_ref().map_err(|e| malformed(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| malformed(&e))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => {
                                return Err(Refusal::bad(
                                    "the XML body refers to an undeclared entity",
                                ))
                            }
                        }
                    }
                };
                out.push_str(&quick_xml::escape::escape(resolved.as_str()));
            }
            Event::CData(c) => {
                if depth == 0 {
                    return Err(Refusal::bad(
                        "malformed XML body: text outside the root element",
                    ));
                }
                let s = c.decode().map_err(|e| malformed(&e))?;
                out.push_str(&quick_xml::escape::escape(s.as_ref()));
            }
            Event::DocType(_) => {
                return Err(Refusal::bad(
                    "the XML body has a DTD; entity declarations are not accepted",
                ))
            }
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| malformed(&e))?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") && !enc.eq_ignore_ascii_case(b"utf8") {
                        return Err(Refusal::bad("the XML body must be UTF-8"));
                    }
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
        if out.len() > 4 * MAX_XML_BODY {
            return Err(Refusal {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                why: "the XML body is too large".into(),
            });
        }
    }
    if depth != 0 {
        return Err(Refusal::bad(
            "malformed XML body: it ends inside an element",
        ));
    }
    if roots == 0 {
        return Err(Refusal::bad("malformed XML body: no root element"));
    }
    Ok(Bytes::from(out))
}

/// Whether `s` is an XML name (XML 1.0 section 2.3, with every non-ASCII character allowed):
/// what is written back must parse as the same element, so nothing else may stand as a name.
fn xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || first == ':' || !first.is_ascii())
        && chars.all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.') || !c.is_ascii()
        })
}

/// The local part of a qualified name.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

// ---- Range -------------------------------------------------------------------------------------

/// Reads a Range header for a representation of `len` bytes: `Ok(Some(ranges))` to serve (sorted,
/// overlapping and adjacent ones merged, at most [`MAX_RANGES`]), `Ok(None)` to ignore the header
/// and serve the whole file (not bytes, not understood, or too many ranges: RFC 9110 14.2 lets a
/// server ignore it), `Err` with 416 when no range overlaps the file.
pub fn ranges(value: &str, len: u64) -> Result<Option<Vec<Range<u64>>>, Refusal> {
    let Some((unit, set)) = value.split_once('=') else {
        return Ok(None);
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ok(None);
    }
    let mut wanted: Vec<Range<u64>> = Vec::new();
    let mut any = false;
    for (i, spec) in set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        if i >= MAX_RANGE_SPECS {
            return Ok(None);
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ok(None);
        };
        let (first, last) = (first.trim(), last.trim());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        // Saturating: a position past the end is clamped to it, as RFC 9110 says.
        let num = |s: &str| {
            s.bytes().fold(0u64, |n, b| {
                n.saturating_mul(10).saturating_add((b - b'0') as u64)
            })
        };
        any = true;
        let r = match (first.is_empty(), last.is_empty()) {
            (false, _) if !digits(first) => return Ok(None),
            (false, false) if !digits(last) => return Ok(None),
            (false, false) => {
                let (f, l) = (num(first), num(last));
                if f > l {
                    return Ok(None);
                }
                f..l.saturating_add(1).min(len)
            }
            (false, true) => num(first)..len,
            (true, false) if digits(last) => len.saturating_sub(num(last))..len,
            _ => return Ok(None),
        };
        if r.start < r.end {
            wanted.push(r);
        }
    }
    if !any {
        return Ok(None);
    }
    if wanted.is_empty() {
        return Err(Refusal {
            status: StatusCode::RANGE_NOT_SATISFIABLE,
            why: "no requested range overlaps the file".into(),
        });
    }
    wanted.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(wanted.len());
    for r in wanted {
        match merged.last_mut() {
            Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
            _ => merged.push(r),
        }
    }
    if merged.len() > MAX_RANGES {
        return Ok(None);
    }
    Ok(Some(merged))
}

/// The Range header value that asks for exactly `ranges`.
pub fn range_header(ranges: &[Range<u64>]) -> String {
    let specs: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end - 1))
        .collect();
    format!("bytes={}", specs.join(","))
}

// ---- If ----------------------------------------------------------------------------------------

/// Checks an If header (RFC 4918 10.4) against its grammar and bounds; returns how many
/// conditions it holds. A malformed one is refused rather than guessed at.
pub fn if_header(value: &str) -> Result<usize, Refusal> {
    if value.len() > MAX_IF_LEN {
        return Err(Refusal::bad("the If header is longer than 8 KiB"));
    }
    let bad = || Refusal::bad("malformed If header");
    let s = value.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && matches!(s[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    // `<...>`: a resource tag or a state token; no whitespace or angle bracket inside.
    let coded_url = |i: &mut usize| -> Result<(), Refusal> {
        *i += 1;
        let start = *i;
        while *i < s.len() && s[*i] != b'>' {
            if matches!(s[*i], b'<' | b' ' | b'\t') {
                return Err(bad());
            }
            *i += 1;
        }
        if *i >= s.len() || *i == start {
            return Err(bad());
        }
        *i += 1;
        Ok(())
    };
    let (mut conditions, mut lists) = (0usize, 0usize);
    let mut tagged: Option<bool> = None;
    skip_ws(&mut i);
    if i >= s.len() {
        return Err(bad());
    }
    while i < s.len() {
        let is_tag = s[i] == b'<';
        match tagged {
            None => tagged = Some(is_tag),
            Some(t) if !t && is_tag => return Err(bad()),
            _ => {}
        }
        if is_tag {
            coded_url(&mut i)?;
            skip_ws(&mut i);
            if i >= s.len() || s[i] != b'(' {
                return Err(bad());
            }
        }
        // One or more lists.
        while i < s.len() && s[i] == b'(' {
            lists += 1;
            i += 1;
            let mut in_list = 0;
            loop {
                skip_ws(&mut i);
                if i >= s.len() {
                    return Err(bad());
                }
                if s[i] == b')' {
                    i += 1;
                    break;
                }
                if s.len() - i >= 3 && s[i..i + 3].eq_ignore_ascii_case(b"not") {
                    i += 3;
                    skip_ws(&mut i);
                    if i >= s.len() {
                        return Err(bad());
                    }
                }
                match s[i] {
                    b'<' => coded_url(&mut i)?,
                    b'[' => {
                        i += 1;
                        if s.len() - i >= 2 && &s[i..i + 2] == b"W/" {
                            i += 2;
                        }
                        if i >= s.len() || s[i] != b'"' {
                            return Err(bad());
                        }
                        i += 1;
                        while i < s.len() && s[i] != b'"' {
                            i += 1;
                        }
                        if i + 1 >= s.len() || s[i + 1] != b']' {
                            return Err(bad());
                        }
                        i += 2;
                    }
                    _ => return Err(bad()),
                }
                in_list += 1;
                conditions += 1;
                if conditions > MAX_IF_CONDITIONS {
                    return Err(Refusal::bad(format!(
                        "the If header has more than {MAX_IF_CONDITIONS} conditions"
                    )));
                }
            }
            if in_list == 0 {
                return Err(bad());
            }
            skip_ws(&mut i);
        }
        if lists == 0 {
            return Err(bad());
        }
        skip_ws(&mut i);
        if i < s.len() && s[i] != b'<' && s[i] != b'(' {
            return Err(bad());
        }
        if i < s.len() && s[i] == b'(' && tagged == Some(true) {
            return Err(bad());
        }
    }
    Ok(conditions)
}

// ---- responses ---------------------------------------------------------------------------------

/// Whether a browser may show content of this type inline: images (not SVG), audio, video, plain
/// text, PDF. Everything else (HTML, SVG, XML, scripts, unknown types) is sent as an attachment,
/// so that no user's file ever runs in the page's origin.
pub fn passive_type(content_type: &str) -> bool {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (t.starts_with("image/") && !t.contains("svg") && !t.contains("xml"))
        || t.starts_with("audio/")
        || t.starts_with("video/")
        || t == "text/plain"
        || t == "application/pdf"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(dav_path("/dav").unwrap(), "/");
        assert_eq!(dav_path("/dav/").unwrap(), "/");
        assert_eq!(dav_path("/dav/a%20b/c.txt").unwrap(), "/a b/c.txt");
        for bad in [
            "/dav/../x",
            "/dav/%2e%2e/x",
            "/dav/a%2Fb",
            "/dav/a%5cb",
            "/dav/a%00b",
            "/dav/./x",
            "/dav/%ff",
            "/dav/a%0d%0ab",
        ] {
            assert_eq!(
                dav_path(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert_eq!(
            dav_path(&format!("/dav/{}", "n".repeat(256)))
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        assert!(dav_path(&format!("/dav/{}", "n".repeat(255))).is_ok());
        let long = vec!["d".repeat(200); 4].join("/");
        assert!(dav_path(&format!("/dav/{long}"))
            .unwrap_err()
            .why
            .contains("768"));
        assert_eq!(
            dav_path("/other").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(dav_path("/davx").unwrap_err().status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn destinations() {
        assert_eq!(destination("http://h/dav/a", "h").unwrap(), "/a");
        assert_eq!(destination("/dav/a/b", "h").unwrap(), "/a/b");
        assert_eq!(
            destination("http://other/dav/a", "h").unwrap_err().status,
            StatusCode::BAD_GATEWAY
        );
        for root in ["/dav/", "/dav", "http://h/dav/", "http://h/dav//"] {
            assert_eq!(
                destination(root, "h").unwrap_err().status,
                StatusCode::FORBIDDEN,
                "{root}"
            );
        }
        assert_eq!(
            destination("/etc/passwd", "h").unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            destination("/dav/../x", "h").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            destination("not a url", "h").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn xml_bodies_are_bounded_and_canonical() {
        let b = xml_body("PROPFIND", b"<?xml version=\"1.0\"?><!-- hi --><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop></D:propfind>").unwrap();
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/></D:prop></D:propfind>"
        );
        assert!(xml_body("PROPFIND", b"  \n").unwrap().is_empty());
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_XML_DEPTH + 1),
            "</a>".repeat(MAX_XML_DEPTH + 1)
        );
        assert!(xml_body("PROPFIND", deep.as_bytes())
            .unwrap_err()
            .why
            .contains("deeper"));
        let ok = format!(
            "{}{}",
            "<a>".repeat(MAX_XML_DEPTH),
            "</a>".repeat(MAX_XML_DEPTH)
        );
        assert!(xml_body("PROPFIND", ok.as_bytes()).is_ok());
        // What fooled the old pre-scan: a '>' inside an attribute value hides the nesting.
        let tricky = format!("{}{}", "<a b='>'>".repeat(5000), "</a>".repeat(5000));
        assert!(xml_body("PROPFIND", tricky.as_bytes())
            .unwrap_err()
            .why
            .contains("deeper"));
        let dtd = b"<?xml version=\"1.0\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
        assert!(xml_body("PROPPATCH", dtd).unwrap_err().why.contains("DTD"));
        assert!(xml_body("PROPPATCH", b"<a>&x;</a>")
            .unwrap_err()
            .why
            .contains("entity"));
        assert_eq!(
            &xml_body("PROPPATCH", b"<a>&amp;&#x41;<![CDATA[<b>]]></a>").unwrap()[38..],
            b"<a>&amp;A&lt;b&gt;</a>"
        );
        // Found by the fuzzer: `< />` read as an element with an empty name, written back as `</>`.
        for bad in [
            &b"<a>"[..],
            b"<a></b>",
            b"</a>",
            b"text",
            b"<a/><b/>",
            b"<a/>trailing",
            b"< />",
            b"<\t/>",
            b"<a 1=\"x\"/>",
        ] {
            assert_eq!(
                xml_body("LOCK", bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            xml_body("LOCK", &vec![b' '; MAX_XML_BODY + 1])
                .unwrap_err()
                .status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_XML_ELEMENTS));
        assert!(xml_body("PROPFIND", many.as_bytes()).is_err());
    }

    #[test]
    fn lock_owners_are_bounded() {
        let lock = |owner: &str| {
            format!("<D:lockinfo xmlns:D=\"DAV:\"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>")
        };
        assert!(xml_body(
            "LOCK",
            lock("<D:href>mailto:ann@example.org</D:href>").as_bytes()
        )
        .is_ok());
        assert!(xml_body("LOCK", lock(&"x".repeat(2000)).as_bytes())
            .unwrap_err()
            .why
            .contains("owner"));
        assert!(
            xml_body("PROPPATCH", lock(&"x".repeat(2000)).as_bytes()).is_ok(),
            "only LOCK has an owner"
        );
    }

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // a list of one range is what `ranges` returns
    fn ranges_are_merged_and_capped() {
        assert_eq!(ranges("bytes=0-9", 100).unwrap(), Some(vec![0..10]));
        assert_eq!(ranges("bytes=90-", 100).unwrap(), Some(vec![90..100]));
        assert_eq!(ranges("bytes=-10", 100).unwrap(), Some(vec![90..100]));
        assert_eq!(
            ranges("bytes=0-999999999999999999999999", 100).unwrap(),
            Some(vec![0..100])
        );
        let abuse = vec!["0-"; 2000].join(",");
        assert_eq!(
            ranges(&format!("bytes={abuse}"), 1 << 20).unwrap(),
            None,
            "more specs than read: the whole file"
        );
        let abuse = vec!["0-"; 900].join(",");
        assert_eq!(
            ranges(&format!("bytes={abuse}"), 1 << 20).unwrap(),
            Some(vec![0..1 << 20])
        );
        assert_eq!(
            ranges("bytes=0-4,5-9,3-6, 20-29", 100).unwrap(),
            Some(vec![0..10, 20..30])
        );
        let scattered: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
        assert_eq!(
            ranges(&format!("bytes={}", scattered.join(",")), 1000).unwrap(),
            None
        );
        assert_eq!(
            ranges("bytes=100-", 100).unwrap_err().status,
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        assert_eq!(
            ranges("bytes=-0", 100).unwrap_err().status,
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        assert_eq!(
            ranges("bytes=0-0", 0).unwrap_err().status,
            StatusCode::RANGE_NOT_SATISFIABLE
        );
        for ignored in [
            "bytes=5-2",
            "chars=0-1",
            "bytes=abc",
            "bytes=--1",
            "bytes=",
            "bytes=1",
            "x",
        ] {
            assert_eq!(ranges(ignored, 100).unwrap(), None, "{ignored}");
        }
        assert_eq!(range_header(&[0..10, 20..30]), "bytes=0-9,20-29");
    }

    #[test]
    fn if_headers() {
        assert_eq!(
            if_header("(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2>)").unwrap(),
            1
        );
        assert_eq!(
            if_header("(<urn:uuid:a> [\"etag\"]) (Not <DAV:no-lock>)").unwrap(),
            3
        );
        assert_eq!(
            if_header("<http://h/dav/a> (<urn:x>) <http://h/dav/b> ([W/\"e\"])").unwrap(),
            2
        );
        for bad in [
            "",
            "()",
            "(",
            "<urn:x>",
            "(<urn:x>) <http://h/a> (<urn:y>)",
            "(<>)",
            "([e])",
            "(<a b>)",
            "junk",
            "(<urn:x>) junk",
        ] {
            assert!(if_header(bad).is_err(), "{bad:?}");
        }
        assert!(if_header(&"(<urn:x>)".repeat(65)).is_err());
        assert!(if_header(&"x".repeat(9000)).is_err());
    }

    #[test]
    fn active_types_are_attachments() {
        for t in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "audio/mpeg",
            "text/plain; charset=utf-8",
            "application/pdf",
        ] {
            assert!(passive_type(t), "{t}");
        }
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xml",
            "text/xml",
            "application/javascript",
            "text/javascript",
            "application/xhtml+xml",
            "",
            "application/octet-stream",
        ] {
            assert!(!passive_type(t), "{t}");
        }
    }
}
