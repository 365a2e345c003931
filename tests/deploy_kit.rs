//! The Kubernetes deployment kit (`deploy/`) against the code it configures: the
//! policy file in the ConfigMap parses with the recorder's own parser and means what
//! its comments say, the application container's variables are ones Retrace reads
//! and its configuration accepts, and `scripts/validate-deploy` passes the kit and
//! names a misspelt field in a broken copy.
//!
//! The manifests are read with a few line-based helpers rather than a YAML parser:
//! they look for the shapes the kit is written in (a `policy.toml: |` block, an
//! `env:` list of `- name:` items) and fail by name when they cannot find them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http::{Method, Request};
use retrace::config::VARIABLES;
use retrace::policy::{Decision, PolicyFile, RequestView, RouteAction, TailKeep};
use retrace::{Config, Recorder, TraceId};

const CONFIGMAP: &str = "deploy/kubernetes/policy-configmap.yaml";
const DEPLOYMENT: &str = "deploy/kubernetes/deployment.yaml";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo().join(relative))
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether a line carries nothing (blank, or a comment).
fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The text of the literal block scalar `key: |`, without its indentation.
fn block_scalar(yaml: &str, key: &str) -> String {
    let header = format!("{key}: |");
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == header)
        .unwrap_or_else(|| panic!("no `{header}` block"));
    let body = &lines[start + 1..];
    let depth = body
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .filter(|&d| d > indent(lines[start]))
        .unwrap_or_else(|| panic!("the `{header}` block is empty"));
    let mut text = String::new();
    for line in body {
        if line.trim().is_empty() {
            text.push('\n');
        } else if indent(line) >= depth {
            text.push_str(&line[depth..]);
            text.push('\n');
        } else {
            break;
        }
    }
    text
}

/// The `env:` list of the container `name`: each variable's name and its literal
/// `value:` (`None` for one read with `valueFrom:`).
fn container_env(yaml: &str, name: &str) -> Vec<(String, Option<String>)> {
    let item = format!("- name: {name}");
    let lines: Vec<&str> = yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == item)
        .unwrap_or_else(|| panic!("no container `{item}`"));
    let fields = indent(lines[start]) + 2;
    let container: Vec<&str> = lines[start + 1..]
        .iter()
        .copied()
        .take_while(|l| is_blank(l) || indent(l) >= fields)
        .collect();
    let env_at = container
        .iter()
        .position(|l| indent(l) == fields && l.trim() == "env:")
        .unwrap_or_else(|| panic!("container {name} has no `env:`"));
    let mut env = Vec::new();
    for line in &container[env_at + 1..] {
        if is_blank(line) {
            continue;
        }
        let (depth, text) = (indent(line), line.trim());
        if depth <= fields {
            break;
        }
        if depth == fields + 2 {
            let var = text
                .strip_prefix("- name: ")
                .unwrap_or_else(|| panic!("container {name}: unexpected env line `{text}`"));
            env.push((var.to_owned(), None));
        } else if depth == fields + 4
            && let Some(value) = text.strip_prefix("value: ")
        {
            let last = env.last_mut().expect("a value before any name");
            last.1 = Some(value.trim_matches('"').to_owned());
        }
    }
    env
}

/// Every `key: value` line's value for `key`, in order.
fn values_of<'a>(yaml: &'a str, key: &str) -> Vec<&'a str> {
    let prefix = format!("{key}: ");
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .collect()
}

/// A Kubernetes quantity in binary units (`2Gi`, `512Mi`), in bytes.
fn quantity(text: &str) -> u64 {
    let (digits, shift) = if let Some(n) = text.strip_suffix("Gi") {
        (n, 30)
    } else if let Some(n) = text.strip_suffix("Mi") {
        (n, 20)
    } else {
        panic!("quantity {text:?}: expected Mi or Gi");
    };
    digits.parse::<u64>().expect("a whole number") << shift
}

