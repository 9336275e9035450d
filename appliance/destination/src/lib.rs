//! What a cloud destination is: where it keeps objects ([`RemoteKind`]: an S3-compatible bucket
//! or a directory), its name ([`RemoteConfig`]), its credentials ([`Credentials`], whose secret
//! no `Debug` prints), and the one validation of all three ([`DestinationSpec::validate`]).
//!
//! A crate of its own so that everyone who handles a destination shares one definition without
//! importing what they must not: the page (which may not import the uplink or the remotes) and
//! the CLI validate what a person typed with the same rules and the same sentences, the remotes
//! speak to what it describes, and the uplink's state stores it.

use std::path::PathBuf;

/// Largest private CA bundle a destination may carry (a chain of a few certificates is a few KiB).
pub const MAX_CA_PEM_LEN: usize = 64 << 10;

/// Longest S3 key prefix: the store keeps paths short enough for S3's 1,024-byte keys with a
/// prefix up to this long (see the store's `MAX_PREFIX_LEN`).
pub const MAX_PREFIX_LEN: usize = 127;

/// Where a remote keeps its objects.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RemoteKind {
    /// An S3-compatible bucket.
    S3 {
        /// Base URL of the service, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:3900`.
        endpoint: String,
        /// Region used in signatures (`garage` for Garage's default).
        region: String,
        /// Bucket name.
        bucket: String,
        /// Folder inside the bucket that holds every key ("" for the bucket's root).
        #[serde(default)]
        prefix: String,
        /// Path-style URLs (`endpoint/bucket/key`) rather than virtual-host style (`bucket.endpoint/key`).
        path_style: bool,
        /// Certificates (PEM) of a private authority that signed the endpoint's certificate,
        /// trusted beside the public ones: a self-hosted store on https with its own CA.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_pem: Option<String>,
    },
    /// A local directory (the embedded default): one file per object.
    Dir {
        /// The directory's root; it must exist (a missing root counts as unreachable, like an
        /// unmounted disk, never as "every object is gone").
        path: PathBuf,
    },
}

/// A named destination and where it is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteConfig {
    /// The owner's name for it, shown in errors and status.
    pub name: String,
    /// Its kind and location.
    pub kind: RemoteKind,
}

/// S3 access keys. `Debug` never prints the secret.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// A destination as a person describes it (the page's form, the CLI's options), before checking.
#[derive(Clone, Default, serde::Deserialize)]
pub struct DestinationSpec {
    /// The owner's name for it.
    pub name: String,
    /// `s3` or `dir`.
    pub kind: String,
    /// S3: the service's URL.
    #[serde(default)]
    pub endpoint: String,
    /// S3: the region (empty: `us-east-1`).
    #[serde(default)]
    pub region: String,
    /// S3: the bucket.
    #[serde(default)]
    pub bucket: String,
    /// S3: the folder inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// S3: path-style addressing.
    #[serde(default)]
    pub path_style: bool,
    /// S3: a private CA's certificates (PEM) to trust for the endpoint; empty for none.
    #[serde(default)]
    pub ca_pem: String,
    /// S3: the access key id.
    #[serde(default)]
    pub access_key_id: String,
    /// S3: the secret access key.
    #[serde(default)]
    pub secret_access_key: String,
    /// A directory: its absolute path.
    #[serde(default)]
    pub path: String,
}

impl std::fmt::Debug for DestinationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("secret_access_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a destination was refused: the field at fault and a sentence for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// The field at fault (`name`, `kind`, `endpoint`, `bucket`, `prefix`, `access_key_id`,
    /// `secret_access_key`, `path`, `ca_pem`), as the page's form and the API name it.
    pub field: &'static str,
    /// What is wrong and what would do, in one sentence.
    pub message: String,
}

