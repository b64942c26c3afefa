//! One function's instances: which is starting, idle or busy with which invocation, and the invocations waiting for one.
//!
//! Every state change happens under one lock and never awaits, so an instance
//! that dies at any moment leaves no invocation unanswered: its current
//! invocation fails, and one handed to it but not yet taken goes back to the queue.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, oneshot};

use super::instance::{self, Handle};
use super::{Completed, Failure, FunctionSpec, FunctionStatus, InstanceStatus, Outcome};
use crate::events::{Event, EventBus};

/// Lambda's limit on a function's init phase.
pub(super) const INIT_LIMIT: Duration = Duration::from_secs(10);
/// How long a runtime that reported an init error may take to exit by itself.
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(2);

/// An invocation waiting for, or handed to, an instance.
#[derive(Debug)]
pub(crate) struct Job {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub reply: oneshot::Sender<Completed>,
}

/// What `/invocation/next` answers with.
#[derive(Debug)]
pub(crate) struct NextEvent {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub deadline_ms: u128,
    pub trace_id: String,
}

#[derive(Debug)]
pub(crate) struct Pool {
    pub spec: FunctionSpec,
    pub(super) events: EventBus,
    state: Mutex<State>,
    /// Signalled whenever an instance is gone (shutdown waits on it).
    pub(super) gone: Notify,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) slots: BTreeMap<u32, Slot>,
    pub(super) idle: VecDeque<u32>,
    pub(super) pending: VecDeque<Job>,
    pub(super) next_id: u32,
    pub(super) shutting_down: bool,
}

#[derive(Debug)]
pub(super) struct Slot {
    pub(super) handle: Arc<Handle>,
    pub(super) phase: Phase,
    pub(super) invocations: u64,
    pub(super) init: Option<Duration>,
    /// The cold start, until the first invocation reports it.
    pub(super) unreported_init: Option<Duration>,
    pub(super) ready_waiters: Vec<oneshot::Sender<Result<Duration, Failure>>>,
}

#[derive(Debug)]
pub(super) enum Phase {
    Init {
        spawned: Instant,
        /// What the runtime posted to `/init/error`.
        error: Option<(String, String)>,
    },
    Idle,
    /// A job sits in the instance's inbox.
    Assigned,
    Busy {
        request_id: String,
        reply: oneshot::Sender<Completed>,
        started: Instant,
        init: Option<Duration>,
    },
    /// Answered; the runtime will ask for the next invocation.
    Finishing,
    /// Being stopped; the reason is reported when the process is gone.
    Stopping(String),
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Self::Init { .. } => "starting",
            Self::Idle => "idle",
            Self::Assigned | Self::Busy { .. } | Self::Finishing => "busy",
            Self::Stopping(_) => "stopping",
        }
    }
}

/// A Runtime API call that does not fit the instance's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// Not the invocation the instance is working on (400).
    InvalidRequestId,
    /// Not allowed in the instance's state (403).
    InvalidState,
}

