//! The S3 answers the remote reads, and the one XML body it writes. Answers are input from the
//! network: each one is read by the same streaming reader (quick-xml events, no tree is built)
//! under the same bounds ([`MAX_DOCUMENT`] bytes, [`MAX_DEPTH`] levels of nesting), and anything
//! that is not a well-formed answer of the expected kind is refused with an [`XmlError`] that
//! says why. No DTD is accepted, so no entity is ever declared or expanded.
//!
//! Elements are matched by their local name (namespace prefixes and the namespace itself are not
//! checked: some S3-compatible servers omit it) and by their place in the answer: a `<Key>` counts
//! only as a child of the `<Contents>` (or `<Upload>`) that is a child of the root. Elements the
//! readers do not use are skipped, whatever they hold; a value the readers use may appear once per
//! element that holds it. Reading stops at the end of the root element.
//!
//! The readers ([`list_objects_v2`], [`list_multipart_uploads`], [`create_multipart_upload`],
//! [`complete_multipart_upload`], [`error`]) are public, hidden from the documentation, for the
//! fuzz targets in `tests/fuzz`: they are exactly what the S3 remote runs on a server's answer.

use std::borrow::Cow;

use quick_xml::events::Event;

use crate::ObjectInfo;

/// Largest answer read. A ListObjectsV2 or ListMultipartUploads page of 1000 entries with keys of
/// 1024 bytes, URL-encoded, stays under 5 MiB.
pub const MAX_DOCUMENT: usize = 16 * 1024 * 1024;
/// Deepest nesting of elements read (the root counts as one). S3 answers nest four levels deep.
pub const MAX_DEPTH: usize = 32;
/// Longest value quoted in an [`XmlError`].
const QUOTED: usize = 64;

