//! Deployments in a cluster: changes commit in the Redis registry first, then serve here; every
//! node follows the registry's change log and applies what others changed.
//!
//! Invariants: the [`SyncPoint`] lock is held from reading the position a change builds on to
//! applying its result, so a node's routing table only ever moves along the log; a change that
//! lost the race (`Stale`) is checked again on top of what won and retried, never dropped; a
//! change that cannot reach Redis is refused (503) and changes nothing anywhere. The position is
//! saved beside the local store after every applied change, so a restarted node replays only
//! what it missed; a registry with another epoch (new, or a Redis that lost its data) is first
//! offered what this node serves, then compared function by function.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{DeployError, Deployments, FunctionInfo, Live};
use crate::cluster::registry::{Commit, Position, Record, Registry};
use crate::cluster::ClusterError;
use crate::tenancy::deployed::Deployed;
use crate::tenancy::store::{Spec, Store};
use crate::tenancy::Tenant;

/// Times a change is retried on top of others' before the caller is told to try again.
const ATTEMPTS: usize = 20;
/// Changes read from the log at once.
const BATCH: usize = 100;
/// The file beside the local store that holds the position.
const SYNC_FILE: &str = "cluster.json";

/// How far this node has followed the registry, and in which of its lifetimes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct SyncPoint {
    pub epoch: Option<String>,
    pub position: Position,
}

impl SyncPoint {
    pub(super) fn load(store: &Store) -> Self {
        store
            .read_meta(SYNC_FILE)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, store: &Store) {
        let bytes = serde_json::to_vec(self).expect("a sync point serialises");
        if let Err(e) = store.write_meta(SYNC_FILE, &bytes) {
            tracing::warn!(error = %e, "cluster: saving the log position failed; a restart replays more");
        }
    }
}

fn versions_of(record: &Record) -> Vec<(u32, u64)> {
    record
        .versions
        .iter()
        .map(|(v, json)| {
            let bytes = serde_json::from_str::<Spec>(json).map_or(0, |s| s.bytes);
            (*v, bytes)
        })
        .collect()
}

impl Deployments {
    /// The last change-log sequence number applied here, and the tenant functions served.
    pub fn sync_report(&self) -> (u64, usize) {
        let seq = self.sync.try_lock().map(|s| s.position.seq).ok();
        let seq = seq.unwrap_or_else(|| SyncPoint::load(&self.store).position.seq);
        (seq, self.live().len())
    }

    /// Commits a compiled deploy in the registry, then serves it here.
    pub(super) async fn deploy_shared(
        self: &Arc<Self>,
        registry: &Registry,
        tenant: &Arc<Tenant>,
        name: &str,
        spec: Spec,
        component: Bytes,
        deployed: Arc<Deployed>,
    ) -> Result<FunctionInfo, DeployError> {
        registry.put_blob(&spec.sha256, &component).await?;
        let json = serde_json::to_string(&spec).expect("a spec serialises");
        for _ in 0..ATTEMPTS {
            let mut sync = self.sync.lock().await;
            self.check_spec(tenant, name, &spec, &self.live())?;
            let seq = sync.position.seq;
            let commit = registry
                .deploy(
                    seq,
                    tenant.id(),
                    name,
                    &json,
                    &spec.sha256,
                    self.keep_versions,
                )
                .await?;
            match commit {
                Commit::Done { position, version } => {
                    let record = registry.record(tenant.id(), name).await.ok().flatten();
                    let versions = record
                        .as_ref()
                        .map(versions_of)
                        .unwrap_or_else(|| vec![(version, spec.bytes)]);
                    tracing::info!(tenant = %tenant.id(), function = %name, version, sha256 = %spec.sha256, "deployed (cluster)");
                    let live = Live {
                        version,
                        versions,
                        spec,
                        deployed,
                    };
                    self.mirror(tenant.id(), name, live, Some(component))
                        .await?;
                    sync.position = position;
                    sync.save(&self.store);
                    return self.info(tenant.id(), name);
                }
                Commit::Stale => self.catch_up(registry, &mut sync).await?,
                Commit::Gone => {
                    return Err(DeployError::Internal("deploy script said gone".into()))
                }
            }
        }
        Err(busy())
    }

