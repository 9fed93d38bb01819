//! Where bytes live: local paths and object-store URLs behind one [`Location`].
//!
//! In: a path or URL (`./data/lake`, `file:///x`, `s3://bucket/prefix`, `gs://…`, `az://…`).
//! Out: an `object_store` client rooted at that location, plus what Polars needs to scan the
//! same place (`scan_url` and `CloudOptions`).
//! Invariant: credentials come from the standard environment variables (and `--s3-endpoint`)
//! and never appear in [`Location::display`], errors or reports. Every write is a single `put`,
//! which is atomic on S3/GCS/Azure and a write-then-rename on the local filesystem, so no
//! partial object is ever visible.
//!
//! Faults: every request to an object store has a bounded time ([`RetrySettings::timeout`],
//! `--s3-timeout`) and is retried with exponential backoff on 5xx, 429, connection resets and
//! timeouts of idempotent requests, at most [`RetrySettings::max_retries`] times and never past
//! [`RetrySettings::retry_timeout`] (object_store's retry loop). A response whose body breaks
//! off after a good status (a truncated LIST) is not retried by object_store, so [`Location`]
//! re-runs that operation, at most [`OUTER_ATTEMPTS`] times in all and within the same
//! `retry_timeout`. Polars' own cloud scans get the same settings ([`CloudScan`]). When the
//! budget is spent the error names the object and the request (method and URL, never
//! credentials); the CLI maps it to its own exit code.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// How many times in all [`Location`] runs one operation whose response broke off after a
/// good status (each run has object_store's own per-request retries inside).
pub const OUTER_ATTEMPTS: u32 = 3;

/// Runs `f` to completion on the process's I/O runtime. kubeseen is synchronous at the top
/// (decoding and Polars are CPU work); only object-store calls are async, and they all pass
/// through here. Never called from inside the runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("kubeseen-io")
            .build()
            // Invariant: building a runtime only fails when the OS refuses threads; nothing
            // in kubeseen can run then.
            .expect("cannot start the I/O runtime")
    })
    .block_on(f)
}

/// Errors of the storage layer; every variant names the location or object involved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open {location}: {message}")]
    Open { location: String, message: String },
    #[error("{op} {location}: {source}")]
    Io {
        op: &'static str,
        location: String,
        #[source]
        source: object_store::Error,
    },
}

/// Connection settings shared by every location of a run.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); plain http is then allowed.
    pub s3_endpoint: Option<String>,
    /// Timeouts and retries of object-store requests (ignored by local folders).
    pub retry: RetrySettings,
    /// How long a writer waits for the lake's writer lock (`lake::lock`) before giving up.
    pub lock_timeout: Duration,
    /// How long a writer lock stays valid without renewal (it is renewed every quarter of it).
    pub lock_ttl: Duration,
    /// S3 without credentials in the environment may take them from the instance-metadata
    /// service (the EC2 instance profile). Off by default: that address is never contacted
    /// unless asked for (`--s3-instance-credentials`).
    pub s3_instance_credentials: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            s3_endpoint: None,
            retry: RetrySettings::default(),
            lock_timeout: Duration::from_secs(5 * 60),
            lock_ttl: Duration::from_secs(60),
            s3_instance_credentials: false,
        }
    }
}

/// Timeouts and retries of object-store requests (`--s3-timeout`, `--s3-retries`, …).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrySettings {
    /// One request, from sending it to the end of its response body.
    pub timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Retries of one request (0: none).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// The first backoff; each next one is up to twice the previous (with jitter), at most 15 s.
    pub backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 10,
            retry_timeout: Duration::from_secs(3 * 60),
            backoff: Duration::from_millis(100),
        }
    }
}

impl RetrySettings {
    /// object_store's retry policy.
    pub fn retry_config(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.backoff,
                max_backoff: Duration::from_secs(15).max(self.backoff),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    /// The client settings every store gets: (key, value) pairs object_store parses.
    pub fn client_config(&self) -> [(ClientConfigKey, String); 2] {
        [
            (ClientConfigKey::Timeout, format!("{}ms", self.timeout.as_millis())),
            (
                ClientConfigKey::ConnectTimeout,
                format!("{}ms", self.connect_timeout.as_millis()),
            ),
        ]
    }
}

/// Parses a timeout: `250ms`, or anything `config::parse_duration` takes (`30s`, `5m`).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Some(ms) = t.strip_suffix("ms") {
        return match ms.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
            _ => Err(format!("{s:?} is not a duration like 500ms, 30s, 5m")),
        };
    }
    crate::config::parse_duration(t)?
        .to_std()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 30s, 5m"))
}

