//! The Helm chart, linted and rendered with the real Helm v4 library (PyPI `helm-python-sdk`
//! through xtask/scripts/helm_tool.py), every manifest validated by `kubernetes-validate
//! --strict`, and assertions on the rendered objects.

mod ops_support;

use ops_support::{helm_tool, pythonpath, text, workspace};
use serde_json::Value;
use std::process::Command;

const FULL: &str = "helm/akidb/ci/s3-ingress-autoscaling-values.yaml";
const EXISTING: &str = "helm/akidb/ci/existing-secrets-values.yaml";

struct Rendered {
    objects: Vec<Value>,
    notes: String,
}

impl Rendered {
    fn kind(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }
    fn one(&self, kind: &str) -> &Value {
        let v = self.kind(kind);
        assert_eq!(v.len(), 1, "exactly one {kind}: {}", v.len());
        v[0]
    }
    fn container(&self) -> &Value {
        &self.one("StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    }
    fn env(&self, name: &str) -> Option<&Value> {
        self.container()["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
    }
}

/// Renders the chart with `values` files, validates every manifest with kubernetes-validate
/// --strict and parses it with [`STRICT_YAML`] (a repeated key fails).
fn render(values: &[&str]) -> Rendered {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "template",
        "helm/akidb",
        "--name",
        "akidb",
        "--namespace",
        "vectors",
    ];
    for v in values {
        args.extend(["-f", v]);
    }
    let out_dir = dir.path().to_str().unwrap().to_string();
    args.extend(["--out-dir", &out_dir]);
    let out = helm_tool(&args);
    assert!(out.status.success(), "render {values:?}: {}", text(&out));

    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 6, "rendered too few manifests: {files:?}");
    let validate = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(&files)
        .env("PYTHONPATH", pythonpath())
        .output()
        .expect("python3 runs");
    let report = String::from_utf8_lossy(&validate.stdout).to_string()
        + &String::from_utf8_lossy(&validate.stderr);
    // kubernetes-validate exits 0 even when a resource fails: read its report.
    assert!(
        !report.contains("ERROR") && !report.contains("FATAL"),
        "kubernetes-validate --strict:\n{report}"
    );
    for f in &files {
        let passed = report
            .lines()
            .any(|l| l.starts_with("INFO") && l.contains(f.as_str()) && l.contains("passed"));
        let crd_warning = report.lines().any(|l| {
            l.starts_with("WARN") && l.contains(f.as_str()) && l.contains("monitoring.coreos.com")
        });
        assert!(passed || crd_warning, "{f} was not validated:\n{report}");
    }

    Rendered {
        objects: parse_strict(&files),
        notes: std::fs::read_to_string(dir.path().join("NOTES.txt")).unwrap_or_default(),
    }
}

/// PyYAML (YAML 1.1 like Kubernetes' parser: `yes`, `on`, `1e3` are not strings) with duplicate
/// mapping keys made an error, where plain loaders keep the last value silently.
const STRICT_YAML: &str = r#"
import json, sys, yaml
class Strict(yaml.SafeLoader):
    pass
def mapping(loader, node):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)
Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
objects = []
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as fh:
        objects.extend(d for d in yaml.load_all(fh, Loader=Strict) if d is not None)
print(json.dumps(objects, default=str))
"#;

/// Parses rendered manifests with [`STRICT_YAML`]; a duplicate key fails the test.
fn parse_strict(files: &[String]) -> Vec<Value> {
    let out = Command::new("python3")
        .args(["-c", STRICT_YAML])
        .args(files)
        .env("PYTHONPATH", pythonpath())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "rendered YAML: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("the strict loader prints JSON")
}

