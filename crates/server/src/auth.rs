//! API keys: how they are made, stored (only a SHA-256 hash) and checked
//! (in constant time, against an in-memory copy refreshed from the store).

use crate::error::ApiError;
use base64::Engine as _;
use qualify_store::{ApiKey, Role, Store};
use sha2::{Digest, Sha256};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A new key as shown once to its owner.
pub struct NewKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

/// Makes a random key: `qk_` and 32 random bytes, URL-safe base64.
pub fn generate_key() -> NewKey {
    let bytes: [u8; 32] = rand::random();
    let key = format!("qk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    NewKey { prefix: key[..10].to_owned(), hash: hash_key(&key), key }
}

/// The hex SHA-256 of a key, as stored.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a role may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Ingest,
    Read,
    /// Record what sales did with a lead (its outcomes).
    RecordOutcomes,
    Administer,
}

impl Permission {
    fn describe(self) -> &'static str {
        match self {
            Permission::Ingest => "ingest events",
            Permission::Read => "read leads and models",
            Permission::RecordOutcomes => "record outcomes (a sales or admin key may)",
            Permission::Administer => "change models, keys or read rejects",
        }
    }
}

/// Write keys only ingest; read keys read; sales keys read and record
/// outcomes; admin keys do everything.
pub fn allows(role: Role, permission: Permission) -> bool {
    match permission {
        Permission::Ingest => matches!(role, Role::Write | Role::Admin),
        Permission::Read => matches!(role, Role::Read | Role::Sales | Role::Admin),
        Permission::RecordOutcomes => matches!(role, Role::Sales | Role::Admin),
        Permission::Administer => role == Role::Admin,
    }
}

pub fn require(role: Role, permission: Permission) -> Result<(), ApiError> {
    if allows(role, permission) {
        Ok(())
    } else {
        Err(ApiError::Forbidden { role: role.as_str(), action: permission.describe() })
    }
}

/// The active keys' hashes and roles, reloaded from the store when a key is
/// not found (so keys made by `qualify keys create` work at once) and at
/// least every few seconds (so revocations take effect).
pub struct KeyCache {
    state: RwLock<CacheState>,
    /// Held while the copy is reloaded, so that one request reloads at a time.
    reloading: Mutex<()>,
}

struct CacheState {
    keys: Vec<([u8; 32], Role)>,
    /// When the last reload started to read the store.
    loaded_at: Option<Instant>,
}

const MAX_AGE: Duration = Duration::from_secs(2);

impl KeyCache {
    pub fn new() -> KeyCache {
        KeyCache { state: RwLock::new(CacheState { keys: Vec::new(), loaded_at: None }), reloading: Mutex::new(()) }
    }

    fn digest(key: &str) -> [u8; 32] {
        Sha256::digest(key.as_bytes()).into()
    }

    fn find(&self, digest: &[u8; 32]) -> (Option<Role>, Option<Instant>) {
        let state = self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Compare with every key, in constant time per comparison, without
        // stopping at the first match.
        let mut found = None;
        for (hash, role) in &state.keys {
            if bool::from(hash.ct_eq(digest)) {
                found = Some(*role);
            }
        }
        (found, state.loaded_at)
    }

    fn reload(&self, store: &dyn Store) -> Result<(), ApiError> {
        let started = Instant::now();
        let keys: Vec<ApiKey> = store.api_keys()?;
        let active = keys
            .into_iter()
            .filter(|key| key.revoked_at.is_none())
            .filter_map(|key| Some((hex_to_bytes(&key.hash)?, key.role)))
            .collect();
        let mut state = self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.keys = active;
        state.loaded_at = Some(started);
        Ok(())
    }

    /// The role of a key when the cache knows it and is fresh; `None` means
    /// "ask [`KeyCache::role_of`]", which may read the store.
    pub fn cached_role(&self, key: &str) -> Option<Role> {
        let (found, loaded_at) = self.find(&Self::digest(key));
        let fresh = loaded_at.is_some_and(|at| at.elapsed() <= MAX_AGE);
        if fresh { found } else { None }
    }

    /// The role of a key, or `None` for an unknown or revoked one. May read
    /// the store (a blocking call).
    pub fn role_of(&self, key: &str, store: &dyn Store) -> Result<Option<Role>, ApiError> {
        let asked_at = Instant::now();
        let digest = Self::digest(key);
        let (found, loaded_at) = self.find(&digest);
        let fresh = loaded_at.is_some_and(|at| at.elapsed() <= MAX_AGE);
        if fresh && found.is_some() {
            return Ok(found);
        }
        // A miss or a stale copy: the key may have been made (or revoked)
        // since the copy was read. One request reloads at a time; those that
        // waited take its result when it started reading after they asked.
        // So a flood of unknown keys costs one read of the keys table at a
        // time, not one each, and a key made a moment ago still works at once.
        let _reloading = self.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let (found, loaded_at) = self.find(&digest);
        if loaded_at.is_some_and(|at| at >= asked_at) {
            return Ok(found);
        }
        self.reload(store)?;
        Ok(self.find(&digest).0)
    }
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

fn hex_to_bytes(hex: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

/// The key of a request: `Authorization: Bearer KEY`, or HTTP Basic with the
/// key as user name (what Segment and RudderStack SDKs send).
pub fn key_from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!credentials.is_empty()).then(|| credentials.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
        return (!user.is_empty()).then(|| user.to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[test]
    fn keys_come_from_bearer_or_basic_authorization() {
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("qk_abc:"));
        let cases = [
            ("Bearer qk_abc", Some("qk_abc")),
            ("bearer   qk_abc ", Some("qk_abc")),
            (basic.as_str(), Some("qk_abc")),
            ("Basic !!!", None),
            ("Bearer ", None),
            ("Token qk_abc", None),
        ];
        for (value, expected) in cases {
            assert_eq!(key_from_headers(&headers(value)).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn generated_keys_are_unique_and_hash_to_hex() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.key, b.key);
        assert_eq!(a.hash.len(), 64);
        assert_eq!(hash_key(&a.key), a.hash);
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(hex_to_bytes(&a.hash), Some(KeyCache::digest(&a.key)));
    }

    #[test]
    fn roles_allow_what_the_issue_says() {
        use Permission::*;
        let table = [
            // Ingest, Read, RecordOutcomes, Administer.
            (Role::Write, [true, false, false, false]),
            (Role::Read, [false, true, false, false]),
            (Role::Sales, [false, true, true, false]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let got =
                [allows(role, Ingest), allows(role, Read), allows(role, RecordOutcomes), allows(role, Administer)];
            assert_eq!(got, expected, "{role:?}");
        }
    }
}
