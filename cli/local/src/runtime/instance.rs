//! One instance: the function's process, its own Runtime API endpoint, its log lines, and the watcher that reports its end.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{Notify, mpsc};

use super::pool::{Job, Pool};
use crate::events::{Event, EventBus, LogLine, Stream};

/// Lines of stderr kept to explain a crash.
const STDERR_TAIL: usize = 30;

/// What the pool and the Runtime API share about one instance.
#[derive(Debug)]
pub(crate) struct Handle {
    pub id: u32,
    pub pid: Option<u32>,
    /// Stops the process (the watcher then reports it).
    pub kill: Notify,
    pub inbox: mpsc::UnboundedSender<Job>,
    inbox_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>,
    stderr: Mutex<VecDeque<String>>,
}

impl Handle {
    /// Waits for the job the pool hands this instance.
    pub async fn next_job(&self) -> Option<Job> {
        self.inbox_rx.lock().await.recv().await
    }

    /// Jobs handed over but not taken (the instance died first).
    pub fn drain_inbox(&self) -> Vec<Job> {
        let mut jobs = Vec::new();
        if let Ok(mut rx) = self.inbox_rx.try_lock() {
            while let Ok(job) = rx.try_recv() {
                jobs.push(job);
            }
        }
        jobs
    }

    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn keep_stderr(&self, line: &str) {
        let mut tail = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line.to_owned());
    }
}

/// Starts instance `id` of the pool's function: its Runtime API on a free
/// loopback port, then the process, pointed at it through `AWS_LAMBDA_RUNTIME_API`.
pub(crate) fn spawn(pool: Arc<Pool>, id: u32) -> std::io::Result<Arc<Handle>> {
    let spec = &pool.spec;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut child = Command::new(&spec.executable)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(lambda_environment(spec, id, &address.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let (inbox, inbox_rx) = mpsc::unbounded_channel();
    let handle = Arc::new(Handle {
        id,
        pid: child.id(),
        kill: Notify::new(),
        inbox,
        inbox_rx: tokio::sync::Mutex::new(inbox_rx),
        stderr: Mutex::new(VecDeque::new()),
    });
    let events = pool.events().clone();
    let readers = [
        child
            .stdout
            .take()
            .map(|out| read_lines(out, Stream::Stdout, &pool, &handle, events.clone())),
        child
            .stderr
            .take()
            .map(|err| read_lines(err, Stream::Stderr, &pool, &handle, events)),
    ];
    let router = super::api::router(Arc::clone(&pool), Arc::clone(&handle));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let watched = Arc::clone(&handle);
    tokio::spawn(async move {
        let status = tokio::select! {
            status = child.wait() => status,
            () = watched.kill.notified() => {
                let _ = child.start_kill();
                child.wait().await
            }
        };
        // Let the readers take the last lines, so a crash report shows them.
        for reader in readers.into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        server.abort();
        let status = match status {
            Ok(status) => status.to_string(),
            Err(err) => format!("exit status unknown: {err}"),
        };
        pool.exited(watched.id, &status);
    });
    Ok(handle)
}

fn read_lines(
    from: impl AsyncRead + Unpin + Send + 'static,
    stream: Stream,
    pool: &Arc<Pool>,
    handle: &Arc<Handle>,
    events: EventBus,
) -> tokio::task::JoinHandle<()> {
    let function = pool.spec.name.clone();
    let handle = Arc::clone(handle);
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(text)) = lines.next_line().await {
            if stream == Stream::Stderr {
                handle.keep_stderr(&text);
            }
            events.send(Event::Log(LogLine {
                function: function.clone(),
                instance: handle.id,
                stream,
                text,
            }));
        }
    })
}

/// What Lambda sets in every execution environment (reserved: the template cannot override them).
fn lambda_environment(
    spec: &super::FunctionSpec,
    id: u32,
    runtime_api: &str,
) -> Vec<(String, String)> {
    let task_root = spec
        .executable
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.function_name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", spec.log_group.clone()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name(id)),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", spec.region.clone()),
        ("AWS_DEFAULT_REGION", spec.region.clone()),
        ("LAMBDA_TASK_ROOT", task_root),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime".to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_owned()),
    ];
    if let Some(format) = &spec.log_format {
        env.push(("AWS_LAMBDA_LOG_FORMAT", format.clone()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `2026/05/01/[$LATEST]<hex>`, Lambda's log stream naming.
fn log_stream_name(id: u32) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}/{:02}/{:02}/[$LATEST]{:08x}{}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        id,
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    )
}