    /// Rolls back to the version before the current one, as the registry knows them.
    pub(super) async fn rollback_shared(
        self: &Arc<Self>,
        registry: &Registry,
        tenant: &Arc<Tenant>,
        name: &str,
    ) -> Result<FunctionInfo, DeployError> {
        let id = tenant.id();
        let no_function = || DeployError::NoFunction {
            tenant: id.into(),
            name: name.into(),
        };
        for _ in 0..ATTEMPTS {
            let seq = self.sync.lock().await.position.seq;
            let record = registry.record(id, name).await?.ok_or_else(no_function)?;
            let (previous, json) = record
                .versions
                .range(..record.current)
                .next_back()
                .ok_or_else(|| DeployError::NoPreviousVersion(format!("{id}/{name}")))?;
            let spec: Spec = serde_json::from_str(json)
                .map_err(|e| DeployError::Internal(format!("stored spec: {e}")))?;
            let component = self.component(registry, id, name, *previous, &spec).await?;
            self.check_spec(tenant, name, &spec, &self.live())?;
            let deployed = self
                .compile_in_slot(tenant, name, &spec, component.clone())
                .await?;
            let mut sync = self.sync.lock().await;
            if sync.position.seq != seq {
                continue;
            }
            match registry.rollback(seq, id, name, *previous).await? {
                Commit::Done { position, version } => {
                    tracing::info!(tenant = %id, function = %name, from = record.current, to = version, "rolled back (cluster)");
                    let live = Live {
                        version,
                        versions: versions_of(&record),
                        spec,
                        deployed,
                    };
                    self.mirror(id, name, live, Some(component)).await?;
                    sync.position = position;
                    sync.save(&self.store);
                    return self.info(id, name);
                }
                Commit::Stale => self.catch_up(registry, &mut sync).await?,
                Commit::Gone => return Err(no_function()),
            }
        }
        Err(busy())
    }

    /// Deletes a function in the registry, then here.
    pub(super) async fn delete_shared(
        self: &Arc<Self>,
        registry: &Registry,
        tenant: &str,
        name: &str,
    ) -> Result<(), DeployError> {
        for _ in 0..ATTEMPTS {
            let mut sync = self.sync.lock().await;
            match registry.delete(sync.position.seq, tenant, name).await? {
                Commit::Done { position, .. } => {
                    tracing::info!(tenant = %tenant, function = %name, "deleted (cluster)");
                    self.forget(tenant, name).await?;
                    sync.position = position;
                    sync.save(&self.store);
                    return Ok(());
                }
                Commit::Stale => self.catch_up(registry, &mut sync).await?,
                Commit::Gone => {
                    return Err(DeployError::NoFunction {
                        tenant: tenant.into(),
                        name: name.into(),
                    })
                }
            }
        }
        Err(busy())
    }

    /// A version's component: from the local store when it has that very one, else the
    /// registry's blob.
    async fn component(
        self: &Arc<Self>,
        registry: &Registry,
        tenant: &str,
        name: &str,
        version: u32,
        spec: &Spec,
    ) -> Result<Bytes, DeployError> {
        let (t, n) = (tenant.to_string(), name.to_string());
        let local = self
            .blocking(move |d| Ok(d.store.read(&t, &n, version).ok()))
            .await?;
        if let Some(stored) = local.filter(|s| s.spec.sha256 == spec.sha256) {
            return Ok(stored.component.into());
        }
        let blob = registry.blob(&spec.sha256).await?.ok_or_else(|| {
            DeployError::Internal(format!(
                "component {} of {tenant}/{name} v{version} is missing from redis",
                spec.sha256
            ))
        })?;
        Ok(blob.into())
    }

