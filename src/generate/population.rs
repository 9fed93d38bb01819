//! The population: clusters, nodes, what runs on them and who talks to whom, with the scenarios
//! injected and labelled.
//!
//! Labels are computed from the population alone — each slot's life, each pod's image, each edge's
//! start — never from the points: a key is new for a detection when something with that key is
//! observed in the window (a scrape or receiver tick falls in a run) and nothing with it is
//! observed in the baseline. Shell processes get their pids from the simulation
//! ([`ShellPlan`], resolved by `resolve`).

use std::collections::{BTreeSet, HashMap};

use super::catalog::{self, Exe, Schedule, Workload, BUILD_TAG};
use super::cluster::{comm, ClusterSim, Edge, Endpoint, Proto};
use super::model::{entry, utc, Frame, NodeTruth, Scenario, Windows, DAY, HOUR, MINUTE, NEVER, NS};
use super::names::*;
use super::options::GenerateOptions;
use super::rng::Rng;
use super::sim::{tag_at, Life, NodeSim, NodeSpec, Parent, Shape, Want, SAFE, SHELLS};
use crate::config::fmt_instant;

const TAG_CLUSTER: u64 = 1;
const TAG_NODE: u64 = 2;
const TAG_NODE_SIM: u64 = 3;
const TAG_TOPOLOGY: u64 = 4;
const TAG_REDUCER: u64 = 5;
const TAG_TIMING: u64 = 6;
const TAG_SALT: u64 = 7;

/// Scenarios placed on nodes with a complete history, in turn: node 0 of each cluster, then
/// node 1, … (the first six keep the places they had before the image and shell scenarios).
const ROLES: [&str; 15] = [
    MINER_IN_TMP,
    SHELL_IN_DEV_SHM,
    KNOWN_BINARY_UNUSUAL_PATH,
    RETURNS_AFTER_30_DAYS,
    COMMON_IN_CLUSTER_NEW_ON_NODE,
    NEW_PID_KNOWN_PATH,
    NEW_IMAGE_ON_NODE,
    IMAGE_COMMON_IN_CLUSTER_NEW_ON_NODE,
    IMAGE_TAG_BUMP,
    INTERACTIVE_SHELL,
    IDLE_SHELL,
    PROCESS_CPU_BURST,
    PROCESS_RATIO_FLIP,
    PROCESS_SHORT_SPIKE,
    PROCESS_DIURNAL_PEAK,
];

pub(crate) struct Population {
    pub nodes: Vec<NodeSim>,
    pub clusters: Vec<ClusterSim>,
    /// The range of `nodes` of each cluster.
    pub cluster_nodes: Vec<std::ops::Range<usize>>,
    pub labels: Labels,
    pub node_truth: Vec<NodeTruth>,
}

/// The ground truth as planned: entries known before the run, and the shells whose pids the
/// run decides.
pub(crate) struct Labels {
    pub entries: Vec<Scenario>,
    pub shells: Vec<ShellPlan>,
    pub window_end: String,
}

/// A shell a scenario starts: the rules must report each of its pids seen in the window, the
/// CPU rule only when `cpu`.
pub(crate) struct ShellPlan {
    pub scenario: &'static str,
    pub description: String,
    pub node: usize,
    pub slot: usize,
    pub cpu: bool,
}

struct ClusterPlan {
    name: String,
    nodes: Vec<(String, String)>,
    /// Application pool of this cluster: (index in `APPS`, weight).
    apps: Vec<(usize, f64)>,
}

fn base36(mut n: u64, width: usize) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 || out.len() < width {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn cluster_plan(seed: u64, c: u32, nodes: u32) -> ClusterPlan {
    let mut rng = Rng::derive(seed, &[TAG_CLUSTER, u64::from(c)]);
    let name = match c {
        0 => "prod-eu-west-1".to_string(),
        1 => "prod-us-central1".to_string(),
        2 => "staging-westeurope".to_string(),
        3 => "dev-lab".to_string(),
        _ => format!("cluster-{}", c + 1),
    };
    let third = 32 + 8 * rng.range(0, 8);
    let pool = rng.chars(b"0123456789abcdef", 8);
    let scale_set = rng.range(10_000_000, 99_999_999);
    let mut names = std::collections::HashSet::new();
    let mut out_nodes = Vec::new();
    for n in 0..u64::from(nodes) {
        let ip = format!("10.{}.{}.{}", 10 + c % 200, third + n / 200, 10 + n % 200);
        let node = loop {
            let candidate = match c {
                0 => format!("ip-{}.eu-west-1.compute.internal", ip.replace('.', "-")),
                1 => format!("gke-{name}-default-pool-{pool}-{}", rng.chars(SAFE, 4)),
                2 => format!("aks-nodepool1-{scale_set}-vmss{}", base36(n, 6)),
                _ => format!("worker-{:02}", n + 1),
            };
            if names.insert(candidate.clone()) {
                break candidate;
            }
        };
        out_nodes.push((node, ip));
    }
    // Each cluster runs most of the pool, with its own popularity.
    let mut apps: Vec<(usize, f64)> = Vec::new();
    for (i, w) in catalog::APPS.iter().enumerate() {
        if rng.chance(0.75) {
            apps.push((i, w.weight * rng.uniform(0.3, 2.0)));
        }
    }
    // Some single-process workload must exist to fill an odd remainder.
    if !apps.iter().any(|(i, _)| catalog::APPS[*i].procs.len() == 1) {
        apps.push((2, 1.0));
    }
    ClusterPlan {
        name,
        nodes: out_nodes,
        apps,
    }
}

/// Adds a pod of `w`: its shim, then its processes. With `window`, the pod only runs from that
/// instant on (otherwise from `t0`, all the time, with restarts and rollouts).
fn add_workload(sim: &mut NodeSim, w: &Workload, t0: u64, window: Option<u64>) -> (usize, Vec<usize>) {
    let pod = sim.add_pod(w);
    let shim_life = match window {
        Some(s) => Life::Windows(vec![(s, NEVER)]),
        None => Life::Long { restart_mean_ns: 0.0 },
    };
    let shim = sim.add_slot(catalog::SHIM, Some(pod), Parent::Init, shim_life, t0);
    sim.set_shim(shim);
    let mut slots: Vec<usize> = Vec::new();
    for (j, p) in w.procs.iter().enumerate() {
        let parent = match p.parent {
            None => Parent::Slot(shim),
            Some(k) => Parent::Slot(slots[k]),
        };
        let offset = NS + j as u64 * NS / 2;
        let life = match window {
            Some(s) => Life::Windows(vec![(s + NS + offset, NEVER)]),
            None => Life::Long {
                restart_mean_ns: p.restart_days * DAY as f64,
            },
        };
        slots.push(sim.add_slot(p.exe, Some(pod), parent, life, t0 + offset));
    }
    sim.set_pod_slots(pod, shim, slots[0]);
    (pod, slots)
}

fn pick<'a>(rng: &mut Rng, pool: &[&'a (usize, f64)]) -> Option<&'a (usize, f64)> {
    let total: f64 = pool.iter().map(|(_, w)| w).sum();
    let mut x = rng.f64() * total;
    for e in pool {
        x -= e.1;
        if x < 0.0 {
            return Some(e);
        }
    }
    pool.last().copied()
}

