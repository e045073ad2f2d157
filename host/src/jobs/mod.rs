//! Asynchronous requests (`Prefer: respond-async`): jobs queued, run by workers under the same
//! limits as a direct call, their responses kept for a while; and the result cache.
//!
//! - [`local`]: the in-process queue of a single node (nothing survives a restart);
//! - [`shared`]: the queue in Redis (a Stream with one consumer group, every node's workers):
//!   at-least-once, a job whose node stopped is claimed again after `visibility_ms`, a job
//!   failed `max_attempts` times goes to a dead-letter stream;
//! - [`cache`]: responses by request, in Redis or in process, bounded in bytes;
//! - [`callback`]: the signed POST a job makes when it finishes.
//!
//! Invariants: a job's request is stored as the guest will see it (credentials already
//! removed); the first result a job reports is the one it keeps (a second run of a reclaimed
//! job cannot change it); every queue, result store and cache is bounded (`[jobs]`), and a
//! submission beyond a bound is refused, never dropped later. How a job runs is the server's
//! ([`Executor`]); this layer only queues, stores and delivers.

pub mod cache;
pub mod callback;
mod local;
mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cluster::{Cluster, ClusterError};
use crate::config::JobsConfig;
use crate::telemetry::Metrics;

/// A request as a job keeps it: what the guest will see.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, Vec<u8>)>,
    #[serde(skip)]
    pub body: Bytes,
}

/// A function's response as a job keeps it (and the cache).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResponse {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    #[serde(skip)]
    pub body: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "done" => Status::Done,
            "failed" => Status::Failed,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }
}

/// A job as `GET /jobs/{id}` shows it. Times are Unix milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: String,
    pub status: Status,
    pub function: String,
    pub created: u64,
    pub started: Option<u64>,
    pub finished: Option<u64>,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A job to queue.
pub struct NewJob {
    pub function: String,
    /// The tenant owning the function (None: the operator's).
    pub owner: Option<String>,
    /// Who submitted it (`operator`, `tenant:<id>`), None when anonymous: then the id alone
    /// reads it.
    pub caller: Option<String>,
    pub request: JobRequest,
    /// Where to POST the summary when it finishes (already checked against the allow-list).
    pub callback: Option<String>,
}

/// What running a job gave.
pub enum Run {
    Done(JobResponse),
    /// The function or its tenant is at its concurrency limit: try again shortly.
    Busy,
    /// It cannot run (the function is no longer deployed): the job fails with this reason.
    Failed(String),
}

/// What runs a job: the server's, which routes it like a request.
pub type Executor =
    Arc<dyn Fn(String, JobRequest) -> Pin<Box<dyn Future<Output = Run> + Send>> + Send + Sync>;

/// Why a job call failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("tenant {0:?} has its maximum of queued jobs; retry later")]
    TenantFull(String),
    #[error("the job queue is full; retry later")]
    Full,
    #[error("no such job")]
    NotFound,
    #[error("the job finished more than result_ttl_s ago; its result is gone")]
    Expired,
    #[error("the job is {0}, not {1}")]
    WrongState(&'static str, &'static str),
    #[error("jobs cannot be queued now ({0}); nothing was queued")]
    Unavailable(#[from] ClusterError),
    #[error("this node is shutting down and takes no jobs")]
    Draining,
}

/// Who reads a job: the caller's principal as submitted (`operator`, `tenant:<id>`), or None.
pub type Reader<'a> = Option<&'a str>;

