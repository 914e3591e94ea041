//! The initial TLB1 entry, as U-Boot (and QEMU's e500 boards) leave it for the kernel: ePAPR's
//! "initial mapped area" (IMA), one entry at `TLB1[0]` mapping effective address 0 to real address
//! 0, valid and protected (IPROT), TID 0, TS 0, large enough to cover the kernel, its initrd and
//! the device tree. Its size goes to the kernel in r7.

use super::array::TlbStore;
use super::config_regs::CoreMmu;
use super::entry::{tsize_shift, Mapping, Perms, MAS0_TLBSEL_SHIFT, MAS2_M};
use super::geometry::Tlb;
use super::ops::{GuestMmu, MasRegs, OpsError};
use crate::abi::kvm_book3e_206_tlb_entry;
use thiserror::Error;

/// Errors building the boot mapping.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BootMapError {
    /// No page size of TLB1 covers the image.
    #[error("no TLB1 page size of {core} covers {bytes:#x} bytes from address 0")]
    TooLarge {
        /// The core.
        core: &'static str,
        /// Bytes to cover.
        bytes: u64,
    },
    /// Writing the entry failed.
    #[error("writing the boot TLB1 entry failed")]
    Write(#[source] OpsError),
}

/// The boot entry covering `[0, bytes)`: the smallest TLB1 page size of `core` that covers it
/// (at least 4 KiB). Permissions are all six (as QEMU's e500 boards set); WIMGE is M (memory
/// coherence, as U-Boot maps DDR on SMP parts).
pub fn boot_entry(core: &CoreMmu, bytes: u64) -> Result<kvm_book3e_206_tlb_entry, BootMapError> {
    let tsize = (2..32)
        .filter(|t| core.supports_tsize(Tlb::Tlb1, *t))
        .find(|t| (1u64 << tsize_shift(*t)) >= bytes)
        .ok_or(BootMapError::TooLarge {
            core: core.name,
            bytes,
        })?;
    Ok(kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
        ea: 0,
        ra: 0,
        tsize,
        tid: 0,
        ts: false,
        iprot: true,
        attrs: MAS2_M,
        perms: Perms::ALL,
    }))
}

/// Writes `e` into `TLB1[0]` with tlbwe (so a shared array marks it dirty); returns its index.
pub fn write_boot_entry<S: TlbStore>(
    mmu: &mut GuestMmu<S>,
    e: &kvm_book3e_206_tlb_entry,
) -> Result<usize, OpsError> {
    let mas = MasRegs {
        mas0: 1 << MAS0_TLBSEL_SHIFT, // TLB1, ESEL 0
        mas1: e.mas1,
        mas2: e.mas2,
        mas7_3: e.mas7_3,
        mas8: e.mas8,
        ..MasRegs::default()
    };
    mmu.tlbwe(&mas, true)
}

/// Writes the boot entry covering `[0, bytes)` into `TLB1[0]` with tlbwe (so a shared array marks
/// it dirty). Returns the entry's page size (ePAPR's r7).
pub fn install_boot_entry<S: TlbStore>(
    mmu: &mut GuestMmu<S>,
    core: &CoreMmu,
    bytes: u64,
) -> Result<u64, BootMapError> {
    let e = boot_entry(core, bytes)?;
    write_boot_entry(mmu, &e).map_err(BootMapError::Write)?;
    Ok(e.page_size(Tlb::Tlb1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::array::TlbArray;
    use crate::mmu::entry::{Access, AccessKind};
    use crate::mmu::geometry::TlbGeometry;
    use crate::mmu::translate::{translate, Query};

    #[test]
    fn sizes_are_powers_of_four_on_mmu_v1() {
        let c = CoreMmu::E5500;
        let size = |b| boot_entry(&c, b).unwrap().page_size(Tlb::Tlb1);
        assert_eq!(size(1), 4096);
        assert_eq!(size(4096), 4096);
        assert_eq!(size(4097), 16384);
        assert_eq!(size(20 << 20), 64 << 20);
        assert_eq!(size(64 << 20), 64 << 20);
        assert_eq!(size(65 << 20), 256 << 20);
        assert_eq!(size(4 << 30), 4 << 30);
        assert!(matches!(
            boot_entry(&c, (4 << 30) + 1),
            Err(BootMapError::TooLarge { .. })
        ));
        // MMU v2 has power-of-two sizes.
        assert_eq!(
            boot_entry(&CoreMmu::E6500, 20 << 20)
                .unwrap()
                .page_size(Tlb::Tlb1),
            32 << 20
        );
    }

    /// e500v2's TLB1 stops at 256 MiB: an image above that has no boot entry.
    #[test]
    fn e500v2_boot_entry_stops_at_256m() {
        let c = CoreMmu::E500V2;
        let size = |b| boot_entry(&c, b).unwrap().page_size(Tlb::Tlb1);
        assert_eq!(size(20 << 20), 64 << 20);
        assert_eq!(size(256 << 20), 256 << 20);
        assert_eq!(
            boot_entry(&c, (256 << 20) + 1),
            Err(BootMapError::TooLarge {
                core: "e500v2",
                bytes: (256 << 20) + 1
            })
        );
        let mut mmu = GuestMmu::new(TlbArray::new(TlbGeometry::E500V2));
        assert_eq!(install_boot_entry(&mut mmu, &c, 40 << 20), Ok(64 << 20));
        assert!(mmu.into_store().entries()[512].valid());
    }

    #[test]
    fn installed_entry_translates_identity() {
        let mut mmu = GuestMmu::new(TlbArray::new(TlbGeometry::E500MC));
        let size = install_boot_entry(&mut mmu, &CoreMmu::E500MC, 40 << 20).unwrap();
        assert_eq!(size, 64 << 20);
        let a = mmu.into_store();
        let e = a.entries()[512];
        assert!(e.valid() && e.iprot() && e.tid() == 0 && !e.ts());
        for ea in [0u64, 0x1234, (64 << 20) - 1] {
            let q = Query {
                ea,
                pid: 17,
                ts: false,
                cm: false,
                access: Some(Access {
                    kind: AccessKind::Execute,
                    user: false,
                }),
            };
            assert_eq!(translate(&a, &q).unwrap().ra, ea);
        }
        let q = Query {
            ea: 64 << 20,
            pid: 0,
            ts: false,
            cm: false,
            access: None,
        };
        assert!(translate(&a, &q).is_err());
    }
}
