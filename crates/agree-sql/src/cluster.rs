//! The processes of a Ballista cluster that can run agree's SQL: `agree scheduler`
//! and `agree executor`. The stock `ballista-scheduler`/`ballista-executor`
//! binaries do not know this crate's aggregate functions; these roles register
//! [`aggregate_functions`] — the list every local session uses too — on the
//! scheduler (its session builder, which plans the queries) and on every executor
//! (its function registry, which decodes the plans it runs). The client side is
//! [`crate::engine::context`] with `--engine ballista://HOST:PORT`.
//!
//! The tables of an experiment are Parquet files read by path: every process of a
//! cluster must see the experiment directory (and the analysis's work folder
//! beside it) at the same path — one machine, or a shared file system.

use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::engine::{MemorySize, parse_host_port};
use crate::error::SqlError;
use crate::functions::aggregate_functions;

/// How often an executor tells the scheduler it is alive.
pub const HEARTBEAT_SECONDS: u64 = 1;

/// `agree scheduler`: the cluster's scheduler, which plans queries and hands their
/// tasks to executors.
#[derive(clap::Args, Debug, Clone)]
pub struct SchedulerArgs {
    /// Address to listen on, HOST:PORT (port 0 takes a free port; the address is
    /// printed once listening).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub bind: String,
    /// Host name by which executors and clients reach this scheduler (default: the bind host).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor counts as lost and its
    /// tasks run again elsewhere; with no executor left for as long, running
    /// queries fail instead of waiting. Executors beat every
    /// [`HEARTBEAT_SECONDS`] seconds, so at least 3.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..))]
    pub executor_timeout: u64,
}

/// `agree executor`: a worker of the cluster, running the tasks its scheduler hands out.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecutorArgs {
    /// The scheduler's address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// Address of this executor's Arrow Flight service (results and shuffle data),
    /// HOST:PORT; port 0 takes a free port, registered with the scheduler.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    pub bind: String,
    /// Port of this executor's gRPC service (0 takes a free port).
    #[arg(long, value_name = "PORT", default_value_t = 50052)]
    pub grpc_port: u16,
    /// Host name by which the scheduler, other executors and clients reach this
    /// executor (default: the bind host; give one when binding 0.0.0.0).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Directory for shuffle files and spills (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory this executor's tasks may use together (e.g. 4GiB); sorts, joins and
    /// aggregations spill to the work directory to stay within it. Default: 70% of
    /// the machine's memory.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<MemorySize>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub vcores: Option<usize>,
}

/// Runs the scheduler until the process is stopped.
pub fn run_scheduler(args: &SchedulerArgs, quiet: bool) -> Result<(), SqlError> {
    crate::cli::runtime()?.block_on(scheduler(args, quiet))
}

/// Runs an executor until the process is stopped (or its scheduler tells it to stop).
pub fn run_executor(args: &ExecutorArgs, quiet: bool) -> Result<(), SqlError> {
    crate::cli::runtime()?.block_on(executor(args, quiet))
}

fn role_error(role: &str, problem: impl std::fmt::Display) -> SqlError {
    SqlError::Engine {
        engine: role.to_string(),
        problem: problem.to_string(),
    }
}

/// Every function a local session has: DataFusion's defaults (the nested
/// `make_array` and friends included, which Ballista's own lists lack) and this
/// crate's aggregates.
fn local_functions() -> SessionState {
    let mut state = SessionStateBuilder::new().with_default_features().build();
    for f in aggregate_functions() {
        // Registering replaces a function of the same name; none of ours has one.
        let _ = state.register_udaf(f);
    }
    state
}

/// The scheduler's session builder: Ballista's session, with every function of a
/// local session it lacks (Ballista's own versions kept where it has them).
fn session_with_functions(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let mut state = default_session_builder(config)?;
    let local = local_functions();
    for (name, f) in local.scalar_functions() {
        if !state.scalar_functions().contains_key(name) {
            state.register_udf(f.clone())?;
        }
    }
    for (name, f) in local.aggregate_functions() {
        if !state.aggregate_functions().contains_key(name) {
            state.register_udaf(f.clone())?;
        }
    }
    for (name, f) in local.window_functions() {
        if !state.window_functions().contains_key(name) {
            state.register_udwf(f.clone())?;
        }
    }
    Ok(state)
}

async fn scheduler(args: &SchedulerArgs, quiet: bool) -> Result<(), SqlError> {
    let role = "agree scheduler";
    let (host, port) = parse_host_port(&args.bind).map_err(|p| role_error(role, format!("--bind: {p}")))?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| role_error(role, format!("cannot listen on {}: {e}", args.bind)))?;
    let bound = listener.local_addr().map_err(|e| role_error(role, e))?;
    let config = SchedulerConfig {
        bind_host: host.clone(),
        bind_port: bound.port(),
        external_host: args.external_host.clone().unwrap_or(host),
        executor_timeout_seconds: args.executor_timeout,
        expire_dead_executor_interval_seconds: args.executor_timeout.clamp(1, 15),
        no_executors_grace_period_seconds: args.executor_timeout,
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(session_with_functions));
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| role_error(role, e))?;
    let server = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| role_error(role, e))?;
    if !quiet {
        eprintln!("agree scheduler listening on {bound}");
    }
    start_grpc_service_with_listener(listener, server)
        .await
        .map_err(|e| role_error(role, e))
}

/// `port`, or a free port of `host` when it is 0.
fn port_or_free(host: &str, port: u16) -> Result<u16, String> {
    if port != 0 {
        return Ok(port);
    }
    let listener = StdListener::bind((host, 0)).map_err(|e| format!("no free port on {host}: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

async fn executor(args: &ExecutorArgs, quiet: bool) -> Result<(), SqlError> {
    let role = "agree executor";
    let (scheduler_host, scheduler_port) =
        parse_host_port(&args.scheduler).map_err(|p| role_error(role, format!("--scheduler: {p}")))?;
    let scheduler: Vec<SocketAddr> = (scheduler_host.as_str(), scheduler_port)
        .to_socket_addrs()
        .map_err(|e| role_error(role, format!("--scheduler {}: {e}", args.scheduler)))?
        .collect();
    if scheduler.is_empty() {
        return Err(role_error(
            role,
            format!("--scheduler {} resolves to no address", args.scheduler),
        ));
    }
    let (host, port) = parse_host_port(&args.bind).map_err(|p| role_error(role, format!("--bind: {p}")))?;
    let port = port_or_free(&host, port).map_err(|p| role_error(role, p))?;
    let grpc_port = port_or_free(&host, args.grpc_port).map_err(|p| role_error(role, p))?;
    if let Some(dir) = &args.work_dir {
        std::fs::create_dir_all(dir).map_err(|source| SqlError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let registry = BallistaFunctionRegistry::from(&local_functions());
    let memory = match args.memory_limit {
        Some(MemorySize(limit)) => limit,
        None => crate::engine::default_memory_limit(),
    };
    let config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: Some(args.external_host.clone().unwrap_or_else(|| host.clone())),
        port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: args.vcores.unwrap_or(0),
        work_dir: args.work_dir.as_ref().map(|d| d.to_string_lossy().into_owned()),
        memory_pool_size: memory,
        executor_heartbeat_interval_seconds: HEARTBEAT_SECONDS,
        print_thread_info: false,
        override_function_registry: Some(Arc::new(registry)),
        ..ExecutorProcessConfig::default()
    };
    if !quiet {
        eprintln!(
            "agree executor on {host}:{port} (gRPC {grpc_port}), scheduler {}",
            args.scheduler
        );
    }
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| role_error(role, e))
}
