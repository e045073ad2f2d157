//! Jobs over HTTP: `Prefer: respond-async` on any function route queues the request (202,
//! `Location: /jobs/{id}`); `GET /jobs/{id}`, `GET /jobs/{id}/result` (the function's response
//! replayed), `DELETE /jobs/{id}` (cancels a queued job); how a job runs (the [`Executor`]); and
//! the result cache of functions that declare one (`x-atelier-cache: hit|miss`).
//!
//! Invariants: a job is read only by whoever submitted it (its key, or the operator); a job
//! submitted without a key is read by its id alone (128 random bits); another's job answers
//! like a missing one. A submission holds the function's concurrency permit while its body is
//! read, like a direct call, and gives it back once queued; the job takes permits again when
//! it runs, waiting while the function or its tenant is busy. A cache hit for an asynchronous
//! request is answered at once (200, `x-atelier-cache: hit`), no job made.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::dispatch::{error_response, CALLER_HEADER};
use super::reply::{self, Body};
use super::Server;
use crate::jobs::cache::CacheKey;
use crate::jobs::{callback, Executor, JobError, JobRequest, JobResponse, NewJob, Run};
use crate::runtime::Function;
use crate::tenancy::Deployed;

/// The header a client names its callback URL in (removed before the guest sees the request).
pub const CALLBACK_HEADER: &str = "atelier-callback";
/// The response header saying whether the cache answered.
pub const CACHE_HEADER: &str = "x-atelier-cache";

/// Whether `Prefer` asks for `respond-async` (RFC 7240; a list, any case).
pub(super) fn wants_async(headers: &http::HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// A cache lookup's outcome for a function with a cache rule.
pub(super) enum Cached {
    Hit(Response<Body>),
    Miss { key: String, ttl_s: u64 },
}

fn job_error(e: &JobError) -> Response<Body> {
    let (status, code) = match e {
        JobError::TenantFull(_) => (StatusCode::TOO_MANY_REQUESTS, "queue_full"),
        JobError::Full => (StatusCode::SERVICE_UNAVAILABLE, "queue_full"),
        JobError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        JobError::Expired => (StatusCode::NOT_FOUND, "job_expired"),
        JobError::WrongState(_, "done") => (StatusCode::CONFLICT, "job_not_done"),
        JobError::WrongState(..) => (StatusCode::CONFLICT, "job_not_queued"),
        JobError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "jobs_unavailable"),
        JobError::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    };
    let mut response = reply::error(status, code, &e.to_string(), None);
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    reply::text(
        status,
        "application/json",
        serde_json::to_vec(value).expect("JSON serialises"),
    )
}