    /// Makes `live` serve and keeps it in the local store (last-known-good).
    async fn mirror(
        self: &Arc<Self>,
        tenant: &str,
        name: &str,
        live: Live,
        component: Option<Bytes>,
    ) -> Result<(), DeployError> {
        let (t, n) = (tenant.to_string(), name.to_string());
        self.blocking(move |d| {
            let store = &d.store;
            if let Some(component) = component {
                if store.current(&t, &n) != Some(live.version)
                    || store.read(&t, &n, live.version).is_err()
                {
                    store.put(&t, &n, live.version, &live.spec, &component)?;
                }
            }
            store.set_current(&t, &n, live.version)?;
            let kept: Vec<u32> = live.versions.iter().map(|(v, _)| *v).collect();
            store.keep_only(&t, &n, &kept)?;
            let mut map = d.live();
            map.insert((t, n), live);
            d.install(&map);
            Ok(())
        })
        .await
    }

    /// Stops serving a function here and drops its local copy.
    async fn forget(self: &Arc<Self>, tenant: &str, name: &str) -> Result<(), DeployError> {
        let key = (tenant.to_string(), name.to_string());
        self.blocking(move |d| {
            let mut live = d.live();
            if live.remove(&key).is_some() {
                d.install(&live);
            }
            d.store.remove(&key.0, &key.1)?;
            Ok(())
        })
        .await
    }

    /// Makes this node's copy of one function what the registry says (deployed, another
    /// version, or gone). A function this node cannot serve (its tenant is not in this node's
    /// manifest, its component does not load here) is logged and left as it was.
    async fn reconcile(
        self: &Arc<Self>,
        registry: &Registry,
        tenant_id: &str,
        name: &str,
    ) -> Result<(), ClusterError> {
        let Some(record) = registry.record(tenant_id, name).await? else {
            if self.live().contains_key(&(tenant_id.into(), name.into())) {
                match self.forget(tenant_id, name).await {
                    Ok(()) => {
                        tracing::info!(tenant = %tenant_id, function = %name, "deleted (applied from the cluster)")
                    }
                    Err(e) => {
                        tracing::error!(tenant = %tenant_id, function = %name, error = %e, "applying a delete failed")
                    }
                }
            }
            return Ok(());
        };
        let versions = versions_of(&record);
        let spec = record
            .versions
            .get(&record.current)
            .and_then(|j| serde_json::from_str::<Spec>(j).ok());
        let Some(spec) = spec else {
            tracing::error!(tenant = %tenant_id, function = %name, version = record.current, "the registry's current version has no readable spec; left as it was");
            return Ok(());
        };
        let key = (tenant_id.to_string(), name.to_string());
        if let Some(l) = self.live().get_mut(&key) {
            if l.version == record.current && l.spec.sha256 == spec.sha256 {
                l.versions = versions;
                return Ok(());
            }
        }
        let applied = async {
            let tenant = self.tenant(tenant_id)?.clone();
            let component = self
                .component(registry, tenant_id, name, record.current, &spec)
                .await?;
            self.check_spec(&tenant, name, &spec, &self.live())?;
            let deployed = self
                .compile_in_slot(&tenant, name, &spec, component.clone())
                .await?;
            let live = Live {
                version: record.current,
                versions,
                spec,
                deployed,
            };
            self.mirror(tenant_id, name, live, Some(component)).await
        };
        match applied.await {
            Ok(()) => {
                tracing::info!(tenant = %tenant_id, function = %name, version = record.current, "applied from the cluster");
                registry.cluster().metrics().cluster.changes_applied.inc();
            }
            Err(DeployError::Unavailable(e)) => return Err(e),
            Err(e) => {
                tracing::error!(tenant = %tenant_id, function = %name, version = record.current, error = %e, "a change from the cluster cannot serve on this node; left as it was")
            }
        }
        Ok(())
    }

    /// Applies every change after this node's position; a gap (the log was trimmed past it)
    /// or a log that went back (Redis lost its data) means comparing every function instead.
    async fn catch_up(
        self: &Arc<Self>,
        registry: &Registry,
        sync: &mut SyncPoint,
    ) -> Result<(), ClusterError> {
        loop {
            let changes = registry.changes_after(&sync.position, BATCH).await?;
            let Some(first) = changes.first() else {
                let head = registry.head().await?;
                if head.seq < sync.position.seq {
                    return self.join(registry, sync).await;
                }
                return Ok(());
            };
            if first.position.seq != sync.position.seq + 1 {
                tracing::warn!(from = sync.position.seq, next = first.position.seq, "cluster: the log no longer holds every change this node missed; comparing every function");
                return self.resync(registry, sync).await;
            }
            for change in changes {
                self.reconcile(registry, &change.tenant, &change.name)
                    .await?;
                sync.position = change.position;
            }
            sync.save(&self.store);
        }
    }

