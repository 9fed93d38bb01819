//! One simulated node: its process table over time and what each scrape reads from it.
//!
//! A node is a list of [`Slot`]s (a logical process: "kubelet", "the nginx worker of pod X",
//! "the hourly find job"), each with a [`Life`] saying when it runs. An [`Incarnation`] is one
//! run of a slot: one pid, one start time, one set of resource attributes. Events (starts and
//! ends) are applied in time order, ties by slot order, so pids grow the way they do on Linux
//! (with a background fork rate between allocations, wrapping at `pid_max`).
//! Pods: the members of a pod end together at a rollout and come back with a new pod name and
//! new pids; a member may also restart on its own (container restart: same pod, new pid).
//! Scrapes happen on a fixed grid (`first_scrape + k × interval`); a scrape reads every live
//! incarnation in pid order, each at its own `time.Now()` a few hundred µs after the previous.
//! Each pod has one container (image and tag from the catalog; in-house images get a new
//! date-and-commit tag at each rollout); the cluster receiver reads the node's containers at
//! its own ticks ([`NodeSim::read_containers`]) without consuming the node's random stream, so
//! the process data do not depend on it. Processes named like a shell are followed
//! ([`ShellRecord`]) so the ground truth knows their pids and CPU activity in the last hour.

use std::sync::Arc;

use crate::ingest::model::{AttrValue, Attrs, Origin};
use crate::ingest::otlp_proto::Resource;

use super::catalog::{Exe, Workload, BUILD_TAG};
use super::model::{utc, DAY, HOUR, MINUTE, NEVER, NS};
use super::rng::{mix, Rng};
use super::wire;

const PID_MAX: i64 = 4_194_304;
/// The executable names the shell rules look for.
pub(crate) const SHELLS: [&str; 4] = ["sh", "bash", "csh", "tcsh"];
/// A container reports ready this long after its main process started (the readiness probe).
const READY_DELAY: u64 = 5 * NS;
const MIB: f64 = 1024.0 * 1024.0;
/// Kubernetes' name-suffix alphabet (no vowels, no look-alikes).
pub(crate) const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const HEX: &[u8] = b"0123456789abcdef";

/// What the outputs need precomputed per incarnation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Want {
    pub json: bool,
    pub proto: bool,
    pub utilization: bool,
}

