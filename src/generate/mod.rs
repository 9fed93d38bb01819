//! Generate: a realistic, labelled, deterministic dataset of Kubernetes telemetry — process
//! scraper metrics, container readiness and Network Explorer flows (`kubeseen generate`), as
//! OTLP exports or directly as a lake.
//!
//! **In**: [`GenerateOptions`] (clusters, nodes per cluster, application processes per node,
//! days, interval, end instant, seed, format, layout) and an output [`Location`].
//! **Out**: the exports (or the lake's points table), the ground truth beside the output
//! folder, never among the exports, so `kubeseen land <out>` lands exactly the exports:
//! `<parent>/<out name>.ground_truth.json` ([`ground_truth_beside`]; a [`GroundTruth`]: the
//! options, every node, and one [`Scenario`] entry per scenario and detection it is about, saying what a correct intent-mode `detect --at <end>` reports for
//! that key), and a [`GenerateSummary`].
//!
//! **Invariants**
//! - Deterministic: the same options give byte-identical output. Every random choice comes
//!   from a SplitMix64 stream derived from `seed` and a fixed tag, so the *points* are the same
//!   in every format and layout: a generated lake holds exactly the rows (same `point_id`s) that
//!   landing the generated OTLP/JSON or OTLP/protobuf would produce.
//! - Data covers `[end − days, end)`; every point's time is before `end`.
//! - Exact ground truth for the seven detections of [`DETECTIONS`] (semantics in `truth`):
//!   the entries with `expect_finding = true` are exactly the keys each reports at `end`, no
//!   more. Short-lived jobs run every day or hour, restarts and rollouts keep paths and image
//!   names, pods never move between nodes, and every edge of a cluster's topology reports in
//!   every hour, so nothing is new by accident. Labels come from the plan (slot lives, pod
//!   images, edge starts) and, for shells, from the pids the simulation gave them; an
//!   independent oracle (plain hash maps over every emitted point) computes the same sets, and
//!   generation fails ([`GenerateError::GroundTruth`]) when they differ.
//! - Bounded memory: OTLP layouts hold one stream-hour of encoded output (a node's, or a
//!   cluster-wide collector's); the cluster receiver's readings of one cluster-hour are held
//!   to emit them tick by tick; the lake holds the rows of the open hour partitions up to
//!   [`LAKE_FLUSH_BYTES`], then writes another part file. The oracle keeps keys, not points.
//!
//! **What the data looks like**
//! - Process metrics, as the Collector's `hostmetrics` process scraper, with `k8sattributes`,
//!   `resourcedetection` and a `resource` processor in the pipeline, would export them: one
//!   ResourceMetrics per process per scrape, in pid order, each process read at its own instant
//!   a few hundred µs after the previous; scope `…/hostmetricsreceiver/internal/scraper/processscraper`
//!   `v0.116.0`, schema URL 1.9.0. Resource attributes: `process.pid`, `process.parent_pid`
//!   (ints), `process.executable.name`, `process.executable.path`, `process.command`,
//!   `process.command_line`, `process.owner` (absent when the container's uid has no user on
//!   the host), `k8s.pod.name` and `k8s.namespace.name` (pod processes only), `host.name`,
//!   `os.type`, `k8s.node.name`, `k8s.cluster.name`. Metrics per process and scrape (10 points,
//!   what the SIM process program publishes): `process.cpu.time` (cumulative monotonic sum,
//!   double, `state` = user/system/wait, 1/100 s resolution), `process.disk.io` and
//!   `process.disk.operations` (cumulative monotonic sums, int, `direction` = read/write),
//!   `process.memory.usage` and `process.memory.virtual` (cumulative non-monotonic sums, int),
//!   `process.threads` (non-monotonic sum, int). Application (pod) processes follow a daily load
//!   curve (±25 %, peaking in the afternoon UTC) on top of each interval's random factor; thread
//!   counts wander by one, operations follow the bytes at a per-process operation size (their
//!   own random stream, so the other values are those of a generator without them). With `utilization`: `process.cpu.utilization` (gauge, per state,
//!   0–1 of all cores; no point on a process's first scrape) and `process.memory.utilization`
//!   (gauge, percent 0–100, as gopsutil reports it). `startTimeUnixNano` is the process start.
//! - `k8s.container.ready`, as the `k8s_cluster` receiver (one Deployment per cluster, the
//!   `otel-cluster-receiver`) exports it: every interval (its own phase), one request with one
//!   ResourceMetrics per container of the cluster, a gauge, int 1 once the container's main
//!   process has run 5 s (readiness probe), 0 while it restarts; `startTimeUnixNano` is the
//!   receiver's start; scope `…/receiver/k8sclusterreceiver` `v0.116.0`, schema URL 1.18.0;
//!   resource attributes in the receiver's order `k8s.pod.uid`, `k8s.pod.name`,
//!   `k8s.node.name`, `k8s.namespace.name`, `container.id` (64 hex, new per container start),
//!   `k8s.container.name`, `container.image.name`, `container.image.tag`, then the pipeline's
//!   `k8s.cluster.name`. No `host.name`: the receiver does not run on the node it describes,
//!   so nothing adds one (a detection keyed on `host.name` finds no container readings). The
//!   receiver's other container metrics (restarts, requests, limits) are not emitted.
//! - Network Explorer flows (the OpenTelemetry eBPF reducer, `az_az` aggregation, as Splunk
//!   Network Explorer exports it through the gateway): `tcp.bytes`, `tcp.packets`,
//!   `udp.bytes`, `udp.packets`, monotonic **delta** sums with int values, no start time, no
//!   description, one metric per data point, at most 1000 metrics per ResourceMetrics, no
//!   scope; the resource is only the pipeline's `k8s.cluster.name`. Data point attributes, a
//!   sorted map with empty labels dropped: `{source,dest}.{workload.name,namespace.name,
//!   process.name (comm, 15 bytes),container.name,resolution_type (K8S_CONTAINER)}` and
//!   `sf_product = network-explorer` (no availability zone is known, so no `az_equal`). One
//!   report per edge per interval (the reducer's own slot is 30 s). The reducer's other metrics
//!   (`tcp.rtt.*`, `tcp.active`, `tcp.new_sockets`, `dns.*`, `http.*`, …) are not emitted.
//!
//! **Population** (per node; node, pod and process names from the seed):
//! - host: `systemd` (pid 1), 13 daemons all the time (`systemd-journald`, `-udevd`,
//!   `-networkd`, `-resolved`, `-logind`, `dbus-daemon`, `rsyslogd`, `cron`, `chronyd`, `sshd`,
//!   `agetty`, `containerd`, `kubelet`; merged-/usr paths such as
//!   `/usr/lib/systemd/systemd-journald`), and jobs at fixed times: `logrotate` daily at a
//!   node-specific minute of hour 0, `run-parts --report /etc/cron.daily` daily at 06:25,
//!   `find` hourly at :17 (each lasting a few minutes, at least one scrape interval, so every
//!   run is seen and every run is in the baseline);
//! - cluster add-ons (DaemonSets, every node): `kube-proxy`, `cilium-agent`, the
//!   `otelcol-contrib` agent, the Network Explorer `kernel-collector`, `node_exporter`;
//!   `coredns` (2 replicas) on nodes 0 and 1; on node 0 one replica each of the OTel gateway,
//!   the cluster receiver and the Network Explorer reducer; each pod has its
//!   `containerd-shim-runc-v2` and one container;
//! - `processes` application processes: the `fluent-bit` log shipper (an application
//!   DaemonSet, every node), then Deployments drawn by weight from a pool of 20 workloads
//!   (nginx master + worker, envoy, node, gunicorn/celery on `/usr/local/bin/python3.11`,
//!   Debian `/usr/bin/python3.11`, tini + python, Temurin and Debian java, Go `/app/server`,
//!   redis, postgres + checkpointer, beam.smp, puma, php-fpm master + worker, busybox sh,
//!   dotnet), each cluster with its own subset and popularity — so some paths run on every
//!   node and some on a subset. Images are registry-qualified (`docker.io/library/nginx`,
//!   `docker.io/envoyproxy/envoy`, `docker.io/library/python`, `…/eclipse-temurin`, `…/redis`,
//!   `…/postgres`, in-house `registry.example.com/<team>/<app>`); third-party tags are fixed,
//!   in-house ones are `YYYY.MM.DD-<commit>` of each rollout;
//! - churn: container restarts (new pid, same pod) and rollouts (every member ends, new pod
//!   name, uid, container ids and pids, same node and image name) at exponential intervals of
//!   days; pids grow with a per-node background fork rate and wrap at 4194304; the otel agent
//!   itself is a process;
//! - topology (per cluster, from the workloads of its full-history nodes): each Deployment
//!   talks TCP to 1–3 of its usual servers present in the cluster (web → gateway → services →
//!   data stores; the web tier never calls data stores), every workload that resolves names
//!   sends UDP to coredns, the agent, cluster receiver and reducer send to the gateway and the
//!   kernel collectors to the reducer;
//! - nodes: the last node of each cluster joins `min(2 days, days × 18 h)` before `end` (its
//!   baseline is incomplete); the others booted 1–45 days before the data starts.
//!
//! **Scenarios** (all in the last hour before `end`; node scenarios use nodes with a full
//! history in turn: node 0 of each cluster, then node 1, …; see [`SCENARIOS`] for the order):
//! `miner_in_tmp` (`/tmp/.x/xmrig` started by an application process, in its pod),
//! `shell_in_dev_shm` (`/dev/shm/sh`, a process named `sh`: the shell rules too),
//! `known_binary_unusual_path` (`/var/tmp/python3`), `returns_after_30_days` (`/usr/bin/tcpdump`,
//! also run ~35 days before the end when `days ≥ 36`, or in the data's first hours when `days`
//! is 31–35 — both outside the baseline), `common_in_cluster_new_on_node` (the node-exporter
//! DaemonSet, on every other node all along: path, name and image new on the node),
//! `new_pid_known_path` (a restart: new pid, known path; `expect_finding = false`),
//! `new_image_on_node` (a pod of `ghcr.io/evil/miner`), `image_common_in_cluster_new_on_node`
//! (a replica of an application that runs on other nodes lands on the node),
//! `image_tag_bump` (a rollout to a new tag: the image name is not new), `interactive_shell`
//! (`kubectl exec … bash` with CPU activity), `idle_shell` (an exec'd `sh` open for 3 hours,
//! memory but no CPU: `shell_on_worker_node` only), `new_tcp_edge_lateral` (cluster 0: a web
//! workload connects to a data store), `new_udp_edge_statsd` (cluster 1, or 0: an application
//! sends UDP to the gateway), `edge_known_in_other_cluster` (with two clusters or more: a pair
//! of cluster 0 appears in cluster 1 — new in intent mode; `--splunk-compat`, whose baseline
//! ignores the cluster, would not report it), `new_path_on_late_node` (`/usr/bin/crictl` on
//! cluster 0's late node, baseline incomplete), for the statistical detections
//! `process_cpu_burst` (a long-running application process's CPU ×12 for the last 45 minutes:
//! #9 and #10), `process_ratio_flip` (its memory falls to a tenth, CPU as usual: #10 only),
//! and the negative controls `process_short_spike` (CPU ×20 for 30 s) and
//! `process_diurnal_peak` (a ±60 % daily curve peaking in the window) — `miner_in_tmp` is the
//! one with no history —, `statistical_noise` (what the oracle finds that nothing planted:
//! quiet processes whose sparse counters make one step "4σ") and `benign_shell_workload` (every other shell
//! seen in the window — busybox `sh` of config-sync: the SPL's known noise, reported every
//! hour; an allowlist suppresses it), `multi_stage_attack` (the last cluster's late node: the
//! Kinsing miner dropped in `/tmp`, a `bash` it runs, the `kinsing` agent that starts — one
//! risk incident; see [`MULTI_STAGE_STAGES`] for the statistical family's hook). The ground
//! truth's `risk` entries label that node (one incident) and, with two clusters, cluster 0's
//! late node (`noisy_benign_node`: no incident). Each scenario has an entry per detection it concerns
//! (for example `shell_in_dev_shm`: `process_new_path`, `unseen_process` — false when the
//! node already ran a process named `sh` —, and both shell rules keyed by its pid);
//! negative entries (`expect_finding = false`) document what must not be reported.
//! `expect_baseline_complete` (new-value detections) is true for entities with data since
//! the baseline's first hour: full-history nodes, and clusters for edges, when `days ≥ 30`.
//!
//! **Layouts**: `FileExporter` — one file per stream and hour,
//! `<cluster>/<node>/metrics-YYYYMMDDTHH.jsonl[.gz]` (each node's agent),
//! `<cluster>/otel-cluster-receiver/…` (container readiness) and `<cluster>/otel-gateway/…`
//! (flows) (JSON Lines, one request per scrape or tick) or `.binpb` (4-byte big-endian length
//! prefix per request); `S3Exporter` — one request per object (about 5 minutes of one stream),
//! key `year=YYYY/month=MM/day=DD/hour=HH/minute=mm/metrics_<9 digits>.json[.gz]` or `.binpb`
//! (a bare message, as the awss3exporter writes it) partitioned by a simulated upload time
//! 0.2–15 s after the last point; `Lake` — `metrics/date=YYYY-MM-DD/hour=HH/part-<xxh3 of
//! the sorted point ids>.parquet` through `lake::schema` and `lake::land::write_parquet`. Gzip
//! uses level 1 (speed). `summary.files`/`bytes` count the data objects, not the ground truth.

