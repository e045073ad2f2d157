//! Several nodes, one edge: the state nodes share through Redis (or Valkey), with the `redis`
//! crate's reconnecting connection manager. Absent `[cluster] redis`, none of this runs and a
//! node is alone, as before.
//!
//! - [`registry`]: deployed functions by content, their versions and `current` pointers, and
//!   the change log (a Redis Stream) every node follows; each change is one Lua script that
//!   commits only on top of the log position the node has applied;
//! - [`rate`]: each tenant's request rate as one GCRA bucket in Redis, one script call per
//!   request, within a time budget, else the node's own bucket with quota / live nodes;
//! - [`nodes`]: heartbeats with expiry, and the cluster as `atelier cluster status` shows it.
//!
//! Invariants: no request waits on Redis longer than `rate_budget_ms`, no admin write or sync
//! step longer than `command_timeout_ms`; a failed or late call marks the node degraded (logged
//! once, `atelier_cluster_redis_up` 0, `/readyz` detail) until Redis answers again.

pub mod nodes;
pub mod rate;
pub mod registry;

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::IntoConnectionInfo;

use crate::config::ClusterConfig;
use crate::telemetry::Metrics;

/// The environment variable that may hold the Redis password (kept out of the manifest).
pub const PASSWORD_ENV: &str = "ATELIER_REDIS_PASSWORD";

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0} ms")]
    Timeout(u64),
    #[error("redis answered something unexpected: {0}")]
    Unexpected(String),
}

/// Keys of one cluster, all under `key_prefix`.
#[derive(Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// This node's link to the cluster.
pub struct Cluster {
    node_id: String,
    keys: Keys,
    /// Commands and scripts (multiplexed, pipelined).
    commands: ConnectionManager,
    /// The follower's blocking reads, on a connection of their own.
    follow: ConnectionManager,
    client: redis::Client,
    config: ClusterConfig,
    /// [`UNKNOWN`], [`UP`] or [`DOWN`].
    health: AtomicU8,
    down_reason: Mutex<Option<String>>,
    live_nodes: AtomicU32,
    metrics: Arc<Metrics>,
}

/// What `/readyz` tells about the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterState {
    pub node: String,
    /// `connected`, or `degraded` while Redis does not answer.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub live_nodes: u32,
}

/// A connection manager that connects lazily (a node starts while Redis is down) and retries
/// with a short backoff.
fn manager(
    client: &redis::Client,
    response_timeout: Duration,
    connect_timeout: Duration,
) -> ConnectionManager {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(response_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client.clone(), config)
        .expect("a lazy connection manager does not connect")
}

impl Cluster {
    /// Prepares the connections (without connecting: the node serves while Redis is down).
    pub fn new(config: &ClusterConfig, metrics: Arc<Metrics>) -> Result<Arc<Self>, ClusterError> {
        let url = config.redis.as_deref().unwrap_or_default();
        let mut info = url.into_connection_info()?;
        if let Ok(password) = std::env::var(PASSWORD_ENV) {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info)?;
        let timeout = Duration::from_millis(config.command_timeout_ms);
        Ok(Arc::new(Cluster {
            node_id: config.node_id(),
            keys: Keys {
                prefix: config.key_prefix.clone(),
            },
            commands: manager(&client, timeout, timeout),
            follow: manager(&client, timeout + registry::FOLLOW_BLOCK, timeout),
            client,
            config: config.clone(),
            health: AtomicU8::new(UNKNOWN),
            down_reason: Mutex::new(Some("not connected yet".into())),
            live_nodes: AtomicU32::new(1),
            metrics,
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// A connection of its own for a caller that blocks on it (a reader waiting `block` on a
    /// stream), so that it holds up no other command.
    pub(crate) fn blocking_connection(&self, block: Duration) -> ConnectionManager {
        let timeout = Duration::from_millis(self.config.command_timeout_ms);
        manager(&self.client, timeout + block, timeout)
    }

    /// Nodes alive at the last heartbeat, this one included (at least 1).
    pub fn live_nodes(&self) -> u32 {
        self.live_nodes.load(Ordering::Relaxed).max(1)
    }

    pub fn is_up(&self) -> bool {
        self.health.load(Ordering::Relaxed) == UP
    }

    pub fn state(&self) -> ClusterState {
        let up = self.is_up();
        ClusterState {
            node: self.node_id.clone(),
            state: if up { "connected" } else { "degraded" },
            reason: match up {
                true => None,
                false => self
                    .down_reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            },
            live_nodes: self.live_nodes(),
        }
    }

    pub(crate) fn mark_up(&self) {
        if self.health.swap(UP, Ordering::Relaxed) != UP {
            tracing::info!(node = %self.node_id, "cluster: redis answers; shared state in use");
            self.metrics.cluster.redis_up.set(1);
        }
    }

    pub(crate) fn mark_down(&self, reason: &ClusterError) {
        *self.down_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.to_string());
        if self.health.swap(DOWN, Ordering::Relaxed) != DOWN {
            tracing::warn!(node = %self.node_id, error = %reason, "cluster: degraded: serving the last-known state; admin writes refused until redis answers");
            self.metrics.cluster.redis_up.set(0);
        }
    }

    /// Runs one Redis call within `command_timeout_ms`; a failure marks the node degraded.
    pub(crate) async fn call<T>(
        &self,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, ClusterError> {
        let limit = self.config.command_timeout_ms;
        let result = match tokio::time::timeout(Duration::from_millis(limit), work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(ClusterError::Redis(e)),
            Err(_) => Err(ClusterError::Timeout(limit)),
        };
        match &result {
            Ok(_) => self.mark_up(),
            Err(e) => self.mark_down(e),
        }
        result
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn set_live_nodes(&self, n: u32) {
        self.live_nodes.store(n.max(1), Ordering::Relaxed);
        self.metrics.cluster.live_nodes.set(i64::from(n));
    }
}
