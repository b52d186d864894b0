//! SIP over TLS (RFC 3261 §26.2, RFC 5922, RFC 5630) with rustls: the
//! server side for the TLS listener, the client side for connections we
//! open ourselves (a BYE when the caller's connection is gone), optional
//! mutual TLS, and the certificate reloaded on SIGHUP. A reload replaces
//! the context for new connections only: those already open keep theirs,
//! so no call in progress is dropped.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The [tls] settings: where the files are and what a peer must show.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Our certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA bundle (PEM) for peers' certificates: clients' under mutual TLS,
    /// servers' when we connect. Without it, servers are checked against
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Mutual TLS: a client must show a certificate that `ca_file` verifies.
    pub verify_client: bool,
    /// With mutual TLS, the names (DNS or IP, from subjectAltName) one of
    /// which the client's certificate must carry; empty: any.
    pub client_names: Vec<String>,
}

/// One loaded set of certificates: what a connection is made with.
pub struct TlsContext {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
    client_names: Vec<ServerName<'static>>,
}

impl TlsContext {
    /// Reads and checks the files; every error names the file and the key.
    pub fn load(s: &TlsSettings) -> Result<TlsContext, String> {
        // ring, not aws-lc-rs: no C toolchain with cmake needed to build,
        // and TLS 1.3/1.2 with X25519 and P-256 is what SIP peers speak.
        // (Deprecated only for its lack of post-quantum key exchange.)
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certs(&s.cert_file, "tls.cert_file")?;
        let key = PrivateKeyDer::from_pem_file(&s.key_file)
            .map_err(|e| format!("tls.key_file {}: {e}", s.key_file.display()))?;
        let roots = match &s.ca_file {
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for c in certs(path, "tls.ca_file")? {
                    roots
                        .add(c)
                        .map_err(|e| format!("tls.ca_file {}: {e}", path.display()))?;
                }
                roots
            }
            None => system_roots(),
        };
        let roots = Arc::new(roots);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if s.verify_client {
            if s.ca_file.is_none() {
                return Err("tls.verify_client needs tls.ca_file (the CA bundle clients are checked against)".into());
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                    .build()
                    .map_err(|e| format!("tls.ca_file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let server = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("tls.cert_file/tls.key_file: {e}"))?;
        // We show our certificate when we connect too: a peer that
        // requires mutual TLS (a Teams-style trunk) checks it.
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("tls.cert_file/tls.key_file: {e}"))?;
        let mut client_names = Vec::new();
        for n in &s.client_names {
            let name = ServerName::try_from(n.clone())
                .map_err(|_| format!("tls.client_names: '{n}' is not a DNS name or address"))?;
            client_names.push(name);
        }
        if !client_names.is_empty() && !s.verify_client {
            return Err("tls.client_names needs tls.verify_client = true".into());
        }
        Ok(TlsContext {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            client_names,
        })
    }

    /// Under mutual TLS with `client_names`: whether the client's verified
    /// certificate carries one of them.
    pub fn client_name_ok(&self, peer_certs: Option<&[CertificateDer<'_>]>) -> bool {
        if self.client_names.is_empty() {
            return true;
        }
        let Some(leaf) = peer_certs.and_then(|c| c.first()) else {
            return false;
        };
        let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
            return false;
        };
        self.client_names
            .iter()
            .any(|n| cert.verify_is_valid_for_subject_name(n).is_ok())
    }
}

fn certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key} {}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// The system's trusted roots (what a server we connect to is checked
/// against when no tls.ca_file is given).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("system CA certificates: {e}");
    }
    roots.add_parsable_certificates(found.certs);
    roots
}

/// The context new connections are made with, replaced on reload.
#[derive(Clone)]
pub struct TlsState(Arc<RwLock<Arc<TlsContext>>>);

impl TlsState {
    pub fn new(ctx: TlsContext) -> TlsState {
        TlsState(Arc::new(RwLock::new(Arc::new(ctx))))
    }

    pub fn current(&self) -> Arc<TlsContext> {
        match self.0.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// From now on, new connections use `ctx`.
    pub fn replace(&self, ctx: TlsContext) {
        if let Ok(mut c) = self.0.write() {
            *c = Arc::new(ctx);
        }
    }
}
