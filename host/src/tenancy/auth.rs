//! Bearer tokens: the operator's token and tenants' API keys, compared by SHA-256 only (the
//! manifest never holds a key itself).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Full access to every tenant.
    Operator,
    /// One tenant's key.
    Tenant(String),
}

impl Principal {
    /// Whether this principal may act for `tenant`.
    pub fn may_act_for(&self, tenant: &str) -> bool {
        match self {
            Principal::Operator => true,
            Principal::Tenant(t) => t == tenant,
        }
    }
}

/// Every token the host accepts, by hash.
#[derive(Default)]
pub struct Keys {
    by_hash: HashMap<String, Principal>,
}

/// Lowercase hex SHA-256 of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Keys {
    /// Adds a hash (lowercase hex) for a principal; a hash already given (to anyone) is
    /// refused with its holder, since one key would silently stand for two principals.
    pub fn add(&mut self, hash: String, principal: Principal) -> Result<(), Principal> {
        match self.by_hash.entry(hash) {
            std::collections::hash_map::Entry::Occupied(held) => Err(held.get().clone()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(principal);
                Ok(())
            }
        }
    }

    /// Whether no token at all is configured (the single-node default).
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of an `Authorization: Bearer <token>` header value, if the token is known.
    pub fn principal(&self, authorization: Option<&str>) -> Option<Principal> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        if token.is_empty() {
            return None;
        }
        self.by_hash.get(&hash(token)).cloned()
    }
}

/// Shortest operator token `ATELIER_ADMIN_TOKEN` may hold.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Principals the manifest and environment define. A key given twice (to one principal or
/// two) and an environment token under [`MIN_TOKEN_CHARS`] are startup errors.
pub fn keys(
    tenants: &[crate::config::TenantConfig],
    admin: &crate::config::AdminConfig,
) -> Result<Keys, String> {
    let mut given = Vec::new();
    if let Some(hash) = admin.token_hash()? {
        given.push((hash, Principal::Operator, "admin.token"));
    }
    if let Ok(token) = std::env::var("ATELIER_ADMIN_TOKEN") {
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "ATELIER_ADMIN_TOKEN must be at least {MIN_TOKEN_CHARS} characters"
            ));
        }
        given.push((hash(&token), Principal::Operator, "ATELIER_ADMIN_TOKEN"));
    }
    for t in tenants {
        for h in &t.key_hashes {
            given.push((h.clone(), Principal::Tenant(t.id.clone()), "api_keys"));
        }
    }
    let mut keys = Keys::default();
    for (hash, principal, place) in given {
        let who = format!("{principal:?}");
        if let Err(holder) = keys.add(hash, principal) {
            return Err(format!(
                "a key in {place} ({who}) is also given to {holder:?}: every key must be distinct"
            ));
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_by_hash() {
        let mut keys = Keys::default();
        keys.add(hash("op-secret"), Principal::Operator).unwrap();
        keys.add(hash("a-key"), Principal::Tenant("a".into()))
            .unwrap();
        assert_eq!(
            keys.add(hash("a-key"), Principal::Tenant("b".into())),
            Err(Principal::Tenant("a".into())),
            "a key given twice is refused, not shadowed"
        );
        assert_eq!(
            keys.principal(Some("Bearer op-secret")),
            Some(Principal::Operator)
        );
        assert_eq!(
            keys.principal(Some("Bearer a-key")),
            Some(Principal::Tenant("a".into()))
        );
        assert_eq!(keys.principal(Some("Bearer nope")), None);
        assert_eq!(keys.principal(Some("a-key")), None);
        assert_eq!(keys.principal(None), None);
        assert!(Principal::Tenant("a".into()).may_act_for("a"));
        assert!(!Principal::Tenant("a".into()).may_act_for("b"));
        assert!(Principal::Operator.may_act_for("b"));
    }
}
