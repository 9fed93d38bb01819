//! The population: clusters, nodes and what runs on them, with the scenarios injected.

use super::catalog::{self, Exe, Schedule, Workload};
use super::rng::Rng;
use super::sim::{Life, NodeSim, NodeSpec, Parent, Want, DAY, HOUR, MINUTE, NEVER, NS, SAFE};
use super::{GenerateOptions, NodeTruth, Scenario, DETECTION};
use crate::config::fmt_instant;

use super::output::utc;

const TAG_CLUSTER: u64 = 1;
const TAG_NODE: u64 = 2;
const TAG_NODE_SIM: u64 = 3;

/// Scenario names, in ground-truth order.
pub const MINER_IN_TMP: &str = "miner_in_tmp";
pub const SHELL_IN_DEV_SHM: &str = "shell_in_dev_shm";
pub const KNOWN_BINARY_UNUSUAL_PATH: &str = "known_binary_unusual_path";
pub const RETURNS_AFTER_30_DAYS: &str = "returns_after_30_days";
pub const COMMON_IN_CLUSTER_NEW_ON_NODE: &str = "common_in_cluster_new_on_node";
pub const NEW_PID_KNOWN_PATH: &str = "new_pid_known_path";
pub const NEW_PATH_ON_LATE_NODE: &str = "new_path_on_late_node";

/// Scenarios placed on nodes with a complete history, in order (the late-node one comes last).
const ROLES: [&str; 6] = [
    MINER_IN_TMP,
    SHELL_IN_DEV_SHM,
    KNOWN_BINARY_UNUSUAL_PATH,
    RETURNS_AFTER_30_DAYS,
    COMMON_IN_CLUSTER_NEW_ON_NODE,
    NEW_PID_KNOWN_PATH,
];

pub(crate) struct Population {
    pub nodes: Vec<NodeSim>,
    pub scenarios: Vec<Scenario>,
    pub node_truth: Vec<NodeTruth>,
}

/// Data-time frame of a run, in ns since the epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub start: u64,
    pub end: u64,
    pub interval: u64,
    pub days: u32,
}

impl Frame {
    /// When a node that joins part-way joins: two days before the end (less for short runs,
    /// but always more than a day and an hour, so its daily jobs are already in its baseline).
    pub(crate) fn late_join(&self) -> u64 {
        self.end - (2 * DAY).min(u64::from(self.days) * 18 * HOUR)
    }

    /// A scenario run of nominal length `nominal`, at least one interval and a minute, so at
    /// least one scrape sees it.
    fn len(&self, nominal: u64) -> u64 {
        nominal.max(self.interval + MINUTE)
    }
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

struct Built {
    sim: NodeSim,
    scenarios: Vec<Scenario>,
    truth: NodeTruth,
}

struct NodeCtx<'a> {
    opts: &'a GenerateOptions,
    frame: Frame,
    want: Want,
    cluster: &'a ClusterPlan,
    c: u32,
    n: u32,
    late: bool,
    roles: Vec<&'static str>,
    /// The node that `common_in_cluster_new_on_node` holds node-exporter back from, if in this cluster.
    held_back: bool,
    late_scenario: bool,
    cluster_nodes: u32,
}

fn minutes_before_end(f: &Frame, t: u64) -> String {
    format!("{} ({} min before the end)", fmt_instant(utc(t)), (f.end - t) / MINUTE)
}

