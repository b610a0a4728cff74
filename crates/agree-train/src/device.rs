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

/// What `--device` lists: one choice, or several CUDA devices (`cuda:0,cuda:1`) over
/// which a study's networks are dealt round-robin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Devices(Vec<DeviceChoice>);

impl Devices {
    /// The listed choices, in order (never empty).
    pub fn choices(&self) -> &[DeviceChoice] {
        &self.0
    }
}

impl From<DeviceChoice> for Devices {
    fn from(choice: DeviceChoice) -> Self {
        Devices(vec![choice])
    }
}

impl FromStr for Devices {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut choices: Vec<DeviceChoice> = Vec::new();
        for item in s.split(',') {
            if item.trim().is_empty() {
                return Err(TrainError::option("--device", format!("`{s}` has an empty entry")));
            }
            let choice: DeviceChoice = item.parse()?;
            if choices.contains(&choice) {
                return Err(TrainError::option(
                    "--device",
                    format!("`{s}` lists {choice} twice (--parallel trains several networks on one device)"),
                ));
            }
            choices.push(choice);
        }
        if choices.len() > 1 && choices.contains(&DeviceChoice::Auto) {
            return Err(TrainError::option(
                "--device",
                format!("`{s}`: auto stands alone, not in a list"),
            ));
        }
        Ok(Devices(choices))
    }
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&names.join(","))
    }
}

/// Which networks each of `devices` trains when `jobs` networks are dealt round-robin:
/// network k (in job order) goes to device k mod `devices`.
pub fn deal_round_robin(jobs: usize, devices: usize) -> Vec<Vec<usize>> {
    let mut dealt = vec![Vec::new(); devices.max(1)];
    let n = dealt.len();
    for k in 0..jobs {
        dealt[k % n].push(k);
    }
    dealt
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
    fn device_lists_parse_and_bad_ones_say_why() {
        let list: Devices = "cuda:0,cuda:1, cuda:3".parse().unwrap();
        assert_eq!(
            list.choices(),
            [DeviceChoice::Cuda(0), DeviceChoice::Cuda(1), DeviceChoice::Cuda(3)]
        );
        assert_eq!(list.to_string(), "cuda:0,cuda:1,cuda:3");
        assert_eq!("cpu".parse::<Devices>().unwrap(), Devices::from(DeviceChoice::Cpu));
        assert_eq!("cuda".parse::<Devices>().unwrap().choices(), [DeviceChoice::Cuda(0)]);
        for (text, why) in [
            ("cuda:0,cuda", "twice"),
            ("cuda:0,,cuda:1", "empty entry"),
            ("auto,cuda:1", "auto stands alone"),
            ("cuda:0,tpu", "is not auto, cpu, cuda or cuda:N"),
        ] {
            let err = text.parse::<Devices>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn networks_are_dealt_round_robin() {
        assert_eq!(deal_round_robin(5, 2), vec![vec![0, 2, 4], vec![1, 3]]);
        assert_eq!(deal_round_robin(2, 3), vec![vec![0], vec![1], vec![]]);
        assert_eq!(deal_round_robin(3, 1), vec![vec![0, 1, 2]]);
        let dealt = deal_round_robin(7, 3);
        let mut all: Vec<usize> = dealt.concat();
        all.sort();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
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
