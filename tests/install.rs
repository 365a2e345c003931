//! The process-wide recorder: installed once, found by `Recorder::global()`, refused a
//! second time. (Its own test binary: the global is per process.)

mod common;

use retrace::{Recorder, RecorderError};

#[test]
fn install_sets_the_global_once() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Recorder::global().is_none());
    let guard = Recorder::install(common::config(dir.path()).build().unwrap()).unwrap();
    let global = Recorder::global().expect("installed");
    assert!(global.is_enabled());
    common::record_one(global, 1, 256).unwrap();
    let err = Recorder::install(common::config(dir.path()).build().unwrap()).unwrap_err();
    assert!(matches!(err, RecorderError::AlreadyInstalled));
    assert_eq!(
        err.to_string(),
        "a process-wide recorder is already installed"
    );
    let stats = guard.shutdown().unwrap();
    assert_eq!(stats.written, 1);
    // After shutdown the global records nothing more.
    assert!(!global.is_enabled());
    assert!(common::record_one(global, 2, 256).is_none());
}
