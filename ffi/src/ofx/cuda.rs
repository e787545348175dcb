//! OpenFX CUDA render (OFX 1.5, docs/openfx.md). A CUDA build declares it only when
//! the host offers it and a CUDA device answers; then a frame may arrive as
//! device memory (`OfxImageEffectPropCudaEnabled = 1`). The nodes need whole
//! frames on the host side anyway (resampling to model size, tiling), so the
//! frame is copied to host memory, rendered (the network itself on the GPU,
//! as the `device` parameter says) and copied back before returning: no CUDA
//! stream is declared, so nothing is left pending when the host resumes.
//! The CPU path stays complete for hosts without CUDA (MLT, Natron).

use super::suites::Suites;

/// Whether this library may declare CUDA render to the loaded host.
pub(super) fn available(s: &Suites) -> bool {
    cfg!(feature = "cuda")
        && s.host_offers_cuda
        && equifx::device::select(equifx::device::DeviceRequest::Cuda(0)).is_ok()
}

/// Host-side copies of device images for one render.
#[cfg(feature = "cuda")]
pub(super) mod staging {
    use candle_core::cuda_backend::cudarc::driver::result;

    use crate::guard::FfiError;

    fn bind() -> Result<(), FfiError> {
        let dev = equifx::device::select(equifx::device::DeviceRequest::Cuda(0))?;
        match dev {
            candle_core::Device::Cuda(d) => d
                .cuda_stream()
                .context()
                .bind_to_thread()
                .map_err(|e| FfiError::invalid(format!("CUDA context: {e}"))),
            _ => Err(FfiError::invalid("no CUDA device for a CUDA render")),
        }
    }

    /// Copies `len` bytes of device memory at `base` to a new host buffer.
    pub fn download(base: *mut u8, len: usize) -> Result<Vec<u8>, FfiError> {
        bind()?;
        let mut host = equifx::memory::try_vec(len, 0u8, &|| {
            format!("a {len}-byte host copy of a GPU frame")
        })?;
        // SAFETY: with CudaEnabled the host's image data is a device pointer to
        // at least `len` bytes (bounds × rowBytes), valid until the image is released.
        unsafe { result::memcpy_dtoh_sync(&mut host, base as u64) }
            .map_err(|e| FfiError::invalid(format!("copying a frame from the GPU: {e}")))?;
        Ok(host)
    }

    /// Copies `host` back to the device memory at `base`.
    pub fn upload(base: *mut u8, host: &[u8]) -> Result<(), FfiError> {
        bind()?;
        // SAFETY: as in `download`; the output image is writable device memory.
        unsafe { result::memcpy_htod_sync(base as u64, host) }
            .map_err(|e| FfiError::invalid(format!("copying a frame to the GPU: {e}")))
    }
}
