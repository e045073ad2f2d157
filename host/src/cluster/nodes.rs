//! Node heartbeats (with expiry, on Redis's clock) and the cluster as an operator sees it
//! (`atelier cluster status`): nodes seen, their versions, and how far each lags the log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;
use serde::{Deserialize, Serialize};

use super::{Cluster, ClusterError};

/// What a node says of itself at each heartbeat.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeReport {
    /// The atelier version the node runs.
    pub version: String,
    pub started_unix: u64,
    /// The last change-log sequence number it applied.
    pub applied_seq: u64,
    /// Tenant functions it serves.
    pub functions: usize,
}

/// One node in [`ClusterStatus`].
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node: String,
    /// Its heartbeat has not expired.
    pub alive: bool,
    pub last_seen_ms_ago: u64,
    /// Log entries it has not applied.
    pub lag: u64,
    #[serde(flatten)]
    pub report: NodeReport,
}

/// The cluster as `atelier cluster status` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The change log's sequence number.
    pub log_seq: u64,
    pub nodes: Vec<NodeStatus>,
}

/// Node reports, last-seen times, Redis's clock, the log's sequence number.
type StatusReply = (
    HashMap<String, String>,
    Vec<(String, u64)>,
    (u64, u64),
    Option<u64>,
);

fn script() -> Script {
    Script::new(include_str!("lua/heartbeat.lua"))
}

/// Says this node is alive every `heartbeat_ms` for as long as the process runs; keeps the
/// live-node count (for the rate fallback) and the log-lag gauge current.
pub fn spawn_heartbeats(
    cluster: Arc<Cluster>,
    report: impl Fn() -> NodeReport + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let script = script();
    tokio::spawn(async move {
        let every = Duration::from_millis(cluster.config().heartbeat_ms);
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let now = report();
            let details = serde_json::to_string(&now).expect("a report serialises");
            let mut conn = cluster.commands();
            let mut invocation = script.prepare_invoke();
            invocation
                .key(cluster.keys().key("nodes"))
                .key(cluster.keys().key("seen"))
                .key(cluster.keys().key("seq"))
                .arg(cluster.node_id())
                .arg(details)
                .arg(cluster.config().node_ttl_ms);
            match cluster
                .call(invocation.invoke_async::<(u32, u64)>(&mut conn))
                .await
            {
                Ok((live, head)) => {
                    cluster.set_live_nodes(live);
                    let lag = head.saturating_sub(now.applied_seq);
                    cluster.metrics().cluster.log_lag.set(lag as i64);
                }
                Err(e) => tracing::debug!(error = %e, "cluster: heartbeat failed"),
            }
        }
    })
}

/// Every node seen in the last day, alive or not, sorted by id.
pub async fn status(cluster: &Cluster) -> Result<ClusterStatus, ClusterError> {
    let keys = cluster.keys();
    let mut conn = cluster.commands();
    let (reports, seen, time, seq): StatusReply = cluster
        .call(
            redis::pipe()
                .cmd("HGETALL")
                .arg(keys.key("nodes"))
                .cmd("ZRANGE")
                .arg(keys.key("seen"))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .cmd("TIME")
                .cmd("GET")
                .arg(keys.key("seq"))
                .query_async(&mut conn),
        )
        .await?;
    let now_ms = time.0 * 1000 + time.1 / 1000;
    let log_seq = seq.unwrap_or(0);
    let ttl = cluster.config().node_ttl_ms;
    let mut nodes: Vec<NodeStatus> = seen
        .into_iter()
        .map(|(node, at)| {
            let report: NodeReport = reports
                .get(&node)
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            let ago = now_ms.saturating_sub(at);
            NodeStatus {
                alive: ago <= ttl,
                last_seen_ms_ago: ago,
                lag: log_seq.saturating_sub(report.applied_seq),
                node,
                report,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(ClusterStatus { log_seq, nodes })
}
