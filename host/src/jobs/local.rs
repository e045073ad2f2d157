//! The in-process queue of a single node: jobs, their requests and results in memory, bounded
//! by `max_queued` (per tenant and in all) and `local_results_mb` (the oldest finished jobs are
//! forgotten first, then answer `job_expired` like expired ones). Nothing survives a restart.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{now_ms, Claimed, JobError, JobInfo, JobRequest, JobResponse, NewJob, Status};
use crate::config::JobsConfig;

struct Entry {
    info: JobInfo,
    owner: Option<String>,
    caller: Option<String>,
    request: Option<JobRequest>,
    response: Option<JobResponse>,
    callback: Option<String>,
    /// Unix ms after which a finished job is forgotten.
    expires: Option<u64>,
}

#[derive(Default)]
struct State {
    jobs: HashMap<String, Entry>,
    queue: VecDeque<String>,
    /// Finished jobs, oldest first, and the bytes their results hold.
    finished: VecDeque<String>,
    result_bytes: u64,
    /// Jobs queued or running, per tenant ("" for the operator's functions).
    active: HashMap<String, u64>,
}

pub(super) struct LocalQueue {
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    max_queued: u64,
    max_per_tenant: u64,
    max_result_bytes: u64,
    keep_ms: u64,
}

impl LocalQueue {
    pub(super) fn new(config: &JobsConfig) -> Self {
        LocalQueue {
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
            max_queued: config.max_queued,
            max_per_tenant: config.max_queued_per_tenant,
            max_result_bytes: config.local_results_mb << 20,
            keep_ms: config.result_ttl_s * 1000,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn submit(&self, info: &JobInfo, job: NewJob) -> Result<(), JobError> {
        let mut s = self.state();
        expire(&mut s);
        let tenant = job.owner.clone().unwrap_or_default();
        let active: u64 = s.active.values().sum();
        if active >= self.max_queued {
            return Err(JobError::Full);
        }
        if s.active.get(&tenant).copied().unwrap_or(0) >= self.max_per_tenant {
            return Err(JobError::TenantFull(tenant));
        }
        *s.active.entry(tenant).or_default() += 1;
        s.queue.push_back(info.id.clone());
        s.jobs.insert(
            info.id.clone(),
            Entry {
                info: info.clone(),
                owner: job.owner,
                caller: job.caller,
                request: Some(job.request),
                response: None,
                callback: job.callback,
                expires: None,
            },
        );
        drop(s);
        self.wake.notify_one();
        Ok(())
    }

    pub(super) fn info(&self, id: &str) -> Option<(JobInfo, Option<String>)> {
        let mut s = self.state();
        expire(&mut s);
        s.jobs.get(id).map(|e| (e.info.clone(), e.caller.clone()))
    }

    pub(super) fn response(&self, id: &str) -> Option<JobResponse> {
        self.state().jobs.get(id).and_then(|e| e.response.clone())
    }

    pub(super) fn cancel(&self, id: &str) -> bool {
        let mut s = self.state();
        let Some(entry) = s.jobs.get_mut(id) else {
            return false;
        };
        if entry.info.status != Status::Queued {
            return false;
        }
        entry.info.status = Status::Cancelled;
        entry.info.finished = Some(now_ms());
        entry.expires = Some(now_ms() + self.keep_ms);
        entry.request = None;
        let tenant = entry.owner.clone().unwrap_or_default();
        s.queue.retain(|q| q != id);
        s.finished.push_back(id.to_string());
        leave(&mut s, &tenant);
        true
    }

    /// The next queued job, waiting for one.
    pub(super) async fn next(&self) -> Option<Claimed> {
        loop {
            let notified = self.wake.notified();
            if let Some(claimed) = self.take() {
                return Some(claimed);
            }
            notified.await;
        }
    }

    fn take(&self) -> Option<Claimed> {
        let mut s = self.state();
        while let Some(id) = s.queue.pop_front() {
            let Some(entry) = s.jobs.get_mut(&id) else {
                continue;
            };
            if entry.info.status != Status::Queued {
                continue;
            }
            entry.info.status = Status::Running;
            entry.info.started = Some(now_ms());
            entry.info.attempts += 1;
            return Some(Claimed {
                info: entry.info.clone(),
                request: entry.request.clone()?,
                owner: entry.owner.clone(),
                callback: entry.callback.clone(),
                reclaimed: false,
                entry: id,
                given_up: None,
            });
        }
        None
    }

    /// Jobs waiting per function, and the oldest one's creation time (Unix ms).
    pub(super) fn waiting(&self) -> Vec<(String, u64, u64)> {
        let s = self.state();
        let mut by_function: HashMap<String, (u64, u64)> = HashMap::new();
        for id in &s.queue {
            if let Some(e) = s.jobs.get(id).filter(|e| e.info.status == Status::Queued) {
                let entry = by_function
                    .entry(e.info.function.clone())
                    .or_insert((0, u64::MAX));
                entry.0 += 1;
                entry.1 = entry.1.min(e.info.created);
            }
        }
        by_function
            .into_iter()
            .map(|(f, (n, oldest))| (f, n, oldest))
            .collect()
    }

    /// Puts a job taken while draining back at the front.
    pub(super) fn release(&self, id: &str) {
        let mut s = self.state();
        if let Some(entry) = s.jobs.get_mut(id) {
            entry.info.status = Status::Queued;
            entry.info.attempts = entry.info.attempts.saturating_sub(1);
            s.queue.push_front(id.to_string());
        }
    }

    /// Records the outcome; returns the job as finished.
    pub(super) fn finish(&self, id: &str, outcome: Result<JobResponse, String>) -> Option<JobInfo> {
        let mut s = self.state();
        let entry = s.jobs.get_mut(id)?;
        let now = now_ms();
        entry.info.finished = Some(now);
        entry.expires = Some(now + self.keep_ms);
        entry.request = None;
        let mut bytes = 0;
        match outcome {
            Ok(response) => {
                entry.info.status = Status::Done;
                bytes = response.body.len() as u64;
                entry.response = Some(response);
            }
            Err(reason) => {
                entry.info.status = Status::Failed;
                entry.info.error = Some(reason);
            }
        }
        let info = entry.info.clone();
        let tenant = entry.owner.clone().unwrap_or_default();
        s.result_bytes += bytes;
        s.finished.push_back(id.to_string());
        leave(&mut s, &tenant);
        while s.result_bytes > self.max_result_bytes {
            let Some(old) = s.finished.pop_front() else {
                break;
            };
            forget(&mut s, &old);
        }
        Some(info)
    }
}

fn leave(s: &mut State, tenant: &str) {
    if let Some(n) = s.active.get_mut(tenant) {
        *n = n.saturating_sub(1);
    }
}

fn forget(s: &mut State, id: &str) {
    if let Some(e) = s.jobs.remove(id) {
        let bytes = e.response.map_or(0, |r| r.body.len() as u64);
        s.result_bytes = s.result_bytes.saturating_sub(bytes);
    }
}

/// Forgets finished jobs past their expiry (the oldest first).
fn expire(s: &mut State) {
    let now = now_ms();
    while let Some(id) = s.finished.front() {
        let due = s
            .jobs
            .get(id)
            .and_then(|e| e.expires)
            .is_none_or(|at| at <= now);
        if !due {
            break;
        }
        let id = s.finished.pop_front().expect("front exists");
        forget(s, &id);
    }
}
