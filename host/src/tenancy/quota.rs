//! A tenant's live quotas: requests per minute as a token bucket (429 + Retry-After when empty)
//! and instances running at once over all its functions (503 + Retry-After when full).
//!
//! In a cluster the bucket is shared by every node (`cluster::rate`); when Redis does not
//! answer within its budget, this node decides with a bucket of its own holding quota / live
//! nodes, so the cluster as a whole stays near the quota. Instances stay counted per node: an
//! exact cross-node count would need a Redis round trip at both ends of every request and
//! leases to recover the permits of a node that died, for a limit whose job (one tenant cannot
//! take a node's instances) is already done per node.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::OwnedSemaphorePermit;

use super::gate::ConcurrencyGate;
use crate::cluster::rate::{SharedRate, Verdict};
use crate::config::Quotas;

pub struct TenantQuota {
    tenant: String,
    /// Requests per minute and burst, when the tenant has a rate.
    rate: Option<(u32, u32)>,
    /// The cluster's shared buckets, when there is a cluster.
    shared: Option<Arc<SharedRate>>,
    /// This node's bucket (alone: the whole quota; in a cluster: quota / live nodes, rebuilt
    /// when that count changes), used when there is no shared answer.
    local: Mutex<Option<(u32, Arc<DefaultDirectRateLimiter>)>>,
    gate: ConcurrencyGate,
}

/// Why a tenant's request may not run now.
#[derive(Debug)]
pub enum QuotaRefusal {
    /// The bucket is empty; the next token comes after this long.
    RateLimited(Duration),
    /// All the tenant's instances are busy.
    Saturated,
}

fn bucket(per_minute: u32, burst: u32) -> DefaultDirectRateLimiter {
    let rpm = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst))
}

impl TenantQuota {
    pub fn new(tenant: &str, quotas: &Quotas, shared: Option<Arc<SharedRate>>) -> Self {
        TenantQuota {
            tenant: tenant.to_string(),
            rate: quotas
                .requests_per_minute
                .filter(|rpm| *rpm > 0)
                .map(|rpm| (rpm, quotas.burst)),
            shared,
            local: Mutex::new(None),
            gate: ConcurrencyGate::new(quotas.max_concurrency),
        }
    }

    /// Takes one request's token and an instance permit, or says why not.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, QuotaRefusal> {
        if let Some((rpm, burst)) = self.rate {
            let verdict = match &self.shared {
                Some(shared) => shared.check(&self.tenant, rpm, burst).await,
                None => Verdict::Unknown,
            };
            match verdict {
                Verdict::Admitted => {}
                Verdict::Refused(wait) => return Err(QuotaRefusal::RateLimited(wait)),
                Verdict::Unknown => self.admit_locally(rpm, burst)?,
            }
        }
        self.gate.enter().map_err(|_| QuotaRefusal::Saturated)
    }

    /// An instance permit only (a queued job runs on the rate its submission was charged).
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, QuotaRefusal> {
        self.gate.enter().map_err(|_| QuotaRefusal::Saturated)
    }

    fn admit_locally(&self, rpm: u32, burst: u32) -> Result<(), QuotaRefusal> {
        let nodes = self.shared.as_ref().map_or(1, |s| s.cluster().live_nodes());
        let limiter = {
            let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
            match &*local {
                Some((n, limiter)) if *n == nodes => limiter.clone(),
                _ => {
                    let share = |x: u32| (x / nodes).max(1);
                    let limiter = Arc::new(bucket(share(rpm), share(burst)));
                    *local = Some((nodes, limiter.clone()));
                    limiter
                }
            }
        };
        limiter.check().map_err(|not_until| {
            QuotaRefusal::RateLimited(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    #[tokio::test]
    async fn bucket_empties_then_refuses_with_a_wait() {
        let quotas = Quotas {
            requests_per_minute: Some(60),
            burst: 3,
            max_concurrency: 10,
            function_limits: Limits::default(),
            max_functions: 1,
            storage_bytes: 1 << 20,
        };
        let quota = TenantQuota::new("t", &quotas, None);
        for _ in 0..3 {
            drop(quota.admit().await.unwrap());
        }
        match quota.admit().await {
            Err(QuotaRefusal::RateLimited(wait)) => {
                assert!(wait <= Duration::from_secs(1), "{wait:?}")
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }
}
