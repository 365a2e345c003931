//! The policy file (`RETRACE_POLICY_FILE`) with a real recorder and real files: read
//! at start, read again within two seconds of a change, a bad version refused with
//! the policy in force kept, windows and captures declared by name.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use http::{Method, Request};
use retrace::policy::{CaptureEnd, Decision, Policy, RequestView};
use retrace::{Config, RecordReason, Recorder, RecorderError, TraceId};

fn decide(policy: &Policy, method: Method, path: &str, headers: &[(&str, &str)]) -> Decision {
    let mut req = Request::builder().method(method).uri(path);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(()).unwrap();
    policy.decide(&RequestView::of(&req), TraceId::random(), false)
}

fn until(from_now: Duration) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() + from_now).to_string()
}

fn recorder_with(
    dir: &Path,
    file: &Path,
) -> Result<(Recorder, retrace::RecorderGuard), RecorderError> {
    Recorder::new(
        Config::builder()
            .enabled(true)
            .recording_path(dir.join("recordings"))
            .policy_file(file)
            .build()
            .unwrap(),
    )
}

/// Writes the file so that its modification time moves on even on a coarse clock.
fn write(file: &Path, text: &str) {
    std::fs::write(file, text).unwrap();
    let f = std::fs::File::options().append(true).open(file).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(2))
        .unwrap();
}

/// Waits until the watcher has looked at `versions` versions of the file.
fn wait_for_versions(policy: &Policy, versions: u64) -> retrace::policy::PolicyFileStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = policy.file_status().unwrap();
        if status.applied + status.rejected >= versions || Instant::now() > deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_good_file_is_applied_and_a_change_is_in_force_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    write(
        &file,
        r#"
sample_rate = 1.0
keep = "5xx"

[[route]]
path = "/health"
never = true

[[route]]
method = "POST"
prefix = "/checkout"
rate = 0.0
"#,
    );
    let (recorder, guard) = recorder_with(dir.path(), &file).unwrap();
    let policy = recorder.policy();
    assert_eq!(policy.sample_rate(), 1.0);
    assert_eq!(decide(&policy, Method::GET, "/health", &[]), Decision::Skip);
    assert_eq!(
        decide(
            &policy,
            Method::GET,
            "/health",
            &[("x-retrace-record", "1")]
        ),
        Decision::Skip,
        "never means never, the trigger header included"
    );
    assert_eq!(
        decide(&policy, Method::POST, "/checkout/7", &[]),
        Decision::Tentative,
        "the route's rate 0 leaves it to tail keep"
    );
    assert_eq!(
        decide(&policy, Method::GET, "/catalog", &[]),
        Decision::Record(RecordReason::Sampled)
    );
    assert_eq!(policy.file_status().unwrap().applied, 1);

    // An edit: sampling off, the checkout at 100%, tail keep off, a trigger token.
    write(
        &file,
        r#"
sample_rate = 0.0
keep = "off"
trigger_token = "let-me-in"

[[route]]
prefix = "/checkout"
rate = 1.0
"#,
    );
    let status = wait_for_versions(&policy, 2);
    assert_eq!((status.applied, status.rejected), (2, 0), "{status:?}");
    assert_eq!(policy.sample_rate(), 0.0);
    assert!(policy.tail().is_none());
    assert_eq!(
        decide(&policy, Method::POST, "/checkout/7", &[]),
        Decision::Record(RecordReason::Sampled)
    );
    assert_eq!(
        decide(&policy, Method::GET, "/catalog", &[]),
        Decision::Skip
    );
    assert_eq!(
        decide(
            &policy,
            Method::GET,
            "/catalog",
            &[("x-retrace-record", "1")]
        ),
        Decision::Skip,
        "the trigger now needs the token"
    );
    assert_eq!(
        decide(
            &policy,
            Method::GET,
            "/catalog",
            &[("x-retrace-record", "let-me-in")]
        ),
        Decision::Record(RecordReason::Header)
    );
    guard.shutdown().unwrap();
}

