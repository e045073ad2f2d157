//! The deployment registry in Redis, and the change log every node follows.
//!
//! Keys (under the cluster's prefix): `fn:<tenant>/<name>` a hash of `v:<N>` → the version's
//! spec (JSON, with its component's sha256), `current` and `next`; `fns` the set of deployed
//! functions; `blob:<sha256>` each component once, by content, with `blobrefs` counting the
//! versions that use it; `log` the change log (a Stream: `fn`, `op`, `version`, `seq`, `node`),
//! `seq` its sequence number; `epoch` names the registry's lifetime (a Redis that lost its data
//! comes back without one).
//!
//! Invariants: a change (deploy, rollback, delete) is one script that commits only when the
//! log's sequence number is still the one the caller has applied: two nodes changing at once
//! never lose an update, one of them is told `Stale`, catches up and tries again. Every commit
//! appends exactly one log entry. A blob is uploaded before the script that refers to it, with
//! an expiry the script removes, so an upload whose deploy failed does not stay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{Script, Value};

use super::{Cluster, ClusterError};

/// How long one blocking read of the log waits for a change.
pub const FOLLOW_BLOCK: Duration = Duration::from_millis(1000);
/// Seconds an uploaded component lives before a deploy refers to it.
const ORPHAN_BLOB_TTL_S: u64 = 3600;

macro_rules! script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("lua/common.lua"),
            include_str!(concat!("lua/", $file))
        ))
    };
}

/// A point in the change log: the entry's stream id and its sequence number (`0-0`, 0: before
/// the first change).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub id: String,
    pub seq: u64,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            id: "0-0".into(),
            seq: 0,
        }
    }
}

/// What a change script did.
#[derive(Debug)]
pub enum Commit {
    /// Committed as this log entry; `version` is the one now current (0 after a delete).
    Done { position: Position, version: u32 },
    /// The log moved on since the caller's position: catch up, check again, retry.
    Stale,
    /// The function (or the version) is not in the registry.
    Gone,
}

