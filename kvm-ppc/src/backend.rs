//! The raw-ioctl backend: `/dev/kvm`, a VM ([`PpcVm`], vmm-core's `VmOps`) and its vCPUs
//! ([`PpcVcpu`], `VcpuOps` and `VcpuRegs`), issuing the numbers of a [`KvmAbi`].
//!
//! With [`KvmAbi::POWERPC`] this is the backend of arch-ppc64 and arch-booke. With
//! [`KvmAbi::X86_64`] the very same code runs on an x86 host's `/dev/kvm`, which is how its
//! `KVM_RUN`, `kvm_run` mapping and exit decoding are tested on real KVM (`tests/real_kvm.rs`).

use crate::consts::*;
use crate::ioctl::{KvmAbi, KvmIoctls};
use crate::run::RunPage;
use crate::sregs::{self, KvmRegs, KvmSregs, BLOCK_REGS, BLOCK_SREGS, SET_SREGS_E};
use crate::structs::*;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use vmm_core::hypervisor::{Datamatch, HvError, IoEventAddr, MemorySlot, VcpuExit, VcpuOps, VmOps};
use vmm_core::regs::{RegBlock, RegDesc, RegId, RegLoc, VcpuRegs};
use vmm_sys_util::eventfd::EventFd;
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref, ioctl_with_val};

/// The KVM device node.
pub const KVM_PATH: &str = "/dev/kvm";

