//! The HTTP front: accept loop, dispatch, and graceful shutdown.
//!
//! - [`admin`]: the `/admin/v1` HTTP API over [`Deployments`];
//! - [`limits`]: body size and concurrency, checked before a function runs;
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`;
//! - [`tenant_gate`]: a tenant function's key, rate and concurrency checks;
//! - [`jobs`]: `Prefer: respond-async`, `/jobs/{id}`, running jobs, the result cache;
//! - [`reply`]: JSON errors.
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
mod tenant_gate;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ServerConfig;
use crate::jobs::Jobs;
use crate::telemetry::Metrics;
use crate::tenancy::{Deployments, Keys, Routes};

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

    /// Serves connections until `shutdown` resolves, then drains for at most `drain`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
    ) {
        let graceful = GracefulShutdown::new();
        let open = Arc::new(Semaphore::new(self.config.max_connections));
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(self.config.header_timeout_ms))
            .max_header_size(self.config.max_header_bytes);
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
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = conn.await {
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
