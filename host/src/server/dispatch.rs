//! One request through the server: ops paths, routing, limits, the function, metrics.

use std::time::Instant;

use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::limits::read_body;
use super::reply::{self, Body};
use super::Server;
use crate::runtime::InvokeError;
use crate::telemetry::metrics::RequestLabels;
use crate::telemetry::Metrics;

impl Server {
    pub(super) async fn dispatch(&self, request: Request<Incoming>) -> Response<Body> {
        if let Some(response) = self.ops(request.method(), request.uri().path()) {
            return response;
        }
        let path = request.uri().path();
        if path == "/admin" || path.starts_with("/admin/") {
            return match self.deployments.load_full() {
                Some(deployments) => {
                    crate::tenancy::admin::handle(&deployments, &self.keys, request).await
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
        let Some(deployed) = routes
            .resolve(host.as_deref(), request.uri().path())
            .cloned()
        else {
            return reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no function is routed at {}", request.uri().path()),
                None,
            );
        };
        let function = &deployed.function;
        let name = function.name();
        let started = Instant::now();
        let response = match self.admit_tenant(&deployed, &request) {
            Ok(tenant_permit) => self.run(&deployed, request, tenant_permit).await,
            Err(refused) => refused.response(name),
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
                status: response.status().as_u16(),
            })
            .inc();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            self.metrics.rejected.get_or_create(&label).inc();
        }
        response
    }

    async fn run(
        &self,
        deployed: &super::Deployed,
        request: Request<Incoming>,
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
        let body = match read_body(body, content_length, function.limits().max_body_bytes).await {
            Ok(body) => body,
            Err(refusal) => return refusal.response(name),
        };
        let permit = match deployed.gate.enter() {
            Ok(permit) => permit,
            Err(refusal) => return refusal.response(name),
        };
        // wasi:http needs an authority; HTTP/1.0 clients may send no Host header.
        if parts.uri.authority().is_none() && !parts.headers.contains_key(header::HOST) {
            parts
                .headers
                .insert(header::HOST, header::HeaderValue::from_static("localhost"));
        }
        match function
            .invoke(
                Request::from_parts(parts, Full::new(body)),
                (permit, tenant_permit),
            )
            .await
        {
            Ok(response) => response,
            Err(error) => error_response(&error, name),
        }
    }
}

fn error_response(error: &InvokeError, function: &str) -> Response<Body> {
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
