//! Reading and checking an update bundle (see the crate's doc for its layout).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `bundle.json`: what the bundle holds; signed.
pub const MANIFEST: &str = "bundle.json";
/// `bundle.json.sig`: Ed25519 signature of [`MANIFEST`]'s bytes.
pub const SIGNATURE: &str = "bundle.json.sig";
/// The `format` of [`Manifest`].
pub const BUNDLE_FORMAT: &str = "microcloud-update";
/// The architecture this build runs on, as bundles name it.
pub const ARCH: &str = std::env::consts::ARCH;
/// The payloads a bundle of format version 1 carries, in their order.
const PAYLOADS: [&str; 3] = ["root.squashfs", "vmlinuz", "initrd.img"];
/// Largest `bundle.json` read (it lists three payloads: a few hundred bytes).
const MANIFEST_MAX: u64 = 64 * 1024;

/// What a bundle holds: `bundle.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Version of this layout (1).
    pub format_version: u32,
    /// The system version the bundle installs (see `compare_versions`).
    pub system_version: String,
    /// The machine architecture it is built for (`x86_64`).
    pub arch: String,
    /// The commit it was built from.
    pub commit: String,
    /// When it was built (the commit's time, RFC 3339).
    pub built: String,
    /// The payloads, in the order they follow in the bundle.
    pub payloads: Vec<Payload>,
}

/// One payload as `bundle.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Member name (`root.squashfs`, `vmlinuz`, `initrd.img`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// A bundle checked whole: its manifest, and where in the file each payload's bytes lie (so that
/// they are written from there, with no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What it holds.
    pub manifest: Manifest,
    /// Each payload with the offset of its first byte in the bundle file.
    pub payloads: Vec<(Payload, u64)>,
}

/// An Ed25519 public key: the one a box trusts for its updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const SPKI_ED25519: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

impl PublicKey {
    /// Reads a key in the PEM form `openssl pkey -pubout` writes.
    pub fn from_pem(pem: &str) -> Result<PublicKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        if body.is_empty() {
            return Err("no \"BEGIN PUBLIC KEY\" block".into());
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("its base64 does not decode: {e}"))?;
        match der.strip_prefix(&SPKI_ED25519[..]) {
            Some(key) if key.len() == 32 => Ok(PublicKey(key.try_into().expect("32 bytes"))),
            _ => Err("not an Ed25519 key".into()),
        }
    }

    /// Reads a key from a PEM file.
    pub fn from_file(path: &Path) -> Result<PublicKey, UpdateError> {
        let text = std::fs::read_to_string(path).map_err(|source| UpdateError::Io {
            path: path.to_owned(),
            source,
        })?;
        PublicKey::from_pem(&text).map_err(|detail| UpdateError::BadKey {
            path: path.to_owned(),
            detail,
        })
    }
}