/// Why an answer is unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// More than [`MAX_DOCUMENT`] bytes.
    #[error("larger than {} bytes", MAX_DOCUMENT)]
    TooLarge,
    /// Elements nested more than [`MAX_DEPTH`] levels deep.
    #[error("elements nested more than {} levels deep", MAX_DEPTH)]
    TooDeep,
    /// Bytes that are not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A document type declaration.
    #[error("a DTD (document type declarations are not accepted)")]
    Dtd,
    /// Not well-formed XML: a syntax error, mismatched or missing end tags, an unknown entity,
    /// text outside the root element.
    #[error("not well-formed XML at byte {at}: {detail}")]
    Malformed {
        /// Byte offset in the answer where the reader stopped.
        at: u64,
        /// What is wrong there.
        detail: String,
    },
    /// No root element at all (an empty answer, or only a declaration or comments).
    #[error("no XML element")]
    Empty,
    /// A root element other than the one the answer should have.
    #[error("root element {found:?}, expected <{}>", .expected.join("> or <"))]
    UnexpectedRoot {
        /// The root elements this answer may have.
        expected: &'static [&'static str],
        /// The root element found (its first [`QUOTED`] bytes).
        found: String,
    },
    /// A value the answer must have is missing (or empty).
    #[error("no <{0}>")]
    Missing(&'static str),
    /// A value appears twice where it may appear once.
    #[error("<{0}> appears more than once")]
    Duplicate(&'static str),
    /// A value that does not parse.
    #[error("<{element}> holds {value:?}, not {expected}")]
    Invalid {
        /// The element that holds it.
        element: &'static str,
        /// The value (its first [`QUOTED`] bytes).
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// One page of a ListObjectsV2 answer.
#[derive(Debug)]
pub struct ObjectsPage {
    /// The objects listed, with their full keys (prefix included); `blake3` is never known.
    pub objects: Vec<ObjectInfo>,
    /// The continuation token of the next page, if the listing goes on.
    pub next: Option<String>,
}

/// Reads a ListObjectsV2 answer. Keys are decoded when the answer says `EncodingType` url. Every
/// `<Contents>` must have a `<Key>`; a missing `<Size>` or `<ETag>` reads as 0 or "". A truncated
/// answer (`IsTruncated` true) must name a non-empty `NextContinuationToken`; an untruncated one
/// has no next page whatever token it names.
pub fn list_objects_v2(body: &[u8]) -> Result<ObjectsPage, XmlError> {
    const ROOT: &str = "ListBucketResult";
    const NAMES: &[&str] = &[
        ROOT,
        "Contents",
        "Key",
        "Size",
        "ETag",
        "IsTruncated",
        "NextContinuationToken",
        "EncodingType",
    ];
    let mut objects = Vec::new();
    let (mut key, mut size, mut etag) = (None, None, None);
    let (mut truncated, mut token, mut encoding) = (None, None, None);
    walk(utf8(body)?, &[ROOT], NAMES, |node| {
        match node {
            Node::Leaf(path, text) => match path {
                [ROOT, "Contents", "Key"] => set(&mut key, "Key", text)?,
                [ROOT, "Contents", "Size"] => set(&mut size, "Size", text)?,
                [ROOT, "Contents", "ETag"] => set(&mut etag, "ETag", text)?,
                [ROOT, "IsTruncated"] => set(&mut truncated, "IsTruncated", text)?,
                [ROOT, "NextContinuationToken"] => set(&mut token, "NextContinuationToken", text)?,
                [ROOT, "EncodingType"] => set(&mut encoding, "EncodingType", text)?,
                _ => {}
            },
            Node::Close([ROOT, "Contents"]) => {
                let key = key.take().ok_or(XmlError::Missing("Key"))?;
                let size = match size.take() {
                    Some(s) => number("Size", &s)?.unwrap_or(0),
                    None => 0,
                };
                let etag = etag.take().map(|e| unquote(&e).to_owned());
                objects.push(ObjectInfo {
                    key,
                    size,
                    etag: etag.unwrap_or_default(),
                    blake3: None,
                });
            }
            Node::Close(_) => {}
        }
        Ok(())
    })?;
    if encoding.as_deref() == Some("url") {
        for obj in &mut objects {
            obj.key = url_decode(&obj.key);
        }
    }
    let truncated = match truncated {
        Some(t) => boolean("IsTruncated", &t)?,
        None => None,
    };
    // Without a token a truncated listing would silently end early, while following a token
    // given with a complete one would restart it.
    let next = match (truncated, token) {
        (Some(false), _) => None,
        (_, Some(token)) if !token.is_empty() => Some(token),
        (Some(true), _) => return Err(XmlError::Missing("NextContinuationToken")),
        (None, _) => None,
    };
    Ok(ObjectsPage { objects, next })
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
/// an id are skipped. A truncated answer without a key marker ends the listing: an empty marker
/// would start it over.
pub fn list_multipart_uploads(body: &[u8]) -> Result<UploadsPage, XmlError> {
    const ROOT: &str = "ListMultipartUploadsResult";
    const NAMES: &[&str] = &[
        ROOT,
        "Upload",
        "Key",
        "UploadId",
        "IsTruncated",
        "NextKeyMarker",
        "NextUploadIdMarker",
        "EncodingType",
    ];
    let mut uploads = Vec::new();
    let (mut key, mut id) = (None, None);
    let (mut truncated, mut key_marker, mut id_marker, mut encoding) = (None, None, None, None);
    walk(utf8(body)?, &[ROOT], NAMES, |node| {
        match node {
            Node::Leaf(path, text) => match path {
                [ROOT, "Upload", "Key"] => set(&mut key, "Key", text)?,
                [ROOT, "Upload", "UploadId"] => set(&mut id, "UploadId", text)?,
                [ROOT, "IsTruncated"] => set(&mut truncated, "IsTruncated", text)?,
                [ROOT, "NextKeyMarker"] => set(&mut key_marker, "NextKeyMarker", text)?,
                [ROOT, "NextUploadIdMarker"] => set(&mut id_marker, "NextUploadIdMarker", text)?,
                [ROOT, "EncodingType"] => set(&mut encoding, "EncodingType", text)?,
                _ => {}
            },
            Node::Close([ROOT, "Upload"]) => {
                if let (Some(key), Some(id)) = (key.take(), id.take()) {
                    uploads.push((key, id));
                }
            }
            Node::Close(_) => {}
        }
        Ok(())
    })?;
    let url_encoded = encoding.as_deref() == Some("url");
    let decode = |s: String| if url_encoded { url_decode(&s) } else { s };
    let uploads = uploads
        .into_iter()
        .map(|(key, id)| (decode(key), id))
        .collect();
    let truncated = match truncated {
        Some(t) => boolean("IsTruncated", &t)?.unwrap_or(false),
        None => false,
    };
    let next = match (truncated, key_marker, id_marker) {
        (true, Some(k), Some(u)) if !k.is_empty() => Some((decode(k), u)),
        _ => None,
    };
    Ok(UploadsPage { uploads, next })
}

/// Reads a CreateMultipartUpload answer: the new upload's id, which must not be empty.
pub fn create_multipart_upload(body: &[u8]) -> Result<String, XmlError> {
    const ROOT: &str = "InitiateMultipartUploadResult";
    let mut id = None;
    walk(utf8(body)?, &[ROOT], &[ROOT, "UploadId"], |node| {
        if let Node::Leaf([ROOT, "UploadId"], text) = node {
            set(&mut id, "UploadId", text)?;
        }
        Ok(())
    })?;
    id.filter(|id| !id.is_empty())
        .ok_or(XmlError::Missing("UploadId"))
}

/// What a CompleteMultipartUpload answer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Completed {
    /// The object is assembled; its ETag (without quotes) when the answer names one.
    Done {
        /// The new object's ETag.
        etag: Option<String>,
    },
    /// S3 may answer 200 and still fail: the body then holds an `<Error>`.
    Failed(S3Error),
}

/// Reads a CompleteMultipartUpload answer: a `<CompleteMultipartUploadResult>`, or an `<Error>`.
pub fn complete_multipart_upload(body: &[u8]) -> Result<Completed, XmlError> {
    const ROOT: &str = "CompleteMultipartUploadResult";
    let mut etag = None;
    let (mut code, mut message) = (None, None);
    let root = walk(
        utf8(body)?,
        &[ROOT, "Error"],
        &[ROOT, "ETag", "Error", "Code", "Message"],
        |node| {
            match node {
                Node::Leaf([ROOT, "ETag"], text) => set(&mut etag, "ETag", text)?,
                Node::Leaf(["Error", "Code"], text) => set(&mut code, "Code", text)?,
                Node::Leaf(["Error", "Message"], text) => set(&mut message, "Message", text)?,
                _ => {}
            }
            Ok(())
        },
    )?;
    Ok(if root == ROOT {
        Completed::Done {
            etag: etag.map(|e| unquote(&e).to_owned()),
        }
    } else {
        Completed::Failed(S3Error {
            code: code.unwrap_or_default(),
            message: message.unwrap_or_default(),
        })
    })
}

/// Reads a CopyObject answer: a `<CopyObjectResult>` with the new object's `<ETag>`, or an
/// `<Error>` (S3 may answer 200 and still fail, as with CompleteMultipartUpload).
pub fn copy_object(body: &[u8]) -> Result<Completed, XmlError> {
    const ROOT: &str = "CopyObjectResult";
    let mut etag = None;
    let (mut code, mut message) = (None, None);
    let root = walk(
        utf8(body)?,
        &[ROOT, "Error"],
        &[ROOT, "ETag", "Error", "Code", "Message"],
        |node| {
            match node {
                Node::Leaf([ROOT, "ETag"], text) => set(&mut etag, "ETag", text)?,
                Node::Leaf(["Error", "Code"], text) => set(&mut code, "Code", text)?,
                Node::Leaf(["Error", "Message"], text) => set(&mut message, "Message", text)?,
                _ => {}
            }
            Ok(())
        },
    )?;
    Ok(if root == ROOT {
        Completed::Done {
            etag: etag.map(|e| unquote(&e).to_owned()),
        }
    } else {
        Completed::Failed(S3Error {
            code: code.unwrap_or_default(),
            message: message.unwrap_or_default(),
        })
    })
}

/// The `Code` and `Message` of an S3 error body ("" where absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Error {
    /// The error code, e.g. `NoSuchBucket`.
    pub code: String,
    /// The message for people.
    pub message: String,
}

/// Reads an S3 error body (`<Error><Code>..</Code><Message>..</Message></Error>`). Bytes that
/// are not UTF-8 are read lossily: the body only explains a failure its status already tells.
pub fn error(body: &[u8]) -> Result<S3Error, XmlError> {
    const ROOT: &str = "Error";
    if body.len() > MAX_DOCUMENT {
        return Err(XmlError::TooLarge);
    }
    let text = String::from_utf8_lossy(body);
    let (mut code, mut message) = (None, None);
    walk(&text, &[ROOT], &[ROOT, "Code", "Message"], |node| {
        match node {
            Node::Leaf([ROOT, "Code"], text) => set(&mut code, "Code", text)?,
            Node::Leaf([ROOT, "Message"], text) => set(&mut message, "Message", text)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(S3Error {
        code: code.unwrap_or_default(),
        message: message.unwrap_or_default(),
    })
}

/// The body of a CompleteMultipartUpload request: the parts, `(part number, ETag)`, in the order
/// given.
pub fn complete_multipart_body(parts: &[(u16, String)]) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>\"{}\"</ETag></Part>",
            escape(unquote(etag))
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// Escapes text for an element's content (`&`, `<`, `>`, `'` and `"`).
pub fn escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// An ETag without its quotes and surrounding space.
pub fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Decodes a key of an `encoding-type=url` listing (`+` is a space, as AWS encodes them); a key
/// that does not decode to UTF-8 is left as it is.
pub fn url_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    match percent_encoding::percent_decode_str(&spaced).decode_utf8() {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => s.to_owned(),
    }
}

/// What [`walk`] hands to a reader. Paths run from the root element; names the reader did not
/// ask for read as `"?"`.
enum Node<'p> {
    /// An element without child elements, and its text (entities and character references
    /// decoded, CDATA sections taken as they are).
    Leaf(&'p [&'static str], String),
    /// The end of any element (after its `Leaf`, if it is one).
    Close(&'p [&'static str]),
}

/// Reads `text` event by event within the bounds, checking it is well-formed with one of `roots`
/// as its root element, and hands each element the reader may want to `visit`. Returns the root's
/// name once the root element ends; what follows it is not read.
fn walk(
    text: &str,
    roots: &'static [&'static str],
    names: &[&'static str],
    mut visit: impl FnMut(Node<'_>) -> Result<(), XmlError>,
) -> Result<&'static str, XmlError> {
    if text.len() > MAX_DOCUMENT {
        return Err(XmlError::TooLarge);
    }
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let malformed = |reader: &quick_xml::Reader<&[u8]>, detail: String| XmlError::Malformed {
        at: reader.buffer_position(),
        detail,
    };
    let mut path: Vec<&'static str> = Vec::new();
    // The text of the innermost element, while no child element has started in it.
    let mut text_of_leaf: Option<String> = None;
    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            at: reader.error_position(),
            detail: e.to_string(),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let local = e.local_name();
                let name = std::str::from_utf8(local.as_ref())
                    .map_err(|_| malformed(&reader, "an element name is not UTF-8".into()))?;
                let known = names.iter().copied().find(|n| *n == name).unwrap_or("?");
                if path.is_empty() && !roots.contains(&known) {
                    return Err(XmlError::UnexpectedRoot {
                        expected: roots,
                        found: quoted(name),
                    });
                }
                path.push(known);
                if matches!(event, Event::Empty(_)) {
                    visit(Node::Leaf(&path, String::new()))?;
                    visit(Node::Close(&path))?;
                    path.pop();
                    if path.is_empty() {
                        return Ok(known);
                    }
                    text_of_leaf = None;
                } else {
                    text_of_leaf = Some(String::new());
                }
            }
            Event::End(_) => {
                if let Some(text) = text_of_leaf.take() {
                    visit(Node::Leaf(&path, text))?;
                }
                visit(Node::Close(&path))?;
                if let [root] = path[..] {
                    return Ok(root);
                }
                path.pop();
            }
            Event::Text(ref t) => {
                let s = t.decode().map_err(|e| malformed(&reader, e.to_string()))?;
                if path.is_empty() {
                    if !s.trim().is_empty() {
                        return Err(malformed(&reader, "text outside the root element".into()));
                    }
                } else if let Some(leaf) = &mut text_of_leaf {
                    leaf.push_str(&s);
                }
            }
            Event::CData(ref c) => {
                let s = c.decode().map_err(|e| malformed(&reader, e.to_string()))?;
                if path.is_empty() {
                    return Err(malformed(&reader, "text outside the root element".into()));
                }
                if let Some(leaf) = &mut text_of_leaf {
                    leaf.push_str(&s);
                }
            }
            Event::GeneralRef(ref r) => {
                if path.is_empty() {
                    return Err(malformed(&reader, "text outside the root element".into()));
                }
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => {
                        let name = r.decode().map_err(|e| malformed(&reader, e.to_string()))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                return Err(malformed(
                                    &reader,
                                    format!("unknown entity &{};", quoted(&name).escape_debug()),
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(malformed(&reader, e.to_string())),
                };
                if let Some(leaf) = &mut text_of_leaf {
                    leaf.push_str(&c);
                }
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return match path.last() {
                    None => Err(XmlError::Empty),
                    Some(_) => Err(malformed(
                        &reader,
                        format!("the answer ends inside <{}>", path.join("><")),
                    )),
                };
            }
        }
    }
}

