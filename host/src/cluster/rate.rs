//! A tenant's request rate shared by every node: one GCRA bucket per tenant in Redis, one
//! script call (one round trip) per request, on Redis's clock.
//!
//! Invariant: a request waits for Redis at most `rate_budget_ms`; when Redis is slower or down
//! the caller decides with its own bucket (quota / live nodes) and the fallback is counted in
//! `atelier_cluster_rate_fallbacks_total` and logged once per episode.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use super::Cluster;

/// What the shared bucket said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admitted,
    /// Refused; a request would be admitted after this long.
    Refused(Duration),
    /// Redis did not answer in time: decide locally.
    Unknown,
}

/// The shared buckets of one cluster.
pub struct SharedRate {
    cluster: Arc<Cluster>,
    script: Script,
    falling_back: AtomicBool,
}

impl SharedRate {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        SharedRate {
            cluster,
            script: Script::new(include_str!("lua/gcra.lua")),
            falling_back: AtomicBool::new(false),
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// One request of `tenant` against `requests_per_minute` with `burst`.
    pub async fn check(&self, tenant: &str, requests_per_minute: u32, burst: u32) -> Verdict {
        let interval_us = 60_000_000 / u64::from(requests_per_minute.max(1));
        let mut conn = self.cluster.commands();
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.cluster.keys().key(&format!("rate:{tenant}")))
            .arg(interval_us.max(1))
            .arg(burst.max(1));
        let budget = Duration::from_millis(self.cluster.config().rate_budget_ms);
        let answer = tokio::time::timeout(budget, invocation.invoke_async::<u64>(&mut conn)).await;
        let verdict = match answer {
            Ok(Ok(0)) => Verdict::Admitted,
            Ok(Ok(wait_us)) => Verdict::Refused(Duration::from_micros(wait_us)),
            Ok(Err(e)) => {
                self.fall_back(&e.to_string());
                return Verdict::Unknown;
            }
            Err(_) => {
                self.fall_back(&format!("no answer within {} ms", budget.as_millis()));
                return Verdict::Unknown;
            }
        };
        if self.falling_back.swap(false, Ordering::Relaxed) {
            tracing::info!("cluster: tenant rates shared through redis again");
        }
        verdict
    }

    fn fall_back(&self, why: &str) {
        self.cluster.metrics().cluster.rate_fallbacks.inc();
        if !self.falling_back.swap(true, Ordering::Relaxed) {
            tracing::warn!(reason = %why, live_nodes = self.cluster.live_nodes(), "cluster: tenant rates decided locally (quota / live nodes) until redis answers in time");
        }
    }
}
