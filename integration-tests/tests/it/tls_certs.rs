//! Certificates for the TLS tests, made at test time (rcgen): a CA, server
//! certificates signed by it (valid, expired, for another name), client certificates,
//! written as PEM files in a directory of their own.

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair, date_time_ymd};
use std::path::{Path, PathBuf};

use crate::server_bin::ServerChild;

/// A CA that signs certificates.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    /// Its certificate, as a PEM file.
    pub pem: PathBuf,
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Where the files go.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn new() -> Certs {
        Certs { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new CA, written as `NAME.pem`.
    pub fn ca(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("{name} test CA"));
        let cert = params.self_signed(&key).unwrap();
        let pem = self.path(&format!("{name}.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Ca { cert, key, pem }
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by `ca`, valid now
    /// unless `expired`; written as `NAME.pem` and `NAME.key`.
    pub fn issue(&self, ca: &Ca, name: &str, names: &[&str], expired: bool) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        if expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2001, 1, 1);
        }
        let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        let issued = Issued { cert: self.path(&format!("{name}.pem")), key: self.path(&format!("{name}.key")) };
        std::fs::write(&issued.cert, cert.pem()).unwrap();
        std::fs::write(&issued.key, key.serialize_pem()).unwrap();
        issued
    }
}

/// A path as a command-line argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A `manager-server` serving TLS on loopback with `cert`, plus `extra` flags, with a
/// `value:greeting:str:hello`.
pub fn tls_server(cert: &Issued, extra: &[&str]) -> ServerChild {
    let mut args = vec![
        "--listen",
        "tls://127.0.0.1:0",
        "--tls-cert",
        arg(&cert.cert),
        "--tls-key",
        arg(&cert.key),
        "--named",
        "value:greeting:str:hello",
    ];
    args.extend_from_slice(extra);
    let mut server = ServerChild::start_with(&args);
    // The TLS listener is the one these tests use (the child's Unix socket is plain).
    server.address = server.tcp[0].clone();
    assert!(server.address.starts_with("tls://127.0.0.1:"), "{}", server.address);
    server
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
pub fn pki(certs: &Certs) -> (Ca, Issued) {
    let ca = certs.ca("ca");
    let server = certs.issue(&ca, "server", &["127.0.0.1"], false);
    (ca, server)
}
