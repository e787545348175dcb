//! Status codes of the C ABI. These numbers are ABI: every value is explicit,
//! new codes are appended, and retired numbers stay reserved here.
//! Codes 1–99 mirror the core's `ErrorCode`; 100+ are ABI-layer errors.

use equifx::ErrorCode;

/// Result of every equifx C function. 0 is success; on any other value,
/// `equifx_last_error()` explains what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum equifx_status {
    EQUIFX_STATUS_OK = 0,
    EQUIFX_STATUS_INVALID_ARGUMENT = 1,
    EQUIFX_STATUS_INVALID_FRAME = 2,
    EQUIFX_STATUS_UNKNOWN_NODE = 3,
    EQUIFX_STATUS_UNKNOWN_PARAM = 4,
    EQUIFX_STATUS_INVALID_PARAM_VALUE = 5,
    EQUIFX_STATUS_IO = 6,
    EQUIFX_STATUS_IMAGE_FORMAT = 7,
    EQUIFX_STATUS_MODEL = 8,
    EQUIFX_STATUS_ABORTED = 9,
    EQUIFX_STATUS_UNSUPPORTED = 10,
    EQUIFX_STATUS_DEVICE = 11,
    EQUIFX_STATUS_INTERNAL = 12,
    /// Memory for the render could not be had (the process's address-space
    /// limit, or the machine's memory); nothing was aborted, the host may
    /// free memory and try again, or render a smaller frame.
    EQUIFX_STATUS_OUT_OF_MEMORY = 13,
    /// A required pointer argument was NULL.
    EQUIFX_STATUS_NULL_ARGUMENT = 100,
    /// The host asked for an ABI version this library does not provide.
    EQUIFX_STATUS_ABI_MISMATCH = 101,
    /// An index was past the end of a list.
    EQUIFX_STATUS_OUT_OF_RANGE = 102,
    /// A bug inside equifx was caught at the boundary; the host is unharmed.
    EQUIFX_STATUS_PANIC = 103,
}

impl From<ErrorCode> for equifx_status {
    fn from(code: ErrorCode) -> Self {
        use equifx_status::*;
        match code {
            ErrorCode::InvalidArgument => EQUIFX_STATUS_INVALID_ARGUMENT,
            ErrorCode::InvalidFrame => EQUIFX_STATUS_INVALID_FRAME,
            ErrorCode::UnknownNode => EQUIFX_STATUS_UNKNOWN_NODE,
            ErrorCode::UnknownParam => EQUIFX_STATUS_UNKNOWN_PARAM,
            ErrorCode::InvalidParamValue => EQUIFX_STATUS_INVALID_PARAM_VALUE,
            ErrorCode::Io => EQUIFX_STATUS_IO,
            ErrorCode::ImageFormat => EQUIFX_STATUS_IMAGE_FORMAT,
            ErrorCode::Model => EQUIFX_STATUS_MODEL,
            ErrorCode::Aborted => EQUIFX_STATUS_ABORTED,
            ErrorCode::Unsupported => EQUIFX_STATUS_UNSUPPORTED,
            ErrorCode::Device => EQUIFX_STATUS_DEVICE,
            ErrorCode::Internal => EQUIFX_STATUS_INTERNAL,
            ErrorCode::OutOfMemory => EQUIFX_STATUS_OUT_OF_MEMORY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::equifx_status::*;
    use super::*;

    /// Pins every (code, number): renumbering breaks compiled hosts.
    #[test]
    fn status_numbers_are_frozen() {
        let pinned = [
            (EQUIFX_STATUS_OK, 0),
            (EQUIFX_STATUS_INVALID_ARGUMENT, 1),
            (EQUIFX_STATUS_INVALID_FRAME, 2),
            (EQUIFX_STATUS_UNKNOWN_NODE, 3),
            (EQUIFX_STATUS_UNKNOWN_PARAM, 4),
            (EQUIFX_STATUS_INVALID_PARAM_VALUE, 5),
            (EQUIFX_STATUS_IO, 6),
            (EQUIFX_STATUS_IMAGE_FORMAT, 7),
            (EQUIFX_STATUS_MODEL, 8),
            (EQUIFX_STATUS_ABORTED, 9),
            (EQUIFX_STATUS_UNSUPPORTED, 10),
            (EQUIFX_STATUS_DEVICE, 11),
            (EQUIFX_STATUS_INTERNAL, 12),
            (EQUIFX_STATUS_OUT_OF_MEMORY, 13),
            (EQUIFX_STATUS_NULL_ARGUMENT, 100),
            (EQUIFX_STATUS_ABI_MISMATCH, 101),
            (EQUIFX_STATUS_OUT_OF_RANGE, 102),
            (EQUIFX_STATUS_PANIC, 103),
        ];
        for (s, n) in pinned {
            assert_eq!(s as i32, n, "{s:?}");
        }
        // The core's codes map onto the same numbers.
        assert_eq!(
            equifx_status::from(ErrorCode::Model) as i32,
            ErrorCode::Model as i32
        );
        assert_eq!(
            equifx_status::from(ErrorCode::Internal) as i32,
            ErrorCode::Internal as i32
        );
        assert_eq!(
            equifx_status::from(ErrorCode::OutOfMemory) as i32,
            ErrorCode::OutOfMemory as i32
        );
    }
}
