//! The HTTPS client of the AWS SDK clients (S3, Secrets Manager), and the CAs it trusts.
//!
//! The SDK's default HTTPS client reads the system's trust store when a client is built, in
//! the function's init: on a Debian-like system the bundle file and every file of
//! `/etc/ssl/certs`, about 150 certificates read and parsed, which was 3.5 ms of a 6 ms cold
//! start in the bench. Every AWS endpoint the functions call presents a certificate that
//! chains to an Amazon Trust Services root, so the clients trust those five roots, compiled
//! in, and read no file. An endpoint overridden to an HTTPS server (an S3-compatible service
//! that is not AWS) may chain to any CA: that client keeps the SDK's default, the system store.

use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2, PEM.
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("aws/amazon-trust-services.pem");

/// A new HTTPS client trusting only the Amazon roots. One per SDK client, never shared by the
/// process: its connection pool's connections belong to the tokio runtime that opened them,
/// and the tests run each on a runtime of their own.
fn amazon_roots_client() -> SharedHttpClient {
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes());
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a trust store without extra server names is a valid TLS context");
    aws_smithy_http_client::Builder::new()
        // The SDK's own default provider, so nothing else changes.
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https()
}

/// The HTTPS client for an SDK client whose endpoint `endpoint_variable` (or
/// `AWS_ENDPOINT_URL`, which the SDK also reads) may override; `None` to keep the SDK's
/// default client, for an endpoint overridden to HTTPS.
pub fn http_client(endpoint_variable: &str) -> Option<SharedHttpClient> {
    let overridden_to_https = [endpoint_variable, "AWS_ENDPOINT_URL"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .any(|url| is_https(&url));
    (!overridden_to_https).then(amazon_roots_client)
}

fn is_https(url: &str) -> bool {
    url.trim()
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

#[cfg(test)]
mod tests {
    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn the_amazon_roots_are_the_five_from_mozillas_store() {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut store = RootCertStore::empty();
        let (added, refused) = store.add_parsable_certificates(certs);
        assert_eq!((added, refused), (5, 0));
        for anchor in &store.roots {
            assert!(
                webpki_roots::TLS_SERVER_ROOTS.iter().any(|mozilla| {
                    mozilla.subject == anchor.subject
                        && mozilla.subject_public_key_info == anchor.subject_public_key_info
                }),
                "a root that is not in Mozilla's store: {:?}",
                anchor.subject
            );
        }
    }

    #[test]
    fn only_an_https_endpoint_counts_as_an_override_to_trust_the_system_for() {
        assert!(is_https("https://minio.example.com"));
        assert!(is_https(" HTTPS://s3.example.com"));
        assert!(!is_https("http://127.0.0.1:9000"));
        assert!(!is_https("http"));
        assert!(!is_https(""));
    }
}
