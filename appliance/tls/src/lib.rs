//! The box's own certificate authority, and the server certificate it issues for the box's names
//! and addresses, served by rustls.
//!
//! A LAN box has no public name a public CA would certify, and a self-signed server certificate
//! changes with every re-issue, so clients would have to be told again each time. Instead the box
//! makes one CA at first start (ECDSA P-256, `DATA/tls/ca.key`, readable by the gateway alone) that
//! a tablet trusts once (`ca.crt`, its SHA-256 fingerprint shown on the console and the page), and
//! issues from it a short-lived server certificate for whatever names and addresses the box has
//! now (`<host>.local`, `<host>`, every address); a new name or address gets a new certificate
//! without a restart and without asking anyone to trust anything again.

pub mod trust;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Directory of the CA and the server certificate, in the data directory.
pub const TLS_DIR: &str = "tls";
const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const SERVER_RECORD: &str = "server.json";

/// How long the CA is valid: as long as a box is likely to live (a tablet trusts it once).
const CA_YEARS: i64 = 20;
/// How long a server certificate is valid (Apple's clients refuse more than 825 days for
/// certificates of CAs users install; a year keeps well inside).
const SERVER_DAYS: i64 = 365;
/// A server certificate this close to its end is issued again.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Errors of the certificate authority.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file of the CA or the certificate could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A certificate or key could not be made or read.
    #[error("{what}: {message}")]
    Certificate { what: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Certificate {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The SHA-256 fingerprint of a DER certificate, as browsers and `openssl x509 -fingerprint
/// -sha256` show it (upper-case hex pairs joined by ':').
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The box's certificate authority.
pub struct Authority {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// The CA of data directory `data_dir`, made at the first call (`box_name` goes into its
    /// name, so that a person who looks sees which box it is).
    pub fn load_or_create(data_dir: &Path, box_name: &str) -> Result<Authority, TlsError> {
        let dir = data_dir.join(TLS_DIR);
        microcloud_store::create_dir_all(&dir).map_err(io(&dir))?;
        let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
        if !cert_path.exists() || !key_path.exists() {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err("CA key"))?;
            let mut params = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, format!("microcloud {box_name} CA"));
            dn.push(DnType::OrganizationName, "microcloud");
            params.distinguished_name = dn;
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let now = unix_now();
            params.not_before = at(now - 3600);
            params.not_after = at(now + CA_YEARS * 365 * 24 * 3600);
            let cert = params
                .self_signed(&key)
                .map_err(cert_err("CA certificate"))?;
            // The key first: a crash between the two leaves no certificate without its key.
            microcloud_store::write_file_durably(&key_path, key.serialize_pem().as_bytes(), 0o600)
                .map_err(io(&key_path))?;
            microcloud_store::write_file_durably(&cert_path, cert.pem().as_bytes(), 0o644)
                .map_err(io(&cert_path))?;
            log::info!(
                "made the box's certificate authority ({}), SHA-256 {}",
                cert_path.display(),
                fingerprint(cert.der())
            );
        }
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(cert_err("CA key"))?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            TlsError::Certificate {
                what: cert_path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, key).map_err(cert_err("CA certificate"))?;
        Ok(Authority {
            dir,
            cert_pem,
            cert_der,
            issuer,
        })
    }

    /// The CA certificate, PEM (what a tablet installs).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Where the CA certificate is.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The CA's SHA-256 fingerprint (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// Issues a server certificate for `names` and `addresses`; returns it with its key (PEM).
    fn issue(&self, names: &Names) -> Result<(String, String, ServerRecord), TlsError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err("server key"))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names
                .dns
                .first()
                .cloned()
                .unwrap_or_else(|| "microcloud".into()),
        );
        params.distinguished_name = dn;
        for n in &names.dns {
            let ia5 = n.clone().try_into().map_err(cert_err("server name"))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for a in &names.addresses {
            params.subject_alt_names.push(SanType::IpAddress(*a));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = unix_now();
        // An hour back: a tablet whose clock is a little behind still accepts it.
        params.not_before = at(now - 3600);
        let not_after = now + SERVER_DAYS * 24 * 3600;
        params.not_after = at(not_after);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(cert_err("server certificate"))?;
        Ok((
            cert.pem(),
            key.serialize_pem(),
            ServerRecord {
                names: names.dns.clone(),
                addresses: names.addresses.clone(),
                not_after_unix: not_after,
                fingerprint: fingerprint(cert.der()),
            },
        ))
    }
}