fn may_read(caller: &Option<String>, reader: Reader) -> bool {
    match caller {
        None => true,
        Some(owner) => reader == Some("operator") || reader == Some(owner.as_str()),
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A new job id: its creation time (hex ms) and 128 random bits.
fn new_id(created: u64) -> String {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).expect("the OS has randomness");
    format!("j{created:x}{}", hex::encode(random))
}

/// The creation time an id carries, if it is one of ours.
fn created_of(id: &str) -> Option<u64> {
    let hex_part = id.strip_prefix('j')?;
    if hex_part.len() < 33
        || hex_part.len() > 48
        || !hex_part.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    u64::from_str_radix(&hex_part[..hex_part.len() - 32], 16).ok()
}

/// A missing job: expired when its id is older than the result TTL, else never known.
fn missing(id: &str, ttl_s: u64) -> JobError {
    match created_of(id) {
        Some(created) if now_ms().saturating_sub(created) > ttl_s * 1000 => JobError::Expired,
        _ => JobError::NotFound,
    }
}

enum Backend {
    Local(local::LocalQueue),
    Shared(shared::SharedQueue),
}

/// This node's jobs.
pub struct Jobs {
    backend: Backend,
    config: JobsConfig,
    metrics: Arc<Metrics>,
    /// Callback rules: by tenant id, and the operator's under "".
    callbacks: HashMap<String, callback::CallbackRule>,
    cache: cache::ResultCache,
    draining: AtomicBool,
    running: AtomicUsize,
    drained: tokio::sync::Notify,
}

impl Jobs {
    /// Jobs in Redis when `cluster` is given, else in process.
    pub fn new(
        config: &JobsConfig,
        cluster: Option<Arc<Cluster>>,
        metrics: Arc<Metrics>,
        callbacks: HashMap<String, callback::CallbackRule>,
    ) -> Arc<Self> {
        let cache = cache::ResultCache::new(cluster.clone(), config.cache_max_mb << 20);
        let backend = match cluster {
            Some(c) => Backend::Shared(shared::SharedQueue::new(c, config)),
            None => Backend::Local(local::LocalQueue::new(config)),
        };
        Arc::new(Jobs {
            backend,
            config: config.clone(),
            metrics,
            callbacks,
            cache,
            draining: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
        })
    }

    pub fn config(&self) -> &JobsConfig {
        &self.config
    }

    /// The result cache (in Redis with a cluster, else in process).
    pub fn cache(&self) -> &cache::ResultCache {
        &self.cache
    }

    /// Where callbacks of `owner`'s functions (None: the operator's) may go and what signs
    /// them; None when it has no `callback_secret`.
    pub fn callback_rule(&self, owner: Option<&str>) -> Option<&callback::CallbackRule> {
        self.callbacks.get(owner.unwrap_or(""))
    }

    /// Queues a job (202) or says why not.
    pub async fn submit(&self, job: NewJob) -> Result<JobInfo, JobError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(JobError::Draining);
        }
        let created = now_ms();
        let info = JobInfo {
            id: new_id(created),
            status: Status::Queued,
            function: job.function.clone(),
            created,
            started: None,
            finished: None,
            attempts: 0,
            error: None,
        };
        match &self.backend {
            Backend::Local(q) => q.submit(&info, job)?,
            Backend::Shared(q) => q.submit(&info, job).await?,
        }
        self.metrics
            .jobs
            .submitted
            .get_or_create(&Metrics::label(&info.function))
            .inc();
        Ok(info)
    }

    pub async fn info(&self, id: &str, reader: Reader<'_>) -> Result<JobInfo, JobError> {
        let found = match &self.backend {
            Backend::Local(q) => q.info(id),
            Backend::Shared(q) => q.info(id).await?,
        };
        match found {
            Some((info, caller)) if may_read(&caller, reader) => Ok(info),
            // Someone else's job is answered like a missing one: no existence oracle.
            Some(_) => Err(JobError::NotFound),
            None => Err(missing(id, self.config.result_ttl_s)),
        }
    }

    /// A finished job's response.
    pub async fn result(&self, id: &str, reader: Reader<'_>) -> Result<JobResponse, JobError> {
        let info = self.info(id, reader).await?;
        if info.status != Status::Done {
            return Err(JobError::WrongState(info.status.as_str(), "done"));
        }
        let found = match &self.backend {
            Backend::Local(q) => q.response(id),
            Backend::Shared(q) => q.response(id).await?,
        };
        found.ok_or_else(|| missing(id, self.config.result_ttl_s))
    }

    /// Cancels a queued job.
    pub async fn cancel(&self, id: &str, reader: Reader<'_>) -> Result<JobInfo, JobError> {
        let info = self.info(id, reader).await?;
        if info.status != Status::Queued {
            return Err(JobError::WrongState(info.status.as_str(), "queued"));
        }
        let cancelled = match &self.backend {
            Backend::Local(q) => q.cancel(id),
            Backend::Shared(q) => q.cancel(id).await?,
        };
        if !cancelled {
            let now = self.info(id, reader).await?;
            return Err(JobError::WrongState(now.status.as_str(), "queued"));
        }
        self.info(id, reader).await
    }

    /// Starts `[jobs] workers` workers running jobs with `executor`.
    pub fn start(self: &Arc<Self>, executor: Executor) {
        for worker in 0..self.config.workers {
            let (jobs, executor) = (self.clone(), executor.clone());
            tokio::spawn(async move { jobs.work(worker, executor).await });
        }
        match &self.backend {
            Backend::Shared(q) => q.spawn_gauges(self.metrics.clone()),
            Backend::Local(_) => {
                let jobs = Arc::downgrade(self);
                tokio::spawn(async move {
                    let mut seen: Vec<String> = Vec::new();
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        let Some(jobs) = jobs.upgrade() else { return };
                        let Backend::Local(q) = &jobs.backend else {
                            return;
                        };
                        let now = now_ms();
                        let waiting = q.waiting();
                        let gauges = &jobs.metrics.jobs;
                        // Functions with nothing waiting any more go back to 0.
                        for function in seen.drain(..) {
                            let label = Metrics::label(&function);
                            gauges.queued.get_or_create(&label).set(0);
                            gauges.oldest_queued_seconds.get_or_create(&label).set(0);
                        }
                        for (function, count, oldest) in waiting {
                            let label = Metrics::label(&function);
                            gauges.queued.get_or_create(&label).set(count as i64);
                            let age = now.saturating_sub(oldest) / 1000;
                            gauges
                                .oldest_queued_seconds
                                .get_or_create(&label)
                                .set(age as i64);
                            seen.push(function);
                        }
                    }
                });
            }
        }
    }

    /// Stops taking jobs (a submission answers 503 `draining`, workers take no more).
    pub fn stop_taking(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Waits at most `limit` for the running jobs to finish. One still running then is run
    /// again by another node after `visibility_ms` (with Redis), or lost (single node).
    pub async fn finish_running(&self, limit: Duration) {
        self.stop_taking();
        let wait = async {
            loop {
                let notified = self.drained.notified();
                if self.running.load(Ordering::Relaxed) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            tracing::warn!(
                running = self.running.load(Ordering::Relaxed),
                "jobs still running at the drain limit"
            );
        }
    }

    async fn work(self: Arc<Self>, worker: usize, executor: Executor) {
        loop {
            if self.draining.load(Ordering::Relaxed) {
                return;
            }
            let next = match &self.backend {
                Backend::Local(q) => Ok(q.next().await),
                Backend::Shared(q) => q.next(worker).await,
            };
            let claimed = match next {
                Ok(Some(claimed)) => claimed,
                Ok(None) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "jobs: taking the next job failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if self.draining.load(Ordering::Relaxed) {
                // Taken just as the drain began: give it back for another worker or node.
                self.release(&claimed).await;
                return;
            }
            self.running.fetch_add(1, Ordering::Relaxed);
            self.run_one(worker, claimed, &executor).await;
            if self.running.fetch_sub(1, Ordering::Relaxed) == 1 {
                self.drained.notify_waiters();
            }
        }
    }

    async fn release(&self, claimed: &Claimed) {
        match &self.backend {
            Backend::Local(q) => q.release(&claimed.info.id),
            Backend::Shared(_) => {} // unacknowledged: claimed again after visibility_ms
        }
    }

    async fn run_one(&self, worker: usize, claimed: Claimed, executor: &Executor) {
        let label = Metrics::label(&claimed.info.function);
        if claimed.reclaimed {
            self.metrics.jobs.reclaimed.get_or_create(&label).inc();
        }
        let running = self.metrics.jobs.running.get_or_create(&label).clone();
        running.inc();
        let id = claimed.info.id.clone();
        let renew = match &self.backend {
            Backend::Shared(q) => Some(q.keep_claimed(worker, &claimed)),
            Backend::Local(_) => None,
        };
        let outcome = loop {
            if let Some(reason) = &claimed.given_up {
                break Err(reason.clone());
            }
            match executor(claimed.info.function.clone(), claimed.request.clone()).await {
                Run::Busy => tokio::time::sleep(Duration::from_millis(20)).await,
                Run::Done(response) => {
                    let max = self.config.max_result_mb << 20;
                    if response.body.len() as u64 > max {
                        break Err(format!(
                            "the response is larger than max_result_mb ({} MiB)",
                            self.config.max_result_mb
                        ));
                    }
                    break Ok(response);
                }
                Run::Failed(reason) => break Err(reason),
            }
        };
        if let Some(renew) = renew {
            renew.abort();
        }
        running.dec();
        let finished = match &self.backend {
            Backend::Local(q) => Ok(q.finish(&id, outcome)),
            Backend::Shared(q) => q.finish(&claimed, outcome).await,
        };
        match finished {
            Ok(Some(info)) => {
                let counter = match info.status {
                    Status::Done => &self.metrics.jobs.done,
                    _ => &self.metrics.jobs.failed,
                };
                counter.get_or_create(&label).inc();
                if let Some(url) = claimed.callback.clone() {
                    callback::deliver(self, url, claimed.owner.clone(), info);
                }
            }
            Ok(None) => {} // another run reported first; its result stands
            Err(e) => {
                tracing::warn!(job = %id, error = %e, "jobs: storing a result failed; the job runs again after visibility_ms")
            }
        }
    }
}

/// A job a worker has taken.
pub(crate) struct Claimed {
    pub info: JobInfo,
    pub request: JobRequest,
    pub owner: Option<String>,
    pub callback: Option<String>,
    /// Taken over from a node that stopped running it.
    pub reclaimed: bool,
    /// The queue's own handle (the Stream entry id).
    pub entry: String,
    /// Set when it ran `max_attempts` times already: it fails with this reason, unrun.
    pub given_up: Option<String>,
}
