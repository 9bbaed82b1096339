//! Sealing secrets at rest: tokens, API keys and client secrets are stored as AES-256-GCM
//! ciphertext (ring, already in the tree through rustls), never as plain text.
//!
//! A sealed value is text: `nh1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, so it names
//! the key that sealed it and fits the reference schema's `text` columns. Each value gets a
//! fresh 96-bit nonce (a random start per key set, one step per value); the row's id and the
//! column's name are the associated data, so a ciphertext copied into another row or column
//! does not open. The overhead is 28 bytes (nonce and tag) before the text encoding.
//!
//! Keys come from `NEONHUB_SECRET_KEYS`: comma-separated `id:base64key` entries of 32-byte
//! keys; the first seals, all open (so a key is rotated by putting a new one first, re-sealing,
//! then removing the old one).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::Secret;

mod hash;
mod stored;
pub use hash::{
    HashKeys, KeyedHash, SUPPRESSION_KEY_ENV, current_hash_keys, install_hash_keys, with_hash_keys,
};
pub use stored::{
    ColumnSecrets, RotateReport, SEALED_COLUMNS, SecretsStatus, rotate, secrets_status,
};

/// The environment variable holding the keys.
pub const SECRET_KEYS_ENV: &str = "NEONHUB_SECRET_KEYS";
/// What every sealed value starts with (the format's version).
pub const SEALED_PREFIX: &str = "nh1:";
/// The largest secret sealed, in bytes (a token, a key, a client secret: never a document).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// The longest key id, in bytes.
pub const MAX_KEY_ID_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Why a key list (`NEONHUB_SECRET_KEYS`, `NEONHUB_SUPPRESSION_KEY`, or one given in code)
/// was refused: naming the variable and the entry, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No key is configured: what needs one can be neither written nor read.
    #[error(
        "no key is configured: set {var} to comma-separated id:base64key entries (32-byte keys)"
    )]
    Missing {
        /// The environment variable the keys come from.
        var: &'static str,
    },
    /// An entry is not `id:base64key` (an empty entry, no colon, an empty id or key).
    #[error("{var} entry {position} is not id:base64key")]
    Malformed {
        /// The environment variable the keys come from.
        var: &'static str,
        /// Zero-based position in the list.
        position: usize,
    },
    /// A key id with characters other than `A-Za-z0-9_-`, or longer than 32 bytes.
    #[error("{var}: key id {id:?} must be 1 to 32 characters of A-Z, a-z, 0-9, _ and -")]
    BadId {
        /// The environment variable the keys come from.
        var: &'static str,
        /// The id.
        id: String,
    },
    /// The key is not base64.
    #[error("{var}: key {id:?} is not base64")]
    NotBase64 {
        /// The environment variable the keys come from.
        var: &'static str,
        /// The key's id.
        id: String,
    },
    /// The key is not 32 bytes.
    #[error("{var}: key {id:?} is {len} bytes; 32 are needed")]
    WrongLength {
        /// The environment variable the keys come from.
        var: &'static str,
        /// The key's id.
        id: String,
        /// Its length in bytes.
        len: usize,
    },
    /// Two entries share an id.
    #[error("{var}: key id {id:?} appears twice")]
    DuplicateId {
        /// The environment variable the keys come from.
        var: &'static str,
        /// The id.
        id: String,
    },
}

/// Parses `id:base64key,id:base64key,...` (standard or URL-safe base64, 32-byte keys) into
/// ids and key bytes, in order; errors name `var`.
pub(crate) fn parse_key_list(
    spec: &str,
    var: &'static str,
) -> Result<Vec<(String, [u8; 32])>, KeyError> {
    if spec.trim().is_empty() {
        return Err(KeyError::Missing { var });
    }
    let mut keys: Vec<(String, [u8; 32])> = Vec::new();
    for (position, entry) in spec.split(',').enumerate() {
        let (id, key) = entry
            .trim()
            .split_once(':')
            .ok_or(KeyError::Malformed { var, position })?;
        if id.is_empty() || key.is_empty() {
            return Err(KeyError::Malformed { var, position });
        }
        let id = id.to_owned();
        if id.len() > MAX_KEY_ID_LEN
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(KeyError::BadId { var, id });
        }
        if keys.iter().any(|(existing, _)| *existing == id) {
            return Err(KeyError::DuplicateId { var, id });
        }
        let Ok(bytes) = STANDARD
            .decode(key)
            .or_else(|_| URL_SAFE_NO_PAD.decode(key))
        else {
            return Err(KeyError::NotBase64 { var, id });
        };
        let len = bytes.len();
        let Ok(bytes) = <[u8; 32]>::try_from(bytes) else {
            return Err(KeyError::WrongLength { var, id, len });
        };
        keys.push((id, bytes));
    }
    Ok(keys)
}

