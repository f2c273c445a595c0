//! From `storage.database_url` to a connection pool: the URL's spellings,
//! TLS by `sslmode` over rustls, and errors that name the server but never
//! the password.
//!
//! libpq's `sslmode` values mean here what they mean there: `disable` (plain
//! TCP), `prefer` (the default: TLS if the server offers it, else plain),
//! `require` (TLS, certificate not checked), `verify-ca` and `verify-full`
//! (TLS, the certificate checked against `sslrootcert` or, without it, the
//! Mozilla roots; rustls always checks the host name too, so `verify-ca`
//! is as strict as `verify-full`).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::{Durability, StoreError, StoreResult};

/// How the connection is protected (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

/// A parsed `storage.database_url`.
#[derive(Clone)]
pub(crate) struct ConnectTarget {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    pub root_cert: Option<String>,
}

impl ConnectTarget {
    /// Parses the URL (`postgres://`, `postgresql://`, or the hosted
    /// `postgresql+asyncpg://`), taking `sslmode` and `sslrootcert` out of
    /// its query for rustls.
    pub(crate) fn parse(url: &str) -> StoreResult<Self> {
        let url = match url.strip_prefix("postgresql+asyncpg://") {
            Some(rest) => format!("postgresql://{rest}"),
            None => url.to_owned(),
        };
        let (base, query) = url.split_once('?').unwrap_or((&url, ""));
        let mut tls = TlsMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    tls = match value {
                        "disable" => TlsMode::Disable,
                        "allow" | "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" | "verify-full" => TlsMode::VerifyFull,
                        other => {
                            return Err(StoreError::Unsupported(format!(
                                "storage.database_url: unknown sslmode {other:?} \
                                 (disable, prefer, require, verify-ca, verify-full)"
                            )))
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(value.to_owned()),
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
            StoreError::Unsupported(format!("storage.database_url is not a PostgreSQL URL: {e}"))
        })?;
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
        });
        Ok(ConnectTarget {
            config,
            tls,
            root_cert,
        })
    }

    /// `host:port/dbname`, for messages: never the user's password.
    pub(crate) fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            Some(Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres");
        format!("{host}:{port}/{db}")
    }
}

/// What the pool is built from (a slice of `[storage]`).
pub(crate) struct PoolSettings {
    pub size: usize,
    pub connect_timeout: Duration,
    pub durability: Durability,
}

/// Builds the pool (connections are made on first use).
///
/// Every session gets `synchronous_commit` from the durability: `full` →
/// `on` (a commit returns once its WAL is flushed), `normal` → `off` (a
/// commit returns before the flush; a crash of the *database server* can
/// lose the last few hundred milliseconds of acknowledged writes, never
/// corrupt them).
pub(crate) fn pool(target: &ConnectTarget, settings: &PoolSettings) -> StoreResult<Pool> {
    let mut config = target.config.clone();
    let synchronous_commit = match settings.durability {
        Durability::Full => "on",
        Durability::Normal => "off",
    };
    config
        .options(format!("-c synchronous_commit={synchronous_commit}"))
        .connect_timeout(settings.connect_timeout)
        .application_name("identity-os");
    let manager_config = ManagerConfig {
        // A pooled connection is checked only by the next query: a broken
        // one fails that query (answered 503) and is dropped.
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match target.tls {
        TlsMode::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
        mode => Manager::from_config(config, tls_connector(mode, target)?, manager_config),
    };
    Pool::builder(manager)
        .max_size(settings.size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.connect_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .build()
        .map_err(|e| StoreError::Unsupported(format!("cannot build the connection pool: {e}")))
}

pub(crate) fn tls_connector(
    mode: TlsMode,
    target: &ConnectTarget,
) -> StoreResult<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Unsupported(format!("TLS setup: {e}")))?;
    let config = if mode == TlsMode::VerifyFull {
        builder
            .with_root_certificates(root_store(target.root_cert.as_deref())?)
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The certificates of `sslrootcert`, or the Mozilla roots without one.
fn root_store(path: Option<&str>) -> StoreResult<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let Some(path) = path else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| StoreError::Unsupported(format!("sslrootcert {path}: {e}")))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(StoreError::Unsupported(format!(
            "sslrootcert {path}: no usable certificate"
        )));
    }
    Ok(roots)
}

/// `sslmode=require`: encrypted, the server's certificate not checked (as
/// libpq does without a root certificate); its handshake signatures are.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosted_spelling_and_sslmode_are_understood() {
        let t = ConnectTarget::parse(
            "postgresql+asyncpg://app:s3cret@db.example.com:6543/prod?sslmode=require&application_name=x",
        )
        .unwrap();
        assert_eq!(t.tls, TlsMode::Require);
        assert_eq!(t.describe(), "db.example.com:6543/prod");
        assert!(!t.describe().contains("s3cret"));
        let t = ConnectTarget::parse("postgres://u@localhost/db").unwrap();
        assert_eq!(t.tls, TlsMode::Prefer);
        let t =
            ConnectTarget::parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem")
                .unwrap();
        assert_eq!(
            (t.tls, t.root_cert.as_deref()),
            (TlsMode::VerifyFull, Some("/etc/ca.pem"))
        );
    }

    #[test]
    fn bad_urls_and_modes_are_refused_without_the_password() {
        let err = ConnectTarget::parse("postgres://u:pw@h/db?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(err.to_string().contains("sslmode"), "{err}");
        let err = ConnectTarget::parse("mysql://u:hunter2@h/db")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_missing_root_certificate_file_is_named() {
        let err = root_store(Some("/nonexistent/ca.pem")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
