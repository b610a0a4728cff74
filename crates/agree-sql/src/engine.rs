//! Where and within how much memory the SQL runs: the `--engine`, `--memory-limit`
//! and `--spill-dir` options of `agree analyze` and `agree sql`, and the DataFusion
//! context they make.
//!
//! `--engine local` (the default) runs DataFusion in this process;
//! `--engine ballista://HOST:PORT` makes the context a client of a running Apache
//! Ballista cluster (started with `agree scheduler` and `agree executor`, see
//! [`crate::cluster`]), and `--engine ballista-standalone` starts a scheduler and an
//! executor inside this process. The same SQL runs on all three; on Ballista every
//! table the session registers must be something a plan can ship to executors
//! (Parquet files, `VALUES`), never an in-memory table ([`is_distributed`] says
//! which kind of context a caller holds).
//!
//! With a memory limit, a `FairSpillPool` of that size backs every operator:
//! sorts, joins and aggregations spill to the disk manager's directory
//! (`--spill-dir`, else the OS temporary directory) instead of growing past it,
//! and an operator that cannot spill fails with an error naming the step and the
//! limit instead of the process being killed by the OS.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use ballista_core::config::BallistaConfig;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::SqlError;
use crate::functions::register_functions;

/// Where the SQL of a session runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A running Ballista cluster, by its scheduler's address.
    Ballista {
        /// The scheduler's host name or IP address.
        host: String,
        /// The scheduler's gRPC port.
        port: u16,
    },
    /// A Ballista scheduler and one executor started inside this process.
    BallistaStandalone,
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text == "local" {
            return Ok(Engine::Local);
        }
        if text == "ballista-standalone" {
            return Ok(Engine::BallistaStandalone);
        }
        let Some(address) = text.strip_prefix("ballista://") else {
            return Err(format!(
                "`{s}`: an engine is `local`, `ballista://HOST:PORT` (a running cluster's scheduler) \
                 or `ballista-standalone`"
            ));
        };
        let (host, port) = parse_host_port(address.trim_end_matches('/'))
            .map_err(|problem| format!("`{s}`: {problem} (e.g. ballista://127.0.0.1:50050)"))?;
        Ok(Engine::Ballista { host, port })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } if host.contains(':') => write!(f, "ballista://[{host}]:{port}"),
            Engine::Ballista { host, port } => write!(f, "ballista://{host}:{port}"),
            Engine::BallistaStandalone => f.write_str("ballista-standalone"),
        }
    }
}

/// `HOST:PORT` (an IPv6 host in brackets) as its host and port.
pub fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("`{text}` has no port: give HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("`{text}` has no host: give HOST:PORT"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("`{port}` in `{text}` is not a port (0–65535)"))?;
    Ok((host.to_string(), port))
}

/// A memory size as the options take it: `512MiB`, `4GiB`, `4GB` (10⁹), `800M`,
/// a plain number of bytes, or `none` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySize(pub Option<u64>);

impl FromStr for MemorySize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.eq_ignore_ascii_case("none") || text.eq_ignore_ascii_case("unlimited") {
            return Ok(MemorySize(None));
        }
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("`{s}`: a size is a number with a unit, like 512MiB or 4GiB"))?;
        let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kib" => 1024.0,
            "kb" => 1e3,
            "m" | "mib" => 1024.0 * 1024.0,
            "mb" => 1e6,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "gb" => 1e9,
            "t" | "tib" => 1024f64.powi(4),
            "tb" => 1e12,
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
                ));
            }
        };
        let bytes = number * factor;
        if !(1.0..u64::MAX as f64).contains(&bytes) {
            return Err(format!("`{s}`: a memory limit is at least one byte (or `none`)"));
        }
        Ok(MemorySize(Some(bytes as u64)))
    }
}

