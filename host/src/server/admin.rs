//! The admin API, `/admin/v1`, over [`Deployments`]:
//!
//! - `GET /admin/v1/tenants` — the tenants the caller may see;
//! - `GET /admin/v1/tenants/{t}/functions` — list;
//! - `PUT /admin/v1/tenants/{t}/functions/{name}?route=/p[&route=…][&memory_mb=…][&public=true]`
//!   with the component as the body — deploy (validate, compile, persist, swap);
//! - `GET …/functions/{name}` — inspect; `DELETE …/functions/{name}` — delete;
//! - `POST …/functions/{name}/rollback` — serve the previous version again.
//!
//! Every call needs `Authorization: Bearer <token>`: the operator's token acts for every tenant,
//! a tenant's key only for its own (another tenant's paths answer 403). A known path asked with
//! another method answers 405 with `Allow`.
//!
//! Invariant: nothing of a body is kept before the caller is authenticated and authorised and
//! the path, method and tenant are known; refusals answer right after the headers, and what the
//! client still sends of the body is read and dropped (bounded in bytes and time).

use std::sync::Arc;

use http::{header, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::limits::{discard, read_body};
use super::reply::{self, Body};
use crate::config::{CacheRule, RawLimits};
use crate::runtime::LoadError;
use crate::tenancy::deployments::{DeployError, Deployments};
use crate::tenancy::store::Spec;
use crate::tenancy::Keys;

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    reply::text(
        status,
        "application/json",
        serde_json::to_vec(value).expect("JSON values serialise"),
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    reply::error(status, code, message, None)
}

fn deploy_error(e: &DeployError) -> Response<Body> {
    let (status, code) = match e {
        DeployError::BadParameter { .. } => (StatusCode::BAD_REQUEST, "bad_parameter"),
        DeployError::QuotaExceeded(_) => (StatusCode::FORBIDDEN, "quota_exceeded"),
        DeployError::RouteConflict { .. } => (StatusCode::CONFLICT, "route_conflict"),
        DeployError::RouteNotAllowed(_) => (StatusCode::FORBIDDEN, "route_not_allowed"),
        DeployError::Load(LoadError::NotGranted { .. }) => (StatusCode::FORBIDDEN, "not_granted"),
        DeployError::Load(LoadError::OverBudget { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "compile_budget")
        }
        DeployError::Load(LoadError::Compiler { .. }) | DeployError::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
        DeployError::Load(_) => (StatusCode::BAD_REQUEST, "invalid_component"),
        DeployError::NoTenant(_) | DeployError::NoFunction { .. } => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        DeployError::NoPreviousVersion(_) => (StatusCode::CONFLICT, "no_previous_version"),
        DeployError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_failed"),
        DeployError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "cluster_unavailable"),
    };
    error(status, code, &e.to_string())
}

/// The deploy spec from the query string: `route` (repeatable), `public`, `env=NAME=value`
/// (repeatable), `cache_ttl_s` with `cache_vary` (repeatable), and any [`RawLimits`] by name.
fn spec_from_query(query: &str) -> Result<Spec, DeployError> {
    let bad = |param: &str, message: String| DeployError::BadParameter {
        param: param.into(),
        message,
    };
    let mut spec = Spec::default();
    let mut limits = Vec::new();
    let (mut cache_ttl, mut vary) = (None, Vec::new());
    let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
    for (k, v) in &pairs {
        match k.as_ref() {
            "route" => spec.routes.push(v.to_string()),
            "public" => {
                spec.public = match v.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad("public", format!("{v:?}: use true or false"))),
                }
            }
            "env" => {
                let (name, value) = v
                    .split_once('=')
                    .ok_or_else(|| bad("env", format!("{v:?}: use NAME=value")))?;
                spec.env.push((name.to_string(), value.to_string()));
            }
            "cache_ttl_s" => {
                let ttl = v
                    .parse()
                    .map_err(|_| bad("cache_ttl_s", format!("{v:?}: use seconds")))?;
                cache_ttl = Some(ttl);
            }
            "cache_vary" => vary.push(v.to_ascii_lowercase()),
            _ => limits.push((k.as_ref(), v.as_ref())),
        }
    }
    spec.cache = match (cache_ttl, vary.is_empty()) {
        (Some(ttl_s), _) => {
            let rule = CacheRule { ttl_s, vary };
            rule.check().map_err(|m| bad("cache_ttl_s", m))?;
            Some(rule)
        }
        (None, true) => None,
        (None, false) => return Err(bad("cache_vary", "needs cache_ttl_s".into())),
    };
    spec.limits = RawLimits::from_pairs(limits).map_err(|(param, message)| {
        bad(
            &param,
            format!("{message} (besides route, public, env, cache_ttl_s and cache_vary)"),
        )
    })?;
    Ok(spec)
}

/// Runs blocking deployment work (compiling, disk) off the async workers.
async fn blocking<T: Send + 'static>(
    deployments: &Arc<Deployments>,
    work: impl FnOnce(&Deployments) -> Result<T, DeployError> + Send + 'static,
) -> Result<T, Response<Body>> {
    let d = deployments.clone();
    match tokio::task::spawn_blocking(move || work(&d)).await {
        Ok(result) => result.map_err(|e| deploy_error(&e)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("deployment task failed: {e}"),
        )),
    }
}

