//! The ground truth: what each detection must report at `end` (intent mode), as labelled
//! [`Scenario`] entries, and an independent [`Oracle`] that computes the same from the points as
//! they are emitted — plain hash maps, no Polars.
//!
//! Windows (on a point's time): current `[end − 1h, end)`, baseline `[end − 30d, end − 1h)`.
//! - New-value detections report every key seen in the window and not in the baseline:
//!   `process_new_path` (cluster, node, path) and `unseen_process` (cluster, node, name) — any
//!   `process.*` point; `unseen_container_image` (cluster, node, image name) — any
//!   `k8s.container.ready` point; `new_tcp_edge` / `new_udp_edge` (cluster, source workload,
//!   destination workload) — any `tcp.packets` / `udp.packets` point. The baseline is complete
//!   when the entity (the node; for edges the cluster) has a baseline point in the baseline's
//!   first hour.
//! - Shell rules report (cluster, node, pid, name) for names sh, bash, csh, tcsh that are active
//!   in the window: `shell_on_worker_node` — a `process.memory.usage` or
//!   `process.memory.utilization` point > 0, or CPU-active; `shell_on_worker_node_cpu` —
//!   CPU-active: a `process.cpu.utilization` point > 0, or a `process.cpu.time` point above the
//!   previous point of its series when that one is at most 5 minutes before the window start,
//!   or (no such previous point) a positive one whose start time is at most 5 minutes before
//!   the window start or later.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};

use crate::ingest::model::{AttrValue, Origin};

use super::encode::PointRef;
use super::model::{entry, Scenario, Windows, HOUR, MINUTE};
use super::names::*;
use super::population::Labels;
use super::sim::{NodeSim, SHELLS};

/// How many leading key columns name the entity whose baseline coverage counts (new-value
/// detections only): the node, or for edges the cluster.
fn entity_len(detection: &str) -> Option<usize> {
    match detection {
        PROCESS_NEW_PATH | UNSEEN_PROCESS | UNSEEN_CONTAINER_IMAGE => Some(2),
        NEW_TCP_EDGE | NEW_UDP_EDGE => Some(1),
        _ => None,
    }
}

/// An entry's key values in [`key_columns`] order.
pub fn key_values(s: &Scenario) -> Vec<String> {
    key_columns(&s.detection)
        .iter()
        .map(|c| s.key.get(*c).cloned().unwrap_or_default())
        .collect()
}

/// How the findings of the detections that ran compare with the ground truth.
#[derive(Debug)]
pub struct Comparison<'a> {
    /// Each expectation of a detection that ran, in ground-truth order, and whether the
    /// findings agree with it (a finding for its key exactly when one is expected).
    pub checked: Vec<(&'a Scenario, bool)>,
    /// Expectations of detections that did not run (not checked).
    pub not_run: usize,
    /// Findings (detection, row) that no expectation accounts for.
    pub unexpected: Vec<(&'a str, &'a serde_json::Value)>,
}

impl Comparison<'_> {
    /// Expectations the findings disagree with.
    pub fn missed(&self) -> usize {
        self.checked.iter().filter(|(_, ok)| !ok).count()
    }
}

/// Compares `found` — findings as (detection, JSON row), from the detections `ran` — with the
/// ground truth `truth`. Key columns compare as text (a pid may be an integer in the findings).
pub fn compare<'a>(
    truth: &'a [Scenario],
    found: &[(&'a str, &'a serde_json::Value)],
    ran: &BTreeSet<&str>,
) -> Comparison<'a> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let matches = |sc: &Scenario, detection: &str, f: &serde_json::Value| {
        sc.detection == detection && sc.key.iter().all(|(col, v)| text(&f[col.as_str()]) == *v)
    };
    let mut checked = Vec::new();
    let mut not_run = 0;
    for sc in truth {
        if !ran.contains(sc.detection.as_str()) {
            not_run += 1;
            continue;
        }
        let hit = found.iter().any(|(d, f)| matches(sc, d, f));
        checked.push((sc, hit == sc.expect_finding));
    }
    let unexpected = found
        .iter()
        .filter(|(d, f)| !truth.iter().any(|sc| matches(sc, d, f)))
        .copied()
        .collect();
    Comparison {
        checked,
        not_run,
        unexpected,
    }
}

