//! Where inference runs. `auto` takes CUDA when this build has it and a
//! device answers, otherwise the CPU, saying so once in the log; asking for
//! CUDA explicitly where there is none is a clear error, never a crash.

use std::str::FromStr;
use std::sync::Once;

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

/// True when this build contains the CUDA backend.
pub const fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// Resolves a request to a candle device.
pub fn select(request: DeviceRequest) -> Result<candle_core::Device> {
    match request {
        DeviceRequest::Cpu => Ok(candle_core::Device::Cpu),
        DeviceRequest::Cuda(n) => {
            if !cuda_compiled() {
                return Err(Error::Device(format!(
                    "cuda:{n} was asked for, but this equifx was built without CUDA: use --device cpu, \
                     or rebuild with `cargo build --release --features cuda` (see README)"
                )));
            }
            candle_core::Device::new_cuda(n).map_err(|e| {
                Error::Device(format!(
                    "CUDA device {n} is not available ({e}); use --device cpu or auto"
                ))
            })
        }
        DeviceRequest::Auto => {
            if cuda_compiled() {
                if let Ok(d) = candle_core::Device::new_cuda(0) {
                    return Ok(d);
                }
            }
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                if cuda_compiled() {
                    tracing::warn!("no CUDA device answered; running on the CPU");
                } else {
                    tracing::info!("running on the CPU (this build has no CUDA)");
                }
            });
            Ok(candle_core::Device::Cpu)
        }
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
