//! TLS for `tls://` addresses, the client's side: what it trusts (a CA, or one pinned
//! server certificate), its own certificate for mutual TLS, the environment variables
//! that carry them to child processes, and what a failed TLS handshake tells the user.

use manager_proto::{Address, Error};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::env::{TLS_CA_VAR as CA_VAR, TLS_CERT_VAR as CERT_VAR, TLS_KEY_VAR as KEY_VAR, TLS_PIN_VAR as PIN_VAR};
use crate::tls_session::{is_not_tls, tls_error_in};

/// What a client needs for `tls://` addresses: whom it trusts — the CAs in a PEM file
/// ([`ClientTls::ca_file`]) or one pinned server certificate
/// ([`ClientTls::pinned_file`]) — and, for servers that require it (mutual TLS), its
/// own certificate and key ([`ClientTls::with_client_cert`]). Set it as
/// [`ClientOptions::tls`](crate::ClientOptions::tls); `Client::from_env` reads it from
/// `MANAGER_TLS_CA` (or `MANAGER_TLS_PIN`), `MANAGER_TLS_CERT` and `MANAGER_TLS_KEY`,
/// and a client hands the same files to its children.
///
/// TLS encrypts the connection and proves the server's identity; the server's key
/// (`authkey`) is still checked inside it.
///
/// ```no_run
/// # async fn f() -> Result<(), manager_client::Error> {
/// use manager_client::{Client, ClientOptions, ClientTls};
/// let options = ClientOptions { tls: Some(ClientTls::ca_file("ca.pem")?), ..ClientOptions::default() };
/// let client = Client::connect_with("tls://db.example:5000", b"secret", &options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientTls {
    trust: Trust,
    /// The client's certificate chain and key, for mutual TLS.
    identity: Option<Identity>,
    /// Built from the above, shared by every connection made with these options.
    config: Arc<ClientConfig>,
}

#[derive(Clone)]
enum Trust {
    Ca { path: Option<PathBuf>, roots: Arc<RootCertStore> },
    Pinned { path: Option<PathBuf>, cert: CertificateDer<'static> },
}

#[derive(Clone)]
struct Identity {
    /// The files they came from, to hand to children.
    paths: Option<(PathBuf, PathBuf)>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: only where things came from.
        let mut d = f.debug_struct("ClientTls");
        match &self.trust {
            Trust::Ca { path, roots } => d.field("ca", path).field("roots", &roots.len()),
            Trust::Pinned { path, .. } => d.field("pinned", path),
        };
        d.field("client_cert", &self.identity.as_ref().map(|i| i.paths.as_ref().map(|p| &p.0))).finish()
    }
}

/// The crypto every TLS connection uses: ring's. Newer rustls deprecates it for its
/// want of post-quantum key exchange, which only the aws-lc-rs provider has; that one
/// needs cmake and a C toolchain to build, ring only a C compiler.
///
/// X25519 is put first among the key exchanges: ring's list starts with P-384, whose
/// generic arithmetic made a connect cost 1.9 ms where X25519 costs a few hundred µs
/// (measured: `manager-bench`'s tls-connect row). AES-128-GCM is put first among the
/// suites (ring's list starts with AES-256-GCM): fewer rounds per byte.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups.sort_by_key(|g| g.name() != rustls::NamedGroup::X25519);
    provider.cipher_suites.sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// Reads a file for a TLS setting, naming the setting in the error.
fn read_pem(what: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Config(format!("{what}: cannot read {}: {e}", path.display())))
}