fn check(op: &'static str, ret: i32) -> Result<i32, HvError> {
    if ret < 0 {
        Err(HvError::last(op))
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a new fd an ioctl returned.
fn owned(op: &'static str, ret: i32) -> Result<File, HvError> {
    let fd = check(op, ret)?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

struct System {
    fd: File,
    abi: KvmAbi,
    nr: KvmIoctls,
}

/// An open `/dev/kvm`.
#[derive(Clone)]
pub struct Kvm {
    sys: Arc<System>,
}

impl Kvm {
    /// Opens `/dev/kvm` for `abi` and checks `KVM_GET_API_VERSION` (a wrong ioctl-number layout
    /// fails here: the kernel rejects an unknown number).
    pub fn open(abi: KvmAbi) -> Result<Self, HvError> {
        Self::open_path(KVM_PATH, abi)
    }

    /// Opens `path` as the KVM node.
    pub fn open_path(path: &str, abi: KvmAbi) -> Result<Self, HvError> {
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| HvError::Open {
                path: path.to_string(),
                source,
            })?;
        let kvm = Kvm {
            sys: Arc::new(System {
                fd,
                abi,
                nr: KvmIoctls::new(abi),
            }),
        };
        let v = kvm.api_version()?;
        if v != KVM_API_VERSION {
            return Err(HvError::Ioctl {
                op: "KVM_GET_API_VERSION",
                source: io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("API version {v}, tetra needs {KVM_API_VERSION}"),
                ),
            });
        }
        Ok(kvm)
    }

    /// The ABI this handle uses.
    pub fn abi(&self) -> KvmAbi {
        self.sys.abi
    }

    /// The ioctl numbers this handle uses.
    pub fn ioctls(&self) -> &KvmIoctls {
        &self.sys.nr
    }

    /// `KVM_GET_API_VERSION`.
    pub fn api_version(&self) -> Result<i32, HvError> {
        // SAFETY: an argument-less ioctl on our /dev/kvm fd.
        check("KVM_GET_API_VERSION", unsafe {
            ioctl_with_val(&self.sys.fd, self.sys.nr.get_api_version as _, 0)
        })
    }

    /// `KVM_CHECK_EXTENSION` on `/dev/kvm`: 0 when absent.
    pub fn check_extension(&self, cap: u32) -> i32 {
        // SAFETY: the capability number is passed by value.
        let r = unsafe { ioctl_with_val(&self.sys.fd, self.sys.nr.check_extension as _, cap as _) };
        r.max(0)
    }

    /// `KVM_GET_VCPU_MMAP_SIZE`.
    pub fn vcpu_mmap_size(&self) -> Result<usize, HvError> {
        // SAFETY: an argument-less ioctl.
        let n = check("KVM_GET_VCPU_MMAP_SIZE", unsafe {
            ioctl_with_val(&self.sys.fd, self.sys.nr.get_vcpu_mmap_size as _, 0)
        })?;
        Ok(n as usize)
    }

    /// `KVM_CREATE_VM` with `vm_type` (0, or `KVM_VM_PPC_HV`/`KVM_VM_PPC_PR`).
    pub fn create_vm(&self, vm_type: u64) -> Result<PpcVm, HvError> {
        // SAFETY: the VM type is passed by value; the result is a new fd.
        let fd = owned("KVM_CREATE_VM", unsafe {
            ioctl_with_val(&self.sys.fd, self.sys.nr.create_vm as _, vm_type as _)
        })?;
        let run_size = self.vcpu_mmap_size()?;
        Ok(PpcVm {
            fd,
            kvm: self.clone(),
            run_size,
        })
    }
}

/// A VM on the raw backend.
pub struct PpcVm {
    fd: File,
    kvm: Kvm,
    run_size: usize,
}

impl PpcVm {
    /// The `/dev/kvm` handle.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// The VM fd, for arch-only ioctls (HTAB, SW TLB, ...).
    pub fn fd(&self) -> &File {
        &self.fd
    }

    fn nr(&self) -> &KvmIoctls {
        &self.kvm.sys.nr
    }

    /// `KVM_CREATE_VCPU` `id`, with its `kvm_run` page mapped.
    pub fn create_vcpu(&self, id: u64) -> Result<PpcVcpu, HvError> {
        // SAFETY: the vCPU id is passed by value; the result is a new fd.
        let fd = owned("KVM_CREATE_VCPU", unsafe {
            ioctl_with_val(&self.fd, self.nr().create_vcpu as _, id as _)
        })?;
        let run = RunPage::map(fd.as_fd(), self.run_size).map_err(|source| HvError::Ioctl {
            op: "mmap(kvm_run)",
            source,
        })?;
        Ok(PpcVcpu {
            fd,
            run,
            kvm: self.kvm.clone(),
        })
    }

    /// `KVM_ENABLE_CAP` on the VM.
    pub fn enable_cap(&self, cap: &KvmEnableCap) -> Result<(), HvError> {
        // SAFETY: `cap` is a live kvm_enable_cap the kernel only reads.
        check("KVM_ENABLE_CAP", unsafe {
            ioctl_with_ref(&self.fd, self.nr().enable_cap as _, cap)
        })
        .map(drop)
    }

    /// `KVM_CREATE_DEVICE` of `dev_type` (`KVM_DEV_TYPE_*`).
    pub fn create_device(&self, dev_type: u32) -> Result<Device, HvError> {
        let mut cd = KvmCreateDevice {
            type_: dev_type,
            fd: 0,
            flags: 0,
        };
        // SAFETY: `cd` is a live kvm_create_device the kernel reads and fills.
        check("KVM_CREATE_DEVICE", unsafe {
            ioctl_with_mut_ref(&self.fd, self.nr().create_device as _, &mut cd)
        })?;
        // SAFETY: the kernel returned a new device fd in `cd.fd`.
        let fd = File::from(unsafe { OwnedFd::from_raw_fd(cd.fd as i32) });
        Ok(Device {
            fd,
            kvm: self.kvm.clone(),
        })
    }

    /// Whether `dev_type` can be created (`KVM_CREATE_DEVICE_TEST`).
    pub fn can_create_device(&self, dev_type: u32) -> bool {
        let mut cd = KvmCreateDevice {
            type_: dev_type,
            fd: 0,
            flags: KVM_CREATE_DEVICE_TEST,
        };
        // SAFETY: as in create_device; with the TEST flag no fd is created.
        unsafe { ioctl_with_mut_ref(&self.fd, self.nr().create_device as _, &mut cd) == 0 }
    }

    /// `KVM_SET_GSI_ROUTING`: replaces the VM's whole GSI routing table with `entries` (an
    /// irqfd or `KVM_IRQ_LINE` on a GSI without a route does nothing).
    pub fn set_gsi_routing(&self, entries: &[KvmIrqRoutingEntry]) -> Result<(), HvError> {
        let buf = irq_routing_bytes(entries);
        // SAFETY: `buf` is a struct kvm_irq_routing header followed by `nr` entries, as the
        // kernel reads it; it outlives the call.
        check("KVM_SET_GSI_ROUTING", unsafe {
            ioctl_with_val(&self.fd, self.nr().set_gsi_routing as _, buf.as_ptr() as _)
        })
        .map(drop)
    }

    /// `KVM_PPC_GET_PVINFO`: the hypercall instructions for ePAPR guests.
    pub fn ppc_pvinfo(&self) -> Result<KvmPpcPvinfo, HvError> {
        let mut info = KvmPpcPvinfo::default();
        // SAFETY: `info` is a live kvm_ppc_pvinfo the kernel fills.
        check("KVM_PPC_GET_PVINFO", unsafe {
            ioctl_with_mut_ref(&self.fd, self.nr().ppc_get_pvinfo as _, &mut info)
        })?;
        Ok(info)
    }

    fn ioeventfd(&self, io: &KvmIoeventfd) -> Result<(), HvError> {
        // SAFETY: `io` is a live kvm_ioeventfd the kernel only reads.
        check("KVM_IOEVENTFD", unsafe {
            ioctl_with_ref(&self.fd, self.nr().ioeventfd as _, io)
        })
        .map(drop)
    }

    /// Removes an ioeventfd registered with [`VmOps::register_ioeventfd`].
    pub fn unregister_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError> {
        let mut io = ioeventfd_args(fd, addr, datamatch);
        io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        self.ioeventfd(&io)
    }
}

fn ioeventfd_args(fd: &EventFd, addr: IoEventAddr, datamatch: Option<Datamatch>) -> KvmIoeventfd {
    let (addr, mut flags) = match addr {
        IoEventAddr::Pio(a) => (a, KVM_IOEVENTFD_FLAG_PIO),
        IoEventAddr::Mmio(a) => (a, 0),
    };
    // Like kvm-ioctls: the datamatch's width is the write's length; without one, any length
    // matches.
    let (len, datamatch) = match datamatch {
        Some(Datamatch::U32(v)) => (4, u64::from(v)),
        Some(Datamatch::U64(v)) => (8, v),
        None => (0, 0),
    };
    if len != 0 {
        flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    }
    KvmIoeventfd {
        datamatch,
        addr,
        len,
        fd: fd.as_raw_fd(),
        flags,
        ..Default::default()
    }
}

impl VmOps for PpcVm {
    fn max_vcpus(&self) -> u32 {
        // Documentation/virt/kvm/api.rst: MAX_VCPUS, else NR_VCPUS, else 4.
        for cap in [KVM_CAP_MAX_VCPUS, KVM_CAP_NR_VCPUS] {
            let n = self.check_extension(cap);
            if n > 0 {
                return n as u32;
            }
        }
        4
    }

    fn check_extension(&self, cap: u32) -> i32 {
        // SAFETY: the capability number is passed by value.
        let r = unsafe { ioctl_with_val(&self.fd, self.nr().check_extension as _, cap as _) };
        if r < 0 {
            // Kernels without KVM_CAP_CHECK_EXTENSION_VM answer on /dev/kvm only.
            self.kvm.check_extension(cap)
        } else {
            r
        }
    }

    unsafe fn set_memory_slot(&self, slot: &MemorySlot) -> Result<(), HvError> {
        let mut flags = 0;
        if slot.log_dirty {
            flags |= KVM_MEM_LOG_DIRTY_PAGES;
        }
        if slot.readonly {
            flags |= KVM_MEM_READONLY;
        }
        let region = KvmUserspaceMemoryRegion {
            slot: slot.slot,
            flags,
            guest_phys_addr: slot.guest_addr,
            memory_size: slot.size,
            userspace_addr: slot.host_addr,
        };
        // SAFETY: the caller guarantees the host range is a live mapping that outlives the slot;
        // `region` is a live struct the kernel only reads.
        check("KVM_SET_USER_MEMORY_REGION", unsafe {
            ioctl_with_ref(&self.fd, self.nr().set_user_memory_region as _, &region)
        })
        .map(drop)
    }

    fn dirty_log(&self, slot: u32, size: u64) -> Result<Vec<u64>, HvError> {
        // One bit per host page (4 KiB on x86, 64 KiB on most ppc64 kernels).
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        let words = size.div_ceil(page).div_ceil(64) as usize;
        let mut bitmap = vec![0u64; words];
        let log = KvmDirtyLog {
            slot,
            padding1: 0,
            dirty_bitmap: bitmap.as_mut_ptr() as u64,
        };
        // SAFETY: `bitmap` has room for one bit per page of the slot and outlives the call.
        check("KVM_GET_DIRTY_LOG", unsafe {
            ioctl_with_ref(&self.fd, self.nr().get_dirty_log as _, &log)
        })?;
        Ok(bitmap)
    }

    fn register_irqfd(&self, fd: &EventFd, gsi: u32) -> Result<(), HvError> {
        let irqfd = KvmIrqfd {
            fd: fd.as_raw_fd() as u32,
            gsi,
            ..Default::default()
        };
        // SAFETY: `irqfd` is a live kvm_irqfd the kernel only reads.
        check("KVM_IRQFD", unsafe {
            ioctl_with_ref(&self.fd, self.nr().irqfd as _, &irqfd)
        })
        .map(drop)
    }

    fn register_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError> {
        self.ioeventfd(&ioeventfd_args(fd, addr, datamatch))
    }

    fn set_irq_line(&self, irq: u32, active: bool) -> Result<(), HvError> {
        let level = KvmIrqLevel {
            irq,
            level: active.into(),
        };
        // SAFETY: `level` is a live kvm_irq_level the kernel only reads.
        check("KVM_IRQ_LINE", unsafe {
            ioctl_with_ref(&self.fd, self.nr().irq_line as _, &level)
        })
        .map(drop)
    }
}

/// A KVM device (interrupt controller) fd.
pub struct Device {
    fd: File,
    kvm: Kvm,
}

impl Device {
    /// The device fd.
    pub fn fd(&self) -> &File {
        &self.fd
    }

    fn attr(
        &self,
        op: &'static str,
        nr: u64,
        group: u32,
        attr: u64,
        addr: u64,
    ) -> Result<(), HvError> {
        let a = KvmDeviceAttr {
            flags: 0,
            group,
            attr,
            addr,
        };
        // SAFETY: `a` is a live kvm_device_attr; `addr` is 0 or points to the caller's buffer of
        // the size the device defines for (group, attr), which outlives the call.
        check(op, unsafe { ioctl_with_ref(&self.fd, nr as _, &a) }).map(drop)
    }

    /// `KVM_SET_DEVICE_ATTR` of a 64-bit attribute (e.g. `KVM_DEV_MPIC_BASE_ADDR`, XICS sources).
    pub fn set_attr_u64(&self, group: u32, attr: u64, value: u64) -> Result<(), HvError> {
        self.set_attr_bytes(group, attr, &value.to_ne_bytes())
    }

    /// `KVM_SET_DEVICE_ATTR` of a 32-bit attribute (e.g. MPIC registers). A separate call from
    /// the 64-bit one: the kernel reads 4 bytes, which on big-endian BookE hosts would be the
    /// high half of a `u64`.
    pub fn set_attr_u32(&self, group: u32, attr: u64, value: u32) -> Result<(), HvError> {
        self.set_attr_bytes(group, attr, &value.to_ne_bytes())
    }

    /// `KVM_SET_DEVICE_ATTR` with the attribute data in `data`.
    pub fn set_attr_bytes(&self, group: u32, attr: u64, data: &[u8]) -> Result<(), HvError> {
        self.attr(
            "KVM_SET_DEVICE_ATTR",
            self.kvm.sys.nr.set_device_attr,
            group,
            attr,
            data.as_ptr() as u64,
        )
    }

    /// `KVM_GET_DEVICE_ATTR` into `data` (which must be as large as the attribute).
    pub fn get_attr_bytes(&self, group: u32, attr: u64, data: &mut [u8]) -> Result<(), HvError> {
        self.attr(
            "KVM_GET_DEVICE_ATTR",
            self.kvm.sys.nr.get_device_attr,
            group,
            attr,
            data.as_mut_ptr() as u64,
        )
    }

    /// `KVM_GET_DEVICE_ATTR` of a 64-bit attribute.
    pub fn get_attr_u64(&self, group: u32, attr: u64) -> Result<u64, HvError> {
        let mut b = [0u8; 8];
        self.get_attr_bytes(group, attr, &mut b)?;
        Ok(u64::from_ne_bytes(b))
    }

    /// `KVM_GET_DEVICE_ATTR` of a 32-bit attribute.
    pub fn get_attr_u32(&self, group: u32, attr: u64) -> Result<u32, HvError> {
        let mut b = [0u8; 4];
        self.get_attr_bytes(group, attr, &mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    /// `KVM_HAS_DEVICE_ATTR`.
    pub fn has_attr(&self, group: u32, attr: u64) -> bool {
        self.attr(
            "KVM_HAS_DEVICE_ATTR",
            self.kvm.sys.nr.has_device_attr,
            group,
            attr,
            0,
        )
        .is_ok()
    }
}

/// A vCPU on the raw backend.
pub struct PpcVcpu {
    fd: File,
    run: RunPage,
    kvm: Kvm,
}

impl PpcVcpu {
    /// The vCPU fd, for arch-only ioctls.
    pub fn fd(&self) -> &File {
        &self.fd
    }

    /// The `kvm_run` page.
    pub fn run_page(&mut self) -> &mut RunPage {
        &mut self.run
    }

    fn nr(&self) -> &KvmIoctls {
        &self.kvm.sys.nr
    }

    fn powerpc(&self, op: &'static str) -> Result<(), HvError> {
        if self.kvm.sys.abi.sregs_size == std::mem::size_of::<KvmSregs>() {
            Ok(())
        } else {
            Err(HvError::Unsupported(op))
        }
    }

    /// `KVM_GET_REGS` (PowerPC layout).
    pub fn get_regs(&self) -> Result<KvmRegs, HvError> {
        self.powerpc("KVM_GET_REGS")?;
        let mut r = KvmRegs::default();
        // SAFETY: `r` is a live struct kvm_regs of the size the number encodes.
        check("KVM_GET_REGS", unsafe {
            ioctl_with_mut_ref(&self.fd, self.nr().get_regs as _, &mut r)
        })?;
        Ok(r)
    }

    /// `KVM_SET_REGS` (PowerPC layout).
    pub fn set_regs(&self, r: &KvmRegs) -> Result<(), HvError> {
        self.powerpc("KVM_SET_REGS")?;
        // SAFETY: `r` is a live struct kvm_regs the kernel only reads.
        check("KVM_SET_REGS", unsafe {
            ioctl_with_ref(&self.fd, self.nr().set_regs as _, r)
        })
        .map(drop)
    }

    /// `KVM_GET_SREGS` (PowerPC layout).
    pub fn get_sregs(&self) -> Result<KvmSregs, HvError> {
        self.powerpc("KVM_GET_SREGS")?;
        let mut s = KvmSregs::default();
        // SAFETY: `s` is a live struct kvm_sregs of the size the number encodes.
        check("KVM_GET_SREGS", unsafe {
            ioctl_with_mut_ref(&self.fd, self.nr().get_sregs as _, &mut s)
        })?;
        Ok(s)
    }

    /// `KVM_SET_SREGS` (PowerPC layout).
    pub fn set_sregs(&self, s: &KvmSregs) -> Result<(), HvError> {
        self.powerpc("KVM_SET_SREGS")?;
        // SAFETY: `s` is a live struct kvm_sregs the kernel only reads.
        check("KVM_SET_SREGS", unsafe {
            ioctl_with_ref(&self.fd, self.nr().set_sregs as _, s)
        })
        .map(drop)
    }

    /// `KVM_ENABLE_CAP` on the vCPU (`KVM_CAP_PPC_PAPR`, `KVM_CAP_SW_TLB`, `KVM_CAP_PPC_EPR`, ...).
    pub fn enable_cap(&self, cap: &KvmEnableCap) -> Result<(), HvError> {
        // SAFETY: `cap` is a live kvm_enable_cap the kernel only reads (for SW_TLB its args point
        // to the caller's kvm_config_tlb, which the caller keeps alive).
        check("KVM_ENABLE_CAP", unsafe {
            ioctl_with_ref(&self.fd, self.nr().enable_cap as _, cap)
        })
        .map(drop)
    }

    /// `KVM_INTERRUPT` (`KVM_INTERRUPT_SET`, `_UNSET`, `_SET_LEVEL` on PowerPC).
    pub fn interrupt(&self, irq: u32) -> Result<(), HvError> {
        let i = KvmInterrupt { irq };
        // SAFETY: `i` is a live kvm_interrupt the kernel only reads.
        check("KVM_INTERRUPT", unsafe {
            ioctl_with_ref(&self.fd, self.nr().interrupt as _, &i)
        })
        .map(drop)
    }

    fn block_ioctl(
        &self,
        block: &RegBlock,
        write: bool,
    ) -> Result<(u64, &'static str, usize), HvError> {
        let abi = self.kvm.sys.abi;
        let nr = self.nr();
        match (block.id, write) {
            (BLOCK_REGS, false) => Ok((nr.get_regs, "KVM_GET_REGS", abi.regs_size)),
            (BLOCK_REGS, true) => Ok((nr.set_regs, "KVM_SET_REGS", abi.regs_size)),
            (BLOCK_SREGS, false) => Ok((nr.get_sregs, "KVM_GET_SREGS", abi.sregs_size)),
            (BLOCK_SREGS, true) => Ok((nr.set_sregs, "KVM_SET_SREGS", abi.sregs_size)),
            _ => Err(HvError::Unsupported(block.ioctls)),
        }
    }
}

impl VcpuOps for PpcVcpu {
    fn run(&mut self) -> Result<VcpuExit<'_>, HvError> {
        // SAFETY: KVM_RUN takes no argument; the kvm_run page stays mapped for the call.
        check("KVM_RUN", unsafe {
            ioctl_with_val(&self.fd, self.kvm.sys.nr.run as _, 0)
        })?;
        self.run.exit().map_err(|e| HvError::Ioctl {
            op: "KVM_RUN",
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }

    fn immediate_exit_ptr(&mut self) -> *mut u8 {
        self.run.immediate_exit_ptr()
    }

    fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError> {
        let size = RegId::from_raw(id).bytes();
        if buf.len() < size {
            return Err(HvError::Unsupported("KVM_GET_ONE_REG into a short buffer"));
        }
        let r = KvmOneReg {
            id,
            addr: buf.as_mut_ptr() as u64,
        };
        // SAFETY: the kernel writes `size` bytes (the id's size) to `buf`, which is that long.
        check("KVM_GET_ONE_REG", unsafe {
            ioctl_with_ref(&self.fd, self.nr().get_one_reg as _, &r)
        })?;
        Ok(size)
    }

    fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError> {
        let size = RegId::from_raw(id).bytes();
        if buf.len() < size {
            return Err(HvError::Unsupported("KVM_SET_ONE_REG from a short buffer"));
        }
        let r = KvmOneReg {
            id,
            addr: buf.as_ptr() as u64,
        };
        // SAFETY: the kernel reads `size` bytes from `buf`, which is that long.
        check("KVM_SET_ONE_REG", unsafe {
            ioctl_with_ref(&self.fd, self.nr().set_one_reg as _, &r)
        })?;
        Ok(size)
    }
}

impl VcpuRegs for PpcVcpu {
    fn get_one_reg(&self, id: RegId, buf: &mut [u8]) -> Result<(), HvError> {
        VcpuOps::get_one_reg(self, id.raw(), buf).map(drop)
    }

    fn set_one_reg(&self, id: RegId, buf: &[u8]) -> Result<(), HvError> {
        VcpuOps::set_one_reg(self, id.raw(), buf).map(drop)
    }

    fn read_block(&self, block: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
        let (nr, op, size) = self.block_ioctl(block, false)?;
        if buf.len() != size {
            return Err(HvError::Unsupported(block.ioctls));
        }
        // SAFETY: the number encodes `size`, and `buf` is exactly that long.
        check(op, unsafe {
            ioctl_with_val(&self.fd, nr as _, buf.as_mut_ptr() as _)
        })
        .map(drop)
    }

    fn write_block(
        &self,
        block: &RegBlock,
        buf: &[u8],
        written: &[&RegDesc],
    ) -> Result<(), HvError> {
        let (nr, op, size) = self.block_ioctl(block, true)?;
        if buf.len() != size {
            return Err(HvError::Unsupported(block.ioctls));
        }
        let mut data = buf.to_vec();
        if block.id == BLOCK_SREGS {
            // BookE: MCSR/TSR/DEC/DBSR are only written with their update_special bit.
            let booke = written
                .iter()
                .filter(|r| r.id.set() == SET_SREGS_E)
                .filter_map(|r| match r.loc {
                    RegLoc::Field { offset, .. } => Some(offset as usize),
                    _ => None,
                });
            sregs::set_update_special(&mut data, booke);
        }
        // SAFETY: the number encodes `size`, and `data` is exactly that long.
        check(op, unsafe {
            ioctl_with_val(&self.fd, nr as _, data.as_ptr() as _)
        })
        .map(drop)
    }

    fn field_present(&self, block: &RegBlock, data: &[u8], reg: &RegDesc) -> bool {
        let RegLoc::Field { offset, .. } = reg.loc else {
            return true;
        };
        if block.id != BLOCK_SREGS || reg.id.set() != SET_SREGS_E {
            return true;
        }
        sregs::sregs_e_field_at(offset as usize).is_none_or(|f| sregs::needs_hold(data, f.needs))
    }
}
