//! `[jobs]`: asynchronous requests (`Prefer: respond-async`) and the result cache, and the
//! `cache` rule a function may declare.

use serde::Deserialize;

/// How this node queues and runs jobs (in Redis with `[cluster]`, else in process).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs this node runs at once.
    pub workers: usize,
    /// Jobs queued or running at once, over all tenants (503 beyond).
    pub max_queued: u64,
    /// Jobs queued or running at once per tenant (429 beyond).
    pub max_queued_per_tenant: u64,
    /// How long a finished job and its result are kept (then 404 `job_expired`).
    pub result_ttl_s: u64,
    /// Largest response a job keeps (a larger one fails the job).
    pub max_result_mb: u64,
    /// Runs of one job before it fails for good (a node that died while running it counts).
    pub max_attempts: u32,
    /// A running job whose node has not renewed its claim for this long is run again by
    /// another node (cluster only).
    pub visibility_ms: u64,
    /// Memory the in-process queue (single node) keeps results in, MiB; the oldest finished
    /// jobs are forgotten first.
    pub local_results_mb: u64,
    /// Bytes the result cache holds, MiB (in Redis, or in process), least recently stored
    /// evicted first.
    pub cache_max_mb: u64,
    /// Signing key of callbacks for the operator's own functions (tenants have their own).
    pub callback_secret: Option<String>,
    /// Where callbacks of the operator's own functions may go, as an outbound allow-list
    /// (tenants' callbacks follow the tenant's `outbound`).
    pub callback_outbound: Vec<String>,
    /// Deliveries of one callback before it is given up, with doubling waits from 1 s.
    pub callback_attempts: u32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            workers: 2,
            max_queued: 10_000,
            max_queued_per_tenant: 1_000,
            result_ttl_s: 3_600,
            max_result_mb: 32,
            max_attempts: 3,
            visibility_ms: 60_000,
            local_results_mb: 512,
            cache_max_mb: 256,
            callback_secret: None,
            callback_outbound: Vec::new(),
            callback_attempts: 5,
        }
    }
}

impl JobsConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.workers == 0 || self.max_queued == 0 || self.max_queued_per_tenant == 0 {
            return Err("workers, max_queued and max_queued_per_tenant must be at least 1".into());
        }
        if self.result_ttl_s == 0 || self.max_result_mb == 0 || self.max_attempts == 0 {
            return Err("result_ttl_s, max_result_mb and max_attempts must be at least 1".into());
        }
        if self.visibility_ms < 1_000 {
            return Err("visibility_ms must be at least 1000".into());
        }
        Ok(())
    }
}

/// A function's result cache: responses (200 only) kept `ttl_s` seconds, keyed by the
/// component, method, path, query, body and the request headers named in `vary`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRule {
    pub ttl_s: u64,
    #[serde(default)]
    pub vary: Vec<String>,
}

impl CacheRule {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=30 * 86_400).contains(&self.ttl_s) {
            return Err("cache ttl_s must be 1 to 2592000 (30 days)".into());
        }
        if self.vary.len() > 16 {
            return Err("cache vary names at most 16 headers".into());
        }
        if let Some(bad) = self
            .vary
            .iter()
            .find(|h| http::HeaderName::from_bytes(h.as_bytes()).is_err())
        {
            return Err(format!("cache vary: {bad:?} is not a header name"));
        }
        Ok(())
    }
}
