//! ioctl numbers, computed from the arch's bit layout by a `const fn`, so that every number is
//! derived (and unit-tested) on any host.
//!
//! Linux packs an ioctl number as `dir | size | type | nr`, but where the fields sit differs:
//!
//! | layout | nr | type | size | dir | `_IOC_NONE` | `_IOC_READ` | `_IOC_WRITE` |
//! |---|---|---|---|---|---|---|---|
//! | generic (x86, arm64, riscv) | 7:0 | 15:8 | 29:16 (14 bits) | 31:30 | 0 | 2 | 1 |
//! | powerpc (also mips, sparc) | 7:0 | 15:8 | 28:16 (13 bits) | 31:29 | 1 | 2 | 4 |
//!
//! So `KVM_GET_API_VERSION` (`_IO(0xAE, 0)`) is `0xae00` on x86 but `0x2000ae00` on powerpc, and
//! vmm-sys-util's `ioctl_io_nr!` macros, which hard-code the generic layout, give powerpc numbers
//! the kernel rejects. Everything here takes the layout as a value instead.

use crate::sregs::{KvmFpu, KvmRegs, KvmSregs};
use crate::structs::{
    KvmCreateDevice, KvmDeviceAttr, KvmDirtyLog, KvmEnableCap, KvmInterrupt, KvmIoeventfd,
    KvmIrqLevel, KvmIrqRouting, KvmIrqfd, KvmOneReg, KvmPpcPvinfo, KvmUserspaceMemoryRegion,
};
use std::mem::size_of;

/// The `KVMIO` ioctl type.
pub const KVMIO: u8 = 0xae;

/// The data direction of an ioctl, as userspace sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `_IOC_NONE`.
    None,
    /// `_IOC_READ`: the kernel writes the argument.
    Read,
    /// `_IOC_WRITE`: the kernel reads the argument.
    Write,
    /// `_IOC_READ | _IOC_WRITE`.
    ReadWrite,
}

/// Where an arch keeps the fields of an ioctl number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IocLayout {
    /// Bits of the size field (it starts at bit 16).
    pub size_bits: u32,
    /// `_IOC_NONE`.
    pub none: u64,
    /// `_IOC_READ`.
    pub read: u64,
    /// `_IOC_WRITE`.
    pub write: u64,
}

impl IocLayout {
    /// `include/uapi/asm-generic/ioctl.h`: x86, arm64, riscv, s390.
    pub const GENERIC: IocLayout = IocLayout {
        size_bits: 14,
        none: 0,
        read: 2,
        write: 1,
    };

    /// `arch/powerpc/include/uapi/asm/ioctl.h`: 13-bit size, 3-bit direction at bit 29.
    pub const POWERPC: IocLayout = IocLayout {
        size_bits: 13,
        none: 1,
        read: 2,
        write: 4,
    };

    /// The bit where the direction field starts.
    pub const fn dir_shift(self) -> u32 {
        16 + self.size_bits
    }

    /// The direction bits of `dir`.
    pub const fn dir_bits(self, dir: Dir) -> u64 {
        match dir {
            Dir::None => self.none,
            Dir::Read => self.read,
            Dir::Write => self.write,
            Dir::ReadWrite => self.read | self.write,
        }
    }
}

/// `_IOC(dir, type, nr, size)` for `layout`. A size that does not fit the size field is a
/// compile-time error when evaluated in a constant.
pub const fn ioc(layout: IocLayout, dir: Dir, ty: u8, nr: u8, size: usize) -> u64 {
    assert!(
        (size as u64) < (1u64 << layout.size_bits),
        "ioctl argument too large for the size field"
    );
    (layout.dir_bits(dir) << layout.dir_shift())
        | ((size as u64) << 16)
        | ((ty as u64) << 8)
        | nr as u64
}

/// The struct sizes an arch puts into its `KVM_GET_REGS`/`SREGS`/`FPU` numbers, with its layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmAbi {
    /// The ioctl-number layout.
    pub layout: IocLayout,
    /// `sizeof(struct kvm_regs)`.
    pub regs_size: usize,
    /// `sizeof(struct kvm_sregs)`.
    pub sregs_size: usize,
    /// `sizeof(struct kvm_fpu)`.
    pub fpu_size: usize,
    /// The arch's name, for messages.
    pub name: &'static str,
}