fn lint(values: &[&str], sets: &[&str]) -> std::process::Output {
    let mut args = vec!["lint", "helm/akidb", "--strict"];
    for v in values {
        args.extend(["-f", v]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    helm_tool(&args)
}

#[test]
fn helm_lint_strict_passes_for_default_and_full_values() {
    for values in [&[][..], &[FULL][..], &[EXISTING][..]] {
        let out = lint(values, &[]);
        assert!(
            out.status.success(),
            "helm lint --strict {values:?}: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 chart(s) linted, no failures"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn bad_values_are_rejected_by_the_schema() {
    for (set, needle) in [
        ("replicaCount=many", "replicaCount"),
        ("s3.enabled=true", "bucket"),
        ("server.logFormat=xml", "logFormat"),
        (
            "autoscaling.targetCPUUtilizationPercentage=170",
            "targetCPUUtilizationPercentage",
        ),
        ("unknownSwitch=true", "unknownSwitch"),
    ] {
        let out = lint(&[], &[set]);
        assert!(
            !out.status.success(),
            "lint must fail for {set}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(needle),
            "lint for {set} should name {needle}: {}",
            text(&out)
        );
    }
    let out = helm_tool(&["template", "helm/akidb", "--set", "s3.enabled=true"]);
    assert!(
        !out.status.success(),
        "template must fail without a bucket: {}",
        text(&out)
    );
}

/// What a values file must lead to.
enum Outcome {
    /// `helm lint --strict` passes, the render is valid (kubernetes-validate --strict, no
    /// duplicate keys, every name, label, annotation and env value a string), then this check.
    Renders(fn(&Rendered)),
    /// `helm template` and `helm lint --strict` fail, and both outputs name every needle.
    Fails(&'static [&'static str]),
    /// `helm template` fails naming every needle: a check only the templates can make, which
    /// Helm's lint mode reports as a log line, not a failure.
    FailsToRender(&'static [&'static str]),
}

/// One row of the chart's edge-case table.
struct Case {
    name: &'static str,
    values: &'static str,
    outcome: Outcome,
    /// For refusals the templates make too: rendered from a copy of the chart without
    /// values.schema.json (like `--skip-schema-validation`), it still fails naming these.
    without_schema: &'static [&'static str],
}

fn pvc_spec(r: &Rendered) -> &Value {
    &r.one("StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]
}

fn pod_meta(r: &Rendered) -> &Value {
    &r.one("StatefulSet")["spec"]["template"]["metadata"]
}

/// Why the templates refuse a second pod without S3, as their message says it.
const WHY_ONE_POD_REPLICAS: &[&str] = &[
    "replicaCount=2",
    "s3.enabled=true",
    "independent database",
    "different data",
];
const WHY_ONE_POD_AUTOSCALING: &[&str] = &[
    "autoscaling.enabled=true",
    "s3.enabled=true",
    "independent",
    "different data",
];
const WHY_ONE_POD_THREE_REPLICAS: &[&str] = &[
    "replicaCount=3",
    "s3.enabled=true",
    "independent database",
    "different data",
];

/// The variables the chart sets for replication through the bucket when S3 is on (names fixed
/// with the server).
const REPLICATION_ENV: &[&str] = &[
    "AKIDB_NODE_ID",
    "AKIDB_ADVERTISE_REST_URL",
    "AKIDB_ADVERTISE_GRPC_URL",
    "AKIDB_REPLICATION_ACK",
    "AKIDB_REPLICATION_READY_MAX_LAG",
];

/// Value of the plain env variable `name` (not `valueFrom`).
fn env_value(r: &Rendered, name: &str) -> String {
    r.env(name)
        .unwrap_or_else(|| panic!("env {name} is missing"))["value"]
        .as_str()
        .unwrap_or_else(|| panic!("env {name} has no plain value"))
        .to_string()
}

/// Checks the replication env: the node id from the pod name, listed before the advertised URLs
/// (Kubernetes expands `$(AKIDB_NODE_ID)` only from earlier variables), which name the pod under
/// the headless Service; the headless Service publishes not-ready pods and readiness is `/ready`.
fn assert_replication_env(r: &Rendered, rest_url: &str, grpc_url: &str, ack: &str, lag: &str) {
    let node = r.env("AKIDB_NODE_ID").expect("AKIDB_NODE_ID");
    assert_eq!(
        node["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
        "{node}"
    );
    assert!(node.get("value").is_none(), "{node}");
    assert_eq!(env_value(r, "AKIDB_ADVERTISE_REST_URL"), rest_url);
    assert_eq!(env_value(r, "AKIDB_ADVERTISE_GRPC_URL"), grpc_url);
    assert_eq!(env_value(r, "AKIDB_REPLICATION_ACK"), ack);
    assert_eq!(env_value(r, "AKIDB_REPLICATION_READY_MAX_LAG"), lag);
    let names: Vec<&str> = r.container()["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(
        at("AKIDB_NODE_ID") < at("AKIDB_ADVERTISE_REST_URL")
            && at("AKIDB_NODE_ID") < at("AKIDB_ADVERTISE_GRPC_URL"),
        "AKIDB_NODE_ID must precede the URLs that expand it: {names:?}"
    );
    let sts = r.one("StatefulSet");
    let headless = r
        .kind("Service")
        .into_iter()
        .find(|s| s["spec"]["clusterIP"] == "None")
        .expect("headless Service");
    assert_eq!(sts["spec"]["serviceName"], headless["metadata"]["name"]);
    let host = format!(
        "$(AKIDB_NODE_ID).{}.vectors.svc.",
        headless["metadata"]["name"].as_str().unwrap()
    );
    assert!(
        rest_url.contains(&host) && grpc_url.contains(&host),
        "{rest_url} / {grpc_url} name the pod under {host}"
    );
    assert_eq!(
        headless["spec"]["publishNotReadyAddresses"], true,
        "a starting follower must be reachable for forwarding and handover"
    );
    assert_eq!(r.container()["readinessProbe"]["httpGet"]["path"], "/ready");
}

fn edge_cases() -> Vec<Case> {
    use Outcome::{Fails, FailsToRender, Renders};
    let case = |name, values, outcome| Case {
        name,
        values,
        outcome,
        without_schema: &[],
    };
    vec![
        // A. Edge cases of single values.
        case(
            "storageClassName \"-\" means storageClassName \"\" (no dynamic provisioning)",
            "persistence:\n  storageClassName: \"-\"\n",
            Renders(|r| assert_eq!(pvc_spec(r)["storageClassName"], "")),
        ),
        case(
            "empty storageClassName leaves the cluster default",
            "persistence:\n  storageClassName: \"\"\n",
            Renders(|r| assert!(pvc_spec(r).get("storageClassName").is_none())),
        ),
        case(
            "numeric storageClassName stays a string",
            "persistence:\n  storageClassName: \"123\"\n",
            Renders(|r| assert_eq!(pvc_spec(r)["storageClassName"], "123")),
        ),
        case(
            "storageClassName that is no StorageClass name",
            "persistence:\n  storageClassName: fast ssd\n",
            Fails(&["/persistence/storageClassName"]),
        ),
        case(
            "numeric and boolean-looking strings stay strings everywhere",
            r#"nameOverride: "123"
image:
  tag: "2"
serviceAccount:
  name: "true"
podLabels:
  team: "123"
  canary: "true"
  tier: "yes"
podAnnotations:
  replicas: "007"
  enabled: "on"
  nothing: "null"
service:
  annotations:
    weight: "1.5"
persistence:
  size: "1073741824"
  annotations:
    backup: "false"
s3:
  enabled: true
  bucket: "123"
  region: "true"
  endpoint: "1e3"
  existingSecret: "456"
auth:
  existingSecret: "789"
server:
  otlpEndpoint: "4318"
nodeSelector:
  pool: "1"
ingress:
  enabled: true
  className: "0"
  annotations:
    nginx.ingress.kubernetes.io/proxy-body-size: "0"
  hosts:
    - host: "123"
      paths:
        - path: /
          pathType: Prefix
  tls:
    - hosts: ["123"]
      secretName: "404"
podDisruptionBudget:
  maxUnavailable: "50%"
serviceMonitor:
  enabled: true
  interval: 1m
  labels:
    release: "1"
"#,
            Renders(|r| {
                let env = |n: &str| r.env(n).unwrap_or_else(|| panic!("{n}")).clone();
                assert_eq!(env("AKIDB_S3_BUCKET")["value"], "123");
                assert_eq!(env("AKIDB_S3_REGION")["value"], "true");
                assert_eq!(env("AKIDB_S3_ENDPOINT")["value"], "1e3");
                assert_eq!(env("AKIDB_OTLP_ENDPOINT")["value"], "4318");
                assert_eq!(
                    env("AKIDB_S3_ACCESS_KEY_ID")["valueFrom"]["secretKeyRef"]["name"],
                    "456"
                );
                assert_eq!(
                    env("AKIDB_API_KEY")["valueFrom"]["secretKeyRef"]["name"],
                    "789"
                );
                let sts = r.one("StatefulSet");
                assert_eq!(sts["metadata"]["labels"]["app.kubernetes.io/name"], "123");
                assert_eq!(sts["metadata"]["labels"]["app.kubernetes.io/version"], "2");
                assert_eq!(sts["metadata"]["name"], "akidb-123");
                assert!(r.container()["image"].as_str().unwrap().ends_with(":2"));
                let pod = &sts["spec"]["template"];
                assert_eq!(pod["spec"]["serviceAccountName"], "true");
                assert_eq!(r.one("ServiceAccount")["metadata"]["name"], "true");
                assert_eq!(pod["spec"]["nodeSelector"]["pool"], "1");
                for (k, v) in [("team", "123"), ("canary", "true"), ("tier", "yes")] {
                    assert_eq!(pod["metadata"]["labels"][k], v, "pod label {k}");
                }
                for (k, v) in [("replicas", "007"), ("enabled", "on"), ("nothing", "null")] {
                    assert_eq!(pod["metadata"]["annotations"][k], v, "pod annotation {k}");
                }
                let client = r
                    .kind("Service")
                    .into_iter()
                    .find(|s| s["spec"]["clusterIP"] != "None")
                    .unwrap();
                assert_eq!(client["metadata"]["annotations"]["weight"], "1.5");
                let pvc = &sts["spec"]["volumeClaimTemplates"][0];
                assert_eq!(pvc["metadata"]["annotations"]["backup"], "false");
                assert_eq!(
                    pvc["spec"]["resources"]["requests"]["storage"],
                    "1073741824"
                );
                let ing = r.one("Ingress");
                assert_eq!(ing["spec"]["ingressClassName"], "0");
                assert_eq!(
                    ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"],
                    "0"
                );
                assert_eq!(ing["spec"]["rules"][0]["host"], "123");
                assert_eq!(ing["spec"]["tls"][0]["hosts"][0], "123");
                assert_eq!(ing["spec"]["tls"][0]["secretName"], "404");
                assert_eq!(
                    r.one("PodDisruptionBudget")["spec"]["maxUnavailable"],
                    "50%"
                );
                let sm = r.one("ServiceMonitor");
                assert_eq!(sm["metadata"]["labels"]["release"], "1");
                assert_eq!(sm["spec"]["endpoints"][0]["interval"], "1m");
            }),
        ),
        case(
            "large integers render as integers, not 1e+07",
            "terminationGracePeriodSeconds: 10000000\n",
            Renders(|r| {
                assert_eq!(
                    r.one("StatefulSet")["spec"]["template"]["spec"]
                        ["terminationGracePeriodSeconds"],
                    10_000_000
                )
            }),
        ),
        case(
            "label value Kubernetes would reject",
            "podLabels:\n  team: search team\n",
            Fails(&["/podLabels/team"]),
        ),
        case(
            "annotation that is not a string",
            "podAnnotations:\n  replicas: 3\n",
            Fails(&["/podAnnotations/replicas"]),
        ),
        case(
            "maxUnavailable as a string that is not a percentage",
            "podDisruptionBudget:\n  maxUnavailable: \"1\"\n",
            Fails(&["/podDisruptionBudget/maxUnavailable"]),
        ),
        case(
            "serviceMonitor interval without a unit",
            "serviceMonitor:\n  enabled: true\n  interval: \"30\"\n",
            Fails(&["/serviceMonitor/interval"]),
        ),
        Case {
            without_schema: &["ingress.hosts", "ingress.enabled=true"],
            ..case(
                "REST ingress enabled with no hosts",
                "ingress:\n  enabled: true\n  hosts: []\n",
                Fails(&["/ingress/hosts"]),
            )
        },
        Case {
            without_schema: &["grpcIngress.hosts", "grpcIngress.enabled=true"],
            ..case(
                "gRPC ingress enabled with no hosts",
                "grpcIngress:\n  enabled: true\n  hosts: []\n",
                Fails(&["/grpcIngress/hosts"]),
            )
        },
        case(
            "podLabels repeating the chart's labels: each key once, the chart's value",
            "podLabels:\n  app.kubernetes.io/name: other\n  app.kubernetes.io/instance: other\n  \
             app.kubernetes.io/part-of: other\n  team: search\n",
            Renders(|r| {
                let labels = &pod_meta(r)["labels"];
                assert_eq!(labels["app.kubernetes.io/name"], "akidb");
                assert_eq!(labels["app.kubernetes.io/instance"], "akidb");
                assert_eq!(labels["app.kubernetes.io/part-of"], "akidb");
                assert_eq!(labels["team"], "search");
            }),
        ),
        case(
            "podAnnotations repeating the chart's checksums: the chart's value",
            "podAnnotations:\n  checksum/config: forged\n  team: search\n",
            Renders(|r| {
                let ann = &pod_meta(r)["annotations"];
                assert_eq!(ann["checksum/config"].as_str().map(str::len), Some(64));
                assert_eq!(ann["team"], "search");
            }),
        ),
        case(
            "serviceMonitor.labels repeating the chart's labels: each key once, the chart's value",
            "serviceMonitor:\n  enabled: true\n  labels:\n    app.kubernetes.io/name: other\n    \
             release: prometheus\n",
            Renders(|r| {
                let labels = &r.one("ServiceMonitor")["metadata"]["labels"];
                assert_eq!(labels["app.kubernetes.io/name"], "akidb");
                assert_eq!(labels["release"], "prometheus");
            }),
        ),
        Case {
            without_schema: &["autoscaling.minReplicas (6)", "autoscaling.maxReplicas (2)"],
            ..case(
                "autoscaling.minReplicas above maxReplicas",
                "s3:\n  enabled: true\n  bucket: akidb-cold\nautoscaling:\n  enabled: true\n  \
                 minReplicas: 6\n  maxReplicas: 2\n",
                FailsToRender(&["autoscaling.minReplicas (6)", "autoscaling.maxReplicas (2)"]),
            )
        },
        // B. More than one pod only with shared object storage.
        Case {
            without_schema: WHY_ONE_POD_REPLICAS,
            ..case(
                "replicaCount 2 without S3",
                "replicaCount: 2\n",
                Fails(&["/replicaCount", "maximum"]),
            )
        },
        Case {
            without_schema: WHY_ONE_POD_AUTOSCALING,
            ..case(
                "autoscaling without S3",
                "s3:\n  enabled: false\nautoscaling:\n  enabled: true\n",
                Fails(&["/autoscaling/enabled"]),
            )
        },
        case(
            "replicaCount 0 without S3 (scaled down)",
            "replicaCount: 0\n",
            Renders(|r| assert_eq!(r.one("StatefulSet")["spec"]["replicas"], 0)),
        ),
        Case {
            without_schema: WHY_ONE_POD_THREE_REPLICAS,
            ..case(
                "replicaCount 3 without S3",
                "replicaCount: 3\n",
                Fails(&["/replicaCount", "maximum: got 3, want 1"]),
            )
        },
        Case {
            without_schema: WHY_ONE_POD_AUTOSCALING,
            ..case(
                "autoscaling with S3 left at its default (off)",
                "autoscaling:\n  enabled: true\n  minReplicas: 2\n",
                Fails(&["/autoscaling/enabled", "value must be false"]),
            )
        },
        case(
            "replicaCount 3 with S3: node id from the pod name, URLs under the headless Service",
            "replicaCount: 3\ns3:\n  enabled: true\n  bucket: akidb-cold\n",
            Renders(|r| {
                assert_eq!(r.one("StatefulSet")["spec"]["replicas"], 3);
                assert!(r.kind("HorizontalPodAutoscaler").is_empty());
                assert_replication_env(
                    r,
                    "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:8080",
                    "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:9090",
                    "local",
                    "2s",
                );
                assert!(r.notes.contains("Replication: one writer per collection"), "{}", r.notes);
            }),
        ),
        case(
            "replication.ack object_store and readyMaxLag reach the env",
            "replicaCount: 2\ns3:\n  enabled: true\n  bucket: akidb-cold\nreplication:\n  \
             ack: object_store\n  readyMaxLag: 500ms\n",
            Renders(|r| {
                assert_replication_env(
                    r,
                    "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:8080",
                    "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:9090",
                    "object_store",
                    "500ms",
                );
                assert!(r.notes.contains("replication.ack=object_store"), "{}", r.notes);
            }),
        ),
        case(
            "replication with TLS advertises https; the URLs keep the container ports",
            "replicaCount: 3\nfullnameOverride: vec\nclusterDomain: corp.example\nservice:\n  \
             restPort: 80\n  grpcPort: 443\ntls:\n  existingSecret: akidb-tls\ns3:\n  \
             enabled: true\n  bucket: akidb-cold\n",
            Renders(|r| {
                assert_replication_env(
                    r,
                    "https://$(AKIDB_NODE_ID).vec-headless.vectors.svc.corp.example:8080",
                    "https://$(AKIDB_NODE_ID).vec-headless.vectors.svc.corp.example:9090",
                    "local",
                    "2s",
                );
                let ports: Vec<&Value> = r.container()["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| &p["containerPort"])
                    .collect();
                assert_eq!(ports, [&Value::from(8080), &Value::from(9090)]);
            }),
        ),
        case(
            "replication.ack that is not local or object_store",
            "s3:\n  enabled: true\n  bucket: akidb-cold\nreplication:\n  ack: quorum\n",
            Fails(&["/replication/ack", "local", "object_store"]),
        ),
        case(
            "replication.readyMaxLag without a unit",
            "s3:\n  enabled: true\n  bucket: akidb-cold\nreplication:\n  readyMaxLag: \"2\"\n",
            Fails(&["/replication/readyMaxLag"]),
        ),
        case(
            "clusterDomain that is no DNS name",
            "clusterDomain: Cluster_Local\n",
            Fails(&["/clusterDomain"]),
        ),
        case(
            "autoscaling with S3",
            "s3:\n  enabled: true\n  bucket: akidb-cold\nautoscaling:\n  enabled: true\n  \
             minReplicas: 2\n  maxReplicas: 4\n",
            Renders(|r| {
                let hpa = &r.one("HorizontalPodAutoscaler")["spec"];
                assert_eq!(
                    (&hpa["minReplicas"], &hpa["maxReplicas"]),
                    (&2.into(), &4.into())
                );
                assert!(r.one("StatefulSet")["spec"]["replicas"].is_null());
            }),
        ),
        case(
            "tls.existingSecret mounts the Secret, sets the TLS env vars and HTTPS probes",
            "tls:\n  existingSecret: akidb-tls\n",
            Renders(|r| {
                let env = |n| r.env(n).unwrap_or_else(|| panic!("{n}"))["value"].clone();
                assert_eq!(env("AKIDB_TLS_CERT_FILE"), "/etc/akidb-tls/tls.crt");
                assert_eq!(env("AKIDB_TLS_KEY_FILE"), "/etc/akidb-tls/tls.key");
                assert!(r.env("AKIDB_TLS_CLIENT_CA_FILE").is_none());
                let c = r.container();
                for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
                    assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
                }
                let mount = c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["name"] == "tls")
                    .expect("tls mount");
                assert_eq!(mount["mountPath"], "/etc/akidb-tls");
                assert_eq!(mount["readOnly"], true);
                assert!(
                    mount.get("subPath").is_none(),
                    "subPath mounts never update"
                );
                let vols = &r.one("StatefulSet")["spec"]["template"]["spec"]["volumes"];
                assert!(vols
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v["name"] == "tls" && v["secret"]["secretName"] == "akidb-tls"));
            }),
        ),
        case(
            "tls.verifyClients sets the client CA and TCP probes",
            "tls:\n  existingSecret: akidb-tls\n  verifyClients: true\n",
            Renders(|r| {
                assert_eq!(
                    r.env("AKIDB_TLS_CLIENT_CA_FILE").unwrap()["value"],
                    "/etc/akidb-tls/ca.crt"
                );
                let c = r.container();
                assert!(c["readinessProbe"]["httpGet"].is_null());
                assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], "http");
            }),
        ),
        case(
            "TLS: the ServiceMonitor scrapes over HTTPS with the Secret's CA (and pair)",
            "tls:\n  existingSecret: akidb-tls\n  verifyClients: true\nserviceMonitor:\n  enabled: true\n",
            Renders(|r| {
                let ep = &r.one("ServiceMonitor")["spec"]["endpoints"][0];
                assert_eq!(ep["scheme"], "https", "{ep}");
                let tls = &ep["tlsConfig"];
                assert_eq!(tls["ca"]["secret"]["name"], "akidb-tls", "{tls}");
                assert_eq!(tls["ca"]["secret"]["key"], "ca.crt");
                assert!(tls["serverName"].as_str().unwrap().ends_with(".svc"), "{tls}");
                assert_eq!(tls["cert"]["secret"]["key"], "tls.crt");
                assert_eq!(tls["keySecret"]["key"], "tls.key");
            }),
        ),
        case(
            "no TLS: the ServiceMonitor scrapes plain HTTP",
            "serviceMonitor:\n  enabled: true\n",
            Renders(|r| {
                let ep = &r.one("ServiceMonitor")["spec"]["endpoints"][0];
                assert!(ep.get("scheme").is_none() && ep.get("tlsConfig").is_none(), "{ep}");
            }),
        ),
        case(
            "serviceMonitor.tlsConfig overrides the CA",
            "tls:\n  existingSecret: akidb-tls\nserviceMonitor:\n  enabled: true\n  tlsConfig:\n    ca:\n      configMap:\n        name: corp-ca\n        key: ca.pem\n",
            Renders(|r| {
                let tls = &r.one("ServiceMonitor")["spec"]["endpoints"][0]["tlsConfig"];
                assert_eq!(tls["ca"]["configMap"]["name"], "corp-ca", "{tls}");
                assert!(tls.get("cert").is_none() && tls.get("serverName").is_none(), "{tls}");
            }),
        ),
    ]
}

