//! The one small trait through which `cargo xtask deploy` and `cargo xtask chaos --k8s` touch
//! Kubernetes, and its real implementation running `kubectl` and `helm` through duct.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A Service selector (label → value).
pub type Selector = BTreeMap<String, String>;

/// A local URL forwarded to a Service; dropping it stops the forward.
pub struct Forward {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Option<duct::Handle>,
    _log: Option<tempfile::TempPath>,
}

impl Forward {
    /// A forward with nothing to stop (fakes, or an already reachable URL).
    // Only the scripted cluster of xtask/tests builds one; the binary always port-forwards.
    #[allow(dead_code)]
    pub fn fixed(url: impl Into<String>) -> Forward {
        Forward {
            url: url.into(),
            child: None,
            _log: None,
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = child.kill();
        }
    }
}

/// Every kubectl/helm operation the deploy and chaos commands need.
pub trait Cluster {
    /// Checks that kubectl and helm run and the namespace is reachable.
    fn preflight(&mut self, namespace: &str) -> Result<()>;
    /// Selector of a Service, `None` when the Service does not exist.
    fn service_selector(&mut self, namespace: &str, service: &str) -> Result<Option<Selector>>;
    /// Creates or updates the ClusterIP Service `service` (REST 8080, gRPC 9090) with `selector`.
    fn apply_service(&mut self, namespace: &str, service: &str, selector: &Selector) -> Result<()>;
    /// Whether a Helm release exists.
    fn release_exists(&mut self, namespace: &str, release: &str) -> Result<bool>;
    /// `helm upgrade --install` of `chart` as `release` with `--set` pairs and values files.
    fn helm_install(
        &mut self,
        namespace: &str,
        release: &str,
        chart: &str,
        version: &str,
        sets: &[(String, String)],
        values: &[String],
    ) -> Result<()>;
    /// `helm uninstall` (waits for the objects to go).
    fn helm_uninstall(&mut self, namespace: &str, release: &str) -> Result<()>;
    /// Waits until the StatefulSet's pods are all ready, at most `timeout`.
    fn wait_ready(&mut self, namespace: &str, statefulset: &str, timeout: Duration) -> Result<()>;
    /// Forwards a local port to `port` of `service`.
    fn port_forward(&mut self, namespace: &str, service: &str, port: u16) -> Result<Forward>;
    /// Deletes the pods matching `selector` (`force` = grace period 0, like a node loss).
    fn delete_pods(&mut self, namespace: &str, selector: &str, force: bool) -> Result<()>;
    /// `kubectl apply` of one JSON/YAML manifest.
    fn apply_manifest(&mut self, namespace: &str, manifest: &str) -> Result<()>;
    /// `kubectl delete <kind> <name> --ignore-not-found`.
    fn delete_object(&mut self, namespace: &str, kind: &str, name: &str) -> Result<()>;
    /// Sets container `akidb`'s resource limits (e.g. `cpu=250m`), which rolls the pods.
    fn set_limits(&mut self, namespace: &str, statefulset: &str, limits: &str) -> Result<()>;
    /// Returns the StatefulSet to its previous revision (`kubectl rollout undo`).
    fn rollout_undo(&mut self, namespace: &str, statefulset: &str) -> Result<()>;
    /// Sleeps (the fake cluster skips the wait).
    fn sleep(&mut self, duration: Duration);
}

/// The real cluster: `kubectl` and `helm` on PATH, current kube context.
#[derive(Default)]
pub struct KubectlCluster {
    /// Extra `--context` for kubectl and `--kube-context` for helm.
    pub context: Option<String>,
}

fn command_line(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        if a.is_empty() || a.contains(char::is_whitespace) || a.contains('"') {
            s.push_str(&format!(" {a:?}"));
        } else {
            s.push(' ');
            s.push_str(a);
        }
    }
    s
}

