//! `cargo xtask image`: the multi-arch AkiDB OCI image, assembled without Docker.
//!
//! One gzipped layer per platform holds the `akidb` binary, the glibc pieces it links
//! against (from the host or the aarch64 cross sysroot), `/etc/passwd` with the `akidb`
//! user 1000 and a `/data` directory owned by it. Every byte is a function of the binary and
//! SOURCE_DATE_EPOCH: sorted entries, uid/gid 0, fixed mtimes, gzip without name or time, so
//! two builds of one commit give identical digests. An OCI index covers exactly the
//! platforms that were built; the layout goes under `target/`, and a push uses oci-client.

use crate::release::oci::{self, Blob, Pusher, Registry};
use crate::release::util::{self, rfc3339, sh};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Largest allowed compressed image per platform.
pub const MAX_IMAGE_BYTES: usize = 50 * 1024 * 1024;

/// Arguments of `cargo xtask image`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image version (tag and label); default: the workspace version.
    #[arg(long)]
    pub version: Option<String>,
    /// Use a prebuilt binary instead of building: `linux/amd64=PATH`, `linux/arm64=PATH`.
    #[arg(long = "binary", value_name = "PLATFORM=PATH")]
    pub binaries: Vec<String>,
    /// Push to this registry (`HOST[:PORT][/NAMESPACE]`); without it the image is only built.
    #[arg(long, env = "AKIDB_REGISTRY")]
    pub registry: Option<String>,
    /// Use plain http for a non-loopback registry.
    #[arg(long)]
    pub insecure_registry: bool,
    /// Workspace root (default: this repository).
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// Output directory for the OCI layout (default: `target/image/<version>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `cargo xtask image`.
pub fn run(args: Args) -> Result<()> {
    let root = util::workspace_root(args.workspace.as_deref())?;
    let version = match args.version {
        Some(v) => v,
        None => crate::release::bump::current_version(&root)?.to_string(),
    };
    let out = args
        .out
        .unwrap_or_else(|| root.join("target/image").join(&version));
    let binaries = resolve_binaries(&root, &args.binaries, &out.join("bin"))?;
    let spec = ImageSpec::from_workspace(&root, &version)?;
    let built = build(&spec, &binaries, &out.join("oci"))?;
    for p in &built.platforms {
        println!(
            "{}\t{}\t{:.1} MB",
            p.platform.oci(),
            p.manifest.digest,
            p.compressed_bytes() as f64 / 1e6
        );
    }
    println!(
        "index\t{}\t{}",
        built.index.digest,
        out.join("oci").display()
    );
    if let Some(reg) = args.registry {
        let reg = Registry::parse(&reg, args.insecure_registry)?;
        let report = util::runtime()?.block_on(push(&built, &reg))?;
        println!("pushed\t{}", report["index"].as_str().unwrap_or(""));
    }
    Ok(())
}

/// A Linux platform AkiDB ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// linux/amd64
    Amd64,
    /// linux/arm64
    Arm64,
}

impl Platform {
    /// Every shipped platform, index order.
    pub const ALL: [Platform; 2] = [Platform::Amd64, Platform::Arm64];

    /// `linux/amd64`.
    pub fn oci(self) -> &'static str {
        match self {
            Platform::Amd64 => "linux/amd64",
            Platform::Arm64 => "linux/arm64",
        }
    }

    /// OCI architecture name.
    pub fn arch(self) -> &'static str {
        match self {
            Platform::Amd64 => "amd64",
            Platform::Arm64 => "arm64",
        }
    }

    /// Rust target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64-unknown-linux-gnu",
            Platform::Arm64 => "aarch64-unknown-linux-gnu",
        }
    }

    fn elf_machine(self) -> &'static str {
        match self {
            Platform::Amd64 => "X86-64",
            Platform::Arm64 => "AArch64",
        }
    }

    // Where the build's shared libraries live on this (Debian) build host.
    fn host_lib_dirs(self) -> &'static [&'static str] {
        match self {
            Platform::Amd64 => &[
                "/lib/x86_64-linux-gnu",
                "/usr/lib/x86_64-linux-gnu",
                "/lib64",
            ],
            Platform::Arm64 => &["/usr/aarch64-linux-gnu/lib", "/usr/aarch64-linux-gnu/lib64"],
        }
    }

    // Where those libraries go inside the image (Debian multiarch layout, ld.so's default).
    fn image_lib_dir(self) -> &'static str {
        match self {
            Platform::Amd64 => "lib/x86_64-linux-gnu",
            Platform::Arm64 => "lib/aarch64-linux-gnu",
        }
    }

    /// Parses `linux/amd64` (also `amd64`, `x86_64`, `arm64`, `aarch64`).
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim_start_matches("linux/") {
            "amd64" | "x86_64" => Ok(Platform::Amd64),
            "arm64" | "aarch64" | "arm64/v8" => Ok(Platform::Arm64),
            other => bail!("unknown platform {other:?}: use linux/amd64 or linux/arm64"),
        }
    }
}