/// `bytes` for messages: `512.0 MiB`, `4.00 GiB`.
pub fn format_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.2} GiB", b / (1024.0 * MIB))
    } else if b >= MIB {
        format!("{:.1} MiB", b / MIB)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// The share of the machine's memory a run may use by default: the rest is left
/// to the operating system, the page cache and what DataFusion does not account.
pub const DEFAULT_MEMORY_FRACTION: f64 = 0.7;

/// The machine's memory (the smaller of `/proc/meminfo`'s total and a cgroup v2
/// limit), when it can be read.
pub fn machine_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    })?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |c| c.min(total)))
}

/// The default `--memory-limit`: [`DEFAULT_MEMORY_FRACTION`] of [`machine_memory`]
/// (no limit where the machine's memory cannot be read).
pub fn default_memory_limit() -> Option<u64> {
    machine_memory().map(|m| (m as f64 * DEFAULT_MEMORY_FRACTION) as u64)
}

/// How a session is made: engine, memory limit and spill directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSettings {
    /// Where the SQL runs.
    pub engine: Engine,
    /// The memory pool's size in bytes (`None`: unbounded).
    pub memory_limit: Option<u64>,
    /// Where spilled data goes (`None`: the OS temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Plan equi-joins as sort-merge joins from the start (`false`: hash joins,
    /// until an analysis step's hash join runs out of memory).
    pub sort_merge_joins: bool,
}

/// The options every command that runs SQL takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SessionArgs {
    /// Where the SQL runs: `local` (this process), `ballista://HOST:PORT` (a Ballista
    /// cluster started with `agree scheduler` and `agree executor`, whose processes
    /// all see the experiment directory at the same path), or `ballista-standalone`
    /// (a scheduler and an executor inside this process).
    #[arg(long, value_name = "ENGINE", default_value = "local")]
    pub engine: Engine,
    /// Memory the query engine may use (e.g. 512MiB, 4GiB, none); sorts, joins and
    /// aggregations spill to disk to stay within it. Default: 70% of the machine's memory.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<MemorySize>,
    /// Directory for spilled data (default: the OS temporary directory).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    /// Join with sort-merge joins, which spill, from the start. By default joins are
    /// hash joins (faster, but their build side must fit in memory); an analysis
    /// step whose hash join runs out of memory is run again with sort-merge joins,
    /// and so are the steps after it. Give this for runs known to be too large, to
    /// skip the failed first try.
    #[arg(long)]
    pub sort_merge_joins: bool,
}

impl SessionArgs {
    /// The settings these options ask for.
    pub fn settings(&self) -> SessionSettings {
        SessionSettings {
            engine: self.engine.clone(),
            memory_limit: match self.memory_limit {
                Some(MemorySize(limit)) => limit,
                None => default_memory_limit(),
            },
            spill_dir: self.spill_dir.clone(),
            sort_merge_joins: self.sort_merge_joins,
        }
    }
}

/// The session configuration of every engine: `information_schema` (for `SHOW
/// TABLES`) and spans in parse errors.
pub fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new().with_information_schema(true);
    // Spans let planning errors (an unknown column, say) point into the query.
    config.options_mut().sql_parser.collect_spans = true;
    config
}