mod catalog;
mod cluster;
mod encode;
mod model;
mod names;
mod options;
mod output;
mod population;
mod risk_truth;
mod rng;
mod sim;
#[cfg(test)]
mod tests;
mod truth;
mod truth_stat;
mod wire;

use serde::{Deserialize, Serialize};

use crate::config::fmt_instant;
use crate::storage::Location;

use model::{utc, Frame, HOUR, NS};
use options::validate;
use output::{Batch, FileExporter, LakeWriter, Otlp, Output, S3Exporter, Stream, Written};
use sim::{Step, Want};

pub use model::{NodeTruth, Scenario};
pub use names::{
    key_columns, BENIGN_SHELL_WORKLOAD, COMMON_IN_CLUSTER_NEW_ON_NODE, DETECTIONS, EDGE_KNOWN_IN_OTHER_CLUSTER,
    IDLE_SHELL, IMAGE_COMMON_IN_CLUSTER_NEW_ON_NODE, IMAGE_TAG_BUMP, INTERACTIVE_SHELL, KNOWN_BINARY_UNUSUAL_PATH,
    MINER_IN_TMP, MULTI_STAGE_ATTACK, MULTI_STAGE_STAGES, NEW_IMAGE_ON_NODE, NEW_PATH_ON_LATE_NODE, NEW_PID_KNOWN_PATH,
    NEW_TCP_EDGE, NEW_TCP_EDGE_LATERAL, NEW_UDP_EDGE, NEW_UDP_EDGE_STATSD, PROCESS_CPU_BURST, PROCESS_DIURNAL_PEAK,
    PROCESS_NEW_PATH, PROCESS_RATIO_FLIP, PROCESS_RESOURCE_ANOMALY, PROCESS_RESOURCE_RATIO_ANOMALY,
    PROCESS_SHORT_SPIKE, RETURNS_AFTER_30_DAYS, SCENARIOS, SHELL_IN_DEV_SHM, SHELL_ON_WORKER_NODE,
    SHELL_ON_WORKER_NODE_CPU, STATISTICAL_NOISE, UNSEEN_CONTAINER_IMAGE, UNSEEN_PROCESS,
};
pub use options::{GenerateError, GenerateOptions, Layout, OutputFormat};
pub use risk_truth::{RiskFinding, RiskTruth, NOISY_BENIGN_NODE};
pub use truth::{compare, key_values, Comparison};