impl Invalid {
    /// An [`Invalid`] for field `field` as named on the wire (an unknown name becomes
    /// `destination`).
    pub fn of(field: &str, message: String) -> Invalid {
        const FIELDS: [&str; 9] = [
            "name",
            "kind",
            "endpoint",
            "bucket",
            "prefix",
            "access_key_id",
            "secret_access_key",
            "path",
            "ca_pem",
        ];
        let field = FIELDS
            .iter()
            .find(|f| **f == field)
            .copied()
            .unwrap_or("destination");
        Invalid { field, message }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

/// Checks a destination's name: 1-64 letters, digits, '-', '_' or '.', not starting with '.'
/// (it names a file of secrets and appears in logs).
pub fn check_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "name",
            format!("invalid destination name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

/// A private CA bundle as typed or read from a file: `None` when empty; else one or more PEM
/// `CERTIFICATE` blocks and nothing else (whether each is a good certificate is the TLS
/// library's to say when the destination is tried).
fn check_ca_pem(pem: &str) -> Result<Option<String>, Invalid> {
    use rustls_pki_types::pem::{PemObject, SectionKind};
    let pem = pem.trim();
    if pem.is_empty() {
        return Ok(None);
    }
    if pem.len() > MAX_CA_PEM_LEN {
        return Err(invalid(
            "ca_pem",
            format!(
                "the CA certificates are {} KiB; at most {} KiB is taken",
                pem.len().div_ceil(1024),
                MAX_CA_PEM_LEN >> 10
            ),
        ));
    }
    let not_pem = || {
        invalid(
            "ca_pem",
            "the CA certificates are not PEM: give one or more -----BEGIN CERTIFICATE----- blocks",
        )
    };
    let mut certs = 0;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()) {
        match section.map_err(|_| not_pem())? {
            (SectionKind::Certificate, _) => certs += 1,
            _ => {
                return Err(invalid(
                    "ca_pem",
                    "the CA file holds something other than certificates (a private key?); give only the CA's certificates",
                ))
            }
        }
    }
    if certs == 0 {
        return Err(not_pem());
    }
    Ok(Some(format!("{pem}\n")))
}

impl DestinationSpec {
    /// The destination's configuration and (for S3) credentials, every field checked and
    /// trimmed; or the first field at fault.
    pub fn validate(self) -> Result<(RemoteConfig, Option<Credentials>), Invalid> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(invalid("name", "give the destination a name"));
        }
        check_name(&name)?;
        match self.kind.trim() {
            "s3" => {
                let endpoint = self.endpoint.trim().trim_end_matches('/').to_owned();
                let uri: http::Uri = endpoint
                    .parse()
                    .map_err(|_| invalid("endpoint", "the endpoint is not a URL"))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(invalid(
                        "endpoint",
                        "the endpoint must be an http:// or https:// URL, e.g. https://s3.eu-west-1.amazonaws.com",
                    ));
                }
                let bucket = self.bucket.trim().to_owned();
                if bucket.len() < 3
                    || bucket.len() > 63
                    || !bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    })
                {
                    return Err(invalid(
                        "bucket",
                        "a bucket name has 3-63 lowercase letters, digits, '-' or '.'",
                    ));
                }
                let prefix = self.prefix.trim().trim_matches('/').to_owned();
                if prefix.len() > MAX_PREFIX_LEN {
                    return Err(invalid(
                        "prefix",
                        format!("the prefix is longer than {MAX_PREFIX_LEN} bytes"),
                    ));
                }
                if prefix.chars().any(char::is_control)
                    || (!prefix.is_empty() && prefix.split('/').any(str::is_empty))
                {
                    return Err(invalid(
                        "prefix",
                        "the prefix is folder names separated by '/', without control characters",
                    ));
                }
                if self.access_key_id.trim().is_empty() {
                    return Err(invalid("access_key_id", "give the access key id"));
                }
                if self.secret_access_key.trim().is_empty() {
                    return Err(invalid("secret_access_key", "give the secret access key"));
                }
                let region = match self.region.trim() {
                    "" => "us-east-1".to_owned(),
                    r => r.to_owned(),
                };
                let ca_pem = check_ca_pem(&self.ca_pem)?;
                if ca_pem.is_some() && uri.scheme_str() != Some("https") {
                    return Err(invalid(
                        "ca_pem",
                        "a CA certificate is for an https:// endpoint; this one is http://",
                    ));
                }
                let kind = RemoteKind::S3 {
                    endpoint,
                    region,
                    bucket,
                    prefix,
                    path_style: self.path_style,
                    ca_pem,
                };
                let creds = Credentials {
                    access_key_id: self.access_key_id.trim().to_owned(),
                    secret_access_key: self.secret_access_key.trim().to_owned(),
                };
                Ok((RemoteConfig { name, kind }, Some(creds)))
            }
            "dir" => {
                let path = PathBuf::from(self.path.trim());
                if !path.is_absolute() {
                    return Err(invalid(
                        "path",
                        "give the directory's absolute path, e.g. /media/backup",
                    ));
                }
                Ok((
                    RemoteConfig {
                        name,
                        kind: RemoteKind::Dir { path },
                    },
                    None,
                ))
            }
            _ => Err(invalid("kind", "the kind is s3 or dir")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3() -> DestinationSpec {
        DestinationSpec {
            name: "eu".into(),
            kind: "s3".into(),
            endpoint: "https://s3.example.com/".into(),
            bucket: "my-bucket".into(),
            prefix: "/box/".into(),
            access_key_id: "AKIA".into(),
            secret_access_key: "s3cret".into(),
            ..Default::default()
        }
    }

    fn field(spec: DestinationSpec) -> &'static str {
        spec.validate().unwrap_err().field
    }

    #[test]
    fn a_good_s3_destination_is_trimmed_and_defaulted() {
        let (config, creds) = s3().validate().unwrap();
        assert_eq!(
            config.kind,
            RemoteKind::S3 {
                endpoint: "https://s3.example.com".into(),
                region: "us-east-1".into(),
                bucket: "my-bucket".into(),
                prefix: "box".into(),
                path_style: false,
                ca_pem: None,
            }
        );
        assert_eq!(creds.unwrap().secret_access_key, "s3cret");
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field(DestinationSpec {
                name: " ".into(),
                ..s3()
            }),
            "name"
        );
        assert_eq!(
            field(DestinationSpec {
                name: "a/b".into(),
                ..s3()
            }),
            "name"
        );
        assert_eq!(
            field(DestinationSpec {
                name: ".hidden".into(),
                ..s3()
            }),
            "name"
        );
        assert_eq!(
            field(DestinationSpec {
                name: "x".repeat(65),
                ..s3()
            }),
            "name"
        );
        assert_eq!(
            field(DestinationSpec {
                kind: "ftp".into(),
                ..s3()
            }),
            "kind"
        );
        assert_eq!(
            field(DestinationSpec {
                endpoint: "s3.example.com".into(),
                ..s3()
            }),
            "endpoint"
        );
        assert_eq!(
            field(DestinationSpec {
                endpoint: "ftp://x".into(),
                ..s3()
            }),
            "endpoint"
        );
        assert_eq!(
            field(DestinationSpec {
                bucket: "My_Bucket".into(),
                ..s3()
            }),
            "bucket"
        );
        assert_eq!(
            field(DestinationSpec {
                bucket: "ab".into(),
                ..s3()
            }),
            "bucket"
        );
        assert_eq!(
            field(DestinationSpec {
                prefix: "p".repeat(128),
                ..s3()
            }),
            "prefix"
        );
        assert_eq!(
            field(DestinationSpec {
                prefix: "a//b".into(),
                ..s3()
            }),
            "prefix"
        );
        assert_eq!(
            field(DestinationSpec {
                prefix: "a\nb".into(),
                ..s3()
            }),
            "prefix"
        );
        assert_eq!(
            field(DestinationSpec {
                access_key_id: "".into(),
                ..s3()
            }),
            "access_key_id"
        );
        assert_eq!(
            field(DestinationSpec {
                secret_access_key: " ".into(),
                ..s3()
            }),
            "secret_access_key"
        );
        let dir = DestinationSpec {
            name: "usb".into(),
            kind: "dir".into(),
            path: "backup".into(),
            ..Default::default()
        };
        assert_eq!(field(dir), "path");
    }

    /// A PEM block; only its shape is checked here (the TLS library judges the certificate).
    const CERT: &str =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";

    #[test]
    fn a_private_ca_is_pem_certificates_for_an_https_endpoint() {
        let with = |pem: &str| DestinationSpec {
            ca_pem: pem.into(),
            ..s3()
        };
        let ca_of = |spec: DestinationSpec| match spec.validate().unwrap().0.kind {
            RemoteKind::S3 { ca_pem, .. } => ca_pem,
            RemoteKind::Dir { .. } => unreachable!(),
        };
        assert_eq!(ca_of(with("  \n")), None, "blank: none");
        assert_eq!(ca_of(with(CERT)), Some(format!("{CERT}\n")));
        let two = format!("{CERT}\n{CERT}\n");
        assert_eq!(ca_of(with(&two)), Some(two.clone()), "a chain");
        let refused = |pem: &str| with(pem).validate().unwrap_err();
        for bad in [
            "not a certificate",
            "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
        ] {
            let e = refused(bad);
            assert_eq!(e.field, "ca_pem", "{bad:?}");
            assert!(e.message.contains("not PEM"), "{bad:?}: {}", e.message);
        }
        let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----";
        let e = refused(&format!("{CERT}\n{key}"));
        assert!(e.message.contains("private key"), "{}", e.message);
        let huge = format!("{CERT}\n").repeat(MAX_CA_PEM_LEN / CERT.len() + 1);
        let e = refused(&huge);
        assert_eq!(e.field, "ca_pem");
        assert!(e.message.contains("at most 64 KiB"), "{}", e.message);
        let plain = DestinationSpec {
            endpoint: "http://10.0.0.2:3900".into(),
            ..with(CERT)
        };
        assert!(plain.validate().unwrap_err().message.contains("https://"));
        assert_eq!(Invalid::of("ca_pem", String::new()).field, "ca_pem");
    }

    #[test]
    fn a_directory_needs_no_secret() {
        let dir = DestinationSpec {
            name: "usb".into(),
            kind: "dir".into(),
            path: "/mnt/usb".into(),
            ..Default::default()
        };
        let (config, creds) = dir.validate().unwrap();
        assert_eq!(
            config.kind,
            RemoteKind::Dir {
                path: "/mnt/usb".into()
            }
        );
        assert!(creds.is_none());
    }

    #[test]
    fn no_debug_output_shows_a_secret() {
        let spec = s3();
        assert!(!format!("{spec:?}").contains("s3cret"));
        let (_, creds) = spec.validate().unwrap();
        assert!(!format!("{:?}", creds.unwrap()).contains("s3cret"));
    }

    #[test]
    fn the_form_reads_from_json_with_defaults() {
        let spec: DestinationSpec =
            serde_json::from_str(r#"{"name":"usb","kind":"dir","path":"/mnt"}"#).unwrap();
        assert!(spec.validate().is_ok());
    }
}
