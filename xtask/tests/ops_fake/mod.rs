//! A scripted Kubernetes cluster for the deploy and chaos tests: it records every kubectl/helm
//! call, keeps Services and Helm releases in memory, and forwards "ports" to a test HTTP server.

#![allow(dead_code)]

use crate::deploy;
use crate::deploy::cluster::{Cluster, Forward, Selector};
use crate::ops_support::http::FakeServer;
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A scripted cluster: Services, Helm releases, readiness and the pod's HTTP server.
pub struct FakeCluster {
    pub calls: Vec<String>,
    pub services: BTreeMap<String, Selector>,
    pub releases: BTreeSet<String>,
    pub ready_fails: bool,
    pub pod: FakeServer,
    /// Metrics the pod serves once the observation window has passed.
    pub metrics_after_window: Option<String>,
    pub slept: Vec<Duration>,
}

impl FakeCluster {
    pub fn new(pod: FakeServer) -> FakeCluster {
        FakeCluster {
            calls: Vec::new(),
            services: BTreeMap::new(),
            releases: BTreeSet::new(),
            ready_fails: false,
            pod,
            metrics_after_window: None,
            slept: Vec::new(),
        }
    }

    /// A cluster where blue is installed and live.
    pub fn with_blue_live(pod: FakeServer) -> FakeCluster {
        let mut c = FakeCluster::new(pod);
        c.releases.insert("akidb-blue".into());
        c.services.insert("akidb".into(), selector("blue"));
        c
    }

    pub fn live(&self) -> Option<String> {
        self.services
            .get("akidb")
            .and_then(|s| s.get("akidb.io/color").cloned())
    }
}

pub fn selector(colour: &str) -> Selector {
    let mut s = Selector::new();
    s.insert("app.kubernetes.io/name".into(), "akidb".into());
    s.insert("akidb.io/color".into(), colour.into());
    s
}

impl Cluster for FakeCluster {
    fn preflight(&mut self, namespace: &str) -> Result<()> {
        self.calls.push(format!("preflight {namespace}"));
        Ok(())
    }
    fn service_selector(&mut self, namespace: &str, service: &str) -> Result<Option<Selector>> {
        self.calls
            .push(format!("kubectl -n {namespace} get service {service}"));
        Ok(self.services.get(service).cloned())
    }
    fn apply_service(&mut self, namespace: &str, service: &str, selector: &Selector) -> Result<()> {
        let manifest = deploy::cluster::service_manifest(namespace, service, selector);
        assert_eq!(manifest["spec"]["ports"][0]["port"], 8080);
        self.calls.push(format!(
            "kubectl -n {namespace} apply service {service} color={}",
            selector["akidb.io/color"]
        ));
        self.services.insert(service.into(), selector.clone());
        Ok(())
    }
    fn release_exists(&mut self, namespace: &str, release: &str) -> Result<bool> {
        self.calls
            .push(format!("helm -n {namespace} list {release}"));
        Ok(self.releases.contains(release))
    }
    fn helm_install(
        &mut self,
        namespace: &str,
        release: &str,
        chart: &str,
        version: &str,
        sets: &[(String, String)],
        _values: &[String],
    ) -> Result<()> {
        let sets: Vec<String> = sets.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.calls.push(format!(
            "helm -n {namespace} upgrade --install {release} {chart} {version} {}",
            sets.join(" ")
        ));
        self.releases.insert(release.into());
        Ok(())
    }
    fn helm_uninstall(&mut self, namespace: &str, release: &str) -> Result<()> {
        self.calls
            .push(format!("helm -n {namespace} uninstall {release}"));
        if !self.releases.remove(release) {
            bail!("release {release} not found");
        }
        Ok(())
    }
    fn wait_ready(&mut self, namespace: &str, statefulset: &str, timeout: Duration) -> Result<()> {
        self.calls.push(format!(
            "kubectl -n {namespace} rollout status statefulset/{statefulset} {}s",
            timeout.as_secs()
        ));
        if self.ready_fails {
            bail!("statefulset/{statefulset}: timed out waiting for the condition");
        }
        Ok(())
    }
    fn port_forward(&mut self, namespace: &str, service: &str, port: u16) -> Result<Forward> {
        self.calls.push(format!(
            "kubectl -n {namespace} port-forward service/{service} :{port}"
        ));
        Ok(Forward::fixed(self.pod.url.clone()))
    }
    fn delete_pods(&mut self, namespace: &str, selector: &str, force: bool) -> Result<()> {
        self.calls.push(format!(
            "kubectl -n {namespace} delete pod -l {selector} force={force}"
        ));
        Ok(())
    }
    fn apply_manifest(&mut self, namespace: &str, manifest: &str) -> Result<()> {
        let v: serde_json::Value = serde_json::from_str(manifest)?;
        self.calls.push(format!(
            "kubectl -n {namespace} apply {} {}",
            v["kind"].as_str().unwrap_or("?"),
            v["metadata"]["name"].as_str().unwrap_or("?")
        ));
        if v["kind"] == "NetworkPolicy" {
            // S3 unreachable: the pod's breaker opens and uploads go to the DLQ.
            self.pod
                .set_metrics("akidb_circuit_breaker_state 1\nakidb_dlq_size 3\n");
        }
        Ok(())
    }
    fn delete_object(&mut self, namespace: &str, kind: &str, name: &str) -> Result<()> {
        self.calls
            .push(format!("kubectl -n {namespace} delete {kind} {name}"));
        if kind == "service" {
            self.services.remove(name);
        }
        if kind == "networkpolicy" {
            self.pod
                .set_metrics("akidb_circuit_breaker_state 0\nakidb_dlq_size 0\n");
        }
        Ok(())
    }
    fn set_limits(&mut self, namespace: &str, statefulset: &str, limits: &str) -> Result<()> {
        self.calls.push(format!(
            "kubectl -n {namespace} set resources statefulset/{statefulset} --limits={limits}"
        ));
        Ok(())
    }
    fn rollout_undo(&mut self, namespace: &str, statefulset: &str) -> Result<()> {
        self.calls.push(format!(
            "kubectl -n {namespace} rollout undo statefulset/{statefulset}"
        ));
        Ok(())
    }
    fn sleep(&mut self, duration: Duration) {
        self.slept.push(duration);
        if duration == Duration::from_secs(120) {
            if let Some(m) = self.metrics_after_window.take() {
                self.pod.set_metrics(&m);
            }
        }
    }
}
