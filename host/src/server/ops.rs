//! Operations endpoints, answered by the host itself before routing:
//! `/healthz` (the process is up), `/readyz` (every function compiled and every model loaded),
//! `/metrics` (Prometheus text format). They answer GET and HEAD (hyper sends HEAD's headers
//! without the body); any other method gets 405 with `Allow`.

use http::{Method, StatusCode};

use super::reply::{self, Body};
use super::Server;

impl Server {
    /// Answers an ops path, or `None` when `path` is not one.
    pub(super) fn ops(&self, method: &Method, path: &str) -> Option<http::Response<Body>> {
        let is_ops = matches!(path, "/healthz" | "/readyz" | "/metrics");
        if is_ops && method != Method::GET && method != Method::HEAD {
            return Some(reply::method_not_allowed(method, "GET, HEAD"));
        }
        Some(match path {
            "/healthz" => reply::text(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
            "/readyz" if self.deployments.load().is_some() => {
                reply::text(StatusCode::OK, "application/json", r#"{"status":"ready"}"#)
            }
            "/readyz" => reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "functions are still loading",
                None,
            ),
            "/metrics" => reply::text(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self.metrics.render(),
            ),
            _ => return None,
        })
    }
}