/// The final entries: the planned ones, the planted shells with the pids the run gave them
/// (checked against their design: CPU activity or none), and every other shell-named process
/// seen in the window (`benign_shell_workload`), in [`SCENARIOS`] order.
pub(crate) fn resolve(labels: Labels, nodes: &[NodeSim]) -> Result<Vec<Scenario>, String> {
    let mut entries = labels.entries;
    let end = labels.window_end.as_str();
    let shell_entries =
        |out: &mut Vec<Scenario>, name: &str, description: &str, node: &NodeSim, pid: i64, slot: usize, cpu: bool| {
            let values = vec![
                node.cluster().to_string(),
                node.node().to_string(),
                pid.to_string(),
                node.slots[slot].exe.name.to_string(),
            ];
            out.push(entry(
                name,
                description,
                SHELL_ON_WORKER_NODE,
                values.clone(),
                end,
                true,
                None,
            ));
            out.push(entry(
                name,
                description,
                SHELL_ON_WORKER_NODE_CPU,
                values,
                end,
                cpu,
                None,
            ));
        };
    let planted: HashSet<(usize, usize)> = labels.shells.iter().map(|s| (s.node, s.slot)).collect();
    for plan in &labels.shells {
        let node = &nodes[plan.node];
        let seen: Vec<_> = node
            .shells
            .iter()
            .filter(|r| r.slot == plan.slot && r.in_window)
            .collect();
        if seen.is_empty() {
            return Err(format!("{}: the shell was never observed in the window", plan.scenario));
        }
        for r in seen {
            if r.cpu_active != plan.cpu {
                return Err(format!(
                    "{}: pid {} is {}CPU-active in the window, the scenario says otherwise",
                    plan.scenario,
                    r.pid,
                    if r.cpu_active { "" } else { "not " }
                ));
            }
            shell_entries(
                &mut entries,
                plan.scenario,
                &plan.description,
                node,
                r.pid,
                plan.slot,
                plan.cpu,
            );
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        for r in node
            .shells
            .iter()
            .filter(|r| r.in_window && !planted.contains(&(i, r.slot)))
        {
            let slot = &node.slots[r.slot];
            let owner = slot
                .pod
                .map(|p| {
                    format!(
                        "the {} workload (namespace {})",
                        node.pod_workload(p),
                        node.pod_namespace(p)
                    )
                })
                .unwrap_or_else(|| "the host".to_string());
            let description = format!(
                "Known noise of the shell rules: {} ({}, pid {}) of {} runs all the time; any live shell has memory, so shell_on_worker_node reports it every hour, and shell_on_worker_node_cpu whenever its CPU time moved in the window ({} this time). An allowlist suppresses it.",
                slot.exe.name,
                slot.exe.path,
                r.pid,
                owner,
                if r.cpu_active { "it did" } else { "it did not" }
            );
            shell_entries(
                &mut entries,
                BENIGN_SHELL_WORKLOAD,
                &description,
                node,
                r.pid,
                r.slot,
                r.cpu_active,
            );
        }
    }
    let order = |s: &Scenario| SCENARIOS.iter().position(|n| *n == s.name).unwrap_or(SCENARIOS.len());
    entries.sort_by_key(order);
    Ok(entries)
}

/// Labels what the statistical detections report that no scenario planted, as
/// `statistical_noise`: quiet processes whose counters move in rare whole steps (an idle
/// daemon's CPU tick, a page written now and then) have a baseline σ so small that one step
/// is "4σ", and a window with six such steps is a finding — the known noise of a z-score on
/// sparse counters, which the allowlist suppresses. Keys an entry already covers (planted
/// scenarios, negative controls included) are left to `Verdict::check`.
pub(crate) fn label_statistical_noise(entries: &mut Vec<Scenario>, verdict: &Verdict) {
    let end = entries.first().map(|e| e.window_end.clone()).unwrap_or_default();
    for d in [PROCESS_RESOURCE_ANOMALY, PROCESS_RESOURCE_RATIO_ANOMALY] {
        for key in verdict.found.get(d).into_iter().flatten() {
            if entries.iter().any(|e| e.detection == d && key_values(e) == *key) {
                continue;
            }
            entries.push(entry(
                STATISTICAL_NOISE,
                &format!(
                    "Not planted: {} on {} has a value above its baseline average + 4σ in more than 5 buckets of the window. Quiet processes whose counters move in rare whole steps (an idle CPU tick, a page written now and then) have a tiny σ, so one step is \"4σ\": the known noise of a z-score on sparse counters; an allowlist suppresses it.",
                    key[2], key[1]
                ),
                d,
                key.clone(),
                &end,
                true,
                None,
            ));
        }
    }
    let order = |s: &Scenario| SCENARIOS.iter().position(|n| *n == s.name).unwrap_or(SCENARIOS.len());
    entries.sort_by_key(order);
}

const IN_WINDOW: u8 = 1;
const IN_BASELINE: u8 = 2;

fn level<'m, V: Default>(m: &'m mut HashMap<String, V>, k: &str) -> &'m mut V {
    if !m.contains_key(k) {
        m.insert(k.to_string(), V::default());
    }
    m.get_mut(k).expect("inserted above")
}

