//! What the Runtime API and the process watcher tell a pool: an instance is ready, took an invocation, answered,
//! failed its init, overran its timeout, or exited; each step answers whatever the instance held.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::pool::{ApiError, EXIT_GRACE, INIT_LIMIT, Job, NextEvent, Phase, Pool, reply, trace_id};
use super::{Failure, Outcome};
use crate::events::Event;

impl Pool {
    /// The runtime asked for work: its init is over, or its last invocation is.
    /// `false` when the instance is being stopped.
    pub fn ready(self: &Arc<Self>, id: u32) -> bool {
        let mut st = self.lock();
        let Some(slot) = st.slots.get_mut(&id) else {
            return false;
        };
        match &slot.phase {
            Phase::Init { spawned, .. } => {
                let init = spawned.elapsed();
                slot.init = Some(init);
                slot.unreported_init = Some(init);
                for waiter in slot.ready_waiters.drain(..) {
                    let _ = waiter.send(Ok(init));
                }
                self.events.send(Event::InstanceReady {
                    function: self.spec.name.clone(),
                    instance: id,
                    init,
                });
            }
            Phase::Finishing => {}
            // Asked again while working: the runtime abandoned its invocation.
            Phase::Busy { .. } | Phase::Assigned | Phase::Idle | Phase::Stopping(_) => {
                return false;
            }
        }
        slot.phase = Phase::Idle;
        st.idle.push_back(id);
        self.pump(&mut st);
        true
    }

    /// The instance took `job` from its inbox: it is now busy with it until the timeout.
    pub fn begin(self: &Arc<Self>, id: u32, job: Job) -> Option<NextEvent> {
        let mut st = self.lock();
        let Some(slot) = st.slots.get_mut(&id) else {
            st.pending.push_front(job);
            return None;
        };
        let started = Instant::now();
        let timeout = self.spec.timeout;
        slot.invocations += 1;
        slot.phase = Phase::Busy {
            request_id: job.request_id.clone(),
            reply: job.reply,
            started,
            init: slot.unreported_init.take(),
        };
        let pool = Arc::clone(self);
        let request_id = job.request_id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            pool.time_out(id, &request_id);
        });
        let deadline = SystemTime::now() + timeout;
        Some(NextEvent {
            request_id: job.request_id,
            payload: job.payload,
            deadline_ms: deadline
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
            trace_id: trace_id(),
        })
    }

    /// The runtime answered (`/response` or `/error`).
    pub fn complete(&self, id: u32, request_id: &str, outcome: Outcome) -> Result<(), ApiError> {
        let mut st = self.lock();
        let slot = st.slots.get_mut(&id).ok_or(ApiError::InvalidRequestId)?;
        match &slot.phase {
            Phase::Busy {
                request_id: current,
                ..
            } if current == request_id => {}
            _ => return Err(ApiError::InvalidRequestId),
        }
        if let Phase::Busy {
            reply,
            started,
            init,
            ..
        } = std::mem::replace(&mut slot.phase, Phase::Finishing)
        {
            self::reply(reply, outcome, started, init);
        }
        Ok(())
    }

    /// The runtime reported an init error; it should exit now.
    pub fn init_error(
        self: &Arc<Self>,
        id: u32,
        error_type: String,
        message: String,
    ) -> Result<(), ApiError> {
        let mut st = self.lock();
        let slot = st.slots.get_mut(&id).ok_or(ApiError::InvalidState)?;
        let Phase::Init { error, .. } = &mut slot.phase else {
            return Err(ApiError::InvalidState);
        };
        *error = Some((error_type, message));
        let handle = Arc::clone(&slot.handle);
        tokio::spawn(async move {
            tokio::time::sleep(EXIT_GRACE).await;
            handle.kill.notify_one();
        });
        Ok(())
    }

    pub(super) fn time_out(&self, id: u32, request_id: &str) {
        let mut st = self.lock();
        let Some(slot) = st.slots.get_mut(&id) else {
            return;
        };
        let still_busy =
            matches!(&slot.phase, Phase::Busy { request_id: current, .. } if current == request_id);
        if !still_busy {
            return;
        }
        let stderr = slot.handle.stderr_tail();
        let after = self.spec.timeout;
        if let Phase::Busy {
            reply,
            started,
            init,
            ..
        } = std::mem::replace(
            &mut slot.phase,
            Phase::Stopping(format!(
                "Task timed out after {:.2} seconds",
                after.as_secs_f64()
            )),
        ) {
            self::reply(
                reply,
                Outcome::Failed(Failure::Timeout { after, stderr }),
                started,
                init,
            );
        }
        slot.handle.kill.notify_one();
    }

    pub(super) fn stop_if_still_starting(&self, id: u32) {
        let mut st = self.lock();
        if let Some(slot) = st.slots.get_mut(&id)
            && let Phase::Init { error, .. } = &mut slot.phase
        {
            error.get_or_insert_with(|| {
                (
                    "Runtime.InitTimeout".into(),
                    format!("init did not finish within {} s", INIT_LIMIT.as_secs()),
                )
            });
            slot.handle.kill.notify_one();
        }
    }

    /// The process is gone (`status` says how): answer whatever it held and replace it if work waits.
    pub fn exited(self: &Arc<Self>, id: u32, status: &str) {
        let mut st = self.lock();
        st.idle.retain(|i| *i != id);
        let Some(mut slot) = st.slots.remove(&id) else {
            return;
        };
        // A job handed over but never taken goes back to the front of the queue.
        for job in slot.handle.drain_inbox().into_iter().rev() {
            st.pending.push_front(job);
        }
        let stderr = slot.handle.stderr_tail();
        let reason = match std::mem::replace(&mut slot.phase, Phase::Idle) {
            Phase::Init { error, .. } => {
                let (error_type, message) = error.unwrap_or_else(|| {
                    (
                        "Runtime.ExitError".into(),
                        format!("exited before asking for an invocation ({status})"),
                    )
                });
                let failure = Failure::Init {
                    error_type,
                    message,
                    stderr: stderr.clone(),
                };
                let reason = failure.message();
                for waiter in slot.ready_waiters.drain(..) {
                    let _ = waiter.send(Err(failure.clone()));
                }
                // As on Lambda, the invocation that waited for this cold start gets its error.
                if !st.shutting_down
                    && let Some(job) = st.pending.pop_front()
                {
                    reply(job.reply, Outcome::Failed(failure), Instant::now(), None);
                }
                reason
            }
            Phase::Busy {
                reply: caller,
                started,
                init,
                ..
            } => {
                let failure = Failure::Exited {
                    status: status.to_owned(),
                    stderr: stderr.clone(),
                };
                let reason = failure.message();
                reply(caller, Outcome::Failed(failure), started, init);
                reason
            }
            Phase::Stopping(reason) => reason,
            Phase::Idle | Phase::Assigned | Phase::Finishing => {
                format!("exited while idle ({status})")
            }
        };
        self.events.send(Event::InstanceStopped {
            function: self.spec.name.clone(),
            instance: id,
            reason,
            stderr,
        });
        self.gone.notify_waiters();
        self.pump(&mut st);
    }
}
