//! Operations endpoints, answered by the host itself before routing:
//! `/healthz` (the process is up), `/readyz` (every function compiled, every model loaded and
//! served by a worker; in a cluster also `cluster`: `connected`, or `degraded` while Redis does
//! not answer and the node serves its last-known state, which is still ready),
//! `/metrics` (Prometheus text format). They answer GET and HEAD (hyper sends HEAD's headers
//! without the body); any other method gets 405 with `Allow`.
//!
//! Invariant: `/metrics` (which names every tenant's functions) needs the operator token as
//! soon as the server knows any key; only a server without keys (the single-node default)
//! serves it to anyone.

use http::{Method, StatusCode};

use super::reply::{self, Body};
use super::Server;

impl Server {
    /// Answers an ops path, or `None` when `path` is not one.
    pub(super) fn ops(
        &self,
        method: &Method,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Option<http::Response<Body>> {
        let is_ops = matches!(path, "/healthz" | "/readyz" | "/metrics");
        if is_ops && method != Method::GET && method != Method::HEAD {
            return Some(reply::method_not_allowed(method, "GET, HEAD"));
        }
        Some(match path {
            "/healthz" => reply::text(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
            "/readyz" => match self.deployments.load().as_deref() {
                None => reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not_ready",
                    "functions are still loading",
                    None,
                ),
                Some(d) => match d.unavailable_models() {
                    down if down.is_empty() => {
                        let mut ready = serde_json::json!({"status": "ready"});
                        if let Some(cluster) = d.cluster() {
                            ready["cluster"] = serde_json::json!(cluster.state());
                        }
                        reply::text(StatusCode::OK, "application/json", ready.to_string())
                    }
                    down => reply::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "model_unavailable",
                        &format!("no worker serves model(s) {}", down.join(", ")),
                        None,
                    ),
                },
            },
            "/metrics" if !self.may_read_metrics(headers) => reply::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs the operator token (Authorization: Bearer <token>)",
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

    fn may_read_metrics(&self, headers: &http::HeaderMap) -> bool {
        if self.keys.is_empty() {
            return true;
        }
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.keys.principal(authorization) == Some(crate::tenancy::Principal::Operator)
    }
}
