//! The small traits through which vmm-core talks to KVM.
//!
//! vmm-core never names `kvm_ioctls::VcpuFd` or a raw ioctl: it sees a VM as [`VmOps`] and a vCPU as
//! [`VcpuOps`], and every `KVM_RUN` exit as the portable [`VcpuExit`]. Two backends implement them:
//!
//! * [`ioctls`] (cargo feature `kvm-ioctls`), on rust-vmm's kvm-ioctls, for x86_64 and aarch64 hosts.
//!   arch-x86_64 and arch-arm64 switch the feature on through target-specific dependencies, so the
//!   choice of backend is made once, in their `Cargo.toml`, and this crate never tests the target.
//! * a raw-ioctl backend with powerpc's ioctl-number layout, shared by arch-ppc64 and arch-booke
//!   (kvm-ioctls does not build for powerpc).
//!
//! Each arch crate's `kvm` module creates its vCPUs from the concrete backend type, so arch-only
//! calls (x86 `KVM_SET_CPUID2`, arm64 `KVM_ARM_VCPU_INIT`, PowerPC sregs) never pass through here.

mod exit;
#[cfg(feature = "kvm-ioctls")]
pub mod ioctls;

pub use exit::{DcrExit, PaprHcall, VcpuExit};

use std::io;
use vmm_sys_util::eventfd::EventFd;

/// A failed hypervisor call.
#[derive(Debug, thiserror::Error)]
pub enum HvError {
    /// `/dev/kvm` (or another hypervisor node) could not be opened.
    #[error("cannot open {path}")]
    Open {
        /// The node that failed to open.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An ioctl returned an error.
    #[error("{op} failed")]
    Ioctl {
        /// The KVM call, e.g. `KVM_RUN`.
        op: &'static str,
        /// The errno it returned.
        #[source]
        source: io::Error,
    },
    /// The hypervisor lacks something tetra needs.
    #[error("the hypervisor does not support {0}")]
    Unsupported(&'static str),
}

impl HvError {
    /// Builds an [`HvError::Ioctl`] from the calling thread's `errno`.
    pub fn last(op: &'static str) -> Self {
        HvError::Ioctl {
            op,
            source: io::Error::last_os_error(),
        }
    }

    /// The errno behind this error, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            HvError::Open { source, .. } | HvError::Ioctl { source, .. } => source.raw_os_error(),
            HvError::Unsupported(_) => None,
        }
    }
}

/// One guest-physical memory slot, as `KVM_SET_USER_MEMORY_REGION` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemorySlot {
    /// KVM slot number.
    pub slot: u32,
    /// Guest-physical base address.
    pub guest_addr: u64,
    /// Size in bytes; 0 deletes the slot.
    pub size: u64,
    /// Host virtual address of the backing memory.
    pub host_addr: u64,
    /// Track writes in the slot's dirty log (`KVM_MEM_LOG_DIRTY_PAGES`).
    pub log_dirty: bool,
    /// Guest writes exit as MMIO (`KVM_MEM_READONLY`).
    pub readonly: bool,
}

/// Where an ioeventfd listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoEventAddr {
    /// A port-I/O address.
    Pio(u64),
    /// A guest-physical MMIO address.
    Mmio(u64),
}

/// The value an ioeventfd matches, and the width of the write it matches (as the guest's store
/// lands in the host's byte order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datamatch {
    /// A 32-bit write of this value.
    U32(u32),
    /// A 64-bit write of this value.
    U64(u64),
}

/// One entry of a VM's GSI routing table (`KVM_SET_GSI_ROUTING`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GsiRoute {
    /// `gsi` drives input `pin` of in-kernel interrupt controller `irqchip` (x86: PIC master 0,
    /// slave 1, IOAPIC 2; arm64: 0, the GIC).
    Irqchip {
        /// The GSI.
        gsi: u32,
        /// The interrupt controller.
        irqchip: u32,
        /// Its input.
        pin: u32,
    },
    /// `gsi` sends an MSI.
    Msi {
        /// The GSI.
        gsi: u32,
        /// The message address.
        address: u64,
        /// The message data.
        data: u32,
        /// The requester id, for an interrupt controller that translates by device (arm64's
        /// ITS: `KVM_MSI_VALID_DEVID`).
        devid: Option<u32>,
    },
}

