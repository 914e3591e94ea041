//! The guest core models, e500v2 and the e500mc family: what the device tree, the MMU
//! configuration registers, the TLB geometry, the `KVM_CAP_SW_TLB` MMU type and the register
//! table need to know about them, and which one the host is.
//!
//! | core | PVR version | MMU type | TLB0 | TLB1 | L1 line | EPCR |
//! |---|---|---|---|---|---|---|
//! | e500v2 (MPC85xx, 32-bit) | 0x8021 | `_NOHV` | 512, 4-way | 16 | 32 B | no |
//! | e500mc (P4080, 32-bit) | 0x8023 | `_HV` | 512, 4-way | 64 | 64 B | yes |
//! | e5500 (64-bit) | 0x8024 | `_HV` | 512, 4-way | 64 | 64 B | yes |
//! | e6500 (64-bit) | 0x8040 | `_HV` | 1024, 8-way | 64 | 64 B | yes |
//!
//! e500v2 has no category E.HV: its KVM (`KVM_E500V2`, the route `scripts/emu-test booke`
//! exercises) emulates every TLB write, takes `KVM_MMU_FSL_BOOKE_NOHV` and has no EPCR (ONE_REG
//! `EPCR` is EINVAL there).
//!
//! Under KVM the guest runs on the host's core (BookE KVM gives the guest the host's PVR
//! and TLB configuration), so the model is the host's: [`HostCpu::parse`] reads it, with the
//! timebase and core clock the device tree needs, from `/proc/cpuinfo` as Linux's powerpc
//! `show_cpuinfo` prints it (`cpu : e5500`, `clock : 1200.000000MHz`, `timebase : 75000000`).

use crate::irqchip::MpicModel;
use crate::mmu::{CoreMmu, MmuType, TlbGeometry};
use thiserror::Error;

/// A BookE core: e500v2 or one of the e500mc family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Core {
    /// e500v2: 32-bit, no E.HV, SPE instead of a classic FPU (MPC8548 class).
    E500v2,
    /// e500mc: 32-bit, category E.HV (P4080).
    E500mc,
    /// e5500: 64-bit (P5020, T1040 class).
    E5500,
    /// e6500: 64-bit, MMU v2, AltiVec (T4240 class).
    E6500,
}

impl Core {
    /// Every core, oldest first.
    pub const ALL: [Core; 4] = [Core::E500v2, Core::E500mc, Core::E5500, Core::E6500];

    /// The core's name.
    pub fn name(self) -> &'static str {
        self.mmu().name
    }

    /// The MMU facts (TLBnCFG/TLBnPS/MMUCFG, page sizes).
    pub fn mmu(self) -> CoreMmu {
        match self {
            Core::E500v2 => CoreMmu::E500V2,
            Core::E500mc => CoreMmu::E500MC,
            Core::E5500 => CoreMmu::E5500,
            Core::E6500 => CoreMmu::E6500,
        }
    }

    /// The hardware TLB geometry, used as the guest's by default.
    pub fn tlb_geometry(self) -> TlbGeometry {
        match self {
            Core::E500v2 => TlbGeometry::E500V2,
            Core::E500mc | Core::E5500 => TlbGeometry::E500MC,
            Core::E6500 => TlbGeometry::E6500,
        }
    }

    /// L1 cache line size in bytes (data and instruction).
    pub fn cache_line(self) -> u32 {
        match self {
            Core::E500v2 => 32,
            _ => 64,
        }
    }

    /// L1 data and instruction cache sizes in bytes.
    pub fn l1_sizes(self) -> (u32, u32) {
        (32 << 10, 32 << 10)
    }

    /// Whether the core is 64-bit (boots with `MSR[CM]` = 0 all the same).
    pub fn is_64bit(self) -> bool {
        matches!(self, Core::E5500 | Core::E6500)
    }

    /// The MPIC model of the core's SoCs: 2.0 on the PQ3 (MPC85xx) parts of e500v2, 4.2 on the
    /// QorIQ parts of the others.
    pub fn mpic_model(self) -> MpicModel {
        match self {
            Core::E500v2 => MpicModel::Fsl20,
            _ => MpicModel::Fsl42,
        }
    }

    /// The `kvm_config_tlb` MMU type: e500mc, e5500 and e6500 are category E.HV, whose
    /// hardware may load TLB0 entries the shared array never sees (see [`MmuType::migrates`]);
    /// e500v2 is not (KVM refuses `_HV` there and emulates every TLB write).
    pub fn mmu_type(self) -> MmuType {
        match self {
            Core::E500v2 => MmuType::NoHv,
            _ => MmuType::Hv,
        }
    }

    /// Whether the core has EPCR (category E.HV): the register table leaves ONE_REG `EPCR` out
    /// where it has not.
    pub fn has_epcr(self) -> bool {
        self != Core::E500v2
    }

    /// The version half of the core's PVR (`PVR >> 16`).
    pub fn pvr_version(self) -> u16 {
        match self {
            Core::E500v2 => 0x8021,
            Core::E500mc => 0x8023,
            Core::E5500 => 0x8024,
            Core::E6500 => 0x8040,
        }
    }

    /// The core whose PVR is `pvr` (any revision; e500v1, 0x8020, is not supported).
    pub fn from_pvr(pvr: u32) -> Option<Core> {
        Core::ALL
            .into_iter()
            .find(|c| u32::from(c.pvr_version()) == pvr >> 16)
    }

    /// The device tree's cpu node `model`: "PowerPC,8548" for e500v2 (the name of the MPC85xx
    /// device trees' cpu nodes), "PowerPC,<core>" for the others.
    pub fn fdt_model(self) -> &'static str {
        match self {
            Core::E500v2 => "PowerPC,8548",
            Core::E500mc => "PowerPC,e500mc",
            Core::E5500 => "PowerPC,e5500",
            Core::E6500 => "PowerPC,e6500",
        }
    }

    /// The device tree's cpu node `compatible`.
    pub fn fdt_compatible(self) -> &'static str {
        match self {
            Core::E500v2 => "fsl,e500v2",
            Core::E500mc => "fsl,e500mc",
            Core::E5500 => "fsl,e5500",
            Core::E6500 => "fsl,e6500",
        }
    }

    /// The core Linux names `name` in `/proc/cpuinfo` (its `cpu_name`).
    pub fn from_cpu_name(name: &str) -> Option<Core> {
        match name.trim() {
            "e500v2" => Some(Core::E500v2),
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
    /// A CPU that is not one of the BookE cores tetra knows.
    #[error(
        "host CPU {0:?} is not a BookE core tetra knows (e500v2, e500mc, e5500, e6500): BookE KVM needs one"
    )]
    NotE500(String),
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
        let core = Core::from_cpu_name(model)
            .or_else(|| pvr_of(text).and_then(Core::from_pvr))
            .ok_or(CpuInfoError::NotE500(name.to_string()))?;
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