fn build_node(x: NodeCtx<'_>) -> Built {
    let f = x.frame;
    let seed = x.opts.seed;
    let (c, n) = (u64::from(x.c), u64::from(x.n));
    let mut rng = Rng::derive(seed, &[TAG_NODE, c, n]);
    let (node, ip) = x.cluster.nodes[x.n as usize].clone();
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
        node: node.clone(),
        ip,
        cores,
        mem_bytes: u64::from(cores) * (4 << 30),
        first_scrape,
        interval: f.interval,
        cutoff: f.end - NS,
        collector_since: since,
        fork_rate: rng.uniform(0.05, 0.5),
        want: x.want,
    };
    let mut sim = NodeSim::new(spec, Rng::derive(seed, &[TAG_NODE_SIM, c, n]), boot);

    // Host: systemd, daemons, scheduled jobs.
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

    // Cluster add-ons.
    let mut t = boot + 30 * NS;
    let mut kube_proxy = None;
    for w in &catalog::ADDONS {
        let (_, slots) = add_workload(&mut sim, w, t, None);
        kube_proxy = kube_proxy.or(slots.first().copied());
        t += 5 * NS;
    }
    let exporter_start = f.end - 38 * MINUTE;
    add_workload(
        &mut sim,
        &catalog::NODE_EXPORTER,
        t,
        x.held_back.then_some(exporter_start),
    );
    if x.n < 2 && !x.late {
        add_workload(&mut sim, &catalog::COREDNS, t + 2 * NS, None);
    }

    // Applications: the log shipper DaemonSet, then Deployments from the cluster's pool.
    let mut remaining = x.opts.processes as usize;
    let mut t = boot + 60 * NS;
    // (slot of the pod's last process, its pod)
    let mut apps: Vec<(usize, usize)> = Vec::new();
    let mut shipper = None;
    if remaining > 0 {
        let (pod, slots) = add_workload(&mut sim, &catalog::LOG_SHIPPER, t, None);
        shipper = slots.last().map(|s| (*s, pod));
        remaining -= slots.len();
    }
    while remaining > 0 {
        t += 3 * NS + rng.range(0, 2000) * 1_000_000;
        let fits: Vec<&(usize, f64)> = x
            .cluster
            .apps
            .iter()
            .filter(|(i, _)| catalog::APPS[*i].procs.len() <= remaining)
            .collect();
        let Some(&(i, _)) = pick(&mut rng, &fits) else { break };
        let w = &catalog::APPS[i];
        let (pod, slots) = add_workload(&mut sim, w, t, None);
        if let Some(last) = slots.last() {
            apps.push((*last, pod));
        }
        remaining -= slots.len();
    }

    // Scenarios.
    let complete = !x.late && x.opts.days >= 30;
    let mut scenarios = Vec::new();
    let kube_proxy = kube_proxy.unwrap_or(systemd);
    let host = node.clone();
    let scenario = |name: &str, description: String, path: &str, expect_finding: bool| Scenario {
        name: name.to_string(),
        description,
        detection: DETECTION.to_string(),
        k8s_cluster_name: x.cluster.name.clone(),
        k8s_node_name: host.clone(),
        process_executable_path: path.to_string(),
        window_end: fmt_instant(utc(f.end)),
        expect_finding,
        expect_baseline_complete: complete,
    };
    // Victims: application processes (else the log shipper, else kube-proxy).
    let victim = |k: usize| -> (usize, Option<usize>) {
        apps.get(k)
            .or(apps.first())
            .map(|(s, p)| (*s, Some(*p)))
            .or(shipper.map(|(s, p)| (s, Some(p))))
            .unwrap_or((kube_proxy, None))
    };
    for role in &x.roles {
        match *role {
            MINER_IN_TMP => {
                let (parent, pod) = victim(0);
                let start = f.end - 47 * MINUTE;
                let pexe = sim.slots[parent].exe;
                let exe = Exe {
                    owner: pexe.owner,
                    ..catalog::XMRIG
                };
                sim.add_slot(
                    exe,
                    pod,
                    Parent::Slot(parent),
                    Life::Windows(vec![(start, NEVER)]),
                    boot,
                );
                let within = pod
                    .map(|p| {
                        format!(
                            " inside a {} pod (namespace {})",
                            sim.pod_workload(p),
                            sim.pod_namespace(p)
                        )
                    })
                    .unwrap_or_default();
                scenarios.push(scenario(
                    MINER_IN_TMP,
                    format!(
                        "A cryptominer dropped in a hidden folder under /tmp, started by {} ({}){within} at {} and running until the end, using most of the node's CPU. The path never ran anywhere before.",
                        pexe.name,
                        pexe.path,
                        minutes_before_end(&f, start)
                    ),
                    exe.path,
                    true,
                ));
            }
            SHELL_IN_DEV_SHM => {
                let (parent, pod) = victim(1);
                let start = f.end - 33 * MINUTE;
                let end = start + f.len(12 * MINUTE);
                let pexe = sim.slots[parent].exe;
                let exe = Exe {
                    owner: pexe.owner,
                    ..catalog::DEV_SHM_SH
                };
                sim.add_slot(exe, pod, Parent::Slot(parent), Life::Windows(vec![(start, end)]), boot);
                let within = pod
                    .map(|p| {
                        format!(
                            " inside a {} pod (namespace {})",
                            sim.pod_workload(p),
                            sim.pod_namespace(p)
                        )
                    })
                    .unwrap_or_default();
                scenarios.push(scenario(
                    SHELL_IN_DEV_SHM,
                    format!(
                        "A shell copied to the tmpfs /dev/shm and run interactively by {}{within} from {} for {} minutes. /dev/shm/sh never ran before.",
                        pexe.name,
                        minutes_before_end(&f, start),
                        (end - start) / MINUTE
                    ),
                    exe.path,
                    true,
                ));
            }
            KNOWN_BINARY_UNUSUAL_PATH => {
                let start = f.end - 21 * MINUTE;
                sim.add_slot(
                    catalog::TMP_PYTHON,
                    None,
                    Parent::Init,
                    Life::Windows(vec![(start, NEVER)]),
                    boot,
                );
                scenarios.push(scenario(
                    KNOWN_BINARY_UNUSUAL_PATH,
                    format!(
                        "A copy of python3 in /var/tmp runs a reverse shell on the host (reparented to init) from {}. The executable name is common (python3 runs from /usr/bin or /usr/local/bin in many containers); the path is not.",
                        minutes_before_end(&f, start)
                    ),
                    catalog::TMP_PYTHON.path,
                    true,
                ));
            }
            RETURNS_AFTER_30_DAYS => {
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
                sim.add_slot(catalog::TCPDUMP, None, Parent::Init, Life::Windows(windows), boot);
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
                scenarios.push(scenario(
                    RETURNS_AFTER_30_DAYS,
                    format!(
                        "tcpdump {before} runs again from {} for {} minutes: new within the baseline window.",
                        minutes_before_end(&f, start),
                        f.len(10 * MINUTE) / MINUTE
                    ),
                    catalog::TCPDUMP.path,
                    true,
                ));
            }
            COMMON_IN_CLUSTER_NEW_ON_NODE => {
                scenarios.push(scenario(
                    COMMON_IN_CLUSTER_NEW_ON_NODE,
                    format!(
                        "The node-exporter DaemonSet ran on every other node of the cluster ({} others) all along, but its pod was kept off this node (a taint) until {}: new on this node, with cluster prevalence > 0.",
                        x.cluster_nodes - 1,
                        minutes_before_end(&f, exporter_start)
                    ),
                    catalog::NODE_EXPORTER.procs[0].exe.path,
                    true,
                ));
            }
            NEW_PID_KNOWN_PATH => {
                let (slot, _) = victim(0);
                let slot = if slot == kube_proxy {
                    daemons[catalog::CONTAINERD]
                } else {
                    slot
                };
                let at = f.end - 29 * MINUTE;
                sim.force_restart(slot, at);
                let exe = sim.slots[slot].exe;
                scenarios.push(scenario(
                    NEW_PID_KNOWN_PATH,
                    format!(
                        "Negative control: {} ({}) restarts at {} with a new pid; the path ran on this node all along, so it is not new (only --splunk-compat, whose key includes the pid, reports it when process.memory.utilization is emitted).",
                        exe.name,
                        exe.path,
                        minutes_before_end(&f, at)
                    ),
                    exe.path,
                    false,
                ));
            }
            _ => {}
        }
    }
    if x.late_scenario {
        let start = f.end - (15 * MINUTE).max(f.interval + MINUTE);
        sim.add_slot(
            catalog::CRICTL,
            None,
            Parent::Init,
            Life::Windows(vec![(start, NEVER)]),
            boot,
        );
        scenarios.push(scenario(
            NEW_PATH_ON_LATE_NODE,
            format!(
                "This node joined the cluster at {} and has less than 30 days of history. An operator follows container logs with crictl from {}: a new path, reported with baseline_complete = false.",
                fmt_instant(utc(first_scrape)),
                minutes_before_end(&f, start)
            ),
            catalog::CRICTL.path,
            true,
        ));
    }
    let truth = NodeTruth {
        k8s_cluster_name: x.cluster.name.clone(),
        k8s_node_name: node.clone(),
        host_name: node,
        first_scrape: fmt_instant(utc(first_scrape)),
        joined_late: x.late,
        expect_baseline_complete: complete,
    };
    Built { sim, scenarios, truth }
}