/// What a label asks about one node.
enum Ask {
    /// `process_new_path` for this path and `unseen_process` for this name.
    Path(&'static str),
    Name(&'static str),
    /// `unseen_container_image` for this image.
    Image(&'static str),
    /// A statistical detection for this process name, with the finding the design expects
    /// (the oracle checks it).
    Stat {
        detection: &'static str,
        name: &'static str,
        expect: bool,
    },
}

/// A long-running application process for a statistical scenario: the main process of an
/// application pod no other scenario touches, whose executable name no other process of the
/// node has (the entity is the name on the node), and busy enough that its CPU time moves in
/// every interval.
fn stat_victim(sim: &NodeSim, candidates: &[PlannedPod], taken: &[usize]) -> Option<usize> {
    candidates.iter().find_map(|p| {
        let slot = p.last;
        let exe = sim.slots[slot].exe;
        let unique = sim.slots.iter().filter(|s| s.exe.name == exe.name).count() == 1;
        (unique && !taken.contains(&slot) && !SHELLS.contains(&exe.name) && exe.profile.cpu >= 0.01).then_some(slot)
    })
}

/// Scrapes of the node's grid in `[a, b)`.
fn scrapes_between(sim: &NodeSim, a: u64, b: u64) -> u64 {
    let (first, interval) = (sim.spec.first_scrape, sim.spec.interval);
    let next = |t: u64| first + t.saturating_sub(first).div_ceil(interval) * interval;
    let (lo, hi) = (next(a.max(first)), b.min(sim.spec.cutoff));
    if lo >= hi {
        0
    } else {
        (hi - lo).div_ceil(interval)
    }
}

/// Whether a statistical detection can judge a long-running process of this node: counters
/// have rates (the interval is within the 15-minute lookback) and the baseline holds well over
/// the learning period of 100 buckets.
fn stat_judgeable(sim: &NodeSim, w: &Windows) -> bool {
    sim.spec.interval <= 15 * MINUTE && scrapes_between(sim, w.baseline_start, w.window_start) >= 200
}

/// A pod of a node that runs all the time.
#[derive(Clone, Copy)]
struct PlannedPod {
    pod: usize,
    workload: &'static Workload,
    /// The pod's last process (the parent of what runs "in" it).
    last: usize,
}

fn add_long(sim: &mut NodeSim, pods: &mut Vec<PlannedPod>, w: &'static Workload, t: u64) -> PlannedPod {
    let (pod, slots) = add_workload(sim, w, t, None);
    let p = PlannedPod {
        pod,
        workload: w,
        last: slots[slots.len() - 1],
    };
    pods.push(p);
    p
}

struct Built {
    sim: NodeSim,
    truth: NodeTruth,
    /// The pods that run all the time.
    pods: Vec<PlannedPod>,
    /// (scenario, description, questions) of the scenarios placed here.
    asks: Vec<(&'static str, String, Vec<Ask>)>,
    shells: Vec<ShellPlan>,
    complete: bool,
}

struct NodeCtx<'a> {
    opts: &'a GenerateOptions,
    frame: Frame,
    want: Want,
    cluster: &'a ClusterPlan,
    c: u32,
    n: u32,
    /// Index of the node in the population.
    index: usize,
    late: bool,
    roles: Vec<&'static str>,
    /// The node that `common_in_cluster_new_on_node` holds node-exporter back from, if in this cluster.
    held_back: bool,
    late_scenario: bool,
    /// `multi_stage_attack` runs here (the last cluster's late node: no other scenario does).
    multi_stage: bool,
    cluster_nodes: u32,
    receiver_first: u64,
}

fn minutes_before_end(f: &Frame, t: u64) -> String {
    format!("{} ({} min before the end)", fmt_instant(utc(t)), (f.end - t) / MINUTE)
}

/// The next tag of an image after `tag`: the last number bumped (a patch release), or for
/// in-house images a hotfix build of the day.
fn bumped_tag(image: &str, tag: &str, at: u64) -> String {
    if tag == BUILD_TAG {
        return format!("{}-hotfix", tag_at(image, BUILD_TAG, at));
    }
    let bytes = tag.as_bytes();
    let Some(last) = bytes.iter().rposition(u8::is_ascii_digit) else {
        return format!("{tag}-1");
    };
    let first = bytes[..=last]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let n: u64 = tag[first..=last].parse().unwrap_or(0);
    format!("{}{}{}", &tag[..first], n + 1, &tag[last + 1..])
}

fn within(sim: &NodeSim, pod: Option<usize>) -> String {
    pod.map(|p| {
        format!(
            " inside a {} pod (namespace {})",
            sim.pod_workload(p),
            sim.pod_namespace(p)
        )
    })
    .unwrap_or_default()
}

fn build_node(x: NodeCtx<'_>) -> Built {
    let f = x.frame;
    let (c, n) = (u64::from(x.c), u64::from(x.n));
    let mut rng = Rng::derive(x.opts.seed, &[TAG_NODE, c, n]);
    let (node, ip) = x.cluster.nodes[x.n as usize].clone();
    let (mut sim, boot, first_scrape) = new_node(&x, &mut rng, &node, ip);
    let daemons = add_host(&mut sim, &mut rng, f, boot);
    let mut pods: Vec<PlannedPod> = Vec::new();
    let exporter_start = f.end - 38 * MINUTE;
    let kube_proxy = add_addons(&mut sim, &mut pods, &x, boot, exporter_start);
    let (apps, shipper) = add_apps(&mut sim, &mut pods, &mut rng, &x, boot);

    // Scenarios.
    let complete = !x.late && x.opts.days >= 30;
    let mut p = Placing {
        x: &x,
        f,
        boot,
        sim,
        pods,
        victims: Victims {
            apps,
            shipper,
            kube_proxy,
        },
        daemons,
        exporter_start,
        asks: Vec::new(),
        shells: Vec::new(),
        stat_taken: Vec::new(),
    };
    for &role in &x.roles {
        p.place(role);
    }
    if x.late_scenario {
        p.new_path_on_late_node(first_scrape);
    }
    if x.multi_stage {
        let v = p.victims.get(0);
        multi_stage(&mut p.sim, &mut p.asks, &mut p.shells, &x, v);
    }
    let truth = NodeTruth {
        k8s_cluster_name: x.cluster.name.clone(),
        k8s_node_name: node.clone(),
        host_name: node,
        first_scrape: fmt_instant(utc(first_scrape)),
        joined_late: x.late,
        expect_baseline_complete: complete,
    };
    Built {
        sim: p.sim,
        truth,
        pods: p.pods,
        asks: p.asks,
        shells: p.shells,
        complete,
    }
}

/// A node's simulation before anything runs on it (its size, scrape grid and collector), with
/// its boot time and first scrape: `(sim, boot, first_scrape)`.
fn new_node(x: &NodeCtx<'_>, rng: &mut Rng, node: &str, ip: String) -> (NodeSim, u64, u64) {
    let f = x.frame;
    let seed = x.opts.seed;
    let (c, n) = (u64::from(x.c), u64::from(x.n));
    let phase = rng.range(0, f.interval / 1_000_000) * 1_000_000;
    let (boot, first_scrape, since) = if x.late {
        let join = f.late_join();
        (join - rng.range(120, 240) * NS, join + phase, join + phase)
    } else {
        (
            f.start - rng.range(DAY / 1_000_000, 45 * DAY / 1_000_000) * 1_000_000,
            f.start + phase,
            0,
        )
    };
    let cores = [4u32, 8, 8, 16][rng.range(0, 4) as usize];
    let spec = NodeSpec {
        cluster: x.cluster.name.clone(),
        node: node.to_string(),
        ip,
        cores,
        mem_bytes: u64::from(cores) * (4 << 30),
        first_scrape,
        interval: f.interval,
        cutoff: f.end - NS,
        collector_since: since,
        fork_rate: rng.uniform(0.05, 0.5),
        want: x.want,
        receiver_first: x.receiver_first,
        window_start: f.end - HOUR,
        salt: Rng::derive(seed, &[TAG_SALT, c, n]).next_u64(),
    };
    let sim = NodeSim::new(spec, Rng::derive(seed, &[TAG_NODE_SIM, c, n]), boot);
    (sim, boot, first_scrape)
}

/// The host: systemd, the daemons and the scheduled jobs. Returns the daemons' slots.
fn add_host(sim: &mut NodeSim, rng: &mut Rng, f: Frame, boot: u64) -> Vec<usize> {
    let systemd = sim.add_slot(
        catalog::SYSTEMD,
        None,
        Parent::Kernel,
        Life::Long { restart_mean_ns: 0.0 },
        boot,
    );
    sim.set_fixed_pid(systemd, 1);
    let mut daemons = Vec::new();
    for (k, d) in catalog::DAEMONS.iter().enumerate() {
        daemons.push(sim.add_slot(
            *d,
            None,
            Parent::Init,
            Life::Long { restart_mean_ns: 0.0 },
            boot + (2 + k as u64) * NS + rng.range(0, 900) * 1_000_000,
        ));
    }
    for (exe, schedule, by_cron) in catalog::JOBS {
        let life = match schedule {
            Schedule::Daily { at_s, jitter_s, dur_s } => Life::Daily {
                at_ns: (at_s + rng.range(0, jitter_s)) * NS,
                dur_ns: (dur_s * NS).max(f.interval + NS),
            },
            Schedule::Hourly { at_s, dur_s } => Life::Hourly {
                at_ns: at_s * NS,
                dur_ns: (dur_s * NS).max(f.interval + NS),
            },
        };
        let parent = if by_cron {
            Parent::Slot(daemons[catalog::CRON])
        } else {
            Parent::Init
        };
        sim.add_slot(exe, None, parent, life, boot);
    }
    daemons
}

/// The cluster add-ons (DaemonSets, node-exporter unless held back until `exporter_start`,
/// coredns on two nodes, the singletons on node 0). Returns kube-proxy's pod.
fn add_addons(
    sim: &mut NodeSim,
    pods: &mut Vec<PlannedPod>,
    x: &NodeCtx<'_>,
    boot: u64,
    exporter_start: u64,
) -> PlannedPod {
    let mut t = boot + 30 * NS;
    let mut kube_proxy = None;
    for w in &catalog::ADDONS {
        let p = add_long(sim, pods, w, t);
        kube_proxy = kube_proxy.or(Some(p));
        t += 5 * NS;
    }
    if x.held_back {
        add_workload(sim, &catalog::NODE_EXPORTER, t, Some(exporter_start));
    } else {
        add_long(sim, pods, &catalog::NODE_EXPORTER, t);
    }
    if x.n < 2 && !x.late {
        add_long(sim, pods, &catalog::COREDNS, t + 2 * NS);
    }
    if x.n == 0 {
        for (k, w) in catalog::SINGLETONS.iter().enumerate() {
            add_long(sim, pods, w, t + (3 + k as u64) * NS);
        }
    }
    kube_proxy.expect("the add-ons include kube-proxy")
}

/// The applications: the log shipper DaemonSet, then Deployments from the cluster's pool
/// until `--processes` is used up. Returns the Deployments' pods and the shipper's.
fn add_apps(
    sim: &mut NodeSim,
    pods: &mut Vec<PlannedPod>,
    rng: &mut Rng,
    x: &NodeCtx<'_>,
    boot: u64,
) -> (Vec<PlannedPod>, Option<PlannedPod>) {
    let mut remaining = x.opts.processes as usize;
    let mut t = boot + 60 * NS;
    let mut apps: Vec<PlannedPod> = Vec::new();
    let mut shipper = None;
    if remaining > 0 {
        let p = add_long(sim, pods, &catalog::LOG_SHIPPER, t);
        shipper = Some(p);
        remaining -= catalog::LOG_SHIPPER.procs.len();
    }
    while remaining > 0 {
        t += 3 * NS + rng.range(0, 2000) * 1_000_000;
        let fits: Vec<&(usize, f64)> = x
            .cluster
            .apps
            .iter()
            .filter(|(i, _)| catalog::APPS[*i].procs.len() <= remaining)
            .collect();
        let Some(&(i, _)) = pick(rng, &fits) else { break };
        let w = &catalog::APPS[i];
        let p = add_long(sim, pods, w, t);
        apps.push(p);
        remaining -= w.procs.len();
    }
    (apps, shipper)
}

/// Whom the scenarios pick on: application pods (else the log shipper, else kube-proxy).
struct Victims {
    apps: Vec<PlannedPod>,
    shipper: Option<PlannedPod>,
    kube_proxy: PlannedPod,
}

impl Victims {
    /// The `k`-th application pod (else the first, else the log shipper, else kube-proxy).
    fn get(&self, k: usize) -> PlannedPod {
        self.apps
            .get(k)
            .or(self.apps.first())
            .copied()
            .or(self.shipper)
            .unwrap_or(self.kube_proxy)
    }
}

/// One node while its scenarios are placed: its simulation, its long-running pods, and what
/// the labels will ask about it. Each method places one scenario (its description says what
/// happens); none draws from the node's random stream.
struct Placing<'a> {
    x: &'a NodeCtx<'a>,
    f: Frame,
    boot: u64,
    sim: NodeSim,
    pods: Vec<PlannedPod>,
    victims: Victims,
    daemons: Vec<usize>,
    exporter_start: u64,
    asks: Vec<(&'static str, String, Vec<Ask>)>,
    shells: Vec<ShellPlan>,
    /// Slots the statistical scenarios must not use (touched by another scenario, or taken).
    stat_taken: Vec<usize>,
}

impl Placing<'_> {
    /// Places one role of [`ROLES`].
    fn place(&mut self, role: &'static str) {
        match role {
            MINER_IN_TMP => self.miner_in_tmp(),
            SHELL_IN_DEV_SHM => self.shell_in_dev_shm(),
            KNOWN_BINARY_UNUSUAL_PATH => self.known_binary_unusual_path(),
            RETURNS_AFTER_30_DAYS => self.returns_after_30_days(),
            COMMON_IN_CLUSTER_NEW_ON_NODE => self.common_in_cluster_new_on_node(),
            NEW_PID_KNOWN_PATH => self.new_pid_known_path(),
            NEW_IMAGE_ON_NODE => self.new_image_on_node(),
            IMAGE_TAG_BUMP => self.image_tag_bump(),
            INTERACTIVE_SHELL => self.interactive_shell(),
            IDLE_SHELL => self.idle_shell(),
            PROCESS_CPU_BURST | PROCESS_RATIO_FLIP | PROCESS_SHORT_SPIKE | PROCESS_DIURNAL_PEAK => {
                self.statistical(role)
            }
            _ => {}
        }
    }

    /// Places `miner_in_tmp` on this node.
    fn miner_in_tmp(&mut self) {
        let (f, boot) = (self.f, self.boot);
        let v = self.victims.get(0);
        let start = f.end - 47 * MINUTE;
        let pexe = self.sim.slots[v.last].exe;
        let exe = Exe {
            owner: pexe.owner,
            ..catalog::XMRIG
        };
        self.sim.add_slot(
            exe,
            Some(v.pod),
            Parent::Slot(v.last),
            Life::Windows(vec![(start, NEVER)]),
            boot,
        );
        self.asks.push((
            MINER_IN_TMP,
            format!(
                "A cryptominer dropped in a hidden folder under /tmp, started by {} ({}){} at {} and running until the end, using most of the node's CPU. The path never ran anywhere before.",
                pexe.name,
                pexe.path,
                within(&self.sim, Some(v.pod)),
                minutes_before_end(&f, start)
            ),
            vec![
                Ask::Path(exe.path),
                Ask::Name(exe.name),
                // New: no history, so the statistical detections do not judge it.
                Ask::Stat { detection: PROCESS_RESOURCE_ANOMALY, name: exe.name, expect: false },
                Ask::Stat { detection: PROCESS_RESOURCE_RATIO_ANOMALY, name: exe.name, expect: false },
            ],
        ));
    }

    /// Places `shell_in_dev_shm` on this node.
    fn shell_in_dev_shm(&mut self) {
        let (x, f, boot) = (self.x, self.f, self.boot);
        let v = self.victims.get(1);
        let start = f.end - 33 * MINUTE;
        let end = start + f.len(12 * MINUTE);
        let pexe = self.sim.slots[v.last].exe;
        let exe = Exe {
            owner: pexe.owner,
            ..catalog::DEV_SHM_SH
        };
        let slot = self.sim.add_slot(
            exe,
            Some(v.pod),
            Parent::Slot(v.last),
            Life::Windows(vec![(start, end)]),
            boot,
        );
        let description = format!(
            "A shell copied to the tmpfs /dev/shm and run interactively by {}{} from {} for {} minutes. /dev/shm/sh never ran before; its name is sh, so the shell rules report it too (a fresh process: its CPU time counts as activity).",
            pexe.name,
            within(&self.sim, Some(v.pod)),
            minutes_before_end(&f, start),
            (end - start) / MINUTE
        );
        self.shells.push(ShellPlan {
            scenario: SHELL_IN_DEV_SHM,
            description: description.clone(),
            node: x.index,
            slot,
            cpu: true,
        });
        self.asks.push((
            SHELL_IN_DEV_SHM,
            description,
            vec![Ask::Path(exe.path), Ask::Name(exe.name)],
        ));
    }

    /// Places `known_binary_unusual_path` on this node.
    fn known_binary_unusual_path(&mut self) {
        let (f, boot) = (self.f, self.boot);
        let start = f.end - 21 * MINUTE;
        self.sim.add_slot(
            catalog::TMP_PYTHON,
            None,
            Parent::Init,
            Life::Windows(vec![(start, NEVER)]),
            boot,
        );
        self.asks.push((
            KNOWN_BINARY_UNUSUAL_PATH,
            format!(
                "A copy of python3 in /var/tmp runs a reverse shell on the host (reparented to init) from {}. The executable name is common (python3 runs from /usr/bin or /usr/local/bin in many containers); the path is not.",
                minutes_before_end(&f, start)
            ),
            vec![Ask::Path(catalog::TMP_PYTHON.path), Ask::Name(catalog::TMP_PYTHON.name)],
        ));
    }

    /// Places `returns_after_30_days` on this node.
    fn returns_after_30_days(&mut self) {
        let (x, f, boot) = (self.x, self.f, self.boot);
        let early = if x.opts.days >= 36 {
            Some(f.end - 35 * DAY)
        } else if x.opts.days >= 31 {
            Some(f.start + HOUR)
        } else {
            None
        };
        let start = f.end - 52 * MINUTE;
        let mut windows = Vec::new();
        if let Some(e) = early {
            windows.push((e, e + f.len(10 * MINUTE)));
        }
        windows.push((start, start + f.len(10 * MINUTE)));
        self.sim
            .add_slot(catalog::TCPDUMP, None, Parent::Init, Life::Windows(windows), boot);
        let before = match early {
            Some(e) => format!(
                "ran on this node once before, at {} ({:.1} days before the end, outside the 30-day baseline), and",
                fmt_instant(utc(e)),
                (f.end - e) as f64 / DAY as f64
            ),
            None => format!(
                "would have run on this node ~35 days before the end, but the dataset only covers {} days (--days 36 or more emits that sighting; 31 to 35 puts it just before the baseline), so it simply",
                x.opts.days
            ),
        };
        self.asks.push((
            RETURNS_AFTER_30_DAYS,
            format!(
                "tcpdump {before} runs again from {} for {} minutes: new within the baseline window.",
                minutes_before_end(&f, start),
                f.len(10 * MINUTE) / MINUTE
            ),
            vec![Ask::Path(catalog::TCPDUMP.path), Ask::Name(catalog::TCPDUMP.name)],
        ));
    }

    /// Places `common_in_cluster_new_on_node` on this node.
    fn common_in_cluster_new_on_node(&mut self) {
        let (x, f) = (self.x, self.f);
        let w = &catalog::NODE_EXPORTER;
        self.asks.push((
            COMMON_IN_CLUSTER_NEW_ON_NODE,
            format!(
                "The node-exporter DaemonSet ran on every other node of the cluster ({} others) all along, but its pod was kept off this node (a taint) until {}: its path, process name and image ({}) are new on this node, with cluster prevalence > 0.",
                x.cluster_nodes - 1,
                minutes_before_end(&f, self.exporter_start),
                w.image
            ),
            vec![
                Ask::Path(w.procs[0].exe.path),
                Ask::Name(w.procs[0].exe.name),
                Ask::Image(w.image),
            ],
        ));
    }

    /// Places `new_pid_known_path` on this node.
    fn new_pid_known_path(&mut self) {
        let f = self.f;
        let v = self.victims.get(0);
        let slot = if v.pod == self.victims.kube_proxy.pod {
            self.daemons[catalog::CONTAINERD]
        } else {
            v.last
        };
        let at = f.end - 29 * MINUTE;
        self.sim.force_restart(slot, at);
        let exe = self.sim.slots[slot].exe;
        self.asks.push((
            NEW_PID_KNOWN_PATH,
            format!(
                "Negative control: {} ({}) restarts at {} with a new pid; the path and name ran on this node all along, so they are not new (only --splunk-compat, whose key includes the pid, reports it when process.memory.utilization is emitted).",
                exe.name,
                exe.path,
                minutes_before_end(&f, at)
            ),
            vec![Ask::Path(exe.path), Ask::Name(exe.name)],
        ));
    }

    /// Places `new_image_on_node` on this node.
    fn new_image_on_node(&mut self) {
        let (f, boot) = (self.f, self.boot);
        let w = &catalog::EVIL_MINER;
        let start = f.end - 44 * MINUTE;
        add_workload(&mut self.sim, w, boot, Some(start));
        self.asks.push((
            NEW_IMAGE_ON_NODE,
            format!(
                "A pod nobody deployed ({}, namespace {}) pulls {}:{} — an image no node of any cluster ever ran — at {} and mines Monero with {}: the image, the path and the process name are new on this node.",
                w.name,
                w.namespace,
                w.image,
                w.tag,
                minutes_before_end(&f, start),
                w.procs[0].exe.path
            ),
            vec![
                Ask::Image(w.image),
                Ask::Path(w.procs[0].exe.path),
                Ask::Name(w.procs[0].exe.name),
            ],
        ));
    }

    /// Places `image_tag_bump` on this node.
    fn image_tag_bump(&mut self) {
        let f = self.f;
        let v = self
            .victims
            .apps
            .last()
            .copied()
            .or(self.victims.shipper)
            .unwrap_or(self.victims.kube_proxy);
        let w = v.workload;
        let at = f.end - 25 * MINUTE;
        let tag = bumped_tag(w.image, w.tag, at);
        self.sim.force_rollout(v.pod, at, tag.clone());
        let main = w.procs[0].exe;
        self.asks.push((
            IMAGE_TAG_BUMP,
            format!(
                "Negative control: the {} Deployment rolls out a new image tag ({}:{}) at {}; new pod, new container ids and pids, but the image name ran on this node all along, so it is not new (nor are its paths).",
                w.name,
                w.image,
                tag,
                minutes_before_end(&f, at)
            ),
            vec![Ask::Image(w.image), Ask::Path(main.path), Ask::Name(main.name)],
        ));
    }

    /// Places `interactive_shell` on this node.
    fn interactive_shell(&mut self) {
        let (x, f, boot) = (self.x, self.f, self.boot);
        let v = self.victims.get(2);
        let start = f.end - 18 * MINUTE;
        let end = start + f.len(11 * MINUTE);
        let shim = self.sim.pod_shim(v.pod).expect("pods have a shim");
        let exe = Exe {
            owner: self.sim.slots[v.last].exe.owner,
            ..catalog::EXEC_BASH
        };
        let slot = self.sim.add_slot(
            exe,
            Some(v.pod),
            Parent::Slot(shim),
            Life::Windows(vec![(start, end)]),
            boot,
        );
        let description = format!(
            "Someone runs `kubectl exec -it … -- bash`{} from {} for {} minutes and types commands: both shell rules report it (CPU activity), and bash ran nowhere on this node before.",
            within(&self.sim, Some(v.pod)),
            minutes_before_end(&f, start),
            (end - start) / MINUTE
        );
        self.shells.push(ShellPlan {
            scenario: INTERACTIVE_SHELL,
            description: description.clone(),
            node: x.index,
            slot,
            cpu: true,
        });
        self.asks.push((
            INTERACTIVE_SHELL,
            description,
            vec![Ask::Path(exe.path), Ask::Name(exe.name)],
        ));
    }

    /// Places `idle_shell` on this node.
    fn idle_shell(&mut self) {
        let (x, f, boot) = (self.x, self.f, self.boot);
        let v = self.victims.get(3);
        let start = f.end - 3 * HOUR - 7 * MINUTE;
        let shim = self.sim.pod_shim(v.pod).expect("pods have a shim");
        let exe = Exe {
            owner: self.sim.slots[v.last].exe.owner,
            ..catalog::EXEC_IDLE_SH
        };
        let slot = self.sim.add_slot(
            exe,
            Some(v.pod),
            Parent::Slot(shim),
            Life::Windows(vec![(start, NEVER)]),
            boot,
        );
        let description = format!(
            "A `kubectl exec -it … -- sh` session{} opened at {} and left idle: the shell (dash, named sh) holds memory but never uses CPU, so shell_on_worker_node reports it and shell_on_worker_node_cpu does not; it started before the window, so it is not new either.",
            within(&self.sim, Some(v.pod)),
            minutes_before_end(&f, start)
        );
        self.shells.push(ShellPlan {
            scenario: IDLE_SHELL,
            description: description.clone(),
            node: x.index,
            slot,
            cpu: false,
        });
        self.asks
            .push((IDLE_SHELL, description, vec![Ask::Path(exe.path), Ask::Name(exe.name)]));
    }

    /// A statistical scenario (#9/#10): a long-running process of its own changes its resource
    /// shape in the window (or, for the negative controls, keeps within its baseline's spread).
    fn statistical(&mut self, role: &'static str) {
        let f = self.f;
        // Application pods first, then the other long-running pods; never a pod another
        // scenario restarts, rolls out or runs something in.
        if self.stat_taken.is_empty() {
            self.stat_taken.extend((0..4).map(|k| self.victims.get(k).last));
            self.stat_taken.extend(self.victims.apps.last().map(|p| p.last));
            self.stat_taken.push(self.victims.kube_proxy.last);
        }
        let candidates: Vec<PlannedPod> = self.victims.apps.iter().chain(self.pods.iter()).copied().collect();
        let Some(slot) = stat_victim(&self.sim, &candidates, &self.stat_taken) else {
            return;
        };
        self.stat_taken.push(slot);
        let exe = self.sim.slots[slot].exe;
        let pod = self.sim.slots[slot].pod;
        let w = f.windows();
        let ok = stat_judgeable(&self.sim, &w);
        let (shape, nine, ten, description) = match role {
            PROCESS_CPU_BURST => {
                let from = f.end - 45 * MINUTE;
                let n = scrapes_between(&self.sim, from, f.end);
                (
                    Shape { from, to: NEVER, cpu: 12.0, rss: 1.0, diurnal: None },
                    ok && n > 5,
                    ok && n > 5,
                    format!(
                        "A cryptominer injected into {} ({}){} from {}: its CPU time grows 12 times faster than usual in {n} scrapes of the window; memory, disk and threads stay as they were. #9 sees the CPU far above its 30-day baseline, #10 sees CPU per memory and per thread flip (when more than 5 scrapes fall in the burst and the baseline is judged).",
                        exe.name, exe.path, within(&self.sim, pod), minutes_before_end(&f, from)
                    ),
                )
            }
            PROCESS_RATIO_FLIP => {
                let from = f.end - 45 * MINUTE;
                let n = scrapes_between(&self.sim, from, f.end);
                (
                    Shape { from, to: NEVER, cpu: 1.0, rss: 0.1, diurnal: None },
                    false,
                    ok && n > 5,
                    format!(
                        "{} ({}){} keeps its usual CPU from {} while its resident memory falls to a tenth (its heap swapped out and replaced by a small injected payload): no metric rises, so #9 is silent, but CPU per memory is ten times its baseline in {n} scrapes (#10).",
                        exe.name, exe.path, within(&self.sim, pod), minutes_before_end(&f, from)
                    ),
                )
            }
            PROCESS_SHORT_SPIKE => {
                let from = f.end - 20 * MINUTE;
                (
                    Shape { from, to: from + 30 * NS, cpu: 20.0, rss: 1.0, diurnal: None },
                    false,
                    false,
                    format!(
                        "Negative control: {} ({}){} burns 20 times its CPU for 30 seconds at {}: at most one scrape interval is high, never more than 5 anomalous buckets.",
                        exe.name, exe.path, within(&self.sim, pod), minutes_before_end(&f, from)
                    ),
                )
            }
            _ => {
                let peak = (f.end - 30 * MINUTE) % DAY;
                (
                    Shape { from: 0, to: 0, cpu: 1.0, rss: 1.0, diurnal: Some((0.6, peak)) },
                    false,
                    false,
                    format!(
                        "Negative control: {} ({}){} follows a strong daily load curve (±60 %) that peaks in the window, as it does every day: the peak is inside its baseline's spread.",
                        exe.name, exe.path, within(&self.sim, pod)
                    ),
                )
            }
        };
        self.sim.set_shape(slot, shape);
        self.asks.push((
            role,
            description,
            vec![
                Ask::Stat {
                    detection: PROCESS_RESOURCE_ANOMALY,
                    name: exe.name,
                    expect: nine,
                },
                Ask::Stat {
                    detection: PROCESS_RESOURCE_RATIO_ANOMALY,
                    name: exe.name,
                    expect: ten,
                },
            ],
        ));
    }

    /// Places `new_path_on_late_node` on this node (it joined part-way, at `first_scrape`).
    fn new_path_on_late_node(&mut self, first_scrape: u64) {
        let (f, boot) = (self.f, self.boot);
        let start = f.end - (15 * MINUTE).max(f.interval + MINUTE);
        self.sim.add_slot(
            catalog::CRICTL,
            None,
            Parent::Init,
            Life::Windows(vec![(start, NEVER)]),
            boot,
        );
        self.asks.push((
            NEW_PATH_ON_LATE_NODE,
            format!(
                "This node joined the cluster at {} and has less than 30 days of history. An operator follows container logs with crictl from {}: a new path, reported with baseline_complete = false.",
                fmt_instant(utc(first_scrape)),
                minutes_before_end(&f, start)
            ),
            vec![Ask::Path(catalog::CRICTL.path), Ask::Name(catalog::CRICTL.name)],
        ));
    }
}

/// `multi_stage_attack` on this node: an exploited application (`v`) drops the Kinsing miner
/// in /tmp and runs it, which spawns a shell that works for a few minutes, which starts the
/// campaign's agent, a process never seen before. Each stage alone is one or two score-25
/// findings; together they are one incident on the node.
fn multi_stage(
    sim: &mut NodeSim,
    asks: &mut Vec<(&'static str, String, Vec<Ask>)>,
    shells: &mut Vec<ShellPlan>,
    x: &NodeCtx<'_>,
    v: PlannedPod,
) {
    let f = x.frame;
    let boot = sim.slots[0].not_before;
    let app = sim.slots[v.last].exe;
    let at = [f.end - 50 * MINUTE, f.end - 41 * MINUTE, f.end - 32 * MINUTE];
    let miner = sim.add_slot(
        catalog::KDEVTMPFSI,
        Some(v.pod),
        Parent::Slot(v.last),
        Life::Windows(vec![(at[0], NEVER)]),
        boot,
    );
    let shell_end = at[1] + f.len(11 * MINUTE);
    let shell = sim.add_slot(
        catalog::DROPPER_BASH,
        Some(v.pod),
        Parent::Slot(miner),
        Life::Windows(vec![(at[1], shell_end)]),
        boot,
    );
    sim.add_slot(
        catalog::KINSING,
        Some(v.pod),
        Parent::Slot(shell),
        Life::Windows(vec![(at[2], NEVER)]),
        boot,
    );
    let description = format!(
        "Stage {{}} of one attack on this node{}: {} ({}) is exploited and drops the Kinsing miner /tmp/kdevtmpfsi at {}, which takes most of the CPU (a resource spike: the statistical family's stage, not labelled yet); the miner runs /bin/bash at {} for {} minutes (both shell rules); bash starts the campaign's agent /var/tmp/.ssh/kinsing at {}. Each stage alone is a finding or two of score 25; the risk roll-up makes them one incident on the node.",
        within(sim, Some(v.pod)),
        app.name,
        app.path,
        minutes_before_end(&f, at[0]),
        minutes_before_end(&f, at[1]),
        (shell_end - at[1]) / MINUTE,
        minutes_before_end(&f, at[2]),
    );
    let stage = |k: usize| description.replacen("{}", &format!("{} ({})", k + 1, MULTI_STAGE_STAGES[k].0), 1);
    asks.push((
        MULTI_STAGE_ATTACK,
        stage(0),
        vec![Ask::Path(catalog::KDEVTMPFSI.path), Ask::Name(catalog::KDEVTMPFSI.name)],
    ));
    shells.push(ShellPlan {
        scenario: MULTI_STAGE_ATTACK,
        description: stage(1),
        node: x.index,
        slot: shell,
        cpu: true,
    });
    asks.push((
        MULTI_STAGE_ATTACK,
        stage(1),
        vec![
            Ask::Path(catalog::DROPPER_BASH.path),
            Ask::Name(catalog::DROPPER_BASH.name),
        ],
    ));
    asks.push((
        MULTI_STAGE_ATTACK,
        stage(2),
        vec![Ask::Path(catalog::KINSING.path), Ask::Name(catalog::KINSING.name)],
    ));
}

/// The catalog's workloads in a fixed order (what a cluster's topology is built from).
fn all_workloads() -> impl Iterator<Item = &'static Workload> {
    catalog::ADDONS
        .iter()
        .chain([&catalog::COREDNS, &catalog::NODE_EXPORTER])
        .chain(catalog::SINGLETONS.iter())
        .chain([&catalog::LOG_SHIPPER])
        .chain(catalog::APPS.iter())
}

fn workload(name: &str) -> &'static Workload {
    all_workloads()
        .find(|w| w.name == name)
        .expect("topology names are catalog workloads (checked by the catalog's tests)")
}

fn endpoint(w: &'static Workload) -> Endpoint {
    Endpoint {
        workload: w.name,
        namespace: w.namespace,
        process: comm(w.procs[w.procs.len() - 1].exe.name),
        container: w.container,
    }
}

/// (protocol, source workload, destination workload).
type EdgeKey = (Proto, &'static str, &'static str);

/// Who talks to whom in a cluster all along: each client keeps 1 to 3 of its servers present
/// in the cluster (the telemetry pipeline all of them), and every DNS client queries coredns.
fn topology(present: &[&'static str], rng: &mut Rng) -> Vec<EdgeKey> {
    let has = |w: &str| present.contains(&w);
    let mut edges = Vec::new();
    for (client, servers) in catalog::TALKS {
        if !has(client) {
            continue;
        }
        let mut avail: Vec<&'static str> = servers.iter().copied().filter(|s| has(s)).collect();
        if avail.is_empty() {
            continue;
        }
        if !catalog::TELEMETRY.contains(&client) {
            let k = rng.range(1, avail.len().min(3) as u64 + 1) as usize;
            for i in 0..k {
                let j = rng.range(i as u64, avail.len() as u64) as usize;
                avail.swap(i, j);
            }
            avail.truncate(k);
        }
        edges.extend(avail.into_iter().map(|s| (Proto::Tcp, client, s)));
    }
    if has(catalog::COREDNS.name) {
        for w in present {
            if catalog::DNS_CLIENTS.contains(w) || catalog::APPS.iter().any(|a| a.name == *w) {
                edges.push((Proto::Udp, *w, catalog::COREDNS.name));
            }
        }
    }
    edges
}

/// The runs of a slot intersecting `[a, b)`, as `[start, end)` pairs.
fn runs(life: &Life, not_before: u64, a: u64, b: u64) -> Vec<(u64, u64)> {
    let periodic = |period: u64, at: u64, dur: u64| -> Vec<(u64, u64)> {
        let first = a.saturating_sub(period + dur).max(not_before);
        let mut out = Vec::new();
        let mut s = first - first % period + at;
        while s < b {
            if s >= not_before && s + dur > a {
                out.push((s, s + dur));
            }
            s += period;
        }
        out
    };
    match life {
        Life::Long { .. } => vec![(not_before, NEVER)],
        Life::Daily { at_ns, dur_ns } => periodic(DAY, *at_ns, *dur_ns),
        Life::Hourly { at_ns, dur_ns } => periodic(HOUR, *at_ns, *dur_ns),
        Life::Windows(w) => w.iter().copied().filter(|(s, _)| *s >= not_before).collect(),
    }
}

/// Whether an instant of the grid `first + k × interval` (before `cutoff`) falls in a run of
/// the slot within `[a, b)`. Restarts of long-running processes (a few seconds) are ignored.
fn observed(sim: &NodeSim, slot: usize, grid_first: u64, a: u64, b: u64) -> bool {
    let s = &sim.slots[slot];
    let interval = sim.spec.interval;
    runs(s.life(), s.not_before, a, b).into_iter().any(|(rs, re)| {
        let lo = rs.max(a).max(grid_first);
        let hi = re.min(b).min(sim.spec.cutoff);
        lo < hi && grid_first + (lo - grid_first).div_ceil(interval) * interval < hi
    })
}

/// The node's answer to a label question: observed in the window and not in the baseline.
fn is_new(sim: &NodeSim, ask: &Ask, w: &Windows) -> bool {
    let seen = |a: u64, b: u64| -> bool {
        match ask {
            Ask::Path(p) => (0..sim.slots.len())
                .any(|i| sim.slots[i].exe.path == *p && observed(sim, i, sim.spec.first_scrape, a, b)),
            Ask::Name(n) => (0..sim.slots.len())
                .any(|i| sim.slots[i].exe.name == *n && observed(sim, i, sim.spec.first_scrape, a, b)),
            Ask::Image(img) => sim.pod_list().any(|(image, main)| {
                image == *img && main.is_some_and(|m| observed(sim, m, sim.spec.receiver_first, a, b))
            }),
            Ask::Stat { .. } => false,
        }
    };
    seen(w.window_start, w.end) && !seen(w.baseline_start, w.window_start)
}

/// Builds every node of every cluster and the clusters' telemetry, with the scenarios placed
/// and labelled.
pub(crate) fn build(opts: &GenerateOptions, frame: Frame, want: Want) -> Population {
    let f = frame;
    let window_end = fmt_instant(utc(f.end));
    let plans: Vec<ClusterPlan> = (0..opts.clusters)
        .map(|c| cluster_plan(opts.seed, c, opts.nodes))
        .collect();
    let timing = collector_timing(opts, f);
    let (mut built, cluster_nodes, complete) = build_nodes(opts, frame, want, &plans, &timing);
    image_common_in_cluster_new_on_node(&mut built, &cluster_nodes, &complete, f);
    let (mut topologies, presents) = topologies(opts, &built, &cluster_nodes);
    let scenario_edges = scenario_edges(opts, f, &plans, &mut topologies, &presents);
    let clusters = cluster_sims(opts, f, &plans, &topologies, &scenario_edges, &timing);
    let (entries, shells) = label(opts, f, &mut built, &plans, &topologies, &scenario_edges, &window_end);
    let mut nodes = Vec::new();
    let mut node_truth = Vec::new();
    for b in built {
        nodes.push(b.sim);
        node_truth.push(b.truth);
    }
    Population {
        nodes,
        clusters,
        cluster_nodes,
        labels: Labels {
            entries,
            shells,
            window_end,
        },
        node_truth,
    }
}

/// Cluster-wide collectors, per cluster: when the cluster receiver and the reducer first tick,
/// and since when the receiver runs: `(receiver_first, reducer_first, receiver_start)`.
fn collector_timing(opts: &GenerateOptions, f: Frame) -> Vec<(u64, u64, u64)> {
    (0..opts.clusters)
        .map(|c| {
            let mut rng = Rng::derive(opts.seed, &[TAG_TIMING, u64::from(c)]);
            let phase = |rng: &mut Rng| rng.range(0, f.interval / 1_000_000) * 1_000_000;
            let receiver_first = f.start + phase(&mut rng);
            let reducer_first = f.start + phase(&mut rng);
            let receiver_start = f.start - rng.range(HOUR / NS, 20 * DAY / NS) * NS;
            (receiver_first, reducer_first, receiver_start)
        })
        .collect()
}

/// Every node of every cluster with its roles placed: the nodes, the range of each cluster's,
/// and the nodes with a full history as (cluster, node), in the order roles go round them.
#[allow(clippy::type_complexity)]
fn build_nodes(
    opts: &GenerateOptions,
    frame: Frame,
    want: Want,
    plans: &[ClusterPlan],
    timing: &[(u64, u64, u64)],
) -> (Vec<Built>, Vec<std::ops::Range<usize>>, Vec<(u32, u32)>) {
    let late_index = opts.nodes - 1;
    // Nodes with a full history, spread over clusters: node 0 of each cluster, then node 1, …
    let complete: Vec<(u32, u32)> = (0..late_index)
        .flat_map(|n| (0..opts.clusters).map(move |c| (c, n)))
        .collect();
    let mut roles: HashMap<(u32, u32), Vec<&'static str>> = HashMap::new();
    for (i, role) in ROLES.iter().enumerate() {
        roles.entry(complete[i % complete.len()]).or_default().push(role);
    }
    let held_back = complete[4 % complete.len()];

    let mut built: Vec<Built> = Vec::new();
    let mut cluster_nodes = Vec::new();
    for (c, plan) in plans.iter().enumerate() {
        let c = c as u32;
        let first = built.len();
        for n in 0..opts.nodes {
            let late = n == late_index;
            built.push(build_node(NodeCtx {
                opts,
                frame,
                want,
                cluster: plan,
                c,
                n,
                index: built.len(),
                late,
                roles: roles.get(&(c, n)).cloned().unwrap_or_default(),
                held_back: held_back == (c, n),
                late_scenario: late && c == 0,
                multi_stage: late && c + 1 == opts.clusters,
                cluster_nodes: opts.nodes,
                receiver_first: timing[c as usize].0,
            }));
        }
        cluster_nodes.push(first..built.len());
    }
    (built, cluster_nodes, complete)
}

/// `image_common_in_cluster_new_on_node`: an application image running elsewhere in the cluster
/// comes to a node (the eighth with a full history) for the first time.
fn image_common_in_cluster_new_on_node(
    built: &mut [Built],
    cluster_nodes: &[std::ops::Range<usize>],
    complete: &[(u32, u32)],
    f: Frame,
) {
    let common_at = complete[7 % complete.len()];
    let common_node = cluster_nodes[common_at.0 as usize].start + common_at.1 as usize;
    let range = cluster_nodes[common_at.0 as usize].clone();
    let here: BTreeSet<&str> = built[common_node].sim.pod_list().map(|(image, _)| image).collect();
    let shell_free = |w: &Workload| !w.procs.iter().any(|p| SHELLS.contains(&p.exe.name));
    let elsewhere = |w: &Workload| -> usize {
        range
            .clone()
            .filter(|i| *i != common_node && built[*i].pods.iter().any(|p| p.workload.image == w.image))
            .count()
    };
    let candidates: Vec<(&'static Workload, usize)> = catalog::APPS
        .iter()
        .filter(|a| shell_free(a) && !here.contains(a.image))
        .map(|a| (a, elsewhere(a)))
        .collect();
    let choice = candidates
        .iter()
        .copied()
        .find(|(_, k)| *k > 0)
        .or(candidates.first().copied());
    if let Some((app, others)) = choice {
        let start = f.end - 40 * MINUTE;
        let b = &mut built[common_node];
        let boot = b.sim.slots[0].not_before;
        add_workload(&mut b.sim, app, boot, Some(start));
        let mut asks = vec![Ask::Image(app.image)];
        for p in app.procs {
            if !asks.iter().any(|a| matches!(a, Ask::Path(q) if *q == p.exe.path)) {
                asks.push(Ask::Path(p.exe.path));
            }
            if !asks.iter().any(|a| matches!(a, Ask::Name(q) if *q == p.exe.name)) {
                asks.push(Ask::Name(p.exe.name));
            }
        }
        let prevalence = if others > 0 {
            format!("runs on {others} other node(s) of the cluster all along")
        } else {
            "runs on no other node of the cluster (every image that does already runs here)".to_string()
        };
        b.asks.push((
            IMAGE_COMMON_IN_CLUSTER_NEW_ON_NODE,
            format!(
                "The {} Deployment ({}) {prevalence}; at {} the scheduler places a replica on this node for the first time: the image is new on this node (paths and names only where no other workload here runs them).",
                app.name,
                app.image,
                minutes_before_end(&f, start)
            ),
            asks,
        ));
    }
}

/// Topologies: the workloads that run all along on each cluster's full-history nodes
/// (`presents`), and who talks to whom among them.
#[allow(clippy::type_complexity)]
fn topologies(
    opts: &GenerateOptions,
    built: &[Built],
    cluster_nodes: &[std::ops::Range<usize>],
) -> (Vec<Vec<EdgeKey>>, Vec<Vec<&'static str>>) {
    let mut topologies: Vec<Vec<EdgeKey>> = Vec::new();
    let mut presents: Vec<Vec<&'static str>> = Vec::new();
    for (c, range) in cluster_nodes.iter().enumerate() {
        let names: BTreeSet<&str> = range
            .clone()
            .filter(|i| !built[*i].truth.joined_late)
            .flat_map(|i| built[i].pods.iter().map(|p| p.workload.name))
            .collect();
        let present: Vec<&'static str> = all_workloads().map(|w| w.name).filter(|n| names.contains(n)).collect();
        let mut rng = Rng::derive(opts.seed, &[TAG_TOPOLOGY, c as u64]);
        topologies.push(topology(&present, &mut rng));
        presents.push(present);
    }
    (topologies, presents)
}

/// A scenario edge: (scenario, cluster, edge, start, description).
type ScenarioEdge = (&'static str, usize, EdgeKey, u64, String);

/// The edge scenarios, in ground-truth order (`edge_known_in_other_cluster` needs two
/// clusters; it may take an edge away from the second cluster's topology).
fn scenario_edges(
    opts: &GenerateOptions,
    f: Frame,
    plans: &[ClusterPlan],
    topologies: &mut [Vec<EdgeKey>],
    presents: &[Vec<&'static str>],
) -> Vec<ScenarioEdge> {
    let mut scenario_edges: Vec<ScenarioEdge> = Vec::new();
    if opts.clusters >= 2 {
        edge_known_in_other_cluster(f, plans, topologies, presents, &mut scenario_edges);
    }
    new_tcp_edge_lateral(f, topologies, presents, &mut scenario_edges);
    new_udp_edge_statsd(opts, f, presents, &mut scenario_edges);
    scenario_edges
}

/// `edge_known_in_other_cluster`: a TCP edge of the first cluster appears in the second.
fn edge_known_in_other_cluster(
    f: Frame,
    plans: &[ClusterPlan],
    topologies: &mut [Vec<EdgeKey>],
    presents: &[Vec<&'static str>],
    scenario_edges: &mut Vec<ScenarioEdge>,
) {
    let (a, b) = (0usize, 1usize);
    let pick = |topo_b: &[EdgeKey]| {
        topologies[a].iter().copied().find(|e| {
            e.0 == Proto::Tcp && presents[b].contains(&e.1) && presents[b].contains(&e.2) && !topo_b.contains(e)
        })
    };
    let edge = match pick(&topologies[b]) {
        Some(e) => e,
        None => {
            // Every shared pair is an edge in both clusters: cluster B loses one.
            let shared = topologies[a]
                .iter()
                .copied()
                .filter(|e| e.0 == Proto::Tcp && topologies[b].contains(e))
                .min_by_key(|e| catalog::TELEMETRY.contains(&e.1))
                .expect("the telemetry pipeline is in every cluster");
            topologies[b].retain(|e| *e != shared);
            shared
        }
    };
    let start = f.end - 41 * MINUTE;
    scenario_edges.push((
        EDGE_KNOWN_IN_OTHER_CLUSTER,
        b,
        edge,
        start,
        format!(
            "{} talks TCP to {} in cluster {} all along; in cluster {} it never did until {}. New in this cluster (intent mode); --splunk-compat, whose baseline ignores the cluster, does not report it.",
            edge.1,
            edge.2,
            plans[a].name,
            plans[b].name,
            minutes_before_end(&f, start)
        ),
    ));
}

/// `new_tcp_edge_lateral`: in the first cluster, a web-tier workload opens TCP connections to
/// a data-tier one (no cluster has that edge).
fn new_tcp_edge_lateral(
    f: Frame,
    topologies: &[Vec<EdgeKey>],
    presents: &[Vec<&'static str>],
    scenario_edges: &mut Vec<ScenarioEdge>,
) {
    let known_anywhere = |e: &EdgeKey, extra: &[(&str, usize, EdgeKey, u64, String)]| {
        topologies.iter().any(|t| t.contains(e)) || extra.iter().any(|x| x.2 == *e)
    };
    let c = 0usize;
    let present = &presents[c];
    let fronts = ["web-frontend", "storefront", "cms", "api-gateway"];
    let backs = ["db", "cache", "queue", "search"];
    let mut candidates: Vec<EdgeKey> = Vec::new();
    for s in fronts {
        for d in backs {
            candidates.push((Proto::Tcp, workload(s).name, workload(d).name));
        }
    }
    for s in present {
        for d in present {
            candidates.push((Proto::Tcp, s, d));
        }
    }
    let edge = candidates
        .into_iter()
        .find(|e| {
            e.1 != e.2
                && present.contains(&e.1)
                && present.contains(&e.2)
                && !known_anywhere(e, scenario_edges.as_slice())
        })
        .expect("a cluster runs more workloads than it has edges among them");
    let start = f.end - 35 * MINUTE;
    scenario_edges.push((
        NEW_TCP_EDGE_LATERAL,
        c,
        edge,
        start,
        format!(
            "Lateral movement: {} ({}) suddenly opens TCP connections to {} ({}) at {}; the web tier never talks to the data tier directly, in no cluster.",
            edge.1,
            workload(edge.1).namespace,
            edge.2,
            workload(edge.2).namespace,
            minutes_before_end(&f, start)
        ),
    ));
}

/// `new_udp_edge_statsd`: a workload starts sending StatsD datagrams to the gateway.
fn new_udp_edge_statsd(
    opts: &GenerateOptions,
    f: Frame,
    presents: &[Vec<&'static str>],
    scenario_edges: &mut Vec<ScenarioEdge>,
) {
    let c = usize::from(opts.clusters > 1);
    let present = &presents[c];
    let gateway = catalog::SINGLETONS[0].name;
    let src = ["task-worker", "reports", "checkout", "orders"]
        .into_iter()
        .chain(catalog::APPS.iter().map(|a| a.name))
        .chain(catalog::DNS_CLIENTS)
        .find(|s| present.contains(s) && *s != gateway)
        .expect("the telemetry pipeline is in every cluster");
    let edge = (Proto::Udp, workload(src).name, gateway);
    let start = f.end - 27 * MINUTE;
    scenario_edges.push((
        NEW_UDP_EDGE_STATSD,
        c,
        edge,
        start,
        format!(
            "{} starts sending UDP datagrams (StatsD) to {} at {}; it only ever sent UDP to coredns (DNS) before.",
            edge.1,
            edge.2,
            minutes_before_end(&f, start)
        ),
    ));
}

/// The clusters' telemetry: each cluster's reducer with its topology's edges and the edge
/// scenarios placed in it.
fn cluster_sims(
    opts: &GenerateOptions,
    f: Frame,
    plans: &[ClusterPlan],
    topologies: &[Vec<EdgeKey>],
    scenario_edges: &[ScenarioEdge],
    timing: &[(u64, u64, u64)],
) -> Vec<ClusterSim> {
    let mut clusters = Vec::new();
    for (c, plan) in plans.iter().enumerate() {
        let mut rng = Rng::derive(opts.seed, &[TAG_REDUCER, c as u64]);
        let mut edges: Vec<Edge> = topologies[c]
            .iter()
            .map(|(p, s, d)| Edge::new(*p, endpoint(workload(s)), endpoint(workload(d)), f.start, &mut rng))
            .collect();
        for (_, sc, (p, s, d), start, _) in scenario_edges {
            if *sc == c {
                edges.push(Edge::new(
                    *p,
                    endpoint(workload(s)),
                    endpoint(workload(d)),
                    *start,
                    &mut rng,
                ));
            }
        }
        let (_, reducer_first, receiver_start) = timing[c];
        clusters.push(ClusterSim::new(
            plan.name.clone(),
            receiver_start,
            reducer_first,
            f.interval,
            f.end - NS,
            edges,
            rng,
        ));
    }
    clusters
}

/// The labels: each node's questions answered from the population (`is_new`), the edge
/// scenarios' entries, and the shells whose pids the run decides.
fn label(
    opts: &GenerateOptions,
    f: Frame,
    built: &mut [Built],
    plans: &[ClusterPlan],
    topologies: &[Vec<EdgeKey>],
    scenario_edges: &[ScenarioEdge],
    window_end: &str,
) -> (Vec<Scenario>, Vec<ShellPlan>) {
    let w = f.windows();
    let mut entries = Vec::new();
    let mut shells = Vec::new();
    for b in built.iter_mut() {
        let complete = Some(b.complete);
        for (name, description, asks) in &b.asks {
            for ask in asks {
                let (detection, value) = match ask {
                    Ask::Path(p) => (PROCESS_NEW_PATH, *p),
                    Ask::Name(n) => (UNSEEN_PROCESS, *n),
                    Ask::Image(i) => (UNSEEN_CONTAINER_IMAGE, *i),
                    Ask::Stat {
                        detection,
                        name: n,
                        expect,
                    } => {
                        entries.push(entry(
                            name,
                            description,
                            detection,
                            vec![b.sim.cluster().to_string(), b.sim.node().to_string(), n.to_string()],
                            window_end,
                            *expect,
                            None,
                        ));
                        continue;
                    }
                };
                entries.push(entry(
                    name,
                    description,
                    detection,
                    vec![b.sim.cluster().to_string(), b.sim.node().to_string(), value.to_string()],
                    window_end,
                    is_new(&b.sim, ask, &w),
                    complete,
                ));
            }
        }
        shells.append(&mut b.shells);
    }
    for (name, c, (p, s, d), _, description) in scenario_edges {
        let detection = match p {
            Proto::Tcp => NEW_TCP_EDGE,
            Proto::Udp => NEW_UDP_EDGE,
        };
        entries.push(entry(
            name,
            description,
            detection,
            vec![plans[*c].name.clone(), s.to_string(), d.to_string()],
            window_end,
            !topologies[*c].contains(&(*p, *s, *d)),
            Some(opts.days >= 30),
        ));
    }
    (entries, shells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_bump_their_last_number() {
        assert_eq!(bumped_tag("nginx", "1.27.3", 0), "1.27.4");
        assert_eq!(bumped_tag("x", "v1.30.9", 0), "v1.30.10");
        assert_eq!(bumped_tag("x", "6.7.1-php8.3-fpm", 0), "6.7.1-php8.4-fpm");
        assert_eq!(bumped_tag("x", "latest", 0), "latest-1");
        assert!(bumped_tag("x", BUILD_TAG, 20 * 365 * DAY).ends_with("-hotfix"));
    }

    #[test]
    fn periodic_runs_cover_the_range() {
        let hourly = Life::Hourly {
            at_ns: 17 * MINUTE,
            dur_ns: 2 * MINUTE,
        };
        let r = runs(&hourly, 0, 10 * DAY, 10 * DAY + 3 * HOUR);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], (10 * DAY + 17 * MINUTE, 10 * DAY + 19 * MINUTE));
        let w = Life::Windows(vec![(5, 10), (20, 30)]);
        assert_eq!(runs(&w, 6, 0, 100), vec![(20, 30)]);
    }
}