/// One function as the registry holds it.
#[derive(Debug, Clone)]
pub struct Record {
    pub current: u32,
    /// Version → its spec as stored (JSON).
    pub versions: BTreeMap<u32, String>,
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct Change {
    pub position: Position,
    pub tenant: String,
    pub name: String,
    pub op: String,
    pub node: String,
}

/// The registry of one cluster.
pub struct Registry {
    cluster: Arc<Cluster>,
    deploy: Script,
    rollback: Script,
    delete: Script,
    seed: Script,
}

fn member(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

fn unexpected(what: impl std::fmt::Debug) -> ClusterError {
    ClusterError::Unexpected(format!("{what:?}"))
}

fn commit_of(reply: Vec<Value>) -> Result<Commit, ClusterError> {
    let text = |v: &Value| redis::from_redis_value_ref::<String>(v).map_err(unexpected);
    let number = |v: &Value| redis::from_redis_value_ref::<u64>(v).map_err(unexpected);
    let status = reply.first().map(text).transpose()?;
    match (status.as_deref(), reply.as_slice()) {
        (Some("ok"), [_, id, seq, version]) => Ok(Commit::Done {
            position: Position {
                id: text(id)?,
                seq: number(seq)?,
            },
            version: number(version)? as u32,
        }),
        (Some("stale"), _) => Ok(Commit::Stale),
        (Some("gone"), _) => Ok(Commit::Gone),
        (Some("no_blob"), _) => Err(ClusterError::Unexpected(
            "the component vanished from redis before the commit (evicted?)".into(),
        )),
        _ => Err(unexpected(reply)),
    }
}

fn change_of(entry: &redis::streams::StreamId) -> Option<Change> {
    let fn_: String = entry.get("fn")?;
    let (tenant, name) = fn_.split_once('/')?;
    Some(Change {
        position: Position {
            id: entry.id.clone(),
            seq: entry.get("seq")?,
        },
        tenant: tenant.to_string(),
        name: name.to_string(),
        op: entry.get("op")?,
        node: entry.get("node").unwrap_or_default(),
    })
}

impl Registry {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Registry {
            cluster,
            deploy: script!("deploy.lua"),
            rollback: script!("rollback.lua"),
            delete: script!("delete.lua"),
            seed: script!("seed.lua"),
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    fn key(&self, suffix: &str) -> String {
        self.cluster.keys().key(suffix)
    }

    fn fn_key(&self, tenant: &str, name: &str) -> String {
        self.key(&format!("fn:{}", member(tenant, name)))
    }

    fn blob_key(&self, sha: &str) -> String {
        self.key(&format!("blob:{sha}"))
    }

    fn max_len(&self) -> u64 {
        self.cluster.config().log_max_entries
    }

    /// The keys of a script that adds a version (deploy, seed): the function, the function
    /// set, the log, the blob references, the blob, the log sequence.
    fn new_version_keys<'a, 'b>(
        &self,
        invocation: &'b mut redis::ScriptInvocation<'a>,
        tenant: &str,
        name: &str,
        sha: &str,
    ) -> &'b mut redis::ScriptInvocation<'a> {
        invocation
            .key(self.fn_key(tenant, name))
            .key(self.key("fns"))
            .key(self.key("log"))
            .key(self.key("blobrefs"))
            .key(self.blob_key(sha))
            .key(self.key("seq"))
    }

    /// Uploads a component by content (once; an existing blob is kept as it is).
    pub async fn put_blob(&self, sha: &str, component: &[u8]) -> Result<(), ClusterError> {
        let mut conn = self.cluster.commands();
        let key = self.blob_key(sha);
        self.cluster
            .call(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(component)
                    .arg("NX")
                    .arg("EX")
                    .arg(ORPHAN_BLOB_TTL_S)
                    .query_async::<Option<String>>(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// A component by its sha256, if the registry has it.
    pub async fn blob(&self, sha: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        let mut conn = self.cluster.commands();
        self.cluster
            .call(
                redis::cmd("GET")
                    .arg(self.blob_key(sha))
                    .query_async(&mut conn),
            )
            .await
    }

    async fn run(&self, invocation: redis::ScriptInvocation<'_>) -> Result<Commit, ClusterError> {
        let mut conn = self.cluster.commands();
        let reply: Vec<Value> = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        commit_of(reply)
    }

    /// Commits a new version (its blob uploaded first) on top of log sequence `expected`,
    /// keeping `keep` versions.
    #[allow(clippy::too_many_arguments)]
    pub async fn deploy(
        &self,
        expected: u64,
        tenant: &str,
        name: &str,
        spec_json: &str,
        sha: &str,
        keep: usize,
    ) -> Result<Commit, ClusterError> {
        let mut invocation = self.deploy.prepare_invoke();
        self.new_version_keys(&mut invocation, tenant, name, sha)
            .arg(expected)
            .arg(spec_json)
            .arg(sha)
            .arg(member(tenant, name))
            .arg(keep.max(1))
            .arg(self.max_len())
            .arg(self.key("blob:"))
            .arg(self.cluster.node_id());
        self.run(invocation).await
    }

    /// Makes `version` current again, on top of log sequence `expected`.
    pub async fn rollback(
        &self,
        expected: u64,
        tenant: &str,
        name: &str,
        version: u32,
    ) -> Result<Commit, ClusterError> {
        let mut invocation = self.rollback.prepare_invoke();
        invocation
            .key(self.fn_key(tenant, name))
            .key(self.key("log"))
            .key(self.key("seq"))
            .arg(expected)
            .arg(version)
            .arg(member(tenant, name))
            .arg(self.max_len())
            .arg(self.cluster.node_id());
        self.run(invocation).await
    }

    /// Deletes a function and its versions, on top of log sequence `expected`.
    pub async fn delete(
        &self,
        expected: u64,
        tenant: &str,
        name: &str,
    ) -> Result<Commit, ClusterError> {
        let mut invocation = self.delete.prepare_invoke();
        invocation
            .key(self.fn_key(tenant, name))
            .key(self.key("fns"))
            .key(self.key("log"))
            .key(self.key("blobrefs"))
            .key(self.key("seq"))
            .arg(expected)
            .arg(member(tenant, name))
            .arg(self.max_len())
            .arg(self.key("blob:"))
            .arg(self.cluster.node_id());
        self.run(invocation).await
    }

    /// Offers a version this node serves to a registry that does not know the function
    /// (after Redis lost its data); true when it was taken.
    pub async fn seed(
        &self,
        tenant: &str,
        name: &str,
        version: u32,
        spec_json: &str,
        sha: &str,
        component: &[u8],
    ) -> Result<bool, ClusterError> {
        self.put_blob(sha, component).await?;
        let mut invocation = self.seed.prepare_invoke();
        self.new_version_keys(&mut invocation, tenant, name, sha)
            .arg(version)
            .arg(spec_json)
            .arg(sha)
            .arg(member(tenant, name))
            .arg(self.max_len())
            .arg(self.cluster.node_id());
        let mut conn = self.cluster.commands();
        let reply: Vec<Value> = self
            .cluster
            .call(invocation.invoke_async(&mut conn))
            .await?;
        Ok(matches!(commit_of(reply), Ok(Commit::Done { .. })))
    }

    /// One function's versions and current pointer, if it is deployed.
    pub async fn record(&self, tenant: &str, name: &str) -> Result<Option<Record>, ClusterError> {
        let mut conn = self.cluster.commands();
        let fields: BTreeMap<String, String> = self
            .cluster
            .call(
                redis::cmd("HGETALL")
                    .arg(self.fn_key(tenant, name))
                    .query_async(&mut conn),
            )
            .await?;
        let Some(current) = fields.get("current").and_then(|c| c.parse().ok()) else {
            return Ok(None);
        };
        let versions = fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("v:")?.parse().ok()?, v)))
            .collect();
        Ok(Some(Record { current, versions }))
    }

    /// Every deployed function, as (tenant, name).
    pub async fn functions(&self) -> Result<Vec<(String, String)>, ClusterError> {
        let mut conn = self.cluster.commands();
        let members: Vec<String> = self
            .cluster
            .call(
                redis::cmd("SMEMBERS")
                    .arg(self.key("fns"))
                    .query_async(&mut conn),
            )
            .await?;
        let mut out: Vec<_> = members
            .iter()
            .filter_map(|m| m.split_once('/'))
            .map(|(t, n)| (t.to_string(), n.to_string()))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The newest log entry's position (the default before the first change).
    pub async fn head(&self) -> Result<Position, ClusterError> {
        let mut conn = self.cluster.commands();
        let last: StreamRangeReply = self
            .cluster
            .call(
                redis::cmd("XREVRANGE")
                    .arg(self.key("log"))
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn),
            )
            .await?;
        Ok(last
            .ids
            .first()
            .and_then(change_of)
            .map(|c| c.position)
            .unwrap_or_default())
    }

    /// Up to `count` changes after `after`, oldest first.
    pub async fn changes_after(
        &self,
        after: &Position,
        count: usize,
    ) -> Result<Vec<Change>, ClusterError> {
        let mut conn = self.cluster.commands();
        let range: StreamRangeReply = self
            .cluster
            .call(
                redis::cmd("XRANGE")
                    .arg(self.key("log"))
                    .arg(format!("({}", after.id))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut conn),
            )
            .await?;
        range
            .ids
            .iter()
            .map(|e| change_of(e).ok_or_else(|| unexpected(e)))
            .collect()
    }

    /// Waits (up to [`FOLLOW_BLOCK`]) until the log has an entry after `after`; true if so.
    pub async fn wait_for_change(&self, after: &Position) -> Result<bool, ClusterError> {
        let mut conn = self.cluster.follow.clone();
        let options = StreamReadOptions::default()
            .block(FOLLOW_BLOCK.as_millis() as usize)
            .count(1);
        let limit = self.cluster.config().command_timeout_ms;
        let read = tokio::time::timeout(
            FOLLOW_BLOCK + Duration::from_millis(limit),
            redis::cmd("XREAD")
                .arg(&options)
                .arg("STREAMS")
                .arg(self.key("log"))
                .arg(&after.id)
                .query_async::<Option<StreamReadReply>>(&mut conn),
        )
        .await;
        match read {
            Ok(Ok(reply)) => {
                self.cluster.mark_up();
                Ok(reply.is_some_and(|r| r.keys.iter().any(|k| !k.ids.is_empty())))
            }
            Ok(Err(e)) => {
                let e = ClusterError::Redis(e);
                self.cluster.mark_down(&e);
                Err(e)
            }
            Err(_) => {
                let e = ClusterError::Timeout(limit);
                self.cluster.mark_down(&e);
                Err(e)
            }
        }
    }

    /// The registry's epoch; a registry without one (new, or Redis lost its data) gets
    /// `proposed`, unless another node set one first. Returns the epoch and whether it is new.
    pub async fn epoch(&self, proposed: &str) -> Result<(String, bool), ClusterError> {
        let mut conn = self.cluster.commands();
        let key = self.key("epoch");
        let set: Option<String> = self
            .cluster
            .call(
                redis::cmd("SET")
                    .arg(&key)
                    .arg(proposed)
                    .arg("NX")
                    .query_async(&mut conn),
            )
            .await?;
        let epoch: Option<String> = self
            .cluster
            .call(redis::cmd("GET").arg(&key).query_async(&mut conn))
            .await?;
        let epoch = epoch.ok_or_else(|| unexpected("the epoch vanished"))?;
        Ok((epoch, set.is_some()))
    }
}
