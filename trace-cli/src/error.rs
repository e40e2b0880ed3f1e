//! Errors and exit statuses.

use std::io;
use std::path::Path;

use goro_probes::sdt::ReadError;

/// Success, and no finding.
pub const EXIT_OK: u8 = 0;
/// An error; a one-line message is on stderr.
pub const EXIT_ERROR: u8 = 1;
/// Usage error (clap exits with it itself).
pub const EXIT_USAGE: u8 = 2;
/// The run went fine and the detectors found at least one thing.
pub const EXIT_FINDING: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {}", describe(.source))]
    Read { path: String, source: io::Error },
    #[error("{path}: {source}")]
    Elf { path: String, source: ReadError },
    #[error("no process with pid {0}")]
    NoSuchProcess(u32),
    #[error("no goro probes in {0}")]
    NoGoroProbes(String),
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::Error),
    #[error("writing output: {}", describe(.0))]
    Output(io::Error),
    #[error("{path}: {why}")]
    TraceFile { path: String, why: String },
    #[error("cannot create {path}: {}", describe(.source))]
    Create { path: String, source: io::Error },
    #[error("writing {path}: {}; every chunk written before is readable", describe(.source))]
    Write { path: String, source: io::Error },
    /// A file other than a trace file (an export) could not be written.
    #[error("writing {path}: {}", describe(.source))]
    WriteFile { path: String, source: io::Error },
    #[error("missing capability {0} to load BPF programs and attach uprobes: run as root")]
    MissingCapability(&'static str),
    #[error("{0}")]
    Bpf(String),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn read(path: &Path, source: io::Error) -> Error {
        Error::Read {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<io::Error> for Error {
    /// Only output goes through `?` on a bare `io::Error`; reads carry their path.
    fn from(e: io::Error) -> Error {
        Error::Output(e)
    }
}

/// The OS message without "(os error N)", lower-case, as the rest of our messages.
pub fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "is a directory".to_owned(),
        _ => match e.raw_os_error() {
            Some(libc::ENOSPC) => "no space left on device".to_owned(),
            Some(libc::EFBIG) => "file size limit reached".to_owned(),
            Some(libc::EDQUOT) => "disk quota exceeded".to_owned(),
            Some(libc::ENOTDIR) => "not a directory".to_owned(),
            Some(libc::EROFS) => "read-only file system".to_owned(),
            _ => e.to_string(),
        },
    }
}
