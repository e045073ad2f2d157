//! Wires a manifest into a running server: bind, load every function, serve, drain.
//!
//! Invariant: the listener is bound first (so `/healthz` answers while components compile); the
//! routing table is installed only once every function loaded, and a function that fails to load
//! stops the process with its error — a server never runs with part of its manifest missing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cluster::nodes::{spawn_heartbeats, NodeReport};
use crate::cluster::registry::Registry;
use crate::cluster::Cluster;
use crate::config::{Manifest, RouteConfig};
use crate::jobs::callback::CallbackRule;
use crate::jobs::Jobs;
use crate::runtime::outbound::Outbound;
use crate::runtime::{CompileBudget, Compiler, PoolSizing, Runtime};
use crate::server::tls::Tls;
use crate::server::Server;
use crate::telemetry::Metrics;
use crate::tenancy::{Deployed, Deployments};
use crate::vision::Vision;

/// Pooling slots when the manifest leaves it to us: each function's concurrency plus each
/// tenant's, summed; memory: the largest any function or tenant may ask for.
pub fn pool_sizing(manifest: &Manifest) -> PoolSizing {
    let sum: u64 = manifest
        .functions
        .iter()
        .map(|f| u64::from(f.limits.max_concurrency))
        .chain(
            manifest
                .tenants
                .iter()
                .map(|t| u64::from(t.quotas.max_concurrency)),
        )
        .sum();
    let instances = match manifest.runtime.max_instances {
        0 => sum.clamp(1, 10_000) as u32,
        n => n,
    };
    let max_memory_bytes = manifest
        .functions
        .iter()
        .map(|f| f.limits.memory_bytes)
        .chain(
            manifest
                .tenants
                .iter()
                .map(|t| t.quotas.function_limits.memory_bytes),
        )
        .max()
        .unwrap_or(64 << 20);
    PoolSizing {
        instances,
        max_memory_bytes,
    }
}

/// Loads every function of the manifest.
fn load_fixed(
    runtime: &Runtime,
    manifest: &Manifest,
) -> anyhow::Result<Vec<(Vec<RouteConfig>, Arc<Deployed>)>> {
    manifest
        .functions
        .iter()
        .map(|config| {
            let function = runtime.load(config)?;
            Ok((config.routes.clone(), Arc::new(Deployed::new(function))))
        })
        .collect()
}

/// Where each owner's job callbacks may go and what signs them: tenants with a
/// `callback_secret` by their `outbound`, the operator by `[jobs]`.
fn callback_rules(manifest: &Manifest) -> HashMap<String, CallbackRule> {
    let rule = |secret: &Option<String>, outbound: &[String]| {
        secret.clone().map(|secret| CallbackRule {
            secret,
            outbound: Arc::new(Outbound::new(outbound)),
        })
    };
    let tenants = manifest
        .tenants
        .iter()
        .filter_map(|t| Some((t.id.clone(), rule(&t.callback_secret, &t.outbound)?)));
    let jobs = &manifest.jobs;
    let operator = rule(&jobs.callback_secret, &jobs.callback_outbound).map(|r| (String::new(), r));
    tenants.chain(operator).collect()
}

/// Tenants' components compile in a child process of this very binary, under the admin budget.
fn deploy_compiler(manifest: &Manifest) -> anyhow::Result<Compiler> {
    let exe = std::env::current_exe().context("locating this binary for the compiler process")?;
    let admin = &manifest.admin;
    Ok(Compiler::Child {
        exe,
        budget: CompileBudget {
            timeout: Duration::from_millis(admin.compile_timeout_ms),
            memory_bytes: admin.compile_memory_mb << 20,
        },
        perfmap: manifest.runtime.perfmap,
    })
}

/// Serves `manifest` on `listener` until `shutdown` resolves.
pub async fn serve(
    manifest: Manifest,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let registry = match &manifest.cluster.redis {
        Some(_) => {
            let cluster = Cluster::new(&manifest.cluster, metrics.clone())
                .context("[cluster] redis: not a usable address")?;
            tracing::info!(node = %cluster.node_id(), "cluster: node of a cluster; shared state in redis");
            Some(Arc::new(Registry::new(cluster)))
        }
        None => None,
    };
    let keys = crate::tenancy::auth::keys(&manifest.tenants, &manifest.admin)
        .map_err(anyhow::Error::msg)?;
    let jobs = Jobs::new(
        &manifest.jobs,
        registry.as_ref().map(|r| r.cluster().clone()),
        metrics.clone(),
        callback_rules(&manifest),
    );
    let server = Server::new(metrics.clone(), keys, manifest.server.clone(), jobs.clone());
    let table = server.table();
    let drain = Duration::from_millis(manifest.server.drain_timeout_ms);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let stopping = jobs.clone();
    let shutdown = async move {
        shutdown.await;
        // No new jobs from here on; the running ones finish below.
        stopping.stop_taking();
    };
    let tls = match &manifest.server.tls {
        Some(settings) => Some(Tls::load(settings).context("[server] tls")?),
        None => None,
    };
    let serving = tokio::spawn(server.clone().serve(listener, shutdown, drain, tls));

    let loading = tokio::task::spawn_blocking(move || -> anyhow::Result<Deployments> {
        // Models load only when some function or tenant may use them.
        let wants_vision = manifest
            .functions
            .iter()
            .map(|f| &f.grants)
            .chain(manifest.tenants.iter().map(|t| &t.grants))
            .any(|grants| grants.iter().any(|g| g == crate::config::VISION_GRANT));
        let vision = match wants_vision {
            true => Some(Arc::new(Vision::load(&manifest.vision, &metrics)?)),
            false => None,
        };
        let runtime = Runtime::new(
            &manifest.runtime,
            deploy_compiler(&manifest)?,
            pool_sizing(&manifest),
            metrics,
            vision,
        )
        .map_err(|e| anyhow::anyhow!("starting the wasm runtime: {e:#}"))?;
        let fixed = load_fixed(&runtime, &manifest)?;
        let deployments =
            Deployments::for_manifest(Arc::new(runtime), table, &manifest, fixed, registry);
        deployments.restore();
        Ok(deployments)
    });
    let started = std::time::Instant::now();
    let deployments = Arc::new(loading.await.context("loading functions")??);
    if let Some(cluster) = deployments.cluster() {
        // Serving the last-known state already; from here on, follow the others.
        tokio::spawn(deployments.clone().follow());
        let watched = Arc::downgrade(&deployments);
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        spawn_heartbeats(cluster.clone(), move || {
            let (applied_seq, functions) = watched
                .upgrade()
                .map(|d| d.sync_report())
                .unwrap_or_default();
            NodeReport {
                version: env!("CARGO_PKG_VERSION").into(),
                started_unix,
                applied_seq,
                functions,
            }
        });
    }
    server.install(deployments);
    jobs.start(server.executor());
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    serving.await.context("server task")?;
    jobs.finish_running(drain).await;
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
