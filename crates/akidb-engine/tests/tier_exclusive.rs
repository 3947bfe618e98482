//! A tier move that cannot get a collection to itself within `tier.exclusive_timeout` is
//! abandoned: the collection stays hot and the request still holding it finishes normally.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use akidb_core::{CollectionConfig, Metric, Observer, Point, PointId, Tier};
use akidb_engine::{Database, EngineConfig};

/// Blocks WAL fsyncs while closed, so an upsert holds the collection for as long as we like.
#[derive(Default)]
struct Gate {
    armed: AtomicBool,
    entered: Mutex<bool>,
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait_entered(&self) {
        let mut e = self.entered.lock().unwrap();
        while !*e {
            e = self.cv.wait(e).unwrap();
        }
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl Observer for Gate {
    fn wal_fsync(&self, _seconds: f64) {
        if !self.armed.swap(false, Ordering::SeqCst) {
            return;
        }
        *self.entered.lock().unwrap() = true;
        self.cv.notify_all();
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
}

fn pt(i: u64) -> Point {
    Point::new(i, vec![i as f32, 1.0], Default::default())
}

#[test]
fn eviction_that_times_out_is_abandoned_and_the_collection_stays_hot() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate::default());
    let mut cfg = EngineConfig::new(dir.path());
    cfg.observer = gate.clone();
    cfg.tier.exclusive_timeout = Duration::from_millis(200);
    let db = Database::open_with(cfg).unwrap();
    db.create_collection(CollectionConfig::new("c", 2, Metric::L2))
        .unwrap();
    db.upsert("c", vec![pt(1)]).unwrap();

    gate.armed.store(true, Ordering::SeqCst);
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || db.upsert("c", vec![pt(2)]))
    };
    gate.wait_entered();
    let started = Instant::now();
    let err = db.demote("c", Tier::Warm).unwrap_err();
    assert_eq!(err.code(), "collection_busy", "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(db.tier("c").unwrap().tier, Tier::Hot);
    gate.release();
    assert_eq!(writer.join().unwrap().unwrap(), 1);

    // The same in-memory collection keeps serving; nothing was reopened behind it.
    assert_eq!(db.get("c", &PointId::Num(2)).unwrap(), pt(2));
    db.upsert("c", vec![pt(3)]).unwrap();
    // Once nobody holds it, the move goes through, and every acknowledged point survives.
    assert_eq!(db.demote("c", Tier::Warm).unwrap().tier, Tier::Warm);
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    for i in 1..=3 {
        assert_eq!(db.get("c", &PointId::Num(i)).unwrap(), pt(i));
    }
}
