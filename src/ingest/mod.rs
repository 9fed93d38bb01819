//! Ingest: export files → decoded [`model::Point`]s.
//!
//! In: INPUT specs — files, folders (recursive) and object-store URLs/prefixes.
//! Out: for each input, its raw bytes, the compression and format detected from the bytes
//! themselves (magic bytes, not the file name), and the points and rejections its decoder
//! produced, pushed into a [`model::Sink`].
//! Invariant: nothing is dropped silently. Anything that cannot become a point is a
//! [`model::Rejection`] naming its position; an unreadable input is an [`InputError`] naming it.
//! Inside a folder, only regular files are read: a symbolic link is not followed (it could
//! point anywhere, outside the exports or back into the folder) and neither is a FIFO, socket
//! or device; each becomes an input refused as a whole ([`Input::refusal`]: `symlink`,
//! `not_a_file`) that `land` records and counts as rejected, naming the link's target. A path
//! named on the command line is followed, symbolic link or not: the user chose it.

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
    Object {
        location: Location,
        key: String,
    },
    /// Found in a folder but not read: why (a rejection reason) and a detail naming it.
    Refused {
        reason: &'static str,
        detail: String,
    },
}

impl Input {
    /// Why this input is not read at all (a rejection reason and its detail), if it is not.
    pub fn refusal(&self) -> Option<(&'static str, &str)> {
        match &self.source {
            Source::Refused { reason, detail } => Some((reason, detail.as_str())),
            _ => None,
        }
    }

    /// Reads the raw (possibly compressed) bytes.
    pub fn read(&self) -> Result<bytes::Bytes, InputError> {
        match &self.source {
            Source::Refused { detail, .. } => Err(InputError::Local {
                path: self.name.clone(),
                message: detail.clone(),
            }),
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
                // Listed keys are decoded text; the URL's last segment is percent-encoded.
                let file = object_store::path::Path::from_url_path(file)
                    .map(|p| p.as_ref().to_string())
                    .unwrap_or_else(|_| file.to_string());
                let parent_loc = Location::open(parent, opts, false)?;
                match parent_loc.list("")?.into_iter().find(|(k, _)| *k == file) {
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
                    let name = f.display().to_string();
                    match refused(&f) {
                        Some((reason, detail)) => out.push(Input {
                            name,
                            size: 0,
                            source: Source::Refused { reason, detail },
                        }),
                        None => {
                            let size = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                            out.push(Input {
                                name,
                                size,
                                source: Source::Local(f),
                            });
                        }
                    }
                }
            } else if !meta.is_file() {
                // Named on the command line but a FIFO, socket or device: reading it could
                // block forever.
                out.push(Input {
                    name: path.display().to_string(),
                    size: 0,
                    source: Source::Refused {
                        reason: "not_a_file",
                        detail: NOT_A_FILE.to_string(),
                    },
                });
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
        } else {
            // Regular files, and what is refused (symbolic links, FIFOs, sockets, devices):
            // never skipped silently.
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Why a file found in a folder is not read, if it is not a regular file: a symbolic link
/// (not followed; the detail names its target) or anything else but a regular file.
fn refused(path: &Path) -> Option<(&'static str, String)> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(("unreadable", e.to_string())),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| format!("{:?}", t.display().to_string()))
            .unwrap_or_else(|e| format!("an unreadable target ({e})"));
        return Some((
            "symlink",
            format!(
                "a symbolic link to {target}, not followed inside a folder (it could point outside the \
                 exports or back into them); name the link or its target on the command line to land it"
            ),
        ));
    }
    if !ft.is_file() {
        return Some(("not_a_file", NOT_A_FILE.to_string()));
    }
    None
}

const NOT_A_FILE: &str = "not a regular file (a FIFO, socket or device): not read";
