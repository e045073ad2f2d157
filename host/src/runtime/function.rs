//! A loaded function and one request's run in a fresh instance.
//!
//! Limits enforced here, per request:
//! - linear memory: the store's limiter refuses growth past the cap;
//! - CPU: every epoch tick spent in guest code is counted; the guest yields to the executor at
//!   each tick (so a busy guest never holds a worker thread) and is interrupted when the budget
//!   is spent. A guest that has run longer than [`LONG_RUNNING_MS`] yields several times per
//!   tick, so short requests queued behind it go first (it still runs at full speed alone);
//! - wall clock: the whole run (instantiation, handler, streaming the body) is bounded.
//!
//! Concurrency is bounded by the caller (the server's limits) before [`Function::invoke`].
//! The response head gets the host's own `Server-Timing` entry (model inference the request
//! waited on) beside the guest's.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use wasmtime::{Store, Trap, UpdateDeadline};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use super::interfaces::{HostInterface, InstanceStates};
use super::outbound::Outbound;
use super::sandbox::Sandbox;
use crate::config::{CacheRule, FunctionConfig, Limits};
use crate::telemetry::{HostTiming, Metrics};

/// Guest time after which a request counts as long-running.
pub const LONG_RUNNING_MS: u64 = 10;
/// Yields per epoch tick of a long-running guest: each one lets every task queued on the
/// worker run first, so under contention it gets about this much less of the CPU than short
/// requests.
const LONG_RUNNING_YIELDS: usize = 16;

/// How a request's run failed; the server maps each to a status.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("function {function:?} used up its CPU time ({cpu_ms} ms)")]
    CpuDeadline { function: String, cpu_ms: u64 },
    #[error("function {function:?} did not finish within {timeout_ms} ms")]
    Timeout { function: String, timeout_ms: u64 },
    #[error("function {function:?} ran out of memory (cap {memory_mb} MiB): {message}")]
    OutOfMemory {
        function: String,
        memory_mb: u64,
        message: String,
    },
    #[error("function {function:?} trapped: {message}")]
    Trap { function: String, message: String },
    #[error("function {function:?} returned an error response: {message}")]
    GuestError { function: String, message: String },
    #[error("function {function:?} finished without sending a response")]
    NoResponse { function: String },
}

/// A function ready to serve: its pre-instantiated component and limits.
pub struct Function {
    name: Arc<str>,
    /// SHA-256 of its component, lowercase hex.
    sha256: String,
    cache: Option<CacheRule>,
    pre: ProxyPre<Sandbox>,
    limits: Limits,
    env: Vec<(String, String)>,
    outbound: Arc<Outbound>,
    cpu_ticks: u64,
    long_running_ticks: u64,
    metrics: Arc<Metrics>,
    /// The host interfaces it was granted.
    interfaces: Vec<Arc<dyn HostInterface>>,
}

