//! Route identity, ownership and lookup, the one place their rules live: this module parses,
//! normalises and decides overlap; [`table`] finds a request's target; the manifest, deploys
//! and the server all use them.
//!
//! A route is a path prefix on whole segments, optionally limited to host names. A [`Scope`] is
//! one normalised (host, prefix) pair: hosts lowercased, no trailing `/`, no empty, `.` or `..`
//! segment. A route belongs to its owner (the manifest, or one tenant) together with everything
//! under it, on its hosts (no host = every host).
//!
//! Invariant: two owners never hold overlapping scopes: a scope overlaps another when their
//! hosts meet (one is any host, or the same name) and one prefix equals, contains or lies inside
//! the other. So a tenant cannot mount a route over the operator's functions or another
//! tenant's, nor under them, nor above them (the root `/` contains every route).

pub mod table;

pub use table::Router;

/// The header in which a guest learns the route its request matched (`/qr`; `/` for the root).
pub const ROUTE_HEADER: &str = "x-atelier-route";
/// The header in which a guest learns the rest of the path under that route (`""`, `/decode`).
pub const PATH_INFO_HEADER: &str = "x-atelier-path-info";

/// What a guest is told of a request's path matched by the route with `prefix` (normalised):
/// `(route, path_info)` for [`ROUTE_HEADER`] and [`PATH_INFO_HEADER`].
pub fn mount_point<'a>(prefix: &str, path: &'a str) -> (String, &'a str) {
    let route = if prefix.is_empty() { "/" } else { prefix };
    (
        route.to_string(),
        path.get(prefix.len()..).unwrap_or_default(),
    )
}

/// Tells the guest where it is mounted ([`ROUTE_HEADER`], [`PATH_INFO_HEADER`]), replacing
/// whatever the client sent under those names.
pub fn tell_mount_point(headers: &mut http::HeaderMap, prefix: &str, path: &str) {
    let (route, path_info) = mount_point(prefix, path);
    for (name, value) in [
        (ROUTE_HEADER, route.as_str()),
        (PATH_INFO_HEADER, path_info),
    ] {
        headers.remove(name);
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

/// Longest route path accepted.
pub const MAX_PATH: usize = 256;

/// Paths the host answers itself; no function may be routed at or under them.
pub const RESERVED_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/admin",
    "/jobs",
    "/openapi.json",
    "/docs",
    "/_atelier",
];

/// One normalised (host, path prefix) pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// Lowercased; `None` is every host.
    pub host: Option<String>,
    /// Without a trailing `/`; the root is the empty string.
    pub prefix: String,
}

/// Why a route path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0:?} must start with '/', be at most {MAX_PATH} bytes and have no empty, '.' or '..' segment")]
    Malformed(String),
    #[error("{path:?} is reserved for the host ({reserved})")]
    Reserved {
        path: String,
        reserved: &'static str,
    },
}

/// The prefix of a route path: checked, without its trailing `/` (the root is `""`).
pub fn normalise_path(path: &str) -> Result<String, PathError> {
    let trimmed = path.trim_end_matches('/');
    let malformed = !path.starts_with('/')
        || path.len() > MAX_PATH
        || trimmed
            .split('/')
            .skip(1)
            .any(|s| s.is_empty() || s == "." || s == "..")
        || path.chars().any(|c| c.is_control() || c == '?' || c == '#');
    if malformed {
        return Err(PathError::Malformed(path.to_string()));
    }
    if let Some(reserved) = RESERVED_PATHS.iter().find(|r| within(trimmed, r)) {
        return Err(PathError::Reserved {
            path: path.to_string(),
            reserved,
        });
    }
    Ok(trimmed.to_string())
}

/// Whether a route at `route` (as written in a manifest) takes requests for `prefix`.
pub fn covers(route: &str, prefix: &str) -> bool {
    normalise_path(route).is_ok_and(|r| within(prefix, &r))
}