/// Parses `--binary PLATFORM=PATH` values.
pub fn parse_binary_args(args: &[String]) -> Result<BTreeMap<Platform, PathBuf>> {
    let mut out = BTreeMap::new();
    for a in args {
        let (p, path) = a.split_once('=').with_context(|| {
            format!("--binary {a:?}: expected PLATFORM=PATH, e.g. linux/amd64=target/akidb")
        })?;
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("--binary {a}: {} is not a file", path.display());
        }
        out.insert(Platform::parse(p)?, path);
    }
    Ok(out)
}

/// Why the arm64 build cannot happen here, if it cannot.
pub fn arm64_toolchain_problem() -> Option<String> {
    let installed =
        sh(Path::new("."), "rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !installed
        .lines()
        .any(|l| l.trim() == Platform::Arm64.triple())
    {
        return Some(
            "the Rust target aarch64-unknown-linux-gnu is not installed: run `rustup target add aarch64-unknown-linux-gnu` (and `apt-get install gcc-aarch64-linux-gnu` for the linker), or pass --binary linux/arm64=PATH".into(),
        );
    }
    if duct::cmd!("aarch64-linux-gnu-gcc", "--version")
        .stdout_null()
        .stderr_null()
        .run()
        .is_err()
    {
        return Some("the aarch64 linker is missing: run `apt-get install gcc-aarch64-linux-gnu`, or pass --binary linux/arm64=PATH".into());
    }
    None
}

/// Prebuilt binaries from `--binary`, the others built with cargo; each copied to `dist`
/// as `akidb-linux-<arch>` and checked to be an ELF file of its platform.
pub fn resolve_binaries(
    root: &Path,
    args: &[String],
    dist: &Path,
) -> Result<Vec<(Platform, PathBuf)>> {
    let given = parse_binary_args(args)?;
    let mut out = Vec::new();
    for p in Platform::ALL {
        let src = match given.get(&p) {
            Some(path) => path.clone(),
            None => build_binary(root, p)?,
        };
        check_elf(&src, p)?;
        std::fs::create_dir_all(dist)
            .with_context(|| format!("cannot create {}", dist.display()))?;
        let dst = dist.join(format!("akidb-linux-{}", p.arch()));
        strip_into(p, &src, &dst)?;
        out.push((p, dst));
    }
    Ok(out)
}

/// Copies `src` to `dst` without debug sections (deterministic), keeping the symbol table
/// for readable backtraces; this is what keeps each image far below 50 MB.
fn strip_into(p: Platform, src: &Path, dst: &Path) -> Result<()> {
    let tool = match p {
        Platform::Amd64 => "strip",
        Platform::Arm64 => "aarch64-linux-gnu-strip",
    };
    let tmp = dst.with_extension("strip-tmp");
    sh(
        Path::new("."),
        tool,
        &[
            "--strip-debug",
            "-o",
            &tmp.to_string_lossy(),
            &src.to_string_lossy(),
        ],
    )
    .with_context(|| {
        format!(
            "cannot strip {} (apt-get install binutils gcc-aarch64-linux-gnu)",
            src.display()
        )
    })?;
    std::fs::rename(&tmp, dst).with_context(|| format!("cannot write {}", dst.display()))?;
    Ok(())
}

pub(crate) fn build_binary(root: &Path, p: Platform) -> Result<PathBuf> {
    if p == Platform::Arm64 {
        if let Some(problem) = arm64_toolchain_problem() {
            bail!("cannot build linux/arm64 ({problem}); no image index was written or pushed");
        }
    }
    eprintln!("xtask: building akidb for {}", p.triple());
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let args = [
        "build",
        "--release",
        "--locked",
        "-p",
        "akidb-server",
        "--bin",
        "akidb",
        "--target",
        p.triple(),
    ];
    let c = duct::cmd("cargo", args)
        .dir(root)
        .env(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
            "aarch64-linux-gnu-gcc",
        )
        // C dependencies (zstd, aws-lc) need the cross compiler too.
        .env("CC_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-gcc")
        .env("AR_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-ar")
        .unchecked()
        .run()
        .context("cannot run cargo")?;
    if !c.status.success() {
        bail!("`cargo {}` failed", args.join(" "));
    }
    Ok(target_dir.join(p.triple()).join("release/akidb"))
}

fn check_elf(path: &Path, p: Platform) -> Result<()> {
    let h = sh(Path::new("."), "readelf", &["-h", &path.to_string_lossy()])
        .with_context(|| format!("{} is not an ELF binary", path.display()))?;
    if !h
        .lines()
        .any(|l| l.contains("Machine:") && l.contains(p.elf_machine()))
    {
        bail!(
            "{} is not a {} binary (readelf says: {}); refusing to label it {}",
            path.display(),
            p.elf_machine(),
            h.lines()
                .find(|l| l.contains("Machine:"))
                .unwrap_or("?")
                .trim(),
            p.oci()
        );
    }
    Ok(())
}

/// Labels and times shared by every platform image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Version label and tag.
    pub version: String,
    /// Git commit (revision label).
    pub revision: String,
    /// Source repository URL.
    pub source: String,
    /// SOURCE_DATE_EPOCH.
    pub epoch: i64,
}

