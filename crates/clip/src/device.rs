//! Where a model runs: the CPU, or an NVIDIA GPU through ONNX Runtime's CUDA execution
//! provider (which only ONNX Runtime's GPU build has). Nothing falls back silently: a
//! CUDA device that cannot be used is an error that says what is missing.

use std::fmt;
use std::str::FromStr;

use ort::ep::ExecutionProvider;
use ort::session::builder::SessionBuilder;

use crate::ClipError;

/// The device a model runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    #[default]
    Cpu,
    /// CUDA device `id` (`cuda` is `cuda:0`).
    Cuda {
        /// The CUDA device number.
        id: u32,
    },
}

/// A device name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a device: give cpu, cuda or cuda:N")]
pub struct UnknownDevice(pub String);

impl FromStr for Device {
    type Err = UnknownDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda { id: 0 }),
            other => other
                .strip_prefix("cuda:")
                .and_then(|id| id.parse().ok())
                .map(|id| Self::Cuda { id })
                .ok_or_else(|| UnknownDevice(s.to_owned())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda { id } => write!(f, "cuda:{id}"),
        }
    }
}

impl Device {
    /// The execution provider ONNX Runtime is asked for, and its device number: none for
    /// the CPU (ONNX Runtime's default).
    pub fn execution_provider(&self) -> Option<(&'static str, u32)> {
        match self {
            Self::Cpu => None,
            Self::Cuda { id } => Some((ort::ep::CUDA::NAME, *id)),
        }
    }

    /// Registers this device's execution provider on `builder`, failing (never falling
    /// back to the CPU) when it cannot be used. `library` is the ONNX Runtime loaded.
    pub(crate) fn register(&self, builder: &mut SessionBuilder, library: &str) -> Result<(), ClipError> {
        let Self::Cuda { id } = *self else { return Ok(()) };
        let unavailable = |reason: String| ClipError::DeviceUnavailable { device: *self, reason };
        let compiled_in = ort::ep::CUDA::is_available().map_err(|e| unavailable(e.to_string()))?;
        if !compiled_in {
            return Err(unavailable(format!(
                "the ONNX Runtime in use ({library}) is a build without CUDA; install its GPU build with \
                 scripts/setup.sh --gpu, or set ORT_DYLIB_PATH to the libonnxruntime.so of onnxruntime-gpu"
            )));
        }
        let device_id = i32::try_from(id).map_err(|_| unavailable(format!("device {id} is out of range")))?;
        ort::ep::CUDA::default().with_device_id(device_id).register(builder).map_err(|e| {
            unavailable(format!(
                "ONNX Runtime's CUDA execution provider did not start: {e} (it needs an NVIDIA driver, CUDA 13 \
                 and cuDNN 9 for onnxruntime-gpu 1.31, and device {id} to exist)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_cpu_cuda_or_cuda_n() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda { id: 0 }));
        assert_eq!("CUDA:3".parse::<Device>(), Ok(Device::Cuda { id: 3 }));
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            assert!(bad.parse::<Device>().is_err(), "{bad}");
        }
        assert_eq!(Device::Cuda { id: 2 }.to_string(), "cuda:2");
    }

    #[test]
    fn the_cpu_asks_for_no_provider_and_cuda_for_the_cuda_provider_on_its_device() {
        assert_eq!(Device::Cpu.execution_provider(), None);
        assert_eq!(Device::Cuda { id: 1 }.execution_provider(), Some(("CUDAExecutionProvider", 1)));
    }
}