    /// Compares every function the registry or this node knows, and takes the registry's.
    async fn resync(
        self: &Arc<Self>,
        registry: &Registry,
        sync: &mut SyncPoint,
    ) -> Result<(), ClusterError> {
        let head = registry.head().await?;
        let mut names = registry.functions().await?;
        names.extend(self.live().keys().cloned());
        names.sort();
        names.dedup();
        for (tenant, name) in names {
            self.reconcile(registry, &tenant, &name).await?;
        }
        sync.position = head;
        sync.save(&self.store);
        Ok(())
    }

    /// (Re)joins the registry: same epoch → replay from the saved position; another epoch → offer
    /// what this node serves (the first offer of a function wins), then compare everything.
    async fn join(
        self: &Arc<Self>,
        registry: &Registry,
        sync: &mut SyncPoint,
    ) -> Result<(), ClusterError> {
        let proposed = format!(
            "{}-{}",
            registry.cluster().node_id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let (epoch, fresh) = registry.epoch(&proposed).await?;
        if sync.epoch.as_deref() == Some(epoch.as_str()) && !fresh {
            return Box::pin(self.catch_up(registry, sync)).await;
        }
        tracing::info!(epoch = %epoch, known = ?sync.epoch, "cluster: a registry this node has not followed; offering what it serves, then comparing every function");
        let serving: Vec<(String, String, u32, Spec)> = self
            .live()
            .iter()
            .map(|((t, n), l)| (t.clone(), n.clone(), l.version, l.spec.clone()))
            .collect();
        for (tenant, name, version, spec) in serving {
            let (t, n) = (tenant.clone(), name.clone());
            let stored = self
                .blocking(move |d| Ok(d.store.read(&t, &n, version).ok()))
                .await
                .ok()
                .flatten();
            let Some(stored) = stored else { continue };
            let json = serde_json::to_string(&spec).expect("a spec serialises");
            if registry
                .seed(
                    &tenant,
                    &name,
                    version,
                    &json,
                    &spec.sha256,
                    &stored.component,
                )
                .await?
            {
                tracing::info!(tenant = %tenant, function = %name, version, "offered to the registry");
            }
        }
        self.resync(registry, sync).await?;
        sync.epoch = Some(epoch);
        sync.save(&self.store);
        Ok(())
    }

    /// Follows the registry for as long as the process runs: joins (retrying while Redis is
    /// down), then applies each change as the log announces it.
    pub async fn follow(self: Arc<Self>) {
        let Some(registry) = self.registry.clone() else {
            return;
        };
        let mut joined = false;
        let mut backoff = Duration::from_millis(100);
        loop {
            if !joined {
                let mut sync = self.sync.lock().await;
                match self.join(&registry, &mut sync).await {
                    Ok(()) => {
                        joined = true;
                        backoff = Duration::from_millis(100);
                        tracing::info!(seq = sync.position.seq, "cluster: following the registry");
                    }
                    Err(e) => {
                        drop(sync);
                        tracing::debug!(error = %e, "cluster: joining failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                }
            }
            let position = self.sync.lock().await.position.clone();
            match registry.wait_for_change(&position).await {
                Ok(false) => {}
                Ok(true) => {
                    let mut sync = self.sync.lock().await;
                    if let Err(e) = self.catch_up(&registry, &mut sync).await {
                        tracing::debug!(error = %e, "cluster: catching up failed");
                        joined = false;
                    }
                }
                Err(_) => {
                    joined = false;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

fn busy() -> DeployError {
    DeployError::Internal(format!(
        "other changes kept committing first ({ATTEMPTS} tries); try again"
    ))
}
