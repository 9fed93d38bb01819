//! One simulated cluster's cluster-level telemetry: the Network Explorer reducer's flow metrics
//! between workloads (this module) and the `k8s_cluster` receiver's tick grid (the readings
//! themselves come from the nodes, [`super::sim::NodeSim::read_containers`]).
//!
//! The reducer (OpenTelemetry eBPF / Splunk Network Explorer, `az_az` aggregation, the default)
//! reports every edge — a (source workload, destination workload) pair of one protocol — once
//! per tick as delta sums: `tcp.bytes`/`tcp.packets` or `udp.bytes`/`udp.packets`. Each edge is
//! one series: its data point attributes are the non-empty node labels of both sides
//! (`{source,dest}.{workload.name,namespace.name,process.name,container.name,resolution_type}`)
//! plus `sf_product`; no availability zone is known (so no `az_equal`). Ticks use the
//! generator's interval (the reducer's own slot is 30 s) with a per-cluster phase, so volumes
//! scale with the process data.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::ingest::model::{AttrValue, Attrs, Origin};
use crate::ingest::otlp_proto::{any_value, AnyValue, KeyValue, Resource};

use super::rng::Rng;
use super::wire;

/// Transport of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// The metrics the reducer reports per edge: bytes, then packets.
    pub(crate) fn metrics(self) -> [&'static str; 2] {
        match self {
            Proto::Tcp => ["tcp.bytes", "tcp.packets"],
            Proto::Udp => ["udp.bytes", "udp.packets"],
        }
    }
}

/// One side of an edge, as the reducer labels it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub workload: &'static str,
    pub namespace: &'static str,
    /// The process's `comm` (at most 15 bytes).
    pub process: String,
    pub container: &'static str,
}

/// A (source, destination) pair that exchanges traffic from `from` on.
pub(crate) struct Edge {
    pub proto: Proto,
    pub from: u64,
    pub attrs: Attrs,
    json_attrs: String,
    proto_attrs: Vec<KeyValue>,
    bytes_per_s: f64,
    packet_bytes: f64,
}

impl Edge {
    pub(crate) fn new(proto: Proto, source: Endpoint, dest: Endpoint, from: u64, rng: &mut Rng) -> Edge {
        let s = |v: &str| AttrValue::Str(v.to_string());
        // The reducer's labels are a sorted map; empty values are dropped.
        let attrs: Attrs = vec![
            ("dest.container.name".into(), s(dest.container)),
            ("dest.namespace.name".into(), s(dest.namespace)),
            ("dest.process.name".into(), s(&dest.process)),
            ("dest.resolution_type".into(), s("K8S_CONTAINER")),
            ("dest.workload.name".into(), s(dest.workload)),
            ("sf_product".into(), s("network-explorer")),
            ("source.container.name".into(), s(source.container)),
            ("source.namespace.name".into(), s(source.namespace)),
            ("source.process.name".into(), s(&source.process)),
            ("source.resolution_type".into(), s("K8S_CONTAINER")),
            ("source.workload.name".into(), s(source.workload)),
        ];
        let mut json_attrs = String::new();
        for (i, (k, v)) in attrs.iter().enumerate() {
            if i > 0 {
                json_attrs.push(',');
            }
            json_attrs.push_str("{\"key\":");
            wire::json_string(&mut json_attrs, k);
            json_attrs.push_str(",\"value\":{\"stringValue\":");
            if let AttrValue::Str(v) = v {
                wire::json_string(&mut json_attrs, v);
            }
            json_attrs.push_str("}}");
        }
        let proto_attrs = attrs
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: Some(AnyValue {
                    value: match v {
                        AttrValue::Str(v) => Some(any_value::Value::StringValue(v.clone())),
                        _ => None,
                    },
                }),
            })
            .collect();
        let (bytes_per_s, packet_bytes) = match proto {
            // Request/response traffic: a few hundred B/s to tens of kB/s.
            Proto::Tcp => (200.0 * (250.0f64).powf(rng.f64()), rng.uniform(350.0, 1400.0)),
            // DNS and datagrams: small packets.
            Proto::Udp => (rng.uniform(15.0, 400.0), rng.uniform(80.0, 160.0)),
        };
        Edge {
            proto,
            from,
            attrs,
            json_attrs,
            proto_attrs,
            bytes_per_s,
            packet_bytes,
        }
    }

    pub(crate) fn proto_attrs(&self) -> &[KeyValue] {
        &self.proto_attrs
    }
}

/// One edge's report at a tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Flow {
    pub edge: usize,
    pub bytes: i64,
    pub packets: i64,
}

pub(crate) struct ClusterSim {
    pub name: String,
    /// `startTimeUnixNano` of the `k8s_cluster` receiver's points (its collector's start).
    pub receiver_start: u64,
    /// The reducer's resource after the pipeline: only `k8s.cluster.name`; no scope.
    pub origin: Arc<Origin>,
    pub json_resource: String,
    pub proto_resource: Resource,
    pub edges: Vec<Edge>,
    interval: u64,
    cutoff: u64,
    next_tick: u64,
    last_tick: Option<u64>,
    rng: Rng,
    /// The last tick's reports, in edge order, and its time.
    pub flows: Vec<Flow>,
    pub tick_ns: u64,
}

