//! A small per-process cache bounded in size and age, for facts a warm instance may reuse for a moment.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `capacity` entries, each served for at most `ttl`. When full, an
/// insert first drops expired entries, then the oldest one, so a stream of
/// distinct keys (random app ids, say) can never grow it.
#[derive(Debug)]
pub struct BoundedCache<K, V> {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value if present and younger than the TTL.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_age_are_bounded() {
        let cache = BoundedCache::new(3, Duration::from_secs(60));
        for i in 0..100 {
            cache.insert(i, i * 2);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&99), Some(198));
        assert_eq!(cache.get(&0), None);
        let short = BoundedCache::new(3, Duration::ZERO);
        short.insert("a", 1);
        assert_eq!(short.get(&"a"), None);
        cache.remove(&99);
        assert_eq!(cache.get(&99), None);
    }
}
