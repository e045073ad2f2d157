//! A tenant's live quotas: requests per minute as a token bucket (429 + Retry-After when empty)
//! and instances running at once over all its functions (503 + Retry-After when full).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::OwnedSemaphorePermit;

use super::gate::ConcurrencyGate;
use crate::config::Quotas;

pub struct TenantQuota {
    rate: Option<DefaultDirectRateLimiter>,
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

impl TenantQuota {
    pub fn new(quotas: &Quotas) -> Self {
        let rate = quotas
            .requests_per_minute
            .and_then(NonZeroU32::new)
            .map(|rpm| {
                let burst = NonZeroU32::new(quotas.burst).unwrap_or(NonZeroU32::MIN);
                RateLimiter::direct(Quota::per_minute(rpm).allow_burst(burst))
            });
        TenantQuota {
            rate,
            gate: ConcurrencyGate::new(quotas.max_concurrency),
        }
    }

    /// Takes one request's token and an instance permit, or says why not.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, QuotaRefusal> {
        if let Some(rate) = &self.rate {
            if let Err(not_until) = rate.check() {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(QuotaRefusal::RateLimited(wait));
            }
        }
        self.gate.enter().map_err(|_| QuotaRefusal::Saturated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    #[test]
    fn bucket_empties_then_refuses_with_a_wait() {
        let quota = TenantQuota::new(&Quotas {
            requests_per_minute: Some(60),
            burst: 3,
            max_concurrency: 10,
            function_limits: Limits::default(),
            max_functions: 1,
            storage_bytes: 1 << 20,
        });
        for _ in 0..3 {
            drop(quota.admit().unwrap());
        }
        match quota.admit() {
            Err(QuotaRefusal::RateLimited(wait)) => {
                assert!(wait <= Duration::from_secs(1), "{wait:?}")
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
    }
}