/// Why a value could not be sealed or opened. Never garbage, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// No key is configured (see [`KeyError::Missing`]).
    #[error(transparent)]
    NoKey(#[from] KeyError),
    /// The stored value is not a sealed value (plain text from before sealing, or damaged).
    #[error(
        "{column} does not hold a sealed value (plain text from before sealing: run `neonhub secrets rotate`)"
    )]
    NotSealed {
        /// The column.
        column: String,
    },
    /// The value was sealed under a key id that is not configured.
    #[error("{column} was sealed under key {key_id:?}, which is not configured")]
    UnknownKey {
        /// The column.
        column: String,
        /// The key id the value names.
        key_id: String,
    },
    /// The value does not open: it was changed, or it belongs to another row or column.
    #[error(
        "{column} does not open: the value was tampered with or belongs to another row or column"
    )]
    Tampered {
        /// The column.
        column: String,
    },
    /// The secret is larger than [`MAX_SECRET_BYTES`].
    #[error("{column} is {len} bytes: secrets are at most {MAX_SECRET_BYTES}")]
    TooLarge {
        /// The column.
        column: String,
        /// Its length in bytes.
        len: usize,
    },
}

/// The configured keys: the first seals, all open. `Debug` shows the ids only.
pub struct SecretKeys {
    keys: Vec<(String, LessSafeKey)>,
    /// Nonces: a random 96-bit start drawn once, then one step per sealed value, so no
    /// two values of this process share a nonce and none costs a system call (a random
    /// 96-bit start makes a collision with another process's range negligible).
    nonce_start: [u8; NONCE_LEN],
    sealed: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("ids", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

impl SecretKeys {
    /// Parses `id:base64key,id:base64key,...` (standard or URL-safe base64, 32-byte keys).
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let keys = parse_key_list(spec, SECRET_KEYS_ENV)?
            .into_iter()
            .map(|(id, bytes)| {
                let unbound = UnboundKey::new(&AES_256_GCM, &bytes).expect("a 32-byte key");
                (id, LessSafeKey::new(unbound))
            })
            .collect();
        let mut nonce_start = [0_u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce_start)
            .expect("the operating system's random source");
        Ok(Self {
            keys,
            nonce_start,
            sealed: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The keys of `NEONHUB_SECRET_KEYS`; [`KeyError::Missing`] when it is unset or empty.
    pub fn from_env() -> Result<Self, KeyError> {
        Self::parse(&std::env::var(SECRET_KEYS_ENV).unwrap_or_default())
    }

    /// A new random 32-byte key, base64: for `id:key` entries (demo databases, tests, a
    /// rotation's next key).
    pub fn generate_key() -> String {
        let mut key = [0_u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the operating system's random source");
        STANDARD.encode(key)
    }

    /// The configured ids, the sealing key's first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// The id of the key that seals.
    pub fn sealing_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `value` for `column` of the row `row_id`.
    pub fn seal(&self, value: &Secret, row_id: &str, column: &str) -> Result<String, SealError> {
        let plain = value.expose().as_bytes();
        if plain.len() > MAX_SECRET_BYTES {
            return Err(SealError::TooLarge {
                column: column.to_owned(),
                len: plain.len(),
            });
        }
        let (id, key) = &self.keys[0];
        let step = self
            .sealed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut nonce = self.nonce_start;
        let low = u64::from_be_bytes(nonce[4..].try_into().expect("8 bytes")).wrapping_add(step);
        nonce[4..].copy_from_slice(&low.to_be_bytes());
        let mut sealed = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plain);
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(row_id, column)),
                &mut sealed[NONCE_LEN..],
            )
            .expect("AES-GCM seals any input below its limit");
        sealed.extend_from_slice(tag.as_ref());
        Ok(format!(
            "{SEALED_PREFIX}{id}:{}",
            URL_SAFE_NO_PAD.encode(&sealed)
        ))
    }

    /// Opens a value [`SecretKeys::seal`] made for the same row and column.
    pub fn open(&self, sealed: &str, row_id: &str, column: &str) -> Result<Secret, SealError> {
        let not_sealed = || SealError::NotSealed {
            column: column.to_owned(),
        };
        let rest = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(not_sealed)?;
        let (id, payload) = rest.split_once(':').ok_or_else(not_sealed)?;
        let key = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key)
            .ok_or_else(|| SealError::UnknownKey {
                column: column.to_owned(),
                key_id: id.to_owned(),
            })?;
        let tampered = || SealError::Tampered {
            column: column.to_owned(),
        };
        let mut bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| tampered())?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(tampered());
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| tampered())?;
        let plain = key
            .open_in_place(
                nonce,
                Aad::from(aad(row_id, column)),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| tampered())?;
        let text = std::str::from_utf8(plain).map_err(|_| tampered())?;
        Ok(Secret::new(text))
    }

    /// The key id a stored value names, if it is a sealed value at all (`None`: plain text).
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(SEALED_PREFIX)?
            .split_once(':')
            .map(|(id, _)| id)
    }
}

