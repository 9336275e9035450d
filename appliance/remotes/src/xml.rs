//! Just enough XML reading for the S3 answers rusty-s3 does not parse: error bodies
//! (`<Error><Code>..</Code><Message>..</Message></Error>`) and ListMultipartUploads results.
//! These are flat documents of known shape, so a tag scanner with entity decoding suffices.
//!
//! The readers of whole answers ([`list_objects_v2`], [`list_multipart_uploads`], [`error`]) are
//! public, hidden from the documentation, for the fuzz targets in `tests/fuzz`: they are exactly
//! what the S3 remote runs on a server's answer.

use crate::ObjectInfo;

/// One page of a ListObjectsV2 answer.
#[derive(Debug)]
pub struct ObjectsPage {
    /// The objects listed, with their full keys (prefix included); `blake3` is never known.
    pub objects: Vec<ObjectInfo>,
    /// The continuation token of the next page, if the listing goes on.
    pub next: Option<String>,
}

/// Reads a ListObjectsV2 answer (with rusty-s3's reader); `Err` says why it is unreadable.
pub fn list_objects_v2(text: &str) -> Result<ObjectsPage, String> {
    let page = rusty_s3::actions::ListObjectsV2::parse_response(text).map_err(|e| e.to_string())?;
    let objects = page
        .contents
        .into_iter()
        .map(|obj| ObjectInfo {
            size: obj.size.unwrap_or(0),
            etag: obj
                .etag
                .as_deref()
                .map(unquote)
                .unwrap_or_default()
                .to_owned(),
            key: obj.key,
            blake3: None,
        })
        .collect();
    Ok(ObjectsPage {
        objects,
        next: page.next_continuation_token,
    })
}

/// One page of a ListMultipartUploads answer.
#[derive(Debug)]
pub struct UploadsPage {
    /// (full key, upload id) of each upload in progress, keys decoded when the answer says
    /// `EncodingType` url.
    pub uploads: Vec<(String, String)>,
    /// (key marker, upload id marker) of the next page, when the answer is truncated and names
    /// a non-empty key marker.
    pub next: Option<(String, String)>,
}

/// Reads a ListMultipartUploads answer (rusty-s3 has no reader for it). Uploads without a key or
/// an id are skipped.
pub fn list_multipart_uploads(text: &str) -> UploadsPage {
    let url_encoded = self::text(text, "EncodingType").as_deref() == Some("url");
    let decode = |s: String| if url_encoded { url_decode(&s) } else { s };
    let mut uploads = Vec::new();
    for upload in elements(text, "Upload") {
        let (Some(key), Some(id)) = (self::text(upload, "Key"), self::text(upload, "UploadId"))
        else {
            continue;
        };
        uploads.push((decode(key), id));
    }
    let truncated = self::text(text, "IsTruncated").as_deref() == Some("true");
    let next = match (
        truncated,
        self::text(text, "NextKeyMarker"),
        self::text(text, "NextUploadIdMarker"),
    ) {
        (true, Some(k), Some(u)) if !k.is_empty() => Some((decode(k), u)),
        _ => None,
    };
    UploadsPage { uploads, next }
}

/// The `Code` and `Message` of an S3 error body, "" where absent. Bytes that are not UTF-8 are
/// read lossily.
pub fn error(body: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(body);
    (
        self::text(&text, "Code").unwrap_or_default(),
        self::text(&text, "Message").unwrap_or_default(),
    )
}

/// An ETag without its quotes and surrounding space.
pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Decodes a key of an `encoding-type=url` listing (`+` is a space, as AWS encodes them).
pub fn url_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The text of every `<tag>...</tag>` element in `xml`, in order, entities decoded.
/// Elements written as `<tag/>` give an empty string. Namespace prefixes are not supported (S3
/// answers use a default namespace, not prefixed names).
#[cfg(test)]
pub fn texts(xml: &str, tag: &str) -> Vec<String> {
    elements(xml, tag).into_iter().map(unescape).collect()
}

/// The text of the first `<tag>` element, entities decoded.
pub fn text(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).into_iter().next().map(unescape)
}

/// The raw inner XML of every `<tag>...</tag>` element (not nested in one another).
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<tag>`, `<tag attr="..">` or `<tag/>`, but not `<tagLonger>`.
        let Some(end_of_open) = after.find('>') else {
            break;
        };
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
pub fn unescape(s: &str) -> String {
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
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_bodies() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code><Message>Content-MD5 &amp; body &lt;differ&gt; &#x41;&#66;</Message><Resource>/b/k</Resource></Error>"#;
        assert_eq!(text(body, "Code").as_deref(), Some("BadDigest"));
        assert_eq!(
            text(body, "Message").as_deref(),
            Some("Content-MD5 & body <differ> AB")
        );
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
    fn reads_listing_pages() {
        let uploads = list_multipart_uploads(
            "<R><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextKeyMarker>a%2Fb+c</NextKeyMarker>\
             <NextUploadIdMarker>u</NextUploadIdMarker><Upload><Key>a%2Fb+c</Key><UploadId>1</UploadId></Upload>\
             <Upload><Key>no id</Key></Upload></R>",
        );
        assert_eq!(uploads.uploads, vec![("a/b c".to_owned(), "1".to_owned())]);
        assert_eq!(uploads.next, Some(("a/b c".to_owned(), "u".to_owned())));
        // An empty key marker would start the listing over: it ends it.
        let empty = "<IsTruncated>true</IsTruncated><NextKeyMarker></NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>";
        assert!(list_multipart_uploads(empty).next.is_none());
        let page = list_objects_v2(
            "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>\
             <IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>p/a&amp;b</Key>\
             <LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>5</Size></Contents>\
             </ListBucketResult>",
        )
        .unwrap();
        assert_eq!(
            (
                page.objects[0].key.as_str(),
                page.objects[0].size,
                page.objects[0].etag.as_str()
            ),
            ("p/a&b", 5, "e")
        );
        assert_eq!(page.next.as_deref(), Some("t"));
        assert!(list_objects_v2("<ListBucketResult").is_err());
        assert_eq!(
            error(b"<Error><Code>A</Code></Error>\xff"),
            ("A".to_owned(), String::new())
        );
    }

    #[test]
    fn escape_round_trips() {
        let s = "a&b<c>\"d\" ü";
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(unescape("<![CDATA[x<y]]>z"), "x<yz");
    }
}
