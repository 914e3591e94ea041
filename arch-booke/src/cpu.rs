//! The guest core models of the e500mc family: what the device tree, the MMU configuration
//! registers and the TLB geometry need to know about them, and which one the host is.
//!
//! Under KVM the guest runs on the host's core (e500mc-class KVM gives the guest the host's PVR
//! and TLB configuration), so the model is the host's: [`HostCpu::parse`] reads it, with the
//! timebase and core clock the device tree needs, from `/proc/cpuinfo` as Linux's powerpc
//! `show_cpuinfo` prints it (`cpu : e5500`, `clock : 1200.000000MHz`, `timebase : 75000000`).

use crate::irqchip::MpicModel;
use crate::mmu::{CoreMmu, MmuType, TlbGeometry};
use thiserror::Error;

/// A BookE core of the e500mc family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Core {
    /// e500mc: 32-bit, category E.HV (P4080).
    E500mc,
    /// e5500: 64-bit (P5020, T1040 class).
    E5500,
    /// e6500: 64-bit, MMU v2, AltiVec (T4240 class).
    E6500,
}

impl Core {
    /// The core's name.
    pub fn name(self) -> &'static str {
        self.mmu().name
    }

    /// The MMU facts (TLBnCFG/TLBnPS/MMUCFG, page sizes).
    pub fn mmu(self) -> CoreMmu {
        match self {
            Core::E500mc => CoreMmu::E500MC,
            Core::E5500 => CoreMmu::E5500,
            Core::E6500 => CoreMmu::E6500,
        }
    }

    /// The hardware TLB geometry, used as the guest's by default.
    pub fn tlb_geometry(self) -> TlbGeometry {
        match self {
            Core::E500mc | Core::E5500 => TlbGeometry::E500MC,
            Core::E6500 => TlbGeometry::E6500,
        }
    }

    /// L1 cache line size in bytes (data and instruction).
    pub fn cache_line(self) -> u32 {
        64
    }

    /// L1 data and instruction cache sizes in bytes.
    pub fn l1_sizes(self) -> (u32, u32) {
        (32 << 10, 32 << 10)
    }

    /// Whether the core is 64-bit (boots with `MSR[CM]` = 0 all the same).
    pub fn is_64bit(self) -> bool {
        self != Core::E500mc
    }

    /// The MPIC model of the core's SoCs.
    pub fn mpic_model(self) -> MpicModel {
        MpicModel::Fsl42
    }

    /// The `kvm_config_tlb` MMU type: all three cores are category E.HV, whose hardware may load
    /// TLB0 entries the shared array never sees (see [`MmuType::migrates`]).
    pub fn mmu_type(self) -> MmuType {
        MmuType::Hv
    }

    /// The core Linux names `name` in `/proc/cpuinfo` (its `cpu_name`).
    pub fn from_cpu_name(name: &str) -> Option<Core> {
        match name.trim() {
            "e500mc" => Some(Core::E500mc),
            "e5500" => Some(Core::E5500),
            "e6500" => Some(Core::E6500),
            _ => None,
        }
    }
}

/// Why the host's CPU could not be identified.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CpuInfoError {
    /// A line `/proc/cpuinfo` must have is missing.
    #[error("/proc/cpuinfo has no {0:?} line")]
    Missing(&'static str),
    /// A value that does not parse.
    #[error("/proc/cpuinfo {field}: cannot parse {value:?}")]
    Bad {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
    },
    /// A CPU that is not an e500mc-family core.
    #[error(
        "host CPU {0:?} is not an e500mc-family core (e500mc, e5500, e6500): BookE KVM needs one"
    )]
    NotE500mc(String),
}

/// What the BookE board takes from the host CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostCpu {
    /// The core model (the guest's too).
    pub core: Core,
    /// Timebase frequency in Hz (the guest's timebase is the host's).
    pub timebase_hz: u32,
    /// Core clock in Hz.
    pub clock_hz: u32,
}

