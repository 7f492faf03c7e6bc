//! Long steps as durable MCP Tasks (SEP-2663, the `io.modelcontextprotocol/tasks`
//! extension). A `tools/call` of a long-running tool from a client that declared the
//! extension is answered with a task handle once its record is durable in the session
//! store; the call runs in the background here (`runner.rs`), and `tasks/get`,
//! `tasks/update` and `tasks/cancel` are answered from the store, so any process or replica
//! on the same store answers them. A runner that dies stops renewing its lease, and the
//! next `tasks/get` marks its task failed with the runner's name (`settle.rs`).

mod confirm;
mod runner;
mod settle;
pub(crate) mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use mcp_tools::{catalogue, Toolbox};
use rmcp::model::{CreateTaskResult, ErrorData, GetTaskResult, InputResponses, Tool};
use serde_json::Value;
use session_core::{SessionId, StoreError, TaskId, TaskRecord, TaskRunner, Tasks};

use crate::cli::ServeArgs;

/// How tasks are kept and watched (`--task-ttl`, `--task-lease`, `--task-poll-interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskConfig {
    /// How long a task's record stays readable after its last write (so after it ends).
    pub(crate) ttl: Duration,
    /// How long a runner's claim lasts without renewal; renewed every third of it.
    pub(crate) lease: Duration,
    /// The polling interval suggested to clients.
    pub(crate) poll_interval: Duration,
}

impl TaskConfig {
    /// The flags of `serve`, parsed with the one duration syntax; zero and absurd values are
    /// refused with the flag's name.
    pub(crate) fn from_args(args: &ServeArgs) -> anyhow::Result<TaskConfig> {
        let parse = |flag: &str, text: &str, max: Duration| -> anyhow::Result<Duration> {
            let d = store_open::parse_duration(text)
                .with_context(|| format!("invalid {flag} {text:?}"))?;
            if d.is_zero() || d > max {
                anyhow::bail!(
                    "invalid {flag} {text:?}: give a duration above zero and at most {}s",
                    max.as_secs()
                );
            }
            Ok(d)
        };
        let day = Duration::from_secs(86_400);
        Ok(TaskConfig {
            ttl: parse("--task-ttl", &args.task_ttl, 30 * day)?,
            lease: parse("--task-lease", &args.task_lease, Duration::from_secs(3600))?,
            poll_interval: parse(
                "--task-poll-interval",
                &args.task_poll_interval,
                Duration::from_secs(60),
            )?,
        })
    }
}

/// Tasks over the session store: created by `tools/call`, answered by `tasks/*`. Cheap to
/// clone.
#[derive(Clone)]
pub(crate) struct TaskService {
    inner: Arc<Inner>,
}