/// The PVR of the first `revision` line (`2.0 (pvr 8024 1020)`), if it has one.
fn pvr_of(text: &str) -> Option<u32> {
    let rev = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "revision")?
        .1;
    let (_, pvr) = rev.split_once("(pvr ")?;
    let (hi, rest) = pvr.trim_start().split_once(' ')?;
    let lo = rest.trim_start().strip_suffix(')').unwrap_or(rest).trim();
    let hi = u16::from_str_radix(hi, 16).ok()?;
    let lo = u16::from_str_radix(lo.get(..lo.len().min(4))?, 16).ok()?;
    Some((u32::from(hi) << 16) | u32::from(lo))
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

    /// An e500v2 host as the booke lane's QEMU `-cpu e500v2_v30` shows it (`cpu : e500v2`, PVR
    /// 0x80210030).
    #[test]
    fn parses_an_e500v2_host() {
        let t = E5500
            .replace("e5500", "e500v2")
            .replace("2.0 (pvr 8024 1020)", "3.0 (pvr 8021 0030)");
        let h = HostCpu::parse(&t).unwrap();
        assert_eq!(h.core, Core::E500v2);
        assert_eq!(h.core.mmu_type(), MmuType::NoHv);
        assert_eq!(h.core.tlb_geometry(), TlbGeometry::E500V2);
        assert_eq!(h.core.tlb_geometry().to_string(), "512x4,16");
        assert_eq!(h.core.cache_line(), 32);
        assert!(!h.core.has_epcr() && !h.core.is_64bit());
        assert_eq!(h.core.mpic_model(), MpicModel::Fsl20);
        assert_eq!(h.core.name(), "e500v2");
        // A name the table does not know is identified by its PVR.
        let t = t.replace("cpu\t\t: e500v2", "cpu\t\t: mystery");
        assert_eq!(HostCpu::parse(&t).unwrap().core, Core::E500v2);
        assert_eq!(pvr_of(&t), Some(0x8021_0030));
    }

    #[test]
    fn pvr_ranges() {
        for c in Core::ALL {
            assert_eq!(
                Core::from_pvr(u32::from(c.pvr_version()) << 16 | 0x1234),
                Some(c)
            );
            assert_eq!(Core::from_cpu_name(c.name()), Some(c));
            assert_eq!(c.mmu_type() == MmuType::Hv, c.has_epcr(), "{c:?}");
            assert!(c.fdt_compatible().ends_with(c.name()));
        }
        assert_eq!(Core::from_pvr(0x8020_0020), None, "e500v1");
        assert_eq!(Core::from_pvr(0x004e_1202), None, "POWER9");
        for bad in ["(pvr zz 1)", "(pvr 8021)", "(pvr", "2.0"] {
            let t = format!("revision : {bad}\n");
            assert_eq!(pvr_of(&t), None, "{bad}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_e500mc_host() {
        let power9 = "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n\
            clock\t\t: 2200.000000MHz\ntimebase\t: 512000000\n";
        assert!(matches!(
            HostCpu::parse(power9),
            Err(CpuInfoError::NotE500(n)) if n.starts_with("POWER9")
        ));
        let e500v1 = E5500
            .replace("e5500", "e500v1")
            .replace("pvr 8024", "pvr 8020");
        assert!(matches!(
            HostCpu::parse(&e500v1),
            Err(CpuInfoError::NotE500(_))
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
