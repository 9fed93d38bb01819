//! Ingest: export files → decoded [`model::Point`]s.
//!
//! In: INPUT specs — files, folders (recursive) and object-store URLs/prefixes.
//! Out: for each input, its raw bytes, the compression and format detected from the bytes
//! themselves (magic bytes, not the file name), and the points and rejections its decoder
//! produced, pushed into a [`model::Sink`].
//! Invariant: nothing is dropped silently. Anything that cannot become a point is a
//! [`model::Rejection`] naming its position; an unreadable input is an [`InputError`] naming it.

pub mod model;
pub mod otlp_json;
pub mod otlp_messages;
pub mod otlp_proto;
mod raw;
pub mod splunk_csv;

use std::path::{Path, PathBuf};

pub use raw::{decode, decompress, detect_compression, detect_format, Compression, Decoded, Format};

use crate::storage::{Location, StorageError, StoreOptions};

/// An input that could not be found or read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {message}")]
    Local { path: String, message: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One export to land.
pub struct Input {
    /// How users see it: a path or a URL without credentials.
    pub name: String,
    pub size: u64,
    source: Source,
}

enum Source {
    Local(PathBuf),
    Object { location: Location, key: String },
}

impl Input {
    /// Reads the raw (possibly compressed) bytes.
    pub fn read(&self) -> Result<bytes::Bytes, InputError> {
        match &self.source {
            Source::Local(p) => std::fs::read(p).map(bytes::Bytes::from).map_err(|e| InputError::Local {
                path: self.name.clone(),
                message: e.to_string(),
            }),
            Source::Object { location, key } => Ok(location.get(key)?),
        }
    }
}

/// Expands INPUT specs into the inputs they name, each spec's inputs sorted by file name, then
/// path (deterministic, and time-major for exports named by time).
pub fn discover(specs: &[String], opts: &StoreOptions) -> Result<Vec<Input>, InputError> {
    let mut out = Vec::new();
    for spec in specs {
        if spec.contains("://") && !spec.starts_with("file://") {
            let location = Location::open(spec, opts, false)?;
            let objects = location.list("")?;
            if objects.is_empty() {
                // Not a prefix: maybe one object. Open its parent and name it (without the
                // query string of a signed URL, which is no part of the object's name).
                let path = spec.split(['?', '#']).next().unwrap_or(spec);
                let (parent, file) = path.rsplit_once('/').unwrap_or((path, ""));
                let parent_loc = Location::open(parent, opts, false)?;
                match parent_loc.list("")?.into_iter().find(|(k, _)| k == file) {
                    Some((key, size)) => out.push(Input {
                        name: parent_loc.describe(&key),
                        size,
                        source: Source::Object {
                            location: parent_loc,
                            key,
                        },
                    }),
                    None => {
                        return Err(InputError::Local {
                            path: location.display().to_string(),
                            message: "no such object or prefix (nothing listed there)".into(),
                        })
                    }
                }
            }
            let mut objects = objects;
            objects.sort_by(|a, b| (a.0.rsplit('/').next(), &a.0).cmp(&(b.0.rsplit('/').next(), &b.0)));
            for (key, size) in objects {
                out.push(Input {
                    name: location.describe(&key),
                    size,
                    source: Source::Object {
                        location: location.clone(),
                        key,
                    },
                });
            }
        } else {
            let path = PathBuf::from(spec.strip_prefix("file://").unwrap_or(spec));
            let meta = std::fs::metadata(&path).map_err(|e| InputError::Local {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            if meta.is_dir() {
                let mut files = Vec::new();
                walk(&path, &mut files)?;
                // File name first, then path: exports rotated per node and hour
                // (`<node>/metrics-20261123T14.jsonl`) are then read hour by hour across
                // nodes, so each hour's points arrive together and land in few, large files.
                files.sort_by(|a, b| (a.file_name(), a).cmp(&(b.file_name(), b)));
                for f in files {
                    let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                    out.push(Input {
                        name: f.display().to_string(),
                        size,
                        source: Source::Local(f),
                    });
                }
            } else {
                out.push(Input {
                    name: path.display().to_string(),
                    size: meta.len(),
                    source: Source::Local(path),
                });
            }
        }
    }
    // Across specs too: exports named by time (`metrics-20261123T14.jsonl`) are read hour by
    // hour whatever order the command line or a shell glob gave them in.
    out.sort_by(|a, b| (file_name(&a.name), &a.name).cmp(&(file_name(&b.name), &b.name)));
    Ok(out)
}

fn file_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let err = |e: std::io::Error| InputError::Local {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let ft = entry.file_type().map_err(err)?;
        if ft.is_dir() {
            walk(&entry.path(), out)?;
        } else if ft.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}
