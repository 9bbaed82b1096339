//! Keyed hashes (HMAC-SHA-256) of values that must be recognized later but never kept: the
//! identities of an erased person on the suppression list, and in the audit entries that
//! would otherwise name them.
//!
//! A keyed hash, unlike a plain one, cannot be reversed by hashing every address of a
//! leaked list: without the key nobody can tell which value a hash stands for. The key
//! comes from `NEONHUB_SUPPRESSION_KEY` in the secret keys' format (`id:base64key`, 32-byte
//! keys, comma-separated): the first key hashes new values, and every key is tried when
//! matching, so a key is rotated by putting a new one first (old hashes keep matching while
//! the old key stays listed; there is no value to re-hash them from).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

use super::{KeyError, parse_key_list, resolve};

/// The environment variable holding the hashing keys.
pub const SUPPRESSION_KEY_ENV: &str = "NEONHUB_SUPPRESSION_KEY";

/// One keyed hash: the key that made it and the digest (base64url, 43 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyedHash {
    /// The id of the key that made it.
    pub key_id: String,
    /// HMAC-SHA-256, base64url without padding.
    pub digest: String,
}

/// The configured hashing keys: the first hashes, all match. `Debug` shows the ids only.
pub struct HashKeys {
    keys: Vec<(String, hmac::Key)>,
}

impl fmt::Debug for HashKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashKeys")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl HashKeys {
    /// Parses `id:base64key,...` (32-byte keys); errors name `NEONHUB_SUPPRESSION_KEY`.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let keys = parse_key_list(spec, SUPPRESSION_KEY_ENV)?
            .into_iter()
            .map(|(id, bytes)| (id, hmac::Key::new(hmac::HMAC_SHA256, &bytes)))
            .collect();
        Ok(Self { keys })
    }

    /// The keys of `NEONHUB_SUPPRESSION_KEY`; [`KeyError::Missing`] when it is unset or empty.
    pub fn from_env() -> Result<Self, KeyError> {
        Self::parse(&std::env::var(SUPPRESSION_KEY_ENV).unwrap_or_default())
    }

    /// The configured ids, the hashing key's first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// The keyed hash of `parts` under the first key. Each part is length-prefixed, so
    /// `("ab", "c")` and `("a", "bc")` differ: callers put a domain first (the
    /// organization, the kind of value) so equal strings of different meaning never match.
    pub fn hash(&self, parts: &[&str]) -> KeyedHash {
        let (id, key) = &self.keys[0];
        digest(id, key, parts)
    }

    /// The keyed hash of `parts` under every key, the first key's first: what a stored
    /// hash is matched against.
    pub fn hash_all(&self, parts: &[&str]) -> Vec<KeyedHash> {
        self.keys
            .iter()
            .map(|(id, key)| digest(id, key, parts))
            .collect()
    }
}

fn digest(id: &str, key: &hmac::Key, parts: &[&str]) -> KeyedHash {
    let mut context = hmac::Context::with_key(key);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    KeyedHash {
        key_id: id.to_owned(),
        digest: URL_SAFE_NO_PAD.encode(context.sign().as_ref()),
    }
}

static PROCESS_HASH_KEYS: std::sync::RwLock<Option<Arc<HashKeys>>> = std::sync::RwLock::new(None);

tokio::task_local! {
    static TASK_HASH_KEYS: Option<Arc<HashKeys>>;
}

/// Makes `keys` the process's hashing keys; later [`current_hash_keys`] calls outside a
/// [`with_hash_keys`] scope use them.
pub fn install_hash_keys(keys: HashKeys) {
    *PROCESS_HASH_KEYS.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
}

/// Runs `work` with `keys` as the hashing keys inside it (on this task): for a process
/// serving several key sets, and for tests that must not share the environment. `None`
/// runs it with no key (every keyed hash is refused).
pub async fn with_hash_keys<F: std::future::Future>(
    keys: Option<Arc<HashKeys>>,
    work: F,
) -> F::Output {
    TASK_HASH_KEYS.scope(keys, work).await
}

/// The hashing keys in force: the enclosing [`with_hash_keys`] scope's, else the process's
/// (parsed from `NEONHUB_SUPPRESSION_KEY` the first time). Without a usable key it is the
/// [`KeyError`] naming the problem, at the call that needed a hash: never an unkeyed hash.
pub fn current_hash_keys() -> Result<Arc<HashKeys>, KeyError> {
    resolve(
        TASK_HASH_KEYS.try_with(Clone::clone).ok(),
        &PROCESS_HASH_KEYS,
        SUPPRESSION_KEY_ENV,
        HashKeys::from_env,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::SecretKeys;

    #[test]
    fn hashes_are_keyed_domain_separated_and_matched_under_every_key() {
        let (k1, k2) = (SecretKeys::generate_key(), SecretKeys::generate_key());
        let both = HashKeys::parse(&format!("new:{k1},old:{k2}")).unwrap();
        let old = HashKeys::parse(&format!("old:{k2}")).unwrap();
        let h = both.hash(&["org", "email", "ada@example.com"]);
        assert_eq!(h.key_id, "new");
        assert_eq!(h.digest.len(), 43);
        assert_eq!(h, both.hash(&["org", "email", "ada@example.com"]));
        assert_ne!(h, both.hash(&["org", "emai", "lada@example.com"]));
        assert_ne!(h, both.hash(&["org2", "email", "ada@example.com"]));
        // What the old key hashed is among the hashes matched under the new list.
        let by_old = old.hash(&["org", "email", "ada@example.com"]);
        assert!(
            both.hash_all(&["org", "email", "ada@example.com"])
                .contains(&by_old)
        );
        assert!(!format!("{both:?}").contains(&k1));
    }

    #[test]
    fn a_missing_or_malformed_key_is_an_error_naming_the_variable() {
        for spec in ["", "nocolon", "a:!!", "a:AAAA"] {
            let err = HashKeys::parse(spec).unwrap_err();
            assert!(err.to_string().contains(SUPPRESSION_KEY_ENV), "{err}");
        }
    }
}
