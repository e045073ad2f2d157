//! Operations endpoints, answered by the host itself before routing:
//! `/healthz` (the process is up), `/readyz` (every function compiled and every model loaded),
//! `/metrics` (Prometheus text format).

use http::StatusCode;

use super::reply::{self, Body};
use super::Server;

impl Server {
    /// Answers an ops path, or `None` when `path` is not one.
    pub(super) fn ops(&self, path: &str) -> Option<http::Response<Body>> {
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
