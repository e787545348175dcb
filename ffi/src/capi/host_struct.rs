//! Append-only structs passed by pointer (`equifx_frame`, `equifx_callbacks`,
//! `equifx_node_info`, `equifx_param_info`), the CLAP and rustls-ffi way.
//!
//! Each begins with `uint32_t struct_size`, and fields are only ever added at
//! the end. The library accepts any `struct_size` from the struct's first
//! version up and reads or fills only the fields of the versions that fit:
//! a host built against an older header keeps working after fields are
//! appended, and one built against a newer header works with an older
//! library. Sizes below the first version's are refused.

use crate::guard::FfiError;

/// A `#[repr(C)]` struct the host passes by pointer, starting with
/// `struct_size: u32`, that only ever grows at the end.
///
/// # Safety
/// Implementors are `#[repr(C)]` and their first field is `struct_size: u32`;
/// the last entry of [`HostStruct::VERSION_SIZES`] is `size_of::<Self>()`.
pub unsafe trait HostStruct: Copy {
    /// The C name, for messages.
    const NAME: &'static str;
    /// The header constant holding the first version's size, for messages.
    const MIN_SIZE_NAME: &'static str;
    /// `sizeof` the struct in each released version, oldest first, ending at
    /// today's size. Appending a field adds an entry; the new field must make
    /// the struct larger (one that fits in the old tail padding could not be
    /// told apart from padding), which [`sizes_grow_to`] checks at compile time.
    const VERSION_SIZES: &'static [usize];
    /// The struct as read from a host that set none of its fields: what
    /// fields newer than the host's header hold.
    fn unset() -> Self;
}

/// The smallest `struct_size` accepted for `T`: its first version's size.
pub fn min_size<T: HostStruct>() -> usize {
    T::VERSION_SIZES
        .first()
        .copied()
        .unwrap_or(std::mem::size_of::<T>())
}

/// Whether `sizes` strictly grows and ends at `current`; checked at compile
/// time for each [`HostStruct`] by [`assert_version_sizes`].
pub const fn sizes_grow_to(sizes: &[usize], current: usize) -> bool {
    match sizes {
        [] => false,
        [last] => *last == current,
        [first, rest @ ..] => match rest {
            [next, ..] => *first < *next && sizes_grow_to(rest, current),
            [] => false,
        },
    }
}

/// Compile-time check that a [`HostStruct`]'s `VERSION_SIZES` grow and end at
/// its size (the sizes are those of 64-bit targets).
macro_rules! assert_version_sizes {
    ($t:ident) => {
        const _: () = assert!(
            $crate::capi::host_struct::sizes_grow_to(
                <$t as $crate::capi::host_struct::HostStruct>::VERSION_SIZES,
                std::mem::size_of::<$t>()
            ),
            concat!(
                stringify!($t),
                ": VERSION_SIZES must grow and end at its size (the sizes are those of 64-bit targets)"
            )
        );
    };
}
pub(crate) use assert_version_sizes;

/// How many bytes of `T` a host struct of `struct_size` bytes covers: the
/// size of the newest version that fits. `what` names the argument.
pub fn covered<T: HostStruct>(struct_size: u32, what: &str) -> Result<usize, FfiError> {
    let size = struct_size as usize;
    match T::VERSION_SIZES.iter().rev().find(|&&v| v <= size) {
        Some(&n) => Ok(n.min(std::mem::size_of::<T>())),
        None => Err(FfiError::invalid(format!(
            "{what}: {name}.struct_size is {struct_size}, below the {min} bytes of its first \
             version ({min_name}): set it to sizeof({name})",
            name = T::NAME,
            min = min_size::<T>(),
            min_name = T::MIN_SIZE_NAME,
        ))),
    }
}

/// Reads the host's `struct_size` and returns how many bytes of `T` it covers.
///
/// # Safety
/// `ptr` is non-null and its first four bytes are readable (the host's
/// `struct_size`); it need not be aligned.
pub unsafe fn covered_at<T: HostStruct>(ptr: *const T, what: &str) -> Result<usize, FfiError> {
    // SAFETY: the caller guarantees the leading u32 is readable; read_unaligned
    // tolerates any alignment.
    let size = unsafe { ptr.cast::<u32>().read_unaligned() };
    covered::<T>(size, what)
}

/// Copies a host struct: the fields that fit in its `struct_size`, the rest
/// [`HostStruct::unset`]. `struct_size` keeps the host's value.
///
/// # Safety
/// `ptr` is non-null and points to `struct_size` readable bytes (the value in
/// its first field); every bit pattern of those bytes is valid for the fields
/// they cover (integers, raw and optional function pointers).
pub unsafe fn read<T: HostStruct>(ptr: *const T, what: &str) -> Result<T, FfiError> {
    // SAFETY: forwarded from the caller.
    let n = unsafe { covered_at(ptr, what) }?;
    let mut value = T::unset();
    // SAFETY: n ≤ struct_size, so the source bytes are readable; n ≤ size_of::<T>(),
    // so they fit in `value`; a local cannot overlap the host's struct; byte copies
    // need no alignment; the caller guarantees the bytes are valid for those fields.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), (&raw mut value).cast::<u8>(), n);
    }
    Ok(value)
}

/// Fills a host struct with the first `n` bytes of `value` (`n` from
/// [`covered_at`]) and sets its `struct_size` to `n`, the bytes filled; the
/// host's bytes past `n` are left alone.
///
/// # Safety
/// `ptr` is non-null and points to `struct_size` writable bytes, and `n` came
/// from [`covered_at`] on the same pointer.
pub unsafe fn fill<T: HostStruct>(ptr: *mut T, mut value: T, n: usize) {
    let n = n.min(std::mem::size_of::<T>());
    // SAFETY: T is repr(C) with `struct_size: u32` first (trait contract), so the
    // start of `value` is an aligned u32.
    unsafe { (&raw mut value).cast::<u32>().write(n as u32) };
    // SAFETY: n ≤ struct_size, so the destination bytes are writable; n ≤ size_of::<T>();
    // a local cannot overlap the host's struct; byte copies need no alignment.
    unsafe { std::ptr::copy_nonoverlapping((&raw const value).cast::<u8>(), ptr.cast::<u8>(), n) };
}