impl KvmAbi {
    /// powerpc64 (Book3S and BookE): the structs of this crate.
    pub const POWERPC: KvmAbi = KvmAbi {
        layout: IocLayout::POWERPC,
        regs_size: size_of::<KvmRegs>(),
        sregs_size: size_of::<KvmSregs>(),
        fpu_size: size_of::<KvmFpu>(),
        name: "powerpc",
    };

    /// x86_64, for running this raw backend on an x86 host's `/dev/kvm` (its tests). Only the
    /// arch-independent calls and the raw-bytes block calls make sense with it.
    pub const X86_64: KvmAbi = KvmAbi {
        layout: IocLayout::GENERIC,
        regs_size: 144,
        sregs_size: 312,
        fpu_size: 416,
        name: "x86_64",
    };
}

/// Every KVM ioctl number the raw backend issues, for one [`KvmAbi`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvmIoctls {
    /// `KVM_GET_API_VERSION` `_IO(KVMIO, 0x00)`.
    pub get_api_version: u64,
    /// `KVM_CREATE_VM` `_IO(KVMIO, 0x01)`.
    pub create_vm: u64,
    /// `KVM_CHECK_EXTENSION` `_IO(KVMIO, 0x03)`.
    pub check_extension: u64,
    /// `KVM_GET_VCPU_MMAP_SIZE` `_IO(KVMIO, 0x04)`.
    pub get_vcpu_mmap_size: u64,
    /// `KVM_CREATE_VCPU` `_IO(KVMIO, 0x41)`.
    pub create_vcpu: u64,
    /// `KVM_GET_DIRTY_LOG` `_IOW(KVMIO, 0x42, struct kvm_dirty_log)`.
    pub get_dirty_log: u64,
    /// `KVM_SET_USER_MEMORY_REGION` `_IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)`.
    pub set_user_memory_region: u64,
    /// `KVM_IRQ_LINE` `_IOW(KVMIO, 0x61, struct kvm_irq_level)`.
    pub irq_line: u64,
    /// `KVM_SET_GSI_ROUTING` `_IOW(KVMIO, 0x6a, struct kvm_irq_routing)` (the header's size).
    pub set_gsi_routing: u64,
    /// `KVM_IRQFD` `_IOW(KVMIO, 0x76, struct kvm_irqfd)`.
    pub irqfd: u64,
    /// `KVM_IOEVENTFD` `_IOW(KVMIO, 0x79, struct kvm_ioeventfd)`.
    pub ioeventfd: u64,
    /// `KVM_RUN` `_IO(KVMIO, 0x80)`.
    pub run: u64,
    /// `KVM_GET_REGS` `_IOR(KVMIO, 0x81, struct kvm_regs)`.
    pub get_regs: u64,
    /// `KVM_SET_REGS` `_IOW(KVMIO, 0x82, struct kvm_regs)`.
    pub set_regs: u64,
    /// `KVM_GET_SREGS` `_IOR(KVMIO, 0x83, struct kvm_sregs)`.
    pub get_sregs: u64,
    /// `KVM_SET_SREGS` `_IOW(KVMIO, 0x84, struct kvm_sregs)`.
    pub set_sregs: u64,
    /// `KVM_INTERRUPT` `_IOW(KVMIO, 0x86, struct kvm_interrupt)`.
    pub interrupt: u64,
    /// `KVM_GET_FPU` `_IOR(KVMIO, 0x8c, struct kvm_fpu)`.
    pub get_fpu: u64,
    /// `KVM_SET_FPU` `_IOW(KVMIO, 0x8d, struct kvm_fpu)`.
    pub set_fpu: u64,
    /// `KVM_PPC_GET_PVINFO` `_IOW(KVMIO, 0xa1, struct kvm_ppc_pvinfo)`.
    pub ppc_get_pvinfo: u64,
    /// `KVM_ENABLE_CAP` `_IOW(KVMIO, 0xa3, struct kvm_enable_cap)`.
    pub enable_cap: u64,
    /// `KVM_GET_ONE_REG` `_IOW(KVMIO, 0xab, struct kvm_one_reg)`.
    pub get_one_reg: u64,
    /// `KVM_SET_ONE_REG` `_IOW(KVMIO, 0xac, struct kvm_one_reg)`.
    pub set_one_reg: u64,
    /// `KVM_CREATE_DEVICE` `_IOWR(KVMIO, 0xe0, struct kvm_create_device)`.
    pub create_device: u64,
    /// `KVM_SET_DEVICE_ATTR` `_IOW(KVMIO, 0xe1, struct kvm_device_attr)`.
    pub set_device_attr: u64,
    /// `KVM_GET_DEVICE_ATTR` `_IOW(KVMIO, 0xe2, struct kvm_device_attr)`.
    pub get_device_attr: u64,
    /// `KVM_HAS_DEVICE_ATTR` `_IOW(KVMIO, 0xe3, struct kvm_device_attr)`.
    pub has_device_attr: u64,
}

