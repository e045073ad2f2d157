//! The checks a tenant's function passes before it runs: the caller's key (unless the function
//! is public), the tenant's request rate (429 + Retry-After) and its concurrent instances
//! (503 + Retry-After). The manifest's own functions pass straight through.

use http::{header, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::sync::OwnedSemaphorePermit;

use super::reply::{self, Body};
use super::{Deployed, Server};
use crate::tenancy::quota::QuotaRefusal;

impl Server {
    /// `Ok(permit)` when the request may run (the permit counts against the tenant's instances
    /// until the instance is gone), or the refusal to send.
    pub(super) fn admit_tenant(
        &self,
        deployed: &Deployed,
        request: &Request<Incoming>,
    ) -> Result<Option<OwnedSemaphorePermit>, Response<Body>> {
        let Some(owner) = &deployed.owner else {
            return Ok(None);
        };
        let name = deployed.function.name();
        let tenant = owner.tenant.id();
        if !owner.public {
            let authorization = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            match self.keys.principal(authorization) {
                None => {
                    return Err(reply::error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "this function needs its tenant's API key (Authorization: Bearer <key>)",
                        Some(name),
                    ))
                }
                Some(p) if !p.may_act_for(tenant) => {
                    return Err(reply::error(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "this key belongs to another tenant",
                        Some(name),
                    ))
                }
                Some(_) => {}
            }
        }
        match owner.tenant.quota.admit() {
            Ok(permit) => Ok(Some(permit)),
            Err(QuotaRefusal::RateLimited(wait)) => {
                let seconds = wait.as_secs_f64().ceil().max(1.0) as u32;
                let mut response = reply::error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    &format!("tenant {tenant:?} is over its request rate; retry in {seconds} s"),
                    Some(name),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.into());
                Err(response)
            }
            Err(QuotaRefusal::Saturated(_)) => Err(reply::overloaded(
                &format!("tenant {tenant:?} is at its limit of concurrent instances"),
                Some(name),
                1,
            )),
        }
    }
}