impl ClusterSim {
    /// `first_tick`: the reducer's first report; `cutoff`: no report at or after it.
    pub(crate) fn new(
        name: String,
        receiver_start: u64,
        first_tick: u64,
        interval: u64,
        cutoff: u64,
        edges: Vec<Edge>,
        rng: Rng,
    ) -> ClusterSim {
        let origin = Origin {
            resource: vec![("k8s.cluster.name".into(), AttrValue::Str(name.clone()))],
            scope_name: String::new(),
            scope_version: String::new(),
            scope_attributes: Vec::new(),
        };
        let mut json_resource =
            String::from("{\"resource\":{\"attributes\":[{\"key\":\"k8s.cluster.name\",\"value\":{\"stringValue\":");
        wire::json_string(&mut json_resource, &name);
        json_resource.push_str("}}]},\"scopeMetrics\":[{\"scope\":{},\"metrics\":[");
        ClusterSim {
            proto_resource: wire::resource_proto(&origin),
            origin: Arc::new(origin),
            json_resource,
            name,
            receiver_start,
            edges,
            interval,
            cutoff,
            next_tick: first_tick,
            last_tick: None,
            rng,
            flows: Vec::new(),
            tick_ns: 0,
        }
    }

    /// Takes the reducer's next report if it is before `until` (and the cutoff): fills
    /// [`ClusterSim::flows`] with every edge that exchanged traffic since the previous one.
    pub(crate) fn tick_before(&mut self, until: u64) -> bool {
        let t = self.next_tick;
        if t >= until || t >= self.cutoff {
            return false;
        }
        self.next_tick = t + self.interval;
        self.flows.clear();
        self.tick_ns = t;
        let prev = self.last_tick.replace(t);
        for (i, e) in self.edges.iter().enumerate() {
            if e.from > t {
                continue;
            }
            let since = prev.map_or(e.from, |p| p.max(e.from)).min(t);
            let dt = ((t - since) as f64 / 1e9).max(1.0);
            let bytes = (e.bytes_per_s * dt * self.rng.uniform(0.3, 1.7)).round().max(64.0);
            let packets = (bytes / (e.packet_bytes * self.rng.uniform(0.85, 1.15)))
                .round()
                .max(1.0);
            self.flows.push(Flow {
                edge: i,
                bytes: bytes as i64,
                packets: packets as i64,
            });
        }
        true
    }

    /// Appends the reducer's metrics of the last tick: one ResourceMetrics per 1000 metrics
    /// (the reducer's batch), each metric with one data point (comma-separated, no brackets).
    pub(crate) fn write_json(&self, out: &mut String) {
        for (c, chunk) in self.flows.chunks(500).enumerate() {
            if c > 0 {
                out.push(',');
            }
            out.push_str(&self.json_resource);
            let mut first = true;
            for f in chunk {
                let e = &self.edges[f.edge];
                for (name, (unit, v)) in e.proto.metrics().iter().zip([("By", f.bytes), ("1", f.packets)]) {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    let _ = write!(
                        out,
                        "{{\"name\":\"{name}\",\"unit\":\"{unit}\",\"sum\":{{\"dataPoints\":[{{\"attributes\":[{}],\"timeUnixNano\":\"{}\",\"asInt\":\"{v}\"}}],\"aggregationTemporality\":1,\"isMonotonic\":true}}}}",
                        e.json_attrs, self.tick_ns
                    );
                }
            }
            out.push_str("]}]}");
        }
    }
}

/// The first 15 bytes of a process name: what the kernel's `comm` holds.
pub(crate) fn comm(name: &str) -> String {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(w: &'static str) -> Endpoint {
        Endpoint {
            workload: w,
            namespace: "ns",
            process: comm("opentelemetry-ebpf-reducer"),
            container: "c",
        }
    }

    #[test]
    fn edges_report_from_their_start_with_positive_deltas() {
        let mut rng = Rng::derive(1, &[]);
        let edges = vec![
            Edge::new(Proto::Tcp, ep("a"), ep("b"), 0, &mut rng),
            Edge::new(Proto::Udp, ep("a"), ep("dns"), 500 * 1_000_000_000, &mut rng),
        ];
        assert_eq!(
            edges[0]
                .attrs
                .iter()
                .find(|(k, _)| k == "source.process.name")
                .map(|(_, v)| v),
            Some(&AttrValue::Str("opentelemetry-e".into()))
        );
        let keys: Vec<&str> = edges[0].attrs.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "the reducer's labels are a sorted map");
        let s = 1_000_000_000;
        let mut c = ClusterSim::new("c".into(), 0, 60 * s, 300 * s, 2000 * s, edges, Rng::derive(2, &[]));
        let mut seen = Vec::new();
        while c.tick_before(u64::MAX) {
            assert!(c.flows.iter().all(|f| f.bytes >= 64 && f.packets >= 1));
            seen.push(c.flows.len());
        }
        // Ticks at 60, 360, …, 1860 s; the UDP edge starts at 500 s.
        assert_eq!(seen, [1, 1, 2, 2, 2, 2, 2]);
        let mut json = String::new();
        c.write_json(&mut json);
        let doc: serde_json::Value = serde_json::from_str(&format!("{{\"resourceMetrics\":[{json}]}}")).expect("JSON");
        let metrics = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
            .as_array()
            .expect("metrics");
        assert_eq!(metrics.len(), 4);
        assert_eq!(metrics[2]["name"], "udp.bytes");
        assert_eq!(metrics[2]["sum"]["aggregationTemporality"], 1);
    }
}