/// The ground truth's file name ends so: `<out name>.ground_truth.json`, beside the output.
pub const GROUND_TRUTH: &str = "ground_truth.json";

/// Where a ground truth is written: a location and the key in it.
pub struct TruthAt {
    pub location: Location,
    pub key: String,
}

/// The ground truth's place for output `spec` (opened as `out`): beside it, in its parent
/// folder or prefix, named `<out name>.ground_truth.json` (unique per output folder). An
/// output at the root of a bucket or file system has no "beside": an error.
pub fn ground_truth_beside(
    spec: &str,
    out: &Location,
    store: &crate::storage::StoreOptions,
) -> Result<TruthAt, GenerateError> {
    let no_parent = || {
        GenerateError::Options(format!(
            "--out {}: the ground truth goes beside the output folder, not inside it, so the output \
             must be a folder with a parent (e.g. {}/exports)",
            out.display(),
            out.display().trim_end_matches('/')
        ))
    };
    let (parent, name) = match out.local_root() {
        Some(abs) => {
            let parent = abs.parent().ok_or_else(no_parent)?;
            let name = abs.file_name().ok_or_else(no_parent)?.to_string_lossy().to_string();
            (parent.display().to_string(), name)
        }
        None => {
            // The URL without query or fragment (a signed URL's), its last path segment.
            let base = spec.split(['?', '#']).next().unwrap_or(spec).trim_end_matches('/');
            let (parent, name) = base.rsplit_once('/').ok_or_else(no_parent)?;
            if !parent.contains("://") {
                return Err(no_parent());
            }
            let name = object_store::path::Path::from_url_path(name)
                .map(|p| p.as_ref().to_string())
                .unwrap_or_else(|_| name.to_string());
            (parent.to_string(), name)
        }
    };
    let location = Location::open(&parent, store, false).map_err(|source| GenerateError::Write {
        object: out.display().to_string(),
        source: Box::new(source),
    })?;
    Ok(TruthAt {
        location,
        key: format!("{name}.{GROUND_TRUTH}"),
    })
}
/// Lake output: buffered rows are written out past this many (estimated) heap bytes.
pub const LAKE_FLUSH_BYTES: usize = 256 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct GenerateSummary {
    /// Data objects written (exports or part files; not the ground truth).
    pub files: u64,
    pub bytes: u64,
    /// OTLP data points generated.
    pub points: u64,
    /// RFC 3339 times of the first and last data point.
    pub first_point: String,
    pub last_point: String,
    pub scenarios: Vec<Scenario>,
    /// Where the ground truth was written (as users see the output location).
    pub ground_truth: String,
}

