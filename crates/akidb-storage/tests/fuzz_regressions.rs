//! Replays every input kept in `fuzz/regressions/<target>/` (crashes once found by
//! `cargo xtask fuzz`, then fixed) and the seed corpora through the same checks the fuzz
//! targets run, so a normal `cargo test` guards against the old defects coming back.

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod checks;

use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(list) => list
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|p| {
        p.file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
    });
    files.sort();
    files
}

#[test]
fn regression_inputs_and_seeds_pass_every_check() {
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        assert!(
            fuzz_dir().join("regressions").join(target).is_dir(),
            "fuzz/regressions/{target}/ is missing"
        );
        let seeds = inputs("corpus", target);
        assert!(
            !seeds.is_empty(),
            "fuzz/corpus/{target}/ has no seed inputs"
        );
        for path in inputs("regressions", target).into_iter().chain(seeds) {
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check again",
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= 8, "only {replayed} inputs replayed");
}

#[test]
fn wal_checks_catch_a_broken_record() {
    // The WAL check must accept a clean log and its torn prefix: guards the oracle itself.
    let mut log = akidb_storage::wal::encode_record(1, b"first");
    log.extend(akidb_storage::wal::encode_record(2, b"second"));
    checks::wal_decode(&log);
    checks::wal_decode(&log[..log.len() - 3]);
    let decoded = akidb_storage::decode_records(&log[..log.len() - 3]);
    assert_eq!(decoded.records.len(), 1);
    assert!(decoded.damage.is_some());
}
