//! Names for any arm64 ONE_REG id (what `KVM_GET_REG_LIST` returns).

use super::{core, table};
use vmm_core::regs::id::{
    SysRegEncoding, ARM64_SET_CORE, ARM64_SET_DEMUX, ARM64_SET_FW, ARM64_SET_FW_FEAT,
    ARM64_SET_SVE, ARM64_SET_SYSREG,
};
use vmm_core::regs::{RegArch, RegId, RegSize};

/// The name of the core register at `off` 32-bit words into `struct kvm_regs` with value size
/// `size`, if a register starts there with that size.
pub fn core_name(off: u16, size: RegSize) -> Option<String> {
    let u64s = size == RegSize::U64;
    match off {
        o if o < core::SP && o % 2 == 0 && u64s => Some(format!("x{}", o / 2)),
        core::SP if u64s => Some("sp".into()),
        core::PC if u64s => Some("pc".into()),
        core::PSTATE if u64s => Some("pstate".into()),
        core::SP_EL1 if u64s => Some("sp_el1".into()),
        core::ELR_EL1 if u64s => Some("elr_el1".into()),
        o if (core::SPSR..core::SPSR + 10).contains(&o) && o % 2 == 0 && u64s => {
            Some(core::SPSR_NAMES[((o - core::SPSR) / 2) as usize].0.into())
        }
        o if (core::V0..core::FPSR).contains(&o)
            && (o - core::V0).is_multiple_of(4)
            && size == RegSize::U128 =>
        {
            Some(format!("v{}", (o - core::V0) / 4))
        }
        core::FPSR if size == RegSize::U32 => Some("fpsr".into()),
        core::FPCR if size == RegSize::U32 => Some("fpcr".into()),
        _ => None,
    }
}

/// A name for any arm64 id: tetra's name if the static table has it (so the swapped timer ids
/// get KVM's meaning), else one decoded from the id: `x3`, `s3_0_c1_c0_1` (a system register by
/// encoding), `z5_0`/`p2_1`/`ffr_0`/`sve_vls`, `ccsidr3`, `fw_7`, `fw_feat_bmap_4`, or
/// `core+0x..` / `arm64_0x..` when nothing fits.
pub fn reg_name(id: RegId) -> String {
    if let Some(d) = table().get(id) {
        return d.name.to_string();
    }
    if id.arch() != Some(RegArch::Arm64) {
        return format!("{id}");
    }
    let n = id.number() as u16;
    match id.set() {
        ARM64_SET_CORE => core_name(n, id.size())
            .unwrap_or_else(|| format!("core+{n:#x}_{}", id.size().name().to_lowercase())),
        ARM64_SET_SYSREG => SysRegEncoding::from_number(n).generic_name(),
        ARM64_SET_FW => format!("fw_{n}"),
        ARM64_SET_FW_FEAT => format!("fw_feat_bmap_{n}"),
        ARM64_SET_DEMUX if n & 0xff00 == 0 => format!("ccsidr{}", n & 0xff),
        ARM64_SET_DEMUX => format!("demux_{n:#x}"),
        ARM64_SET_SVE if n == 0xffff => "sve_vls".into(),
        ARM64_SET_SVE => {
            let (slice, reg) = (n & 0x1f, (n >> 5) & 0x1f);
            match n & 0xfc00 {
                0x0000 => format!("z{reg}_{slice}"),
                0x0400 if n & 0x0200 == 0 => format!("p{}_{slice}", reg & 0xf),
                _ if n & 0xfe00 == 0x0600 => format!("ffr_{slice}"),
                _ => format!("sve_{n:#x}"),
            }
        }
        _ => format!("arm64_{:#x}", id.raw()),
    }
}
