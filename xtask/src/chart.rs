//! `cargo xtask chart`: package the Helm chart exactly like `helm package` lays it out
//! (top folder = chart name, `.helmignore` honoured, Chart.yaml then values.yaml then
//! templates then the rest), with reproducible bytes, an `index.yaml` entry carrying its
//! digest, and a push as an OCI artifact with Helm's media types.

use crate::release::oci::{self, Blob, Pusher, Registry};
use crate::release::util::{self, rfc3339};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `cargo xtask chart`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Chart directory (default: `helm/akidb` in the workspace).
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Output directory (default: `target/chart`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Push to this registry (`HOST[:PORT][/NAMESPACE]`, chart goes to `…/charts/<name>`).
    #[arg(long, env = "AKIDB_REGISTRY")]
    pub registry: Option<String>,
    /// Use plain http for a non-loopback registry.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Workspace root (default: this repository).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
}

/// Runs `cargo xtask chart`.
pub fn run(args: Args) -> Result<()> {
    let root = util::workspace_root(args.workspace.as_deref())?;
    let chart = args.chart.unwrap_or_else(|| root.join("helm/akidb"));
    let out = args.out.unwrap_or_else(|| root.join("target/chart"));
    let epoch = crate::image::source_date_epoch(&root)?;
    let pkg = package(&chart, &out, epoch)?;
    println!("{}\tsha256:{}", pkg.tgz_path.display(), pkg.digest);
    println!("{}", out.join("index.yaml").display());
    if let Some(reg) = args.registry {
        let reg = Registry::parse(&reg, args.insecure_registry)?;
        let r = util::runtime()?.block_on(push(&pkg, &reg))?;
        println!("pushed\t{}", r["ref"].as_str().unwrap_or(""));
    }
    Ok(())
}

/// A packaged chart.
#[derive(Debug, Clone)]
pub struct ChartPackage {
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// Top-level Chart.yaml scalars, in file order.
    pub metadata: Vec<(String, String)>,
    /// `<out>/<name>-<version>.tgz`.
    pub tgz_path: PathBuf,
    /// The archive bytes.
    pub tgz: Vec<u8>,
    /// Hex SHA-256 of the archive (index.yaml `digest`).
    pub digest: String,
    /// SOURCE_DATE_EPOCH used for mtimes and `created`.
    pub epoch: i64,
}