impl Pool {
    pub fn new(spec: FunctionSpec, events: EventBus) -> Arc<Self> {
        Arc::new(Self {
            spec,
            events,
            state: Mutex::new(State::default()),
            gone: Notify::new(),
        })
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn submit(self: &Arc<Self>, job: Job) {
        let mut st = self.lock();
        if st.shutting_down {
            return; // dropping the reply tells the caller
        }
        st.pending.push_back(job);
        self.pump(&mut st);
    }

    /// Hands waiting jobs to idle instances, then starts instances for the rest.
    pub(super) fn pump(self: &Arc<Self>, st: &mut State) {
        while let Some(job) = st.pending.pop_front() {
            if job.reply.is_closed() {
                continue; // the caller gave up waiting
            }
            let Some(id) = st.idle.pop_front() else {
                st.pending.push_front(job);
                break;
            };
            match st.slots.get_mut(&id) {
                Some(slot) if matches!(slot.phase, Phase::Idle) => {
                    slot.phase = Phase::Assigned;
                    if let Err(returned) = slot.handle.inbox.send(job) {
                        st.pending.push_front(returned.0);
                    }
                }
                _ => st.pending.push_front(job),
            }
        }
        let starting = st
            .slots
            .values()
            .filter(|s| matches!(s.phase, Phase::Init { .. }))
            .count();
        let mut wanted = st.pending.len().saturating_sub(starting);
        while wanted > 0 && !st.shutting_down {
            let alive = st
                .slots
                .values()
                .filter(|s| !matches!(s.phase, Phase::Stopping(_)))
                .count();
            if alive >= self.spec.max_instances {
                break;
            }
            if let Err(failure) = self.spawn(st) {
                // Nothing can start: the invocation that asked gets the reason.
                if let Some(job) = st.pending.pop_front() {
                    reply(job.reply, Outcome::Failed(failure), Instant::now(), None);
                }
            }
            wanted -= 1;
        }
    }

    fn spawn(self: &Arc<Self>, st: &mut State) -> Result<u32, Failure> {
        let id = st.next_id;
        st.next_id += 1;
        let handle = instance::spawn(Arc::clone(self), id).map_err(|err| {
            let failure = Failure::Init {
                error_type: "Runtime.InvalidEntrypoint".into(),
                message: format!("cannot run {}: {err}", self.spec.executable.display()),
                stderr: Vec::new(),
            };
            self.events.send(Event::InstanceStopped {
                function: self.spec.name.clone(),
                instance: id,
                reason: failure.message(),
                stderr: Vec::new(),
            });
            failure
        })?;
        self.events.send(Event::InstanceStarted {
            function: self.spec.name.clone(),
            instance: id,
            pid: handle.pid,
        });
        st.slots.insert(
            id,
            Slot {
                handle,
                phase: Phase::Init {
                    spawned: Instant::now(),
                    error: None,
                },
                invocations: 0,
                init: None,
                unreported_init: None,
                ready_waiters: Vec::new(),
            },
        );
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(INIT_LIMIT).await;
            pool.stop_if_still_starting(id);
        });
        Ok(id)
    }

    /// Starts one instance and waits for its init to end.
    pub async fn start_one(self: &Arc<Self>) -> Result<Duration, Failure> {
        let (tell, told) = oneshot::channel();
        {
            let mut st = self.lock();
            let id = self.spawn(&mut st)?;
            if let Some(slot) = st.slots.get_mut(&id) {
                slot.ready_waiters.push(tell);
            }
        }
        told.await.unwrap_or_else(|_| {
            Err(Failure::Exited {
                status: "the local runtime stopped".into(),
                stderr: Vec::new(),
            })
        })
    }

    pub fn status(&self) -> FunctionStatus {
        let st = self.lock();
        FunctionStatus {
            function: self.spec.name.clone(),
            function_name: self.spec.function_name.clone(),
            executable: self.spec.executable.display().to_string(),
            waiting: st.pending.len(),
            instances: st
                .slots
                .iter()
                .map(|(id, slot)| InstanceStatus {
                    instance: *id,
                    pid: slot.handle.pid,
                    state: slot.phase.name(),
                    invocations: slot.invocations,
                    init_ms: slot.init.map(|d| d.as_secs_f64() * 1000.0),
                })
                .collect(),
        }
    }

    /// Stops every instance; waits up to five seconds for them to exit.
    pub async fn shutdown(&self) {
        {
            let mut st = self.lock();
            st.shutting_down = true;
            st.pending.clear();
            for slot in st.slots.values_mut() {
                slot.phase = Phase::Stopping("stopped with obctl dev".into());
                slot.handle.kill.notify_one();
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let gone = self.gone.notified();
            if self.lock().slots.is_empty() {
                return;
            }
            if tokio::time::timeout_at(deadline, gone).await.is_err() {
                return;
            }
        }
    }
}

pub(super) fn reply(
    to: oneshot::Sender<Completed>,
    outcome: Outcome,
    started: Instant,
    init: Option<Duration>,
) {
    let _ = to.send(Completed {
        outcome,
        started,
        init,
    });
}

/// An X-Ray trace header as Lambda passes it (`Root=1-{time}-{id};Parent={id};Sampled=0`).
pub(super) fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &random[..24],
        &random[16..32]
    )
}
