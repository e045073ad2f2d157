//! The result cache: a function's 200 responses by request, for its `cache = { ttl_s, vary }`
//! rule. Keyed by SHA-256 over the function's owner, its component's hash, method, path and
//! query, body and the `vary` headers, so an entry is never shared across tenants nor across
//! versions. In Redis with `[cluster]` (shared by every node), else in process; at most
//! `[jobs] cache_max_mb`, the least recently stored evicted first.
//!
//! Invariant: a cache that fails (Redis down) is a miss, never an error for the request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::Script;
use sha2::{Digest, Sha256};

use super::{now_ms, JobResponse};
use crate::cluster::Cluster;

/// What identifies a request for the cache.
pub struct CacheKey<'a> {
    pub owner: Option<&'a str>,
    pub component: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub body: &'a [u8],
    /// The `vary` headers' values, in the rule's order (None when absent).
    pub vary: Vec<(&'a str, Option<&'a [u8]>)>,
}

impl CacheKey<'_> {
    /// The entry's name: hex SHA-256 over every part, each length-prefixed.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        let mut part = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        part(self.owner.unwrap_or("").as_bytes());
        part(self.component.as_bytes());
        part(self.method.as_bytes());
        part(self.uri.as_bytes());
        part(self.body);
        for (name, value) in &self.vary {
            part(name.as_bytes());
            match value {
                Some(v) => part(v),
                None => part(b"\xff absent"),
            }
        }
        hex::encode(h.finalize())
    }
}

struct LocalEntry {
    expires: Instant,
    stored: u64,
    response: JobResponse,
}

#[derive(Default)]
struct Local {
    entries: HashMap<String, LocalEntry>,
    order: BTreeMap<u64, String>,
    bytes: u64,
    next: u64,
}

enum Backend {
    Local(Mutex<Local>),
    Shared(Arc<Cluster>, Script),
}

pub struct ResultCache {
    backend: Backend,
    max_bytes: u64,
}

fn size(r: &JobResponse) -> u64 {
    r.body.len() as u64
        + r.headers
            .iter()
            .map(|(k, v)| (k.len() + v.len()) as u64)
            .sum::<u64>()
}

/// One stored value: the head's length (4 bytes, little-endian), the head (JSON), the body.
fn encode(r: &JobResponse) -> Vec<u8> {
    let head = serde_json::to_vec(r).expect("a response head serialises");
    let mut out = Vec::with_capacity(4 + head.len() + r.body.len());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&r.body);
    out
}

fn decode(bytes: Vec<u8>) -> Option<JobResponse> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let head = bytes.get(4..4 + len)?;
    let mut response: JobResponse = serde_json::from_slice(head).ok()?;
    response.body = Bytes::from(bytes).slice(4 + len..);
    Some(response)
}

impl ResultCache {
    pub fn new(cluster: Option<Arc<Cluster>>, max_bytes: u64) -> Self {
        let backend = match cluster {
            Some(c) => Backend::Shared(c, Script::new(include_str!("lua/cache_put.lua"))),
            None => Backend::Local(Mutex::new(Local::default())),
        };
        ResultCache { backend, max_bytes }
    }

    pub async fn get(&self, key: &str) -> Option<JobResponse> {
        match &self.backend {
            Backend::Local(local) => {
                let mut l = local.lock().unwrap_or_else(|e| e.into_inner());
                let live = l.entries.get(key).map(|e| e.expires > Instant::now())?;
                if !live {
                    remove(&mut l, key);
                    return None;
                }
                l.entries.get(key).map(|e| e.response.clone())
            }
            Backend::Shared(cluster, _) => {
                let mut conn = cluster.commands();
                let value: Option<Vec<u8>> = cluster
                    .call(
                        redis::cmd("GET")
                            .arg(cluster.keys().key(&format!("cache:{key}")))
                            .query_async(&mut conn),
                    )
                    .await
                    .ok()?;
                value.and_then(decode)
            }
        }
    }

    pub async fn put(&self, key: &str, response: &JobResponse, ttl_s: u64) {
        let bytes = size(response);
        if bytes > self.max_bytes {
            return;
        }
        match &self.backend {
            Backend::Local(local) => {
                let mut l = local.lock().unwrap_or_else(|e| e.into_inner());
                remove(&mut l, key);
                let stored = l.next;
                l.next += 1;
                l.order.insert(stored, key.to_string());
                l.bytes += bytes;
                l.entries.insert(
                    key.to_string(),
                    LocalEntry {
                        expires: Instant::now() + Duration::from_secs(ttl_s),
                        stored,
                        response: response.clone(),
                    },
                );
                while l.bytes > self.max_bytes {
                    let Some((_, oldest)) = l.order.pop_first() else {
                        break;
                    };
                    remove(&mut l, &oldest);
                }
            }
            Backend::Shared(cluster, script) => {
                let keys = cluster.keys();
                let mut invocation = script.prepare_invoke();
                invocation
                    .key(keys.key(&format!("cache:{key}")))
                    .key(keys.key("cache-index"))
                    .key(keys.key("cache-sizes"))
                    .key(keys.key("cache-bytes"))
                    .arg(encode(response))
                    .arg(ttl_s * 1000)
                    .arg(now_ms())
                    .arg(self.max_bytes);
                let mut conn = cluster.commands();
                if let Err(e) = cluster
                    .call(invocation.invoke_async::<i64>(&mut conn))
                    .await
                {
                    tracing::debug!(error = %e, "result cache: storing failed");
                }
            }
        }
    }
}

fn remove(l: &mut Local, key: &str) {
    if let Some(e) = l.entries.remove(key) {
        l.order.remove(&e.stored);
        l.bytes = l.bytes.saturating_sub(size(&e.response));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &'static [u8]) -> JobResponse {
        JobResponse {
            status: 200,
            headers: vec![("content-type".into(), b"text/plain".to_vec())],
            body: Bytes::from_static(body),
        }
    }

    #[tokio::test]
    async fn local_entries_are_bounded_and_evicted_oldest_first() {
        let cache = ResultCache::new(None, 150);
        cache.put("a", &response(&[1; 40]), 60).await;
        cache.put("b", &response(&[2; 40]), 60).await;
        assert!(cache.get("a").await.is_some());
        cache.put("c", &response(&[3; 40]), 60).await;
        assert!(cache.get("a").await.is_none(), "the oldest went first");
        assert_eq!(cache.get("c").await.unwrap().body.len(), 40);
        cache.put("huge", &response(&[4; 200]), 60).await;
        assert!(
            cache.get("huge").await.is_none(),
            "larger than the whole cache"
        );
    }

    #[test]
    fn keys_differ_by_owner_and_round_trip() {
        let key = |owner| CacheKey {
            owner,
            component: "abc",
            method: "POST",
            uri: "/x?y=1",
            body: b"photo",
            vary: vec![("accept", None)],
        };
        assert_ne!(key(Some("a")).digest(), key(Some("b")).digest());
        assert_ne!(key(None).digest(), key(Some("a")).digest());
        let r = response(b"hello");
        let back = decode(encode(&r)).unwrap();
        assert_eq!((back.status, back.body.as_ref()), (200, &b"hello"[..]));
    }
}
