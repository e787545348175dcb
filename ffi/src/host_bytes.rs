//! Host pixel memory lent to the core for one render. Hosts may pass one
//! buffer as both an input and the output (in-place renders).

use std::borrow::Cow;

use equifx::memory::try_copy;

use crate::guard::FfiError;

/// `len` bytes of host memory starting at `base`, their lowest address.
#[derive(Clone, Copy)]
pub(crate) struct HostBytes {
    pub(crate) base: *const u8,
    pub(crate) len: usize,
}

impl HostBytes {
    fn overlaps(self, other: HostBytes) -> bool {
        let span = |m: HostBytes| {
            let a = m.base as usize;
            (a, a.saturating_add(m.len))
        };
        let ((a, b), (c, d)) = (span(self), span(other));
        a < d && c < b
    }
}

/// Views of the input buffers for a render into `output`. An input that
/// overlaps the output is copied: a shared and a mutable view of the same
/// bytes must never coexist.
///
/// # Safety
/// Every input's `len` bytes from a non-null `base` are readable, and stay
/// valid and unchanged (other than through `output`) for `'a`.
pub(crate) unsafe fn input_views<'a>(
    inputs: &[HostBytes],
    output: HostBytes,
) -> Result<Vec<Cow<'a, [u8]>>, FfiError> {
    inputs
        .iter()
        .map(|&m| {
            // SAFETY: the caller guarantees these bytes are readable for 'a.
            let bytes = unsafe { std::slice::from_raw_parts(m.base, m.len) };
            Ok(if m.overlaps(output) {
                Cow::Owned(try_copy(bytes, &|| {
                    "a copy of an input that shares the output buffer".into()
                })?)
            } else {
                Cow::Borrowed(bytes)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input that shares bytes with the output is copied; a disjoint one,
    /// even right next to the output, is borrowed.
    #[test]
    fn only_overlapping_inputs_are_copied() {
        let buf = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let at = |i: usize, len: usize| HostBytes {
            base: buf.as_ptr().wrapping_add(i),
            len,
        };
        // SAFETY: every span lies inside `buf`, which outlives the views.
        let views = unsafe { input_views(&[at(0, 4), at(2, 4), at(4, 4)], at(4, 4)) }
            .ok()
            .unwrap_or_default();
        let owned: Vec<bool> = views.iter().map(|v| matches!(v, Cow::Owned(_))).collect();
        assert_eq!(owned, [false, true, true]);
        assert_eq!(views.get(1).map(|v| v.as_ref()), Some(&[3u8, 4, 5, 6][..]));
    }
}
