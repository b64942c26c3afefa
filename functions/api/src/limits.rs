//! Request limits per app and per client address: counted per instance, synced to the limits table at most once a second per counter, beside the answer.
//!
//! API Gateway's stage throttle is one bucket for every tenant, so one client
//! with any app's key could make every app see 429s. Here each app and each
//! client address has its own per-minute budget. A warm instance counts its
//! own requests and, at most once a second per counter, adds them to the
//! shared counter item (`ob_core::limits::add`, one `UpdateItem` returning the
//! total) beside the request, as work its answer does not wait for
//! (`ob_core::deferred`; on Lambda finished after the answer, before the
//! instance takes its next request). A request is refused
//! when the last known total plus this instance's unsynced count reaches the
//! limit. Accuracy: every instance may overshoot by what it served in the last
//! second before it learned the total; cost: at most one write per second per
//! active counter and instance, none on the request's critical path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ob_core::clock;
use ob_core::limits::Counter;

use ob_core::{Error, Store};

/// How often an instance adds its count to a shared counter.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Windows are one minute.
pub const WINDOW_SECS: i64 = 60;
/// How the subject of every request counter begins (`req:app`, `req:ip:…`),
/// apart from the login and registration counters of the same table.
pub const SUBJECT_PREFIX: &str = "req:";
/// Most counters one instance tracks (distinct apps and addresses per minute).
const MAX_COUNTERS: usize = 4096;

/// Requests per minute an app, and each client address of it, may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub per_app: u32,
    pub per_client: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_app: 6000,
            per_client: 600,
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    /// Total of the shared counter as of the last sync.
    shared: u64,
    /// Requests this instance admitted since it last synced.
    unsynced: u64,
    /// Requests being added to the shared counter right now.
    in_flight: u64,
    last_sync: Option<Instant>,
    syncing: bool,
}

/// An addition to make to a shared counter while the request runs.
#[derive(Debug)]
pub struct Sync {
    counter: Counter,
    n: u64,
}

/// This instance's view of every counter it touched this minute.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<String, Window>>,
}

impl Limiter {
    /// Admits one request against each `(counter)`, or refuses it with
    /// `Throttled` until the window ends. Returns the syncs to run alongside.
    pub fn admit(&self, counters: &[Counter]) -> Result<Vec<Sync>, Error> {
        let now = clock::now_epoch();
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(Vec::new());
        };
        if windows.len() >= MAX_COUNTERS {
            // Counters of past windows are done; if still full, start over
            // (the shared totals are re-learned within a second).
            windows.retain(|pk, _| counters.iter().any(|c| &c.pk == pk));
        }
        for counter in counters {
            let window = windows.entry(counter.pk.clone()).or_default();
            if window.shared + window.in_flight + window.unsynced >= counter.limit {
                return Err(Error::Throttled {
                    retry_after_secs: u64::try_from(counter.window_ends - now).unwrap_or(1).max(1),
                });
            }
        }
        let mut syncs = Vec::new();
        for counter in counters {
            let window = windows.entry(counter.pk.clone()).or_default();
            window.unsynced += 1;
            let due = window.last_sync.is_none_or(|at| at.elapsed() >= SYNC_EVERY);
            if due && !window.syncing {
                window.syncing = true;
                window.last_sync = Some(Instant::now());
                window.in_flight = std::mem::take(&mut window.unsynced);
                syncs.push(Sync {
                    counter: counter.clone(),
                    n: window.in_flight,
                });
            }
        }
        Ok(syncs)
    }

    /// Runs the syncs (in parallel) and records the totals they return.
    pub async fn sync(&self, store: &Store, syncs: Vec<Sync>) {
        let calls = syncs
            .iter()
            .map(|sync| ob_core::limits::add(store, &sync.counter, sync.n));
        let results = futures::future::join_all(calls).await;
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        for (sync, result) in syncs.into_iter().zip(results) {
            let window = windows.entry(sync.counter.pk.clone()).or_default();
            window.syncing = false;
            window.in_flight = 0;
            match result {
                Ok(total) => window.shared = window.shared.max(total),
                Err(err) => {
                    // Counted again at the next sync; a lost write only loosens the limit.
                    window.unsynced += sync.n;
                    tracing::warn!(error = %err, "could not sync a request counter");
                }
            }
        }
    }
}

/// The counters of one request: its app's (when a valid key named one), and
/// its client address's within that app (or among keyless requests, `_`).
pub fn counters(app_id: Option<&str>, client: Option<&str>, limits: RateLimits) -> Vec<Counter> {
    let now = clock::now_epoch();
    let mut counters = Vec::new();
    if let Some(app_id) = app_id {
        counters.push(Counter::new(
            app_id,
            &format!("{SUBJECT_PREFIX}app"),
            limits.per_app,
            WINDOW_SECS,
            now,
        ));
    }
    if let Some(client) = client {
        counters.push(Counter::new(
            app_id.unwrap_or("_"),
            &format!("{SUBJECT_PREFIX}ip:{client}"),
            limits.per_client,
            WINDOW_SECS,
            now,
        ));
    }
    counters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_refuses_at_the_limit_and_syncs_at_most_once_a_second() {
        let limiter = Limiter::default();
        let limits = RateLimits {
            per_app: 3,
            per_client: 100,
        };
        let counters = counters(Some("shop"), Some("10.0.0.1"), limits);
        let first = limiter.admit(&counters).unwrap();
        assert_eq!(first.len(), 2, "the first request syncs both counters");
        assert!(
            limiter.admit(&counters).unwrap().is_empty(),
            "not again within a second"
        );
        assert!(limiter.admit(&counters).unwrap().is_empty());
        assert!(matches!(
            limiter.admit(&counters),
            Err(Error::Throttled { retry_after_secs }) if (1..=60).contains(&retry_after_secs)
        ));
    }
}