impl ImageSpec {
    /// Version, HEAD commit, `repository` from Cargo.toml, SOURCE_DATE_EPOCH (env or HEAD time).
    pub fn from_workspace(root: &Path, version: &str) -> Result<Self> {
        let epoch = source_date_epoch(root)?;
        let revision = crate::release::git::head(root).unwrap_or_else(|_| "unknown".into());
        let manifest: toml_edit::DocumentMut = util::read(&root.join("Cargo.toml"))?.parse()?;
        let source = manifest
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("repository"))
            .and_then(|r| r.as_str())
            .unwrap_or("https://github.com/akidb/akidb")
            .to_string();
        Ok(ImageSpec {
            version: version.to_string(),
            revision,
            source,
            epoch,
        })
    }
}

/// SOURCE_DATE_EPOCH from the environment, else the HEAD commit time.
pub fn source_date_epoch(root: &Path) -> Result<i64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a Unix time"));
    }
    crate::release::git::head_epoch(root)
        .context("cannot read the HEAD commit time for SOURCE_DATE_EPOCH (not a git repository? set SOURCE_DATE_EPOCH)")
}

/// One platform's image.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    /// Platform.
    pub platform: Platform,
    /// Image manifest.
    pub manifest: Blob,
    /// Image config.
    pub config: Blob,
    /// The one gzipped layer.
    pub layer: Blob,
}

impl PlatformImage {
    /// Bytes a pull downloads (manifest, config, layer).
    pub fn compressed_bytes(&self) -> usize {
        self.manifest.data.len() + self.config.data.len() + self.layer.data.len()
    }
}

/// The built multi-platform image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// Version tag.
    pub version: String,
    /// OCI image index over `platforms`.
    pub index: Blob,
    /// Per-platform images.
    pub platforms: Vec<PlatformImage>,
    /// OCI layout directory.
    pub layout: PathBuf,
}

/// Builds every platform image and the index, and writes the OCI layout to `layout`.
pub fn build(
    spec: &ImageSpec,
    binaries: &[(Platform, PathBuf)],
    layout: &Path,
) -> Result<BuiltImage> {
    let mut platforms = Vec::new();
    for (p, bin) in binaries {
        let img = build_platform(spec, *p, bin)?;
        if img.compressed_bytes() > MAX_IMAGE_BYTES {
            bail!(
                "the {} image is {:.1} MB, above the 50 MB budget: ship a release (stripped) build of akidb",
                p.oci(),
                img.compressed_bytes() as f64 / 1e6
            );
        }
        platforms.push(img);
    }
    let created = rfc3339(spec.epoch);
    let manifests: Vec<Value> = platforms
        .iter()
        .map(|img| {
            let mut d = img.manifest.descriptor();
            let mut platform = json!({"architecture": img.platform.arch(), "os": "linux"});
            if img.platform == Platform::Arm64 {
                platform["variant"] = json!("v8");
            }
            d["platform"] = platform;
            d
        })
        .collect();
    let index = Blob::json(
        oci::INDEX_MT,
        &json!({
            "schemaVersion": 2,
            "mediaType": oci::INDEX_MT,
            "manifests": manifests,
            "annotations": {
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.revision": spec.revision,
                "org.opencontainers.image.source": spec.source,
                "org.opencontainers.image.title": "akidb",
                "org.opencontainers.image.version": spec.version,
            }
        }),
    );
    let blobs: Vec<&Blob> = platforms
        .iter()
        .flat_map(|p| [&p.layer, &p.config, &p.manifest])
        .collect();
    oci::write_layout(layout, &blobs, &index, &spec.version)?;
    Ok(BuiltImage {
        version: spec.version.clone(),
        index,
        platforms,
        layout: layout.to_path_buf(),
    })
}