fn headers_of(map: &http::HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// A stored response as an HTTP response, with `x-atelier-cache` when given.
fn replay(stored: JobResponse, cache: Option<&'static str>) -> Response<Body> {
    let mut response = Response::new(reply::full(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (k, v) in stored.headers {
        if let (Ok(k), Ok(v)) = (
            header::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(&v),
        ) {
            response.headers_mut().append(k, v);
        }
    }
    if let Some(state) = cache {
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(state));
    }
    response
}

/// A function's whole response, at most `max` body bytes (None beyond, or on a body error).
async fn collect(response: Response<Body>, max: u64) -> Option<JobResponse> {
    let (parts, body) = response.into_parts();
    let body = http_body_util::Limited::new(body, max as usize)
        .collect()
        .await
        .ok()?
        .to_bytes();
    let headers = headers_of(&parts.headers)
        .into_iter()
        .filter(|(k, _)| k != "content-length" && k != "transfer-encoding")
        .collect();
    Some(JobResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    })
}

impl Server {
    /// `/jobs/{id}` and `/jobs/{id}/result`, or None when `path` is not under `/jobs`.
    pub(super) async fn jobs_api(
        &self,
        method: &Method,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Option<Response<Body>> {
        let rest = path.strip_prefix("/jobs/")?;
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let reader = self.keys.principal(authorization).map(|p| match p {
            crate::tenancy::Principal::Operator => "operator".to_string(),
            crate::tenancy::Principal::Tenant(t) => format!("tenant:{t}"),
        });
        let reader = reader.as_deref();
        let jobs = &self.jobs;
        Some(match rest.split('/').collect::<Vec<_>>().as_slice() {
            [id] => match *method {
                Method::GET | Method::HEAD => match jobs.info(id, reader).await {
                    Ok(info) => json(StatusCode::OK, &info),
                    Err(e) => job_error(&e),
                },
                Method::DELETE => match jobs.cancel(id, reader).await {
                    Ok(info) => json(StatusCode::OK, &info),
                    Err(e) => job_error(&e),
                },
                _ => reply::method_not_allowed(method, "GET, HEAD, DELETE"),
            },
            [id, "result"] => match *method {
                Method::GET | Method::HEAD => match jobs.result(id, reader).await {
                    Ok(stored) => replay(stored, None),
                    Err(e) => job_error(&e),
                },
                _ => reply::method_not_allowed(method, "GET, HEAD"),
            },
            _ => reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "use /jobs/{id} or /jobs/{id}/result",
                None,
            ),
        })
    }

    /// Queues a request already read and prepared for the guest.
    pub(super) async fn submit_job(
        &self,
        deployed: &Deployed,
        parts: http::request::Parts,
        body: Bytes,
        callback: Option<HeaderValue>,
    ) -> Response<Body> {
        let name = deployed.function.name();
        let owner = deployed.owner.as_ref().map(|o| o.tenant.id().to_string());
        let callback = match callback {
            None => None,
            Some(value) => match self.check_callback(owner.as_deref(), &value).await {
                Ok(url) => Some(url),
                Err(message) => {
                    return reply::error(
                        StatusCode::BAD_REQUEST,
                        "callback_not_allowed",
                        &message,
                        Some(name),
                    )
                }
            },
        };
        let caller = parts
            .headers
            .get(CALLER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let request = JobRequest {
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            headers: headers_of(&parts.headers),
            body,
        };
        let job = NewJob {
            function: name.to_string(),
            owner,
            caller,
            request,
            callback,
        };
        match self.jobs.submit(job).await {
            Ok(info) => {
                let mut response = json(
                    StatusCode::ACCEPTED,
                    &serde_json::json!({"id": info.id, "status": info.status, "function": info.function}),
                );
                if let Ok(location) = HeaderValue::from_str(&format!("/jobs/{}", info.id)) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            }
            Err(e) => job_error(&e),
        }
    }

    async fn check_callback(
        &self,
        owner: Option<&str>,
        value: &HeaderValue,
    ) -> Result<String, String> {
        let rule = self.jobs.callback_rule(owner).ok_or_else(|| {
            "callbacks need a callback_secret for this function's owner (the tenant's, or [jobs] for the operator's)".to_string()
        })?;
        let url = value
            .to_str()
            .map_err(|_| "the callback URL is not text".to_string())?;
        let uri = callback::check_url(url)?;
        callback::destination(&rule.outbound, &uri).await?;
        Ok(url.to_string())
    }

    /// The cache key of a request to a function with a cache rule, and the rule's TTL.
    fn cache_key(
        deployed: &Deployed,
        method: &str,
        uri: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Option<(String, u64)> {
        let function = &deployed.function;
        let rule = function.cache()?;
        let key = CacheKey {
            owner: deployed.owner.as_ref().map(|o| o.tenant.id()),
            component: function.sha256(),
            method,
            uri,
            body,
            vary: rule
                .vary
                .iter()
                .map(|h| (h.as_str(), headers.get(h.as_str()).map(|v| v.as_bytes())))
                .collect(),
        };
        Some((key.digest(), rule.ttl_s))
    }

    /// The cache's answer for a function that has a cache rule (None without one).
    pub(super) async fn cache_lookup(
        &self,
        deployed: &Deployed,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<Cached> {
        let uri = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let (key, ttl_s) =
            Self::cache_key(deployed, parts.method.as_str(), uri, &parts.headers, body)?;
        let label = crate::telemetry::Metrics::label(deployed.function.name());
        match self.jobs.cache().get(&key).await {
            Some(stored) => {
                self.metrics.jobs.cache_hits.get_or_create(&label).inc();
                Some(Cached::Hit(replay(stored, Some("hit"))))
            }
            None => {
                self.metrics.jobs.cache_misses.get_or_create(&label).inc();
                Some(Cached::Miss { key, ttl_s })
            }
        }
    }

    /// Keeps a 200 response in the cache (read whole, at most `max_result_mb`) and answers it.
    pub(super) async fn cache_store(
        &self,
        function: &Function,
        key: String,
        ttl_s: u64,
        response: Response<Body>,
    ) -> Response<Body> {
        if response.status() != StatusCode::OK {
            return response;
        }
        let max = self.jobs.config().max_result_mb << 20;
        match collect(response, max).await {
            Some(stored) => {
                self.jobs.cache().put(&key, &stored, ttl_s).await;
                replay(stored, Some("miss"))
            }
            None => reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "response_too_large",
                &format!(
                    "a cached function's response must fit in max_result_mb ({} MiB)",
                    max >> 20
                ),
                Some(function.name()),
            ),
        }
    }

    /// Runs jobs like requests: routed by their Host and path to the function they were
    /// submitted to, with its permits, its limits and its result cache.
    pub fn executor(self: &Arc<Self>) -> Executor {
        let server = Arc::downgrade(self);
        Arc::new(move |function, request| {
            let server = server.clone();
            Box::pin(async move {
                match server.upgrade() {
                    Some(server) => server.run_job(function, request).await,
                    None => Run::Busy,
                }
            })
        })
    }

    async fn run_job(&self, function: String, job: JobRequest) -> Run {
        let Some(routes) = self.routes.load_full() else {
            return Run::Busy;
        };
        let host = job
            .headers
            .iter()
            .find(|(k, _)| k == "host")
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::to_string);
        let path = job.uri.split('?').next().unwrap_or("/");
        let Some((deployed, _)) = routes.resolve(host.as_deref(), path) else {
            return Run::Failed(format!("function {function:?} is no longer deployed"));
        };
        if deployed.function.name() != function {
            return Run::Failed(format!(
                "function {function:?} is no longer deployed at {path}"
            ));
        }
        let deployed = deployed.clone();
        let tenant_permit = match &deployed.owner {
            Some(owner) => match owner.tenant.quota.enter() {
                Ok(permit) => Some(permit),
                Err(_) => return Run::Busy,
            },
            None => None,
        };
        let Ok(permit) = deployed.gate.enter() else {
            return Run::Busy;
        };
        let mut builder = Request::builder()
            .method(job.method.as_str())
            .uri(job.uri.as_str());
        for (k, v) in &job.headers {
            builder = builder.header(k.as_str(), v.as_slice());
        }
        let Ok(request) = builder.body(Full::new(job.body.clone())) else {
            return Run::Failed("the stored request is not valid HTTP".into());
        };
        let function = &deployed.function;
        let response = match function.invoke(request, (permit, tenant_permit)).await {
            Ok(response) => response,
            Err(error) => error_response(&error, function.name()),
        };
        let max = self.jobs.config().max_result_mb << 20;
        let Some(stored) = collect(response, max).await else {
            return Run::Failed(format!(
                "the response was larger than max_result_mb ({} MiB)",
                max >> 20
            ));
        };
        if stored.status == 200 {
            let mut headers = http::HeaderMap::new();
            for (k, v) in &job.headers {
                if let (Ok(k), Ok(v)) = (
                    header::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_bytes(v),
                ) {
                    headers.append(k, v);
                }
            }
            if let Some((key, ttl_s)) =
                Self::cache_key(&deployed, &job.method, &job.uri, &headers, &job.body)
            {
                self.jobs.cache().put(&key, &stored, ttl_s).await;
            }
        }
        Run::Done(stored)
    }
}