/// Why a bundle was refused. Each names the bundle's file; nothing was written when one is
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a bundle of a layout this build knows.
    #[error("{} is not a microcloud update bundle: {detail}", path.display())]
    NotABundle {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The signature is not that of the trusted key over `bundle.json`.
    #[error("{}: the signature does not match the key this box trusts (the bundle was signed with another key, or its bundle.json was changed after signing)", path.display())]
    BadSignature {
        /// The file.
        path: PathBuf,
    },
    /// Built for another machine.
    #[error("{} is built for {found}; this box is {expected}", path.display())]
    WrongArch {
        /// The file.
        path: PathBuf,
        /// The bundle's architecture.
        found: String,
        /// This box's.
        expected: String,
    },
    /// A payload's bytes are not those signed.
    #[error("{}: {name} is damaged or was changed: its SHA-256 is {found}, bundle.json says {expected}", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The payload.
        name: String,
        /// What `bundle.json` says.
        expected: String,
        /// What its bytes hash to.
        found: String,
    },
    /// The file ends before a payload does.
    #[error("{}: the bundle is cut short: {name} has {found} of its {expected} bytes", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The payload.
        name: String,
        /// Its size in `bundle.json`.
        expected: u64,
        /// The bytes found.
        found: u64,
    },
    /// The trusted key could not be read.
    #[error("{}: not an Ed25519 public key in PEM form: {detail}", path.display())]
    BadKey {
        /// The key's file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Counts and hashes what is written through it.
struct Hashing {
    hasher: Sha256,
    len: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks the bundle at `path` whole, against the trusted `key` and this machine's architecture:
/// the signature of `bundle.json` first, then each payload's size and SHA-256, reading the file
/// once. Writes nothing.
pub fn verify(path: &Path, key: &PublicKey) -> Result<Verified, UpdateError> {
    let io = |source: std::io::Error| UpdateError::Io {
        path: path.to_owned(),
        source,
    };
    let not = |detail: String| UpdateError::NotABundle {
        path: path.to_owned(),
        detail,
    };
    let file = File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(file);
    let mut entries = archive
        .entries()
        .map_err(|e| not(format!("not a tar file ({e})")))?;
    let mut next = |what: &str| -> Result<tar::Entry<'_, File>, UpdateError> {
        match entries.next() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(not(format!("{what} could not be read ({e})"))),
            None => Err(not(format!("{what} is missing"))),
        }
    };
    // The manifest and its signature, each read whole (both are small: bounded here).
    let mut small = |what: &str, max: u64| -> Result<Vec<u8>, UpdateError> {
        let mut e = next(what)?;
        let name = e.path().map(|p| p.to_string_lossy().into_owned());
        if name.as_deref().ok() != Some(what) {
            return Err(not(format!(
                "its first members must be {MANIFEST} and {SIGNATURE}; found {:?} where {what} belongs",
                name.unwrap_or_default()
            )));
        }
        if e.header().size().unwrap_or(u64::MAX) > max {
            return Err(not(format!("{what} is larger than {max} bytes")));
        }
        let mut buf = Vec::new();
        e.read_to_end(&mut buf)
            .map_err(|e| not(format!("{what} could not be read ({e})")))?;
        Ok(buf)
    };
    let manifest_bytes = small(MANIFEST, MANIFEST_MAX)?;
    let signature = small(SIGNATURE, 64)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key.0)
        .verify(&manifest_bytes, &signature)
        .map_err(|_| UpdateError::BadSignature {
            path: path.to_owned(),
        })?;
    // Signed by the key this box trusts: from here on the manifest is taken as its maker wrote it.
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| not(format!("{MANIFEST} does not read ({e})")))?;
    if manifest.format != BUNDLE_FORMAT || manifest.format_version != 1 {
        return Err(not(format!(
            "{MANIFEST} is of format {:?} version {}; this build reads {BUNDLE_FORMAT:?} version 1",
            manifest.format, manifest.format_version
        )));
    }
    if manifest.arch != ARCH {
        return Err(UpdateError::WrongArch {
            path: path.to_owned(),
            found: manifest.arch.clone(),
            expected: ARCH.to_owned(),
        });
    }
    let names: Vec<&str> = manifest.payloads.iter().map(|p| p.name.as_str()).collect();
    if names != PAYLOADS {
        return Err(not(format!(
            "it carries {names:?}; a bundle carries {PAYLOADS:?}"
        )));
    }
    let mut payloads = Vec::new();
    for p in &manifest.payloads {
        let mut e = match entries.next() {
            Some(Ok(e)) => e,
            Some(Err(err)) => {
                return Err(not(format!("the header of {} is damaged ({err})", p.name)))
            }
            None => {
                return Err(UpdateError::Truncated {
                    path: path.to_owned(),
                    name: p.name.clone(),
                    expected: p.size,
                    found: 0,
                })
            }
        };
        let name = e
            .path()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name != p.name {
            return Err(not(format!("found {name:?} where {} belongs", p.name)));
        }
        let offset = e.raw_file_position();
        let mut sink = Hashing {
            hasher: Sha256::new(),
            len: 0,
        };
        // A read error here is the file ending early (tar reads whole blocks).
        let copied = std::io::copy(&mut (&mut e).take(p.size), &mut sink);
        if copied.is_err() || sink.len != p.size || e.header().size().ok() != Some(p.size) {
            return Err(UpdateError::Truncated {
                path: path.to_owned(),
                name: p.name.clone(),
                expected: p.size,
                found: sink.len,
            });
        }
        let found = hex(&sink.hasher.finalize());
        if found != p.sha256.to_ascii_lowercase() {
            return Err(UpdateError::Checksum {
                path: path.to_owned(),
                name: p.name.clone(),
                expected: p.sha256.clone(),
                found,
            });
        }
        payloads.push((p.clone(), offset));
    }
    if let Some(extra) = entries.next() {
        let name = extra
            .ok()
            .and_then(|e| e.path().ok().map(|p| p.to_string_lossy().into_owned()))
            .unwrap_or_default();
        return Err(not(format!("it has a member no bundle has: {name:?}")));
    }
    Ok(Verified { manifest, payloads })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key_pair() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn public(k: &Ed25519KeyPair) -> PublicKey {
        PublicKey(k.public_key().as_ref().try_into().unwrap())
    }

    fn payload_bytes() -> Vec<(&'static str, Vec<u8>)> {
        PAYLOADS
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    *n,
                    (0..5_000 + i * 777).map(|j| (j * 13 + i) as u8).collect(),
                )
            })
            .collect()
    }

    fn manifest_for(payloads: &[(&str, Vec<u8>)], arch: &str) -> Manifest {
        Manifest {
            format: BUNDLE_FORMAT.into(),
            format_version: 1,
            system_version: "0.1.0.2".into(),
            arch: arch.into(),
            commit: "c0ffee".into(),
            built: "2026-12-03T00:00:00Z".into(),
            payloads: payloads
                .iter()
                .map(|(n, b)| Payload {
                    name: (*n).into(),
                    size: b.len() as u64,
                    sha256: hex(&Sha256::digest(b)),
                })
                .collect(),
        }
    }

    /// Writes a bundle of `members` (name, bytes) in that order.
    fn write(dir: &Path, members: &[(&str, Vec<u8>)]) -> PathBuf {
        let path = dir.join("b.update");
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        for (name, bytes) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap().sync_all().unwrap();
        path
    }

    /// A signed bundle's members: manifest, signature, payloads.
    fn members(
        k: &Ed25519KeyPair,
        m: &Manifest,
        payloads: &[(&str, Vec<u8>)],
    ) -> Vec<(String, Vec<u8>)> {
        let json = serde_json::to_vec(m).unwrap();
        let sig = k.sign(&json).as_ref().to_vec();
        let mut out = vec![(MANIFEST.to_owned(), json), (SIGNATURE.to_owned(), sig)];
        out.extend(payloads.iter().map(|(n, b)| ((*n).to_owned(), b.clone())));
        out
    }

    fn refs(m: &[(String, Vec<u8>)]) -> Vec<(&str, Vec<u8>)> {
        m.iter().map(|(n, b)| (n.as_str(), b.clone())).collect()
    }

    #[test]
    fn a_signed_bundle_verifies_and_says_where_each_payload_lies() {
        let dir = tempfile::tempdir().unwrap();
        let k = key_pair();
        let p = payload_bytes();
        let m = manifest_for(&p, ARCH);
        let path = write(dir.path(), &refs(&members(&k, &m, &p)));
        let v = verify(&path, &public(&k)).unwrap();
        assert_eq!(v.manifest, m);
        let file = std::fs::read(&path).unwrap();
        for ((payload, offset), (_, bytes)) in v.payloads.iter().zip(&p) {
            let at = *offset as usize;
            assert_eq!(&file[at..at + payload.size as usize], bytes.as_slice());
        }
    }

    #[test]
    fn every_kind_of_bad_bundle_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let k = key_pair();
        let p = payload_bytes();
        let m = manifest_for(&p, ARCH);
        let good = members(&k, &m, &p);

        // Signed by another key.
        let path = write(dir.path(), &refs(&good));
        let e = verify(&path, &public(&key_pair())).unwrap_err();
        assert!(matches!(e, UpdateError::BadSignature { .. }), "{e}");

        // bundle.json changed after signing (a payload's checksum swapped for another's).
        let mut forged = good.clone();
        let mut fm = m.clone();
        fm.payloads[0].sha256 = "00".repeat(32);
        forged[0].1 = serde_json::to_vec(&fm).unwrap();
        let e = verify(&write(dir.path(), &refs(&forged)), &public(&k)).unwrap_err();
        assert!(matches!(e, UpdateError::BadSignature { .. }), "{e}");

        // One byte of a payload changed.
        let mut damaged = good.clone();
        damaged[3].1[100] ^= 1;
        let e = verify(&write(dir.path(), &refs(&damaged)), &public(&k)).unwrap_err();
        assert!(
            matches!(&e, UpdateError::Checksum { name, .. } if name == "vmlinuz"),
            "{e}"
        );

        // Cut short, at several points.
        let full = std::fs::read(write(dir.path(), &refs(&good))).unwrap();
        for cut in [100, 700, 1_500, 3_000, full.len() / 2, full.len() - 2_000] {
            let path = dir.path().join("cut.update");
            std::fs::write(&path, &full[..cut]).unwrap();
            assert!(
                verify(&path, &public(&k)).is_err(),
                "cut at {cut} of {}",
                full.len()
            );
        }

        // For another machine (signed as such).
        let other = manifest_for(&p, "aarch64");
        let e = verify(
            &write(dir.path(), &refs(&members(&k, &other, &p))),
            &public(&k),
        )
        .unwrap_err();
        assert!(matches!(e, UpdateError::WrongArch { .. }), "{e}");

        // A member added at the end; the manifest not first.
        let mut extra = good.clone();
        extra.push(("evil.sh".into(), b"rm -rf /".to_vec()));
        let e = verify(&write(dir.path(), &refs(&extra)), &public(&k)).unwrap_err();
        assert!(matches!(e, UpdateError::NotABundle { .. }), "{e}");
        let mut swapped = good.clone();
        swapped.swap(0, 2);
        let e = verify(&write(dir.path(), &refs(&swapped)), &public(&k)).unwrap_err();
        assert!(matches!(e, UpdateError::NotABundle { .. }), "{e}");

        // Not a tar file at all.
        let path = dir.path().join("junk.update");
        std::fs::write(&path, vec![0x5a; 4096]).unwrap();
        assert!(verify(&path, &public(&k)).is_err());
    }

    #[test]
    fn a_public_key_reads_from_openssl_pem() {
        // `openssl genpkey -algorithm ed25519 | openssl pkey -pubout` (RFC 8410's example key).
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let k = PublicKey::from_pem(pem).unwrap();
        assert_eq!(k.0[0], 0x19);
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
        assert!(PublicKey::from_pem("hello").is_err());
    }
}
