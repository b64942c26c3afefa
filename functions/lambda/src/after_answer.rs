//! Lambda's runtime loop with the function's deferred work finished after each answer is posted, before the next event is taken.
//!
//! Lambda freezes an instance when it asks the Runtime API for its next event; until then it keeps running, and the
//! caller already has the answer posted before. So deferred work (`ob_core::deferred`: the request-limit syncs
//! started beside the request, the signing key's read-ahead started here) is finished here, never frozen half-way,
//! and the next request finds it done (unless it takes longer than [`AFTER_ANSWER_LIMIT`]: an unreachable service
//! must not hold the next request for its retries).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::lambda_runtime::LambdaInvocation;
use lambda_http::{Error, Service};
use ob_core::deferred::Deferred;

/// The longest the next event waits for the work deferred by the last answer (a healthy counter sync or key read
/// takes milliseconds). Work still running then goes on in the background, where a frozen instance pauses it.
const AFTER_ANSWER_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The outermost layer of a function's `lambda_runtime::Runtime`: the inner service's future ends once the answer is
/// posted; the deferred work is finished then.
#[derive(Debug, Clone)]
pub struct AfterAnswer(pub Deferred);

impl<S> tower::Layer<S> for AfterAnswer {
    type Service = AfterAnswerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AfterAnswerService {
            inner,
            deferred: self.0.clone(),
        }
    }
}

#[derive(Debug)]
pub struct AfterAnswerService<S> {
    inner: S,
    deferred: Deferred,
}

impl<S> Service<LambdaInvocation> for AfterAnswerService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
{
    type Response = ();
    type Error = Error;
    type Future = AfterAnswerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        AfterAnswerFuture::Answering(Box::pin(self.inner.call(invocation)), self.deferred.clone())
    }
}

/// An invocation: the answer (posted when the inner future ends), then the deferred work, then its outcome.
pub enum AfterAnswerFuture<F> {
    Answering(Pin<Box<F>>, Deferred),
    Deferring(Pin<Box<dyn Future<Output = ()>>>, Option<Result<(), Error>>),
    Done,
}

impl<F> std::fmt::Debug for AfterAnswerFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Answering(..) => "Answering",
            Self::Deferring(..) => "Deferring",
            Self::Done => "Done",
        })
    }
}

impl<F: Future<Output = Result<(), Error>>> Future for AfterAnswerFuture<F> {
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                Self::Answering(answered, deferred) => {
                    let Poll::Ready(outcome) = answered.as_mut().poll(cx) else {
                        return Poll::Pending;
                    };
                    let deferred = deferred.clone();
                    let work = async move {
                        if tokio::time::timeout(AFTER_ANSWER_LIMIT, deferred.finish())
                            .await
                            .is_err()
                        {
                            tracing::warn!(
                                "work deferred after the answer is still running; taking the next event"
                            );
                        }
                    };
                    *this = Self::Deferring(Box::pin(work), Some(outcome));
                }
                Self::Deferring(work, outcome) => {
                    if work.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    let outcome = outcome.take().unwrap_or(Ok(()));
                    *this = Self::Done;
                    return Poll::Ready(outcome);
                }
                Self::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tower::Layer;

    fn invocation() -> LambdaInvocation {
        LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: Default::default(),
            context: lambda_http::Context::default(),
        }
    }

    /// The queued work runs once the inner service (which posts the answer) is done, not before and not in it, and
    /// the invocation ends only when the work is done (then the runtime asks for the next event).
    #[tokio::test]
    async fn deferred_work_runs_after_the_answer_and_before_the_invocation_ends() {
        let log = Arc::new(Mutex::new(Vec::<&str>::new()));
        let deferred = Deferred::queued();
        let (answering, queueing) = (Arc::clone(&log), deferred.clone());
        let inner = tower::service_fn(move |_: LambdaInvocation| {
            let (log, deferred, work_log) = (
                Arc::clone(&answering),
                queueing.clone(),
                Arc::clone(&answering),
            );
            async move {
                deferred.after(async move {
                    tokio::task::yield_now().await;
                    work_log
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push("deferred work");
                });
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push("answer posted");
                Ok::<(), Error>(())
            }
        });
        let mut service = AfterAnswer(deferred.clone()).layer(inner);
        let outcome = service.call(invocation()).await;
        assert!(outcome.is_ok());
        assert_eq!(
            *log.lock().unwrap_or_else(|e| e.into_inner()),
            vec!["answer posted", "deferred work"]
        );
        assert_eq!(deferred.unfinished(), 0);
    }
}
