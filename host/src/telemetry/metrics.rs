//! The Prometheus metrics the host exports at `/metrics`.
//!
//! One registry per process; every family is labelled by function where it concerns one.
//! Names follow Prometheus conventions (`_total` counters, `_seconds` histograms).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabel {
    pub function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub function: String,
    /// See [`status_label`].
    pub status: &'static str,
}

/// Statuses counted by their own value; a guest chooses its status, so any other is counted
/// by its class (`1xx` … `5xx`), keeping the label's values bounded.
const COUNTED_STATUSES: [(u16, &str); 26] = [
    (200, "200"),
    (201, "201"),
    (202, "202"),
    (204, "204"),
    (206, "206"),
    (301, "301"),
    (302, "302"),
    (304, "304"),
    (307, "307"),
    (308, "308"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (408, "408"),
    (409, "409"),
    (413, "413"),
    (415, "415"),
    (422, "422"),
    (429, "429"),
    (431, "431"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
    (504, "504"),
];

/// The `status` label of a response status: its own value when common, else its class.
pub fn status_label(status: u16) -> &'static str {
    if let Some((_, label)) = COUNTED_STATUSES.iter().find(|(s, _)| *s == status) {
        return label;
    }
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelReasonLabels {
    pub model: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub model: String,
    pub provider: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

/// Every metric family of the host.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<FunctionLabel, Histogram, fn() -> Histogram>,
    pub instances_in_use: Family<FunctionLabel, Gauge>,
    pub traps: Family<FunctionLabel, Counter>,
    pub timeouts: Family<FunctionLabel, Counter>,
    pub rejected: Family<FunctionLabel, Counter>,
    /// Connections closed on accept because `server.max_connections` were open.
    pub connections_refused: Counter,
    /// 1 for the execution provider each vision model actually runs on.
    pub vision_provider: Family<ProviderLabels, Gauge>,
    pub vision_batch_size: Family<ModelLabel, Histogram, fn() -> Histogram>,
    /// Wall time of each model run (one batch), by model.
    pub vision_run_seconds: Family<ModelLabel, Histogram, fn() -> Histogram>,
    /// 1 when a segmentation model runs batches, 0 when it runs one image at a time.
    pub vision_batching: Family<ModelLabel, Gauge>,
    /// Vision calls that failed, by model and reason (`invalid_image`, `unknown_model`,
    /// `overloaded`, `unavailable`, `failed`); a component that falls back when a call fails
    /// (the ID photo's crop placement) shows here.
    pub vision_errors: Family<ModelReasonLabels, Counter>,
    /// The cluster, when there is one (all stay 0 on a single node).
    pub cluster: ClusterMetrics,
    pub jobs: JobMetrics,
}

/// Asynchronous jobs, by function. Counts are this node's; `queued` and the oldest job's age
/// are the whole queue's (the cluster's with Redis), refreshed every two seconds.
#[derive(Default)]
pub struct JobMetrics {
    pub submitted: Family<FunctionLabel, Counter>,
    pub queued: Family<FunctionLabel, Gauge>,
    pub oldest_queued_seconds: Family<FunctionLabel, Gauge>,
    pub running: Family<FunctionLabel, Gauge>,
    pub done: Family<FunctionLabel, Counter>,
    pub failed: Family<FunctionLabel, Counter>,
    /// Jobs taken over from a node that stopped running them.
    pub reclaimed: Family<FunctionLabel, Counter>,
    /// Result cache lookups by function, hit or miss.
    pub cache_hits: Family<FunctionLabel, Counter>,
    pub cache_misses: Family<FunctionLabel, Counter>,
}

/// How this node sees its cluster.
#[derive(Default)]
pub struct ClusterMetrics {
    /// 1 while Redis answers, 0 while the node is degraded (serving its last-known state).
    pub redis_up: Gauge,
    /// Nodes whose heartbeat has not expired, this one included.
    pub live_nodes: Gauge,
    /// Change-log entries this node has not applied yet (at its last heartbeat).
    pub log_lag: Gauge,
    /// Changes of other nodes applied here (a deploy, rollback or delete each).
    pub changes_applied: Counter,
    /// Requests whose tenant rate was decided by this node's own bucket (quota / live nodes)
    /// because Redis did not answer within `rate_budget_ms`.
    pub rate_fallbacks: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("atelier");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<FunctionLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let instances_in_use = Family::<FunctionLabel, Gauge>::default();
        let traps = Family::<FunctionLabel, Counter>::default();
        let timeouts = Family::<FunctionLabel, Counter>::default();
        let rejected = Family::<FunctionLabel, Counter>::default();
        let connections_refused = Counter::default();
        let vision_provider = Family::<ProviderLabels, Gauge>::default();
        let vision_batching = Family::<ModelLabel, Gauge>::default();
        let vision_errors = Family::<ModelReasonLabels, Counter>::default();
        let vision_batch_size =
            Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                (|| Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]))
                    as fn() -> Histogram,
            );
        let vision_run_seconds =
            Family::<ModelLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                (|| Histogram::new(exponential_buckets(0.001, 2.0, 12))) as fn() -> Histogram,
            );
        registry.register(
            "requests",
            "HTTP requests answered, by function and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to the response head, by function",
            latency.clone(),
        );
        registry.register(
            "instances_in_use",
            "Component instances running now",
            instances_in_use.clone(),
        );
        registry.register("traps", "Requests whose instance trapped", traps.clone());
        registry.register(
            "timeouts",
            "Requests stopped by a CPU deadline or wall-clock timeout",
            timeouts.clone(),
        );
        registry.register(
            "rejected",
            "Requests refused because the function was saturated",
            rejected.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed on accept because server.max_connections were open",
            connections_refused.clone(),
        );
        registry.register(
            "vision_provider",
            "Execution provider each vision model runs on (1 = in use)",
            vision_provider.clone(),
        );
        registry.register(
            "vision_batch_size",
            "Images per inference batch, by model",
            vision_batch_size.clone(),
        );
        registry.register(
            "vision_run_seconds",
            "Wall time of each model run (one batch), by model",
            vision_run_seconds.clone(),
        );
        registry.register(
            "vision_batching",
            "1 when a segmentation model runs batches (decided at load), 0 when one image at a time",
            vision_batching.clone(),
        );
        registry.register(
            "vision_errors",
            "Vision calls that failed, by model and reason",
            vision_errors.clone(),
        );
        let cluster = ClusterMetrics::default();
        let sub = registry.sub_registry_with_prefix("cluster");
        sub.register(
            "redis_up",
            "1 while Redis answers; 0 while this node serves its last-known state (degraded)",
            cluster.redis_up.clone(),
        );
        sub.register(
            "live_nodes",
            "Nodes whose heartbeat has not expired",
            cluster.live_nodes.clone(),
        );
        sub.register(
            "log_lag",
            "Change-log entries not yet applied on this node",
            cluster.log_lag.clone(),
        );
        sub.register(
            "changes_applied",
            "Other nodes' deploys, rollbacks and deletes applied here",
            cluster.changes_applied.clone(),
        );
        sub.register(
            "rate_fallbacks",
            "Tenant requests rate-limited locally (quota / live nodes) because Redis was slow or down",
            cluster.rate_fallbacks.clone(),
        );
        let jobs = JobMetrics::default();
        let sub = registry.sub_registry_with_prefix("jobs");
        sub.register(
            "submitted",
            "Jobs submitted on this node",
            jobs.submitted.clone(),
        );
        sub.register(
            "queued",
            "Jobs waiting to run (the whole queue)",
            jobs.queued.clone(),
        );
        sub.register(
            "oldest_queued_seconds",
            "Age of the oldest waiting job (the whole queue)",
            jobs.oldest_queued_seconds.clone(),
        );
        sub.register("running", "Jobs running on this node", jobs.running.clone());
        sub.register("done", "Jobs this node finished", jobs.done.clone());
        sub.register("failed", "Jobs this node failed", jobs.failed.clone());
        sub.register(
            "reclaimed",
            "Jobs this node took over from a node that stopped running them",
            jobs.reclaimed.clone(),
        );
        sub.register("cache_hits", "Result cache hits", jobs.cache_hits.clone());
        sub.register(
            "cache_misses",
            "Result cache misses",
            jobs.cache_misses.clone(),
        );
        Metrics {
            jobs,
            cluster,
            registry,
            requests,
            latency,
            instances_in_use,
            traps,
            timeouts,
            rejected,
            connections_refused,
            vision_provider,
            vision_batch_size,
            vision_run_seconds,
            vision_batching,
            vision_errors,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    pub fn label(function: &str) -> FunctionLabel {
        FunctionLabel {
            function: function.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_label;

    #[test]
    fn uncommon_statuses_are_counted_by_class() {
        assert_eq!(status_label(200), "200");
        assert_eq!(status_label(504), "504");
        assert_eq!(status_label(299), "2xx");
        assert_eq!(status_label(418), "4xx");
        assert_eq!(status_label(599), "5xx");
    }
}