/// The instant `secs` seconds after the epoch.
fn at(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// The names and addresses a server certificate covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// DNS names (`<host>.local`, `<host>`, `localhost` ...), the first is the subject's.
    pub dns: Vec<String>,
    /// IP addresses.
    pub addresses: Vec<IpAddr>,
}

impl Names {
    /// The names of a box called `host` with `addresses`: `<host>.local`, `<host>` and, for
    /// development on loopback, `localhost`. Duplicates and order do not matter.
    pub fn of(host: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Names {
        let mut dns = vec![
            format!("{host}.local"),
            host.to_owned(),
            "localhost".to_owned(),
        ];
        dns.dedup();
        let mut addresses: Vec<IpAddr> = addresses.into_iter().collect();
        addresses.sort();
        addresses.dedup();
        Names { dns, addresses }
    }
}

/// What the current server certificate covers and until when (kept beside it, so that the CLI
/// reads it without parsing certificates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    /// Its DNS names.
    pub names: Vec<String>,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
    /// Its end, seconds since the epoch.
    pub not_after_unix: i64,
    /// Its own SHA-256 fingerprint.
    pub fingerprint: String,
}

/// The server certificate: issued by the [`Authority`] for the box's current [`Names`], issued
/// again when they change or its end nears, and handed to rustls for every handshake.
pub struct ServerCert {
    authority: Authority,
    current: RwLock<(Arc<CertifiedKey>, ServerRecord)>,
}

impl std::fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerCert")
            .field("record", &self.record())
            .finish_non_exhaustive()
    }
}

fn certified(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let bad = |message: String| TlsError::Certificate {
        what: "server certificate".into(),
        message,
    };
    let cert =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| bad(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert], signing)))
}

impl ServerCert {
    /// The server certificate of the authority's data directory for `names`: the one on disk if
    /// it covers exactly them and is not near its end, else a new one (written durably).
    pub fn load_or_issue(authority: Authority, names: &Names) -> Result<ServerCert, TlsError> {
        let dir = authority.dir.clone();
        let on_disk = (|| {
            let record: ServerRecord =
                serde_json::from_slice(&std::fs::read(dir.join(SERVER_RECORD)).ok()?).ok()?;
            let cert = std::fs::read_to_string(dir.join(SERVER_CERT)).ok()?;
            let key = std::fs::read_to_string(dir.join(SERVER_KEY)).ok()?;
            Some((record, certified(&cert, &key).ok()?))
        })();
        let current = match on_disk {
            Some((record, key)) if !stale(&record, names) => (key, record),
            _ => issue_and_write(&authority, names)?,
        };
        Ok(ServerCert {
            authority,
            current: RwLock::new(current),
        })
    }

    /// Issues a new certificate if `names` differ from what the current one covers (or its end
    /// nears); returns whether it did. Handshakes from then on get the new one.
    pub fn update(&self, names: &Names) -> Result<bool, TlsError> {
        if !stale(&self.record(), names) {
            return Ok(false);
        }
        let fresh = issue_and_write(&self.authority, names)?;
        log::info!(
            "issued a new server certificate for {:?} and {:?}",
            fresh.1.names,
            fresh.1.addresses
        );
        *self.current.write().unwrap() = fresh;
        Ok(true)
    }

    /// What the current certificate covers.
    pub fn record(&self) -> ServerRecord {
        self.current.read().unwrap().1.clone()
    }

    /// The authority that issued it.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// A rustls server configuration answering with this certificate: TLS 1.2 and 1.3 only,
    /// HTTP/1.1, session tickets (a tablet's next connection skips the full handshake).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let bad = |e: rustls::Error| TlsError::Certificate {
            what: "TLS configuration".into(),
            message: e.to_string(),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(bad)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(bad)?;
        Ok(config)
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap().0.clone())
    }
}

/// Whether a certificate recorded as `record` no longer serves for `names`.
fn stale(record: &ServerRecord, names: &Names) -> bool {
    let mut a = record.names.clone();
    let mut b = names.dns.clone();
    a.sort();
    b.sort();
    let mut x = record.addresses.clone();
    let mut y = names.addresses.clone();
    x.sort();
    y.sort();
    a != b || x != y || record.not_after_unix - unix_now() < RENEW_BEFORE.as_secs() as i64
}

