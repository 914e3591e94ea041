//! Where a wake from S3 resumes: the FACS waking vectors (ACPI 6.5, 5.2.10), which the guest
//! writes before it sleeps, read as firmware reads them when the machine wakes.
//!
//! - `X_Firmware_Waking_Vector` (offset 24, 64 bits), when nonzero and below 4 GiB: the boot
//!   vCPU starts in 32-bit protected mode, flat segments and paging off, at that address. tetra
//!   does not set 64BIT_WAKE_SUPPORTED_F in the FACS flags, so the OSPM's 64BIT_WAKE_F is ignored
//!   (never a 64-bit entry).
//! - Otherwise `Firmware_Waking_Vector` (offset 12, 32 bits), when nonzero and below 1 MiB: real
//!   mode with CS = vector >> 4 and IP = vector & 0xF (this is what Linux sets).
//! - Neither: there is nowhere to resume, and the wake is a reset (a vector at or above 1 MiB,
//!   which real mode cannot reach, or an X vector above 4 GiB, counts as none).
//!
//! The FACS is guest RAM: any values are taken without a panic.

use super::FACS_ADDR;
use crate::boot::entry::{real_segment, special_regs, CpuMode, EntryState, SpecialRegs};

/// Offset of `Firmware_Waking_Vector` in the FACS.
pub const FIRMWARE_WAKING_VECTOR: usize = 12;
/// Offset of `X_Firmware_Waking_Vector` in the FACS.
pub const X_FIRMWARE_WAKING_VECTOR: usize = 24;
/// The bytes of the FACS a wake reads.
pub const FACS_READ_LEN: usize = X_FIRMWARE_WAKING_VECTOR + 8;
/// Guest address of `Firmware_Waking_Vector`.
pub const WAKING_VECTOR_ADDR: u64 = FACS_ADDR + FIRMWARE_WAKING_VECTOR as u64;

/// Where and how the boot vCPU resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeEntry {
    /// Real mode at `cs:ip`.
    Real {
        /// CS (the vector >> 4).
        cs: u16,
        /// IP (the vector & 0xF).
        ip: u16,
    },
    /// 32-bit flat protected mode, paging off, at `eip`.
    Protected {
        /// The linear entry address.
        eip: u32,
    },
}

/// The wake entry the FACS bytes `facs` (its first [`FACS_READ_LEN`] bytes) ask for, or `None`
/// when there is none (the wake is a reset).
pub fn waking_entry(facs: &[u8; FACS_READ_LEN]) -> Option<WakeEntry> {
    let le32 = |o: usize| u32::from_le_bytes([facs[o], facs[o + 1], facs[o + 2], facs[o + 3]]);
    let x = u64::from(le32(X_FIRMWARE_WAKING_VECTOR))
        | u64::from(le32(X_FIRMWARE_WAKING_VECTOR + 4)) << 32;
    if x != 0 {
        return u32::try_from(x)
            .ok()
            .map(|eip| WakeEntry::Protected { eip });
    }
    match le32(FIRMWARE_WAKING_VECTOR) {
        0 => None,
        v if v >= 1 << 20 => None,
        v => Some(WakeEntry::Real {
            cs: (v >> 4) as u16,
            ip: (v & 0xf) as u16,
        }),
    }
}

impl WakeEntry {
    /// The special registers and the instruction pointer (RIP) of this entry.
    pub fn registers(&self) -> (SpecialRegs, u64) {
        match *self {
            WakeEntry::Real { cs, ip } => {
                let mut sr = special_regs(&EntryState::at(CpuMode::Real, 0));
                sr.cs = real_segment(cs, true);
                (sr, u64::from(ip))
            }
            WakeEntry::Protected { eip } => (
                special_regs(&EntryState::at(CpuMode::Protected, u64::from(eip))),
                u64::from(eip),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::entry::{CR0_PE, CR0_PG};

    fn facs(vector: u32, x: u64) -> [u8; FACS_READ_LEN] {
        let mut f = [0u8; FACS_READ_LEN];
        f[..4].copy_from_slice(b"FACS");
        f[FIRMWARE_WAKING_VECTOR..FIRMWARE_WAKING_VECTOR + 4]
            .copy_from_slice(&vector.to_le_bytes());
        f[X_FIRMWARE_WAKING_VECTOR..].copy_from_slice(&x.to_le_bytes());
        f
    }

    #[test]
    fn the_32_bit_vector_is_a_real_mode_entry_at_cs_vector_shr_4() {
        let e = waking_entry(&facs(0x9a123, 0)).unwrap();
        assert_eq!(e, WakeEntry::Real { cs: 0x9a12, ip: 3 });
        let (sr, rip) = e.registers();
        assert_eq!((sr.cs.selector, sr.cs.base, rip), (0x9a12, 0x9a120, 3));
        assert_eq!(sr.cr0 & (CR0_PE | CR0_PG), 0, "real mode");
        assert_eq!((sr.efer, sr.cr4, sr.data.base), (0, 0, 0));
        assert_eq!(sr.idt, (0, 0x3ff), "the real-mode IVT");
    }

    #[test]
    fn the_x_vector_wins_and_is_a_flat_32_bit_entry() {
        let e = waking_entry(&facs(0x9a000, 0x20_0000)).unwrap();
        assert_eq!(e, WakeEntry::Protected { eip: 0x20_0000 });
        let (sr, rip) = e.registers();
        assert_eq!(rip, 0x20_0000);
        assert_eq!(sr.cr0 & (CR0_PE | CR0_PG), CR0_PE, "protected, no paging");
        assert_eq!((sr.cs.base, sr.cs.db, sr.cs.l), (0, 1, 0));
    }

    #[test]
    fn no_reachable_vector_is_none() {
        assert_eq!(waking_entry(&facs(0, 0)), None);
        assert_eq!(
            waking_entry(&facs(0x10_0000, 0)),
            None,
            "above real mode's reach"
        );
        assert_eq!(waking_entry(&facs(u32::MAX, 0)), None);
        assert_eq!(waking_entry(&facs(0x9a000, 1 << 32)), None, "above 4 GiB");
        assert_eq!(waking_entry(&[0xff; FACS_READ_LEN]), None);
    }
}