impl HostCpu {
    /// Parses the text of `/proc/cpuinfo`: the first processor's `cpu` and `clock` lines and
    /// the summary's `timebase` line.
    pub fn parse(text: &str) -> Result<Self, CpuInfoError> {
        let field = |name: &'static str| {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim())
                .ok_or(CpuInfoError::Missing(name))
        };
        let bad = |field: &'static str, value: &str| CpuInfoError::Bad {
            field,
            value: value.to_string(),
        };
        let name = field("cpu")?;
        // "e5500" or, on some kernels, "e5500, altivec supported"-style suffixes.
        let model = name.split([',', ' ']).next().unwrap_or("");
        let core = Core::from_cpu_name(model).ok_or(CpuInfoError::NotE500mc(name.to_string()))?;
        let tb = field("timebase")?;
        let timebase_hz = tb.parse().map_err(|_| bad("timebase", tb))?;
        let clock = field("clock")?;
        let clock_hz = parse_mhz(clock).ok_or_else(|| bad("clock", clock))?;
        Ok(HostCpu {
            core,
            timebase_hz,
            clock_hz,
        })
    }
}

/// `1200.000000MHz` -> 1_200_000_000 (at most 4 GHz, the device tree's 32-bit cell).
fn parse_mhz(s: &str) -> Option<u32> {
    let mhz = s.strip_suffix("MHz")?.trim();
    let (int, frac) = mhz.split_once('.').unwrap_or((mhz, ""));
    let frac = frac.get(..6.min(frac.len()))?;
    let hz = int.parse::<u64>().ok()?.checked_mul(1_000_000)?
        + if frac.is_empty() {
            0
        } else {
            frac.parse::<u64>().ok()? * 10u64.pow(6 - frac.len() as u32)
        };
    u32::try_from(hz).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Linux's powerpc `/proc/cpuinfo` (`show_cpuinfo` and
    /// `show_cpuinfo_summary` in `arch/powerpc/kernel/setup-common.c`) on a two-core e5500.
    const E5500: &str = "processor\t: 0\ncpu\t\t: e5500\nclock\t\t: 1200.000000MHz\n\
        revision\t: 2.0 (pvr 8024 1020)\nbogomips\t: 150.00\n\nprocessor\t: 1\n\
        cpu\t\t: e5500\nclock\t\t: 1200.000000MHz\nrevision\t: 2.0 (pvr 8024 1020)\n\
        bogomips\t: 150.00\n\ntotal bogomips\t: 300.00\ntimebase\t: 75000000\n\
        platform\t: P5020 DS\nmodel\t\t: fsl,P5020DS\n";

    #[test]
    fn parses_the_host() {
        assert_eq!(
            HostCpu::parse(E5500),
            Ok(HostCpu {
                core: Core::E5500,
                timebase_hz: 75_000_000,
                clock_hz: 1_200_000_000,
            })
        );
        let e6500 = E5500
            .replace("e5500", "e6500")
            .replace("1200.000000", "1666.666660");
        let h = HostCpu::parse(&e6500).unwrap();
        assert_eq!((h.core, h.clock_hz), (Core::E6500, 1_666_666_660));
        assert_eq!(h.core.tlb_geometry(), TlbGeometry::E6500);
        assert_eq!(h.core.mmu_type(), MmuType::Hv);
    }

    #[test]
    fn refuses_what_is_not_an_e500mc_host() {
        let power9 = "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n\
            clock\t\t: 2200.000000MHz\ntimebase\t: 512000000\n";
        assert!(matches!(
            HostCpu::parse(power9),
            Err(CpuInfoError::NotE500mc(n)) if n.starts_with("POWER9")
        ));
        let e500v2 = E5500.replace("e5500", "e500v2");
        assert!(matches!(
            HostCpu::parse(&e500v2),
            Err(CpuInfoError::NotE500mc(_))
        ));
        assert_eq!(
            HostCpu::parse("cpu : e5500\nclock : 1000MHz\n"),
            Err(CpuInfoError::Missing("timebase"))
        );
        for clock in ["fast", "1.5GHz", "99999.0MHz", ".5MHz", "1.-5MHz"] {
            let t = E5500.replace("1200.000000MHz", clock);
            assert!(
                matches!(
                    HostCpu::parse(&t),
                    Err(CpuInfoError::Bad { field: "clock", .. })
                ),
                "{clock}"
            );
        }
        assert_eq!(parse_mhz("800MHz"), Some(800_000_000));
        assert_eq!(parse_mhz("1.5MHz"), Some(1_500_000));
        // Digits past the Hz are dropped.
        assert_eq!(parse_mhz("1.1234567MHz"), Some(1_123_456));
        let t = E5500.replace("75000000", "-1");
        assert!(matches!(
            HostCpu::parse(&t),
            Err(CpuInfoError::Bad {
                field: "timebase",
                ..
            })
        ));
    }
}
