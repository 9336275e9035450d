//! Just enough XML reading for the S3 answers rusty-s3 does not parse: error bodies
//! (`<Error><Code>..</Code><Message>..</Message></Error>`) and ListMultipartUploads results.
//! These are flat documents of known shape, so a tag scanner with entity decoding suffices.

/// The text of every `<tag>...</tag>` element in `xml`, in order, entities decoded.
/// Elements written as `<tag/>` give an empty string. Namespace prefixes are not supported (S3
/// answers use a default namespace, not prefixed names).
#[cfg(test)]
pub(crate) fn texts(xml: &str, tag: &str) -> Vec<String> {
    elements(xml, tag).into_iter().map(unescape).collect()
}

/// The text of the first `<tag>` element, entities decoded.
pub(crate) fn text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).into_iter().next().map(unescape)
}

/// The raw inner XML of every `<tag>...</tag>` element (not nested in one another).
pub(crate) fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<tag>`, `<tag attr="..">` or `<tag/>`, but not `<tagLonger>`.
        let Some(end_of_open) = after.find('>') else { break };
        let attrs = &after[..end_of_open];
        if !(attrs.is_empty() || attrs.starts_with(char::is_whitespace) || attrs == "/") {
            rest = after;
            continue;
        }
        let body = &after[end_of_open + 1..];
        if attrs.ends_with('/') {
            out.push("");
            rest = body;
            continue;
        }
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// Decodes the five predefined entities, numeric character references and CDATA sections.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
            let end = cdata.find("]]>").unwrap_or(cdata.len());
            out.push_str(&cdata[..end]);
            rest = cdata.get(end + 3..).unwrap_or("");
            continue;
        }
        if rest.starts_with('<') {
            out.push('<');
            rest = &rest[1..];
            continue;
        }
        let Some(semi) = rest.find(';') else {
            out.push_str(rest);
            return out;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for an element's content.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_bodies() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code><Message>Content-MD5 &amp; body &lt;differ&gt; &#x41;&#66;</Message><Resource>/b/k</Resource></Error>"#;
        assert_eq!(text(body, "Code").as_deref(), Some("BadDigest"));
        assert_eq!(text(body, "Message").as_deref(), Some("Content-MD5 & body <differ> AB"));
        assert_eq!(text(body, "Missing"), None);
    }

    #[test]
    fn reads_repeated_elements_and_skips_longer_names() {
        let body = "<R xmlns=\"x\"><KeyMarker/><Key>k2</Key><Upload><Key>a b</Key><UploadId>1</UploadId></Upload>\
                    <Upload><Key>c&amp;d</Key><UploadId>2</UploadId></Upload><IsTruncated>false</IsTruncated></R>";
        let uploads = elements(body, "Upload");
        assert_eq!(uploads.len(), 2);
        assert_eq!(text(uploads[1], "Key").as_deref(), Some("c&d"));
        assert_eq!(texts(body, "UploadId"), vec!["1", "2"]);
        assert_eq!(text(body, "KeyMarker").as_deref(), Some(""));
        assert_eq!(texts(body, "Key"), vec!["k2", "a b", "c&d"]);
    }

    #[test]
    fn escape_round_trips() {
        let s = "a&b<c>\"d\" ü";
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("<![CDATA[x<y]]>z"), "x<yz");
    }
}
