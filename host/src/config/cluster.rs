//! `[cluster]`: the Redis (or Valkey) that several nodes share. Absent, a node is alone and
//! nothing here is used.

use serde::Deserialize;

/// How this node joins a cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `redis://[user:password@]host:port/db`, or `rediss://` for TLS. The password may instead
    /// come from `ATELIER_REDIS_PASSWORD` in the environment. None: a single node.
    pub redis: Option<String>,
    /// This node's name in heartbeats and `atelier cluster status`; default hostname + pid.
    pub node_id: Option<String>,
    /// Prefix of every key this cluster uses, so one Redis can serve several clusters.
    pub key_prefix: String,
    /// Longest a request waits for the shared rate limiter before the node decides alone.
    pub rate_budget_ms: u64,
    /// Longest an admin write or a sync step waits for one Redis reply.
    pub command_timeout_ms: u64,
    /// How often a node says it is alive; it counts as gone after `node_ttl_ms` of silence.
    pub heartbeat_ms: u64,
    pub node_ttl_ms: u64,
    /// Entries kept in the change log (approximately); a node that fell further behind
    /// compares every function with the registry instead of replaying.
    pub log_max_entries: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis: None,
            node_id: None,
            key_prefix: "atelier".into(),
            rate_budget_ms: 5,
            command_timeout_ms: 2_000,
            heartbeat_ms: 1_000,
            node_ttl_ms: 5_000,
            log_max_entries: 10_000,
        }
    }
}

impl ClusterConfig {
    /// Refuses settings that cannot work, before anything connects.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(format!(
                    "cluster.redis {url:?} must start with redis:// or rediss://"
                ));
            }
        }
        if self.rate_budget_ms == 0 || self.command_timeout_ms == 0 || self.heartbeat_ms == 0 {
            return Err(
                "cluster.rate_budget_ms, command_timeout_ms and heartbeat_ms must be at least 1"
                    .into(),
            );
        }
        if self.node_ttl_ms < 2 * self.heartbeat_ms {
            return Err("cluster.node_ttl_ms must be at least twice heartbeat_ms".into());
        }
        if self.log_max_entries < 100 {
            return Err("cluster.log_max_entries must be at least 100".into());
        }
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        };
        if !valid(&self.key_prefix) {
            return Err("cluster.key_prefix: use 1-64 letters, digits, '-', '_', '.', ':'".into());
        }
        if let Some(id) = &self.node_id {
            if !valid(id) {
                return Err("cluster.node_id: use 1-64 letters, digits, '-', '_', '.', ':'".into());
            }
        }
        Ok(())
    }

    /// The node id: the configured one, else hostname + pid.
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".into());
            format!("{host}-{}", std::process::id())
        })
    }
}
