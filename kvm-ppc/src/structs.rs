//! The arch-independent KVM structures the raw backend passes to the kernel (`linux/kvm.h`).
//! Their layout is the same on every 64-bit Linux arch; the ABI check compares each with the
//! powerpc headers.

/// `struct kvm_userspace_memory_region` (`KVM_SET_USER_MEMORY_REGION`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmUserspaceMemoryRegion {
    /// Slot number.
    pub slot: u32,
    /// `KVM_MEM_*`.
    pub flags: u32,
    /// Guest-physical base.
    pub guest_phys_addr: u64,
    /// Size in bytes (0 deletes the slot).
    pub memory_size: u64,
    /// Host virtual address of the backing memory.
    pub userspace_addr: u64,
}

/// `struct kvm_one_reg` (`KVM_GET_ONE_REG`/`KVM_SET_ONE_REG`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmOneReg {
    /// The register id.
    pub id: u64,
    /// Userspace address of the value.
    pub addr: u64,
}

/// `struct kvm_enable_cap` (`KVM_ENABLE_CAP` on a VM or a vCPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmEnableCap {
    /// `KVM_CAP_*`.
    pub cap: u32,
    /// Must be 0.
    pub flags: u32,
    /// Capability arguments (e.g. a `struct kvm_config_tlb` address for `KVM_CAP_SW_TLB`).
    pub args: [u64; 4],
    /// Reserved.
    pub pad: [u8; 64],
}

impl KvmEnableCap {
    /// Enables `cap` with `args`.
    pub fn new(cap: u32, args: [u64; 4]) -> Self {
        KvmEnableCap {
            cap,
            flags: 0,
            args,
            pad: [0; 64],
        }
    }
}

/// `struct kvm_create_device` (`KVM_CREATE_DEVICE`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmCreateDevice {
    /// `KVM_DEV_TYPE_*`.
    pub type_: u32,
    /// Out: the device fd.
    pub fd: u32,
    /// `KVM_CREATE_DEVICE_TEST` to only probe.
    pub flags: u32,
}

/// `struct kvm_device_attr` (`KVM_SET/GET/HAS_DEVICE_ATTR`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmDeviceAttr {
    /// Must be 0.
    pub flags: u32,
    /// Device-defined group.
    pub group: u32,
    /// Group-defined attribute.
    pub attr: u64,
    /// Userspace address of the attribute's data.
    pub addr: u64,
}

/// `struct kvm_irq_level` (`KVM_IRQ_LINE`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmIrqLevel {
    /// The interrupt line (a union with `status` in C).
    pub irq: u32,
    /// 1 asserted, 0 deasserted.
    pub level: u32,
}

/// `struct kvm_irqfd` (`KVM_IRQFD`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmIrqfd {
    /// The eventfd.
    pub fd: u32,
    /// The interrupt line it raises.
    pub gsi: u32,
    /// `KVM_IRQFD_FLAG_*`.
    pub flags: u32,
    /// The resample eventfd (with `KVM_IRQFD_FLAG_RESAMPLE`).
    pub resamplefd: u32,
    /// Reserved.
    pub pad: [u8; 16],
}

/// `struct kvm_ioeventfd` (`KVM_IOEVENTFD`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmIoeventfd {
    /// Value to match (with `KVM_IOEVENTFD_FLAG_DATAMATCH`).
    pub datamatch: u64,
    /// The PIO or MMIO address.
    pub addr: u64,
    /// Access length: 1, 2, 4 or 8, or 0 for any.
    pub len: u32,
    /// The eventfd.
    pub fd: i32,
    /// `KVM_IOEVENTFD_FLAG_*`.
    pub flags: u32,
    /// Reserved.
    pub pad: [u8; 36],
}

impl Default for KvmIoeventfd {
    fn default() -> Self {
        KvmIoeventfd {
            datamatch: 0,
            addr: 0,
            len: 0,
            fd: -1,
            flags: 0,
            pad: [0; 36],
        }
    }
}

/// `struct kvm_dirty_log` (`KVM_GET_DIRTY_LOG`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmDirtyLog {
    /// The slot.
    pub slot: u32,
    /// Reserved.
    pub padding1: u32,
    /// Userspace address of the bitmap (a union with a `__u64` in C).
    pub dirty_bitmap: u64,
}

