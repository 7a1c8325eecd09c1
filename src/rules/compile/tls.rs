//! Certificates and connections: the trackers' TLS, how vendors are reached, and the files
//! the rules name (which the reload watcher also watches).

use super::super::file::RulesFile;
use super::super::UpstreamSettings;
use super::{seconds, Errors};

pub(super) fn upstream_settings(file: &RulesFile, errors: &mut Errors) -> UpstreamSettings {
    let u = &file.upstream;
    UpstreamSettings {
        extra_roots: match &u.ca_file {
            Some(path) => pem_certificates(path, "upstream.ca_file", errors),
            None => Vec::new(),
        },
        verify: u.tls_verify,
        pool_max_idle_per_host: u.pool_max_idle_per_host,
        pool_idle_timeout: seconds(
            u.pool_idle_timeout_seconds,
            "upstream.pool_idle_timeout_seconds",
            errors,
        ),
    }
}

/// Every file the rules read besides themselves.
pub(super) fn watched_files(file: &RulesFile) -> Vec<std::path::PathBuf> {
    let named = [
        &file.listen.tls_cert,
        &file.listen.tls_key,
        &file.upstream.ca_file,
        &file.identifiers.key_file,
        &file.geo.database,
        &file.consent.opt_out_file,
        &file.admin.token_file,
    ];
    named
        .into_iter()
        .flatten()
        .chain(file.routes.iter().filter_map(|r| r.token_file.as_ref()))
        .map(std::path::PathBuf::from)
        .collect()
}

fn pem_certificates(
    path: &str,
    at: &str,
    errors: &mut Errors,
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> =
        rustls::pki_types::CertificateDer::pem_file_iter(path).and_then(|iter| iter.collect());
    match certs {
        Ok(certs) if !certs.is_empty() => certs,
        _ => {
            errors.push(at, "cannot read PEM certificates from this file");
            Vec::new()
        }
    }
}

/// The trackers' port's TLS: a certificate chain and key, HTTP/2 and HTTP/1.1 by ALPN.
pub(super) fn server_tls(
    file: &RulesFile,
    errors: &mut Errors,
) -> Option<std::sync::Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    let (cert, key) = match (&file.listen.tls_cert, &file.listen.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            errors.push("listen.tls_cert", "tls_cert and tls_key go together");
            return None;
        }
    };
    let chain = pem_certificates(cert, "listen.tls_cert", errors);
    let Ok(key) = rustls::pki_types::PrivateKeyDer::from_pem_file(key) else {
        errors.push(
            "listen.tls_key",
            "cannot read a PEM private key from this file",
        );
        return None;
    };
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| errors.push("listen", "no TLS protocol version available"))
    .ok()?
    .with_no_client_auth()
    .with_single_cert(chain, key);
    match config {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Some(std::sync::Arc::new(config))
        }
        Err(_) => {
            errors.push("listen.tls_key", "the key does not match the certificate");
            None
        }
    }
}
