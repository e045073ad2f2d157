//! Wires a manifest into a running server: bind, load every function, serve, drain.
//!
//! Invariant: the listener is bound first (so `/healthz` answers while components compile); the
//! routing table is installed only once every function loaded, and a function that fails to load
//! stops the process with its error — a server never runs with part of its manifest missing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Manifest;
use crate::runtime::{PoolSizing, Runtime};
use crate::server::{Deployed, Routes, Server};
use crate::telemetry::Metrics;
use crate::vision::Vision;

/// Pooling slots when the manifest leaves it to us: each function's concurrency, summed.
fn pool_sizing(manifest: &Manifest) -> PoolSizing {
    let sum: u64 = manifest
        .functions
        .iter()
        .map(|f| u64::from(f.limits.max_concurrency))
        .sum();
    let instances = match manifest.runtime.max_instances {
        0 => sum.clamp(1, 10_000) as u32,
        n => n,
    };
    let max_memory_bytes = manifest
        .functions
        .iter()
        .map(|f| f.limits.memory_bytes)
        .max()
        .unwrap_or(64 << 20);
    PoolSizing {
        instances,
        max_memory_bytes,
    }
}

/// Loads every function of the manifest into a routing table.
fn load_routes(runtime: &Runtime, manifest: &Manifest) -> anyhow::Result<Routes> {
    let mut routes = Routes::default();
    for config in &manifest.functions {
        let function = runtime.load(config)?;
        routes.add(&config.routes, Arc::new(Deployed::new(function)));
    }
    Ok(routes)
}

/// Serves `manifest` on `listener` until `shutdown` resolves.
pub async fn serve(
    manifest: Manifest,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let server = Server::new(metrics.clone());
    let drain = Duration::from_millis(manifest.server.drain_timeout_ms);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let serving = tokio::spawn(server.clone().serve(listener, shutdown, drain));

    let loading = tokio::task::spawn_blocking(move || -> anyhow::Result<Routes> {
        // Models load only when some function may use them.
        let wants_vision = manifest
            .functions
            .iter()
            .any(|f| f.grants.iter().any(|g| g == "atelier:vision"));
        let vision = match wants_vision {
            true => Some(Arc::new(Vision::load(&manifest.vision, &metrics)?)),
            false => None,
        };
        let runtime = Runtime::new(&manifest.runtime, pool_sizing(&manifest), metrics, vision)
            .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
        load_routes(&runtime, &manifest)
    });
    let started = std::time::Instant::now();
    let routes = loading.await.context("loading functions")??;
    server.install(routes);
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    serving.await.context("server task")?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown signal received");
}