/// When a slot runs.
#[derive(Debug, Clone)]
pub(crate) enum Life {
    /// All the time; after an exponential lifetime with this mean (ns; 0: never) it restarts
    /// with a new pid. Pod members also end at their pod's rollouts.
    Long { restart_mean_ns: f64 },
    /// Every day at `at_ns` after UTC midnight, for `dur_ns`.
    Daily { at_ns: u64, dur_ns: u64 },
    /// Every hour at `at_ns` after the full hour, for `dur_ns`.
    Hourly { at_ns: u64, dur_ns: u64 },
    /// In these `[start, end)` windows only (sorted, disjoint).
    Windows(Vec<(u64, u64)>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Parent {
    /// ppid 0 (pid 1 itself).
    Kernel,
    /// ppid 1 (daemons, shims, orphans).
    Init,
    /// The current pid of another slot (1 when it is not running).
    Slot(usize),
}

pub(crate) struct Slot {
    pub exe: Exe,
    /// How a scenario bends its resource use (see [`Shape`]).
    pub shape: Option<Shape>,
    pub pod: Option<usize>,
    parent: Parent,
    life: Life,
    forced_restart: Option<u64>,
    fixed_pid: Option<i64>,
    shim: bool,
    pub cur: Option<Incarnation>,
    next_start: u64,
    /// Its first run is at or after this instant.
    pub not_before: u64,
}

impl Slot {
    pub(crate) fn life(&self) -> &Life {
        &self.life
    }
}

/// A scenario's change to a slot's resource use, by observation time: inside `[from, to)` the
/// CPU time added per interval is multiplied by `cpu` and the resident memory by `rss`, and
/// without the interval's random factor (the nominal rate, so the scenario's effect does not
/// depend on the draw); `diurnal` replaces the default daily load curve (amplitude, peak in ns
/// after midnight UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub from: u64,
    pub to: u64,
    pub cpu: f64,
    pub rss: f64,
    pub diurnal: Option<(f64, u64)>,
}

/// The share of the interval `(last, t]` inside a scenario's range, and the scenario's CPU
/// factor: there, CPU time grows at the nominal rate times that factor.
fn share(shape: Option<Shape>, last: u64, t: u64) -> (f64, f64) {
    shape.map_or((1.0, 0.0), |s| {
        let (lo, hi) = (s.from.max(last), s.to.min(t));
        (
            s.cpu,
            if hi > lo {
                (hi - lo) as f64 / (t - last) as f64
            } else {
                0.0
            },
        )
    })
}

impl Counters {
    /// Disk bytes and operations of an interval of `dt` seconds at load `load`, and the thread
    /// count's wander (from the incarnation's own stream).
    fn add_io(&mut self, dt: f64, load: f64, rng: &mut Rng) {
        for d in 0..2 {
            let added = page(self.io_rates[d] * dt * rng.uniform(0.0, 2.0) * load + 1.0) - 4096;
            self.io[d] += added;
            self.ops[d] += (added as f64 / self.op_bytes[d] * self.aux.uniform(0.8, 1.2)).round() as i64;
        }
        self.threads = (self.threads_base + self.aux.range(0, 3) as f64 - 1.0).max(1.0) as i64;
    }
}

/// The default daily load curve of application (pod) processes: ±25 % around the mean, peaking
/// at 14:00 UTC plus a per-executable offset of up to 3 hours; host processes have none.
fn diurnal_default(exe: &Exe, in_pod: bool) -> Option<(f64, u64)> {
    in_pod.then(|| (0.25, 14 * HOUR + (fnv(exe.name) % 4) * HOUR))
}

/// The load factor of a daily curve at `t`.
fn diurnal_at(curve: Option<(f64, u64)>, t: u64) -> f64 {
    match curve {
        None => 1.0,
        Some((amp, peak)) => {
            let x = ((t % DAY) as f64 - peak as f64) / DAY as f64 * std::f64::consts::TAU;
            1.0 + amp * x.cos()
        }
    }
}

/// The resource of one container as the `k8s_cluster` receiver reports it, encoded once.
pub(crate) struct ContainerRes {
    pub origin: Arc<Origin>,
    pub json: String,
    pub proto: Option<Resource>,
}

/// One `k8s.container.ready` reading.
#[derive(Clone)]
pub(crate) struct ReadyPoint {
    pub time_ns: u64,
    pub res: Arc<ContainerRes>,
    pub ready: bool,
}

struct Pod {
    workload: &'static str,
    namespace: &'static str,
    daemonset: bool,
    container: &'static str,
    image: &'static str,
    tag: &'static str,
    rollout_mean_ns: f64,
    rollout_at: u64,
    /// A rollout planned by a scenario, and the tag its pods get from then on.
    forced_rollout: Option<(u64, String)>,
    generation: u32,
    name: String,
    sandbox: String,
    uid: String,
    image_tag: String,
    /// The shim and the container's main process.
    shim: Option<usize>,
    main: Option<usize>,
    /// (generation, main process start, resource) of the container last reported.
    reported: Option<(u32, u64, Arc<ContainerRes>)>,
}

/// What the generator follows of a process named like a shell ([`SHELLS`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShellRecord {
    pub slot: usize,
    pub pid: i64,
    /// `startTimeUnixNano`.
    pub start_ns: u64,
    /// Observed in `[window_start, end)`: its memory points (always > 0) make it active.
    pub in_window: bool,
    /// CPU activity in the window as the rule defines it (see `truth`).
    pub cpu_active: bool,
    /// Time and CPU ticks (user, system, wait) of its previous observation.
    last: Option<(u64, [u64; 3])>,
}

/// Cumulative counters of one incarnation.
struct Counters {
    /// CPU clock ticks (1/100 s) per state: user, system, wait.
    rates: [f64; 3],
    ticks: [u64; 3],
    rss_base: f64,
    rss: i64,
    vms: i64,
    /// Bytes per second read, written.
    io_rates: [f64; 2],
    io: [i64; 2],
    walk: f64,
    /// Data time of the last observation.
    last: Option<u64>,
    /// Usual thread count and the current one.
    threads_base: f64,
    threads: i64,
    /// Cumulative disk operations read, written, and the bytes per operation.
    ops: [i64; 2],
    op_bytes: [f64; 2],
    /// The stream of threads and operations: its own, so adding them moved no other value.
    aux: Rng,
}

/// One run of a slot.
pub(crate) struct Incarnation {
    pub pid: i64,
    /// `startTimeUnixNano`: the start at clock-tick resolution.
    pub start_ns: u64,
    /// The exact instant it started.
    born: u64,
    end_ns: u64,
    pub origin: Arc<Origin>,
    /// The OTLP/JSON text of this process's ResourceMetrics up to its metrics (when wanted).
    pub json: String,
    pub proto: Option<Resource>,
    counters: Counters,
    /// Its entry in [`NodeSim::shells`] (shell-named processes only).
    shell: Option<usize>,
}

/// What one scrape read about one process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub slot: usize,
    pub time_ns: u64,
    /// Cumulative CPU seconds: user, system, wait.
    pub cpu: [f64; 3],
    pub rss: i64,
    pub vms: i64,
    /// Cumulative bytes read, written.
    pub io: [i64; 2],
    /// Cumulative disk operations read, written.
    pub ops: [i64; 2],
    pub threads: i64,
    /// Per state, only with `utilization` and not on a process's first scrape.
    pub cpu_util: Option<[f64; 3]>,
    /// Percent (0–100), only with `utilization`.
    pub mem_util: Option<f64>,
}

