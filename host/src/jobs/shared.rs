//! Jobs in Redis, run by every node: one Stream (`jobs:queue`) read by one consumer group
//! (`workers`), each node's workers its consumers; a job's request, state and result in a
//! hash (`jobs:job:<id>`). At least once: an entry is acknowledged only when its result is
//! stored; an entry idle for `visibility_ms` (its node stopped renewing it) is claimed by
//! another worker (`XAUTOCLAIM`); after `max_attempts` runs the job fails and its id goes to
//! `jobs:dead`. A job's first reported outcome is the one kept.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use super::{now_ms, Claimed, JobError, JobInfo, JobRequest, JobResponse, NewJob, Status};
use crate::cluster::{Cluster, ClusterError};
use crate::config::JobsConfig;
use crate::telemetry::Metrics;

const GROUP: &str = "workers";

/// A queue entry: its id and fields.
type Entry = (String, Vec<(String, String)>);
/// How long a worker waits for a new entry before looking for abandoned ones again.
const BLOCK: Duration = Duration::from_millis(1000);
/// Queued jobs are kept this long at most (beyond the result TTL).
const QUEUED_KEEP_MS: u64 = 7 * 86_400_000;

pub(super) struct SharedQueue {
    cluster: Arc<Cluster>,
    config: JobsConfig,
    submit: Script,
    start: Script,
    finish: Script,
    cancel: Script,
    /// One blocking connection per worker (a blocked read holds up its connection).
    readers: std::sync::Mutex<Vec<Option<ConnectionManager>>>,
}

fn text(v: &Value) -> String {
    redis::from_redis_value_ref::<String>(v).unwrap_or_default()
}