#[test]
fn a_bad_version_is_refused_and_the_policy_in_force_stays() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    write(&file, "sample_rate = 0.5\n");
    let (recorder, guard) = recorder_with(dir.path(), &file).unwrap();
    let policy = recorder.policy();
    write(
        &file,
        "sample_rate = 0.5\n[[route]]\npath = \"/x\"\nrate = 3.0\n",
    );
    let status = wait_for_versions(&policy, 2);
    assert_eq!((status.applied, status.rejected), (1, 1));
    assert_eq!(
        status.last_error.as_deref(),
        Some(
            format!(
                "the policy file {}: route 1: 3 is not a rate from 0 to 1",
                file.display()
            )
            .as_str()
        )
    );
    assert_eq!(policy.sample_rate(), 0.5);
    assert!(
        policy.routes().is_empty(),
        "nothing of the bad version applied"
    );
    write(&file, "sample_rate = 0.25\nsample_rte = 1\n");
    let status = wait_for_versions(&policy, 3);
    let error = status.last_error.unwrap();
    assert!(error.contains("unknown field `sample_rte`"), "{error}");
    assert_eq!(policy.sample_rate(), 0.5);
    // Fixed: applied, and the error is gone.
    write(&file, "sample_rate = 0.25\n");
    let status = wait_for_versions(&policy, 4);
    assert_eq!(
        (status.applied, status.rejected, status.last_error),
        (2, 2, None)
    );
    assert_eq!(policy.sample_rate(), 0.25);
    guard.shutdown().unwrap();
}

#[test]
fn a_bad_file_at_start_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    write(&file, "keep_latency = \"2s\"\n");
    let err = recorder_with(dir.path(), &file).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the policy file {}: keep_latency: is a tail keep rule, and tail keep is off: set keep too, such as \"5xx\"",
            file.display()
        )
    );
    let missing = dir.path().join("absent.toml");
    let err = recorder_with(dir.path(), &missing).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot read the policy file {}: ",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn windows_and_captures_are_declared_by_name_and_kept_across_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    let capture = |name: &str| {
        format!(
            "[[capture]]\nname = \"{name}\"\nmethod = \"POST\"\nprefix = \"/checkout\"\nheader = {{ name = \"x-tenant\", value = \"42\" }}\nmax_recordings = 3\nuntil = \"{}\"\n",
            until(Duration::from_secs(300))
        )
    };
    let window = format!(
        "[[window]]\nname = \"INC-1\"\nprefix = \"/search\"\nuntil = \"{}\"\n",
        until(Duration::from_secs(300))
    );
    write(&file, &format!("{}{window}", capture("tenant-42")));
    let (recorder, guard) = recorder_with(dir.path(), &file).unwrap();
    let policy = recorder.policy();
    let captures = policy.captures();
    assert_eq!(captures.len(), 1);
    assert_eq!(
        (
            captures[0].spec.label.as_str(),
            captures[0].spec.owner.as_str()
        ),
        ("tenant-42", "policy-file")
    );
    let id = captures[0].id;
    assert_eq!(policy.windows().len(), 1);
    assert_eq!(
        decide(&policy, Method::POST, "/checkout/1", &[("x-tenant", "42")]),
        Decision::Record(RecordReason::Capture(id))
    );
    assert_eq!(
        decide(&policy, Method::GET, "/search/q", &[]),
        Decision::Record(RecordReason::Window)
    );

    // A reload that keeps the capture keeps its count; the window is gone.
    write(&file, &capture("tenant-42"));
    wait_for_versions(&policy, 2);
    assert_eq!(policy.windows().len(), 0);
    let kept = policy.capture(id).unwrap();
    assert_eq!((kept.recorded, kept.ended), (1, None));
    assert_eq!(
        decide(&policy, Method::POST, "/checkout/2", &[("x-tenant", "42")]),
        Decision::Record(RecordReason::Capture(id))
    );
    let counted = policy.capture(id).unwrap();
    assert_eq!((counted.recorded, counted.ended), (2, None));

    // Removed from the file: stopped.
    write(&file, &capture("another"));
    wait_for_versions(&policy, 3);
    assert_eq!(policy.capture(id).unwrap().ended, Some(CaptureEnd::Stopped));
    assert_eq!(policy.active_captures(), 1);

    // Beyond RETRACE_MAX_WINDOW (1 h by default): refused by name.
    let far = until(Duration::from_secs(7200));
    write(
        &file,
        &format!("[[capture]]\nname = \"far\"\nuntil = \"{far}\"\n"),
    );
    let status = wait_for_versions(&policy, 4);
    assert_eq!(
        status.last_error.unwrap(),
        format!(
            "the policy file {}: capture \"far\": until {far} is more than 1h from now (RETRACE_MAX_WINDOW)",
            file.display()
        )
    );
    guard.shutdown().unwrap();
}