/// The keys the process seals and opens with when no [`with_keys`] scope says otherwise:
/// read from `NEONHUB_SECRET_KEYS` at first use, replaced by [`install_keys`].
static PROCESS_KEYS: std::sync::RwLock<Option<Arc<SecretKeys>>> = std::sync::RwLock::new(None);

tokio::task_local! {
    static TASK_KEYS: Option<Arc<SecretKeys>>;
}

/// Makes `keys` the process's keys (a service that reloads its configuration, a CLI given
/// keys on the command line); later calls of [`current_keys`] outside a [`with_keys`] scope
/// use them.
pub fn install_keys(keys: SecretKeys) {
    *PROCESS_KEYS.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
}

/// Runs `work` with `keys` as the keys of every seal and open inside it (on this task):
/// for a process that serves several key sets, and for tests that must not share the
/// environment. `None` runs it with no key at all (every seal and open is refused).
pub async fn with_keys<F: std::future::Future>(
    keys: Option<Arc<SecretKeys>>,
    work: F,
) -> F::Output {
    TASK_KEYS.scope(keys, work).await
}

/// The keys in force: the enclosing [`with_keys`] scope's, else the process's (parsed from
/// `NEONHUB_SECRET_KEYS` the first time). Without a usable key it is [`SealError::NoKey`]
/// naming the problem, at the call that needed a key.
pub fn current_keys() -> Result<Arc<SecretKeys>, SealError> {
    Ok(resolve(
        TASK_KEYS.try_with(Clone::clone).ok(),
        &PROCESS_KEYS,
        SECRET_KEYS_ENV,
        SecretKeys::from_env,
    )?)
}

/// The key set in force: the task's (`task`: `Some` inside a scope, whose `None` means no
/// key), else the process's, else parsed from the environment and kept (a failure is not
/// kept: a process that sets the variable later is not stuck).
pub(crate) fn resolve<T>(
    task: Option<Option<Arc<T>>>,
    process: &std::sync::RwLock<Option<Arc<T>>>,
    var: &'static str,
    from_env: impl FnOnce() -> Result<T, KeyError>,
) -> Result<Arc<T>, KeyError> {
    if let Some(keys) = task {
        return keys.ok_or(KeyError::Missing { var });
    }
    if let Some(keys) = process.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(Arc::clone(keys));
    }
    let keys = Arc::new(from_env()?);
    let mut slot = process.write().unwrap_or_else(|e| e.into_inner());
    Ok(Arc::clone(slot.get_or_insert(keys)))
}

/// Seals an optional secret for `column` of row `row_id` with the keys in force; `None`
/// stays `None` and needs no key.
pub fn seal_column(
    value: Option<&Secret>,
    row_id: &str,
    column: &str,
) -> Result<Option<String>, SealError> {
    value
        .map(|v| current_keys()?.seal(v, row_id, column))
        .transpose()
}

/// Opens an optional stored value of `column` of row `row_id` with the keys in force;
/// `None` stays `None` and needs no key. A plain-text value (from before sealing) is
/// [`SealError::NotSealed`]: `neonhub secrets rotate` seals those.
pub fn open_column(
    stored: Option<&str>,
    row_id: &str,
    column: &str,
) -> Result<Option<Secret>, SealError> {
    stored
        .map(|v| current_keys()?.open(v, row_id, column))
        .transpose()
}

