//! Encrypted recordings through the `retrace` command: each command opens them with
//! `--identity FILE` (or `RETRACE_IDENTITY`), says which recipients a file wants when
//! it cannot, keeps reading files for an old recipient after a key rotation, and
//! reads an encrypted upload from a bucket only with the identity.

mod support;

use std::fs;
use std::path::Path;

use age::secrecy::ExposeSecret;
use support::{Root, Spec};

/// A key pair: the recipient (`age1…`) and an identity file holding the secret.
struct Key {
    recipient: String,
    file: String,
}

fn key(dir: &Path, name: &str) -> Key {
    let identity = age::x25519::Identity::generate();
    let file = dir.join(format!("{name}.key"));
    fs::write(
        &file,
        format!(
            "# created by a test\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        ),
    )
    .expect("identity file");
    Key {
        recipient: identity.to_public().to_string(),
        file: file.display().to_string(),
    }
}

const PLANTED: &str = "planted-body-3f9c1e";

fn specs(n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| {
            Spec::new("POST", &format!("/orders/{i}"), 201).body(
                "application/json",
                format!("{{\"note\":\"{PLANTED}\"}}").as_bytes(),
            )
        })
        .collect()
}

fn every_byte(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(every_byte(&path));
        } else {
            all.extend(fs::read(&path).expect("read"));
        }
    }
    all
}

fn listed(run: &support::Run) -> usize {
    let rows: Vec<serde_json::Value> = serde_json::from_str(&run.stdout).expect("json");
    rows.len()
}

#[test]
fn identities_open_what_was_encrypted_to_them_across_a_key_rotation() {
    let keys = tempfile::tempdir().expect("keys");
    let old = key(keys.path(), "old");
    let new = key(keys.path(), "new");
    let root = Root::new();
    // Before the rotation, during it (both recipients), after it.
    let before = root.record_configured("billing", &specs(2), false, |c| {
        c.encrypt_to([old.recipient.clone()])
    });
    let during = root.record_configured("billing", &specs(1), false, |c| {
        c.encrypt_to([old.recipient.clone(), new.recipient.clone()])
    });
    let after = root.record_configured("billing", &specs(3), false, |c| {
        c.encrypt_to([new.recipient.clone()])
    });
    let raw = every_byte(root.path());
    assert!(
        !raw.windows(PLANTED.len()).any(|w| w == PLANTED.as_bytes()),
        "a recorded body is on disk in clear"
    );

    let none = root.retrace(&["ls", "--json"]);
    assert_eq!(none.code, 0, "{none:?}");
    assert_eq!(listed(&none), 0);
    assert!(
        none.stderr.contains(&old.recipient) && none.stderr.contains(&new.recipient),
        "each file names the recipients it wants: {}",
        none.stderr
    );
    assert!(none.stderr.contains("--identity FILE"), "{}", none.stderr);

    let with_old = root.retrace(&["ls", "--json", "--identity", &old.file]);
    assert_eq!(
        listed(&with_old),
        before.len() + during.len(),
        "{with_old:?}"
    );
    assert!(
        with_old.stderr.contains("none of the 1 identities given"),
        "{}",
        with_old.stderr
    );
    let with_new = root.retrace_env(&["ls", "--json"], &[("RETRACE_IDENTITY", &new.file)]);
    assert_eq!(
        listed(&with_new),
        during.len() + after.len(),
        "{with_new:?}"
    );
    let both = format!("{},{}", old.file, new.file);
    let with_both = root.retrace(&["ls", "--json", "--identity", &both]);
    assert_eq!(listed(&with_both), 6, "{with_both:?}");
    assert!(with_both.stderr.is_empty(), "{}", with_both.stderr);

    let show = root.retrace(&["show", &before[0], "--identity", &old.file]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains(PLANTED), "{}", show.stdout);
    let refused = root.retrace(&["show", &after[0], "--identity", &old.file]);
    assert_ne!(refused.code, 0, "{refused:?}");

    let verify = root.retrace(&["verify", "--identity", &both]);
    assert_eq!(verify.code, 0, "{verify:?}");

    let missing = root.retrace(&["ls", "--identity", "/nonexistent/retrace.key"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing
            .stderr
            .contains("identity file /nonexistent/retrace.key"),
        "{}",
        missing.stderr
    );
}

#[test]
fn an_encrypted_upload_reads_from_the_bucket_only_with_the_identity() {
    let keys = tempfile::tempdir().expect("keys");
    let k = key(keys.path(), "ops");
    let root = Root::new();
    let ids = root.record_configured("search", &specs(4), false, |c| {
        c.encrypt_to([k.recipient.clone()])
    });
    let env = retrace_test_services::s3::env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bucket = retrace_test_services::s3::fresh_bucket("encrypted upload");
    let url = format!("{bucket}/prod");
    let shipped = root.retrace_env(&["ship", "--to", &url], &pairs);
    assert_eq!(shipped.code, 0, "{shipped:?}");
    let keys = support::runtime().block_on(async {
        use futures_util::TryStreamExt;
        let options = env.iter().map(|(k, v)| (k.to_string(), v.clone()));
        let d = retrace::ship::Destination::parse_with(&url, options).expect("destination");
        let metas: Vec<_> = d
            .store()
            .list(Some(d.prefix()))
            .try_collect()
            .await
            .expect("list");
        metas
            .into_iter()
            .map(|m| m.location.to_string())
            .collect::<Vec<_>>()
    });
    assert!(keys.iter().any(|k| k.ends_with(".rtseg")), "{keys:?}");
    assert!(
        keys.iter().all(|k| !k.ends_with(".parquet")),
        "no index in clear beside encrypted segments: {keys:?}"
    );

    let reader = support::BucketReader::new(&url);
    let remote = |args: &[&str]| reader.run(args);
    let locked = remote(&["ls", "--json"]);
    assert_eq!(listed(&locked), 0, "{locked:?}");
    assert!(locked.stderr.contains(&k.recipient), "{}", locked.stderr);
    let open = remote(&["ls", "--json", "--identity", &k.file]);
    assert_eq!(listed(&open), ids.len(), "{open:?}");
    let show = remote(&["show", &ids[0], "--identity", &k.file]);
    assert_eq!(show.code, 0, "{show:?}");
    assert!(show.stdout.contains(PLANTED), "{}", show.stdout);
    // What went to the bucket is what was on disk: ciphertext.
    let raw = every_byte(reader.cache());
    assert!(!raw.windows(PLANTED.len()).any(|w| w == PLANTED.as_bytes()));
}