fn issue_and_write(
    authority: &Authority,
    names: &Names,
) -> Result<(Arc<CertifiedKey>, ServerRecord), TlsError> {
    let (cert, key, record) = authority.issue(names)?;
    let dir = &authority.dir;
    let write = |name: &str, data: &[u8], mode: u32| {
        let path = dir.join(name);
        microcloud_store::write_file_durably(&path, data, mode).map_err(io(&path))
    };
    // The key before the certificate, the record last: a crash in between leaves a record that
    // does not match, and the next start issues again.
    write(SERVER_KEY, key.as_bytes(), 0o600)?;
    write(SERVER_CERT, cert.as_bytes(), 0o644)?;
    write(
        SERVER_RECORD,
        &serde_json::to_vec_pretty(&record).expect("record serializes"),
        0o644,
    )?;
    Ok((certified(&cert, &key)?, record))
}

/// What `microcloud tls` shows: the CA and what the server certificate covers, read from the
/// data directory (no key is read).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The CA certificate's path.
    pub ca_path: PathBuf,
    /// Its SHA-256 fingerprint.
    pub ca_fingerprint: String,
    /// The server certificate, if one was issued.
    pub server: Option<ServerRecord>,
}

/// Reads the [`Report`] of data directory `data_dir` (None when no CA was made yet).
pub fn report(data_dir: &Path) -> Result<Option<Report>, TlsError> {
    let dir = data_dir.join(TLS_DIR);
    let ca_path = dir.join(CA_CERT);
    let pem = match std::fs::read_to_string(&ca_path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&ca_path)(e)),
    };
    let der =
        CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Certificate {
            what: ca_path.display().to_string(),
            message: e.to_string(),
        })?;
    let server = std::fs::read(dir.join(SERVER_RECORD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Some(Report {
        ca_fingerprint: fingerprint(&der),
        ca_path,
        server,
    }))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    fn verify(ca: &Authority, cert: &ServerCert, name: &str) -> Result<(), rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let leaf = cert.current.read().unwrap().0.cert[0].clone();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    #[test]
    fn the_ca_is_made_once_and_its_key_is_private() {
        let d = tempfile::tempdir().unwrap();
        let a = Authority::load_or_create(d.path(), "box1").unwrap();
        let b = Authority::load_or_create(d.path(), "box1").unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 32 * 3 - 1);
        let mode = std::fs::metadata(d.path().join("tls/ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "ca.key is {mode:o}");
        let report = report(d.path()).unwrap().unwrap();
        assert_eq!(report.ca_fingerprint, a.fingerprint());
        assert!(report.server.is_none());
        let other = tempfile::tempdir().unwrap();
        let c = Authority::load_or_create(other.path(), "box1").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint(), "keys are made per box");
    }

    #[test]
    fn the_server_certificate_holds_for_the_box_names_and_addresses_only() {
        let d = tempfile::tempdir().unwrap();
        let names = Names::of("box1", ["192.168.1.20".parse().unwrap()]);
        let ca = Authority::load_or_create(d.path(), "box1").unwrap();
        let fp = ca.fingerprint();
        let cert = ServerCert::load_or_issue(ca, &names).unwrap();
        let ca = cert.authority();
        assert_eq!(ca.fingerprint(), fp);
        for ok in ["box1.local", "box1", "localhost", "192.168.1.20"] {
            verify(ca, &cert, ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["box2.local", "example.com", "10.0.0.1"] {
            assert!(verify(ca, &cert, bad).is_err(), "{bad} accepted");
        }
        // Another box's CA does not vouch for it.
        let other = tempfile::tempdir().unwrap();
        let stranger = Authority::load_or_create(other.path(), "box1").unwrap();
        assert!(verify(&stranger, &cert, "box1.local").is_err());
    }

    #[test]
    fn a_new_address_gets_a_new_certificate_from_the_same_ca() {
        let d = tempfile::tempdir().unwrap();
        let first = Names::of("box1", ["192.168.1.20".parse().unwrap()]);
        let ca = Authority::load_or_create(d.path(), "box1").unwrap();
        let cert = Arc::new(ServerCert::load_or_issue(ca, &first).unwrap());
        let before = cert.record();
        assert!(!cert.update(&first).unwrap(), "nothing changed");
        let second = Names::of(
            "box1",
            ["192.168.1.20".parse().unwrap(), "fd00::20".parse().unwrap()],
        );
        assert!(cert.update(&second).unwrap());
        let after = cert.record();
        assert_ne!(before.fingerprint, after.fingerprint);
        verify(cert.authority(), &cert, "fd00::20").unwrap();
        // A restart keeps the certificate that serves (no new one for nothing).
        let ca = Authority::load_or_create(d.path(), "box1").unwrap();
        let again = ServerCert::load_or_issue(ca, &second).unwrap();
        assert_eq!(again.record().fingerprint, after.fingerprint);
        assert_eq!(report(d.path()).unwrap().unwrap().server, Some(after));
        cert.server_config().unwrap();
    }
}