/// The associated data: the row's id, length-prefixed so no two (row, column) pairs share
/// it, then the column's name.
fn aad(row_id: &str, column: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + row_id.len() + column.len());
    aad.extend_from_slice(&(row_id.len() as u64).to_be_bytes());
    aad.extend_from_slice(row_id.as_bytes());
    aad.extend_from_slice(column.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &str) -> SecretKeys {
        SecretKeys::parse(spec).unwrap()
    }

    #[test]
    fn a_value_opens_only_in_its_row_and_column_under_a_configured_key() {
        let (k1, k2) = (SecretKeys::generate_key(), SecretKeys::generate_key());
        let ring = keys(&format!("new:{k1},old:{k2}"));
        let token = Secret::new("ya29.a0AfH6SMBx-token");
        let sealed = ring.seal(&token, "row-1", "accessToken").unwrap();
        assert!(sealed.starts_with("nh1:new:"));
        assert!(!sealed.contains("ya29"));
        assert_eq!(ring.open(&sealed, "row-1", "accessToken").unwrap(), token);
        // Overhead: 28 bytes (nonce and tag) before base64.
        let raw = URL_SAFE_NO_PAD
            .decode(sealed.rsplit(':').next().unwrap())
            .unwrap();
        assert_eq!(raw.len() - token.expose().len(), 28);
        // Fresh nonce: the same value seals differently each time.
        assert_ne!(sealed, ring.seal(&token, "row-1", "accessToken").unwrap());
        // Another row, another column: refused.
        for (row, column) in [
            ("row-2", "accessToken"),
            ("row-1", "refreshToken"),
            ("row-1accessToken", ""),
        ] {
            assert!(
                matches!(
                    ring.open(&sealed, row, column),
                    Err(SealError::Tampered { .. })
                ),
                "{row} {column}"
            );
        }
        // A flipped byte anywhere in the payload: refused.
        let payload = sealed.rsplit(':').next().unwrap();
        for i in [0, payload.len() / 2, payload.len() - 1] {
            let mut bytes = payload.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let flipped = format!("nh1:new:{}", String::from_utf8(bytes).unwrap());
            assert!(matches!(
                ring.open(&flipped, "row-1", "accessToken"),
                Err(SealError::Tampered { .. })
            ));
        }
        // A key id nobody configured, a plain-text value, a truncated value.
        assert!(matches!(
            ring.open(&sealed.replacen("nh1:new:", "nh1:gone:", 1), "row-1", "accessToken"),
            Err(SealError::UnknownKey { key_id, .. }) if key_id == "gone"
        ));
        assert!(matches!(
            ring.open("ya29.plain", "row-1", "accessToken"),
            Err(SealError::NotSealed { .. })
        ));
        assert!(matches!(
            ring.open("nh1:new:AAAA", "row-1", "accessToken"),
            Err(SealError::Tampered { .. })
        ));
        // The old key still opens what it sealed; only the first seals.
        let by_old = keys(&format!("old:{k2}"))
            .seal(&token, "row-1", "accessToken")
            .unwrap();
        assert_eq!(ring.open(&by_old, "row-1", "accessToken").unwrap(), token);
        assert_eq!(SecretKeys::key_id_of(&by_old), Some("old"));
        assert_eq!(SecretKeys::key_id_of("plain"), None);
    }

    #[test]
    fn bad_key_lists_are_refused_naming_the_entry_never_the_key() {
        let good = SecretKeys::generate_key();
        let short = STANDARD.encode([7_u8; 16]);
        let var = SECRET_KEYS_ENV;
        for (spec, expected) in [
            ("", KeyError::Missing { var }),
            ("   ", KeyError::Missing { var }),
            ("nokey", KeyError::Malformed { var, position: 0 }),
            (
                &format!("a:{good},"),
                KeyError::Malformed { var, position: 1 },
            ),
            (
                &format!(":{good}"),
                KeyError::Malformed { var, position: 0 },
            ),
            ("a:", KeyError::Malformed { var, position: 0 }),
            (
                &format!("a b:{good}"),
                KeyError::BadId {
                    var,
                    id: "a b".into(),
                },
            ),
            (
                "a:not base64!",
                KeyError::NotBase64 {
                    var,
                    id: "a".into(),
                },
            ),
            (
                &format!("a:{short}"),
                KeyError::WrongLength {
                    var,
                    id: "a".into(),
                    len: 16,
                },
            ),
            (
                &format!("a:{good},a:{good}"),
                KeyError::DuplicateId {
                    var,
                    id: "a".into(),
                },
            ),
        ] {
            let err = SecretKeys::parse(spec).unwrap_err();
            assert_eq!(err, expected, "{spec:?}");
            assert!(!err.to_string().contains(&good));
        }
        let debug = format!("{:?}", keys(&format!("k1:{good}")));
        assert!(debug.contains("k1") && !debug.contains(&good), "{debug}");
    }

    #[test]
    fn large_secrets_are_sealed_whole_or_refused_never_cut() {
        let ring = keys(&format!("k:{}", SecretKeys::generate_key()));
        let big = Secret::new("x".repeat(MAX_SECRET_BYTES));
        let sealed = ring.seal(&big, "r", "apiKey").unwrap();
        assert_eq!(ring.open(&sealed, "r", "apiKey").unwrap(), big);
        let huge = Secret::new("x".repeat(1 << 20));
        assert!(
            matches!(ring.seal(&huge, "r", "apiKey"), Err(SealError::TooLarge { len, .. }) if len == 1 << 20)
        );
    }
}