impl KubectlCluster {
    fn kubectl_args(&self, namespace: &str, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(c) = &self.context {
            v.extend(["--context".to_string(), c.clone()]);
        }
        if !namespace.is_empty() {
            v.extend(["--namespace".to_string(), namespace.to_string()]);
        }
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    fn helm_args(&self, namespace: &str, args: &[String]) -> Vec<String> {
        let mut v: Vec<String> = args.to_vec();
        if let Some(c) = &self.context {
            v.extend(["--kube-context".to_string(), c.clone()]);
        }
        v.extend(["--namespace".to_string(), namespace.to_string()]);
        v
    }

    /// Runs a command, returns stdout; on failure the error carries the full command line and stderr.
    fn exec(program: &str, args: Vec<String>, stdin: Option<&str>) -> Result<String> {
        let line = command_line(program, &args);
        let mut expr = duct::cmd(program, &args)
            .stdout_capture()
            .stderr_capture()
            .unchecked();
        if let Some(input) = stdin {
            expr = expr.stdin_bytes(input.as_bytes().to_vec());
        }
        let out = expr
            .run()
            .with_context(|| format!("could not run `{line}` (is {program} installed?)"))?;
        if !out.status.success() {
            bail!(
                "`{line}` failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The Service manifest `apply_service` sends (also used by the fake cluster's tests).
pub fn service_manifest(namespace: &str, service: &str, selector: &Selector) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "namespace": namespace,
                      "labels": {"app.kubernetes.io/name": "akidb", "app.kubernetes.io/managed-by": "cargo-xtask-deploy"}},
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [
            {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
            {"name": "grpc", "port": 9090, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}]}
    })
}

impl Cluster for KubectlCluster {
    fn preflight(&mut self, namespace: &str) -> Result<()> {
        Self::exec("kubectl", vec!["version".into(), "--client".into()], None)?;
        Self::exec("helm", vec!["version".into(), "--short".into()], None)?;
        Self::exec(
            "kubectl",
            self.kubectl_args("", &["get", "namespace", namespace, "-o", "name"]),
            None,
        )
        .with_context(|| {
            format!("the cluster is unreachable or namespace {namespace} does not exist")
        })?;
        Ok(())
    }

    fn service_selector(&mut self, namespace: &str, service: &str) -> Result<Option<Selector>> {
        let out = Self::exec(
            "kubectl",
            self.kubectl_args(
                namespace,
                &[
                    "get",
                    "service",
                    service,
                    "--ignore-not-found",
                    "-o",
                    "json",
                ],
            ),
            None,
        )?;
        if out.trim().is_empty() {
            return Ok(None);
        }
        let v: Value =
            serde_json::from_str(&out).context("kubectl get service answered non-JSON")?;
        let mut sel = Selector::new();
        if let Some(m) = v["spec"]["selector"].as_object() {
            for (k, val) in m {
                sel.insert(k.clone(), val.as_str().unwrap_or_default().to_string());
            }
        }
        Ok(Some(sel))
    }

    fn apply_service(&mut self, namespace: &str, service: &str, selector: &Selector) -> Result<()> {
        let manifest = service_manifest(namespace, service, selector).to_string();
        Self::exec(
            "kubectl",
            self.kubectl_args(namespace, &["apply", "-f", "-"]),
            Some(&manifest),
        )?;
        Ok(())
    }

    fn release_exists(&mut self, namespace: &str, release: &str) -> Result<bool> {
        let out = Self::exec(
            "helm",
            self.helm_args(
                namespace,
                &[
                    "list".into(),
                    "--all".into(),
                    "-q".into(),
                    "--filter".into(),
                    format!("^{release}$"),
                ],
            ),
            None,
        )?;
        Ok(out.lines().any(|l| l.trim() == release))
    }

    fn helm_install(
        &mut self,
        namespace: &str,
        release: &str,
        chart: &str,
        version: &str,
        sets: &[(String, String)],
        values: &[String],
    ) -> Result<()> {
        let mut args: Vec<String> = vec![
            "upgrade".into(),
            "--install".into(),
            release.into(),
            chart.into(),
        ];
        // A chart directory has exactly one version; registries and repos need it spelled out.
        if !std::path::Path::new(chart).exists() {
            args.extend(["--version".into(), version.into()]);
        }
        for f in values {
            args.extend(["--values".into(), f.clone()]);
        }
        for (k, v) in sets {
            args.extend(["--set-string".into(), format!("{k}={v}")]);
        }
        Self::exec("helm", self.helm_args(namespace, &args), None)?;
        Ok(())
    }

