//! The one error type of the core. Every variant has a stable numeric code
//! ([`ErrorCode`]) that the C ABI and the OpenFX adapter expose; messages say
//! what went wrong *and* what the user can do about it.

use std::path::PathBuf;

/// Stable numeric error codes. These are ABI: numbers are explicit, new codes
/// are appended, retired numbers stay reserved (listed in a comment).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument = 1,
    InvalidFrame = 2,
    UnknownNode = 3,
    UnknownParam = 4,
    InvalidParamValue = 5,
    Io = 6,
    ImageFormat = 7,
    Model = 8,
    Aborted = 9,
    Unsupported = 10,
    Device = 11,
    Internal = 12,
    OutOfMemory = 13,
}

/// Errors of the equifx core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    #[error("unknown node '{0}': run `equifx nodes` to list the available nodes")]
    UnknownNode(String),
    #[error("node '{node}' has no parameter '{param}'; its parameters are: {known}")]
    UnknownParam {
        node: String,
        param: String,
        known: String,
    },
    #[error("parameter '{param}': {reason}")]
    InvalidParamValue { param: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    ImageFormat { path: PathBuf, reason: String },
    #[error("model: {0}")]
    Model(String),
    #[error("render aborted by the host")]
    Aborted,
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("device: {0}")]
    Device(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// Memory for a buffer could not be had (the process's address-space
    /// limit, or the machine's memory): the render stops cleanly instead of
    /// aborting the process.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
}

impl Error {
    /// The stable code of this error, as seen through the C ABI.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::InvalidFrame(_) => ErrorCode::InvalidFrame,
            Error::UnknownNode(_) => ErrorCode::UnknownNode,
            Error::UnknownParam { .. } => ErrorCode::UnknownParam,
            Error::InvalidParamValue { .. } => ErrorCode::InvalidParamValue,
            Error::Io { .. } => ErrorCode::Io,
            Error::ImageFormat { .. } => ErrorCode::ImageFormat,
            Error::Model(_) => ErrorCode::Model,
            Error::Aborted => ErrorCode::Aborted,
            Error::Unsupported(_) => ErrorCode::Unsupported,
            Error::Device(_) => ErrorCode::Device,
            Error::Internal(_) => ErrorCode::Internal,
            Error::OutOfMemory(_) => ErrorCode::OutOfMemory,
        }
    }

    /// Wraps an I/O error with the path it concerns. A failed allocation
    /// reported as an I/O error (`std::fs::read` reserves its buffer
    /// fallibly) is an out-of-memory error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::OutOfMemory {
            return Error::OutOfMemory(format!("{}: {source}", path.display()));
        }
        Error::Io { path, source }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins every code: they are ABI, and renumbering breaks compiled hosts.
    #[test]
    fn error_codes_are_frozen() {
        let pinned = [
            (ErrorCode::InvalidArgument, 1),
            (ErrorCode::InvalidFrame, 2),
            (ErrorCode::UnknownNode, 3),
            (ErrorCode::UnknownParam, 4),
            (ErrorCode::InvalidParamValue, 5),
            (ErrorCode::Io, 6),
            (ErrorCode::ImageFormat, 7),
            (ErrorCode::Model, 8),
            (ErrorCode::Aborted, 9),
            (ErrorCode::Unsupported, 10),
            (ErrorCode::Device, 11),
            (ErrorCode::Internal, 12),
            (ErrorCode::OutOfMemory, 13),
        ];
        for (code, n) in pinned {
            assert_eq!(code as i32, n, "{code:?}");
        }
    }

    #[test]
    fn an_io_error_of_a_failed_allocation_is_out_of_memory() {
        let e = Error::io(
            "big.exr",
            std::io::Error::from(std::io::ErrorKind::OutOfMemory),
        );
        assert_eq!(e.code(), ErrorCode::OutOfMemory);
        assert!(e.to_string().contains("big.exr"), "{e}");
    }
}
