//! tetra's PowerPC KVM layer: raw ioctls with powerpc's ioctl-number layout, the PowerPC KVM
//! structures, and a backend implementing vmm-core's `VmOps`, `VcpuOps` and `VcpuRegs`.
//!
//! # Why a crate of its own
//!
//! * **Two users, one definition.** arch-ppc64 (Book3S, pseries) and arch-booke (e500mc family)
//!   both drive KVM through this layer. `struct kvm_sregs` is one struct whose union holds the
//!   Book3S half (`u.s`: SDR1, SLB) and the BookE half (`u.e`: MAS, IVORs, TLB geometry); it is
//!   defined once, here ([`sregs`]), together with `kvm_regs`, the `kvm_run` exits and the
//!   `KVM_REG_PPC_*` ids ([`one_reg`]), which the two families share (and partly overload:
//!   ONE_REG 0x8c/0x8d). Neither arch crate can depend on the other, and vmm-core must stay free
//!   of arch structures, so the shared layer is a crate both depend on.
//! * **kvm-ioctls does not build for powerpc** (and kvm-bindings is empty there), and
//!   vmm-sys-util's ioctl-number macros hard-code the generic layout, which is wrong on powerpc
//!   (direction at bit 29, 13-bit size: `KVM_GET_API_VERSION` is `0x2000ae00`). [`ioctl`]
//!   computes every number from the layout with a `const fn`, so the numbers are built and
//!   unit-tested on any host, and checked against the powerpc headers by the ABI check.
//! * **Arch-only structures stay in the arch crates**: the BookE software TLB
//!   (`kvm_config_tlb`, `kvm_dirty_tlb`, `KVM_DIRTY_TLB`) lives in arch-booke, the Book3S HPT
//!   calls (`KVM_PPC_ALLOCATE_HTAB`, `kvm_get_htab_fd`) in arch-ppc64; they compute their ioctl
//!   numbers with [`ioctl::ppc_ioc`] and issue them on [`PpcVm::fd`] / [`PpcVcpu::fd`].
//!
//! Nothing here tests the target architecture: the same code builds everywhere. With
//! [`KvmAbi::X86_64`] it even runs on an x86 host's `/dev/kvm`, which is how `KVM_RUN`, the
//! `kvm_run` mapping and exit decoding are tested on real KVM.

#![deny(missing_docs)]

pub mod abi;
mod backend;
pub mod consts;
pub mod ioctl;
pub mod one_reg;
pub mod run;
pub mod seccomp;
pub mod sregs;
pub mod structs;

pub use backend::{Device, Kvm, PpcVcpu, PpcVm, KVM_PATH};
pub use ioctl::{KvmAbi, KvmIoctls};
pub use sregs::{KvmRegs, KvmSregs};