/// The certificates in a PEM file (at least one).
pub(crate) fn certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read_pem(what, path)?;
    let bad = |reason: String| Error::Config(format!("{what}: {}: {reason}", path.display()));
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub(crate) fn private_key(what: &str, path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let pem = read_pem(what, path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| Error::Config(format!("{what}: {}: no PEM private key in it ({e})", path.display())))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

impl ClientTls {
    /// Trusts the CA certificates in the PEM file at `path`: the server's certificate
    /// must chain to one of them and be valid for the address's host name.
    pub fn ca_file(path: impl AsRef<Path>) -> Result<ClientTls, Error> {
        let path = path.as_ref();
        let mut roots = RootCertStore::empty();
        for cert in certificates("TLS CA file", path)? {
            roots.add(cert).map_err(|e| Error::Config(format!("TLS CA file: {}: {e}", path.display())))?;
        }
        Self::build(Trust::Ca { path: Some(absolute(path)), roots: Arc::new(roots) }, None)
    }

    /// Trusts exactly the server certificate in the PEM file at `path` (its first
    /// certificate), whatever signed it and whatever names it holds: for a server with
    /// a self-signed certificate. The server must still prove it holds that
    /// certificate's key.
    pub fn pinned_file(path: impl AsRef<Path>) -> Result<ClientTls, Error> {
        let path = path.as_ref();
        let cert = certificates("TLS pinned certificate", path)?.swap_remove(0);
        Self::build(Trust::Pinned { path: Some(absolute(path)), cert }, None)
    }

    /// Presents the certificate chain and private key in these PEM files to servers
    /// that require a client certificate (mutual TLS).
    pub fn with_client_cert(self, cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<ClientTls, Error> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let identity = Identity {
            chain: certificates("TLS client certificate", cert_path)?,
            key: Arc::new(private_key("TLS client key", key_path)?),
            paths: Some((absolute(cert_path), absolute(key_path))),
        };
        Self::build(self.trust, Some(identity))
    }

    /// The settings the environment names: `MANAGER_TLS_CA` (or `MANAGER_TLS_PIN`), with
    /// `MANAGER_TLS_CERT` and `MANAGER_TLS_KEY` for mutual TLS (see [`crate::env`]). `None` when neither trust variable
    /// is set.
    pub fn from_env() -> Result<Option<ClientTls>, Error> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let tls = match (var(CA_VAR), var(PIN_VAR)) {
            (Some(ca), _) => ClientTls::ca_file(ca)?,
            (None, Some(pin)) => ClientTls::pinned_file(pin)?,
            (None, None) => {
                if var(CERT_VAR).is_some() || var(KEY_VAR).is_some() {
                    return Err(Error::Config(format!(
                        "{CERT_VAR}/{KEY_VAR} are set but not {CA_VAR}: a TLS client must also say whom it trusts"
                    )));
                }
                return Ok(None);
            }
        };
        match (var(CERT_VAR), var(KEY_VAR)) {
            (Some(cert), Some(key)) => tls.with_client_cert(cert, key).map(Some),
            (None, None) => Ok(Some(tls)),
            _ => Err(Error::Config(format!("{CERT_VAR} and {KEY_VAR} go together: set both, or neither"))),
        }
    }

    fn build(trust: Trust, identity: Option<Identity>) -> Result<ClientTls, Error> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?;
        let builder = match &trust {
            Trust::Ca { roots, .. } => builder.with_root_certificates(Arc::clone(roots)),
            Trust::Pinned { cert, .. } => builder.dangerous().with_custom_certificate_verifier(Arc::new(Pinned {
                cert: cert.clone(),
                algorithms: provider.signature_verification_algorithms,
            })),
        };
        let config = match &identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
                .map_err(|e| Error::Config(format!("TLS client certificate and key: {e}")))?,
        };
        Ok(ClientTls { trust, identity, config: Arc::new(config) })
    }

    /// Sets the variables that make a child's `Client::from_env` use the same files
    /// (when these settings came from files).
    pub(crate) fn configure(&self, command: &mut impl crate::env::ChildCommand) {
        let path = |p: &PathBuf| p.display().to_string();
        match &self.trust {
            Trust::Ca { path: Some(p), .. } => command.set_env(CA_VAR, &path(p)),
            Trust::Pinned { path: Some(p), .. } => command.set_env(PIN_VAR, &path(p)),
            _ => {}
        }
        if let Some(Identity { paths: Some((cert, key)), .. }) = &self.identity {
            command.set_env(CERT_VAR, &path(cert));
            command.set_env(KEY_VAR, &path(key));
        }
    }

    /// A new session with the server at `address` (a `tls://` address).
    pub(crate) fn session(&self, address: &Address) -> Result<rustls::ClientConnection, Error> {
        let name = address.tls_server_name().unwrap_or_default();
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|e| Error::Config(format!("{address}: `{name}` cannot name a TLS server: {e}")))?;
        rustls::ClientConnection::new(Arc::clone(&self.config), server_name)
            .map_err(|e| Error::Tls { address: address.to_string(), reason: e.to_string() })
    }

    fn has_identity(&self) -> bool {
        self.identity.is_some()
    }
}

/// What a TLS failure on the way to `address` means to the user, if `e` is one.
pub(crate) fn explain(address: &Address, tls: Option<&ClientTls>, e: &io::Error) -> Option<Error> {
    let reason = if is_not_tls(e) {
        let plain = address.to_string().replacen("tls://", "tcp://", 1);
        format!("the server does not speak TLS: use {plain}")
    } else {
        describe(tls, tls_error_in(e)?)
    };
    Some(Error::Tls { address: address.to_string(), reason })
}

fn describe(tls: Option<&ClientTls>, e: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(cert) => {
            // By the variant's name: newer rustls versions add variants with context
            // (`NotValidForNameContext`) for the same failures; Debug, as the oldest
            // version allowed has no Display for these.
            let kind = format!("{cert:?}");
            if kind.starts_with("UnknownIssuer") {
                format!(
                    "the server's certificate is not signed by a CA this client trusts ({CA_VAR}, ClientTls::ca_file)"
                )
            } else if kind.starts_with("NotValidForName") {
                format!("the server's certificate is not valid for this host name ({cert:?})")
            } else if kind.starts_with("Expired") {
                format!("the server's certificate has expired ({cert:?})")
            } else if kind.starts_with("NotValidYet") {
                format!("the server's certificate is not valid yet ({cert:?})")
            } else if kind.contains("CaUsedAsEndEntity") {
                format!(
                    "the server's certificate is a CA certificate (basicConstraints CA:TRUE, as openssl's self-signed \
                     certificates are by default), which cannot be a server's own: make it with CA:FALSE, or trust it \
                     as it is with {PIN_VAR} (ClientTls::pinned_file)"
                )
            } else if kind.starts_with("ApplicationVerificationFailure") {
                "the server's certificate is not the pinned one".to_owned()
            } else {
                format!("the server's certificate was refused: {cert:?}")
            }
        }
        rustls::Error::AlertReceived(A::CertificateRequired) | rustls::Error::AlertReceived(A::HandshakeFailure)
            if !tls.is_some_and(ClientTls::has_identity) =>
        {
            format!(
                "the server requires a client certificate (mutual TLS): give one with ClientTls::with_client_cert, \
                 or {CERT_VAR} and {KEY_VAR}"
            )
        }
        rustls::Error::AlertReceived(A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::DecryptError)
            if tls.is_some_and(ClientTls::has_identity) =>
        {
            format!("the server refused this client's certificate ({e})")
        }
        other => other.to_string(),
    }
}

/// A verifier that trusts one certificate, byte for byte.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