    fn helm_uninstall(&mut self, namespace: &str, release: &str) -> Result<()> {
        Self::exec(
            "helm",
            self.helm_args(
                namespace,
                &["uninstall".into(), release.into(), "--wait".into()],
            ),
            None,
        )?;
        Ok(())
    }

    fn wait_ready(&mut self, namespace: &str, statefulset: &str, timeout: Duration) -> Result<()> {
        let t = format!("--timeout={}s", timeout.as_secs().max(1));
        Self::exec(
            "kubectl",
            self.kubectl_args(
                namespace,
                &[
                    "rollout",
                    "status",
                    &format!("statefulset/{statefulset}"),
                    &t,
                ],
            ),
            None,
        )?;
        Ok(())
    }

    fn port_forward(&mut self, namespace: &str, service: &str, port: u16) -> Result<Forward> {
        let args = self.kubectl_args(
            namespace,
            &[
                "port-forward",
                &format!("service/{service}"),
                &format!(":{port}"),
            ],
        );
        let line = command_line("kubectl", &args);
        // kubectl's output goes to a file: a pipe nobody drains would eventually block it.
        let log = tempfile::NamedTempFile::new()?.into_temp_path();
        let child = duct::cmd("kubectl", &args)
            .stdout_path(&log)
            .stderr_to_stdout()
            .unchecked()
            .start()
            .with_context(|| format!("could not start `{line}`"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            // "Forwarding from 127.0.0.1:PORT -> 8080" once the listener is up.
            if let Some(rest) = text
                .lines()
                .find_map(|l| l.strip_prefix("Forwarding from 127.0.0.1:"))
            {
                let local = rest.split_whitespace().next().unwrap_or("").to_string();
                return Ok(Forward {
                    url: format!("http://127.0.0.1:{local}"),
                    child: Some(child),
                    _log: Some(log),
                });
            }
            if child.try_wait()?.is_some() || std::time::Instant::now() > deadline {
                let _ = child.kill();
                bail!("`{line}` did not report a local port: {}", text.trim());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn delete_pods(&mut self, namespace: &str, selector: &str, force: bool) -> Result<()> {
        let mut args = vec!["delete", "pod", "-l", selector, "--wait=false"];
        if force {
            args.extend(["--grace-period=0", "--force"]);
        }
        Self::exec("kubectl", self.kubectl_args(namespace, &args), None)?;
        Ok(())
    }

    fn apply_manifest(&mut self, namespace: &str, manifest: &str) -> Result<()> {
        Self::exec(
            "kubectl",
            self.kubectl_args(namespace, &["apply", "-f", "-"]),
            Some(manifest),
        )?;
        Ok(())
    }

    fn delete_object(&mut self, namespace: &str, kind: &str, name: &str) -> Result<()> {
        Self::exec(
            "kubectl",
            self.kubectl_args(namespace, &["delete", kind, name, "--ignore-not-found"]),
            None,
        )?;
        Ok(())
    }

    fn set_limits(&mut self, namespace: &str, statefulset: &str, limits: &str) -> Result<()> {
        let target = format!("statefulset/{statefulset}");
        let l = format!("--limits={limits}");
        Self::exec(
            "kubectl",
            self.kubectl_args(namespace, &["set", "resources", &target, "-c", "akidb", &l]),
            None,
        )?;
        Ok(())
    }

    fn rollout_undo(&mut self, namespace: &str, statefulset: &str) -> Result<()> {
        let target = format!("statefulset/{statefulset}");
        Self::exec(
            "kubectl",
            self.kubectl_args(namespace, &["rollout", "undo", &target]),
            None,
        )?;
        Ok(())
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}
