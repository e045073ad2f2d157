//! TLS on the listener (rustls): certificate chain and key from PEM files, ALPN offering `h2`
//! and `http/1.1` (the connection is then served as HTTP/2 or HTTP/1.1). SIGHUP reloads both
//! files: new connections get the new pair, open ones keep theirs; a pair that does not load
//! is logged and the previous one stays in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// Why a certificate or key did not load.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("certificate and key: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
}

/// The listener's TLS settings, reloadable.
pub struct Tls {
    config: ArcSwap<ServerConfig>,
    cert: PathBuf,
    key: PathBuf,
}

fn pem_error(
    path: &Path,
) -> impl FnOnce(tokio_rustls::rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |e| TlsError::Pem {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(pem_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            message: "no certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(pem_error(key))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl Tls {
    pub fn load(settings: &TlsConfig) -> Result<Arc<Self>, TlsError> {
        let config = server_config(&settings.cert, &settings.key)?;
        Ok(Arc::new(Tls {
            config: ArcSwap::from_pointee(config),
            cert: settings.cert.clone(),
            key: settings.key.clone(),
        }))
    }

    /// Reads the files again; on failure the previous pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.cert, &self.key)?;
        self.config.store(Arc::new(config));
        Ok(())
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }

    /// Reloads on every SIGHUP for as long as the process runs.
    pub fn reload_on_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let tls = self.clone();
            let mut hangups = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::hangup(),
            ) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "tls: no SIGHUP handler; certificates reload only on restart");
                    return;
                }
            };
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    match tls.reload() {
                        Ok(()) => {
                            tracing::info!(cert = %tls.cert.display(), "tls: certificate and key reloaded")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "tls: reload failed; the previous certificate stays in use")
                        }
                    }
                }
            });
        }
    }
}
