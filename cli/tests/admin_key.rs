//! `retrace admin-key`: a key the admin service accepts, and a keys-file line that
//! holds only its hash.

mod support;

use retrace_tower::admin::{ApiKeys, Caller, Scope};
use support::retrace_raw;

#[test]
fn a_new_key_is_printed_once_and_its_line_holds_only_its_hash() {
    let run = retrace_raw(&["admin-key", "new", "oncall", "--scope", "capture"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let key = run.stderr.trim();
    assert!(key.starts_with("rtk_") && key.len() == 68, "{key}");
    let line = run.stdout.trim();
    assert!(line.starts_with("oncall capture blake3:"), "{line}");
    assert!(!line.contains(key));
    let keys = ApiKeys::parse(line).unwrap();
    assert_eq!(
        keys.identify(key),
        Caller::Key {
            id: "oncall".into(),
            scope: Scope::Capture
        }
    );
    // Two runs, two keys.
    let again = retrace_raw(&["admin-key", "new", "oncall", "--scope", "capture"]);
    assert_ne!(again.stderr.trim(), key);
}

#[test]
fn a_bad_scope_or_id_is_a_usage_error_naming_it() {
    let run = retrace_raw(&["admin-key", "new", "oncall", "--scope", "owner"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("invalid value 'owner' for '--scope <SCOPE>'"),
        "{}",
        run.stderr
    );
    let run = retrace_raw(&["admin-key", "new", "two words", "--scope", "read"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("the key id \"two words\" must be one word without `#`"),
        "{}",
        run.stderr
    );
}
