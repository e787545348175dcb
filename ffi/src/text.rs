//! Rust text handed to C.

use std::ffi::CString;

/// A C copy of `s` with any interior NUL replaced by a space: C would end the
/// text at the NUL, and a message or label is worth showing whole.
pub(crate) fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_nuls_become_spaces() {
        assert_eq!(cstring("a\0b").as_bytes(), b"a b");
        assert_eq!(cstring("plain").as_bytes(), b"plain");
    }
}