/// Stores a value the element may hold once.
fn set(slot: &mut Option<String>, element: &'static str, text: String) -> Result<(), XmlError> {
    if slot.replace(text).is_some() {
        return Err(XmlError::Duplicate(element));
    }
    Ok(())
}

/// A whole number of bytes; `None` for an empty element.
fn number(element: &'static str, text: &str) -> Result<Option<u64>, XmlError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| XmlError::Invalid {
        element,
        value: quoted(text),
        expected: "a whole number",
    })
}

/// `true`/`1` or `false`/`0`; `None` for an empty element.
fn boolean(element: &'static str, text: &str) -> Result<Option<bool>, XmlError> {
    match text {
        "" => Ok(None),
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        _ => Err(XmlError::Invalid {
            element,
            value: quoted(text),
            expected: "true or false",
        }),
    }
}

fn utf8(body: &[u8]) -> Result<&str, XmlError> {
    if body.len() > MAX_DOCUMENT {
        return Err(XmlError::TooLarge);
    }
    std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)
}

/// At most the first [`QUOTED`] bytes of `s`, for an error message.
fn quoted(s: &str) -> String {
    if s.len() <= QUOTED {
        return s.to_owned();
    }
    let mut end = QUOTED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    #[test]
    fn copy_answers_give_the_etag_or_the_error_of_a_200() {
        let ok = format!(
            "<?xml version=\"1.0\"?><CopyObjectResult {NS}><LastModified>2024-01-01T00:00:00Z</LastModified><ETag>&quot;abc&quot;</ETag></CopyObjectResult>"
        );
        assert_eq!(
            copy_object(ok.as_bytes()).unwrap(),
            Completed::Done {
                etag: Some("abc".into())
            }
        );
        let failed = "<Error><Code>InternalError</Code><Message>try again</Message></Error>";
        assert_eq!(
            copy_object(failed.as_bytes()).unwrap(),
            Completed::Failed(S3Error {
                code: "InternalError".into(),
                message: "try again".into()
            })
        );
        assert!(copy_object(b"<ListBucketResult/>").is_err());
    }

    #[test]
    fn reads_error_bodies() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>BadDigest</Code><Message>Content-MD5 &amp; body &lt;differ&gt; &#x41;&#66;</Message><Resource>/b/k</Resource></Error>"#;
        let e = error(body.as_bytes()).unwrap();
        assert_eq!(e.code, "BadDigest");
        assert_eq!(e.message, "Content-MD5 & body <differ> AB");
        assert_eq!(
            error(b"<Error><Resource>/b/k</Resource></Error>").unwrap(),
            S3Error::default()
        );
        // Bytes that are not UTF-8 are read lossily; what follows the root is not read.
        assert_eq!(
            error(b"<Error><Code>A</Code></Error>\xff").unwrap(),
            S3Error {
                code: "A".into(),
                message: String::new()
            }
        );
        assert_eq!(
            error(b"<Error><Message>caf\xe9</Message></Error>")
                .unwrap()
                .message,
            "caf\u{fffd}"
        );
        // A proxy's page is no S3 error.
        assert!(matches!(
            error(b"<html><body>502 Bad Gateway</body></html>"),
            Err(XmlError::UnexpectedRoot { .. })
        ));
        assert_eq!(error(b""), Err(XmlError::Empty));
    }

    #[test]
    fn reads_elements_by_place_and_exact_name() {
        let body = format!(
            "<ListMultipartUploadsResult {NS}><KeyMarker/><Key>k2</Key><Keys>no</Keys>\
             <Upload><Key>a b</Key><KeyId>x</KeyId><UploadId>1</UploadId>\
             <Owner><Key>owner's</Key></Owner></Upload>\
             <Upload><Key>c&amp;d<!-- note --><![CDATA[<e>]]></Key><UploadId>2</UploadId></Upload>\
             <IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"
        );
        let page = list_multipart_uploads(body.as_bytes()).unwrap();
        assert_eq!(
            page.uploads,
            vec![
                ("a b".to_owned(), "1".to_owned()),
                ("c&d<e>".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(page.next, None);
        // Namespace prefixes are read through.
        let prefixed = "<s3:InitiateMultipartUploadResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                        <s3:Bucket>b</s3:Bucket><s3:UploadId>u-1</s3:UploadId></s3:InitiateMultipartUploadResult>";
        assert_eq!(create_multipart_upload(prefixed.as_bytes()).unwrap(), "u-1");
    }

    #[test]
    fn reads_listing_pages() {
        let uploads = list_multipart_uploads(
            b"<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\
              <NextKeyMarker>a%2Fb+c</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>\
              <Upload><Key>a%2Fb+c</Key><UploadId>1</UploadId></Upload>\
              <Upload><Key>no id</Key></Upload></ListMultipartUploadsResult>",
        )
        .unwrap();
        assert_eq!(uploads.uploads, vec![("a/b c".to_owned(), "1".to_owned())]);
        assert_eq!(uploads.next, Some(("a/b c".to_owned(), "u".to_owned())));
        // An empty key marker would start the listing over: it ends it.
        let empty = b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker></NextKeyMarker>\
                      <NextUploadIdMarker>u</NextUploadIdMarker></ListMultipartUploadsResult>";
        assert!(list_multipart_uploads(empty).unwrap().next.is_none());
        let page = list_objects_v2(
            format!(
                "<ListBucketResult {NS}><Name>b</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>\
                 <IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken><Contents><Key>p/a&amp;b</Key>\
                 <LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>&quot;e&quot;</ETag><Size>5</Size></Contents>\
                 <Contents><Key>p/c</Key></Contents></ListBucketResult>"
            )
            .as_bytes(),
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
        assert_eq!(
            (page.objects[1].size, page.objects[1].etag.as_str()),
            (0, "")
        );
        assert_eq!(page.next.as_deref(), Some("t"));
        assert!(list_objects_v2(b"<ListBucketResult").is_err());
        // Keys of an encoding-type=url listing are decoded, unless they are not UTF-8 then.
        let encoded = list_objects_v2(
            b"<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>\
              <NextContinuationToken>ignored</NextContinuationToken>\
              <Contents><Key>a+b%2B%C3%BC</Key></Contents><Contents><Key>%FF</Key></Contents></ListBucketResult>",
        )
        .unwrap();
        let keys: Vec<_> = encoded.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a b+ü", "%FF"]);
        assert_eq!(encoded.next, None, "an untruncated page has no next");
    }

    #[test]
    fn reads_multipart_results() {
        let body = format!(
            "<?xml version=\"1.0\"?><CompleteMultipartUploadResult {NS}><Location>l</Location>\
             <Bucket>b</Bucket><Key>k</Key><ETag>\"abc-2\"</ETag></CompleteMultipartUploadResult>"
        );
        assert_eq!(
            complete_multipart_upload(body.as_bytes()).unwrap(),
            Completed::Done {
                etag: Some("abc-2".into())
            }
        );
        assert_eq!(
            complete_multipart_upload(
                b"<Error><Code>InternalError</Code><Message>m</Message></Error>"
            )
            .unwrap(),
            Completed::Failed(S3Error {
                code: "InternalError".into(),
                message: "m".into()
            })
        );
        assert_eq!(
            create_multipart_upload(b"<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>"),
            Err(XmlError::Missing("UploadId"))
        );
    }

    #[test]
    fn malformed_answers_are_refused_with_the_reason() {
        /// An answer, and whether its error is the right one.
        type Case = (&'static [u8], fn(&XmlError) -> bool);
        let cases: [Case; 13] = [
            (b"<ListBucketResult>", |e| {
                matches!(e, XmlError::Malformed { detail, .. } if detail.contains("ends inside <ListBucketResult>"))
            }),
            (b"<ListBucketResult><Contents></Key></Contents></ListBucketResult>", |e| {
                matches!(e, XmlError::Malformed { .. })
            }),
            (b"<ListBucketResult><Contents><Key>a&nbsp;b</Key></Contents></ListBucketResult>", |e| {
                matches!(e, XmlError::Malformed { detail, .. } if detail.contains("unknown entity"))
            }),
            (b"<ListBucketResult>a & b</ListBucketResult>", |e| {
                matches!(e, XmlError::Malformed { .. })
            }),
            (b"junk<ListBucketResult/>", |e| {
                matches!(e, XmlError::Malformed { detail, .. } if detail.contains("outside the root"))
            }),
            (b"<!DOCTYPE x [<!ENTITY a \"b\">]><ListBucketResult/>", |e| {
                *e == XmlError::Dtd
            }),
            (b"<ListAllMyBucketsResult/>", |e| {
                matches!(e, XmlError::UnexpectedRoot { found, .. } if found == "ListAllMyBucketsResult")
            }),
            (b"<?xml version=\"1.0\"?>\n<!-- nothing -->\n", |e| *e == XmlError::Empty),
            (b"<ListBucketResult><Contents><Size>5</Size></Contents></ListBucketResult>", |e| {
                *e == XmlError::Missing("Key")
            }),
            (b"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>", |e| {
                matches!(e, XmlError::Invalid { element: "Size", .. })
            }),
            (b"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>", |e| {
                matches!(e, XmlError::Invalid { element: "IsTruncated", .. })
            }),
            (b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", |e| {
                *e == XmlError::Missing("NextContinuationToken")
            }),
            (b"<ListBucketResult><Contents><Key>a</Key><Key>b</Key></Contents></ListBucketResult>", |e| {
                *e == XmlError::Duplicate("Key")
            }),
        ];
        for (body, expected) in cases {
            let err = list_objects_v2(body).unwrap_err();
            assert!(expected(&err), "{}: {err:?}", String::from_utf8_lossy(body));
            // Every reason reads as a sentence.
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            list_objects_v2(b"<ListBucketResult>\xff</ListBucketResult>").unwrap_err(),
            XmlError::NotUtf8
        );
        assert!(matches!(
            list_multipart_uploads(
                b"<ListMultipartUploadsResult><Upload><Key>a</Upload></ListMultipartUploadsResult>"
            ),
            Err(XmlError::Malformed { .. })
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let nested = |depth: usize| {
            let mut s = String::from("<ListBucketResult>");
            s.push_str(&"<x>".repeat(depth - 1));
            s.push_str(&"</x>".repeat(depth - 1));
            s.push_str("</ListBucketResult>");
            s
        };
        assert!(list_objects_v2(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            list_objects_v2(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err(),
            XmlError::TooDeep
        );
        // An empty element counts as a level too.
        let empty = format!(
            "<Error>{}<x/>{}</Error>",
            "<x>".repeat(MAX_DEPTH - 1),
            "</x>".repeat(MAX_DEPTH - 1)
        );
        assert_eq!(error(empty.as_bytes()), Err(XmlError::TooDeep));
        // A million open elements stop at the bound, not at the end of the answer.
        let deep = "<Error>".repeat(1_000_000);
        assert_eq!(error(deep.as_bytes()), Err(XmlError::TooDeep));
    }

    #[test]
    fn oversized_answers_are_refused() {
        let mut body = String::from("<ListBucketResult><Contents><Key>");
        body.push_str(&"k".repeat(MAX_DOCUMENT));
        body.push_str("</Key></Contents></ListBucketResult>");
        assert_eq!(
            list_objects_v2(body.as_bytes()).unwrap_err(),
            XmlError::TooLarge
        );
        assert_eq!(error(body.as_bytes()), Err(XmlError::TooLarge));
        // Just under the bound is read.
        let fits = MAX_DOCUMENT - "<Error><Message></Message></Error>".len();
        let body = format!("<Error><Message>{}</Message></Error>", "m".repeat(fits));
        assert_eq!(error(body.as_bytes()).unwrap().message.len(), fits);
        // Values quoted in errors are cut short.
        let long = format!(
            "<ListBucketResult><IsTruncated>{}</IsTruncated></ListBucketResult>",
            "y".repeat(10_000)
        );
        let err = list_objects_v2(long.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    #[test]
    fn what_is_written_reads_back() {
        let s = "a&b<c>\"d\" 'ü' ]]>";
        let body = format!("<Error><Code>{}</Code></Error>", escape(s));
        assert_eq!(error(body.as_bytes()).unwrap().code, s);
        assert_eq!(
            complete_multipart_body(&[(1, "\"e1\"".into()), (3, "e&3".into())]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>\
             <Part><PartNumber>3</PartNumber><ETag>\"e&amp;3\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