/// Three-part keys with the windows they were seen in (looked up without allocating).
#[derive(Default)]
struct Keys3(HashMap<String, HashMap<String, HashMap<String, u8>>>);

impl Keys3 {
    fn mark(&mut self, a: &str, b: &str, c: &str, bit: u8) {
        *level(level(level(&mut self.0, a), b), c) |= bit;
    }

    fn new_keys(&self) -> BTreeSet<Vec<String>> {
        let mut out = BTreeSet::new();
        for (a, m) in &self.0 {
            for (b, m) in m {
                for (c, bits) in m {
                    if bits & IN_WINDOW != 0 && bits & IN_BASELINE == 0 {
                        out.insert(vec![a.clone(), b.clone(), c.clone()]);
                    }
                }
            }
        }
        out
    }
}

/// A shell's key: cluster, node, pid (as text), name.
type ShellKey = [String; 4];

/// A `process.cpu.time` point: time, value, start time.
type CpuPoint = (u64, f64, u64);

#[derive(Default, Clone, Copy)]
struct ShellState {
    memory: bool,
    cpu: bool,
}

/// What the oracle remembers of a resource it has seen.
struct Seen {
    /// Keeps the allocation, so the address is not reused while the entry exists.
    _alive: Weak<Origin>,
    done: u8,
    shell: Option<Arc<(ShellKey, String)>>,
}

fn text_attr<'a>(origin: &'a Origin, key: &str) -> &'a str {
    origin
        .resource
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            AttrValue::Str(s) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn min_at(m: &mut HashMap<Vec<String>, u64>, key: Vec<String>, t: u64) {
    let e = m.entry(key).or_insert(u64::MAX);
    *e = (*e).min(t);
}

/// The seven detections, computed the plain way from every emitted point.
pub(crate) struct Oracle {
    w: Windows,
    paths: Keys3,
    names: Keys3,
    images: Keys3,
    tcp: Keys3,
    udp: Keys3,
    /// Entity → earliest baseline point, per new-value detection.
    first: HashMap<&'static str, HashMap<Vec<String>, u64>>,
    seen: HashMap<usize, Seen>,
    /// The resource of the previous point and what is done for it (points come grouped by
    /// resource): spares a map lookup per point.
    last: Option<(usize, u8, bool)>,
    shells: HashMap<ShellKey, ShellState>,
    /// `process.cpu.time` points of shells from 5 minutes before the window on, per series:
    /// (time, value, start time).
    cpu_series: HashMap<String, (ShellKey, Vec<CpuPoint>)>,
    /// The statistical detections (see `truth_stat`).
    stat: super::truth_stat::StatOracle,
}

/// What the oracle found: the keys each detection reports, and the baseline coverage.
pub(crate) struct Verdict {
    pub found: BTreeMap<&'static str, BTreeSet<Vec<String>>>,
    first: HashMap<&'static str, HashMap<Vec<String>, u64>>,
    baseline_start: u64,
}

impl Oracle {
    pub(crate) fn new(w: Windows) -> Oracle {
        Oracle {
            w,
            paths: Keys3::default(),
            names: Keys3::default(),
            images: Keys3::default(),
            tcp: Keys3::default(),
            udp: Keys3::default(),
            first: HashMap::new(),
            seen: HashMap::new(),
            last: None,
            shells: HashMap::new(),
            cpu_series: HashMap::new(),
            stat: super::truth_stat::StatOracle::new(super::truth_stat::Bounds {
                baseline_start: w.baseline_start,
                window_start: w.window_start,
                end: w.end,
            }),
        }
    }

