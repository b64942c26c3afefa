//! The local Lambda service: each function runs as real processes of its own binary, every instance talking to its
//! own Runtime API endpoint, one invocation at a time, as Lambda runs them.
//!
//! An invocation waits for an idle instance; when none is idle another is
//! started, up to the function's bound. An instance that fails its init,
//! crashes or overruns the function's timeout is reported with its stderr and
//! dropped; the next invocation starts a fresh one.

mod api;
mod instance;
mod lifecycle;
mod pool;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use crate::events::EventBus;
use pool::{Job, Pool};

/// One function as the template defines it, ready to run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Short name (`auth`), as in `ob_core::functions`.
    pub name: String,
    /// The deployed `FunctionName` (`one-backend-local-auth`).
    pub function_name: String,
    pub arn: String,
    pub executable: PathBuf,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub region: String,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`.
    pub log_group: String,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`), when the template sets it.
    pub log_format: Option<String>,
    /// The template's `Environment.Variables`, resolved, plus credentials and
    /// the endpoint; the variables Lambda itself sets are added per instance.
    pub env: Vec<(String, String)>,
    /// Most instances run at once; further invocations wait for one.
    pub max_instances: usize,
}

/// What became of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// From handing the event to an instance to its answer (or failure).
    pub duration: Duration,
    /// The instance's cold start, on its first invocation.
    pub init: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response payload.
    Response(Vec<u8>),
    /// The function reported an error (`/invocation/{id}/error`).
    FunctionError { error_type: String, body: String },
    /// Lambda could not run it to completion.
    Failed(Failure),
}

/// Why an invocation has no answer from the function.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The instance failed its init (reported to `/init/error`, or it exited before asking for work).
    Init {
        error_type: String,
        message: String,
        stderr: Vec<String>,
    },
    /// The process exited while handling the invocation.
    Exited { status: String, stderr: Vec<String> },
    /// The function's timeout passed; the instance was stopped.
    Timeout {
        after: Duration,
        stderr: Vec<String>,
    },
    /// The response exceeded Lambda's 6 MB.
    ResponseTooLarge,
    /// No such function in this stack.
    UnknownFunction(String),
}

impl Failure {
    /// The error type Lambda reports for it.
    pub fn error_type(&self) -> &str {
        match self {
            Self::Init { error_type, .. } => error_type,
            Self::Exited { .. } => "Runtime.ExitError",
            Self::Timeout { .. } => "Sandbox.Timedout",
            Self::ResponseTooLarge => "Function.ResponseSizeTooLarge",
            Self::UnknownFunction(_) => "ResourceNotFoundException",
        }
    }

    /// One line for the console.
    pub fn message(&self) -> String {
        match self {
            Self::Init { message, .. } => format!("init failed: {message}"),
            Self::Exited { status, .. } => format!("Runtime exited with error: {status}"),
            Self::Timeout { after, .. } => {
                format!("Task timed out after {:.2} seconds", after.as_secs_f64())
            }
            Self::ResponseTooLarge => "the response exceeds 6 MB".to_owned(),
            Self::UnknownFunction(name) => format!("no function {name}"),
        }
    }

    pub fn stderr(&self) -> &[String] {
        match self {
            Self::Init { stderr, .. }
            | Self::Exited { stderr, .. }
            | Self::Timeout { stderr, .. } => stderr,
            _ => &[],
        }
    }
}

/// Largest event or response Lambda accepts for a synchronous invocation.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// Every function of the stack; cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    pools: Arc<BTreeMap<String, Arc<Pool>>>,
    events: EventBus,
}

/// One function's instances, for `/_dev/functions`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStatus {
    pub function: String,
    pub function_name: String,
    pub executable: String,
    pub waiting: usize,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    pub instance: u32,
    pub pid: Option<u32>,
    pub state: &'static str,
    pub invocations: u64,
    pub init_ms: Option<f64>,
}

impl Runtime {
    pub fn new(functions: Vec<FunctionSpec>, events: EventBus) -> Self {
        let pools = functions
            .into_iter()
            .map(|spec| (spec.name.clone(), Pool::new(spec, events.clone())))
            .collect();
        Self {
            pools: Arc::new(pools),
            events,
        }
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Runs one invocation of `function` with `payload` (a JSON document).
    pub async fn invoke(&self, function: &str, payload: Vec<u8>) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let Some(pool) = self.pools.get(function) else {
            return Invocation {
                request_id,
                outcome: Outcome::Failed(Failure::UnknownFunction(function.to_owned())),
                duration: Duration::ZERO,
                init: None,
            };
        };
        let (reply, answer) = oneshot::channel();
        pool.submit(Job {
            request_id: request_id.clone(),
            payload,
            reply,
        });
        match answer.await {
            Ok(done) => Invocation {
                request_id,
                outcome: done.outcome,
                duration: done.started.elapsed(),
                init: done.init,
            },
            // The pool dropped the job: the runtime is shutting down.
            Err(_) => Invocation {
                request_id,
                outcome: Outcome::Failed(Failure::Exited {
                    status: "the local runtime stopped".into(),
                    stderr: Vec::new(),
                }),
                duration: Duration::ZERO,
                init: None,
            },
        }
    }

    /// Starts one instance of every function and waits until each is ready or
    /// failed its init: cold starts happen now, and init errors show at once.
    pub async fn start_instances(&self) -> Vec<(String, Result<Duration, Failure>)> {
        let waits = self
            .pools
            .values()
            .map(|pool| async move { (pool.spec.name.clone(), pool.start_one().await) });
        futures::future::join_all(waits).await
    }

    pub fn status(&self) -> Vec<FunctionStatus> {
        self.pools.values().map(|pool| pool.status()).collect()
    }

    /// Stops every instance and waits (briefly) for the processes to exit.
    pub async fn shutdown(&self) {
        let stops = self.pools.values().map(|pool| pool.shutdown());
        futures::future::join_all(stops).await;
    }
}

/// What the pool hands back for a job.
#[derive(Debug)]
pub(crate) struct Completed {
    pub outcome: Outcome,
    pub started: Instant,
    pub init: Option<Duration>,
}
