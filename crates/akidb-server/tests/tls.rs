//! TLS on the REST and gRPC ports against the real `akidb` binary: a private CA made
//! with rcgen, mutual TLS, plain HTTP refused, certificate rotation without restart.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use akidb_client::{Client, TlsOptions};
use akidb_proto::v1 as pb;
use common::Server;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A test certificate authority.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, cn: &str, serial: u64, server: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let sans = if server {
            vec!["localhost".to_string(), "127.0.0.1".to_string()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

/// The files a TLS server reads.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

fn write_files(dir: &Path, ca: &Ca, leaf: &Leaf) -> Files {
    let f = Files {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        ca: dir.join("ca.crt"),
    };
    std::fs::write(&f.cert, &leaf.cert).unwrap();
    std::fs::write(&f.key, &leaf.key).unwrap();
    std::fs::write(&f.ca, &ca.pem).unwrap();
    f
}

fn tls_env(f: &Files, client_ca: bool) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AKIDB_TLS_CERT_FILE", f.cert.display().to_string()),
        ("AKIDB_TLS_KEY_FILE", f.key.display().to_string()),
    ];
    if client_ca {
        env.push(("AKIDB_TLS_CLIENT_CA_FILE", f.ca.display().to_string()));
    }
    env
}

async fn start(dir: &Path, env: &[(&'static str, String)], tls: &TlsOptions) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_tls(&dir.join("data"), &env, tls).await
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string()
}

/// A rustls client config trusting `ca_pem`, optionally with a client identity.
fn client_config(ca_pem: &str, identity: Option<&Leaf>, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        let c: CertificateDer<'static> = c.unwrap();
        roots.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => {
            let chain: Vec<CertificateDer<'static>> =
                rustls_pki_types::pem::PemObject::pem_slice_iter(id.cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .unwrap();
            let key: PrivateKeyDer<'static> =
                rustls_pki_types::pem::PemObject::from_pem_slice(id.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// The leaf certificate the server presents now (DER).
async fn served_cert(addr: &str, ca_pem: &str, alpn: &[u8]) -> Vec<u8> {
    let connector = tokio_rustls::TlsConnector::from(client_config(ca_pem, None, alpn));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// A gRPC channel over TLS (tonic's own TLS is not compiled in: a rustls connector).
async fn grpc_tls(
    server: &Server,
    ca_pem: &str,
    identity: Option<&Leaf>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let addr = host_port(&server.grpc);
    let connector = tokio_rustls::TlsConnector::from(client_config(ca_pem, identity, b"h2"));
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_uri: tonic::transport::Uri| {
            let connector = connector.clone();
            let addr = addr.clone();
            async move {
                let tcp = TcpStream::connect(&addr).await?;
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
}

async fn grpc_list(ch: tonic::transport::Channel) -> Result<usize, tonic::Status> {
    let mut c = pb::collections_client::CollectionsClient::new(ch);
    let r = c.list(pb::ListCollectionsRequest {}).await?;
    Ok(r.into_inner().collections.len())
}

#[tokio::test]
async fn rest_and_grpc_over_tls_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("akidb test ca");
    let leaf = ca.leaf("akidb-server", 1, true);
    let files = write_files(dir.path(), &ca, &leaf);
    let tls = TlsOptions::new().ca_pem(ca.pem.clone());
    let server = start(dir.path(), &tls_env(&files, false), &tls).await;
    assert!(
        server.log_text().contains("tls=true"),
        "{}",
        server.log_text()
    );

    // REST over TLS with the private CA.
    let client = Client::with_tls(&server.rest, &tls).unwrap();
    client.health().await.unwrap();
    let cfg = akidb_core::CollectionConfig::new("tls_docs", 2, akidb_core::Metric::Cosine);
    client.create_collection(&cfg).await.unwrap();

    // gRPC over TLS sees the collection.
    let ch = grpc_tls(&server, &ca.pem, None).await.unwrap();
    assert_eq!(grpc_list(ch).await.unwrap(), 1);

    // Without the CA the certificate is not trusted.
    let untrusting = Client::with_tls(&server.rest, &TlsOptions::new()).unwrap();
    assert!(untrusting.health().await.is_err());

    // Plain HTTP to the TLS port: no HTTP answer, the connection is closed.
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(host_port(&server.rest)).await.unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut buf))
            .await
            .expect("the server closes a plain-HTTP connection");
        let text = String::from_utf8_lossy(&buf);
        assert!(
            !text.contains("HTTP/1.1 200"),
            "plain HTTP answered: {text}"
        );
        // Either a TLS alert record (0x15) then EOF, or a reset.
        assert!(read.is_err() || buf.is_empty() || buf[0] == 0x15, "{buf:?}");
    }
    let plain = Client::new(&server.rest.replacen("https://", "http://", 1)).unwrap();
    assert!(plain.health().await.is_err());
    // Plain-text gRPC (h2 prior knowledge) to the TLS port fails too.
    let plain_grpc =
        tonic::transport::Endpoint::from_shared(server.grpc.replacen("https://", "http://", 1))
            .unwrap()
            .connect()
            .await;
    if let Ok(ch) = plain_grpc {
        assert!(grpc_list(ch).await.is_err());
    }

    // ... and the server keeps serving TLS.
    client.health().await.unwrap();
    let ch = grpc_tls(&server, &ca.pem, None).await.unwrap();
    assert_eq!(grpc_list(ch).await.unwrap(), 1);
}

#[tokio::test]
async fn client_certificates_are_verified_when_a_client_ca_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("akidb test ca");
    let wrong_ca = Ca::new("some other ca");
    let leaf = ca.leaf("akidb-server", 1, true);
    let good_client = ca.leaf("good-client", 2, false);
    let bad_client = wrong_ca.leaf("bad-client", 3, false);
    let files = write_files(dir.path(), &ca, &leaf);
    let good = TlsOptions::new()
        .ca_pem(ca.pem.clone())
        .identity_pem(good_client.cert.as_bytes(), good_client.key.as_bytes());
    let server = start(dir.path(), &tls_env(&files, true), &good).await;

    // The right client certificate works on both ports.
    Client::with_tls(&server.rest, &good)
        .unwrap()
        .health()
        .await
        .unwrap();
    let ch = grpc_tls(&server, &ca.pem, Some(&good_client))
        .await
        .unwrap();
    assert_eq!(grpc_list(ch).await.unwrap(), 0);

    // No client certificate: refused.
    let anonymous = TlsOptions::new().ca_pem(ca.pem.clone());
    let e = Client::with_tls(&server.rest, &anonymous)
        .unwrap()
        .health()
        .await;
    assert!(e.is_err(), "a client without a certificate was served");
    if let Ok(ch) = grpc_tls(&server, &ca.pem, None).await {
        assert!(grpc_list(ch).await.is_err());
    }

    // A certificate from another CA: refused.
    let wrong = TlsOptions::new()
        .ca_pem(ca.pem.clone())
        .identity_pem(bad_client.cert.as_bytes(), bad_client.key.as_bytes());
    let e = Client::with_tls(&server.rest, &wrong)
        .unwrap()
        .health()
        .await;
    assert!(
        e.is_err(),
        "a client certificate from the wrong CA was accepted"
    );
    if let Ok(ch) = grpc_tls(&server, &ca.pem, Some(&bad_client)).await {
        assert!(grpc_list(ch).await.is_err());
    }

    // Still serving the right client.
    Client::with_tls(&server.rest, &good)
        .unwrap()
        .health()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("akidb test ca");
    let old = ca.leaf("akidb-server-1", 1, true);
    let files = write_files(dir.path(), &ca, &old);
    let tls = TlsOptions::new().ca_pem(ca.pem.clone());
    let server = start(dir.path(), &tls_env(&files, false), &tls).await;
    let rest = host_port(&server.rest);
    let grpc = host_port(&server.grpc);
    assert_eq!(served_cert(&rest, &ca.pem, b"http/1.1").await, old.der);

    // A broken certificate file keeps the old certificate (and warns).
    std::fs::write(&files.cert, "not a certificate\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log_text().contains("TLS certificate not reloaded") {
        assert!(
            Instant::now() < deadline,
            "no warning about the bad file; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(served_cert(&rest, &ca.pem, b"http/1.1").await, old.der);
    Client::with_tls(&server.rest, &tls)
        .unwrap()
        .health()
        .await
        .unwrap();

    // cert-manager rewrites both files in place: the new certificate is served.
    let new = ca.leaf("akidb-server-2", 2, true);
    assert_ne!(new.der, old.der);
    std::fs::write(&files.key, &new.key).unwrap();
    std::fs::write(&files.cert, &new.cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if served_cert(&rest, &ca.pem, b"http/1.1").await == new.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated certificate was not served within 20 s; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Both ports use it, and requests keep working.
    assert_eq!(served_cert(&grpc, &ca.pem, b"h2").await, new.der);
    Client::with_tls(&server.rest, &tls)
        .unwrap()
        .health()
        .await
        .unwrap();
    let ch = grpc_tls(&server, &ca.pem, None).await.unwrap();
    assert_eq!(grpc_list(ch).await.unwrap(), 0);
    assert!(server.log_text().contains("TLS certificate reloaded"));
}

#[test]
fn only_a_certificate_without_a_key_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::command()
        .env("AKIDB_DATA_DIR", dir.path())
        .env(
            "AKIDB_REST_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env(
            "AKIDB_GRPC_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("AKIDB_TLS_CERT_FILE", dir.path().join("tls.crt"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("AKIDB_TLS_KEY_FILE") && err.contains("tls.key_file"),
        "{err}"
    );

    // A key that does not belong to the certificate: a start-up error naming the files.
    let ca = Ca::new("ca");
    let a = ca.leaf("a", 1, true);
    let b = ca.leaf("b", 2, true);
    std::fs::write(dir.path().join("a.crt"), &a.cert).unwrap();
    std::fs::write(dir.path().join("b.key"), &b.key).unwrap();
    let out = common::command()
        .env("AKIDB_DATA_DIR", dir.path().join("data"))
        .env(
            "AKIDB_REST_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env(
            "AKIDB_GRPC_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("AKIDB_TLS_CERT_FILE", dir.path().join("a.crt"))
        .env("AKIDB_TLS_KEY_FILE", dir.path().join("b.key"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.cert_file"), "{err}");
}
