//! One request through the server: ops paths, routing, limits, the function, metrics.

use std::time::{Duration, Instant};

use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::limits::{discard, read_body, Refusal};
use super::reply::{self, Body};
use super::Server;
use crate::routes;
use crate::runtime::InvokeError;
use crate::telemetry::metrics::{status_label, RequestLabels};
use crate::telemetry::Metrics;
use crate::tenancy::Principal;

/// The header in which a guest learns who called it: `operator`, `tenant:<id>`, or absent for
/// an anonymous caller. A client's own value is always removed.
pub const CALLER_HEADER: &str = "x-atelier-caller";

impl Server {
    pub(super) async fn dispatch(&self, request: Request<Incoming>) -> Response<Body> {
        if let Some(response) = self.ops(request.method(), request.uri().path(), request.headers())
        {
            return response;
        }
        if let Some(response) = super::site::reserved(request.method(), request.uri().path()) {
            return response;
        }
        if let Some(response) = self
            .jobs_api(request.method(), request.uri().path(), request.headers())
            .await
        {
            return response;
        }
        let path = request.uri().path();
        if path == "/admin" || path.starts_with("/admin/") {
            return match self.deployments.load_full() {
                Some(deployments) => {
                    let within = self.body_timeout();
                    super::admin::handle(&deployments, &self.keys, request, within).await
                }
                None => reply::overloaded("functions are still loading", None, 1),
            };
        }
        let Some(routes) = self.routes.load_full() else {
            return reply::overloaded("functions are still loading", None, 1);
        };
        let host = request.uri().host().map(str::to_string).or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
        let Some((deployed, prefix)) = routes
            .resolve(host.as_deref(), request.uri().path())
            .map(|(d, prefix)| (d.clone(), prefix.to_string()))
        else {
            let web_page = self.config.web_page.as_deref();
            if let Some(page) = super::site::page(request.method(), request.uri().path(), web_page)
            {
                return page;
            }
            let answer = reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no function is routed at {}", request.uri().path()),
                None,
            );
            discard(request.into_body(), 0, self.body_timeout());
            return answer;
        };
        let function = &deployed.function;
        let name = function.name();
        let started = Instant::now();
        let response = match self.admit_tenant(&deployed, &request).await {
            Ok((caller, tenant_permit)) => {
                self.run(&deployed, &prefix, request, caller, tenant_permit)
                    .await
            }
            Err(refused) => {
                let limit = function.limits().max_body_bytes;
                discard(request.into_body(), limit, self.body_timeout());
                refused.response(name)
            }
        };
        let label = Metrics::label(name);
        self.metrics
            .latency
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                function: name.to_string(),
                status: status_label(response.status().as_u16()),
            })
            .inc();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            self.metrics.rejected.get_or_create(&label).inc();
        }
        response
    }

    async fn run(
        &self,
        deployed: &crate::tenancy::Deployed,
        prefix: &str,
        request: Request<Incoming>,
        caller: Option<Principal>,
        tenant_permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Response<Body> {
        let function = &deployed.function;
        let name = function.name();
        let (mut parts, body) = request.into_parts();
        let content_length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let max_body = function.limits().max_body_bytes;
        let refused = |refusal: Refusal, body| {
            discard(body, max_body, self.body_timeout());
            refusal.response(name)
        };
        if content_length.is_some_and(|len| len > max_body) {
            return refused(Refusal::BodyTooLarge { max: max_body }, body);
        }
        let permit = match deployed.gate.enter() {
            Ok(permit) => permit,
            Err(saturated) => return refused(saturated.into(), body),
        };
        let body = match read_body(body, content_length, max_body, self.body_timeout()).await {
            Ok(body) => body,
            Err(refusal) => return refusal.response(name),
        };
        let asynchronous = super::jobs::wants_async(&parts.headers);
        let callback = parts.headers.remove(super::jobs::CALLBACK_HEADER);
        self.guest_headers(&mut parts.headers, deployed.owner.is_some(), caller.clone());
        routes::tell_mount_point(&mut parts.headers, prefix, parts.uri.path());
        // wasi:http needs an authority; HTTP/1.0 clients may send no Host header.
        if parts.uri.authority().is_none() && !parts.headers.contains_key(header::HOST) {
            parts
                .headers
                .insert(header::HOST, header::HeaderValue::from_static("localhost"));
        }
        let cached = self.cache_lookup(deployed, &parts, &body).await;
        if let Some(super::jobs::Cached::Hit(response)) = cached {
            return response;
        }
        if asynchronous {
            // Queued, not run: the permits go back now; the job takes its own when it runs.
            drop((permit, tenant_permit));
            return self.submit_job(deployed, parts, body, callback).await;
        }
        let request = Request::from_parts(parts, Full::new(body));
        let response = match function.invoke(request, (permit, tenant_permit)).await {
            Ok(response) => response,
            Err(error) => error_response(&error, name),
        };
        match cached {
            Some(super::jobs::Cached::Miss { key, ttl_s }) => {
                self.cache_store(function, key, ttl_s, response).await
            }
            _ => response,
        }
    }
}

impl Server {
    /// How long a client has to send a body (and a refused one is drained, at most).
    pub(super) fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.config.body_timeout_ms)
    }

    /// What a guest sees of the request's headers: the credentials gone (the operator's
    /// `strip_headers`, and always `Authorization` for a tenant's function), who called in
    /// [`CALLER_HEADER`].
    fn guest_headers(
        &self,
        headers: &mut http::HeaderMap,
        tenant_function: bool,
        caller: Option<Principal>,
    ) {
        let caller = caller.or_else(|| {
            let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok();
            self.keys.principal(authorization)
        });
        for name in &self.config.strip_headers {
            headers.remove(name.as_str());
        }
        if tenant_function {
            headers.remove(header::AUTHORIZATION);
        }
        headers.remove(CALLER_HEADER);
        let who = match caller {
            Some(Principal::Operator) => "operator".to_string(),
            Some(Principal::Tenant(t)) => format!("tenant:{t}"),
            None => return,
        };
        if let Ok(value) = header::HeaderValue::from_str(&who) {
            headers.insert(CALLER_HEADER, value);
        }
    }
}

pub(super) fn error_response(error: &InvokeError, function: &str) -> Response<Body> {
    let (status, code) = match error {
        InvokeError::CpuDeadline { .. } => (StatusCode::GATEWAY_TIMEOUT, "cpu_deadline"),
        InvokeError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        InvokeError::OutOfMemory { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "out_of_memory"),
        InvokeError::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "trap"),
        InvokeError::GuestError { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "guest_error"),
        InvokeError::NoResponse { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "no_response"),
    };
    reply::error(status, code, &error.to_string(), Some(function))
}