/// Checks every rendered object keeps its values' types: names, labels, annotations, env values,
/// node selectors and StorageClass names are strings, the StatefulSet's selector matches its
/// pods, and every Ingress has rules.
fn assert_types_kept(r: &Rendered) {
    fn strings(what: &str, map: &Value) {
        for (k, v) in map.as_object().into_iter().flatten() {
            assert!(v.is_string(), "{what} {k}: {v} is not a string");
        }
    }
    for o in &r.objects {
        let kind = o["kind"].as_str().unwrap_or("?");
        assert!(
            o["metadata"]["name"].is_string(),
            "{kind} name: {}",
            o["metadata"]["name"]
        );
        strings(&format!("{kind} label"), &o["metadata"]["labels"]);
        strings(&format!("{kind} annotation"), &o["metadata"]["annotations"]);
    }
    let sts = r.one("StatefulSet");
    let pod = &sts["spec"]["template"];
    strings("pod label", &pod["metadata"]["labels"]);
    strings("pod annotation", &pod["metadata"]["annotations"]);
    strings("nodeSelector", &pod["spec"]["nodeSelector"]);
    for (k, v) in sts["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &pod["metadata"]["labels"][k], v,
            "the selector's {k} matches the pods"
        );
    }
    for e in r.container()["env"].as_array().unwrap() {
        assert!(
            e["value"].is_string() || e["valueFrom"].is_object(),
            "env {}: {} is not a string",
            e["name"],
            e["value"]
        );
    }
    for pvc in sts["spec"]["volumeClaimTemplates"].as_array().unwrap() {
        strings("PVC annotation", &pvc["metadata"]["annotations"]);
        let class = &pvc["spec"]["storageClassName"];
        assert!(
            class.is_null() || class.is_string(),
            "storageClassName {class}"
        );
    }
    for ing in r.kind("Ingress") {
        let rules = ing["spec"]["rules"].as_array();
        assert!(
            rules.is_some_and(|r| !r.is_empty()),
            "{} has no rules: {}",
            ing["metadata"]["name"],
            ing["spec"]
        );
    }
}