fn build_platform(spec: &ImageSpec, p: Platform, binary: &Path) -> Result<PlatformImage> {
    let entries = layer_entries(p, binary)?;
    let tar = tar_bytes(&entries, spec.epoch)?;
    let diff_id = util::sha256_digest(&tar);
    let layer = Blob::new(oci::LAYER_MT, gzip(&tar)?);
    let created = rfc3339(spec.epoch);
    let labels = json!({
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.revision": spec.revision,
        "org.opencontainers.image.source": spec.source,
        "org.opencontainers.image.title": "akidb",
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.licenses": "Apache-2.0",
    });
    let mut config = json!({
        "created": created,
        "architecture": p.arch(),
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Env": [
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "AKIDB_DATA_DIR=/data",
                "AKIDB_REST_ADDR=0.0.0.0:8080",
                "AKIDB_GRPC_ADDR=0.0.0.0:9090"
            ],
            "Entrypoint": ["/usr/local/bin/akidb"],
            "WorkingDir": "/data",
            "Volumes": {"/data": {}},
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created, "created_by": "cargo xtask image", "comment": "akidb binary, glibc, user 1000, /data"}],
    });
    if p == Platform::Arm64 {
        config["variant"] = json!("v8");
    }
    let config = Blob::json(oci::CONFIG_MT, &config);
    let manifest = Blob::json(
        oci::MANIFEST_MT,
        &json!({
            "schemaVersion": 2,
            "mediaType": oci::MANIFEST_MT,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
            "annotations": {
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.version": spec.version,
            }
        }),
    );
    Ok(PlatformImage {
        platform: p,
        manifest,
        config,
        layer,
    })
}

/// A file or directory of the layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// File contents; None for a directory.
    pub data: Option<Vec<u8>>,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid = gid.
    pub owner: u64,
}

fn dir(mode: u32, owner: u64) -> Entry {
    Entry {
        data: None,
        mode,
        owner,
    }
}

fn file(data: Vec<u8>, mode: u32) -> Entry {
    Entry {
        data: Some(data),
        mode,
        owner: 0,
    }
}

/// Every path of a platform's layer (relative, `/`-separated, dirs ending in `/`).
pub fn layer_entries(p: Platform, binary: &Path) -> Result<BTreeMap<String, Entry>> {
    let mut e = BTreeMap::new();
    let bin = std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    e.insert("usr/local/bin/akidb".to_string(), file(bin, 0o755));
    e.insert(
        "etc/passwd".into(),
        file(b"root:x:0:0:root:/root:/usr/sbin/nologin\nakidb:x:1000:1000:AkiDB:/data:/usr/sbin/nologin\n".to_vec(), 0o644),
    );
    e.insert(
        "etc/group".into(),
        file(b"root:x:0:\nakidb:x:1000:\n".to_vec(), 0o644),
    );
    e.insert("data/".into(), dir(0o755, 1000));
    e.insert("tmp/".into(), dir(0o1777, 0));
    for (image_path, host_path) in shared_libraries(p, binary)? {
        let data = std::fs::read(&host_path)
            .with_context(|| format!("cannot read {}", host_path.display()))?;
        e.insert(image_path, file(data, 0o755));
    }
    // Every parent directory appears as its own entry, owned by root.
    let parents: BTreeSet<String> = e
        .keys()
        .flat_map(|k| {
            let parts: Vec<&str> = k.trim_end_matches('/').split('/').collect();
            (1..parts.len()).map(move |i| format!("{}/", parts[..i].join("/")))
        })
        .collect();
    for d in parents {
        e.entry(d).or_insert_with(|| dir(0o755, 0));
    }
    Ok(e)
}

/// (path in image, path on host) of the interpreter and every shared library the binary
/// needs, transitively; empty for a static binary.
pub fn shared_libraries(p: Platform, binary: &Path) -> Result<Vec<(String, PathBuf)>> {
    let (interp, needed) = elf_deps(binary)?;
    let Some(interp) = interp else {
        return Ok(Vec::new());
    };
    let mut out = BTreeMap::new();
    let interp_name = Path::new(&interp)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let interp_host = find_lib(p, &interp_name)
        .with_context(|| format!("cannot find the ELF interpreter {interp} for {}", p.oci()))?;
    out.insert(interp.trim_start_matches('/').to_string(), interp_host);
    let mut queue: Vec<String> = needed;
    let mut seen = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let host = find_lib(p, &name).with_context(|| {
            format!(
                "{} needs {name}, not found in {:?} (for arm64: apt-get install gcc-aarch64-linux-gnu)",
                binary.display(),
                p.host_lib_dirs()
            )
        })?;
        let (_, more) = elf_deps(&host)?;
        queue.extend(more);
        out.insert(format!("{}/{name}", p.image_lib_dir()), host);
    }
    Ok(out.into_iter().collect())
}