/// Every scope of a route: one per host (lowercased), or one for every host.
pub fn scopes(prefix: &str, hosts: &[String]) -> Vec<Scope> {
    if hosts.is_empty() {
        return vec![Scope {
            host: None,
            prefix: prefix.to_string(),
        }];
    }
    hosts
        .iter()
        .map(|h| Scope {
            host: Some(h.to_ascii_lowercase()),
            prefix: prefix.to_string(),
        })
        .collect()
}

/// Whether `path` is `prefix` or lies under it, on whole segments (`""` is the root).
pub fn within(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod mount_tests {
    #[test]
    fn a_guest_learns_its_route_and_the_rest_of_the_path() {
        use super::mount_point;
        assert_eq!(mount_point("/qr", "/qr/decode"), ("/qr".into(), "/decode"));
        assert_eq!(mount_point("/qr", "/qr"), ("/qr".into(), ""));
        assert_eq!(mount_point("", "/decode"), ("/".into(), "/decode"));
        assert_eq!(mount_point("/a/b", "/a/b/"), ("/a/b".into(), "/"));
    }
}

impl Scope {
    /// Whether the two scopes can match one request: their hosts meet and one prefix holds
    /// the other.
    pub fn overlaps(&self, other: &Scope) -> bool {
        let hosts_meet = match (&self.host, &other.host) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        hosts_meet && (within(&self.prefix, &other.prefix) || within(&other.prefix, &self.prefix))
    }

    /// The path as a client writes it (`/` for the root).
    pub fn path(&self) -> &str {
        if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        }
    }
}

/// The first of `mine` that overlaps a scope of `theirs`, with that scope.
pub fn first_overlap<'a>(mine: &'a [Scope], theirs: &'a [Scope]) -> Option<(&'a Scope, &'a Scope)> {
    mine.iter()
        .find_map(|m| theirs.iter().find(|t| m.overlaps(t)).map(|t| (m, t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(host: Option<&str>, prefix: &str) -> Scope {
        Scope {
            host: host.map(str::to_string),
            prefix: prefix.to_string(),
        }
    }

    #[test]
    fn paths_are_normalised_or_refused() {
        assert_eq!(normalise_path("/api/"), Ok("/api".into()));
        assert_eq!(normalise_path("/"), Ok(String::new()));
        for bad in [
            "api",
            "//api",
            "/a//b",
            "/a/../admin",
            "/./x",
            "/a?b",
            "/a\nb",
        ] {
            assert!(
                matches!(normalise_path(bad), Err(PathError::Malformed(_))),
                "{bad:?}"
            );
        }
        for reserved in ["/admin/v1", "/jobs", "/jobs/x"] {
            assert!(matches!(
                normalise_path(reserved),
                Err(PathError::Reserved { .. })
            ));
        }
        assert!(normalise_path(&format!("/{}", "a".repeat(MAX_PATH))).is_err());
        assert_eq!(
            normalise_path("/administrator"),
            Ok("/administrator".into())
        );
    }

    #[test]
    fn overlap_is_equal_inside_or_above_on_meeting_hosts() {
        let api = scope(None, "/api");
        assert!(api.overlaps(&scope(None, "/api")));
        assert!(api.overlaps(&scope(None, "/api/login")), "inside");
        assert!(
            api.overlaps(&scope(None, "")),
            "the root is above everything"
        );
        assert!(
            api.overlaps(&scope(Some("a.test"), "/api/x")),
            "any host meets a.test"
        );
        assert!(!api.overlaps(&scope(None, "/apis")), "whole segments only");
        let on_a = scope(Some("a.test"), "/api");
        assert!(!on_a.overlaps(&scope(Some("b.test"), "/api")));
        assert!(on_a.overlaps(&scope(Some("a.test"), "")));
    }

    #[test]
    fn scopes_lowercase_hosts() {
        assert_eq!(
            scopes("/x", &["A.Test".into()]),
            vec![scope(Some("a.test"), "/x")]
        );
        assert_eq!(scopes("", &[]), vec![scope(None, "")]);
        let mine = scopes("/qr/decode", &[]);
        let theirs = scopes("/qr", &[]);
        assert_eq!(
            first_overlap(&mine, &theirs).map(|(_, t)| t.path()),
            Some("/qr")
        );
    }
}