/// A local folder or an object-store prefix.
#[derive(Clone)]
pub struct Location {
    store: Arc<dyn ObjectStore>,
    /// Prefix of this location inside `store` (empty for a local folder: the store is rooted).
    prefix: Path,
    /// What users see: the path or URL without query string or credentials.
    display: String,
    /// Absolute local folder, or the URL, as Polars wants it for scans.
    scan_base: String,
    cloud: Option<Arc<CloudScan>>,
}

/// How Polars reaches a cloud location.
#[derive(Clone, Debug)]
pub struct CloudScan {
    pub scheme: String,
    pub s3_endpoint: Option<String>,
    pub retry: RetrySettings,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// What users see of a path or URL: no user info, query string or fragment (signed URLs carry
/// credentials in the query). A secret may hold unescaped `/`, `?`, `#` or `@` (AWS secret keys
/// contain `/`), so when what precedes the last `@` has a `:` (`user:password@`) all of it goes,
/// even if the URL does not parse; over-redacting a path is better than printing a secret.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = match rest.rfind('@') {
        Some(at) if rest[..at].contains(':') => &rest[at + 1..],
        _ => rest,
    };
    let base = format!("{scheme}://{}", rest.split(['?', '#']).next().unwrap_or(rest));
    match url::Url::parse(&base) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => base,
    }
}

