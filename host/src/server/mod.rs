//! The HTTP front: accept loop, dispatch, and graceful shutdown.
//!
//! - [`admin`]: the `/admin/v1` HTTP API over [`Deployments`];
//! - [`limits`]: body size and concurrency, checked before a function runs;
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`;
//! - [`tenant_gate`]: a tenant function's key, rate and concurrency checks;
//! - [`jobs`]: `Prefer: respond-async`, `/jobs/{id}`, running jobs, the result cache;
//! - [`reply`]: JSON errors;
//! - [`site`]: the web page, `/openapi.json` and `/docs`, embedded;
//! - [`tls`]: TLS on the listener (rustls, ALPN h2/http1.1, reloaded on SIGHUP).
//!
//! Invariants: the listener is bound before functions are loaded, so `/healthz` answers at once
//! and `/readyz` says 503 until every function is ready; on shutdown the listener closes first,
//! then in-flight requests drain up to the manifest's drain timeout. At most
//! `server.max_connections` connections are open (one more is closed as soon as it is
//! accepted); a client gets `header_timeout_ms` for each request head (also while a kept-alive
//! connection idles) and `max_header_bytes` for it (431 beyond).

pub mod admin;
mod dispatch;
mod jobs;
pub mod limits;
mod ops;
pub mod reply;
mod site;
mod tenant_gate;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::jobs::Jobs;
use crate::telemetry::Metrics;
use crate::tenancy::{Deployments, Keys, Routes};
use tls::Tls;

/// State shared by every connection.
pub struct Server {
    routes: Arc<ArcSwapOption<Routes>>,
    deployments: ArcSwapOption<Deployments>,
    keys: Keys,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    jobs: Arc<Jobs>,
}

impl Server {
    pub fn new(
        metrics: Arc<Metrics>,
        keys: Keys,
        config: ServerConfig,
        jobs: Arc<Jobs>,
    ) -> Arc<Self> {
        Arc::new(Server {
            jobs,
            routes: Arc::new(ArcSwapOption::empty()),
            deployments: ArcSwapOption::empty(),
            keys,
            metrics,
            config,
        })
    }

    /// The routing table's slot, shared with [`Deployments`], which replaces the table whole.
    pub fn table(&self) -> Arc<ArcSwapOption<Routes>> {
        self.routes.clone()
    }

    /// Installs the deployments once every function is loaded (and their routing table is in
    /// place); the server is ready from then on.
    pub fn install(&self, deployments: Arc<Deployments>) {
        self.deployments.store(Some(deployments));
    }

    /// Serves connections until `shutdown` resolves, then drains for at most `drain`: plain
    /// HTTP/1.1, or with `tls` HTTP/2 or HTTP/1.1 as ALPN chose.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
        tls: Option<Arc<Tls>>,
    ) {
        let graceful = GracefulShutdown::new();
        let open = Arc::new(Semaphore::new(self.config.max_connections));
        let head_timeout = Duration::from_millis(self.config.header_timeout_ms);
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(head_timeout)
            .max_header_size(self.config.max_header_bytes);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.config.http2_max_concurrent_streams)
            .max_header_list_size(self.config.max_header_bytes as u32)
            .max_pending_accept_reset_streams(self.config.http2_max_pending_resets)
            .max_local_error_reset_streams(self.config.http2_max_local_error_resets);
        let builders = Arc::new((http1, http2));
        if let Some(tls) = &tls {
            tls.reload_on_sighup();
        }
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(slot) = open.clone().try_acquire_owned() else {
                self.metrics.connections_refused.inc();
                tracing::warn!(%peer, max = self.config.max_connections, "too many connections; closing a new one");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.dispatch(req).await) }
            });
            let Some(tls) = &tls else {
                let conn =
                    graceful.watch(builders.0.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(slot);
                });
                continue;
            };
            let (acceptor, watcher, builders) =
                (tls.acceptor(), graceful.watcher(), builders.clone());
            tokio::spawn(async move {
                // The handshake gets the time a request head gets.
                let stream = match tokio::time::timeout(head_timeout, acceptor.accept(stream)).await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "tls handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "tls handshake timed out");
                        return;
                    }
                };
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                let io = TokioIo::new(stream);
                let ended = match h2 {
                    true => {
                        watcher
                            .watch(builders.1.serve_connection(io, service))
                            .await
                    }
                    false => {
                        watcher
                            .watch(builders.0.serve_connection(io, service))
                            .await
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        tracing::info!("shutting down: draining in-flight requests");
        match tokio::time::timeout(drain, graceful.shutdown()).await {
            Ok(()) => tracing::info!("all connections drained"),
            Err(_) => tracing::warn!(
                drain_ms = drain.as_millis() as u64,
                "drain timeout reached; closing remaining connections"
            ),
        }
    }
}