/// Copies the chart without values.schema.json: what Helm renders with `--skip-schema-validation`.
fn chart_without_schema(into: &std::path::Path) -> std::path::PathBuf {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let dest = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &dest);
            } else if path.file_name().is_some_and(|n| n != "values.schema.json") {
                std::fs::copy(&path, &dest).unwrap();
            }
        }
    }
    let chart = into.join("akidb");
    copy(&workspace().join("helm/akidb"), &chart);
    chart
}

fn run_case(case: &Case, file: &str, unchecked_chart: &str) {
    match case.outcome {
        Outcome::Renders(check) => {
            let out = lint(&[file], &[]);
            assert!(out.status.success(), "helm lint --strict: {}", text(&out));
            let r = render(&[file]);
            assert_types_kept(&r);
            check(&r);
        }
        Outcome::Fails(needles) | Outcome::FailsToRender(needles) => {
            let mut outputs = vec![(
                "helm template",
                helm_tool(&["template", "helm/akidb", "-f", file]),
            )];
            if matches!(case.outcome, Outcome::Fails(_)) {
                outputs.push(("helm lint --strict", lint(&[file], &[])));
            }
            for (what, out) in outputs {
                assert!(!out.status.success(), "{what} must fail: {}", text(&out));
                for n in needles {
                    assert!(
                        text(&out).contains(n),
                        "{what} should name {n}: {}",
                        text(&out)
                    );
                }
            }
        }
    }
    if !case.without_schema.is_empty() {
        let out = helm_tool(&["template", unchecked_chart, "-f", file]);
        assert!(
            !out.status.success(),
            "the templates must refuse it without the schema: {}",
            text(&out)
        );
        for n in case.without_schema {
            assert!(
                text(&out).contains(n),
                "the templates' message should say {n}: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn edge_case_values_render_valid_manifests_or_fail_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let unchecked = chart_without_schema(dir.path());
    let unchecked = unchecked.to_str().unwrap();
    let cases = edge_cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case-{i:02}.yaml"));
        std::fs::write(&file, case.values).unwrap();
        let file = file.to_str().unwrap();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_case(case, file, unchecked)
        }));
        if let Err(panic) = run {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("[{i:02}] {}:\n{msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} chart cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn assert_common(r: &Rendered) {
    let sts = r.one("StatefulSet");
    let pod = &sts["spec"]["template"]["spec"];
    let c = r.container();

    // Probes: liveness /health, readiness /ready, startup probe long enough for WAL replay.
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http");
    let sp = &c["startupProbe"];
    assert_eq!(sp["httpGet"]["path"], "/health");
    let budget = sp["periodSeconds"].as_u64().unwrap() * sp["failureThreshold"].as_u64().unwrap();
    assert!(
        budget >= 600,
        "startup probe allows only {budget} s of recovery"
    );

    // The data volume is mounted at exactly AKIDB_DATA_DIR, from the volumeClaimTemplate.
    let data_dir = r.env("AKIDB_DATA_DIR").expect("AKIDB_DATA_DIR")["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "data")
        .expect("data mount");
    assert_eq!(mount["mountPath"], data_dir.as_str());
    assert!(mount["readOnly"].is_null() || mount["readOnly"] == false);
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
    assert!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
            .is_string()
    );
    assert_eq!(
        r.env("AKIDB_CONFIG").unwrap()["value"],
        "/etc/akidb/config.toml"
    );
    let cfg_mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "config")
        .unwrap();
    assert_eq!(cfg_mount["mountPath"], "/etc/akidb");
    assert!(r.one("ConfigMap")["data"]["config.toml"].is_string());

    // Security context.
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 1000);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["fsGroup"], 1000);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(pod["enableServiceLinks"], false);
    assert!(
        pod["affinity"]["podAntiAffinity"].is_object(),
        "anti-affinity"
    );
    assert!(c["resources"]["requests"]["memory"].is_string());

    // Rolling restarts on config/secret change.
    let ann = &sts["spec"]["template"]["metadata"]["annotations"];
    for key in ["checksum/config", "checksum/secret"] {
        assert_eq!(
            ann[key].as_str().map(|s| s.len()),
            Some(64),
            "{key} is a sha256"
        );
    }

    // Ports and Services: client + headless, REST 8080 and gRPC 9090.
    let ports: Vec<u64> = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, vec![8080, 9090]);
    let services = r.kind("Service");
    assert_eq!(services.len(), 2);
    assert!(
        services.iter().any(|s| s["spec"]["clusterIP"] == "None"),
        "headless Service"
    );
    for s in services {
        let p: Vec<u64> = s["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        assert_eq!(p, vec![8080, 9090]);
    }
    assert_eq!(
        r.one("ServiceAccount")["metadata"]["name"],
        pod["serviceAccountName"]
    );
    assert_eq!(r.one("PodDisruptionBudget")["spec"]["maxUnavailable"], 1);

    // Every AKIDB_* variable the chart sets is one the server reads.
    let (known, source) = ops_support::known_env_names();
    for e in c["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        assert!(
            name.starts_with("AKIDB_"),
            "{name} is not an AKIDB_ variable"
        );
        assert!(
            known.iter().any(|k| k == name),
            "{name} is not read by the server (known from {source}: {known:?})"
        );
    }
    assert!(
        r.notes.contains("cargo xtask smoke --url"),
        "NOTES: {}",
        r.notes
    );
}