/// `struct kvm_interrupt` (`KVM_INTERRUPT`; on PowerPC `irq` is `KVM_INTERRUPT_SET`, ...).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmInterrupt {
    /// The interrupt, or a PowerPC `KVM_INTERRUPT_*` action.
    pub irq: u32,
}

/// `struct kvm_ppc_pvinfo` (`KVM_PPC_GET_PVINFO`: the ePAPR hypercall instructions).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmPpcPvinfo {
    /// `KVM_PPC_PVINFO_FLAGS_*`.
    pub flags: u32,
    /// The hypercall instruction sequence.
    pub hcall: [u32; 4],
    /// Reserved.
    pub pad: [u8; 108],
}

impl Default for KvmPpcPvinfo {
    fn default() -> Self {
        KvmPpcPvinfo {
            flags: 0,
            hcall: [0; 4],
            pad: [0; 108],
        }
    }
}

/// `KVM_IRQ_ROUTING_IRQCHIP`: a route to a pin of an in-kernel interrupt controller.
pub const KVM_IRQ_ROUTING_IRQCHIP: u32 = 1;

/// `struct kvm_irq_routing_irqchip`: the `u.irqchip` member of a routing entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmIrqRoutingIrqchip {
    /// The in-kernel irqchip (0 for the one PowerPC MPIC or XICS).
    pub irqchip: u32,
    /// Its input pin (an MPIC source number).
    pub pin: u32,
}

/// `struct kvm_irq_routing_entry` (`KVM_SET_GSI_ROUTING`), with the irqchip member of its union
/// (the union is 32 bytes and 8-byte aligned in C: the s390 adapter member has `__u64`s).
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmIrqRoutingEntry {
    /// The GSI: the number irqfd and `KVM_IRQ_LINE` use.
    pub gsi: u32,
    /// `KVM_IRQ_ROUTING_*`.
    pub type_: u32,
    /// Must be 0 for irqchip routes.
    pub flags: u32,
    /// Reserved.
    pub pad: u32,
    /// `u.irqchip`.
    pub irqchip: KvmIrqRoutingIrqchip,
    /// The rest of the union.
    pub u_pad: [u32; 6],
}

impl KvmIrqRoutingEntry {
    /// A route from `gsi` to `pin` of in-kernel irqchip `irqchip`.
    pub fn irqchip(gsi: u32, irqchip: u32, pin: u32) -> Self {
        KvmIrqRoutingEntry {
            gsi,
            type_: KVM_IRQ_ROUTING_IRQCHIP,
            irqchip: KvmIrqRoutingIrqchip { irqchip, pin },
            ..Default::default()
        }
    }
}

/// The header of `struct kvm_irq_routing` (`KVM_SET_GSI_ROUTING`); `nr` entries follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmIrqRouting {
    /// Number of entries.
    pub nr: u32,
    /// Must be 0.
    pub flags: u32,
}

/// The `KVM_SET_GSI_ROUTING` argument: the header followed by the entries, in host byte order
/// (the C layout: the entries start at byte 8; the kernel copies them with `copy_from_user`, so
/// the buffer needs no particular alignment).
pub fn irq_routing_bytes(entries: &[KvmIrqRoutingEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 48 * entries.len());
    out.extend_from_slice(&(entries.len() as u32).to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    for e in entries {
        for w in [
            e.gsi,
            e.type_,
            e.flags,
            e.pad,
            e.irqchip.irqchip,
            e.irqchip.pin,
        ]
        .iter()
        .chain(&e.u_pad)
        {
            out.extend_from_slice(&w.to_ne_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_buffer_has_the_c_layout() {
        assert_eq!(std::mem::size_of::<KvmIrqRoutingEntry>(), 48);
        let b = irq_routing_bytes(&[
            KvmIrqRoutingEntry::irqchip(42, 0, 42),
            KvmIrqRoutingEntry::irqchip(7, 0, 3),
        ]);
        assert_eq!(b.len(), 8 + 2 * 48);
        let word = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().unwrap());
        assert_eq!((word(0), word(4)), (2, 0));
        // Second entry: gsi, type, flags, pad, irqchip, pin.
        let e = 8 + 48;
        assert_eq!(
            [
                word(e),
                word(e + 4),
                word(e + 8),
                word(e + 12),
                word(e + 16),
                word(e + 20)
            ],
            [7, KVM_IRQ_ROUTING_IRQCHIP, 0, 0, 0, 3]
        );
    }
}