/// The methods an admin path serves (an `Allow` value), or `None` when it names no endpoint.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    match segments {
        ["admin", "v1", "tenants"] | ["admin", "v1", "tenants", _, "functions"] => Some("GET"),
        ["admin", "v1", "tenants", _, "functions", _] => Some("GET, PUT, DELETE"),
        ["admin", "v1", "tenants", _, "functions", _, "rollback"] => Some("POST"),
        _ => None,
    }
}

/// Answers one `/admin` request.
pub async fn handle(
    deployments: &Arc<Deployments>,
    keys: &Keys,
    request: Request<Incoming>,
    body_within: std::time::Duration,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let mut body = Some(body);
    let response = answer(deployments, keys, &parts, &mut body, body_within).await;
    if let Some(unread) = body {
        discard(unread, deployments.max_component_bytes(), body_within);
    }
    response
}

/// Answers the request; takes the body out of `body` only to deploy it.
async fn answer(
    deployments: &Arc<Deployments>,
    keys: &Keys,
    request: &http::request::Parts,
    body: &mut Option<Incoming>,
    body_within: std::time::Duration,
) -> Response<Body> {
    let principal = keys.principal(
        request
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let path = request.uri.path().to_string();
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let method = request.method.clone();
    let query = request.uri.query().unwrap_or_default().to_string();
    let content_length = request
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let Some(principal) = principal else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API needs an operator token or a tenant key (Authorization: Bearer <token>)",
        );
    };
    match allowed_methods(&segments) {
        None => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no admin endpoint {path}"),
            )
        }
        Some(allow) if !allow.split(", ").any(|m| m == method.as_str()) => {
            return reply::method_not_allowed(&method, allow)
        }
        Some(_) => {}
    }
    let tenant = match segments.as_slice() {
        ["admin", "v1", "tenants"] => {
            let visible: Vec<_> = deployments
                .tenants()
                .filter(|t| principal.may_act_for(t.id()))
                .map(|t| {
                    let q = &t.config.quotas;
                    // The quotas as a manifest writes them: the tenant's own and its
                    // functions' limits, side by side.
                    let mut quotas = json!(RawLimits::from(&q.function_limits));
                    quotas["requests_per_minute"] = json!(q.requests_per_minute);
                    quotas["burst"] = json!(q.burst);
                    quotas["max_functions"] = json!(q.max_functions);
                    quotas["storage_mb"] = json!(q.storage_bytes >> 20);
                    json!({
                        "id": t.id(),
                        "hosts": t.config.hosts,
                        "grants": t.config.grants,
                        "quotas": quotas,
                    })
                })
                .collect();
            return json_reply(StatusCode::OK, &json!({ "tenants": visible }));
        }
        ["admin", "v1", "tenants", tenant, "functions", ..] => tenant.to_string(),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no admin endpoint {method} {path}"),
            )
        }
    };
    if !principal.may_act_for(&tenant) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("this key cannot act for tenant {tenant:?}"),
        );
    }
    if deployments.tenant(&tenant).is_err() {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no tenant {tenant:?}"),
        );
    }
    let name = segments.get(5).map(|s| s.to_string());
    let action = segments.get(6).copied();
    let result = match (&method, name, action, segments.len()) {
        (&Method::GET, None, None, 5) => blocking(deployments, move |d| d.list(&tenant))
            .await
            .map(|list| json!({ "functions": list })),
        (&Method::GET, Some(name), None, 6) => {
            blocking(deployments, move |d| d.info(&tenant, &name))
                .await
                .map(|i| json!(i))
        }
        (&Method::PUT, Some(name), None, 6) => {
            let spec = match spec_from_query(&query) {
                Ok(s) => s,
                Err(e) => return deploy_error(&e),
            };
            let upload = body.take().expect("only a deploy takes the body, once");
            let body = match read_body(
                upload,
                content_length,
                deployments.max_component_bytes(),
                body_within,
            )
            .await
            {
                Ok(b) => b,
                Err(refusal) => return refusal.response("admin"),
            };
            if body.is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "empty_body",
                    "send the component (.wasm) as the request body",
                );
            }
            deployments
                .deploy(&tenant, &name, spec, body)
                .await
                .map(|i| json!(i))
                .map_err(|e| deploy_error(&e))
        }
        (&Method::DELETE, Some(name), None, 6) => deployments
            .delete(&tenant, &name)
            .await
            .map(|()| json!({ "deleted": name }))
            .map_err(|e| deploy_error(&e)),
        (&Method::POST, Some(name), Some("rollback"), 7) => deployments
            .rollback(&tenant, &name)
            .await
            .map(|i| json!(i))
            .map_err(|e| deploy_error(&e)),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no admin endpoint {method} {path}"),
            )
        }
    };
    match result {
        Ok(value) => json_reply(StatusCode::OK, &value),
        Err(response) => response,
    }
}
