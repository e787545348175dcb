//! Where inference runs. `auto` takes CUDA when this build has it and a
//! device answers, otherwise the CPU, saying so once in the log; asking for
//! CUDA explicitly where there is none is a clear error, never a crash.

use std::str::FromStr;
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// A device as the user names it: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(DeviceRequest::Auto),
            "cpu" => Ok(DeviceRequest::Cpu),
            "cuda" | "gpu" => Ok(DeviceRequest::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceRequest::Cuda)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("device '{s}': use auto, cpu, cuda or cuda:N"))
                }),
        }
    }
}

/// The number format inference runs in. Half precision halves the memory of
/// weights and activations on a GPU; f32 is the default everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    F16,
    Bf16,
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" | "" => Ok(Precision::F32),
            "f16" | "float16" | "half" => Ok(Precision::F16),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(Error::InvalidArgument(format!(
                "precision '{s}': use f32, f16 or bf16"
            ))),
        }
    }
}

impl Precision {
    /// The tensor type for `device`, or why this device cannot run it.
    ///
    /// candle's CPU backend has no bf16 convolution, and its f16 kernels are
    /// slower than f32 there (docs/cuda.md): f16 on the CPU is allowed so
    /// a result can be checked before a GPU run, and says so once in the log.
    pub fn dtype_on(self, device: &candle_core::Device) -> Result<candle_core::DType> {
        use candle_core::DType;
        match (self, device.is_cpu()) {
            (Precision::F32, _) => Ok(DType::F32),
            (Precision::F16, cpu) => {
                if cpu {
                    static SAID: OnceLock<()> = OnceLock::new();
                    SAID.get_or_init(|| {
                        tracing::warn!(
                            "precision f16 on the CPU: slower than f32 here, offered to preview a GPU run's result"
                        )
                    });
                }
                Ok(DType::F16)
            }
            (Precision::Bf16, false) => Ok(DType::BF16),
            (Precision::Bf16, true) => Err(Error::Device(
                "precision bf16 needs a CUDA device (the CPU backend has no bf16 convolution): \
                 use f32 or f16 on the CPU"
                    .into(),
            )),
        }
    }
}

/// True when this build contains the CUDA backend.
pub const fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Opens CUDA device `n`, turning every way that can fail into a message.
///
/// With candle's stock `dynamic-linking`, a missing driver stops the process
/// from starting at all, and a driver without a usable GPU answers with an
/// error code. A panic from the CUDA bindings (a driver library that cannot
/// be loaded when cudarc is built with `dynamic-loading`, or any other
/// surprise inside the backend) is caught here as well, so asking for a GPU
/// is never a crash.
fn open_cuda(n: usize) -> std::result::Result<candle_core::Device, String> {
    if !cuda_compiled() {
        return Err("this equifx was built without CUDA".into());
    }
    match std::panic::catch_unwind(|| candle_core::Device::new_cuda(n)) {
        Ok(Ok(d)) => Ok(d),
        // candle appends a backtrace to the message when RUST_BACKTRACE is
        // set; the first line is the driver's answer.
        Ok(Err(e)) => Err(e.to_string().lines().next().unwrap_or_default().to_string()),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the CUDA backend panicked".into())),
    }
}

/// What `auto` resolves to, probed once per process: the first CUDA device
/// when there is one, else the CPU (with the reason CUDA was not taken).
fn auto_device() -> &'static (candle_core::Device, Option<String>) {
    static AUTO: OnceLock<(candle_core::Device, Option<String>)> = OnceLock::new();
    AUTO.get_or_init(|| match open_cuda(0) {
        Ok(d) => {
            tracing::info!("device auto: running on CUDA device 0");
            (d, None)
        }
        Err(why) => {
            if cuda_compiled() {
                tracing::warn!("device auto: no CUDA device answered ({why}); running on the CPU");
            } else {
                tracing::info!("device auto: running on the CPU ({why})");
            }
            (candle_core::Device::Cpu, Some(why))
        }
    })
}

/// Resolves a request to a candle device.
pub fn select(request: DeviceRequest) -> Result<candle_core::Device> {
    match request {
        DeviceRequest::Cpu => Ok(candle_core::Device::Cpu),
        DeviceRequest::Auto => Ok(auto_device().0.clone()),
        DeviceRequest::Cuda(n) if !cuda_compiled() => Err(Error::Device(format!(
            "cuda:{n} was asked for, but this equifx was built without CUDA: use --device cpu, \
             or rebuild with `cargo build --release --features cuda` (see docs/cuda.md)"
        ))),
        DeviceRequest::Cuda(n) => open_cuda(n).map_err(|why| {
            Error::Device(format!(
                "CUDA device {n} is not available ({why}); use --device cpu or auto"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(
            "auto".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Auto
        );
        assert_eq!("CPU".parse::<DeviceRequest>().unwrap(), DeviceRequest::Cpu);
        assert_eq!(
            "cuda".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceRequest>().unwrap(),
            DeviceRequest::Cuda(3)
        );
        for bad in ["cuda:x", "tpu", "cuda:-1"] {
            assert!(bad.parse::<DeviceRequest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn precisions_parse_and_bf16_is_refused_on_the_cpu() {
        use candle_core::{DType, Device};
        assert_eq!("f32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!("HALF".parse::<Precision>().unwrap(), Precision::F16);
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert!("f64".parse::<Precision>().is_err());
        assert_eq!(Precision::F16.dtype_on(&Device::Cpu).unwrap(), DType::F16);
        let e = Precision::Bf16.dtype_on(&Device::Cpu).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Device);
    }

    /// Without a GPU (this machine and CI), auto falls back to the CPU and an
    /// explicit CUDA request is a clean error, in CPU and CUDA builds alike.
    #[test]
    fn without_a_gpu_auto_is_cpu_and_cuda_is_refused_cleanly() {
        if cuda_compiled() && candle_core::Device::new_cuda(0).is_ok() {
            return; // a real GPU: nothing to fall back from
        }
        assert!(select(DeviceRequest::Auto).unwrap().is_cpu());
        assert!(select(DeviceRequest::Cpu).unwrap().is_cpu());
        let e = select(DeviceRequest::Cuda(0)).unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Device);
        assert!(e.to_string().contains("--device cpu"), "{e}");
    }
}