/// The content of `ground_truth.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroundTruth {
    pub generator: String,
    pub seed: u64,
    /// RFC 3339 bounds of the data, `[start, end)`.
    pub start: String,
    pub end: String,
    pub interval_seconds: f64,
    pub clusters: u32,
    pub nodes_per_cluster: u32,
    pub processes_per_node: u32,
    pub days: u32,
    pub utilization: bool,
    pub format: OutputFormat,
    pub layout: Layout,
    pub nodes: Vec<NodeTruth>,
    pub scenarios: Vec<Scenario>,
    /// Risk objects that must (not) be an incident at `end` (see `risk_truth`).
    #[serde(default)]
    pub risk: Vec<RiskTruth>,
}

impl GroundTruth {
    /// Parses a `ground_truth.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// What a run produced, before the ground truth is written.
pub(crate) struct Run {
    pub written: Written,
    pub points: u64,
    pub first: u64,
    pub last: u64,
    pub scenarios: Vec<Scenario>,
    pub nodes: Vec<NodeTruth>,
}

/// Counts every emitted point and shows it to the oracle.
struct Tally {
    metrics: encode::MetricSet,
    oracle: truth::Oracle,
    points: u64,
    first: u64,
    last: u64,
}

impl Tally {
    fn emit(&mut self, output: &mut dyn Output, stream: Stream<'_>, batch: Batch<'_>) -> Result<(), GenerateError> {
        let (points, first, last, oracle) = (&mut self.points, &mut self.first, &mut self.last, &mut self.oracle);
        batch.for_each_point(&self.metrics, |p| {
            *points += 1;
            *first = (*first).min(p.time_unix_nano);
            *last = (*last).max(p.time_unix_nano);
            oracle.point(&p);
        });
        output.write(stream, batch)
    }
}

/// The streams of the cluster-wide collectors (the file exporter's folders).
const RECEIVER_STREAM: &str = "otel-cluster-receiver";
const GATEWAY_STREAM: &str = "otel-gateway";

/// Simulates every cluster and node hour by hour, hands each batch to `output`, and checks the
/// labels against the oracle over every emitted point.
pub(crate) fn run(
    opts: &GenerateOptions,
    frame: Frame,
    want: Want,
    output: &mut dyn Output,
    progress: bool,
) -> Result<Run, GenerateError> {
    let mut pop = population::build(opts, frame, want);
    let hours = (frame.end - frame.start).div_ceil(HOUR);
    let bar = progress_bar(progress, hours);
    let mut tally = Tally {
        metrics: encode::MetricSet::new(),
        oracle: truth::Oracle::new(frame.windows()),
        points: 0,
        first: u64::MAX,
        last: 0,
    };
    let mut ready = Vec::new();
    for h in 0..hours {
        let hour_start = frame.start + h * HOUR;
        let hour_end = (hour_start + HOUR).min(frame.end);
        for (c, cluster) in pop.clusters.iter_mut().enumerate() {
            ready.clear();
            for node in &mut pop.nodes[pop.cluster_nodes[c].clone()] {
                let (cluster_name, node_name) = (node.cluster().to_string(), node.node().to_string());
                let stream = Stream {
                    cluster: &cluster_name,
                    name: &node_name,
                };
                while let Some(step) = node.next_step(hour_end) {
                    match step {
                        Step::Scrape => tally.emit(output, stream, Batch::Scrape(node))?,
                        Step::Tick(t) => node.read_containers(t, &mut ready),
                    }
                }
                output.end_stream_hour(stream, hour_start)?;
            }
            // The cluster receiver reports every node's containers at each tick.
            ready.sort_by_key(|r| r.time_ns);
            let stream = Stream {
                cluster: &cluster.name,
                name: RECEIVER_STREAM,
            };
            for tick in ready.chunk_by(|a, b| a.time_ns == b.time_ns) {
                let batch = Batch::Ready {
                    points: tick,
                    start: cluster.receiver_start,
                };
                tally.emit(output, stream, batch)?;
            }
            output.end_stream_hour(stream, hour_start)?;
            let name = cluster.name.clone();
            let stream = Stream {
                cluster: &name,
                name: GATEWAY_STREAM,
            };
            while cluster.tick_before(hour_end) {
                tally.emit(output, stream, Batch::Flows(cluster))?;
            }
            output.end_stream_hour(stream, hour_start)?;
        }
        output.end_hour(hour_end)?;
        if let Some(b) = &bar {
            b.inc(1);
            b.set_message(format!("{} points", tally.points));
        }
    }
    let written = output.finish()?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let bad = |detail: String| GenerateError::GroundTruth {
        seed: opts.seed,
        detail,
    };
    let mut scenarios = truth::resolve(pop.labels, &pop.nodes).map_err(bad)?;
    let verdict = tally.oracle.finish();
    truth::label_statistical_noise(&mut scenarios, &verdict);
    verdict.check(&scenarios).map_err(bad)?;
    Ok(Run {
        written,
        points: tally.points,
        first: tally.first,
        last: tally.last,
        scenarios,
        nodes: pop.node_truth,
    })
}

fn progress_bar(enabled: bool, hours: u64) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(hours);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} generating [{bar:30}] {pos}/{len} hours {msg} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// Writes the dataset into `out` (a local folder or object-store prefix). For OTLP formats,
/// export files; for `Lake`, the points table directly under `out/metrics/...` via the lake's
/// own schema code. Then the ground truth at `truth` (see [`ground_truth_beside`]).
pub fn generate(
    opts: &GenerateOptions,
    out: &Location,
    truth_at: &TruthAt,
    progress: bool,
) -> Result<GenerateSummary, GenerateError> {
    let frame = validate(opts)?;
    let want = Want {
        json: matches!(opts.format, OutputFormat::OtlpJson | OutputFormat::OtlpJsonGz),
        proto: opts.format == OutputFormat::OtlpProto,
        utilization: opts.utilization,
    };
    let otlp = match opts.format {
        OutputFormat::OtlpJson => Otlp::Json { gzip: false },
        OutputFormat::OtlpJsonGz => Otlp::Json { gzip: true },
        OutputFormat::OtlpProto | OutputFormat::Lake => Otlp::Proto,
    };
    let mut output: Box<dyn Output> = match (opts.format, opts.layout) {
        (OutputFormat::Lake, _) => Box::new(LakeWriter::new(out.clone(), LAKE_FLUSH_BYTES)),
        (_, Layout::FileExporter) => Box::new(FileExporter::new(out.clone(), otlp)),
        (_, Layout::S3Exporter) => Box::new(S3Exporter::new(
            out.clone(),
            otlp,
            frame.interval,
            rng::Rng::derive(opts.seed, &[0x53_33]),
        )),
    };
    let run = run(opts, frame, want, output.as_mut(), progress)?;
    let truth = GroundTruth {
        generator: format!("kubeseen generate {}", env!("CARGO_PKG_VERSION")),
        seed: opts.seed,
        start: fmt_instant(utc(frame.start)),
        end: fmt_instant(utc(frame.end)),
        interval_seconds: frame.interval as f64 / NS as f64,
        clusters: opts.clusters,
        nodes_per_cluster: opts.nodes,
        processes_per_node: opts.processes,
        days: opts.days,
        utilization: opts.utilization,
        format: opts.format,
        layout: opts.layout,
        risk: risk_truth::labels(&run.nodes, &run.scenarios, &fmt_instant(utc(frame.end))),
        nodes: run.nodes,
        scenarios: run.scenarios.clone(),
    };
    let truth_name = truth_at.location.describe(&truth_at.key);
    let mut body = serde_json::to_vec_pretty(&truth).map_err(|source| GenerateError::Json {
        object: truth_name.clone(),
        source,
    })?;
    body.push(b'\n');
    truth_at
        .location
        .put(&truth_at.key, body)
        .map_err(|source| GenerateError::Write {
            object: truth_name.clone(),
            source: Box::new(source),
        })?;
    let when = |ns: u64| {
        if run.points == 0 {
            String::new()
        } else {
            fmt_instant(utc(ns))
        }
    };
    tracing::info!(
        files = run.written.files,
        bytes = run.written.bytes,
        points = run.points,
        "generated {}",
        out.display()
    );
    Ok(GenerateSummary {
        files: run.written.files,
        bytes: run.written.bytes,
        points: run.points,
        first_point: when(run.first),
        last_point: when(run.last),
        scenarios: run.scenarios,
        ground_truth: truth_name,
    })
}
