//! TLS for the REST and gRPC listeners (rustls with the aws-lc-rs provider, the one
//! the S3 and HTTP clients already link).
//!
//! Both listeners share one [`ReloadingCert`] resolver and one client verifier; only
//! their ALPN lists differ (`http/1.1` for REST, `h2` for gRPC). The certificate and
//! key files are re-read every [`RELOAD_INTERVAL`]: when their bytes change and the
//! new pair parses and matches, new handshakes get it at once (connections already
//! open keep theirs); a bad or half-written pair is logged and the old one is kept.
//! The client CA file is read once at start-up.
//!
//! Handshakes run in their own tasks (bounded by [`HANDSHAKE_TIMEOUT`]), so a slow
//! or non-TLS client never holds up the accept loop; a failed handshake (for example
//! plain HTTP sent to the TLS port) only closes that connection.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tonic::transport::server::Connected;

use crate::config::TlsSection;

/// How often the certificate and key files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// How long a client gets to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file is not valid PEM: {e}"))?;
    if chain.is_empty() {
        return Err("certificate file holds no CERTIFICATE block".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("key file holds no usable PEM private key: {e}"))?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("certificate and key do not form a usable pair: {e}"))
}

/// A [`ResolvesServerCert`] that serves the latest good certificate from two files.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file contents last looked at (loaded or rejected), to act only on changes.
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

impl ReloadingCert {
    /// Loads the pair; any problem is an error naming the file.
    pub fn load(cert_file: &Path, key_file: &Path) -> anyhow::Result<Self> {
        let provider = provider();
        let cert =
            read(cert_file, "TLS certificate file (tls.cert_file)").map_err(|e| anyhow!(e))?;
        let key = read(key_file, "TLS key file (tls.key_file)").map_err(|e| anyhow!(e))?;
        let ck = certified_key(&cert, &key, &provider).map_err(|e| {
            anyhow!(
                "TLS: {e} (tls.cert_file {}, tls.key_file {})",
                cert_file.display(),
                key_file.display()
            )
        })?;
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(ck)),
            seen: Mutex::new((cert, key)),
        })
    }

    /// Re-reads the files; swaps the certificate when they changed and are good.
    ///
    /// `Ok(true)`: a new certificate is now served; `Ok(false)`: unchanged;
    /// `Err`: the files changed but are unusable (the old certificate stays).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let cert = read(&self.cert_file, "TLS certificate file")?;
        let key = read(&self.key_file, "TLS key file")?;
        let mut seen = self.seen.lock();
        if seen.0 == cert && seen.1 == key {
            return Ok(false);
        }
        *seen = (cert, key);
        let ck = certified_key(&seen.0, &seen.1, &self.provider)?;
        *self.current.write() = Arc::new(ck);
        Ok(true)
    }

    /// The certificate chain served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The TLS set-up of both listeners.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The REST listener's config (ALPN `http/1.1`).
    pub rest: Arc<ServerConfig>,
    /// The gRPC listener's config (ALPN `h2`).
    pub grpc: Arc<ServerConfig>,
    /// The shared, reloading certificate.
    pub cert: Arc<ReloadingCert>,
    /// Whether client certificates are required.
    pub verify_clients: bool,
}

/// Builds the TLS set-up, or `None` when `tls.cert_file`/`tls.key_file` are unset.
pub fn setup(section: &TlsSection) -> anyhow::Result<Option<Tls>> {
    let (cert_file, key_file) = match (&section.cert_file, &section.key_file) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => return Ok(None),
        _ => return Err(anyhow!(crate::config::TLS_PAIR_ERROR)),
    };
    let cert = Arc::new(ReloadingCert::load(cert_file, key_file)?);
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &section.client_ca_file {
        Some(ca_file) => {
            let pem =
                read(ca_file, "client CA file (tls.client_ca_file)").map_err(|e| anyhow!(e))?;
            let mut roots = RootCertStore::empty();
            for der in CertificateDer::pem_slice_iter(&pem) {
                let der = der.map_err(|e| {
                    anyhow!(
                        "tls.client_ca_file {}: not valid PEM: {e}",
                        ca_file.display()
                    )
                })?;
                roots.add(der).map_err(|e| {
                    anyhow!(
                        "tls.client_ca_file {}: bad CA certificate: {e}",
                        ca_file.display()
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(anyhow!(
                    "tls.client_ca_file {} holds no CERTIFICATE block",
                    ca_file.display()
                ));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("building the client certificate verifier (tls.client_ca_file)")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let base = builder.with_cert_resolver(cert.clone());
    let mut rest = base.clone();
    rest.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut grpc = base;
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Some(Tls {
        rest: Arc::new(rest),
        grpc: Arc::new(grpc),
        cert,
        verify_clients: section.client_ca_file.is_some(),
    }))
}

/// Re-reads the certificate files every [`RELOAD_INTERVAL`] until `stop`.
pub fn spawn_reloader(cert: Arc<ReloadingCert>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_error: Option<String> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let c = cert.clone();
            let outcome = tokio::task::spawn_blocking(move || c.reload_if_changed()).await;
            match outcome {
                Ok(Ok(true)) => {
                    last_error = None;
                    tracing::info!(
                        cert_file = %cert.cert_file.display(),
                        "TLS certificate reloaded; new connections use it"
                    );
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    if last_error.as_ref() != Some(&e) {
                        tracing::warn!(
                            "TLS certificate not reloaded, still serving the previous one: {e}"
                        );
                    }
                    last_error = Some(e);
                }
                Err(e) => tracing::warn!("TLS certificate reload task failed: {e}"),
            }
        }
    });
}

/// A TLS connection accepted by [`spawn_acceptor`].
pub struct TlsIo(tokio_rustls::server::TlsStream<TcpStream>);

impl TlsIo {
    /// The TCP stream and the TLS session.
    pub fn get_ref(&self) -> (&TcpStream, &rustls::ServerConnection) {
        self.0.get_ref()
    }
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl Connected for TlsIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

/// Accepts TCP connections on `listener` and hands out those whose TLS handshake
/// succeeded, until `stop`. Failed handshakes are logged at debug level and dropped.
pub fn spawn_acceptor(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) -> mpsc::Receiver<(TlsIo, SocketAddr)> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("{what} accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((TlsIo(tls), peer)).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "{what} TLS handshake failed: {e}");
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "{what} TLS handshake timed out");
                    }
                }
            });
        }
    });
    rx
}

/// An [`axum::serve::Listener`] over [`spawn_acceptor`]'s connections.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsIo, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS on `listener`.
    pub fn new(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        stop: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(Self {
            rx: spawn_acceptor(listener, config, stop, "REST"),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The acceptor stopped (shutdown): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The gRPC listener's connections as a stream for `serve_with_incoming`.
pub fn grpc_incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    stop: watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = io::Result<TlsIo>> + Send + 'static {
    let rx = spawn_acceptor(listener, config, stop, "gRPC");
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|(io, _)| (Ok(io), rx))
    })
}