struct Inner {
    tasks: Tasks,
    tools: Toolbox,
    config: TaskConfig,
    /// This process, as the runner of the tasks it starts: a random instance id (so a
    /// restarted process with the same pid is a different runner), pid and host.
    me: TaskRunner,
    /// The tools that may run as tasks (`ToolDescriptor::long_running`).
    long_running: Vec<&'static str>,
    /// Set at shutdown: every runner stops its call and records why.
    stop: tokio::sync::watch::Sender<bool>,
    /// The runners of this process, to wait for at shutdown.
    running: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The extra time past a lease before a task is declared abandoned: a renewal delayed by a
/// slow store is not a dead runner.
const GRACE: Duration = Duration::from_secs(2);

impl TaskService {
    /// The service over the toolbox's store, or `None` for a backend without task records
    /// (then the server declares no tasks extension and every call stays synchronous).
    pub(crate) fn new(tools: Toolbox, config: TaskConfig) -> Option<TaskService> {
        let Some(tasks) = tools.sessions().tasks() else {
            tracing::warn!("this session store keeps no task records: long steps run synchronously (no MCP tasks)");
            return None;
        };
        let instance = TaskId::generate().map_or_else(
            |_| {
                format!(
                    "{}-{}",
                    std::process::id(),
                    Utc::now().timestamp_nanos_opt().unwrap_or(0)
                )
            },
            |id| id.to_string(),
        );
        let me = TaskRunner {
            instance,
            pid: std::process::id(),
            host: host_name(),
        };
        tracing::info!(instance = %me.instance, pid = me.pid, host = %me.host, "MCP tasks enabled");
        let long_running = catalogue()
            .into_iter()
            .filter(|t| t.long_running)
            .map(|t| t.name)
            .collect();
        Some(TaskService {
            inner: Arc::new(Inner {
                tasks,
                tools,
                config,
                me,
                long_running,
                stop: tokio::sync::watch::channel(false).0,
                running: std::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    /// Declares, for a tool that may run as a task, that it may (SEP-2663's
    /// `execution.taskSupport: "optional"`; rmcp's `Tool` has no `execution` field, so it
    /// goes in `_meta` under that name).
    pub(crate) fn declare_support(&self, tool: &mut Tool) {
        if !self.runs_as_task(&tool.name) {
            return;
        }
        let mut meta = tool.meta.take().unwrap_or_default();
        meta.0.insert(
            "execution".into(),
            serde_json::json!({"taskSupport": "optional"}),
        );
        tool.meta = Some(meta);
    }

    /// Whether `tool` may run as a task.
    pub(crate) fn runs_as_task(&self, tool: &str) -> bool {
        self.inner.long_running.contains(&tool)
    }

    /// Creates the task's record (durable when this returns) and starts the call in the
    /// background: the task handle for the client.
    pub(crate) async fn start(
        &self,
        tool: String,
        args: Value,
        roots: Vec<PathBuf>,
    ) -> Result<CreateTaskResult, ErrorData> {
        let inner = &self.inner;
        let now = inner.tasks.now();
        let session_id = args
            .get("session_id")
            .and_then(Value::as_str)
            .and_then(|s| SessionId::new(s).ok());
        let mut record = TaskRecord::new(
            TaskId::generate().map_err(store_error)?,
            tool.clone(),
            now,
            inner.config.ttl.as_millis() as u64,
            inner.config.poll_interval.as_millis() as u64,
        );
        record.session_id = session_id;
        record.status_message = Some(format!("{tool} started"));
        record.runner = Some(inner.me.clone());
        record.lease_until = Some(now + chrono_duration(inner.config.lease));
        let created = inner.tasks.create(record).await.map_err(store_error)?;
        let handle = CreateTaskResult::new(wire::task(&created.value));
        let runner = tokio::spawn(runner::run(
            Arc::clone(&self.inner),
            created.value.id.clone(),
            tool,
            args,
            roots,
        ));
        let mut running = inner.running.lock().unwrap_or_else(|e| e.into_inner());
        running.retain(|r| !r.is_finished());
        running.push(runner);
        Ok(handle)
    }

    /// At shutdown: every task this process runs stops (its call dropped, so its program is
    /// killed and its lock released) and is recorded failed with the reason, so no client
    /// waits for a lease to run out; waits for them up to `bound`.
    pub(crate) async fn shutdown(&self, bound: Duration) {
        self.inner.stop.send_replace(true);
        let runners: Vec<_> =
            std::mem::take(&mut *self.inner.running.lock().unwrap_or_else(|e| e.into_inner()));
        if runners.is_empty() {
            return;
        }
        tracing::info!(tasks = runners.len(), "stopping the running tasks");
        let all = async {
            for r in runners {
                let _ = r.await;
            }
        };
        if tokio::time::timeout(bound, all).await.is_err() {
            tracing::warn!("tasks still running at shutdown; their leases will run out");
        }
    }

    /// `tasks/get`: the task as stored; one whose runner stopped renewing its lease is
    /// marked failed first (`settle`), so no task is left `working` after its runner died.
    pub(crate) async fn get(&self, id: &str) -> Result<GetTaskResult, ErrorData> {
        let record = self.live(id).await?;
        let record = settle::abandoned(&self.inner, record).await?;
        Ok(GetTaskResult::new(wire::detailed(&record)))
    }

    /// `tasks/cancel`: asks the runner to stop (it drops the call, which kills the child
    /// program and releases the step lock, and writes `cancelled`); a task whose runner is
    /// gone is cancelled at once. A task that has ended is refused (SEP-2663: `-32602`).
    pub(crate) async fn cancel(&self, id: &str) -> Result<(), ErrorData> {
        let record = self.live(id).await?;
        settle::cancel(&self.inner, record).await
    }

    /// `tasks/update`: stores the answers to outstanding input requests for the runner to
    /// read; keys not outstanding (unknown or already answered) are ignored, per SEP-2663.
    pub(crate) async fn update(
        &self,
        id: &str,
        responses: InputResponses,
    ) -> Result<(), ErrorData> {
        let record = self.live(id).await?;
        let answers = settle::outstanding(&record, responses);
        if answers.is_empty() {
            return Ok(());
        }
        let task_id = record.id.clone();
        let written = self
            .inner
            .tasks
            .update(&task_id, move |t| {
                let answers = settle::outstanding(t, answers.clone());
                let mut stored = match t.input_responses.take() {
                    Some(Value::Object(o)) => o,
                    _ => serde_json::Map::new(),
                };
                stored.extend(answers);
                t.input_responses = Some(Value::Object(stored));
                Ok(())
            })
            .await;
        written.map(|_| ()).map_err(store_error)
    }

    /// The record of `id` unless it is unknown or past its TTL.
    async fn live(&self, id: &str) -> Result<TaskRecord, ErrorData> {
        let task_id = TaskId::new(id).map_err(|_| wire::unknown_task(id))?;
        match self.inner.tasks.get(&task_id).await {
            Ok(v) => Ok(v.value),
            Err(StoreError::TaskNotFound(_)) => Err(wire::unknown_task(id)),
            Err(e) => Err(store_error(e)),
        }
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A store failure answering a `tasks/*` method: an internal error that says what failed.
fn store_error(e: StoreError) -> ErrorData {
    ErrorData::internal_error(format!("the task store failed: {e}"), None)
}

/// This machine's name, for the runner identity in messages (the kernel's, then the
/// environment's; "unknown-host" when neither says).
fn host_name() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn config(args: &[&str]) -> anyhow::Result<TaskConfig> {
        let mut all = vec!["ckm", "serve"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all)?.command {
            Some(Command::Serve(serve)) => TaskConfig::from_args(&serve),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_task_flags_default_to_an_hour_fifteen_seconds_and_one_second() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.ttl, c.lease, c.poll_interval),
            (
                Duration::from_secs(3600),
                Duration::from_secs(15),
                Duration::from_secs(1)
            )
        );
        let c = config(&[
            "--task-ttl",
            "2h",
            "--task-lease",
            "3s",
            "--task-poll-interval",
            "250ms",
        ])
        .unwrap();
        assert_eq!(
            (c.ttl, c.lease, c.poll_interval),
            (
                Duration::from_secs(7200),
                Duration::from_secs(3),
                Duration::from_millis(250)
            )
        );
    }

    /// A service over an in-memory store, and a task in `state` whose runner's lease ended
    /// `lapsed_s` seconds ago.
    async fn service_with(state: session_core::TaskState, lapsed_s: i64) -> (TaskService, String) {
        let store: Arc<dyn session_core::SessionStore> = Arc::new(session_core::MemoryStore::new());
        let sessions = session_core::Sessions::new(store, session_core::SessionsConfig::default());
        let tools = Toolbox::new(sessions, mcp_tools::ToolboxConfig::default());
        let config = TaskConfig {
            ttl: Duration::from_secs(60),
            lease: Duration::from_secs(3),
            poll_interval: Duration::from_secs(1),
        };
        let service = TaskService::new(tools, config).unwrap();
        let now = service.inner.tasks.now();
        let mut record = TaskRecord::new(
            TaskId::generate().unwrap(),
            "build_image",
            now,
            60_000,
            1000,
        );
        record.state = state;
        record.runner = Some(TaskRunner {
            instance: "gone".into(),
            pid: 7,
            host: "h".into(),
        });
        record.lease_until = Some(now - chrono::Duration::seconds(lapsed_s));
        let id = service
            .inner
            .tasks
            .create(record)
            .await
            .unwrap()
            .value
            .id
            .to_string();
        (service, id)
    }

    #[tokio::test]
    async fn cancelling_a_task_whose_runner_is_gone_cancels_it_at_once() {
        let (service, id) = service_with(session_core::TaskState::Working, 10).await;
        service.cancel(&id).await.unwrap();
        let got = serde_json::to_value(service.get(&id).await.unwrap()).unwrap();
        assert_eq!(got["status"], "cancelled", "{got}");
        let again = service.cancel(&id).await.unwrap_err();
        assert_eq!(again.code.0, -32602);
    }

    #[tokio::test]
    async fn a_live_runner_is_asked_to_cancel_and_its_task_is_not_failed_by_a_read() {
        let (service, id) = service_with(session_core::TaskState::Working, -10).await;
        service.cancel(&id).await.unwrap();
        let got = serde_json::to_value(service.get(&id).await.unwrap()).unwrap();
        assert_eq!(got["status"], "working", "{got}");
        let task_id = TaskId::new(id.as_str()).unwrap();
        let stored = service.inner.tasks.get(&task_id).await.unwrap().value;
        assert!(stored.cancel_requested);
    }

    #[tokio::test]
    async fn reading_a_task_whose_runner_is_gone_fails_it_for_good() {
        let (service, id) = service_with(session_core::TaskState::InputRequired, 10).await;
        let got = serde_json::to_value(service.get(&id).await.unwrap()).unwrap();
        assert_eq!(got["status"], "failed", "{got}");
        assert!(
            got["error"]["message"]
                .as_str()
                .unwrap()
                .contains("runner 7@h"),
            "{got}"
        );
        let unknown = service.get("0123").await.unwrap_err();
        assert_eq!(unknown.code.0, -32602);
    }

    #[test]
    fn a_zero_or_unparsable_task_duration_is_refused_naming_the_flag() {
        for (flag, bad) in [
            ("--task-lease", "0s"),
            ("--task-ttl", "soon"),
            ("--task-poll-interval", "2h"),
        ] {
            let err = format!("{:#}", config(&[flag, bad]).unwrap_err());
            assert!(err.contains(flag), "{flag} {bad}: {err}");
        }
    }
}