fn optional(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl SharedQueue {
    pub(super) fn new(cluster: Arc<Cluster>, config: &JobsConfig) -> Self {
        SharedQueue {
            cluster,
            config: config.clone(),
            submit: Script::new(include_str!("lua/submit.lua")),
            start: Script::new(include_str!("lua/start.lua")),
            finish: Script::new(include_str!("lua/finish.lua")),
            cancel: Script::new(include_str!("lua/cancel.lua")),
            readers: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn key(&self, suffix: &str) -> String {
        self.cluster.keys().key(&format!("jobs:{suffix}"))
    }

    fn job_key(&self, id: &str) -> String {
        self.key(&format!("job:{id}"))
    }

    fn keep_ms(&self) -> u64 {
        self.config.result_ttl_s * 1000
    }

    pub(super) async fn submit(&self, info: &JobInfo, job: NewJob) -> Result<(), JobError> {
        let head = serde_json::to_string(&job.request).expect("a request head serialises");
        let tenant = job.owner.unwrap_or_default();
        let mut invocation = self.submit.prepare_invoke();
        invocation
            .key(self.job_key(&info.id))
            .key(self.key("queue"))
            .key(self.key("active"))
            .key(self.key(&format!("waiting:{}", info.function)))
            .key(self.key("functions"))
            .arg(&info.id)
            .arg(&tenant)
            .arg(self.config.max_queued)
            .arg(self.config.max_queued_per_tenant)
            .arg(info.created)
            .arg(&info.function)
            .arg(head)
            .arg(job.request.body.as_ref())
            .arg(job.caller.unwrap_or_default())
            .arg(job.callback.unwrap_or_default())
            .arg(QUEUED_KEEP_MS + self.keep_ms());
        let mut conn = self.cluster.commands();
        let answer: String = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        match answer.as_str() {
            "ok" => Ok(()),
            "full" => Err(JobError::Full),
            _ => Err(JobError::TenantFull(tenant)),
        }
    }

    pub(super) async fn info(
        &self,
        id: &str,
        // (the job, who may read it)
    ) -> Result<Option<(JobInfo, Option<String>)>, JobError> {
        let mut conn = self.cluster.commands();
        let fields: Vec<Option<String>> = self
            .cluster
            .call(
                redis::cmd("HMGET")
                    .arg(self.job_key(id))
                    .arg(&[
                        "status", "function", "created", "started", "finished", "attempts",
                        "error", "caller",
                    ])
                    .query_async(&mut conn),
            )
            .await?;
        let get = |i: usize| fields.get(i).cloned().flatten();
        let Some(status) = get(0).as_deref().and_then(Status::parse) else {
            return Ok(None);
        };
        let number = |i: usize| get(i).and_then(|v| v.parse().ok());
        let info = JobInfo {
            id: id.to_string(),
            status,
            function: get(1).unwrap_or_default(),
            created: number(2).unwrap_or_default(),
            started: number(3),
            finished: number(4),
            attempts: number(5).unwrap_or_default() as u32,
            error: get(6),
        };
        Ok(Some((info, get(7).and_then(optional))))
    }

    pub(super) async fn response(&self, id: &str) -> Result<Option<JobResponse>, JobError> {
        let mut conn = self.cluster.commands();
        let (head, body): (Option<String>, Option<Vec<u8>>) = self
            .cluster
            .call(
                redis::cmd("HMGET")
                    .arg(self.job_key(id))
                    .arg("response")
                    .arg("response_body")
                    .query_async(&mut conn),
            )
            .await?;
        let Some(mut response) = head.and_then(|h| serde_json::from_str::<JobResponse>(&h).ok())
        else {
            return Ok(None);
        };
        response.body = Bytes::from(body.unwrap_or_default());
        Ok(Some(response))
    }

    pub(super) async fn cancel(&self, id: &str) -> Result<bool, JobError> {
        let mut invocation = self.cancel.prepare_invoke();
        invocation
            .key(self.job_key(id))
            .key(self.key("active"))
            .arg(now_ms())
            .arg(self.keep_ms())
            .arg(self.key("waiting:"))
            .arg(id);
        let mut conn = self.cluster.commands();
        let done: i64 = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        Ok(done == 1)
    }

    fn consumer(&self, worker: usize) -> String {
        format!("{}-{worker}", self.cluster.node_id())
    }

    fn reader(&self, worker: usize) -> ConnectionManager {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if readers.len() <= worker {
            readers.resize(worker + 1, None);
        }
        readers[worker]
            .get_or_insert_with(|| self.cluster.blocking_connection(BLOCK))
            .clone()
    }

    async fn ensure_group(&self) -> Result<(), ClusterError> {
        let mut conn = self.cluster.commands();
        let created: redis::RedisResult<String> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.key("queue"))
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(ClusterError::Redis(e)),
        }
    }

    /// The next job for `worker`: one abandoned by a stopped node first, else a new one
    /// (waiting up to a second). None when there was none, or the entry needed no run.
    pub(super) async fn next(&self, worker: usize) -> Result<Option<Claimed>, ClusterError> {
        let consumer = self.consumer(worker);
        let queue = self.key("queue");
        let mut conn = self.cluster.commands();
        let abandoned: redis::RedisResult<(String, Vec<Entry>, Value)> = redis::cmd("XAUTOCLAIM")
            .arg(&queue)
            .arg(GROUP)
            .arg(&consumer)
            .arg(self.config.visibility_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await;
        let (entry, reclaimed) = match abandoned {
            Ok((_, entries, _)) if !entries.is_empty() => (entries.into_iter().next(), true),
            Ok(_) => (self.read_new(worker, &consumer).await?, false),
            Err(e) if e.code() == Some("NOGROUP") => {
                self.ensure_group().await?;
                return Ok(None);
            }
            Err(e) => {
                let e = ClusterError::Redis(e);
                self.cluster.mark_down(&e);
                return Err(e);
            }
        };
        let Some((entry, fields)) = entry else {
            return Ok(None);
        };
        let Some((_, id)) = fields.into_iter().find(|(k, _)| k == "id") else {
            return Ok(None);
        };
        self.start(entry, id, reclaimed).await
    }

    async fn read_new(&self, worker: usize, consumer: &str) -> Result<Option<Entry>, ClusterError> {
        let mut conn = self.reader(worker);
        type Read = Option<Vec<(String, Vec<Entry>)>>;
        let read: redis::RedisResult<Read> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.key("queue"))
            .arg(">")
            .query_async(&mut conn)
            .await;
        match read {
            Ok(streams) => Ok(streams
                .into_iter()
                .flatten()
                .flat_map(|(_, entries)| entries)
                .next()),
            Err(e) if e.code() == Some("NOGROUP") => {
                self.ensure_group().await?;
                Ok(None)
            }
            Err(e) => Err(ClusterError::Redis(e)),
        }
    }

    async fn start(
        &self,
        entry: String,
        id: String,
        reclaimed: bool,
    ) -> Result<Option<Claimed>, ClusterError> {
        let mut invocation = self.start.prepare_invoke();
        invocation
            .key(self.job_key(&id))
            .key(self.key("queue"))
            .arg(&entry)
            .arg(GROUP)
            .arg(now_ms())
            .arg(self.config.max_attempts)
            .arg(self.key("waiting:"));
        let mut conn = self.cluster.commands();
        let reply: Vec<Value> = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        let verdict = reply.first().map(text).unwrap_or_default();
        if verdict != "run" && verdict != "dead" {
            return Ok(None);
        }
        let field = |i: usize| reply.get(i).map(text).unwrap_or_default();
        let head: JobRequest = serde_json::from_str(&field(7)).unwrap_or(JobRequest {
            method: "GET".into(),
            uri: "/".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        });
        let body = reply
            .get(8)
            .and_then(|v| redis::from_redis_value_ref::<Vec<u8>>(v).ok())
            .unwrap_or_default();
        let attempts = field(6).parse().unwrap_or(0);
        let info = JobInfo {
            id,
            status: Status::Running,
            function: field(1),
            created: field(5).parse().unwrap_or(0),
            started: Some(now_ms()),
            finished: None,
            attempts,
            error: None,
        };
        Ok(Some(Claimed {
            info,
            request: JobRequest {
                body: Bytes::from(body),
                ..head
            },
            owner: optional(field(2)),
            callback: optional(field(4)),
            reclaimed,
            entry,
            given_up: (verdict == "dead").then(|| {
                format!("gave up after {attempts} attempts (the node running it stopped each time)")
            }),
        }))
    }

    /// Renews a running job's claim every third of `visibility_ms` until aborted.
    pub(super) fn keep_claimed(
        &self,
        worker: usize,
        claimed: &Claimed,
    ) -> tokio::task::JoinHandle<()> {
        let (cluster, queue) = (self.cluster.clone(), self.key("queue"));
        let (consumer, entry) = (self.consumer(worker), claimed.entry.clone());
        let every = Duration::from_millis(self.config.visibility_ms / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let mut conn = cluster.commands();
                let _: redis::RedisResult<Value> = redis::cmd("XCLAIM")
                    .arg(&queue)
                    .arg(GROUP)
                    .arg(&consumer)
                    .arg(0)
                    .arg(&entry)
                    .arg("JUSTID")
                    .query_async(&mut conn)
                    .await;
            }
        })
    }

    /// Stores a run's outcome; the job as finished, or None when another run reported first.
    pub(super) async fn finish(
        &self,
        claimed: &Claimed,
        outcome: Result<JobResponse, String>,
    ) -> Result<Option<JobInfo>, ClusterError> {
        let now = now_ms();
        let (status, head, body, error) = match &outcome {
            Ok(r) => (
                Status::Done,
                serde_json::to_string(r).expect("a response head serialises"),
                r.body.clone(),
                String::new(),
            ),
            Err(reason) => (Status::Failed, String::new(), Bytes::new(), reason.clone()),
        };
        let mut invocation = self.finish.prepare_invoke();
        invocation
            .key(self.job_key(&claimed.info.id))
            .key(self.key("queue"))
            .key(self.key("active"))
            .key(self.key("dead"))
            .arg(&claimed.entry)
            .arg(GROUP)
            .arg(status.as_str())
            .arg(now)
            .arg(head)
            .arg(body.as_ref())
            .arg(&error)
            .arg(self.keep_ms())
            .arg(if claimed.given_up.is_some() { "1" } else { "0" })
            .arg(&claimed.info.id);
        let mut conn = self.cluster.commands();
        let stored: i64 = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        Ok((stored == 1).then(|| JobInfo {
            status,
            finished: Some(now),
            error: optional(error),
            ..claimed.info.clone()
        }))
    }

    /// Jobs waiting per function and the age of the oldest, cluster-wide, into the gauges
    /// every two seconds.
    pub(super) fn spawn_gauges(&self, metrics: Arc<Metrics>) {
        let cluster = self.cluster.clone();
        let functions = self.key("functions");
        let prefix = self.key("waiting:");
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let mut conn = cluster.commands();
                let names: redis::RedisResult<Vec<String>> = redis::cmd("SMEMBERS")
                    .arg(&functions)
                    .query_async(&mut conn)
                    .await;
                let Ok(names) = names else { continue };
                let now = now_ms();
                for name in names {
                    let key = format!("{prefix}{name}");
                    let reply: redis::RedisResult<(u64, Vec<(String, u64)>)> = redis::pipe()
                        .cmd("ZCARD")
                        .arg(&key)
                        .cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(0)
                        .arg("WITHSCORES")
                        .query_async(&mut conn)
                        .await;
                    let Ok((count, oldest)) = reply else { continue };
                    let label = Metrics::label(&name);
                    metrics.jobs.queued.get_or_create(&label).set(count as i64);
                    let age = oldest
                        .first()
                        .map_or(0, |(_, at)| now.saturating_sub(*at) / 1000);
                    metrics
                        .jobs
                        .oldest_queued_seconds
                        .get_or_create(&label)
                        .set(age as i64);
                }
            }
        });
    }
}
