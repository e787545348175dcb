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
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