/// A local DataFusion context for `settings`, with this crate's functions registered.
pub fn local_context(settings: &SessionSettings) -> Result<SessionContext, SqlError> {
    let step = "setting up the query engine";
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = settings.memory_limit {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        // The three largest consumers are named when the pool runs out.
        let top = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(FairSpillPool::new(limit), top)));
    }
    if let Some(dir) = &settings.spill_dir {
        std::fs::create_dir_all(dir).map_err(|source| SqlError::Io {
            path: dir.clone(),
            source,
        })?;
        runtime = runtime.with_temp_file_path(dir);
    }
    let runtime = runtime.build_arc().map_err(|e| SqlError::datafusion(step, e))?;
    let mut config = session_config();
    if settings.sort_merge_joins {
        config.options_mut().optimizer.prefer_hash_join = false;
    }
    if let Some(limit) = settings.memory_limit {
        // Each sorting partition reserves this much up front for its merge (10 MiB by
        // default): under a small limit that alone would exhaust the pool — a plan of
        // sort-merge joins sorts each input of each join in every partition — so it
        // is kept to a sixteenth of a partition's share.
        let options = config.options_mut();
        let partitions = options.execution.target_partitions.max(1) as u64;
        let share = usize::try_from(limit / (16 * partitions)).unwrap_or(usize::MAX);
        options.execution.sort_spill_reservation_bytes = options.execution.sort_spill_reservation_bytes.min(share);
    }
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    let ctx = SessionContext::new_with_state(state);
    register_functions(&ctx);
    Ok(ctx)
}

/// A context for `settings`: local, or the client of a Ballista cluster (reached
/// first, so a wrong address is an error here rather than at the first query),
/// with this crate's functions registered in either.
pub async fn context(settings: &SessionSettings) -> Result<SessionContext, SqlError> {
    let local = local_context(settings)?;
    let engine = &settings.engine;
    let failed = |problem: String| SqlError::Engine {
        engine: format!("--engine {engine}"),
        problem,
    };
    let ctx = match engine {
        Engine::Local => return Ok(local),
        Engine::Ballista { host, port } => {
            reach(host, *port).map_err(failed)?;
            SessionContext::remote_with_state(&format!("df://{host}:{port}"), local.state())
                .await
                .map_err(|e| failed(e.to_string()))?
        }
        // The in-process scheduler and executor take the state's functions.
        Engine::BallistaStandalone => SessionContext::standalone_with_state(local.state())
            .await
            .map_err(|e| failed(format!("starting the in-process cluster: {e}")))?,
    };
    // Making a Ballista state rebuilds its function list: ours go in after.
    register_functions(&ctx);
    Ok(ctx)
}

/// Whether `ctx` runs its plans on a Ballista cluster (its tables must then be
/// ones a plan can ship: files, not memory).
pub fn is_distributed(ctx: &SessionContext) -> bool {
    ctx.state()
        .config()
        .options()
        .extensions
        .get::<BallistaConfig>()
        .is_some()
}

/// Opens (and closes) a TCP connection to `host:port`, so that an unreachable
/// scheduler is named at once.
fn reach(host: &str, port: u16) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addresses: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the scheduler's host `{host}`: {e}"))?
        .collect();
    let timeout = std::time::Duration::from_secs(10);
    let mut last = None;
    for address in &addresses {
        match std::net::TcpStream::connect_timeout(address, timeout) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("cannot reach the Ballista scheduler at {host}:{port}: {e} (is `agree scheduler` running?)"),
        None => format!("`{host}` resolves to no address"),
    })
}

/// Whether `e` (or what it wraps) is the memory pool refusing a reservation.
pub fn is_memory_exhausted(e: &DataFusionError) -> bool {
    matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) || e.to_string().contains("Resources exhausted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_binary_and_decimal_units() {
        let size = |s: &str| s.parse::<MemorySize>().unwrap().0;
        assert_eq!(size("512MiB"), Some(512 << 20));
        assert_eq!(size("4GiB"), Some(4 << 30));
        assert_eq!(size("4GB"), Some(4_000_000_000));
        assert_eq!(size("1.5 GiB"), Some(3 << 29));
        assert_eq!(size("1000"), Some(1000));
        assert_eq!(size("none"), None);
        for bad in ["", "GiB", "4 parsecs", "0", "-1MiB"] {
            assert!(bad.parse::<MemorySize>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_limit_leaves_memory_to_the_system() {
        let machine = machine_memory().expect("/proc/meminfo names the machine's memory");
        let limit = default_memory_limit().expect("a default limit");
        assert!(limit < machine && limit > machine / 2, "{limit} of {machine}");
    }
}