#[test]
fn the_policy_in_the_configmap_parses_and_means_what_it_says() {
    let text = block_scalar(&read(CONFIGMAP), "policy.toml");
    PolicyFile::parse(Path::new(CONFIGMAP), &text, Duration::from_secs(3600))
        .unwrap_or_else(|e| panic!("{e}\n--- the policy file:\n{text}"));

    // As a pod reads it: a recorder with the file as RETRACE_POLICY_FILE.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, &text).unwrap();
    let (recorder, guard) = Recorder::new(
        Config::builder()
            .enabled(true)
            .recording_path(dir.path().join("recordings"))
            .policy_file(&file)
            .build()
            .unwrap(),
    )
    .unwrap();
    let policy = recorder.policy();
    assert_eq!(policy.file_status().unwrap().applied, 1);
    assert_eq!(policy.sample_rate(), 0.01);
    assert_eq!(
        policy.tail(),
        Some(
            TailKeep::default()
                .statuses("5xx,429")
                .unwrap()
                .latency(Some(Duration::from_secs(2)))
        )
    );
    let routes = policy.routes();
    for (method, path, action) in [
        (Method::GET, "/healthz", Some(RouteAction::Never)),
        (Method::GET, "/readyz", Some(RouteAction::Never)),
        (Method::GET, "/metrics", Some(RouteAction::Never)),
        (Method::GET, "/metrics/process", Some(RouteAction::Never)),
        (Method::POST, "/checkout", Some(RouteAction::Rate(0.1))),
        (Method::POST, "/checkout/42", Some(RouteAction::Rate(0.1))),
        (Method::GET, "/checkout/42", None),
        (Method::POST, "/checkouts", None),
        (Method::GET, "/catalog", None),
    ] {
        assert_eq!(routes.lookup(&method, path), action, "{method} {path}");
    }
    let probe = Request::get("/healthz")
        .header("x-retrace-record", "1")
        .body(())
        .unwrap();
    assert_eq!(
        policy.decide(&RequestView::of(&probe), TraceId::random(), false),
        Decision::Skip,
        "a probe is never recorded, not even when asked to"
    );
    drop(guard);
}

#[test]
fn the_application_container_sets_variables_retrace_reads_and_accepts() {
    let deployment = read(DEPLOYMENT);
    let env = container_env(&deployment, "app");
    for (name, _) in &env {
        assert!(
            VARIABLES.iter().any(|v| v.name == name),
            "{DEPLOYMENT}: the app container sets {name}, which Retrace does not read"
        );
    }
    let set = |name: &str| env.iter().find(|(n, _)| n == name);
    for from_the_pod in [
        "POD_NAME",
        "NODE_NAME",
        "POD_NAMESPACE",
        "RETRACE_ENCRYPT_TO",
    ] {
        let (_, value) = set(from_the_pod).unwrap_or_else(|| panic!("{from_the_pod} is not set"));
        assert_eq!(
            value, &None,
            "{from_the_pod} comes from the downward API or a Secret"
        );
    }

    let literals = env
        .iter()
        .filter_map(|(n, v)| Some((n.clone(), v.clone()?)));
    let config = Config::builder()
        .with_env_vars(literals)
        .build()
        .unwrap_or_else(|e| panic!("{DEPLOYMENT}: {e}"));
    config.validate().unwrap();
    assert!(config.enabled);
    assert_eq!(config.service, "your-service");

    // One volume, mounted at one path in both containers, and named to both.
    let path = config.recording_path.to_str().unwrap();
    assert_eq!(
        values_of(&deployment, "mountPath")
            .iter()
            .filter(|p| **p == path)
            .count(),
        2,
        "both containers mount the recordings at {path}"
    );
    let shipper = container_env(&deployment, "retrace-ship");
    assert!(
        shipper
            .iter()
            .any(|(n, v)| n == "RETRACE_RECORDING_PATH" && v.as_deref() == Some(path)),
        "the shipper reads {path}"
    );

    // The policy file is the ConfigMap's key, in the directory it is mounted at.
    let policy_file = config.policy_file.as_deref().expect("RETRACE_POLICY_FILE");
    let mounted_at = policy_file.parent().unwrap().to_str().unwrap();
    assert!(values_of(&deployment, "mountPath").contains(&mounted_at));
    let key = policy_file.file_name().unwrap().to_str().unwrap();
    block_scalar(&read(CONFIGMAP), key);

    // Past the volume's sizeLimit the kubelet evicts the pod; the recorder's budget
    // must stop it first.
    let size_limit = quantity(values_of(&deployment, "sizeLimit")[0]);
    let budget = config.max_disk_bytes.expect("RETRACE_MAX_DISK_BYTES");
    assert!(
        budget < size_limit,
        "RETRACE_MAX_DISK_BYTES ({budget}) must stay under the emptyDir's sizeLimit ({size_limit})"
    );
}

#[test]
fn validate_deploy_passes_the_kit_and_names_a_misspelt_field() {
    let script = repo().join("scripts/validate-deploy");
    let out = Command::new(&script).output().unwrap();
    assert!(
        out.status.success(),
        "scripts/validate-deploy failed on the kit:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let broken = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("deploy/kubernetes")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, broken.path().join(path.file_name().unwrap())).unwrap();
    }
    let deployment = broken.path().join("deployment.yaml");
    let text = std::fs::read_to_string(&deployment).unwrap();
    assert!(text.contains("sizeLimit: "));
    std::fs::write(&deployment, text.replace("sizeLimit: ", "sizeLimt: ")).unwrap();

    let out = Command::new(&script).arg(broken.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("sizeLimt"))
        .unwrap_or_else(|| panic!("no line names the misspelt field:\n{stderr}"));
    assert!(line.contains("deployment.yaml"), "{line}");
    assert!(line.contains("emptyDir"), "{line}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| !l.contains(" problem(s) in "))
            .count(),
        1,
        "only the misspelt field is a problem:\n{stderr}"
    );
}
