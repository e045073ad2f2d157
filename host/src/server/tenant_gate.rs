//! The checks a tenant's function passes before it runs: the caller's key (unless the function
//! is public), the tenant's request rate (429 + Retry-After) and its concurrent instances
//! (503 + Retry-After). The manifest's own functions pass straight through.

use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::reply::{self, Body};
use super::Server;
use crate::tenancy::quota::QuotaRefusal;
use crate::tenancy::Deployed;
use crate::tenancy::Principal;

/// Why a tenant's function did not run.
#[derive(Debug)]
pub(super) enum TenantRefusal {
    Unauthorized,
    Forbidden,
    RateLimited { tenant: String, retry_after_s: u32 },
    Saturated { tenant: String },
}

impl TenantRefusal {
    pub(super) fn response(&self, function: &str) -> Response<Body> {
        match self {
            TenantRefusal::Unauthorized => reply::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this function needs its tenant's API key (Authorization: Bearer <key>)",
                Some(function),
            ),
            TenantRefusal::Forbidden => reply::error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this key belongs to another tenant",
                Some(function),
            ),
            TenantRefusal::RateLimited {
                tenant,
                retry_after_s,
            } => {
                let mut response = reply::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    &format!(
                        "tenant {tenant:?} is over its request rate; retry in {retry_after_s} s"
                    ),
                    Some(function),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, (*retry_after_s).into());
                response
            }
            TenantRefusal::Saturated { tenant } => reply::overloaded(
                &format!("tenant {tenant:?} is at its limit of concurrent instances"),
                Some(function),
                1,
            ),
        }
    }
}

impl Server {
    /// `Ok((caller, permit))` when the request may run (the caller when its key was checked;
    /// the permit counts against the tenant's instances until the instance is gone), or why not.
    pub(super) async fn admit_tenant(
        &self,
        deployed: &Deployed,
        request: &Request<Incoming>,
    ) -> Result<(Option<Principal>, Option<OwnedSemaphorePermit>), TenantRefusal> {
        let Some(owner) = &deployed.owner else {
            return Ok((None, None));
        };
        let tenant = owner.tenant.id();
        let mut caller = None;
        if !owner.public {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match self.keys.principal(authorization) {
                None => return Err(TenantRefusal::Unauthorized),
                Some(p) if !p.may_act_for(tenant) => return Err(TenantRefusal::Forbidden),
                Some(p) => caller = Some(p),
            }
        }
        match owner.tenant.quota.admit().await {
            Ok(permit) => Ok((caller, Some(permit))),
            Err(QuotaRefusal::RateLimited(wait)) => Err(TenantRefusal::RateLimited {
                tenant: tenant.to_string(),
                retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u32,
            }),
            Err(QuotaRefusal::Saturated) => Err(TenantRefusal::Saturated {
                tenant: tenant.to_string(),
            }),
        }
    }
}