/// Builds every node of every cluster, with the scenarios placed.
pub(crate) fn build(opts: &GenerateOptions, frame: Frame, want: Want) -> Population {
    let clusters: Vec<ClusterPlan> = (0..opts.clusters)
        .map(|c| cluster_plan(opts.seed, c, opts.nodes))
        .collect();
    let late_index = opts.nodes - 1;
    // Nodes with a full history, spread over clusters: node 0 of each cluster, then node 1, …
    let complete: Vec<(u32, u32)> = (0..late_index)
        .flat_map(|n| (0..opts.clusters).map(move |c| (c, n)))
        .collect();
    let mut roles: std::collections::HashMap<(u32, u32), Vec<&'static str>> = std::collections::HashMap::new();
    for (i, role) in ROLES.iter().enumerate() {
        roles.entry(complete[i % complete.len()]).or_default().push(role);
    }
    let held_back = complete[4 % complete.len()];
    let mut nodes = Vec::new();
    let mut scenarios = Vec::new();
    let mut node_truth = Vec::new();
    for (c, cluster) in clusters.iter().enumerate() {
        let c = c as u32;
        for n in 0..opts.nodes {
            let late = n == late_index;
            let built = build_node(NodeCtx {
                opts,
                frame,
                want,
                cluster,
                c,
                n,
                late,
                roles: roles.get(&(c, n)).cloned().unwrap_or_default(),
                held_back: held_back == (c, n),
                late_scenario: late && c == 0,
                cluster_nodes: opts.nodes,
            });
            nodes.push(built.sim);
            scenarios.extend(built.scenarios);
            node_truth.push(built.truth);
        }
    }
    let order = |s: &Scenario| ROLES.iter().position(|r| *r == s.name).unwrap_or(ROLES.len());
    scenarios.sort_by_key(order);
    Population {
        nodes,
        scenarios,
        node_truth,
    }
}
