//! The HTTP front: accept loop, dispatch, and graceful shutdown.
//!
//! - [`router`]: (host, path) → function;
//! - [`limits`]: body size and concurrency, checked before a function runs;
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`;
//! - [`reply`]: JSON errors.
//!
//! Invariants: the listener is bound before functions are loaded, so `/healthz` answers at once
//! and `/readyz` says 503 until every function is ready; on shutdown the listener closes first,
//! then in-flight requests drain up to the manifest's drain timeout.

mod dispatch;
pub mod limits;
mod ops;
pub mod reply;
pub mod router;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::runtime::Function;
use crate::telemetry::Metrics;
use limits::ConcurrencyGate;

/// A function as the server sees it: the runnable function and its concurrency gate.
pub struct Deployed {
    pub function: Function,
    pub gate: ConcurrencyGate,
}

impl Deployed {
    pub fn new(function: Function) -> Self {
        let gate = ConcurrencyGate::new(function.limits().max_concurrency);
        Deployed { function, gate }
    }
}

/// The routing table of deployed functions.
pub type Routes = router::Router<Deployed>;

/// State shared by every connection.
pub struct Server {
    routes: ArcSwapOption<Routes>,
    metrics: Arc<Metrics>,
}

impl Server {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Server {
            routes: ArcSwapOption::empty(),
            metrics,
        })
    }

    /// Installs a complete routing table atomically; the server is ready from then on.
    pub fn install(&self, routes: Routes) {
        self.routes.store(Some(Arc::new(routes)));
    }

    /// Serves connections until `shutdown` resolves, then drains for at most `drain`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
        drain: Duration,
    ) {
        let graceful = GracefulShutdown::new();
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
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.dispatch(req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
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
