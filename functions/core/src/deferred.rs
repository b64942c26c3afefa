//! Work a request (or a cold start) starts that its answer need not wait for: beside it in a long-lived server, after it on Lambda.
//!
//! The request-limit counter syncs and the signing key's read-ahead are such work. In a server that keeps running
//! (`obctl dev --in-process`, the tests) they are spawned at once. A Lambda instance is frozen as soon as it asks for
//! its next event, so work left running then would stall mid-call until some later invocation; there the work is
//! queued and run by the function's runtime after the answer has been posted and before it asks for the next event
//! (`ob_lambda`): the caller has its answer, the instance serves its next request with the work done, exactly as when
//! the answer waited for it, and the first answer of a cold start shares the CPU with nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One piece of deferred work.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where deferred work goes; cheap to clone (clones share the queue).
#[derive(Clone, Default)]
pub struct Deferred(Option<Arc<Mutex<Vec<Job>>>>);

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Deferred::Spawned"),
            Some(queue) => write!(
                f,
                "Deferred::Queued({} waiting)",
                queue.lock().map(|jobs| jobs.len()).unwrap_or(0)
            ),
        }
    }
}

impl Deferred {
    /// Work starts at once, on its own task (a long-lived server). The default.
    pub fn spawned() -> Self {
        Self(None)
    }

    /// Work waits in a queue until [`Deferred::run_queued`] (a Lambda function's runtime, after each answer).
    pub fn queued() -> Self {
        Self(Some(Arc::default()))
    }

    /// Runs `work` beside the answer (spawned) or after it (queued). Call it within the Tokio runtime.
    pub fn defer(&self, work: impl Future<Output = ()> + Send + 'static) {
        let Some(queue) = &self.0 else {
            tokio::spawn(work);
            return;
        };
        match queue.lock() {
            Ok(mut jobs) => jobs.push(Box::pin(work)),
            // A panic while the queue was held: run the work rather than lose it.
            Err(_) => {
                tokio::spawn(work);
            }
        }
    }

    /// Runs the work queued so far, each job on its own task, and returns when it is done (at once for a spawning
    /// `Deferred`). Work the jobs queue meanwhile runs too, before this returns. Dropping the returned future (a
    /// time limit) leaves the jobs running.
    pub async fn run_queued(&self) {
        let Some(queue) = &self.0 else {
            return;
        };
        loop {
            let jobs = match queue.lock() {
                Ok(mut jobs) => std::mem::take(&mut *jobs),
                Err(_) => return,
            };
            if jobs.is_empty() {
                return;
            }
            futures::future::join_all(jobs.into_iter().map(tokio::spawn)).await;
        }
    }

    /// How many jobs wait in the queue.
    pub fn waiting(&self) -> usize {
        self.0
            .as_ref()
            .and_then(|queue| queue.lock().ok().map(|jobs| jobs.len()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(done: &Arc<AtomicUsize>) -> impl Future<Output = ()> + Send + 'static {
        let done = Arc::clone(done);
        async move {
            done.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn queued_work_waits_for_run_queued_and_runs_once() {
        let deferred = Deferred::queued();
        let done = Arc::new(AtomicUsize::new(0));
        deferred.defer(counting(&done));
        deferred.defer(counting(&done));
        tokio::task::yield_now().await;
        assert_eq!((done.load(Ordering::SeqCst), deferred.waiting()), (0, 2));
        deferred.run_queued().await;
        assert_eq!((done.load(Ordering::SeqCst), deferred.waiting()), (2, 0));
        deferred.run_queued().await;
        assert_eq!(done.load(Ordering::SeqCst), 2, "nothing runs twice");
    }

    #[tokio::test]
    async fn work_queued_by_queued_work_runs_in_the_same_round() {
        let deferred = Deferred::queued();
        let done = Arc::new(AtomicUsize::new(0));
        let (inner, counted) = (deferred.clone(), Arc::clone(&done));
        deferred.defer(async move { inner.defer(counting(&counted)) });
        deferred.run_queued().await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn spawned_work_runs_without_anyone_waiting_for_it() {
        let deferred = Deferred::spawned();
        let (tx, rx) = tokio::sync::oneshot::channel();
        deferred.defer(async move {
            let _ = tx.send(());
        });
        assert_eq!(deferred.waiting(), 0);
        assert!(rx.await.is_ok());
    }
}
