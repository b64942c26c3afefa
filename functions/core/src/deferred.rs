//! Work a request (or a cold start) starts that its answer need not wait for: spawned in a long-lived server, finished before the next event on Lambda.
//!
//! The request-limit counter syncs and the signing key's read-ahead are such work. In a server that keeps running
//! (`obctl dev --in-process`, the tests) both are spawned at once. A Lambda instance is frozen as soon as it asks for
//! its next event, so work left running then would stall mid-call until some later invocation; there the function's
//! runtime finishes it after the answer has been posted and before it asks for the next event (`ob_lambda`): the
//! caller has its answer, and the next request finds the work done, exactly as when the answer waited for it. Work
//! [`Deferred::beside`] the answer (a counter sync) starts at once, so it overlaps the request as before; work
//! [`Deferred::after`] it (the key's read-ahead) starts only once the answer is out, so the first answer of a cold
//! start shares the CPU with nothing it does not need.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

/// One piece of deferred work.
pub type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where deferred work goes; cheap to clone (clones share the queue).
#[derive(Clone, Default)]
pub struct Deferred(Option<Arc<Mutex<Queue>>>);

/// A Lambda's deferred work: started (beside the answer) and waiting (to start after it).
#[derive(Default)]
struct Queue {
    running: Vec<JoinHandle<()>>,
    waiting: Vec<Job>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Deferred::Spawned"),
            Some(_) => write!(f, "Deferred::Queued({} unfinished)", self.unfinished()),
        }
    }
}

impl Deferred {
    /// Work starts at once, on its own task, and nobody waits for it (a long-lived server). The default.
    pub fn spawned() -> Self {
        Self(None)
    }

    /// Work is tracked until [`Deferred::finish`] (a Lambda function's runtime, after each answer).
    pub fn queued() -> Self {
        Self(Some(Arc::default()))
    }

    /// Starts `work` now, on its own task; a queued `Deferred` finishes it after the answer. Call it within the
    /// Tokio runtime.
    pub fn beside(&self, work: impl Future<Output = ()> + Send + 'static) {
        let running = tokio::spawn(work);
        if let Some(Ok(mut queue)) = self.0.as_ref().map(|queue| queue.lock()) {
            queue.running.push(running);
        }
    }

    /// Starts `work` after the answer (queued) or now (spawned). Call it within the Tokio runtime.
    pub fn after(&self, work: impl Future<Output = ()> + Send + 'static) {
        match self.0.as_ref().map(|queue| queue.lock()) {
            Some(Ok(mut queue)) => queue.waiting.push(Box::pin(work)),
            // Spawned, or a panic while the queue was held: run the work rather than lose it.
            _ => {
                tokio::spawn(work);
            }
        }
    }

    /// Starts the work waiting for the answer, each job on its own task, and returns when every job started so far
    /// is done (at once for a spawning `Deferred`). Work the jobs add meanwhile is finished too, before this
    /// returns. Dropping the returned future (a time limit) leaves the jobs running.
    pub async fn finish(&self) {
        let Some(queue) = &self.0 else {
            return;
        };
        loop {
            let mut running = match queue.lock() {
                Ok(mut queue) => {
                    let waiting = std::mem::take(&mut queue.waiting);
                    let mut running = std::mem::take(&mut queue.running);
                    running.extend(waiting.into_iter().map(tokio::spawn));
                    running
                }
                Err(_) => return,
            };
            if running.is_empty() {
                return;
            }
            for job in &mut running {
                let _ = job.await;
            }
        }
    }

    /// How many jobs are waiting to start or not yet finished.
    pub fn unfinished(&self) -> usize {
        self.0
            .as_ref()
            .and_then(|queue| queue.lock().ok())
            .map(|queue| {
                queue.waiting.len()
                    + queue
                        .running
                        .iter()
                        .filter(|job| !job.is_finished())
                        .count()
            })
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
    async fn work_after_the_answer_waits_for_finish_and_runs_once() {
        let deferred = Deferred::queued();
        let done = Arc::new(AtomicUsize::new(0));
        deferred.after(counting(&done));
        deferred.after(counting(&done));
        tokio::task::yield_now().await;
        assert_eq!((done.load(Ordering::SeqCst), deferred.unfinished()), (0, 2));
        deferred.finish().await;
        assert_eq!((done.load(Ordering::SeqCst), deferred.unfinished()), (2, 0));
        deferred.finish().await;
        assert_eq!(done.load(Ordering::SeqCst), 2, "nothing runs twice");
    }

    #[tokio::test]
    async fn work_beside_the_answer_starts_at_once_and_finish_waits_for_it() {
        let deferred = Deferred::queued();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let done = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&done);
        deferred.beside(async move {
            let _ = started_tx.send(());
            let _ = release_rx.await;
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert!(started_rx.await.is_ok(), "started before finish");
        assert_eq!(deferred.unfinished(), 1);
        let _ = release_tx.send(());
        deferred.finish().await;
        assert_eq!((done.load(Ordering::SeqCst), deferred.unfinished()), (1, 0));
    }

    #[tokio::test]
    async fn work_added_by_deferred_work_is_finished_in_the_same_round() {
        let deferred = Deferred::queued();
        let done = Arc::new(AtomicUsize::new(0));
        let (inner, counted) = (deferred.clone(), Arc::clone(&done));
        deferred.after(async move { inner.after(counting(&counted)) });
        deferred.finish().await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn spawned_work_runs_without_anyone_waiting_for_it() {
        let deferred = Deferred::spawned();
        let (tx, rx) = tokio::sync::oneshot::channel();
        deferred.after(async move {
            let _ = tx.send(());
        });
        assert_eq!(deferred.unfinished(), 0);
        assert!(rx.await.is_ok());
    }
}
