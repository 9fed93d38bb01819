//! Every Polars scan of the lake: part files of the points table, rollup objects, and the
//! scan arguments (cloud options, retries) they share.
//!
//! In: a [`Location`] and the objects to read (listed by `lake`). Out: lazy frames. Invariant:
//! hive partitioning is off (the file list is already pruned to the partitions wanted), and
//! part files are read with the points table's full schema so older files lacking a newer
//! column read it as null.

use polars::prelude::*;

use super::error::LakeError;
use super::layout::{PartFile, METRICS};
use super::schema;
use crate::storage::Location;

/// A lazy scan of the part files `files`, or an empty frame of the needed columns when there
/// are none.
pub fn parts(lake: &Location, files: &[PartFile], columns: &[String]) -> PolarsResult<LazyFrame> {
    if files.is_empty() {
        let points = schema::points_schema();
        let schema: Schema = columns
            .iter()
            .map(|c| {
                let dt = points.get(c.as_str()).cloned().unwrap_or(DataType::String);
                Field::new(c.as_str().into(), dt)
            })
            .collect();
        return Ok(DataFrame::empty_with_schema(&schema).lazy());
    }
    let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::new(lake.scan_path(&f.key))).collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), points_scan_args(lake))
}

/// A lazy scan of the lake objects `keys` (rollups).
pub fn objects(lake: &Location, keys: &[String]) -> PolarsResult<LazyFrame> {
    let paths: Vec<PlRefPath> = keys.iter().map(|k| PlRefPath::new(lake.scan_path(k))).collect();
    LazyFrame::scan_parquet_files(paths.into_iter().collect(), scan_args(lake))
}

/// Finds which of the objects `keys` is unreadable, to name it in the error (Polars does not).
pub fn find_corrupt<'a>(lake: &Location, keys: impl IntoIterator<Item = &'a str>) -> Option<LakeError> {
    for key in keys {
        let bytes = match lake.get(key) {
            Ok(b) => b,
            Err(e) => return Some(e.into()),
        };
        if let Err(e) = ParquetReader::new(std::io::Cursor::new(bytes)).finish() {
            return Some(LakeError::CorruptFile {
                file: lake.describe(key),
                message: e.to_string(),
            });
        }
    }
    None
}

/// An error naming the lake when nothing has been landed in it.
pub fn require_points(lake: &Location) -> Result<(), LakeError> {
    if lake.list_dirs(METRICS)?.is_empty() {
        return Err(LakeError::Empty {
            lake: lake.display().to_string(),
        });
    }
    Ok(())
}

/// Scan arguments for the lake's files: cloud options for object stores, hive off (the file
/// list is already pruned to the window's partitions, and the columns come from the files).
/// Polars' object-store clients get the lake's timeouts and retry budget
/// (`storage::RetrySettings`), as kubeseen's own requests do.
pub fn scan_args(lake: &Location) -> polars::prelude::ScanArgsParquet {
    use polars::prelude::cloud::{CloudOptions, CloudRetryConfig};
    let mut args = polars::prelude::ScanArgsParquet::default();
    args.hive_options.enabled = Some(false);
    if let Some(c) = lake.cloud() {
        let mut opts = CloudOptions::default();
        let client = c.retry.client_config();
        if c.scheme.starts_with("s3") {
            use object_store::aws::AmazonS3ConfigKey as K;
            let mut cfg: Vec<(K, String)> = Vec::new();
            if let Some(ep) = &c.s3_endpoint {
                cfg.push((K::Endpoint, ep.clone()));
                cfg.push((
                    K::Client(object_store::ClientConfigKey::AllowHttp),
                    ep.starts_with("http://").to_string(),
                ));
            }
            if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
                cfg.push((K::Region, "us-east-1".into()));
            }
            cfg.extend(client.into_iter().map(|(k, v)| (K::Client(k), v)));
            opts = opts.with_aws(cfg);
        } else if c.scheme.starts_with("gs") {
            use object_store::gcp::GoogleConfigKey as K;
            opts = opts.with_gcp(client.into_iter().map(|(k, v)| (K::Client(k), v)));
        } else {
            use object_store::azure::AzureConfigKey as K;
            opts = opts.with_azure(client.into_iter().map(|(k, v)| (K::Client(k), v)));
        }
        let retry = c.retry.retry_config();
        opts.retry_config = CloudRetryConfig {
            max_retries: Some(retry.max_retries),
            retry_timeout: Some(retry.retry_timeout),
            retry_init_backoff: Some(retry.backoff.init_backoff),
            retry_max_backoff: Some(retry.backoff.max_backoff),
            retry_base_multiplier: None,
        };
        args.cloud_options = Some(opts);
    }
    args
}

/// Scan arguments for part files of the points table: [`scan_args`] with the table's full
/// schema, so part files written before a column was added (a newly promoted attribute) read
/// it as null instead of failing the scan.
pub fn points_scan_args(lake: &Location) -> polars::prelude::ScanArgsParquet {
    let mut args = scan_args(lake);
    args.schema = Some(std::sync::Arc::new(schema::points_schema()));
    args.allow_missing_columns = true;
    args
}