/// The VM-wide operations vmm-core performs itself.
pub trait VmOps: Send + Sync {
    /// The most vCPUs this VM may have (`KVM_CAP_MAX_VCPUS`).
    fn max_vcpus(&self) -> u32;
    /// `KVM_CHECK_EXTENSION` on the VM: 0 when absent, else the capability's value.
    fn check_extension(&self, cap: u32) -> i32;
    /// Adds, changes or (with `size == 0`) deletes a memory slot.
    ///
    /// # Safety
    /// `slot.host_addr .. + slot.size` must be a mapping that outlives the slot.
    unsafe fn set_memory_slot(&self, slot: &MemorySlot) -> Result<(), HvError>;
    /// Fetches and clears the dirty log of `slot` (`size` bytes long): one bit per host page
    /// (4 KiB on x86 and most arm64 hosts, 64 KiB on ppc64).
    fn dirty_log(&self, slot: u32, size: u64) -> Result<Vec<u64>, HvError>;
    /// Signalling `fd` raises interrupt line `gsi`.
    fn register_irqfd(&self, fd: &EventFd, gsi: u32) -> Result<(), HvError>;
    /// A guest write to `addr` (matching `datamatch` if given) signals `fd` instead of exiting.
    fn register_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError>;
    /// Removes an ioeventfd [`VmOps::register_ioeventfd`] registered with the same arguments.
    fn unregister_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError> {
        let _ = (fd, addr, datamatch);
        Err(HvError::Unsupported("removing an ioeventfd"))
    }
    /// Replaces the whole GSI routing table with `routes` (`KVM_SET_GSI_ROUTING`).
    fn set_gsi_routing(&self, routes: &[GsiRoute]) -> Result<(), HvError> {
        let _ = routes;
        Err(HvError::Unsupported("KVM_SET_GSI_ROUTING"))
    }
    /// Sets the level of interrupt line `irq` (`KVM_IRQ_LINE`).
    fn set_irq_line(&self, irq: u32, active: bool) -> Result<(), HvError>;
    /// `KVM_ENABLE_CAP` on the VM.
    fn enable_cap(&self, cap: u32, flags: u32, args: [u64; 4]) -> Result<(), HvError> {
        let _ = (cap, flags, args);
        Err(HvError::Unsupported("KVM_ENABLE_CAP"))
    }
    /// `KVM_CLEAR_DIRTY_LOG` (manual dirty-log protection): re-protects the pages whose bits are
    /// set in `bitmap`, which covers `num_pages` pages of `slot` from `first_page` (a multiple of
    /// 64).
    fn clear_dirty_log(
        &self,
        slot: u32,
        first_page: u64,
        num_pages: u32,
        bitmap: &[u64],
    ) -> Result<(), HvError> {
        let _ = (slot, first_page, num_pages, bitmap);
        Err(HvError::Unsupported("KVM_CLEAR_DIRTY_LOG"))
    }
}

/// The per-vCPU operations vmm-core performs itself.
pub trait VcpuOps: Send {
    /// Enters the guest until the next exit. `EINTR` (a kick) and `EAGAIN` come back as errors.
    fn run(&mut self) -> Result<VcpuExit<'_>, HvError>;
    /// The `immediate_exit` byte of this vCPU's `kvm_run`: a kick's signal handler sets it to 1 so
    /// that a `KVM_RUN` entered after the signal returns at once. Valid as long as the vCPU lives.
    fn immediate_exit_ptr(&mut self) -> *mut u8;
    /// Reads one register by its ONE_REG id into `buf`; returns the bytes written.
    fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError>;
    /// Writes one register by its ONE_REG id from `buf`.
    fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError>;
}