impl KvmIoctls {
    /// The numbers for `abi`.
    pub const fn new(abi: KvmAbi) -> Self {
        let l = abi.layout;
        KvmIoctls {
            get_api_version: ioc(l, Dir::None, KVMIO, 0x00, 0),
            create_vm: ioc(l, Dir::None, KVMIO, 0x01, 0),
            check_extension: ioc(l, Dir::None, KVMIO, 0x03, 0),
            get_vcpu_mmap_size: ioc(l, Dir::None, KVMIO, 0x04, 0),
            create_vcpu: ioc(l, Dir::None, KVMIO, 0x41, 0),
            get_dirty_log: ioc(l, Dir::Write, KVMIO, 0x42, size_of::<KvmDirtyLog>()),
            set_user_memory_region: ioc(
                l,
                Dir::Write,
                KVMIO,
                0x46,
                size_of::<KvmUserspaceMemoryRegion>(),
            ),
            irq_line: ioc(l, Dir::Write, KVMIO, 0x61, size_of::<KvmIrqLevel>()),
            set_gsi_routing: ioc(l, Dir::Write, KVMIO, 0x6a, size_of::<KvmIrqRouting>()),
            irqfd: ioc(l, Dir::Write, KVMIO, 0x76, size_of::<KvmIrqfd>()),
            ioeventfd: ioc(l, Dir::Write, KVMIO, 0x79, size_of::<KvmIoeventfd>()),
            run: ioc(l, Dir::None, KVMIO, 0x80, 0),
            get_regs: ioc(l, Dir::Read, KVMIO, 0x81, abi.regs_size),
            set_regs: ioc(l, Dir::Write, KVMIO, 0x82, abi.regs_size),
            get_sregs: ioc(l, Dir::Read, KVMIO, 0x83, abi.sregs_size),
            set_sregs: ioc(l, Dir::Write, KVMIO, 0x84, abi.sregs_size),
            interrupt: ioc(l, Dir::Write, KVMIO, 0x86, size_of::<KvmInterrupt>()),
            get_fpu: ioc(l, Dir::Read, KVMIO, 0x8c, abi.fpu_size),
            set_fpu: ioc(l, Dir::Write, KVMIO, 0x8d, abi.fpu_size),
            ppc_get_pvinfo: ioc(l, Dir::Write, KVMIO, 0xa1, size_of::<KvmPpcPvinfo>()),
            enable_cap: ioc(l, Dir::Write, KVMIO, 0xa3, size_of::<KvmEnableCap>()),
            get_one_reg: ioc(l, Dir::Write, KVMIO, 0xab, size_of::<KvmOneReg>()),
            set_one_reg: ioc(l, Dir::Write, KVMIO, 0xac, size_of::<KvmOneReg>()),
            create_device: ioc(l, Dir::ReadWrite, KVMIO, 0xe0, size_of::<KvmCreateDevice>()),
            set_device_attr: ioc(l, Dir::Write, KVMIO, 0xe1, size_of::<KvmDeviceAttr>()),
            get_device_attr: ioc(l, Dir::Write, KVMIO, 0xe2, size_of::<KvmDeviceAttr>()),
            has_device_attr: ioc(l, Dir::Write, KVMIO, 0xe3, size_of::<KvmDeviceAttr>()),
        }
    }