fn find_lib(p: Platform, name: &str) -> Option<PathBuf> {
    p.host_lib_dirs()
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|c| c.exists())
        .and_then(|c| std::fs::canonicalize(c).ok())
}

fn elf_deps(path: &Path) -> Result<(Option<String>, Vec<String>)> {
    let out = sh(
        Path::new("."),
        "readelf",
        &["-l", "-d", "-W", &path.to_string_lossy()],
    )?;
    let mut interp = None;
    let mut needed = Vec::new();
    for line in out.lines() {
        if let Some(i) = line.find("[Requesting program interpreter: ") {
            let rest = &line[i + "[Requesting program interpreter: ".len()..];
            interp = rest.strip_suffix(']').map(str::to_string);
        } else if line.contains("(NEEDED)") {
            if let (Some(a), Some(b)) = (line.find('['), line.rfind(']')) {
                needed.push(line[a + 1..b].to_string());
            }
        }
    }
    Ok((interp, needed))
}

/// A reproducible tar: sorted paths, uid/gid as given, mtime = `epoch`, no user names.
pub fn tar_bytes(entries: &BTreeMap<String, Entry>, epoch: i64) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, e) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.owner);
        h.set_gid(e.owner);
        h.set_mtime(epoch.max(0) as u64);
        h.set_username("")?;
        h.set_groupname("")?;
        match &e.data {
            Some(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, path, d.as_slice())?;
            }
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, path, std::io::empty())?;
            }
        }
    }
    Ok(b.into_inner()?)
}

/// Gzip with pinned settings: level 6, no file name, mtime 0, OS byte "unknown".
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    gzip_with(data, flate2::GzBuilder::new())
}

/// Gzip with a caller-prepared header (Helm adds its extra field and comment).
pub fn gzip_with(data: &[u8], builder: flate2::GzBuilder) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut enc = builder
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

/// Pushes every blob and platform manifest (by digest), then the index tagged with the
/// version. Returns `{index, manifests, uploaded, skipped}`.
pub async fn push(built: &BuiltImage, reg: &Registry) -> Result<Value> {
    let repo = reg.repo("akidb");
    let mut pusher = Pusher::new(reg)?;
    let mut manifests = serde_json::Map::new();
    for p in &built.platforms {
        pusher.blob(&repo, &p.layer).await?;
        pusher.blob(&repo, &p.config).await?;
        pusher
            .manifest(&repo, &p.manifest.digest, &p.manifest)
            .await?;
        manifests.insert(p.platform.oci().to_string(), json!(p.manifest.digest));
    }
    let written = pusher.manifest(&repo, &built.version, &built.index).await?;
    Ok(json!({
        "index": format!("{}:{}@{}", reg.display("akidb"), built.version, built.index.digest),
        "index_digest": built.index.digest,
        "manifests": manifests,
        "uploaded_blobs": pusher.uploaded,
        "skipped_blobs": pusher.skipped,
        "index_written": written,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_is_sorted_owned_and_complete() {
        // /bin/true is a dynamically linked amd64 binary on the build host.
        let entries = layer_entries(Platform::Amd64, Path::new("/bin/true")).unwrap();
        assert!(entries.contains_key("lib/x86_64-linux-gnu/libc.so.6"));
        assert!(entries.contains_key("lib64/ld-linux-x86-64.so.2"));
        assert_eq!(entries["data/"].owner, 1000);
        assert_eq!(entries["usr/local/bin/akidb"].mode, 0o755);
        assert!(
            String::from_utf8_lossy(entries["etc/passwd"].data.as_ref().unwrap())
                .contains("akidb:x:1000:1000")
        );
        let a = tar_bytes(&entries, 1_700_000_000).unwrap();
        let b = tar_bytes(&entries, 1_700_000_000).unwrap();
        assert_eq!(gzip(&a).unwrap(), gzip(&b).unwrap());
        let mut ar = tar::Archive::new(a.as_slice());
        let paths: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
                e.path().unwrap().to_string_lossy().to_string()
            })
            .collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert!(Platform::parse("linux/s390x").is_err());
    }
}
