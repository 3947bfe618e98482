//! Runs the test suite where nothing beside the clone can be read: in a private mount
//! namespace, every sibling of the workspace directory is covered by an empty,
//! read-only tmpfs (directories) or `/dev/null` (files). A test that reaches for a
//! file outside the repository (a dataset "next to the clone", say) then fails here
//! exactly as it would on a contributor's machine, instead of passing only for us.

use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the sandbox hides: the workspace's siblings, minus the ones the toolchain lives in.
#[derive(Debug, Clone)]
pub struct Hidden {
    /// Sibling directories covered by an empty tmpfs.
    pub dirs: Vec<PathBuf>,
    /// Sibling files (and other non-directories) covered by `/dev/null`.
    pub files: Vec<PathBuf>,
}

/// Lists what to hide around `root`. Siblings that hold the toolchain, `$HOME` or the
/// temporary directory are kept, so that a clone in `$HOME/src/..` or `/tmp/..` still
/// builds; a clone directly under `/` hides nothing (its siblings are the system).
pub fn plan(root: &Path) -> Result<Hidden> {
    let root = root
        .canonicalize()
        .with_context(|| format!("workspace {}", root.display()))?;
    let parent = match root.parent() {
        Some(p) if p != Path::new("/") => p.to_path_buf(),
        _ => {
            return Ok(Hidden {
                dirs: vec![],
                files: vec![],
            })
        }
    };
    let keep: Vec<PathBuf> = ["CARGO_HOME", "RUSTUP_HOME", "HOME", "TMPDIR"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .chain([std::env::temp_dir()])
        .chain(std::env::current_exe().ok())
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    let mut hidden = Hidden {
        dirs: vec![],
        files: vec![],
    };
    for entry in
        std::fs::read_dir(&parent).with_context(|| format!("listing {}", parent.display()))?
    {
        let path = entry?.path();
        if path == root || keep.iter().any(|k| k.starts_with(&path)) {
            continue;
        }
        if path.is_dir() && !path.is_symlink() {
            hidden.dirs.push(path);
        } else {
            hidden.files.push(path);
        }
    }
    hidden.dirs.sort();
    hidden.files.sort();
    Ok(hidden)
}

/// Makes `command` start in a private mount namespace with `hidden` covered. Needs
/// root (CAP_SYS_ADMIN): without it this refuses with a message that says so, since a
/// suite that silently ran unchecked would hide exactly what it is meant to catch.
pub fn confine(command: &mut Command, hidden: &Hidden) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the outside-the-clone check needs root (a private mount namespace); run \
             `cargo xtask test` as root (CI does), or pass --no-confine to run unchecked"
        );
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).context("path with a NUL byte");
    let dirs = hidden
        .dirs
        .iter()
        .map(|p| c(p))
        .collect::<Result<Vec<_>>>()?;
    let files = hidden
        .files
        .iter()
        .map(|p| c(p))
        .collect::<Result<Vec<_>>>()?;
    let (tmpfs, null, root) = (
        c(Path::new("tmpfs"))?,
        c(Path::new("/dev/null"))?,
        c(Path::new("/"))?,
    );
    let opts = CString::new("size=4k,mode=0555").expect("no NUL");
    // SAFETY: the closure runs between fork and exec; it only makes system calls on
    // strings allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            let check = |rc: libc::c_int| {
                if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            // Private propagation: nothing mounted here leaks to the host.
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for d in &dirs {
                check(libc::mount(
                    tmpfs.as_ptr(),
                    d.as_ptr(),
                    tmpfs.as_ptr(),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
                    opts.as_ptr().cast(),
                ))?;
            }
            for f in &files {
                check(libc::mount(
                    null.as_ptr(),
                    f.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
            Ok(())
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_of_the_clone_are_empty_inside_and_untouched_outside() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("clone");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(outer.path().join("shared/datasets")).unwrap();
        std::fs::write(outer.path().join("shared/datasets/base.npy"), b"data").unwrap();
        std::fs::write(outer.path().join("notes.txt"), b"secret").unwrap();
        // tempdir() lives under the temp dir, which `plan` keeps visible; plan for a
        // root whose parent is not kept by listing explicitly.
        let hidden = Hidden {
            dirs: vec![outer.path().join("shared")],
            files: vec![outer.path().join("notes.txt")],
        };
        let script = format!(
            "ls -A {0}/shared; cat {0}/notes.txt; ls {1}",
            outer.path().display(),
            root.display()
        );
        let mut command = Command::new("sh");
        command.arg("-c").arg(&script);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            let err = confine(&mut command, &hidden).unwrap_err();
            assert!(err.to_string().contains("needs root"), "{err}");
            return;
        }
        confine(&mut command, &hidden).unwrap();
        let out = command.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        // The sibling directory is empty, the sibling file reads as nothing, the clone is there.
        assert_eq!(String::from_utf8_lossy(&out.stdout), "src\n");
        assert_eq!(
            std::fs::read(outer.path().join("shared/datasets/base.npy")).unwrap(),
            b"data",
            "nothing outside the namespace changed"
        );
    }

    #[test]
    fn plan_keeps_the_clone_and_the_toolchain() {
        let root = crate::provision::workspace_root();
        let hidden = plan(&root).unwrap();
        let root = root.canonicalize().unwrap();
        for p in hidden.dirs.iter().chain(&hidden.files) {
            assert_ne!(p, &root);
            assert_eq!(
                p.parent(),
                root.parent(),
                "{} is not a sibling",
                p.display()
            );
            assert!(!std::env::current_exe().unwrap().starts_with(p));
        }
    }
}