    /// Every number with its uapi name (for the ABI check and for messages).
    pub fn named(&self) -> [(&'static str, u64); 27] {
        [
            ("KVM_GET_API_VERSION", self.get_api_version),
            ("KVM_CREATE_VM", self.create_vm),
            ("KVM_CHECK_EXTENSION", self.check_extension),
            ("KVM_GET_VCPU_MMAP_SIZE", self.get_vcpu_mmap_size),
            ("KVM_CREATE_VCPU", self.create_vcpu),
            ("KVM_GET_DIRTY_LOG", self.get_dirty_log),
            ("KVM_SET_USER_MEMORY_REGION", self.set_user_memory_region),
            ("KVM_IRQ_LINE", self.irq_line),
            ("KVM_SET_GSI_ROUTING", self.set_gsi_routing),
            ("KVM_IRQFD", self.irqfd),
            ("KVM_IOEVENTFD", self.ioeventfd),
            ("KVM_RUN", self.run),
            ("KVM_GET_REGS", self.get_regs),
            ("KVM_SET_REGS", self.set_regs),
            ("KVM_GET_SREGS", self.get_sregs),
            ("KVM_SET_SREGS", self.set_sregs),
            ("KVM_INTERRUPT", self.interrupt),
            ("KVM_GET_FPU", self.get_fpu),
            ("KVM_SET_FPU", self.set_fpu),
            ("KVM_PPC_GET_PVINFO", self.ppc_get_pvinfo),
            ("KVM_ENABLE_CAP", self.enable_cap),
            ("KVM_GET_ONE_REG", self.get_one_reg),
            ("KVM_SET_ONE_REG", self.set_one_reg),
            ("KVM_CREATE_DEVICE", self.create_device),
            ("KVM_SET_DEVICE_ATTR", self.set_device_attr),
            ("KVM_GET_DEVICE_ATTR", self.get_device_attr),
            ("KVM_HAS_DEVICE_ATTR", self.has_device_attr),
        ]
    }
}

/// The numbers for powerpc64 hosts.
pub const POWERPC: KvmIoctls = KvmIoctls::new(KvmAbi::POWERPC);

/// `_IO(KVMIO, nr)` on powerpc, for arch-only ioctls (e.g. `KVM_PPC_ALLOCATE_HTAB` is
/// `ppc_ioc(Dir::ReadWrite, 0xa7, 4)`).
pub const fn ppc_ioc(dir: Dir, nr: u8, size: usize) -> u64 {
    ioc(IocLayout::POWERPC, dir, KVMIO, nr, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powerpc_numbers_have_the_direction_at_bit_29() {
        assert_eq!(POWERPC.get_api_version, 0x2000_ae00);
        assert_eq!(POWERPC.run, 0x2000_ae80);
        // _IOW(KVMIO, 0xab, struct kvm_one_reg): write (4) << 29 | 16 << 16 | 0xaeab
        assert_eq!(POWERPC.get_one_reg, 0x8010_aeab);
        // _IOR(KVMIO, 0x83, struct kvm_sregs) with sizeof == 1232 (0x4d0)
        assert_eq!(POWERPC.get_sregs, 0x44d0_ae83);
        // _IOWR(KVMIO, 0xe0, struct kvm_create_device): (2|4) << 29 | 12 << 16
        assert_eq!(POWERPC.create_device, 0xc00c_aee0);
        assert_eq!(ppc_ioc(Dir::ReadWrite, 0xa7, 4), 0xc004_aea7);
    }

    #[test]
    fn generic_numbers_match_x86_linux() {
        // Values printed by a C program against x86_64 <linux/kvm.h>.
        let g = KvmIoctls::new(KvmAbi::X86_64);
        assert_eq!(g.get_api_version, 0xae00);
        assert_eq!(g.run, 0xae80);
        assert_eq!(g.get_one_reg, 0x4010_aeab);
        assert_eq!(g.create_device, 0xc00c_aee0);
        assert_eq!(g.set_user_memory_region, 0x4020_ae46);
        assert_eq!(g.get_regs, 0x8090_ae81);
        assert_eq!(g.get_sregs, 0x8138_ae83);
        assert_eq!(g.set_gsi_routing, 0x4008_ae6a);
    }

    #[test]
    fn layouts_differ_only_where_they_should() {
        let g = KvmIoctls::new(KvmAbi {
            layout: IocLayout::GENERIC,
            ..KvmAbi::POWERPC
        });
        for ((name, p), (_, x)) in POWERPC.named().iter().zip(g.named()) {
            assert_eq!(p & 0xffff, x & 0xffff, "{name}: type and nr");
            assert_eq!((p >> 16) & 0x1fff, (x >> 16) & 0x3fff, "{name}: size");
            // The direction encodings map none 0->1, write 1->4, read 2->2, read-write 3->6.
            let (gd, pd) = (x >> 30, p >> 29);
            assert_eq!([1, 4, 2, 6][gd as usize], pd, "{name}: direction");
            // Only _IOWR gives the same top bits in both layouts.
            assert_eq!(*p == x, gd == 3, "{name}");
        }
    }
}
