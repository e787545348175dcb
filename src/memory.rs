//! Memory a render cannot count on: every buffer whose size the frame
//! decides (working images, conversions, tiles) is allocated fallibly, so a
//! frame too large for the memory the process may use fails the render with
//! [`Error::OutOfMemory`] instead of aborting the process (and with it the
//! host application, the farm task or the user's session).
//!
//! Allocations made inside libraries that cannot fail softly (candle's
//! tensors, the image decoders) are bounded instead: frames are at most
//! [`crate::frame::MAX_PIXELS`], and before work whose memory equifx cannot
//! allocate itself a node asks [`ensure_available`] for what it will need.

use crate::error::{Error, Result};

/// `len` copies of `value`, or [`Error::OutOfMemory`] naming `what`.
pub fn try_vec<T: Clone>(len: usize, value: T, what: &dyn Fn() -> String) -> Result<Vec<T>> {
    let mut v = try_with_capacity(len, what)?;
    v.resize(len, value);
    Ok(v)
}

/// An empty vector with room for exactly `capacity` elements.
pub fn try_with_capacity<T>(capacity: usize, what: &dyn Fn() -> String) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(capacity)
        .map_err(|_| out_of_memory(bytes_of::<T>(capacity), what))?;
    Ok(v)
}

/// A copy of `src`.
pub fn try_copy<T: Clone>(src: &[T], what: &dyn Fn() -> String) -> Result<Vec<T>> {
    let mut v = try_with_capacity(src.len(), what)?;
    v.extend_from_slice(src);
    Ok(v)
}

/// Checks that `bytes` more could be allocated now, for work whose own
/// allocations abort when they fail (candle's tensors, resampling inside the
/// fairness nodes). Best effort: the address space is reserved and given
/// back at once, so the check sees the process's limit (`ulimit -v`,
/// `RLIMIT_AS`) and allocations the system refuses outright, but not memory
/// another thread or process takes in between.
pub fn ensure_available(bytes: u64, what: &dyn Fn() -> String) -> Result<()> {
    let fail = || out_of_memory(bytes, what);
    let len = usize::try_from(bytes).map_err(|_| fail())?;
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(len).map_err(|_| fail())?;
    Ok(())
}

/// Bytes of the four f32 planes of a `width × height` working image.
pub fn image_bytes(width: usize, height: usize) -> u64 {
    16 * width as u64 * height as u64
}

fn bytes_of<T>(n: usize) -> u64 {
    (n as u64).saturating_mul(std::mem::size_of::<T>() as u64)
}

/// The error of an allocation of `bytes` for `what` that failed.
pub fn out_of_memory(bytes: u64, what: &dyn Fn() -> String) -> Error {
    Error::OutOfMemory(format!(
        "{} needs {} more, which this process cannot allocate: free memory, raise the \
         process's memory limit, or render a smaller frame",
        what(),
        human(bytes)
    ))
}

/// `bytes` for people: "4.0 GiB", "512 MiB".
pub fn human(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let b = bytes as f64;
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / MIB).ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        let what = || "the test buffer".to_string();
        let e = try_vec(usize::MAX / 2, 0f32, &what).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::OutOfMemory);
        assert!(e.to_string().contains("the test buffer"), "{e}");
        assert!(try_with_capacity::<u64>(usize::MAX / 4, &what).is_err());
        assert!(ensure_available(u64::MAX, &what).is_err());
        assert!(ensure_available(1 << 20, &what).is_ok());
        assert_eq!(try_vec(3, 7u8, &what).unwrap(), [7, 7, 7]);
        assert_eq!(try_copy(&[1, 2], &what).unwrap(), [1, 2]);
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human(4 << 30), "4.0 GiB");
        assert_eq!(human(512 << 20), "512 MiB");
        assert_eq!(human(1), "1 MiB");
    }
}
