//! The KVM constants the PowerPC layer uses (`linux/kvm.h`, powerpc `asm/kvm.h`). Each one is
//! also an ABI fact, so a wrong value fails the ABI check.

use vmm_core::regs::abi::AbiFact;

macro_rules! consts {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $value:expr $(=> $c:literal)?; )*) => {
        $( $(#[$doc])* pub const $name: $ty = $value; )*

        /// Every constant of this module as an ABI fact (`C name == value`).
        pub fn const_facts() -> Vec<AbiFact> {
            vec![ $( AbiFact::new(
                consts!(@c $name $($c)?),
                $name as u64,
                concat!("kvm_ppc::consts::", stringify!($name)),
            ), )* ]
        }
    };
    (@c $name:ident $c:literal) => { $c };
    (@c $name:ident) => { stringify!($name) };
}

consts! {
    /// `KVM_API_VERSION`: the only version KVM has ever had.
    KVM_API_VERSION: i32 = 12;

    /// `KVM_EXIT_UNKNOWN`.
    KVM_EXIT_UNKNOWN: u32 = 0;
    /// `KVM_EXIT_EXCEPTION`.
    KVM_EXIT_EXCEPTION: u32 = 1;
    /// `KVM_EXIT_IO`.
    KVM_EXIT_IO: u32 = 2;
    /// `KVM_EXIT_HYPERCALL`.
    KVM_EXIT_HYPERCALL: u32 = 3;
    /// `KVM_EXIT_DEBUG`.
    KVM_EXIT_DEBUG: u32 = 4;
    /// `KVM_EXIT_HLT`.
    KVM_EXIT_HLT: u32 = 5;
    /// `KVM_EXIT_MMIO`.
    KVM_EXIT_MMIO: u32 = 6;
    /// `KVM_EXIT_SHUTDOWN`.
    KVM_EXIT_SHUTDOWN: u32 = 8;
    /// `KVM_EXIT_FAIL_ENTRY`.
    KVM_EXIT_FAIL_ENTRY: u32 = 9;
    /// `KVM_EXIT_INTR`.
    KVM_EXIT_INTR: u32 = 10;
    /// `KVM_EXIT_DCR` (BookE 440; deprecated).
    KVM_EXIT_DCR: u32 = 15;
    /// `KVM_EXIT_INTERNAL_ERROR`.
    KVM_EXIT_INTERNAL_ERROR: u32 = 17;
    /// `KVM_EXIT_OSI`.
    KVM_EXIT_OSI: u32 = 18;
    /// `KVM_EXIT_PAPR_HCALL`.
    KVM_EXIT_PAPR_HCALL: u32 = 19;
    /// `KVM_EXIT_WATCHDOG` (BookE watchdog).
    KVM_EXIT_WATCHDOG: u32 = 21;
    /// `KVM_EXIT_EPR`.
    KVM_EXIT_EPR: u32 = 23;
    /// `KVM_EXIT_SYSTEM_EVENT`.
    KVM_EXIT_SYSTEM_EVENT: u32 = 24;
    /// `KVM_EXIT_IO_IN`.
    KVM_EXIT_IO_IN: u8 = 0;
    /// `KVM_EXIT_IO_OUT`.
    KVM_EXIT_IO_OUT: u8 = 1;

    /// `KVM_SYSTEM_EVENT_SHUTDOWN`.
    KVM_SYSTEM_EVENT_SHUTDOWN: u32 = 1;
    /// `KVM_SYSTEM_EVENT_RESET`.
    KVM_SYSTEM_EVENT_RESET: u32 = 2;
    /// `KVM_SYSTEM_EVENT_CRASH`.
    KVM_SYSTEM_EVENT_CRASH: u32 = 3;

    /// `KVM_MEM_LOG_DIRTY_PAGES`.
    KVM_MEM_LOG_DIRTY_PAGES: u32 = 1;
    /// `KVM_MEM_READONLY`.
    KVM_MEM_READONLY: u32 = 2;
    /// `KVM_IOEVENTFD_FLAG_DATAMATCH`.
    KVM_IOEVENTFD_FLAG_DATAMATCH: u32 = 1;
    /// `KVM_IOEVENTFD_FLAG_PIO`.
    KVM_IOEVENTFD_FLAG_PIO: u32 = 2;
    /// `KVM_IOEVENTFD_FLAG_DEASSIGN`.
    KVM_IOEVENTFD_FLAG_DEASSIGN: u32 = 4;
    /// `KVM_IRQFD_FLAG_DEASSIGN`.
    KVM_IRQFD_FLAG_DEASSIGN: u32 = 1;
    /// `KVM_CREATE_DEVICE_TEST`.
    KVM_CREATE_DEVICE_TEST: u32 = 1;

    /// `KVM_VM_PPC_HV`: `KVM_CREATE_VM` type for kvm-hv.
    KVM_VM_PPC_HV: u64 = 1;
    /// `KVM_VM_PPC_PR`: `KVM_CREATE_VM` type for kvm-pr.
    KVM_VM_PPC_PR: u64 = 2;

    /// `KVM_INTERRUPT_SET`: raise the external interrupt (edge).
    KVM_INTERRUPT_SET: u32 = 0xffff_ffff;
    /// `KVM_INTERRUPT_UNSET`: lower it.
    KVM_INTERRUPT_UNSET: u32 = 0xffff_fffe;
    /// `KVM_INTERRUPT_SET_LEVEL`: raise it until unset.
    KVM_INTERRUPT_SET_LEVEL: u32 = 0xffff_fffd;

    /// `KVM_CAP_USER_MEMORY`.
    KVM_CAP_USER_MEMORY: u32 = 3;
    /// `KVM_CAP_IRQ_ROUTING`: `KVM_SET_GSI_ROUTING`.
    KVM_CAP_IRQ_ROUTING: u32 = 25;
    /// `KVM_CAP_IRQFD`.
    KVM_CAP_IRQFD: u32 = 32;
    /// `KVM_CAP_IOEVENTFD`.
    KVM_CAP_IOEVENTFD: u32 = 36;
    /// `KVM_CAP_NR_VCPUS`.
    KVM_CAP_NR_VCPUS: u32 = 9;
    /// `KVM_CAP_PPC_OSI`.
    KVM_CAP_PPC_OSI: u32 = 52;
    /// `KVM_CAP_ENABLE_CAP`.
    KVM_CAP_ENABLE_CAP: u32 = 54;
    /// `KVM_CAP_PPC_GET_PVINFO`.
    KVM_CAP_PPC_GET_PVINFO: u32 = 57;
    /// `KVM_CAP_PPC_IRQ_LEVEL`.
    KVM_CAP_PPC_IRQ_LEVEL: u32 = 58;
    /// `KVM_CAP_PPC_BOOKE_SREGS`.
    KVM_CAP_PPC_BOOKE_SREGS: u32 = 62;
    /// `KVM_CAP_PPC_SMT`.
    KVM_CAP_PPC_SMT: u32 = 64;
    /// `KVM_CAP_MAX_VCPUS`.
    KVM_CAP_MAX_VCPUS: u32 = 66;
    /// `KVM_CAP_PPC_HIOR`.
    KVM_CAP_PPC_HIOR: u32 = 67;
    /// `KVM_CAP_PPC_PAPR`: enable PAPR (pseries) mode on a vCPU before its first run.
    KVM_CAP_PPC_PAPR: u32 = 68;
    /// `KVM_CAP_SW_TLB`: the BookE shared software TLB.
    KVM_CAP_SW_TLB: u32 = 69;
    /// `KVM_CAP_ONE_REG`.
    KVM_CAP_ONE_REG: u32 = 70;
    /// `KVM_CAP_PPC_ALLOC_HTAB`.
    KVM_CAP_PPC_ALLOC_HTAB: u32 = 80;
    /// `KVM_CAP_READONLY_MEM`.
    KVM_CAP_READONLY_MEM: u32 = 81;
    /// `KVM_CAP_PPC_BOOKE_WATCHDOG`.
    KVM_CAP_PPC_BOOKE_WATCHDOG: u32 = 83;
    /// `KVM_CAP_PPC_HTAB_FD`.
    KVM_CAP_PPC_HTAB_FD: u32 = 84;
    /// `KVM_CAP_PPC_EPR`: external proxy exits (`KVM_EXIT_EPR`).
    KVM_CAP_PPC_EPR: u32 = 86;
    /// `KVM_CAP_DEVICE_CTRL`.
    KVM_CAP_DEVICE_CTRL: u32 = 89;
    /// `KVM_CAP_IRQ_MPIC`.
    KVM_CAP_IRQ_MPIC: u32 = 90;
    /// `KVM_CAP_PPC_RTAS`.
    KVM_CAP_PPC_RTAS: u32 = 91;
    /// `KVM_CAP_IRQ_XICS`.
    KVM_CAP_IRQ_XICS: u32 = 92;
    /// `KVM_CAP_ENABLE_CAP_VM`.
    KVM_CAP_ENABLE_CAP_VM: u32 = 98;
    /// `KVM_CAP_CHECK_EXTENSION_VM`.
    KVM_CAP_CHECK_EXTENSION_VM: u32 = 105;
    /// `KVM_CAP_IMMEDIATE_EXIT`.
    KVM_CAP_IMMEDIATE_EXIT: u32 = 136;
    /// `KVM_CAP_PPC_MMU_RADIX`.
    KVM_CAP_PPC_MMU_RADIX: u32 = 134;
    /// `KVM_CAP_PPC_MMU_HASH_V3`.
    KVM_CAP_PPC_MMU_HASH_V3: u32 = 135;
    /// `KVM_CAP_PPC_NESTED_HV`.
    KVM_CAP_PPC_NESTED_HV: u32 = 160;
    /// `KVM_CAP_PPC_IRQ_XIVE`.
    KVM_CAP_PPC_IRQ_XIVE: u32 = 169;

    /// `KVM_DEV_TYPE_FSL_MPIC_20`.
    KVM_DEV_TYPE_FSL_MPIC_20: u32 = 1;
    /// `KVM_DEV_TYPE_FSL_MPIC_42`.
    KVM_DEV_TYPE_FSL_MPIC_42: u32 = 2;
    /// `KVM_DEV_TYPE_XICS`.
    KVM_DEV_TYPE_XICS: u32 = 3;
    /// `KVM_DEV_TYPE_XIVE`.
    KVM_DEV_TYPE_XIVE: u32 = 9;

    /// `KVM_DEV_XICS_GRP_SOURCES`: one 64-bit attribute per interrupt source, by number.
    KVM_DEV_XICS_GRP_SOURCES: u32 = 1;
    /// `KVM_DEV_XICS_GRP_CTRL`: device controls.
    KVM_DEV_XICS_GRP_CTRL: u32 = 2;
    /// `KVM_DEV_XICS_NR_SERVERS`: (write only, `u32`) the number of interrupt servers.
    KVM_DEV_XICS_NR_SERVERS: u64 = 1;
    /// `KVM_XICS_DESTINATION_SHIFT`: the source's server, in bits 0-31.
    KVM_XICS_DESTINATION_SHIFT: u32 = 0;
    /// `KVM_XICS_DESTINATION_MASK`.
    KVM_XICS_DESTINATION_MASK: u64 = 0xffff_ffff;
    /// `KVM_XICS_PRIORITY_SHIFT`: the source's priority, in bits 32-39.
    KVM_XICS_PRIORITY_SHIFT: u32 = 32;
    /// `KVM_XICS_PRIORITY_MASK`.
    KVM_XICS_PRIORITY_MASK: u64 = 0xff;
    /// `KVM_XICS_LEVEL_SENSITIVE`: a level (LSI) source.
    KVM_XICS_LEVEL_SENSITIVE: u64 = 1 << 40;
    /// `KVM_XICS_MASKED`: masked (`ibm,int-off`); the priority field keeps the saved priority.
    KVM_XICS_MASKED: u64 = 1 << 41;
    /// `KVM_XICS_PENDING`: an interrupt is pending (an asserted LSI, or a masked MSI that fired).
    KVM_XICS_PENDING: u64 = 1 << 42;
    /// `KVM_XICS_PRESENTED`: presented to a server, not yet EOIed.
    KVM_XICS_PRESENTED: u64 = 1 << 43;
    /// `KVM_XICS_QUEUED`: queued behind a presented one.
    KVM_XICS_QUEUED: u64 = 1 << 44;
    /// `KVM_REG_PPC_ICP_CPPR_SHIFT`: the ICP's current processor priority (ONE_REG ICP_STATE).
    KVM_REG_PPC_ICP_CPPR_SHIFT: u32 = 56;
    /// `KVM_REG_PPC_ICP_XISR_SHIFT`: the ICP's interrupt source.
    KVM_REG_PPC_ICP_XISR_SHIFT: u32 = 32;
    /// `KVM_REG_PPC_ICP_XISR_MASK`.
    KVM_REG_PPC_ICP_XISR_MASK: u64 = 0xff_ffff;
    /// `KVM_REG_PPC_ICP_MFRR_SHIFT`: the ICP's pending IPI priority.
    KVM_REG_PPC_ICP_MFRR_SHIFT: u32 = 24;
    /// `KVM_REG_PPC_ICP_PPRI_SHIFT`: the ICP's pending interrupt priority.
    KVM_REG_PPC_ICP_PPRI_SHIFT: u32 = 16;

    /// `KVM_SREGS_E_IMPL_NONE`.
    KVM_SREGS_E_IMPL_NONE: u32 = 0;
    /// `KVM_SREGS_E_IMPL_FSL`.
    KVM_SREGS_E_IMPL_FSL: u32 = 1;
    /// `KVM_SREGS_E_FSL_PIDn` (PID1/PID2 valid).
    KVM_SREGS_E_FSL_PIDN: u32 = 1 << 0 => "KVM_SREGS_E_FSL_PIDn";
    /// `KVM_SREGS_E_BASE`: CSRR0/1, ESR, DEAR, MCSR, TSR, TCR, DEC, TB, VRSAVE.
    KVM_SREGS_E_BASE: u32 = 1 << 0;
    /// `KVM_SREGS_E_ARCH206`: PIR, MCSRR0/1, DECAR, IVPR.
    KVM_SREGS_E_ARCH206: u32 = 1 << 1;
    /// `KVM_SREGS_E_64`: EPCR and upper halves.
    KVM_SREGS_E_64: u32 = 1 << 2;
    /// `KVM_SREGS_E_SPRG8`.
    KVM_SREGS_E_SPRG8: u32 = 1 << 3;
    /// `KVM_SREGS_E_MCIVPR`.
    KVM_SREGS_E_MCIVPR: u32 = 1 << 4;
    /// `KVM_SREGS_E_IVOR`: IVOR0-15 (more with SPE, PM, PC).
    KVM_SREGS_E_IVOR: u32 = 1 << 5;
    /// `KVM_SREGS_E_ARCH206_MMU`: MAS0-4, MAS6-7, TLBnCFG, MMUCFG, TLBnPS.
    KVM_SREGS_E_ARCH206_MMU: u32 = 1 << 6;
    /// `KVM_SREGS_E_DEBUG`: DBSR, DBCR, IAC, DAC, DVC.
    KVM_SREGS_E_DEBUG: u32 = 1 << 7;
    /// `KVM_SREGS_E_ED`: DSRR0/1, SPRG9.
    KVM_SREGS_E_ED: u32 = 1 << 8;
    /// `KVM_SREGS_E_SPE`: IVOR32-34.
    KVM_SREGS_E_SPE: u32 = 1 << 9;
    /// `KVM_SREGS_EXP`: EPR (deprecated in sregs).
    KVM_SREGS_EXP: u32 = 1 << 10;
    /// `KVM_SREGS_E_PD`: EPLC/EPSC.
    KVM_SREGS_E_PD: u32 = 1 << 11;
    /// `KVM_SREGS_E_PC`: IVOR36-37.
    KVM_SREGS_E_PC: u32 = 1 << 12;
    /// `KVM_SREGS_E_PT`: EPTCFG.
    KVM_SREGS_E_PT: u32 = 1 << 13;
    /// `KVM_SREGS_E_PM`: IVOR35.
    KVM_SREGS_E_PM: u32 = 1 << 14;
    /// `KVM_SREGS_E_UPDATE_MCSR`.
    KVM_SREGS_E_UPDATE_MCSR: u32 = 1 << 0;
    /// `KVM_SREGS_E_UPDATE_TSR`.
    KVM_SREGS_E_UPDATE_TSR: u32 = 1 << 1;
    /// `KVM_SREGS_E_UPDATE_DEC`.
    KVM_SREGS_E_UPDATE_DEC: u32 = 1 << 2;
    /// `KVM_SREGS_E_UPDATE_DBSR`.
    KVM_SREGS_E_UPDATE_DBSR: u32 = 1 << 3;
}