/// Where and how a node runs.
pub(crate) struct NodeSpec {
    pub cluster: String,
    pub node: String,
    pub ip: String,
    pub cores: u32,
    pub mem_bytes: u64,
    pub first_scrape: u64,
    pub interval: u64,
    /// No scrape at or after this instant.
    pub cutoff: u64,
    /// The collector ran (and scraped) since then: a process it saw on the previous scrape
    /// gets `process.cpu.utilization` points.
    pub collector_since: u64,
    pub fork_rate: f64,
    pub want: Want,
    /// The cluster receiver's first tick (it then ticks every `interval`).
    pub receiver_first: u64,
    /// Start of the detections' window `[end − 1h, end)` (for [`ShellRecord`]s).
    pub window_start: u64,
    /// Salt of container ids (derived from the seed, cluster and node).
    pub salt: u64,
}

pub(crate) struct NodeSim {
    pub spec: NodeSpec,
    pub slots: Vec<Slot>,
    pods: Vec<Pod>,
    rng: Rng,
    next_pid: i64,
    pid_clock: u64,
    next_scrape: u64,
    next_tick: u64,
    /// The last scrape's samples, in pid order.
    pub samples: Vec<Sample>,
    order: Vec<(i64, usize)>,
    /// Every incarnation of a shell-named process, in start order.
    pub shells: Vec<ShellRecord>,
}

/// What a node does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A process scrape (its samples are in [`NodeSim::samples`]).
    Scrape,
    /// A tick of the cluster receiver at this instant.
    Tick(u64),
}

fn round9(x: f64) -> f64 {
    // Nine decimals keep every value exactly representable through OTLP/JSON: the decimal
    // Rust prints parses back (even with a fast, non-round-trip float parser) to the same bits.
    (x * 1e9).round() / 1e9
}

fn page(x: f64) -> i64 {
    ((x / 4096.0).round() as i64).max(1) * 4096
}

/// `n` hex digits derived from `x` (ids that must not consume a random stream).
pub(crate) fn hex_id(x: u64, n: usize) -> String {
    let mut out = String::with_capacity(n + 16);
    let mut z = x;
    while out.len() < n {
        z = mix(z.wrapping_add(0x9e37_79b9_7f4a_7c15));
        out.push_str(&format!("{z:016x}"));
    }
    out.truncate(n);
    out
}

/// FNV-1a of a text, to derive ids from names.
pub(crate) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The tag of an image built for a rollout at `t`: `YYYY.MM.DD-<7 hex>` (in-house images), or
/// the catalog's fixed tag.
pub(crate) fn tag_at(image: &str, tag: &str, t: u64) -> String {
    if tag != BUILD_TAG {
        return tag.to_string();
    }
    let day = utc(t).format("%Y.%m.%d");
    format!("{day}-{}", hex_id(fnv(image) ^ (t / HOUR), 7))
}

fn next_at(t: u64, period: u64, at: u64) -> u64 {
    let base = t - t % period + at;
    if base >= t {
        base
    } else {
        base + period
    }
}

impl NodeSim {
    pub(crate) fn new(spec: NodeSpec, rng: Rng, boot: u64) -> NodeSim {
        let mut sim = NodeSim {
            next_scrape: spec.first_scrape,
            next_tick: spec.receiver_first,
            spec,
            slots: Vec::new(),
            pods: Vec::new(),
            rng,
            next_pid: 0,
            pid_clock: boot,
            samples: Vec::new(),
            order: Vec::new(),
            shells: Vec::new(),
        };
        // Kernel threads take the first pids after boot.
        sim.next_pid = 120 + sim.rng.range(0, 200) as i64;
        sim
    }

    pub(crate) fn node(&self) -> &str {
        &self.spec.node
    }

    pub(crate) fn cluster(&self) -> &str {
        &self.spec.cluster
    }

    /// Adds a slot whose first run is at or after `not_before`.
    pub(crate) fn add_slot(
        &mut self,
        exe: Exe,
        pod: Option<usize>,
        parent: Parent,
        life: Life,
        not_before: u64,
    ) -> usize {
        let next_start = match &life {
            Life::Long { .. } => not_before,
            Life::Daily { at_ns, .. } => next_at(not_before, DAY, *at_ns),
            Life::Hourly { at_ns, .. } => next_at(not_before, HOUR, *at_ns),
            Life::Windows(w) => w
                .iter()
                .find(|(s, e)| *s >= not_before && e > s)
                .map_or(NEVER, |(s, _)| *s),
        };
        self.slots.push(Slot {
            exe,
            shape: None,
            pod,
            parent,
            life,
            forced_restart: None,
            fixed_pid: None,
            shim: false,
            cur: None,
            next_start,
            not_before,
        });
        self.slots.len() - 1
    }

    pub(crate) fn set_shape(&mut self, slot: usize, shape: Shape) {
        self.slots[slot].shape = Some(shape);
    }

    pub(crate) fn set_fixed_pid(&mut self, slot: usize, pid: i64) {
        self.slots[slot].fixed_pid = Some(pid);
    }

    pub(crate) fn set_shim(&mut self, slot: usize) {
        self.slots[slot].shim = true;
    }

