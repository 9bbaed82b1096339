//! TLS through rustls, with libpq's `sslmode` meanings for the modes that encrypt.
//!
//! - `require`: encrypted; the server's certificate is **not** verified (libpq's meaning):
//!   anyone on the path who can answer as the server can read the session. Handshake
//!   signatures are still checked, so the session key belongs to whoever holds the
//!   certificate the server presented.
//! - `verify-ca`: the certificate must chain to a trusted root.
//! - `verify-full`: that, and it must name the host the URL connects to (DNS or IP SAN).
//!
//! The roots come from `sslrootcert` (a PEM file), the operating system's store with
//! `sslrootcert=system`, else `PGSSLROOTCERT`, else libpq's default
//! `~/.postgresql/root.crt`. tokio-postgres parses neither the verify modes nor
//! `sslrootcert`, so [`crate::DatabaseUrl::parse`] takes them out of the URL first.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is checked when the URL asks for TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Verification {
    /// `sslmode=require`: encrypt, trust any certificate (does not authenticate the server).
    #[default]
    EncryptOnly,
    /// `sslmode=verify-ca`: the certificate chains to one of these roots.
    Ca(RootCertificates),
    /// `sslmode=verify-full`: it chains to one of these roots and names the host.
    Full(RootCertificates),
}

impl Verification {
    /// The `sslmode` this stands for.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::EncryptOnly => "require",
            Self::Ca(_) => "verify-ca",
            Self::Full(_) => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootCertificates {
    /// A PEM file of one or more certificates (`sslrootcert=/path/root.crt`).
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

impl RootCertificates {
    /// libpq's default: `PGSSLROOTCERT`, else `~/.postgresql/root.crt`.
    pub fn libpq_default() -> Self {
        if let Some(path) = std::env::var_os("PGSSLROOTCERT").filter(|p| !p.is_empty()) {
            return Self::from_setting(&path.to_string_lossy());
        }
        let home = std::env::var_os("HOME").unwrap_or_default();
        Self::File(Path::new(&home).join(".postgresql").join("root.crt"))
    }

    /// The value of `sslrootcert`.
    pub fn from_setting(value: &str) -> Self {
        if value == "system" {
            Self::System
        } else {
            Self::File(PathBuf::from(value))
        }
    }

    /// Loads the roots; the error names the file (or the system store) and the problem.
    fn load(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match self {
            Self::File(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("root certificate file {}: {e}", path.display()))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| format!("root certificate file {}: {e}", path.display()))?;
                    store
                        .add(cert)
                        .map_err(|e| format!("root certificate file {}: {e}", path.display()))?;
                }
                if store.is_empty() {
                    return Err(format!(
                        "root certificate file {} holds no certificate",
                        path.display()
                    ));
                }
            }
            Self::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(format!(
                        "sslrootcert=system: the system trust store holds no usable certificate{}",
                        found
                            .errors
                            .first()
                            .map(|e| format!(" ({e})"))
                            .unwrap_or_default()
                    ));
                }
            }
        }
        Ok(store)
    }
}

/// The connector for `verification`; the error names what could not be loaded.
pub fn connector(verification: &Verification) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        Verification::EncryptOnly => Arc::new(EncryptOnly {
            algorithms: provider.signature_verification_algorithms,
        }),
        Verification::Ca(roots) | Verification::Full(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots.load()?),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("certificate verifier: {e}"))?;
            if matches!(verification, Verification::Ca(_)) {
                Arc::new(AnyName(webpki))
            } else {
                webpki
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// A connector that encrypts without verifying the server certificate (libpq's `require`).
pub fn require_connector() -> MakeRustlsConnect {
    connector(&Verification::EncryptOnly).expect("encrypt-only loads nothing")
}

/// `verify-ca`: webpki's whole check (chain, validity, usage) but the host name.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name last, after the chain: a name error means the chain held.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

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
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Takes `sslmode=verify-ca|verify-full` and `sslrootcert` out of a URL or `key=value`
/// string (tokio-postgres refuses both): returns the string it can parse (the verify
/// modes become `require`, which makes it insist on TLS) and the verification asked for.
pub(crate) fn split_verification(url: &str) -> Result<(String, Verification), String> {
    let mut mode: Option<String> = None;
    let mut root: Option<String> = None;
    let mut take = |key: &str, value: &str| -> bool {
        match key {
            "sslmode" if value.starts_with("verify-") => {
                mode = Some(value.to_owned());
                true
            }
            "sslrootcert" => {
                root = Some(value.to_owned());
                true
            }
            _ => false,
        }
    };
    // The URL form keeps its pairs percent-encoded and joined by `&`; the key=value form
    // by whitespace, with simple quotes around a value.
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (base, pairs): (&str, Vec<&str>) = if is_url {
        match url.split_once('?') {
            Some((base, query)) => (base, query.split('&').filter(|p| !p.is_empty()).collect()),
            None => (url, Vec::new()),
        }
    } else {
        ("", url.split_whitespace().collect())
    };
    let mut kept = Vec::new();
    let mut verify = false;
    for pair in pairs {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = if is_url {
            percent_decode(value)?
        } else {
            value.trim_matches('\'').to_owned()
        };
        if take(key, &value) {
            verify |= key == "sslmode";
        } else {
            kept.push(pair);
        }
    }
    if verify {
        kept.push("sslmode=require");
    }
    let rest = match (is_url, kept.is_empty()) {
        (true, true) => base.to_owned(),
        (true, false) => format!("{base}?{}", kept.join("&")),
        (false, _) => kept.join(" "),
    };
    let roots = || {
        root.as_deref().map_or_else(
            RootCertificates::libpq_default,
            RootCertificates::from_setting,
        )
    };
    let verification = match mode.as_deref() {
        None => Verification::EncryptOnly,
        Some("verify-ca") => Verification::Ca(roots()),
        Some("verify-full") => Verification::Full(roots()),
        Some(other) => {
            return Err(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    Ok((rest, verification))
}

fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{value:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_roots_are_taken_out_of_urls_and_key_value_strings() {
        let (rest, v) = split_verification(
            "postgres://u:p@db.neon.tech/app?sslmode=verify-full&sslrootcert=%2Fetc%2Froot.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(
            rest,
            "postgres://u:p@db.neon.tech/app?application_name=x&sslmode=require"
        );
        assert_eq!(
            v,
            Verification::Full(RootCertificates::File("/etc/root.pem".into()))
        );
        let (rest, v) =
            split_verification("host=db sslmode=verify-ca sslrootcert=system user=u").unwrap();
        assert_eq!(rest, "host=db user=u sslmode=require");
        assert_eq!(v, Verification::Ca(RootCertificates::System));
        let (rest, v) = split_verification("postgres://db/app?sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), v),
            (
                "postgres://db/app?sslmode=require",
                Verification::EncryptOnly
            )
        );
        assert!(split_verification("postgres://db/app?sslmode=verify-some").is_err());
        assert!(split_verification("postgres://db/app?sslrootcert=%zz").is_err());
    }
}