impl ChartPackage {
    fn get(&self, k: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// Top-level scalar `key: value` pairs of Chart.yaml (quotes removed).
pub fn chart_metadata(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let v = v.split(" #").next().unwrap_or("").trim();
            if v.is_empty() || v == "|" || v == ">" {
                return None;
            }
            let v = v.trim_matches('"').trim_matches('\'');
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Packages `chart_dir` into `<out>/<name>-<version>.tgz` and writes `<out>/index.yaml`.
pub fn package(chart_dir: &Path, out: &Path, epoch: i64) -> Result<ChartPackage> {
    let chart_yaml = util::read(&chart_dir.join("Chart.yaml"))
        .with_context(|| format!("{} is not a Helm chart", chart_dir.display()))?;
    let metadata = chart_metadata(&chart_yaml);
    let get = |k: &str| {
        metadata
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
    };
    let name = get("name").context("Chart.yaml has no name")?;
    let version = get("version").context("Chart.yaml has no version")?;
    semver::Version::parse(&version)
        .with_context(|| format!("Chart.yaml version {version:?} is not semver"))?;

    let files = chart_files(chart_dir)?;
    let mut tar = tar::Builder::new(Vec::new());
    for rel in &files {
        let data = std::fs::read(chart_dir.join(rel))?;
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch.max(0) as u64);
        h.set_username("")?;
        h.set_groupname("")?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, format!("{name}/{rel}"), data.as_slice())?;
    }
    let raw = tar.into_inner()?;
    // Helm writes this extra field and comment into every chart archive's gzip header.
    let header = flate2::GzBuilder::new()
        .extra(b"+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=".to_vec())
        .comment("Helm");
    let tgz = crate::image::gzip_with(&raw, header)?;
    let digest = util::sha256_hex(&tgz);
    let tgz_path = out.join(format!("{name}-{version}.tgz"));
    util::write_atomic(&tgz_path, &tgz)?;
    let pkg = ChartPackage {
        name,
        version,
        metadata,
        tgz_path,
        tgz,
        digest,
        epoch,
    };
    util::write_atomic(&out.join("index.yaml"), index_yaml(&pkg).as_bytes())?;
    Ok(pkg)
}

/// A Helm repository `index.yaml` with this chart's entry.
pub fn index_yaml(pkg: &ChartPackage) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialise");
    let created = rfc3339(pkg.epoch);
    let mut s = format!("apiVersion: v1\nentries:\n  {}:\n", pkg.name);
    let mut fields: BTreeMap<&str, String> = BTreeMap::new();
    for k in [
        "apiVersion",
        "appVersion",
        "description",
        "home",
        "icon",
        "kubeVersion",
        "name",
        "type",
        "version",
    ] {
        if let Some(v) = pkg.get(k) {
            fields.insert(k, q(v));
        }
    }
    fields.insert("created", q(&created));
    fields.insert("digest", q(&pkg.digest));
    let mut first = true;
    for (k, v) in &fields {
        s.push_str(if first { "  - " } else { "    " });
        first = false;
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str(&format!(
        "    urls:\n    - {}\n",
        q(&format!("{}-{}.tgz", pkg.name, pkg.version))
    ));
    s.push_str(&format!("generated: {}\n", q(&created)));
    s
}

/// Files of the chart in `helm package` order, `.helmignore` applied.
pub fn chart_files(chart_dir: &Path) -> Result<Vec<String>> {
    let ignore = match std::fs::read_to_string(chart_dir.join(".helmignore")) {
        Ok(t) => HelmIgnore::parse(&t),
        Err(_) => HelmIgnore::parse(""),
    };
    let mut all = Vec::new();
    walk(chart_dir, "", &ignore, &mut all)?;
    all.sort();
    let rank = |f: &str| match f {
        "Chart.yaml" => 0,
        "Chart.lock" => 1,
        "values.yaml" => 2,
        "values.schema.json" => 3,
        f if f.starts_with("templates/") => 4,
        f if f.starts_with("charts/") => 6,
        _ => 5,
    };
    all.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    if all.first().map(String::as_str) != Some("Chart.yaml") {
        bail!("{}: Chart.yaml is missing or ignored", chart_dir.display());
    }
    Ok(all)
}

fn walk(base: &Path, rel: &str, ignore: &HelmIgnore, out: &mut Vec<String>) -> Result<()> {
    let dir = base.join(rel);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type()?.is_dir();
        if ignore.ignored(&path, is_dir) {
            continue;
        }
        if is_dir {
            walk(base, &path, ignore, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// `.helmignore` rules (Helm's dialect: globs per path or base name, `dir/`, `!negation`).
#[derive(Debug, Clone)]
pub struct HelmIgnore {
    rules: Vec<(String, bool, bool)>, // pattern, negated, dir only
}

impl HelmIgnore {
    /// Parses the file text; Helm's default rule `templates/.?*` is always added.
    pub fn parse(text: &str) -> Self {
        let mut rules = vec![("templates/.?*".to_string(), false, false)];
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (l, neg) = match l.strip_prefix('!') {
                Some(r) => (r, true),
                None => (l, false),
            };
            let (l, dir_only) = match l.strip_suffix('/') {
                Some(r) => (r, true),
                None => (l, false),
            };
            rules.push((l.trim_start_matches('/').to_string(), neg, dir_only));
        }
        HelmIgnore { rules }
    }

    /// Whether `path` (relative, `/`-separated) is ignored; later rules win.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut ignored = false;
        for (pat, neg, dir_only) in &self.rules {
            if *dir_only && !is_dir {
                continue;
            }
            let hit = if pat.contains('/') {
                glob(pat, path)
            } else {
                glob(pat, base)
            };
            if hit {
                ignored = !neg;
            }
        }
        ignored
    }
}

/// Shell glob (`*`, `?`, `[...]`); `*` does not cross `/`.
pub fn glob(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = s.chars().collect();
    fn m(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| m(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && m(&p[1..], &t[1..]),
            Some('[') => {
                let Some(end) = p.iter().position(|&c| c == ']') else {
                    return !t.is_empty() && t[0] == '[' && m(&p[1..], &t[1..]);
                };
                if t.is_empty() {
                    return false;
                }
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('!') | Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= t[0] && t[0] <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == t[0];
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &t[1..])
            }
            Some(c) => !t.is_empty() && t[0] == *c && m(&p[1..], &t[1..]),
        }
    }
    m(&p, &t)
}

/// Helm's config blob: the chart metadata as JSON.
pub fn config_json(pkg: &ChartPackage) -> Value {
    let mut m = serde_json::Map::new();
    for k in [
        "name",
        "home",
        "version",
        "description",
        "icon",
        "apiVersion",
        "appVersion",
        "kubeVersion",
        "type",
    ] {
        if let Some(v) = pkg.get(k) {
            m.insert(k.to_string(), json!(v));
        }
    }
    Value::Object(m)
}

/// Pushes the chart to `<registry>/charts/<name>:<version>`. Returns `{ref, digest}`.
pub async fn push(pkg: &ChartPackage, reg: &Registry) -> Result<Value> {
    let repo_name = format!("charts/{}", pkg.name);
    let repo = reg.repo(&repo_name);
    let config = Blob::json(oci::HELM_CONFIG_MT, &config_json(pkg));
    let layer = Blob::new(oci::HELM_LAYER_MT, pkg.tgz.clone());
    let mut annotations = json!({
        "org.opencontainers.image.created": rfc3339(pkg.epoch),
        "org.opencontainers.image.title": pkg.name,
        "org.opencontainers.image.version": pkg.version,
    });
    if let Some(d) = pkg.get("description") {
        annotations["org.opencontainers.image.description"] = json!(d);
    }
    let manifest = Blob::json(
        oci::MANIFEST_MT,
        &json!({
            "schemaVersion": 2,
            "mediaType": oci::MANIFEST_MT,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
            "annotations": annotations,
        }),
    );
    let mut pusher = Pusher::new(reg)?;
    pusher.blob(&repo, &config).await?;
    pusher.blob(&repo, &layer).await?;
    pusher.manifest(&repo, &pkg.version, &manifest).await?;
    Ok(json!({
        "ref": format!("oci://{}:{}", reg.display(&repo_name), pkg.version),
        "manifest_digest": manifest.digest,
        "uploaded_blobs": pusher.uploaded,
        "skipped_blobs": pusher.skipped,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_helmignore() {
        assert!(glob("*.tgz", "a.tgz"));
        assert!(!glob("*.tgz", "dir/a.tgz"));
        assert!(glob("templates/.?*", "templates/.hidden"));
        assert!(glob("[ab]?c", "bxc"));
        let ig = HelmIgnore::parse("# c\n.git/\n*.swp\nci/\n!keep.swp\n/README.md\n");
        assert!(ig.ignored(".git", true));
        assert!(!ig.ignored(".git", false));
        assert!(ig.ignored("templates/x.swp", false));
        assert!(!ig.ignored("keep.swp", false));
        assert!(ig.ignored("README.md", false));
        assert!(ig.ignored("templates/.keep", false));
        assert!(!ig.ignored("templates/deployment.yaml", false));
    }

    #[test]
    fn metadata_of_chart_yaml() {
        let m = chart_metadata("apiVersion: v2\nname: akidb\ndescription: \"A vector DB\"\nversion: 1.2.3 # x\nkeywords:\n  - vector\nappVersion: '1.2.3'\n");
        assert_eq!(
            m,
            vec![
                ("apiVersion".into(), "v2".into()),
                ("name".into(), "akidb".into()),
                ("description".into(), "A vector DB".into()),
                ("version".into(), "1.2.3".into()),
                ("appVersion".into(), "1.2.3".into())
            ]
        );
    }
}