    /// The slot's running incarnation is stopped at `t` and restarts right after (new pid).
    pub(crate) fn force_restart(&mut self, slot: usize, t: u64) {
        self.slots[slot].forced_restart = Some(t);
    }

    pub(crate) fn add_pod(&mut self, w: &Workload) -> usize {
        self.pods.push(Pod {
            workload: w.name,
            namespace: w.namespace,
            daemonset: w.daemonset,
            container: w.container,
            image: w.image,
            tag: w.tag,
            rollout_mean_ns: w.rollout_days * DAY as f64,
            rollout_at: 0,
            forced_rollout: None,
            generation: 0,
            name: String::new(),
            sandbox: String::new(),
            uid: String::new(),
            image_tag: String::new(),
            shim: None,
            main: None,
            reported: None,
        });
        self.pods.len() - 1
    }

    /// The pod's shim and the main process of its container.
    pub(crate) fn set_pod_slots(&mut self, pod: usize, shim: usize, main: usize) {
        self.pods[pod].shim = Some(shim);
        self.pods[pod].main = Some(main);
    }

    /// The pod is rolled out at `at` (every member ends; the new pod runs image tag `tag`).
    pub(crate) fn force_rollout(&mut self, pod: usize, at: u64, tag: String) {
        self.pods[pod].forced_rollout = Some((at, tag));
    }

    pub(crate) fn pod_shim(&self, pod: usize) -> Option<usize> {
        self.pods[pod].shim
    }

    /// Every pod: (image, the main process of its container).
    pub(crate) fn pod_list(&self) -> impl Iterator<Item = (&'static str, Option<usize>)> + '_ {
        self.pods.iter().map(|p| (p.image, p.main))
    }

    pub(crate) fn pod_namespace(&self, pod: usize) -> &'static str {
        self.pods[pod].namespace
    }

