//! An in-process cache of API-key lookups.
//!
//! Authenticating every request with a database read costs a thread hand-off
//! to the read pool and back (about an eighth of the server's CPU under
//! load). Found keys are kept here for a short time. Every write that can
//! change what a lookup returns (tier, revocation, billing) clears the cache
//! once it has committed, so changes made through this process apply from
//! the very next request; changes made by another process (the CLI on the
//! same database, another server node on the same PostgreSQL) apply within
//! [`KEY_CACHE_TTL`]. On PostgreSQL those writes also `NOTIFY` every node
//! (src/store/postgres/listen.rs), which clears its cache at once; while
//! that notification connection is up, entries may live for
//! [`NOTIFIED_TTL`]. Shared by both backends.

use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::store::{KeyOwner, Micros};

/// How long a cached lookup is trusted without asking the database.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// How long, while every change is notified: a bound for the rare change
/// whose notification is lost in flight (the listener also checks its
/// connection every second and drops to [`KEY_CACHE_TTL`] when it fails).
pub const NOTIFIED_TTL: Duration = Duration::from_secs(10);
/// More entries than this and the cache starts over (bounds its memory).
const MAX_ENTRIES: usize = 100_000;

type Found = Arc<KeyOwner>;

/// Cached key lookups, keyed by key digest.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: DashMap<[u8; 32], (Found, Instant)>,
    generation: AtomicU64,
    /// Whether every change by another process is notified to this one.
    notified: AtomicBool,
}

impl KeyCache {
    /// A fresh cached lookup, if any.
    pub(crate) fn get(&self, digest: &[u8; 32]) -> Option<Found> {
        let entry = self.entries.get(digest)?;
        let (found, at) = entry.value();
        let ttl = if self.notified.load(Ordering::Acquire) {
            NOTIFIED_TTL
        } else {
            KEY_CACHE_TTL
        };
        (at.elapsed() < ttl).then(|| found.clone())
    }

    /// Whether changes made elsewhere are notified from now on (the
    /// listener connected) or not any more (it dropped). Either way what is
    /// cached may have missed a change: forget it.
    pub(crate) fn set_notified(&self, notified: bool) {
        self.notified.store(notified, Ordering::Release);
        self.clear();
    }

    /// The generation to pass to [`KeyCache::insert`] for a lookup that
    /// starts now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a lookup unless the cache was cleared since it started (it
    /// may have read a row that a write has changed meanwhile).
    pub(crate) fn insert(&self, digest: [u8; 32], found: Found, generation: u64) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.clear();
        }
        if self.generation() == generation {
            self.entries.insert(digest, (found, Instant::now()));
        }
    }

    /// Forgets everything (after a write that may change lookups).
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }
}

/// When each key last authenticated a request, since the last flush: the
/// in-memory half of `last_used_at`. Noting a use takes an uncontended lock
/// and, for a key already noted, no allocation; the store writes what was
/// noted at most once a minute (the server's flush task) and when it
/// closes, one statement per key, never a write per request. Shared by
/// both backends.
#[derive(Default)]
pub struct KeyUses {
    pending: Mutex<HashMap<String, Micros>>,
}

impl KeyUses {
    /// Notes that `key_id` authenticated a request at `at`.
    pub(crate) fn note(&self, key_id: &str, at: Micros) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(key_id) {
            Some(last) => *last = (*last).max(at),
            None => {
                pending.insert(key_id.to_owned(), at);
            }
        }
    }

    /// Takes what was noted since the last call, to be written.
    pub(crate) fn take(&self) -> Vec<(String, Micros)> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *pending).into_iter().collect()
    }

    /// Puts back uses whose write failed, so the next flush retries them
    /// (keeping any later use noted meanwhile).
    pub(crate) fn restore(&self, uses: Vec<(String, Micros)>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for (key_id, at) in uses {
            let last = pending.entry(key_id).or_insert(at);
            *last = (*last).max(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Account, ApiKeyRecord};

    #[test]
    fn uses_are_noted_once_per_key_and_survive_a_failed_write() {
        let uses = KeyUses::default();
        uses.note("key_1", 10);
        uses.note("key_1", 30);
        uses.note("key_1", 20);
        uses.note("key_2", 5);
        let mut taken = uses.take();
        taken.sort();
        assert_eq!(taken, vec![("key_1".into(), 30), ("key_2".into(), 5)]);
        assert!(uses.take().is_empty());
        uses.note("key_1", 40);
        uses.restore(taken);
        let mut again = uses.take();
        again.sort();
        assert_eq!(again, vec![("key_1".into(), 40), ("key_2".into(), 5)]);
    }

    fn found(tier: &str) -> Found {
        let account = Account {
            id: "acct_1".into(),
            name: "a".into(),
            tier: tier.into(),
            created_at: 0,
        };
        let key = ApiKeyRecord {
            id: "key_1".into(),
            account_id: "acct_1".into(),
            prefix: "idos_sk_abcd".into(),
            created_at: 0,
            revoked_at: None,
            last_used_at: None,
        };
        Arc::new(KeyOwner {
            key,
            account: Arc::new(account),
        })
    }

    #[test]
    fn a_lookup_that_raced_with_a_clear_is_not_cached() {
        let cache = KeyCache::default();
        let generation = cache.generation();
        cache.clear();
        cache.insert([1; 32], found("free"), generation);
        assert!(cache.get(&[1; 32]).is_none());
        cache.insert([1; 32], found("pro"), cache.generation());
        assert_eq!(
            cache.get(&[1; 32]).map(|found| found.account.tier.clone()),
            Some("pro".to_string())
        );
        cache.clear();
        assert!(cache.get(&[1; 32]).is_none());
    }
}
