//! Where segments go: an object store client and the key prefix inside it, from a URL.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreScheme, RetryConfig, local::LocalFileSystem};

use super::ShipError;

/// An object store and the prefix under which recordings go.
///
/// Parsed from `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`
/// (and the other URL forms `object_store` knows), `file:///dir` or a plain directory
/// path. The client is configured from the environment the store's own tools read:
/// every `AWS_*`, `GOOGLE_*` and `AZURE_*` variable (`AWS_ENDPOINT_URL` and
/// `AWS_ALLOW_HTTP=true` for an S3-compatible server on plain HTTP, say).
#[derive(Clone, Debug)]
pub struct Destination {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Key,
}

/// How long the client keeps retrying one request before giving up on it; a segment
/// that fails is tried again on a later pass anyway.
const RETRY_TIMEOUT: Duration = Duration::from_secs(20);

impl Destination {
    /// Parses a destination, configuring its client from the environment.
    pub fn parse(url: &str) -> Result<Self, ShipError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
            })
            .collect();
        Self::parse_with(url, env)
    }

    /// Parses a destination with the given client options instead of the
    /// environment's (`("aws_endpoint", "http://127.0.0.1:9000")`, ...).
    pub fn parse_with<I, K, V>(url: &str, options: I) -> Result<Self, ShipError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let bad = |reason: String| ShipError::Destination {
            url: url.to_owned(),
            reason,
        };
        if !url.contains("://") {
            return Self::directory(url, std::path::Path::new(url)).map_err(bad);
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let (scheme, path) = ObjectStoreScheme::parse(&parsed).map_err(|e| bad(e.to_string()))?;
        let prefix = Key::parse(path).map_err(|e| bad(e.to_string()))?;
        let retry = RetryConfig {
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let options: Vec<(String, String)> = options
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.into()))
            .collect();
        // The three cloud builders share a shape but no trait.
        macro_rules! configured {
            ($builder:ty) => {
                configured!($builder, |b| b)
            };
            ($builder:ty, $finish:expr) => {{
                let mut builder = <$builder>::new();
                for (k, v) in &options {
                    if let Ok(key) = k.parse() {
                        builder = builder.with_config(key, v.clone());
                    }
                }
                let finish: fn($builder) -> $builder = $finish;
                let built = finish(builder.with_url(url).with_retry(retry)).build();
                Arc::new(built.map_err(|e| bad(e.to_string()))?)
            }};
        }
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::Local => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("not a local path".to_owned()))?;
                return Self::directory(url, &dir).map_err(bad);
            }
            ObjectStoreScheme::AmazonS3 => {
                // S3 checks each upload against the SHA-256 sent with it: what
                // arrives is what was read from the disk.
                configured!(object_store::aws::AmazonS3Builder, |b| {
                    b.with_checksum_algorithm(object_store::aws::Checksum::SHA256)
                })
            }
            ObjectStoreScheme::GoogleCloudStorage => {
                configured!(object_store::gcp::GoogleCloudStorageBuilder)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                configured!(object_store::azure::MicrosoftAzureBuilder)
            }
            other => return Err(bad(format!("{other:?} stores are not supported"))),
        };
        Ok(Self {
            url: url.to_owned(),
            store,
            prefix,
        })
    }

    fn directory(url: &str, dir: &std::path::Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.to_owned(),
            store: Arc::new(store),
            prefix: Key::default(),
        })
    }

    /// The destination as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object store client.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The key prefix every object goes under (empty for a bucket's root).
    pub fn prefix(&self) -> &Key {
        &self.prefix
    }

    /// Whether the store keeps user metadata (an S3 `x-amz-meta-*` header, say), so
    /// that an upload can be verified from a `HEAD` rather than by reading it back.
    pub(super) fn keeps_metadata(&self) -> bool {
        !self.url.starts_with("file:") && self.url.contains("://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(url: &str) -> String {
        Destination::parse_with(url, Vec::<(String, String)>::new())
            .expect_err(url)
            .to_string()
    }

    #[test]
    fn a_url_that_is_no_store_is_refused_by_name() {
        assert!(
            error("ftp://host/x").starts_with("cannot ship to \"ftp://host/x\": "),
            "{}",
            error("ftp://host/x")
        );
        assert!(
            error("s3://").starts_with("cannot ship to \"s3://\""),
            "{}",
            error("s3://")
        );
    }

    #[test]
    fn buckets_and_prefixes_are_read_from_the_url() {
        let d = Destination::parse_with("s3://bucket/a/b", [("aws_region", "us-east-1")])
            .expect("s3 url");
        assert_eq!(d.prefix().as_ref(), "a/b");
        assert!(d.keeps_metadata());
        let dir = tempfile::tempdir().expect("tempdir");
        let local = dir.path().join("archive");
        let d = Destination::parse(&local.display().to_string()).expect("a directory");
        assert!(local.is_dir(), "the directory is created");
        assert!(!d.keeps_metadata());
    }
}