/// `url` without password, query string and fragment (the user name stays).
fn without_secrets(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The S3 endpoint of a run, refused when it carries credentials: they would be sent and logged
/// as part of every request URL (and S3 ignores them: requests are signed with the AWS_* keys).
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT`, which the S3 client reads itself, are checked too.
fn s3_endpoint(opts: &StoreOptions) -> Result<Option<String>, String> {
    let ours = opts
        .s3_endpoint
        .clone()
        .or_else(|| std::env::var("KUBESEEN_S3_ENDPOINT").ok());
    let candidates = [("the S3 endpoint", ours.clone())]
        .into_iter()
        .chain(["AWS_ENDPOINT_URL", "AWS_ENDPOINT"].map(|v| (v, std::env::var(v).ok())));
    for (what, ep) in candidates {
        let Some(ep) = ep else { continue };
        let (_, rest) = ep.split_once("://").unwrap_or(("", &ep));
        if rest.contains('@') {
            return Err(format!(
                "{what} {} carries credentials (user:password@): not supported, they would appear in \
                 every request URL; give them in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
                redact(&ep)
            ));
        }
    }
    Ok(ours)
}

/// Where the S3 client takes credentials from, checked before any request: object_store's
/// builder reads the `AWS_*` environment and, when it finds no credentials there, asks the
/// instance-metadata service (169.254.169.254) — an opaque failure anywhere but on EC2, and a
/// request to an address kubeseen must not contact unless told to. So without credentials in
/// the environment the run stops here, saying what was looked for and how to provide it.
/// `~/.aws/credentials` and `AWS_PROFILE` are not read (object_store does not).
fn s3_credentials(opts: &StoreOptions) -> Result<(), String> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
        (true, true) => return Ok(()),
        (true, false) => return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both".into()),
        (false, true) => return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both".into()),
        (false, false) => {}
    }
    let configured = (set("AWS_WEB_IDENTITY_TOKEN_FILE") && set("AWS_ROLE_ARN"))
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || (set("AWS_CONTAINER_CREDENTIALS_FULL_URI") && set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
        || std::env::var("AWS_SKIP_SIGNATURE").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || opts.s3_instance_credentials;
    if configured {
        return Ok(());
    }
    Err(
        "no AWS credentials found. Looked for, in the environment: AWS_ACCESS_KEY_ID with \
         AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones); AWS_WEB_IDENTITY_TOKEN_FILE \
         with AWS_ROLE_ARN (EKS IAM roles for service accounts); AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
         (ECS task role) or AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
         (EKS Pod Identity); AWS_SKIP_SIGNATURE=true (a public bucket, unsigned requests). Set one of \
         them, or pass --s3-instance-credentials (KUBESEEN_S3_INSTANCE_CREDENTIALS=true) to use the EC2 \
         instance profile from the instance-metadata service, which is never contacted otherwise. \
         ~/.aws/credentials and AWS_PROFILE are not read"
            .into(),
    )
}

impl Location {
    /// Opens `spec` (a path or URL). Local folders are created when `create` is set.
    pub fn open(spec: &str, opts: &StoreOptions, create: bool) -> Result<Self, StorageError> {
        let display = redact(spec);
        let err = |message: String| StorageError::Open {
            location: display.clone(),
            message,
        };
        if let Some(rest) = spec.strip_prefix("file://") {
            return Self::local(FsPath::new(rest), create).map_err(err);
        }
        if !spec.contains("://") {
            return Self::local(FsPath::new(spec), create).map_err(err);
        }
        let url = url::Url::parse(spec).map_err(|e| err(format!("not a valid URL: {e}")))?;
        let scheme = url.scheme().to_string();
        let endpoint = match scheme.as_str() {
            "s3" | "s3a" => {
                let endpoint = s3_endpoint(opts).map_err(err)?;
                s3_credentials(opts).map_err(err)?;
                endpoint
            }
            _ => None,
        };
        let bucket = url.host_str().unwrap_or_default().to_string();
        // The URL's path is percent-encoded (`team lake` arrives as `team%20lake`): the prefix
        // is the decoded text, which object_store encodes again in each request and Polars
        // takes as is. `Path::from` would encode the `%` a second time (`team%2520lake`).
        let prefix =
            Path::from_url_path(url.path()).map_err(|e| err(format!("the prefix is no valid object path: {e}")))?;
        let store: Arc<dyn ObjectStore> = match scheme.as_str() {
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&bucket);
                if let Some(ep) = &endpoint {
                    b = b.with_endpoint(ep).with_allow_http(ep.starts_with("http://"));
                }
                if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                    b = b.with_region("us-east-1");
                }
                // Client settings go in key by key: `with_client_options` would drop the ones
                // `from_env` read (AWS_ALLOW_HTTP, proxies, …).
                b = b.with_retry(opts.retry.retry_config());
                for (k, v) in opts.retry.client_config() {
                    b = b.with_config(object_store::aws::AmazonS3ConfigKey::Client(k), v);
                }
                Arc::new(b.build().map_err(|e| err(e.to_string()))?)
            }
            "gs" | "gcs" => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(&bucket)
                    .with_retry(opts.retry.retry_config());
                for (k, v) in opts.retry.client_config() {
                    b = b.with_config(object_store::gcp::GoogleConfigKey::Client(k), v);
                }
                Arc::new(b.build().map_err(|e| err(e.to_string()))?)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    // Without password, query and fragment: the builder echoes the URL in its
                    // errors, and the user name is the container of abfss:// URLs.
                    .with_url(without_secrets(&url))
                    .with_retry(opts.retry.retry_config());
                for (k, v) in opts.retry.client_config() {
                    b = b.with_config(object_store::azure::AzureConfigKey::Client(k), v);
                }
                Arc::new(b.build().map_err(|e| err(e.to_string()))?)
            }
            other => {
                return Err(err(format!(
                    "unsupported scheme {other:?} (use a path, file://, s3://, gs:// or az://)"
                )))
            }
        };
        Ok(Location {
            store,
            scan_base: format!("{scheme}://{bucket}/{}", prefix.as_ref())
                .trim_end_matches('/')
                .to_string(),
            prefix,
            display,
            cloud: Some(Arc::new(CloudScan {
                scheme,
                s3_endpoint: endpoint,
                retry: opts.retry,
            })),
        })
    }

    fn local(dir: &FsPath, create: bool) -> Result<Self, String> {
        if create {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create folder: {e}"))?;
        }
        let abs = std::fs::canonicalize(dir).map_err(|e| e.to_string())?;
        if !abs.is_dir() {
            return Err("not a folder".into());
        }
        let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| e.to_string())?;
        Ok(Location {
            store: Arc::new(store),
            prefix: Path::default(),
            display: dir.display().to_string(),
            scan_base: abs.display().to_string(),
            cloud: None,
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    pub fn is_local(&self) -> bool {
        self.cloud.is_none()
    }

    /// The local folder of a local location.
    pub fn local_root(&self) -> Option<PathBuf> {
        self.is_local().then(|| PathBuf::from(&self.scan_base))
    }

    pub fn cloud(&self) -> Option<&CloudScan> {
        self.cloud.as_deref()
    }

    /// The full object path of `key` (relative to this location). The prefix's parts are
    /// kept as they are (already valid parts); `key`'s are encoded where needed.
    pub fn path(&self, key: &str) -> Path {
        let key = Path::from(key);
        if self.prefix.as_ref().is_empty() {
            key
        } else {
            self.prefix.parts().chain(key.parts()).collect()
        }
    }

    /// `key` relative to this location, from a full object path.
    pub fn key_of<'a>(&self, path: &'a Path) -> &'a str {
        let p = path.as_ref();
        if self.prefix.as_ref().is_empty() {
            p
        } else {
            p.strip_prefix(self.prefix.as_ref())
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(p)
        }
    }

    /// What Polars scans for `key`: an absolute local path or a URL.
    pub fn scan_path(&self, key: &str) -> String {
        format!("{}/{}", self.scan_base, key)
    }

    /// How users see `key` in messages.
    pub fn describe(&self, key: &str) -> String {
        format!("{}/{}", self.display.trim_end_matches('/'), key)
    }

    /// Runs one object-store operation, re-running it (with backoff, within the retry budget)
    /// when it failed after the store had answered — a response body that broke off — which
    /// object_store's per-request retries do not cover; an `idempotent` one (a delete, which
    /// object_store sends as a POST and does not retry on timeouts) after any transient
    /// failure. Local folders run it once.
    fn run<T, F, Fut>(&self, idempotent: bool, mut op: F) -> Result<T, object_store::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, object_store::Error>>,
    {
        let Some(cloud) = &self.cloud else {
            return block_on(op());
        };
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match block_on(op()) {
                Ok(v) => return Ok(v),
                Err(e)
                    if attempt < OUTER_ATTEMPTS
                        && (broke_off(&e) || (idempotent && transient(&e)))
                        && started.elapsed() < cloud.retry.retry_timeout =>
                {
                    let wait = cloud.retry.backoff * 2u32.pow(attempt);
                    tracing::info!(location = %self.display, attempt, "object-store operation failed, re-running in {wait:?}: {e}");
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let payload = PutPayload::from(bytes);
        let path = self.path(key);
        self.run(false, || self.store.put(&path, payload.clone()))
            .map(|_| ())
            .map_err(|source| StorageError::Io {
                op: "writing",
                location: self.describe(key),
                source,
            })
    }

    /// Writes `key` only if no object has that name (a conditional put: `If-None-Match: *` on
    /// S3, a hard link locally). `Ok(false)` when it already exists. Not re-run on a broken
    /// response (it is not idempotent): the caller reads the object back to know.
    pub fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<bool, StorageError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match block_on(self.store.put_opts(&self.path(key), PutPayload::from(bytes), opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(source) => Err(StorageError::Io {
                op: "creating",
                location: self.describe(key),
                source,
            }),
        }
    }

    /// Reads `key`; `Ok(None)` when it does not exist. A read is idempotent: it is re-run after
    /// any transient failure, a truncated body included.
    pub fn get_opt(&self, key: &str) -> Result<Option<bytes::Bytes>, StorageError> {
        let path = self.path(key);
        match self.run(true, || async { self.store.get(&path).await?.bytes().await }) {
            Ok(b) => Ok(Some(b)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(StorageError::Io {
                op: "reading",
                location: self.describe(key),
                source,
            }),
        }
    }

    pub fn get(&self, key: &str) -> Result<bytes::Bytes, StorageError> {
        let path = self.path(key);
        self.run(true, || async { self.store.get(&path).await?.bytes().await })
            .map_err(|source| StorageError::Io {
                op: "reading",
                location: self.describe(key),
                source,
            })
    }

    pub fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key);
        match self.run(true, || self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StorageError::Io {
                op: "deleting",
                location: self.describe(key),
                source,
            }),
        }
    }

    /// Every object below `key_prefix` (recursive), as (key, size), sorted by key.
    pub fn list(&self, key_prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let full = self.path(key_prefix.trim_end_matches('/'));
        let prefix = if full.as_ref().is_empty() { None } else { Some(&full) };
        let metas: Vec<_> = match self.run(false, || self.store.list(prefix).try_collect::<Vec<_>>()) {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => {
                return Err(StorageError::Io {
                    op: "listing",
                    location: self.describe(key_prefix),
                    source,
                })
            }
        };
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .map(|m| (self.key_of(&m.location).to_string(), m.size))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Immediate sub-"folders" of `key_prefix` (e.g. partitions), sorted.
    pub fn list_dirs(&self, key_prefix: &str) -> Result<Vec<String>, StorageError> {
        let full = self.path(key_prefix.trim_end_matches('/'));
        let prefix = if full.as_ref().is_empty() { None } else { Some(&full) };
        let res = match self.run(false, || self.store.list_with_delimiter(prefix)) {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(source) => {
                return Err(StorageError::Io {
                    op: "listing",
                    location: self.describe(key_prefix),
                    source,
                })
            }
        };
        let mut out: Vec<String> = res
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }
}

/// Whether `e` happened after the store had answered (a body that broke off, an unreadable
/// listing), as opposed to a request that failed — those object_store already retried, and
/// its message begins "Error performing …".
fn broke_off(e: &object_store::Error) -> bool {
    transient(e) && !e.to_string().contains("Error performing ")
}

/// Whether `e` may go away on its own (not: not found, exists, denied, unsupported, …).
fn transient(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::Generic { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timeouts_in_milliseconds_and_larger_units() {
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_timeout("0ms").is_err());
        assert!(parse_timeout("fast").is_err());
    }

    #[test]
    fn conditional_put_creates_once_on_a_local_folder() {
        let dir = std::env::temp_dir().join(format!("kubeseen-storage-{}", std::process::id()));
        let loc = Location::open(&dir.display().to_string(), &StoreOptions::default(), true).expect("open");
        assert!(loc.put_if_absent("a/b.json", b"1".to_vec()).expect("first"));
        assert!(!loc.put_if_absent("a/b.json", b"2".to_vec()).expect("second"));
        assert_eq!(loc.get("a/b.json").expect("read").as_ref(), b"1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn redacts_signed_urls_and_user_info() {
        assert_eq!(redact("s3://b/p?X-Amz-Signature=abc"), "s3://b/p");
        assert_eq!(redact("https://user:secret@host/p"), "https://host/p");
        assert_eq!(redact("./data/lake"), "./data/lake");
    }

    #[test]
    fn redacts_secrets_that_break_url_syntax() {
        // AWS secret keys hold `/` and `+`; users paste them unescaped.
        let spec = "s3://AKIAEXAMPLE:wJalr/K7MDENG+bPx#Rfi?CY@bucket/lake?X-Amz-Signature=s1g";
        assert_eq!(redact(spec), "s3://bucket/lake");
        assert_eq!(redact("s3://AKIAEXAMPLE@bucket/p"), "s3://bucket/p");
        // An `@` in a path without user info is kept.
        assert_eq!(redact("s3://bucket/team@corp/x"), "s3://bucket/team@corp/x");
        assert_eq!(
            redact("abfss://container@account.dfs.core.windows.net/p?sig=x"),
            "abfss://account.dfs.core.windows.net/p"
        );
    }

    #[test]
    fn refuses_an_endpoint_with_credentials_without_printing_them() {
        let opts = StoreOptions {
            s3_endpoint: Some("http://alice:s3cr3t-pass@127.0.0.1:9".into()),
            ..StoreOptions::default()
        };
        let e = Location::open("s3://bucket/lake", &opts, false).expect_err("credentials in the endpoint");
        let msg = e.to_string();
        assert!(
            msg.contains("endpoint http://127.0.0.1:9 ") && msg.contains("AWS_SECRET_ACCESS_KEY"),
            "{msg}"
        );
        assert!(!msg.contains("s3cr3t") && !msg.contains("alice"), "{msg}");
    }

    #[test]
    fn azure_urls_reach_the_builder_without_password_or_query() {
        let url = url::Url::parse("az://acct:s3cr3t@container/p?sig=s1g#frag").expect("url");
        assert_eq!(without_secrets(&url), "az://acct@container/p");
    }
}
