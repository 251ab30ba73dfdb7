//! TLS for `tls://` listeners, the server's side: the certificate chain and key it
//! presents, the CA that client certificates must chain to (mutual TLS), read from PEM
//! files; and the builder's methods that set them.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

use crate::builder::ServerBuilder;
use crate::config::ListenSpec;
use crate::error::ServerError;

/// What a `tls://` listener presents and asks for: a certificate chain and its
/// private key (PEM files), and, optionally, a CA whose certificates clients must
/// present (mutual TLS). TLS runs first on each connection; the key handshake then runs
/// inside it, unchanged.
///
/// ```
/// use manager_client::{Client, ClientOptions, ClientTls};
/// use manager_server::{Server, ServerTls};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let (cert_pem, key_pem) = (dir.path().join("server.pem"), dir.path().join("server.key"));
/// # let key = rcgen::KeyPair::generate()?;
/// # let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])?.self_signed(&key)?;
/// # std::fs::write(&cert_pem, cert.pem())?;
/// # std::fs::write(&key_pem, key.serialize_pem())?;
/// // A certificate (PEM, made with openssl or any tool) and its key.
/// let tls = ServerTls::from_files(&cert_pem, &key_pem)?;
/// // For mutual TLS: `.require_client_cert("clients-ca.pem")?`.
/// let server = Server::builder().authkey(b"secret").tls(tls).listen_tls("127.0.0.1:0").start().await?;
/// assert!(server.address().to_string().starts_with("tls://"));
///
/// // The client trusts that certificate (here pinned; a CA's with `ClientTls::ca_file`).
/// let options = ClientOptions { tls: Some(ClientTls::pinned_file(&cert_pem)?), ..ClientOptions::default() };
/// let client = Client::connect_with(server.address(), b"secret", &options).await?;
/// let hits = client.value(0u64).await?;
/// assert_eq!(hits.fetch_add(1).await?, 0);
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// The built configuration every TLS connection shares.
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ServerTls").field("chain", &self.chain.len()).finish_non_exhaustive()
    }
}

/// The crypto every TLS connection uses: ring's, X25519 and AES-128-GCM first (see the
/// client's `tls.rs` for why).
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.kx_groups.sort_by_key(|g| g.name() != rustls::NamedGroup::X25519);
    provider.cipher_suites.sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

fn config_error(what: &str, path: &Path, reason: impl std::fmt::Display) -> ServerError {
    ServerError::Config(format!("{what} {}: {reason}", path.display()))
}

/// The certificates in a PEM file (at least one); `what` names the setting in errors.
pub(crate) fn read_certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let pem = std::fs::read(path).map_err(|e| config_error(what, path, e))?;
    let certs =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| config_error(what, path, e))?;
    if certs.is_empty() {
        return Err(config_error(what, path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"));
    }
    Ok(certs)
}

/// The private key in a PEM file; `what` names the setting in errors.
pub(crate) fn read_private_key(what: &str, path: &Path) -> Result<PrivateKeyDer<'static>, ServerError> {
    let pem = std::fs::read(path).map_err(|e| config_error(what, path, e))?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| config_error(what, path, format_args!("no PEM private key in it ({e})")))
}

impl ServerTls {
    /// Presents the certificate chain in `cert_chain` (PEM, the server's certificate
    /// first) with the private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn from_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<ServerTls, ServerError> {
        let (cert_path, key_path) = (cert_chain.as_ref(), key.as_ref());
        let chain = read_certificates("TLS certificate", cert_path)?;
        let key = Arc::new(read_private_key("TLS key", key_path)?);
        let config =
            Self::build(&chain, &key, None).map_err(|e| config_error("TLS certificate and key", cert_path, e))?;
        Ok(ServerTls { chain, key, config })
    }

    /// Requires every client to present a certificate signed by a CA in the PEM file
    /// `ca` (mutual TLS); a client without one is refused during the TLS handshake.
    pub fn require_client_cert(self, ca: impl AsRef<Path>) -> Result<ServerTls, ServerError> {
        let path = ca.as_ref();
        let mut roots = RootCertStore::empty();
        for cert in read_certificates("TLS client CA", path)? {
            roots.add(cert).map_err(|e| config_error("TLS client CA", path, e))?;
        }
        let config =
            Self::build(&self.chain, &self.key, Some(roots)).map_err(|e| config_error("TLS client CA", path, e))?;
        Ok(ServerTls { config, ..self })
    }

    fn build(
        chain: &[CertificateDer<'static>],
        key: &PrivateKeyDer<'static>,
        client_ca: Option<RootCertStore>,
    ) -> Result<Arc<ServerConfig>, String> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| e.to_string())?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain.to_vec(), key.clone_key()).map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }

    /// The configuration connections are made with.
    pub(crate) fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

impl ServerBuilder {
    /// The certificate (and, for mutual TLS, the client CA) that `tls://` listeners
    /// use. Required by [`listen_tls`](Self::listen_tls); other listeners ignore it.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.config.tls = Some(tls.config().clone());
        self
    }

    /// Listens on a TCP address (`host:port`) serving TLS: `tls://host:port` for
    /// clients. Needs [`tls`](Self::tls).
    pub fn listen_tls(mut self, addr: impl Into<String>) -> Self {
        self.listen.push(ListenSpec::Tls(addr.into()));
        self
    }
}
