//! The names the ground truth speaks in: the detection slugs ([`DETECTIONS`]) with the findings
//! columns that key each one ([`key_columns`]), and the scenario names ([`SCENARIOS`]).
//!
//! In: nothing (a leaf of `generate`). Out: constants and one lookup; the population places
//! scenarios by these names, the oracles and the risk labels read them, and `generate` re-exports
//! them for the tests and the `demo` command.

/// Detection slugs.
pub const PROCESS_NEW_PATH: &str = "process_new_path";
pub const UNSEEN_PROCESS: &str = "unseen_process";
pub const UNSEEN_CONTAINER_IMAGE: &str = "unseen_container_image";
pub const NEW_TCP_EDGE: &str = "new_tcp_edge";
pub const NEW_UDP_EDGE: &str = "new_udp_edge";
pub const SHELL_ON_WORKER_NODE: &str = "shell_on_worker_node";
pub const SHELL_ON_WORKER_NODE_CPU: &str = "shell_on_worker_node_cpu";
pub const PROCESS_RESOURCE_ANOMALY: &str = "process_resource_anomaly";
pub const PROCESS_RESOURCE_RATIO_ANOMALY: &str = "process_resource_ratio_anomaly";

/// Every detection the ground truth covers.
pub const DETECTIONS: [&str; 9] = [
    PROCESS_NEW_PATH,
    UNSEEN_PROCESS,
    UNSEEN_CONTAINER_IMAGE,
    NEW_TCP_EDGE,
    NEW_UDP_EDGE,
    SHELL_ON_WORKER_NODE,
    SHELL_ON_WORKER_NODE_CPU,
    PROCESS_RESOURCE_ANOMALY,
    PROCESS_RESOURCE_RATIO_ANOMALY,
];

/// The findings columns that key a detection's findings (an entry's `key` has exactly these).
pub fn key_columns(detection: &str) -> &'static [&'static str] {
    match detection {
        PROCESS_NEW_PATH => &["k8s_cluster_name", "k8s_node_name", "process_executable_path"],
        UNSEEN_PROCESS | PROCESS_RESOURCE_ANOMALY | PROCESS_RESOURCE_RATIO_ANOMALY => {
            &["k8s_cluster_name", "k8s_node_name", "process_executable_name"]
        }
        UNSEEN_CONTAINER_IMAGE => &["k8s_cluster_name", "k8s_node_name", "container_image_name"],
        NEW_TCP_EDGE | NEW_UDP_EDGE => &["k8s_cluster_name", "source_workload_name", "dest_workload_name"],
        SHELL_ON_WORKER_NODE | SHELL_ON_WORKER_NODE_CPU => &[
            "k8s_cluster_name",
            "k8s_node_name",
            "process_pid",
            "process_executable_name",
        ],
        _ => &[],
    }
}

/// Scenario names.
pub const MINER_IN_TMP: &str = "miner_in_tmp";
pub const SHELL_IN_DEV_SHM: &str = "shell_in_dev_shm";
pub const KNOWN_BINARY_UNUSUAL_PATH: &str = "known_binary_unusual_path";
pub const RETURNS_AFTER_30_DAYS: &str = "returns_after_30_days";
pub const COMMON_IN_CLUSTER_NEW_ON_NODE: &str = "common_in_cluster_new_on_node";
pub const NEW_PID_KNOWN_PATH: &str = "new_pid_known_path";
pub const NEW_IMAGE_ON_NODE: &str = "new_image_on_node";
pub const IMAGE_COMMON_IN_CLUSTER_NEW_ON_NODE: &str = "image_common_in_cluster_new_on_node";
pub const IMAGE_TAG_BUMP: &str = "image_tag_bump";
pub const INTERACTIVE_SHELL: &str = "interactive_shell";
pub const IDLE_SHELL: &str = "idle_shell";
pub const NEW_TCP_EDGE_LATERAL: &str = "new_tcp_edge_lateral";
pub const NEW_UDP_EDGE_STATSD: &str = "new_udp_edge_statsd";
pub const EDGE_KNOWN_IN_OTHER_CLUSTER: &str = "edge_known_in_other_cluster";
pub const NEW_PATH_ON_LATE_NODE: &str = "new_path_on_late_node";
pub const BENIGN_SHELL_WORKLOAD: &str = "benign_shell_workload";
pub const PROCESS_CPU_BURST: &str = "process_cpu_burst";
pub const PROCESS_RATIO_FLIP: &str = "process_ratio_flip";
pub const PROCESS_SHORT_SPIKE: &str = "process_short_spike";
pub const PROCESS_DIURNAL_PEAK: &str = "process_diurnal_peak";
pub const STATISTICAL_NOISE: &str = "statistical_noise";
/// One node, one attack in stages, for the risk roll-up: one incident, not four rows.
pub const MULTI_STAGE_ATTACK: &str = "multi_stage_attack";

/// The stages of `multi_stage_attack`, in order, and the detections each one is for. The last
/// is the hook for the statistical family: the miner's CPU and memory spike is in the data
/// already (kdevtmpfsi's profile) but no entry labels it until the resource detections exist —
/// add them here (and their ground-truth entries in `build_node`) when they do.
pub const MULTI_STAGE_STAGES: [(&str, &[&str]); 4] = [
    ("dropped_miner", &[PROCESS_NEW_PATH, UNSEEN_PROCESS]),
    (
        "shell",
        &[
            PROCESS_NEW_PATH,
            UNSEEN_PROCESS,
            SHELL_ON_WORKER_NODE,
            SHELL_ON_WORKER_NODE_CPU,
        ],
    ),
    ("new_process", &[PROCESS_NEW_PATH, UNSEEN_PROCESS]),
    ("resource_spike", &[]),
];

/// Every scenario, in ground-truth order. `edge_known_in_other_cluster` needs two clusters;
/// `benign_shell_workload` has entries only when ordinary shells run in the window.
pub const SCENARIOS: [&str; 22] = [
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
    NEW_TCP_EDGE_LATERAL,
    NEW_UDP_EDGE_STATSD,
    EDGE_KNOWN_IN_OTHER_CLUSTER,
    NEW_PATH_ON_LATE_NODE,
    PROCESS_CPU_BURST,
    PROCESS_RATIO_FLIP,
    PROCESS_SHORT_SPIKE,
    PROCESS_DIURNAL_PEAK,
    STATISTICAL_NOISE,
    BENIGN_SHELL_WORKLOAD,
    MULTI_STAGE_ATTACK,
];