    pub(crate) fn pod_workload(&self, pod: usize) -> &'static str {
        self.pods[pod].workload
    }

    /// The next scrape or cluster-receiver tick before `until` (and the cutoff), in time order
    /// (a scrape first on a tie). A scrape applies the process events up to it and fills
    /// [`NodeSim::samples`]; a tick only applies the events (then read the containers with
    /// [`NodeSim::read_containers`]). `None` when there is neither.
    pub(crate) fn next_step(&mut self, until: u64) -> Option<Step> {
        let until = until.min(self.spec.cutoff);
        let (s, k) = (self.next_scrape, self.next_tick);
        if s < until && s <= k {
            self.scrape_at(s);
            Some(Step::Scrape)
        } else if k < until {
            self.next_tick = k + self.spec.interval;
            self.advance_to(k);
            Some(Step::Tick(k))
        } else {
            None
        }
    }

    /// Takes the next scrape if it is before `until` (and the cutoff), skipping receiver ticks.
    #[cfg(test)]
    pub(crate) fn scrape_before(&mut self, until: u64) -> bool {
        while let Some(step) = self.next_step(until) {
            if step == Step::Scrape {
                return true;
            }
        }
        false
    }

    /// The `k8s.container.ready` readings of this node's containers at tick `t` (after
    /// [`NodeSim::next_step`] returned `Tick(t)`): one per pod whose sandbox runs and whose
    /// container has started in this pod; ready once the main process ran [`READY_DELAY`].
    pub(crate) fn read_containers(&mut self, t: u64, out: &mut Vec<ReadyPoint>) {
        for p in 0..self.pods.len() {
            let (Some(shim), Some(main)) = (self.pods[p].shim, self.pods[p].main) else {
                continue;
            };
            if self.slots[shim].cur.is_none() || self.pods[p].generation == 0 {
                continue;
            }
            let generation = self.pods[p].generation;
            let running = self.slots[main].cur.as_ref().map(|c| c.born);
            let res = match (&self.pods[p].reported, running) {
                (Some((g, born, res)), Some(b)) if *g == generation && *born == b => res.clone(),
                (Some((g, _, res)), None) if *g == generation => res.clone(),
                (_, Some(b)) => {
                    let res = Arc::new(self.container_res(p, main, b));
                    self.pods[p].reported = Some((generation, b, res.clone()));
                    res
                }
                (_, None) => continue,
            };
            out.push(ReadyPoint {
                time_ns: t,
                res,
                ready: running.is_some_and(|b| t >= b + READY_DELAY),
            });
        }
    }

    /// The container's resource as the `k8s_cluster` receiver builds it (then the pipeline's
    /// resource processor adds the cluster name). No `host.name`: the receiver runs once per
    /// cluster, not on the node.
    fn container_res(&self, p: usize, main: usize, born: u64) -> ContainerRes {
        let pod = &self.pods[p];
        let s = |v: &str| AttrValue::Str(v.to_string());
        let id = hex_id(self.spec.salt ^ mix(main as u64) ^ born, 64);
        let resource: Attrs = vec![
            ("k8s.pod.uid".into(), s(&pod.uid)),
            ("k8s.pod.name".into(), s(&pod.name)),
            ("k8s.node.name".into(), s(&self.spec.node)),
            ("k8s.namespace.name".into(), s(pod.namespace)),
            ("container.id".into(), AttrValue::Str(id)),
            ("k8s.container.name".into(), s(pod.container)),
            ("container.image.name".into(), s(pod.image)),
            ("container.image.tag".into(), s(&pod.image_tag)),
            ("k8s.cluster.name".into(), s(&self.spec.cluster)),
        ];
        let origin = Origin {
            resource,
            scope_name: wire::CLUSTER_SCOPE_NAME.to_string(),
            scope_version: wire::SCOPE_VERSION.to_string(),
            scope_attributes: Vec::new(),
        };
        ContainerRes {
            json: if self.spec.want.json {
                wire::resource_json(&origin)
            } else {
                String::new()
            },
            proto: self.spec.want.proto.then(|| wire::resource_proto(&origin)),
            origin: Arc::new(origin),
        }
    }

    fn scrape_at(&mut self, t: u64) {
        self.next_scrape = t + self.spec.interval;
        self.advance_to(t);
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(
            self.slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.cur.as_ref().map(|c| (c.pid, i))),
        );
        order.sort_unstable();
        self.samples.clear();
        // The scrape loop starts a little after the tick; each process is read in turn.
        let mut time = t + self.rng.range(200_000, 3_000_000);
        for &(_, i) in &order {
            time += self.rng.range(40_000, 400_000);
            let s = self.observe(i, t, time);
            self.samples.push(s);
        }
        self.order = order;
    }

    /// Applies every start and end at or before `t`, in time order.
    fn advance_to(&mut self, t: u64) {
        loop {
            let mut best: Option<(u64, usize)> = None;
            for (i, s) in self.slots.iter().enumerate() {
                let e = match &s.cur {
                    Some(c) => c.end_ns,
                    None => s.next_start,
                };
                if e <= t && best.is_none_or(|(b, _)| e < b) {
                    best = Some((e, i));
                }
            }
            let Some((e, i)) = best else { return };
            if self.slots[i].cur.is_some() {
                self.stop(i, e);
            } else {
                self.start(i, e);
            }
        }
    }

    fn stop(&mut self, i: usize, e: u64) {
        self.slots[i].cur = None;
        let next = match &self.slots[i].life {
            Life::Long { .. } => {
                // Shims come back first after a rollout, then the containers.
                e + if self.slots[i].shim {
                    NS + self.rng.range(0, NS / 2)
                } else {
                    self.rng.range(2 * NS, 8 * NS)
                }
            }
            Life::Daily { at_ns, .. } => next_at(e + 1, DAY, *at_ns),
            Life::Hourly { at_ns, .. } => next_at(e + 1, HOUR, *at_ns),
            Life::Windows(w) => w.iter().find(|(s, end)| *s >= e && end > s).map_or(NEVER, |(s, _)| *s),
        };
        self.slots[i].next_start = next;
    }

    fn roll_pod(&mut self, p: usize, t: u64) {
        let suffix = self.rng.chars(SAFE, 5);
        let hash = self.rng.chars(SAFE, 10);
        let sandbox = self.rng.chars(HEX, 64);
        let mean = self.pods[p].rollout_mean_ns;
        let mut next = if mean > 0.0 {
            t.saturating_add((self.rng.exp(mean) as u64).max(HOUR))
        } else {
            NEVER
        };
        let pod = &mut self.pods[p];
        pod.image_tag = tag_at(pod.image, pod.tag, t);
        if let Some((at, tag)) = &pod.forced_rollout {
            if *at > t {
                next = next.min(*at);
            } else {
                pod.image_tag = tag.clone();
            }
        }
        let h = mix(fnv(&sandbox));
        let h2 = mix(h);
        pod.uid = format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            0x8000 | ((h2 >> 48) & 0x3fff),
            h2 & 0xffff_ffff_ffff
        );
        pod.generation += 1;
        pod.name = if pod.daemonset {
            format!("{}-{suffix}", pod.workload)
        } else {
            format!("{}-{hash}-{suffix}", pod.workload)
        };
        pod.sandbox = sandbox;
        pod.rollout_at = next;
    }

    fn alloc_pid(&mut self, t: u64) -> i64 {
        let elapsed = t.saturating_sub(self.pid_clock) as f64 / NS as f64;
        self.pid_clock = self.pid_clock.max(t);
        let forks = (elapsed * self.spec.fork_rate).min(1e12) as i64;
        let mut pid = self.next_pid + 1 + forks + self.rng.range(0, 4) as i64;
        loop {
            if pid >= PID_MAX {
                // The kernel wraps to RESERVED_PIDS (300).
                pid = 300 + (pid - PID_MAX) % (PID_MAX - 300);
            }
            if !self.slots.iter().any(|s| s.cur.as_ref().is_some_and(|c| c.pid == pid)) {
                break;
            }
            pid += 1;
        }
        self.next_pid = pid;
        pid
    }

    fn start(&mut self, i: usize, t: u64) {
        let long = matches!(self.slots[i].life, Life::Long { .. });
        if let Some(p) = self.slots[i].pod {
            if self.pods[p].generation == 0 || (long && t >= self.pods[p].rollout_at) {
                self.roll_pod(p, t);
            }
        }
        let pid = match self.slots[i].fixed_pid {
            Some(p) => p,
            None => self.alloc_pid(t),
        };
        let ppid = match self.slots[i].parent {
            Parent::Kernel => 0,
            Parent::Init => 1,
            Parent::Slot(j) => self.slots[j].cur.as_ref().map_or(1, |c| c.pid),
        };
        let end = match &self.slots[i].life {
            Life::Long { restart_mean_ns } => {
                let mut e = if *restart_mean_ns > 0.0 {
                    t.saturating_add((self.rng.exp(*restart_mean_ns) as u64).max(MINUTE))
                } else {
                    NEVER
                };
                if long {
                    if let Some(p) = self.slots[i].pod {
                        e = e.min(self.pods[p].rollout_at);
                    }
                }
                if let Some(f) = self.slots[i].forced_restart {
                    if f > t {
                        e = e.min(f);
                    }
                }
                e
            }
            Life::Daily { dur_ns, .. } | Life::Hourly { dur_ns, .. } => t + dur_ns,
            Life::Windows(w) => w.iter().find(|(s, e)| *s <= t && t < *e).map_or(t + NS, |(_, e)| *e),
        };
        let origin = Arc::new(self.origin(i, pid, ppid));
        let json = if self.spec.want.json {
            wire::resource_json(&origin)
        } else {
            String::new()
        };
        let proto = self.spec.want.proto.then(|| wire::resource_proto(&origin));
        let counters = self.counters(i, t);
        // gopsutil: boot time + start ticks (1/100 s) from /proc/<pid>/stat.
        let start_ns = t - t % (NS / 100);
        let shell = SHELLS.contains(&self.slots[i].exe.name).then(|| {
            self.shells.push(ShellRecord {
                slot: i,
                pid,
                start_ns,
                in_window: false,
                cpu_active: false,
                last: None,
            });
            self.shells.len() - 1
        });
        self.slots[i].cur = Some(Incarnation {
            pid,
            start_ns,
            born: t,
            end_ns: end,
            origin,
            json,
            proto,
            counters,
            shell,
        });
    }

    fn counters(&mut self, i: usize, t: u64) -> Counters {
        let p = self.slots[i].exe.profile;
        let mut aux = Rng::derive(self.spec.salt, &[0x7468_7265_6164, i as u64, t]);
        let threads_base = (1.0 + p.cpu * 6.0 + aux.uniform(0.0, 8.0)).round();
        let op_bytes = [aux.uniform(8.0, 64.0) * 1024.0, aux.uniform(8.0, 64.0) * 1024.0];
        let f = self.rng.uniform(0.6, 1.4);
        // Never more than the node has (the miner asks for 3.6 cores).
        let cpu = (p.cpu * f).min(self.spec.cores as f64 * 0.95) * 100.0;
        let rss_base = p.rss_mb * MIB * self.rng.uniform(0.8, 1.25);
        let vms = page((p.vms_mb * MIB * self.rng.uniform(0.97, 1.03)).max(rss_base * 1.3));
        Counters {
            rates: [cpu * (1.0 - p.sys - p.wait), cpu * p.sys, cpu * p.wait],
            ticks: [0; 3],
            rss_base,
            rss: 0,
            vms,
            io_rates: [
                p.read_kib * 1024.0 * self.rng.uniform(0.5, 1.5),
                p.write_kib * 1024.0 * self.rng.uniform(0.5, 1.5),
            ],
            io: [0; 2],
            walk: 0.0,
            last: None,
            threads_base,
            threads: threads_base as i64,
            ops: [0; 2],
            op_bytes,
            aux,
        }
    }

    fn expand(&mut self, template: &str, pod: Option<usize>) -> String {
        if !template.contains('{') {
            return template.to_string();
        }
        let sandbox = match pod {
            Some(p) => self.pods[p].sandbox.clone(),
            None => self.rng.chars(HEX, 64),
        };
        template
            .replace("{node}", &self.spec.node)
            .replace("{ip}", &self.spec.ip)
            .replace("{sandbox}", &sandbox)
    }

    /// The resource attributes, in the order the pipeline adds them: the process scraper's,
    /// then k8sattributes (pod, namespace), resourcedetection (host.name, os.type) and the
    /// resource processor (node and cluster names).
    fn origin(&mut self, i: usize, pid: i64, ppid: i64) -> Origin {
        let exe = self.slots[i].exe;
        let pod = self.slots[i].pod;
        let args = self.expand(exe.args, pod);
        let command_line = if args.is_empty() {
            exe.command.to_string()
        } else {
            format!("{} {args}", exe.command)
        };
        let s = |v: &str| AttrValue::Str(v.to_string());
        let mut r: Attrs = Vec::with_capacity(14);
        r.push(("process.pid".into(), AttrValue::Int(pid)));
        r.push(("process.parent_pid".into(), AttrValue::Int(ppid)));
        r.push(("process.executable.name".into(), s(exe.name)));
        r.push(("process.executable.path".into(), s(exe.path)));
        r.push(("process.command".into(), s(exe.command)));
        r.push(("process.command_line".into(), AttrValue::Str(command_line)));
        if let Some(owner) = exe.owner {
            r.push(("process.owner".into(), s(owner)));
        }
        if let Some(p) = pod {
            r.push(("k8s.pod.name".into(), s(&self.pods[p].name)));
            r.push(("k8s.namespace.name".into(), s(self.pods[p].namespace)));
        }
        r.push(("host.name".into(), s(&self.spec.node)));
        r.push(("os.type".into(), s("linux")));
        r.push(("k8s.node.name".into(), s(&self.spec.node)));
        r.push(("k8s.cluster.name".into(), s(&self.spec.cluster)));
        Origin {
            resource: r,
            scope_name: wire::SCOPE_NAME.to_string(),
            scope_version: wire::SCOPE_VERSION.to_string(),
            scope_attributes: Vec::new(),
        }
    }

    /// A slot's scenario shape at scrape `t`, its memory factor then and the daily load.
    fn shaping(&self, i: usize, t: u64) -> (Option<Shape>, f64, f64) {
        let slot = &self.slots[i];
        let curve = slot
            .shape
            .and_then(|s| s.diurnal)
            .or_else(|| diurnal_default(&slot.exe, slot.pod.is_some()));
        let rss_f = slot.shape.filter(|s| s.from <= t && t < s.to).map_or(1.0, |s| s.rss);
        (slot.shape, rss_f, diurnal_at(curve, t))
    }

    /// Reads slot `i` at scrape `t` (point time `time_ns`).
    fn observe(&mut self, i: usize, t: u64, time_ns: u64) -> Sample {
        let interval = self.spec.interval;
        let since = self.spec.collector_since;
        let cores = self.spec.cores as f64;
        let mem = self.spec.mem_bytes as f64;
        let util = self.spec.want.utilization;
        let (shape, rss_f, load) = self.shaping(i, t);
        let rng = &mut self.rng;
        let inc = self.slots[i]
            .cur
            .as_mut()
            .expect("observe: the slot is running (checked by the caller)");
        let start = inc.born;
        let c = &mut inc.counters;
        if c.last.is_none() {
            // Did the collector see this process on its previous scrape?
            let seen = t.checked_sub(interval).is_some_and(|p| p >= start && p >= since);
            let t0 = if seen { t - interval } else { t };
            let age = (t0 - start) as f64 / NS as f64;
            for s in 0..3 {
                let startup = if s == 0 {
                    rng.uniform(1.0, 40.0)
                } else {
                    rng.uniform(0.0, 8.0)
                };
                c.ticks[s] = (c.rates[s] * age * rng.uniform(0.85, 1.15) + startup) as u64;
            }
            c.walk = rng.uniform(-0.1, 0.1);
            c.rss = page(c.rss_base * (1.0 + c.walk) * rss_f);
            // Reading the binary and its libraries, then the steady rate.
            c.io = [
                page(c.rss_base * rng.uniform(0.2, 0.6)) + page(c.io_rates[0] * age) - 4096,
                page(c.io_rates[1] * age + 1.0) - 4096,
            ];
            c.last = Some(t0);
            c.ops = [
                (c.io[0] as f64 / c.op_bytes[0]).round() as i64,
                (c.io[1] as f64 / c.op_bytes[1]).round() as i64,
            ];
        }
        let mut cpu_util = None;
        let last = c.last.unwrap_or(t);
        if last < t {
            let dt = (t - last) as f64 / NS as f64;
            let before = c.ticks;
            let mut add = [0u64; 3];
            let (cpu_f, phi) = share(shape, last, t);
            for (s, a) in add.iter_mut().enumerate() {
                // The draw is taken either way, so a scenario moves no other value.
                let noise = rng.uniform(0.4, 1.6);
                let f = noise * (1.0 - phi) + cpu_f * phi;
                *a = (c.rates[s] * dt * f * load).round() as u64;
            }
            // A process cannot use more CPU time than the node's cores give in `dt`.
            let cap = (cores * dt * 100.0).floor() as u64;
            let total: u64 = add.iter().sum();
            if total > cap {
                add.iter_mut().for_each(|a| *a = *a * cap / total);
            }
            for (s, a) in add.iter().enumerate() {
                c.ticks[s] += a;
            }
            c.walk = (c.walk + rng.uniform(-0.015, 0.015)).clamp(-0.25, 0.35);
            c.rss = page(c.rss_base * (1.0 + c.walk) * rss_f);
            c.add_io(dt, load, rng);
            c.last = Some(t);
            if util {
                let u = |s: usize| round9((c.ticks[s] - before[s]) as f64 / 100.0 / dt / cores);
                cpu_util = Some([u(0), u(1), u(2)]);
            }
        }
        let sample = Sample {
            slot: i,
            time_ns,
            cpu: [
                c.ticks[0] as f64 / 100.0,
                c.ticks[1] as f64 / 100.0,
                c.ticks[2] as f64 / 100.0,
            ],
            rss: c.rss,
            vms: c.vms,
            io: c.io,
            ops: c.ops,
            threads: c.threads,
            cpu_util,
            mem_util: util.then(|| round9(100.0 * c.rss as f64 / mem)),
        };
        if let Some(r) = inc.shell {
            let ticks = c.ticks;
            let start_ns = inc.start_ns;
            let ws = self.spec.window_start;
            let rec = &mut self.shells[r];
            if time_ns >= ws {
                rec.in_window = true;
                // The previous point of the series counts if it is at most 5 minutes before
                // the window; without one, a fresh process with CPU time counts.
                let prev = rec.last.filter(|(pt, _)| *pt >= ws.saturating_sub(5 * MINUTE));
                let moved = match prev {
                    Some((_, before)) => (0..3).any(|s| ticks[s] > before[s]),
                    None => start_ns >= ws.saturating_sub(5 * MINUTE) && ticks.iter().any(|t| *t > 0),
                };
                let util_moved = sample.cpu_util.is_some_and(|u| u.iter().any(|v| *v > 0.0));
                rec.cpu_active |= moved || util_moved;
            }
            rec.last = Some((time_ns, ticks));
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalog;
    use super::*;

    fn spec(interval: u64) -> NodeSpec {
        NodeSpec {
            cluster: "c".into(),
            node: "n".into(),
            ip: "10.0.0.1".into(),
            cores: 4,
            mem_bytes: 16 << 30,
            first_scrape: 10 * DAY,
            interval,
            cutoff: 12 * DAY,
            collector_since: 0,
            fork_rate: 0.2,
            want: Want {
                json: false,
                proto: false,
                utilization: true,
            },
            receiver_first: NEVER,
            window_start: 12 * DAY - HOUR,
            salt: 7,
        }
    }

    #[test]
    fn cpu_never_exceeds_the_node() {
        let mut n = NodeSim::new(spec(60 * NS), Rng::derive(3, &[]), 9 * DAY);
        let m = n.add_slot(
            catalog::XMRIG,
            None,
            Parent::Init,
            Life::Long { restart_mean_ns: 0.0 },
            9 * DAY,
        );
        let (mut scrapes, mut sum) = (0, 0.0);
        while n.scrape_before(10 * DAY + 3 * HOUR) {
            let s = n.samples.iter().find(|x| x.slot == m).expect("running");
            if let Some(u) = s.cpu_util {
                scrapes += 1;
                let total: f64 = u.iter().sum();
                assert!(total <= 1.0, "{u:?}");
                sum += total;
            }
        }
        assert_eq!(scrapes, 3 * 60);
        assert!(sum / scrapes as f64 > 0.4, "a miner keeps the node busy");
    }

    #[test]
    fn restarts_give_new_pids_and_counters_are_monotonic() {
        let mut n = NodeSim::new(spec(60 * NS), Rng::derive(1, &[]), 9 * DAY);
        let s = n.add_slot(
            catalog::SYSTEMD,
            None,
            Parent::Kernel,
            Life::Long { restart_mean_ns: 0.0 },
            9 * DAY,
        );
        n.set_fixed_pid(s, 1);
        let a = n.add_slot(
            catalog::DAEMONS[0],
            None,
            Parent::Init,
            Life::Long {
                restart_mean_ns: HOUR as f64,
            },
            9 * DAY + NS,
        );
        let j = n.add_slot(
            catalog::JOBS[2].0,
            None,
            Parent::Init,
            Life::Hourly {
                at_ns: 17 * MINUTE,
                dur_ns: 2 * MINUTE,
            },
            9 * DAY,
        );
        let mut pids = std::collections::BTreeSet::new();
        let mut last_cpu = 0.0;
        let mut last_pid = 0;
        let mut job_seen = 0;
        let mut scrapes = 0;
        while n.scrape_before(10 * DAY + 6 * HOUR) {
            scrapes += 1;
            let times: Vec<u64> = n.samples.iter().map(|s| s.time_ns).collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]));
            let pid_of = |i: usize| n.slots[i].cur.as_ref().map(|c| c.pid);
            assert_eq!(pid_of(s), Some(1));
            let sa = n
                .samples
                .iter()
                .find(|x| x.slot == a)
                .expect("daemon is always observed");
            let pid = pid_of(a).expect("running");
            if pid == last_pid {
                assert!(sa.cpu[0] >= last_cpu);
                assert!(sa.cpu_util.is_some());
            }
            pids.insert(pid);
            last_pid = pid;
            last_cpu = sa.cpu[0];
            job_seen += n.samples.iter().filter(|x| x.slot == j).count();
            assert!(n
                .samples
                .iter()
                .all(|x| x.mem_util.is_some_and(|m| (0.0..=100.0).contains(&m))));
        }
        assert_eq!(scrapes, 6 * 60);
        assert!(pids.len() > 2, "an hourly restart rate gives new pids: {pids:?}");
        assert_eq!(job_seen, 6 * 2, "the hourly job runs 2 minutes every hour");
    }
}
