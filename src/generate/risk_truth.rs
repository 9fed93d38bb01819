//! Risk labels of the ground truth: which nodes the risk roll-up must make an incident of at
//! the end of the data, and which it must not, with the findings that make up each node's risk.
//!
//! In: the nodes and the resolved detection entries. Out: [`RiskTruth`] entries. Invariant:
//! the findings listed are exactly the node's `expect_finding` entries (every detection, every
//! scenario, the benign shells included), so a correct `risk --at <end>` over the last hour's
//! findings lists these and no others for the object.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{NodeTruth, Scenario};
use super::names::MULTI_STAGE_ATTACK;

/// A node whose findings add up, or must not add up, to an incident.
pub const NOISY_BENIGN_NODE: &str = "noisy_benign_node";

/// One labelled risk object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RiskTruth {
    /// `multi_stage_attack` or `noisy_benign_node`.
    pub name: String,
    pub description: String,
    /// `node`: the object is the node, qualified by its cluster.
    pub risk_object_type: String,
    pub k8s_cluster_name: String,
    pub k8s_node_name: String,
    /// RFC 3339 `--at` of the risk evaluation (24 h window) the label is for.
    pub window_end: String,
    pub expect_incident: bool,
    /// The findings on the node (detection and key), in ground-truth order.
    pub findings: Vec<RiskFinding>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RiskFinding {
    pub detection: String,
    pub key: BTreeMap<String, String>,
}

/// The risk labels: the node of `multi_stage_attack` (the last cluster's late node) must be
/// one incident; with two clusters or more, cluster 0's late node — an operator's crictl
/// session and whatever ordinary shells run there: single detections — must not.
pub(crate) fn labels(nodes: &[NodeTruth], entries: &[Scenario], window_end: &str) -> Vec<RiskTruth> {
    let late: Vec<&NodeTruth> = nodes.iter().filter(|n| n.joined_late).collect();
    let findings_on = |n: &NodeTruth| -> Vec<RiskFinding> {
        entries
            .iter()
            .filter(|e| {
                e.expect_finding
                    && e.key.get("k8s_cluster_name") == Some(&n.k8s_cluster_name)
                    && e.key.get("k8s_node_name") == Some(&n.k8s_node_name)
            })
            .map(|e| RiskFinding {
                detection: e.detection.clone(),
                key: e.key.clone(),
            })
            .collect()
    };
    let mut out = Vec::new();
    if let Some(m) = late.last() {
        out.push(RiskTruth {
            name: MULTI_STAGE_ATTACK.into(),
            description: "A dropped miner, a shell and a new process within the hour on one node: \
                four detections whose findings add up to one incident on the node (both rules: \
                total ≥ 100 and 4 distinct detections)."
                .into(),
            risk_object_type: "node".into(),
            k8s_cluster_name: m.k8s_cluster_name.clone(),
            k8s_node_name: m.k8s_node_name.clone(),
            window_end: window_end.into(),
            expect_incident: true,
            findings: findings_on(m),
        });
    }
    if late.len() >= 2 {
        let b = late[0];
        out.push(RiskTruth {
            name: NOISY_BENIGN_NODE.into(),
            description: "An operator follows container logs with crictl on a node that joined \
                recently (a new path and a new process name), next to the cluster's ordinary \
                shells: findings of fewer than four detections, under 100 together — noise the \
                roll-up must not turn into an incident."
                .into(),
            risk_object_type: "node".into(),
            k8s_cluster_name: b.k8s_cluster_name.clone(),
            k8s_node_name: b.k8s_node_name.clone(),
            window_end: window_end.into(),
            expect_incident: false,
            findings: findings_on(b),
        });
    }
    out
}