    fn class(&self, t: u64) -> u8 {
        if t >= self.w.window_start && t < self.w.end {
            IN_WINDOW
        } else if t >= self.w.baseline_start && t < self.w.window_start {
            IN_BASELINE
        } else {
            0
        }
    }

    pub(crate) fn point(&mut self, p: &PointRef<'_>) {
        let t = p.time_unix_nano;
        let class = self.class(t);
        let metric = p.metric.name.as_str();
        if metric.starts_with("process.") {
            self.stat.point(p);
        }
        if metric.starts_with("process.") || metric == "k8s.container.ready" {
            let id = Arc::as_ptr(p.origin) as usize;
            if let Some((last, done, false)) = self.last {
                if last == id && (class == 0 || done & class != 0) {
                    return;
                }
            }
            let origin: &Origin = p.origin;
            let entry = self.seen.entry(id).or_insert_with(|| {
                let name = text_attr(origin, "process.executable.name");
                let shell = (metric.starts_with("process.") && SHELLS.contains(&name)).then(|| {
                    let pid = origin
                        .resource
                        .iter()
                        .find(|(k, _)| k == "process.pid")
                        .map(|(_, v)| match v {
                            AttrValue::Int(i) => i.to_string(),
                            AttrValue::Str(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    let key = [
                        text_attr(origin, "k8s.cluster.name").to_string(),
                        text_attr(origin, "k8s.node.name").to_string(),
                        pid,
                        name.to_string(),
                    ];
                    Arc::new((key, format!("{:?}", origin.resource)))
                });
                Seen {
                    _alive: Arc::downgrade(p.origin),
                    done: 0,
                    shell,
                }
            });
            let shell = entry.shell.clone();
            let newly = class != 0 && entry.done & class == 0;
            entry.done |= class;
            self.last = Some((id, entry.done, shell.is_some()));
            if newly {
                let cluster = text_attr(origin, "k8s.cluster.name");
                let node = text_attr(origin, "k8s.node.name");
                if metric == "k8s.container.ready" {
                    self.images
                        .mark(cluster, node, text_attr(origin, "container.image.name"), class);
                    if class == IN_BASELINE {
                        let first = self.first.entry(UNSEEN_CONTAINER_IMAGE).or_default();
                        min_at(first, vec![cluster.to_string(), node.to_string()], t);
                    }
                } else {
                    self.paths
                        .mark(cluster, node, text_attr(origin, "process.executable.path"), class);
                    self.names
                        .mark(cluster, node, text_attr(origin, "process.executable.name"), class);
                    if class == IN_BASELINE {
                        for d in [PROCESS_NEW_PATH, UNSEEN_PROCESS] {
                            let first = self.first.entry(d).or_default();
                            min_at(first, vec![cluster.to_string(), node.to_string()], t);
                        }
                    }
                }
            }
            if let Some(shell) = shell {
                self.shell_point(p, &shell.0, &shell.1);
            }
        } else if metric == "tcp.packets" || metric == "udp.packets" {
            if class == 0 {
                return;
            }
            let (keys, detection) = if metric == "tcp.packets" {
                (&mut self.tcp, NEW_TCP_EDGE)
            } else {
                (&mut self.udp, NEW_UDP_EDGE)
            };
            let cluster = p.resource("k8s.cluster.name").unwrap_or("");
            let source = p.attr("source.workload.name").unwrap_or("");
            let dest = p.attr("dest.workload.name").unwrap_or("");
            keys.mark(cluster, source, dest, class);
            if class == IN_BASELINE {
                min_at(self.first.entry(detection).or_default(), vec![cluster.to_string()], t);
            }
        }
    }

    fn shell_point(&mut self, p: &PointRef<'_>, key: &ShellKey, resource: &str) {
        let t = p.time_unix_nano;
        let ws = self.w.window_start;
        if t < ws.saturating_sub(5 * MINUTE) || t >= self.w.end {
            return;
        }
        let in_window = t >= ws;
        match p.metric.name.as_str() {
            "process.memory.usage" | "process.memory.utilization" if in_window && p.value > 0.0 => {
                self.shells.entry(key.clone()).or_default().memory = true;
            }
            "process.cpu.utilization" if in_window && p.value > 0.0 => {
                self.shells.entry(key.clone()).or_default().cpu = true;
            }
            "process.cpu.time" => {
                let series = format!("{resource}\u{1}{}", p.attr("state").unwrap_or(""));
                self.cpu_series
                    .entry(series)
                    .or_insert_with(|| (key.clone(), Vec::new()))
                    .1
                    .push((t, p.value, p.start_time_unix_nano));
            }
            _ => {}
        }
    }

    pub(crate) fn finish(mut self) -> Verdict {
        let ws = self.w.window_start;
        let since = ws.saturating_sub(5 * MINUTE);
        for (_, (key, mut points)) in std::mem::take(&mut self.cpu_series) {
            points.sort_by_key(|p| p.0);
            // Only points from `since` on were kept: a point's previous one counts only if kept.
            let active = points.iter().enumerate().any(|(i, (t, v, start))| {
                *t >= ws
                    && match i.checked_sub(1).map(|j| points[j]) {
                        Some((_, before, _)) => *v > before,
                        None => *v > 0.0 && *start >= since,
                    }
            });
            if active {
                self.shells.entry(key).or_default().cpu = true;
            }
        }
        let mut found: BTreeMap<&'static str, BTreeSet<Vec<String>>> = BTreeMap::new();
        found.insert(PROCESS_NEW_PATH, self.paths.new_keys());
        found.insert(UNSEEN_PROCESS, self.names.new_keys());
        found.insert(UNSEEN_CONTAINER_IMAGE, self.images.new_keys());
        found.insert(NEW_TCP_EDGE, self.tcp.new_keys());
        found.insert(NEW_UDP_EDGE, self.udp.new_keys());
        let shells = |cpu_only: bool| -> BTreeSet<Vec<String>> {
            self.shells
                .iter()
                .filter(|(_, s)| s.cpu || (!cpu_only && s.memory))
                .map(|(k, _)| k.to_vec())
                .collect()
        };
        found.insert(SHELL_ON_WORKER_NODE, shells(false));
        found.insert(SHELL_ON_WORKER_NODE_CPU, shells(true));
        for (d, keys) in std::mem::take(&mut self.stat).finish() {
            found.insert(d, keys);
        }
        Verdict {
            found,
            first: self.first,
            baseline_start: self.w.baseline_start,
        }
    }
}

impl Verdict {
    /// Whether the entity of a new-value key had a baseline point in the baseline's first hour.
    pub(crate) fn baseline_complete(&self, detection: &str, key: &[String]) -> Option<bool> {
        let n = entity_len(detection)?;
        let first = self.first.get(detection).and_then(|m| m.get(&key[..n.min(key.len())]));
        Some(first.is_some_and(|t| *t < self.baseline_start + HOUR))
    }

    /// Every key the oracle found is labelled `expect_finding = true` and the other way round;
    /// new-value entries expect the baseline coverage the oracle sees.
    pub(crate) fn check(&self, entries: &[Scenario]) -> Result<(), String> {
        let mut problems = Vec::new();
        for d in DETECTIONS {
            let labelled: BTreeSet<Vec<String>> = entries
                .iter()
                .filter(|s| s.detection == d && s.expect_finding)
                .map(key_values)
                .collect();
            let found = self.found.get(d).cloned().unwrap_or_default();
            let missing: Vec<_> = labelled.difference(&found).collect();
            let extra: Vec<_> = found.difference(&labelled).collect();
            if !missing.is_empty() {
                problems.push(format!("{d}: labelled but not reported {missing:?}"));
            }
            if !extra.is_empty() {
                problems.push(format!("{d}: reported but not labelled {extra:?}"));
            }
        }
        for s in entries.iter().filter(|s| s.expect_finding) {
            let actual = self.baseline_complete(&s.detection, &key_values(s));
            if actual != s.expect_baseline_complete {
                problems.push(format!(
                    "{} ({}): baseline_complete is {actual:?}, the entry says {:?}",
                    s.name, s.detection, s.expect_baseline_complete
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}