#[test]
fn default_values_render_valid_manifests() {
    let r = render(&[]);
    assert_common(&r);
    assert_eq!(r.env("AKIDB_S3_ENABLED").unwrap()["value"], "false");
    assert!(r.env("AKIDB_S3_BUCKET").is_none());
    for name in REPLICATION_ENV {
        assert!(r.env(name).is_none(), "{name} without S3");
    }
    assert!(r.env("AKIDB_API_KEY").is_none(), "no auth by default");
    assert!(
        r.kind("Secret").is_empty()
            && r.kind("Ingress").is_empty()
            && r.kind("HorizontalPodAutoscaler").is_empty()
    );
    assert!(r.kind("ServiceMonitor").is_empty());
    assert_eq!(r.one("StatefulSet")["spec"]["replicas"], 1);
    assert!(r.notes.contains("WARNING: no API key"));
    let chart = std::fs::read_to_string(workspace().join("helm/akidb/Chart.yaml")).unwrap();
    let image = r.container()["image"].as_str().unwrap();
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion:"))
        .unwrap()
        .trim()
        .trim_matches('"');
    assert!(
        image.ends_with(&format!(":{app_version}")),
        "image {image} tagged with appVersion {app_version}"
    );
}

#[test]
fn s3_ingress_autoscaling_values_render_valid_manifests() {
    let r = render(&[FULL]);
    assert_common(&r);
    assert_eq!(r.env("AKIDB_S3_ENABLED").unwrap()["value"], "true");
    assert_eq!(r.env("AKIDB_S3_BUCKET").unwrap()["value"], "akidb-cold");
    assert_eq!(r.env("AKIDB_S3_PATH_STYLE").unwrap()["value"], "true");
    assert_replication_env(
        &r,
        "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:8080",
        "http://$(AKIDB_NODE_ID).akidb-headless.vectors.svc.cluster.local:9090",
        "local",
        "2s",
    );
    assert_eq!(
        r.env("AKIDB_OTLP_ENDPOINT").unwrap()["value"],
        "http://otel-collector.observability.svc:4318"
    );
    for (var, key) in [
        ("AKIDB_S3_ACCESS_KEY_ID", "access-key-id"),
        ("AKIDB_S3_SECRET_ACCESS_KEY", "secret-access-key"),
        ("AKIDB_API_KEY", "api-key"),
        ("AKIDB_READ_ONLY_API_KEY", "read-only-api-key"),
    ] {
        let e = r.env(var).unwrap_or_else(|| panic!("{var}"));
        assert_eq!(e["valueFrom"]["secretKeyRef"]["key"], key);
        assert_eq!(e["valueFrom"]["secretKeyRef"]["name"], "akidb");
        assert!(r.one("Secret")["data"][key].is_string(), "secret has {key}");
    }
    // Secrets never appear as plain env values.
    assert!(!serde_json::to_string(r.container())
        .unwrap()
        .contains("akidb-secret"));

    let hpa = r.one("HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "StatefulSet");
    let targets: Vec<(String, u64)> = hpa["spec"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["resource"]["name"].as_str().unwrap().to_string(),
                m["resource"]["target"]["averageUtilization"]
                    .as_u64()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        vec![("cpu".to_string(), 70), ("memory".to_string(), 80)]
    );
    assert!(
        r.one("StatefulSet")["spec"]["replicas"].is_null(),
        "the HPA owns replicas"
    );

    let ingresses = r.kind("Ingress");
    assert_eq!(ingresses.len(), 2, "REST and gRPC ingresses");
    let rest = ingresses
        .iter()
        .find(|i| i["metadata"]["name"] == "akidb")
        .unwrap();
    let grpc = ingresses
        .iter()
        .find(|i| i["metadata"]["name"] == "akidb-grpc")
        .unwrap();
    let backend = |i: &Value| {
        i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"].clone()
    };
    assert_eq!(backend(rest), "http");
    assert_eq!(backend(grpc), "grpc");
    assert_eq!(
        grpc["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"],
        "GRPC"
    );

    let sm = r.one("ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http");
    // The ServiceMonitor matches the client Service only, so each pod is scraped once.
    let matching: Vec<_> = r
        .kind("Service")
        .into_iter()
        .filter(|s| {
            sm["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &s["metadata"]["labels"][k] == v)
        })
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "ServiceMonitor matches {} Services",
        matching.len()
    );
    assert_eq!(
        r.one("StatefulSet")["spec"]["template"]["metadata"]["labels"]["akidb.io/color"],
        "blue"
    );
}

#[test]
fn existing_secrets_are_referenced_not_created() {
    let r = render(&[EXISTING]);
    assert_common(&r);
    assert!(r.kind("Secret").is_empty());
    assert_eq!(
        r.env("AKIDB_S3_ACCESS_KEY_ID").unwrap()["valueFrom"]["secretKeyRef"]["name"],
        "akidb-s3"
    );
    assert_eq!(
        r.env("AKIDB_API_KEY").unwrap()["valueFrom"]["secretKeyRef"]["name"],
        "akidb-auth"
    );
    assert!(r.env("AKIDB_S3_ENDPOINT").is_none(), "AWS default endpoint");
}

#[test]
fn package_produces_a_versioned_archive() {
    let dir = tempfile::tempdir().unwrap();
    let out = helm_tool(&[
        "package",
        "helm/akidb",
        "--destination",
        dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let chart = std::fs::read_to_string(workspace().join("helm/akidb/Chart.yaml")).unwrap();
    let version = chart
        .lines()
        .find_map(|l| l.strip_prefix("version:"))
        .unwrap()
        .trim();
    let archive = dir.path().join(format!("akidb-{version}.tgz"));
    assert!(archive.is_file(), "{}", text(&out));
    // The package excludes the test values (see .helmignore).
    let listing = Command::new("tar")
        .arg("tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listing.stdout);
    assert!(
        names.contains("akidb/values.schema.json")
            && names.contains("akidb/templates/statefulset.yaml"),
        "{names}"
    );
    assert!(!names.contains("akidb/ci/"), "{names}");
}

#[test]
fn push_and_pull_round_trip_through_a_real_registry() {
    let bin = std::env::var_os("AKIDB_TEST_REGISTRY_BIN")
        .expect("AKIDB_TEST_REGISTRY_BIN is not set: run the tests through `cargo xtask test` (Debian docker-registry)");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.path().join("cfg.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut registry = Command::new(bin)
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "registry did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pkg = dir.path().join("pkg");
    let out = helm_tool(&[
        "package",
        "helm/akidb",
        "--destination",
        pkg.to_str().unwrap(),
        "--version",
        "2.0.0-test.1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = pkg.join("akidb-2.0.0-test.1.tgz");
    let remote = format!("oci://127.0.0.1:{port}/charts");
    let out = helm_tool(&["push", archive.to_str().unwrap(), &remote, "--plain-http"]);
    assert!(out.status.success(), "push: {}", text(&out));
    let pulled = dir.path().join("pulled");
    let out = helm_tool(&[
        "pull",
        &format!("{remote}/akidb"),
        "--version",
        "2.0.0-test.1",
        "--destination",
        pulled.to_str().unwrap(),
        "--plain-http",
    ]);
    let missing = helm_tool(&[
        "pull",
        &format!("{remote}/akidb"),
        "--version",
        "9.9.9",
        "--destination",
        pulled.to_str().unwrap(),
        "--plain-http",
    ]);
    let _ = registry.kill();
    let _ = registry.wait();
    assert!(out.status.success(), "pull: {}", text(&out));
    assert_eq!(
        std::fs::read(pulled.join("akidb-2.0.0-test.1.tgz")).unwrap(),
        std::fs::read(&archive).unwrap(),
        "same bytes back"
    );
    assert!(
        !missing.status.success(),
        "pulling an absent version fails: {}",
        text(&missing)
    );
}

fn base64_decode(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let (mut bits, mut n, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Runs `akidb --check-config` with exactly the env and config.toml the chart renders.
fn check_config(r: &Rendered) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        r.one("ConfigMap")["data"]["config.toml"].as_str().unwrap(),
    )
    .unwrap();
    let secret = r
        .kind("Secret")
        .first()
        .map(|s| s["data"].clone())
        .unwrap_or_default();
    let mut cmd = Command::new(ops_support::server_bin());
    cmd.env_clear().arg("--check-config");
    // As the kubelet would: the first pod's name and namespace for `fieldRef`, and `$(NAME)`
    // expanded from the variables listed before.
    let pod_name = format!(
        "{}-0",
        r.one("StatefulSet")["metadata"]["name"].as_str().unwrap()
    );
    let mut resolved: Vec<(String, String)> = Vec::new();
    for e in r.container()["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = if let Some(v) = e["value"].as_str() {
            expand_env_refs(v, &resolved)
        } else if let Some(field) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            match field {
                "metadata.name" => pod_name.clone(),
                "metadata.namespace" => "vectors".to_string(),
                other => panic!("{name}: fieldRef {other} is not emulated here"),
            }
        } else {
            let key = e["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap();
            secret[key]
                .as_str()
                .map(base64_decode)
                .unwrap_or_else(|| format!("from-existing-secret-{key}"))
        };
        // The file is mounted at /etc/akidb in the pod; here it lives in a temp dir.
        let value = if name == "AKIDB_CONFIG" {
            cfg.to_str().unwrap().to_string()
        } else {
            value
        };
        cmd.env(name, &value);
        resolved.push((name.to_string(), value));
    }
    cmd.output().unwrap()
}

/// Kubernetes' dependent variables: `$(NAME)` becomes the value of an earlier variable `NAME`,
/// `$$` is a literal `$`, anything else stays as written.
fn expand_env_refs(value: &str, earlier: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some((name, after)) = rest
            .strip_prefix("$(")
            .and_then(|r| r.split_once(')'))
            .filter(|(n, _)| earlier.iter().any(|(k, _)| k == n))
        {
            let v = &earlier.iter().rev().find(|(k, _)| k == name).unwrap().1;
            out.push_str(v);
            rest = after;
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn the_server_accepts_the_rendered_env_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let replicated = dir.path().join("replicated.yaml");
    std::fs::write(
        &replicated,
        "replicaCount: 3\ns3:\n  enabled: true\n  bucket: akidb-cold\nreplication:\n  \
         ack: object_store\n  readyMaxLag: 5s\n",
    )
    .unwrap();
    let replicated = replicated.to_str().unwrap();
    for values in [&[][..], &[FULL][..], &[EXISTING][..], &[replicated][..]] {
        let r = render(values);
        let out = check_config(&r);
        let all = text(&out);
        assert!(
            out.status.success(),
            "akidb --check-config rejects the chart's settings for {values:?}: {all}"
        );
        assert!(!all.to_lowercase().contains("unknown"), "{values:?}: {all}");
    }
    // Extra TOML from `config` reaches the server, and a wrong key is caught by it.
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "config: |\n  [storage]\n  wal_sync = \"always\"\n").unwrap();
    let out = check_config(&render(&[good.to_str().unwrap()]));
    assert!(out.status.success(), "{}", text(&out));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "config: |\n  [storage]\n  wal_sink = \"always\"\n").unwrap();
    let out = check_config(&render(&[bad.to_str().unwrap()]));
    assert!(
        !out.status.success(),
        "an unknown key must stop the server: {}",
        text(&out)
    );
}
