//! Choosing the device: `auto` takes CUDA when libtorch can see a GPU.

use std::{fmt, str::FromStr};

use tch::{Cuda, Device};

use crate::TrainError;

/// What the user asked for with `--device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA device 0 when available, otherwise the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device `n`.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| TrainError::option("--device", format!("`{s}` is not auto, cpu, cuda or cuda:N"))),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Resolves the choice to a device libtorch can use, or says why it cannot.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device, TrainError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(if Cuda::is_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        DeviceChoice::Cuda(n) => {
            // Without libtorch_cuda in the process (the linker drops it unless told
            // otherwise) the fix is a different build, not a different machine.
            let why = if !cuda_library_loaded() {
                Some("this binary's libtorch has no CUDA support loaded (libtorch_cuda.so not linked)".to_string())
            } else if !Cuda::is_available() {
                Some("libtorch has CUDA support but sees no CUDA device (no GPU or driver)".to_string())
            } else if n as i64 >= Cuda::device_count() {
                Some(format!("only {} CUDA device(s) visible", Cuda::device_count()))
            } else {
                None
            };
            match why {
                Some(why) => Err(TrainError::DeviceUnavailable {
                    requested: choice.to_string(),
                    why,
                }),
                None => Ok(Device::Cuda(n)),
            }
        }
    }
}

/// Whether libtorch's CUDA library is loaded into this process (Linux: read from
/// `/proc/self/maps`; elsewhere assumed). libtorch itself cannot tell a missing
/// library from a missing GPU.
pub fn cuda_library_loaded() -> bool {
    match std::fs::read_to_string("/proc/self/maps") {
        Ok(maps) => maps.contains("libtorch_cuda.so"),
        Err(_) => true,
    }
}

/// The device's name as recorded in the tables: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Mps => "mps".to_string(),
        Device::Vulkan => "vulkan".to_string(),
    }
}

/// The libtorch version this crate was built against (read from libtorch at build time).
pub fn torch_version() -> &'static str {
    env!("AGREE_LIBTORCH_VERSION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse() {
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert_eq!("cuda:2".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(2));
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn the_cuda_library_is_linked_when_libtorch_has_one() {
        let lib = std::path::Path::new(env!("AGREE_LIBTORCH_LIB"));
        if lib.join("libtorch_cuda.so").exists() {
            assert!(
                cuda_library_loaded(),
                "libtorch_cuda.so in {} but not loaded",
                lib.display()
            );
        }
    }

    #[test]
    fn cpu_always_resolves() {
        assert_eq!(resolve_device(DeviceChoice::Cpu).unwrap(), Device::Cpu);
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
    }
}