impl Function {
    pub(super) fn new(
        config: &FunctionConfig,
        sha256: String,
        pre: ProxyPre<Sandbox>,
        tick: Duration,
        metrics: Arc<Metrics>,
        interfaces: Vec<Arc<dyn HostInterface>>,
    ) -> Self {
        let tick_ms = tick.as_millis().max(1) as u64;
        Function {
            name: config.name.as_str().into(),
            sha256,
            cache: config.cache.clone(),
            pre,
            limits: config.limits.clone(),
            env: config.env.clone(),
            outbound: Arc::new(Outbound::new(&config.outbound)),
            cpu_ticks: config.limits.cpu_ms.div_ceil(tick_ms).max(1),
            long_running_ticks: LONG_RUNNING_MS.div_ceil(tick_ms),
            metrics,
            interfaces,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of its component (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Its result cache rule, if any.
    pub fn cache(&self) -> Option<&CacheRule> {
        self.cache.as_ref()
    }

    /// Where it may send outbound HTTP (also where its jobs' callbacks may go).
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs one request in a fresh instance. `hold` (e.g. a concurrency permit) is kept until the
    /// instance is gone, which may be after the response head is returned, while the body streams.
    pub async fn invoke<H: Send + 'static>(
        &self,
        request: hyper::Request<Full<Bytes>>,
        hold: H,
    ) -> Result<hyper::Response<HyperOutgoingBody>, InvokeError> {
        let name = self.name.to_string();
        let timing = Arc::new(HostTiming::default());
        let mut store = Store::new(
            self.pre.engine(),
            Sandbox::new(
                &name,
                &self.env,
                self.outbound.clone(),
                self.limits.memory_bytes,
                InstanceStates::new(&self.interfaces, &self.limits, &timing),
            ),
        );
        store.limiter(|s| &mut s.memory);
        let memory_hit = store.data().memory.hit_flag();
        let budget = self.cpu_ticks;
        let long_running = self.long_running_ticks;
        let mut used = 0u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            used += 1;
            if used >= budget {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // tokio's own yield defers the wake-up to the back of the run queue, so other
                // requests on this worker run before the guest resumes (a plain self-wake
                // would land in the LIFO slot and resume the guest first).
                let yields = if used > long_running {
                    LONG_RUNNING_YIELDS
                } else {
                    1
                };
                Ok(UpdateDeadline::YieldCustom(
                    1,
                    Box::pin(async move {
                        for _ in 0..yields {
                            tokio::task::yield_now().await;
                        }
                    }),
                ))
            }
        });

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let mut http = store.data_mut().http();
        let wasm_request = http
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| self.trap(&e))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| self.trap(&e))?;

        let pre = self.pre.clone();
        let wall = Duration::from_millis(self.limits.timeout_ms);
        let limits = self.limits.clone();
        let metrics = self.metrics.clone();
        let label = Metrics::label(&name);
        let task_name = name.clone();
        let task = tokio::spawn(async move {
            let in_use = metrics.instances_in_use.get_or_create(&label).clone();
            in_use.inc();
            let run = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, wasm_request, out)
                    .await
            };
            let result = match tokio::time::timeout(wall, run).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(classify(
                    &task_name,
                    &limits,
                    &e,
                    memory_hit.load(Ordering::Relaxed),
                )),
                Err(_) => Err(InvokeError::Timeout {
                    function: task_name.clone(),
                    timeout_ms: limits.timeout_ms,
                }),
            };
            drop(store);
            in_use.dec();
            drop(hold);
            match &result {
                Err(InvokeError::CpuDeadline { .. } | InvokeError::Timeout { .. }) => {
                    metrics.timeouts.get_or_create(&label).inc();
                }
                Err(e) => {
                    metrics.traps.get_or_create(&label).inc();
                    tracing::warn!(function = %task_name, error = %e, "instance failed");
                }
                Ok(()) => {}
            }
            result
        });

        match receiver.await {
            Ok(Ok(mut response)) => {
                if let Some(entry) = timing.server_timing() {
                    if let Ok(value) = hyper::header::HeaderValue::from_str(&entry) {
                        response.headers_mut().append(
                            hyper::header::HeaderName::from_static("server-timing"),
                            value,
                        );
                    }
                }
                Ok(response)
            }
            Ok(Err(code)) => Err(InvokeError::GuestError {
                function: name,
                message: format!("{code:?}"),
            }),
            Err(_) => match task.await {
                Ok(Ok(())) => Err(InvokeError::NoResponse { function: name }),
                Ok(Err(e)) => Err(e),
                Err(join) => Err(InvokeError::Trap {
                    function: name,
                    message: join.to_string(),
                }),
            },
        }
    }

    fn trap(&self, e: &wasmtime::Error) -> InvokeError {
        InvokeError::Trap {
            function: self.name.to_string(),
            message: format!("{e:#}"),
        }
    }
}

fn classify(
    function: &str,
    limits: &Limits,
    error: &wasmtime::Error,
    memory_hit: bool,
) -> InvokeError {
    let function = function.to_string();
    if matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
        return InvokeError::CpuDeadline {
            function,
            cpu_ms: limits.cpu_ms,
        };
    }
    let message = format!("{error:#}");
    if memory_hit {
        InvokeError::OutOfMemory {
            function,
            memory_mb: limits.memory_bytes >> 20,
            message,
        }
    } else {
        InvokeError::Trap { function, message }
    }
}
