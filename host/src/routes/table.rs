//! The routing table: (host, path) → target.
//!
//! A route is a path prefix matched on whole segments (`/qr` matches `/qr`, `/qr/` and
//! `/qr/decode`, never `/qrcode`) and optionally a set of host names. Routes naming the request's
//! host win over host-less ones; among those, the longest prefix wins. Scopes and prefix
//! matching are [`crate::routes`]'s; manifest validation and deploys (ownership) guarantee no
//! two functions declare the same scope and no two owners overlapping ones.

use std::sync::Arc;

use super::{within, Scope};

struct Entry<T> {
    scope: Scope,
    target: Arc<T>,
}

/// A routing table to targets of type `T`.
pub struct Router<T> {
    entries: Vec<Entry<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            entries: Vec::new(),
        }
    }
}

impl<T> Router<T> {
    /// Adds the scopes of one target.
    pub fn add(&mut self, scopes: impl IntoIterator<Item = Scope>, target: Arc<T>) {
        for scope in scopes {
            self.entries.push(Entry {
                scope,
                target: target.clone(),
            });
        }
        // Host-specific first, then longest prefix first: the first match is the best one.
        self.entries.sort_by(|a, b| {
            let (a, b) = (&a.scope, &b.scope);
            b.host
                .is_some()
                .cmp(&a.host.is_some())
                .then(b.prefix.len().cmp(&a.prefix.len()))
        });
    }

    /// The target for a request and the route prefix it matched (`""` for the root). `host`
    /// may carry a port, which is ignored.
    pub fn resolve(&self, host: Option<&str>, path: &str) -> Option<(&Arc<T>, &str)> {
        let host = host.map(|h| strip_port(h).to_ascii_lowercase());
        self.entries
            .iter()
            .filter(|e| e.scope.host.is_none() || e.scope.host.as_deref() == host.as_deref())
            .find(|e| within(path, &e.scope.prefix))
            .map(|e| (&e.target, e.scope.prefix.as_str()))
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map(|h| &h[1..]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str, hosts: &[&str]) -> Vec<Scope> {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        super::super::scopes(path.trim_end_matches('/'), &hosts)
    }

    #[test]
    fn segments_hosts_and_longest_prefix() {
        let mut r = Router::default();
        r.add(route("/qr", &[]), Arc::new("qr"));
        r.add(route("/qr/decode", &[]), Arc::new("decode"));
        r.add(route("/qr", &["a.example"]), Arc::new("tenant-a"));
        r.add(route("/", &["b.example"]), Arc::new("tenant-b"));
        let target = |host, path| r.resolve(host, path).map(|(t, prefix)| (**t, prefix));
        assert_eq!(target(None, "/qr"), Some(("qr", "/qr")));
        assert_eq!(target(None, "/qr/decode/x"), Some(("decode", "/qr/decode")));
        assert!(r.resolve(None, "/qrcode").is_none());
        assert_eq!(
            target(Some("A.example:8080"), "/qr"),
            Some(("tenant-a", "/qr"))
        );
        assert_eq!(
            target(Some("b.example"), "/anything"),
            Some(("tenant-b", ""))
        );
        assert!(r.resolve(None, "/other").is_none());
    }
}
