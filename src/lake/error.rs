//! The lake's error for reads: a storage failure, or a lake whose content is not what it must
//! be (nothing landed, a corrupt object). Landing, rollups and the lock have their own
//! (`land::LandError`, `rollup::RollupError`, `lock::LockError`).

use crate::storage::StorageError;

/// An error of the lake: a storage failure, or a lake whose content is not what it must be.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(
        "lake {lake} has no landed points (nothing under metrics/): run `kubeseen land --lake {lake} <INPUT>...` first"
    )]
    Empty { lake: String },
    #[error("corrupt Parquet file {file}: {message}")]
    CorruptFile { file: String, message: String },
}
