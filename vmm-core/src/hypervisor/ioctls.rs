//! The hypervisor backend on rust-vmm's kvm-ioctls (x86_64 and aarch64 hosts).
//!
//! [`KvmVm`] and [`KvmVcpu`] implement vmm-core's traits and hand out the wrapped kvm-ioctls objects
//! so that each arch crate's `kvm` module can issue its own arch-only calls on them.

use super::{Datamatch, GsiRoute, HvError, IoEventAddr, MemorySlot, VcpuExit, VcpuOps, VmOps};
use kvm_bindings::{kvm_userspace_memory_region, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY};
use kvm_ioctls::{Cap, IoEventAddress, Kvm, NoDatamatch, VcpuFd, VmFd};
use std::io;
use vmm_sys_util::eventfd::EventFd;

/// The KVM device node tetra opens.
pub const KVM_PATH: &str = "/dev/kvm";

fn ioctl_err(op: &'static str, e: kvm_ioctls::Error) -> HvError {
    HvError::Ioctl {
        op,
        source: io::Error::from_raw_os_error(e.errno()),
    }
}

/// A KVM VM on kvm-ioctls, with the `/dev/kvm` handle it came from.
pub struct KvmVm {
    kvm: Kvm,
    vm: VmFd,
}

impl KvmVm {
    /// Opens `/dev/kvm` and creates a VM of the host's default type.
    pub fn create() -> Result<Self, HvError> {
        Self::create_with(|kvm| kvm.create_vm())
    }

    /// Opens `/dev/kvm` and creates a VM with `create` (e.g. `create_vm_with_ipa_size`).
    pub fn create_with(
        create: impl FnOnce(&Kvm) -> Result<VmFd, kvm_ioctls::Error>,
    ) -> Result<Self, HvError> {
        let kvm = Kvm::new_with_path(c"/dev/kvm").map_err(|e| HvError::Open {
            path: KVM_PATH.to_string(),
            source: io::Error::from_raw_os_error(e.errno()),
        })?;
        let vm = create(&kvm).map_err(|e| ioctl_err("KVM_CREATE_VM", e))?;
        Ok(KvmVm { kvm, vm })
    }

    /// The `/dev/kvm` handle.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// The VM handle, for arch-only calls.
    pub fn fd(&self) -> &VmFd {
        &self.vm
    }

    /// Creates vCPU `id`.
    pub fn create_vcpu(&self, id: u64) -> Result<KvmVcpu, HvError> {
        let fd = self
            .vm
            .create_vcpu(id)
            .map_err(|e| ioctl_err("KVM_CREATE_VCPU", e))?;
        Ok(KvmVcpu { fd })
    }

    /// Wraps a kvm-ioctls error as an [`HvError`] for `op`.
    pub fn error(op: &'static str, e: kvm_ioctls::Error) -> HvError {
        ioctl_err(op, e)
    }
}

impl VmOps for KvmVm {
    fn max_vcpus(&self) -> u32 {
        // KVM_CAP_MAX_VCPUS on the VM fd is the authoritative limit; fall back to the system one.
        match self.vm.check_extension_int(Cap::MaxVcpus) {
            n if n > 0 => n as u32,
            _ => self.kvm.get_max_vcpus() as u32,
        }
    }

    fn check_extension(&self, cap: u32) -> i32 {
        self.vm.check_extension_raw(cap.into())
    }

    unsafe fn set_memory_slot(&self, slot: &MemorySlot) -> Result<(), HvError> {
        let mut flags = 0;
        if slot.log_dirty {
            flags |= KVM_MEM_LOG_DIRTY_PAGES;
        }
        if slot.readonly {
            flags |= KVM_MEM_READONLY;
        }
        let region = kvm_userspace_memory_region {
            slot: slot.slot,
            flags,
            guest_phys_addr: slot.guest_addr,
            memory_size: slot.size,
            userspace_addr: slot.host_addr,
        };
        // SAFETY: the caller guarantees the host range is a live mapping that outlives the slot.
        unsafe { self.vm.set_user_memory_region(region) }
            .map_err(|e| ioctl_err("KVM_SET_USER_MEMORY_REGION", e))
    }

    fn dirty_log(&self, slot: u32, size: u64) -> Result<Vec<u64>, HvError> {
        self.vm
            .get_dirty_log(slot, size as usize)
            .map_err(|e| ioctl_err("KVM_GET_DIRTY_LOG", e))
    }

    fn register_irqfd(&self, fd: &EventFd, gsi: u32) -> Result<(), HvError> {
        self.vm
            .register_irqfd(fd, gsi)
            .map_err(|e| ioctl_err("KVM_IRQFD", e))
    }

    fn register_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError> {
        let addr = io_event_address(addr);
        match datamatch {
            Some(Datamatch::U32(v)) => self.vm.register_ioevent(fd, &addr, v),
            Some(Datamatch::U64(v)) => self.vm.register_ioevent(fd, &addr, v),
            None => self.vm.register_ioevent(fd, &addr, NoDatamatch),
        }
        .map_err(|e| ioctl_err("KVM_IOEVENTFD", e))
    }

    fn unregister_ioeventfd(
        &self,
        fd: &EventFd,
        addr: IoEventAddr,
        datamatch: Option<Datamatch>,
    ) -> Result<(), HvError> {
        let addr = io_event_address(addr);
        match datamatch {
            Some(Datamatch::U32(v)) => self.vm.unregister_ioevent(fd, &addr, v),
            Some(Datamatch::U64(v)) => self.vm.unregister_ioevent(fd, &addr, v),
            None => self.vm.unregister_ioevent(fd, &addr, NoDatamatch),
        }
        .map_err(|e| ioctl_err("KVM_IOEVENTFD (deassign)", e))
    }

    fn set_gsi_routing(&self, routes: &[GsiRoute]) -> Result<(), HvError> {
        use kvm_bindings::{kvm_irq_routing_entry, KvmIrqRouting};
        let entries: Vec<kvm_irq_routing_entry> = routes.iter().map(routing_entry).collect();
        let routing = KvmIrqRouting::from_entries(&entries)
            .map_err(|_| HvError::Unsupported("this many GSI routes"))?;
        self.vm
            .set_gsi_routing(&routing)
            .map_err(|e| ioctl_err("KVM_SET_GSI_ROUTING", e))
    }

    fn set_irq_line(&self, irq: u32, active: bool) -> Result<(), HvError> {
        self.vm
            .set_irq_line(irq, active)
            .map_err(|e| ioctl_err("KVM_IRQ_LINE", e))
    }

    fn enable_cap(&self, cap: u32, flags: u32, args: [u64; 4]) -> Result<(), HvError> {
        let c = kvm_bindings::kvm_enable_cap {
            cap,
            flags,
            args,
            ..Default::default()
        };
        self.vm
            .enable_cap(&c)
            .map_err(|e| ioctl_err("KVM_ENABLE_CAP", e))
    }

    fn clear_dirty_log(
        &self,
        slot: u32,
        first_page: u64,
        num_pages: u32,
        bitmap: &[u64],
    ) -> Result<(), HvError> {
        if bitmap.len() < (num_pages as usize).div_ceil(64) {
            return Err(HvError::Unsupported(
                "a dirty bitmap shorter than its page count",
            ));
        }
        let mut arg = kvm_bindings::kvm_clear_dirty_log {
            slot,
            num_pages,
            first_page,
            ..Default::default()
        };
        arg.__bindgen_anon_1.dirty_bitmap = bitmap.as_ptr() as *mut libc::c_void;
        // SAFETY: KVM reads `num_pages` bits from `dirty_bitmap`, which `bitmap` covers (checked
        // above) and which outlives the call; the fd is this VM's.
        let r = unsafe {
            vmm_sys_util::ioctl::ioctl_with_ref(&self.vm, kvm_clear_dirty_log_nr(), &arg)
        };
        if r < 0 {
            return Err(HvError::last("KVM_CLEAR_DIRTY_LOG"));
        }
        Ok(())
    }
}

mod nr {
    #![allow(missing_docs)]
    vmm_sys_util::ioctl_iowr_nr!(
        kvm_clear_dirty_log_nr,
        kvm_bindings::KVMIO,
        0xc0,
        kvm_bindings::kvm_clear_dirty_log
    );
}
use nr::kvm_clear_dirty_log_nr;

/// kvm-ioctls' spelling of an ioeventfd's address.
fn io_event_address(addr: IoEventAddr) -> IoEventAddress {
    match addr {
        IoEventAddr::Pio(a) => IoEventAddress::Pio(a),
        IoEventAddr::Mmio(a) => IoEventAddress::Mmio(a),
    }
}

/// A KVM vCPU on kvm-ioctls.
pub struct KvmVcpu {
    fd: VcpuFd,
}

impl KvmVcpu {
    /// The vCPU handle, for arch-only calls.
    pub fn fd(&self) -> &VcpuFd {
        &self.fd
    }

    /// The vCPU handle, mutably (e.g. for `get_kvm_run`).
    pub fn fd_mut(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }
}

/// ONE_REG access for the register model (arm64; x86 serves its ids from batched calls).
impl crate::regs::VcpuRegs for KvmVcpu {
    fn get_one_reg(&self, id: crate::regs::RegId, buf: &mut [u8]) -> Result<(), HvError> {
        VcpuOps::get_one_reg(self, id.raw(), buf).map(|_| ())
    }

    fn set_one_reg(&self, id: crate::regs::RegId, buf: &[u8]) -> Result<(), HvError> {
        VcpuOps::set_one_reg(self, id.raw(), buf).map(|_| ())
    }
}

impl VcpuOps for KvmVcpu {
    fn run(&mut self) -> Result<VcpuExit<'_>, HvError> {
        use kvm_ioctls::VcpuExit as K;
        let run: *const kvm_bindings::kvm_run = self.fd.get_kvm_run();
        let exit = self.fd.run().map_err(|e| ioctl_err("KVM_RUN", e))?;
        Ok(match exit {
            K::IoIn(port, data) => VcpuExit::IoIn {
                port,
                // SAFETY: `run` points to this vCPU's mapped kvm_run page and the exit is
                // KVM_EXIT_IO, so `io` is the live member of the union.
                size: usize::from(unsafe { (*run).__bindgen_anon_1.io.size }),
                data,
            },
            K::IoOut(port, data) => VcpuExit::IoOut {
                port,
                // SAFETY: as for IoIn.
                size: usize::from(unsafe { (*run).__bindgen_anon_1.io.size }),
                data,
            },
            K::MmioRead(addr, data) => VcpuExit::MmioRead { addr, data },
            K::MmioWrite(addr, data) => VcpuExit::MmioWrite { addr, data },
            K::Hlt => VcpuExit::Hlt,
            K::Shutdown => VcpuExit::Shutdown,
            K::SystemEvent(kind, data) => VcpuExit::SystemEvent { kind, data },
            K::Intr => VcpuExit::Intr,
            K::InternalError => {
                // SAFETY: `run` points to this vCPU's mapped kvm_run page; the exit reason is
                // KVM_EXIT_INTERNAL_ERROR, so `internal` is the live member of the union.
                let suberror = unsafe { (*run).__bindgen_anon_1.internal.suberror };
                VcpuExit::InternalError { suberror }
            }
            K::FailEntry(reason, _cpu) => VcpuExit::FailEntry { reason },
            K::Debug(_) => VcpuExit::Debug,
            K::Unsupported(r) => VcpuExit::Other(r),
            // SAFETY: `run` points to this vCPU's mapped kvm_run page.
            _ => VcpuExit::Other(unsafe { (*run).exit_reason }),
        })
    }

    fn immediate_exit_ptr(&mut self) -> *mut u8 {
        &mut self.fd.get_kvm_run().immediate_exit as *mut u8
    }

    fn get_one_reg(&self, id: u64, buf: &mut [u8]) -> Result<usize, HvError> {
        self.fd
            .get_one_reg(id, buf)
            .map_err(|e| ioctl_err("KVM_GET_ONE_REG", e))
    }

    fn set_one_reg(&self, id: u64, buf: &[u8]) -> Result<usize, HvError> {
        self.fd
            .set_one_reg(id, buf)
            .map_err(|e| ioctl_err("KVM_SET_ONE_REG", e))
    }
}

/// `route` as a `KVM_SET_GSI_ROUTING` entry: an MSI with a requester id carries it with
/// `KVM_MSI_VALID_DEVID` (arm64's ITS translates by it).
fn routing_entry(route: &GsiRoute) -> kvm_bindings::kvm_irq_routing_entry {
    use kvm_bindings::{
        kvm_irq_routing_entry, kvm_irq_routing_entry__bindgen_ty_1, kvm_irq_routing_irqchip,
        kvm_irq_routing_msi, kvm_irq_routing_msi__bindgen_ty_1, KVM_IRQ_ROUTING_IRQCHIP,
        KVM_IRQ_ROUTING_MSI, KVM_MSI_VALID_DEVID,
    };
    match *route {
        GsiRoute::Irqchip { gsi, irqchip, pin } => kvm_irq_routing_entry {
            gsi,
            type_: KVM_IRQ_ROUTING_IRQCHIP,
            u: kvm_irq_routing_entry__bindgen_ty_1 {
                irqchip: kvm_irq_routing_irqchip { irqchip, pin },
            },
            ..Default::default()
        },
        GsiRoute::Msi {
            gsi,
            address,
            data,
            devid,
        } => kvm_irq_routing_entry {
            gsi,
            type_: KVM_IRQ_ROUTING_MSI,
            flags: if devid.is_some() {
                KVM_MSI_VALID_DEVID
            } else {
                0
            },
            u: kvm_irq_routing_entry__bindgen_ty_1 {
                msi: kvm_irq_routing_msi {
                    address_lo: address as u32,
                    address_hi: (address >> 32) as u32,
                    data,
                    __bindgen_anon_1: kvm_irq_routing_msi__bindgen_ty_1 {
                        devid: devid.unwrap_or(0),
                    },
                },
            },
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvm_bindings::{KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, KVM_MSI_VALID_DEVID};

    #[test]
    fn msi_routes_carry_the_devid_only_when_given() {
        let its = routing_entry(&GsiRoute::Msi {
            gsi: 300,
            address: 0x1_0808_0040,
            data: 7,
            devid: Some(0x18),
        });
        assert_eq!((its.gsi, its.type_), (300, KVM_IRQ_ROUTING_MSI));
        assert_eq!(its.flags, KVM_MSI_VALID_DEVID);
        // SAFETY: an MSI entry's union holds `msi`.
        let msi = unsafe { its.u.msi };
        assert_eq!(
            (msi.address_lo, msi.address_hi, msi.data),
            (0x0808_0040, 1, 7)
        );
        // SAFETY: with KVM_MSI_VALID_DEVID the anonymous union holds `devid`.
        assert_eq!(unsafe { msi.__bindgen_anon_1.devid }, 0x18);

        let x86 = routing_entry(&GsiRoute::Msi {
            gsi: 24,
            address: 0xfee0_0000,
            data: 0x41,
            devid: None,
        });
        assert_eq!(x86.flags, 0);
        // SAFETY: as above.
        let msi = unsafe { x86.u.msi };
        assert_eq!(
            (msi.address_lo, msi.address_hi, msi.data),
            (0xfee0_0000, 0, 0x41)
        );

        let spi = routing_entry(&GsiRoute::Irqchip {
            gsi: 5,
            irqchip: 0,
            pin: 5,
        });
        assert_eq!(
            (spi.gsi, spi.type_, spi.flags),
            (5, KVM_IRQ_ROUTING_IRQCHIP, 0)
        );
        // SAFETY: an irqchip entry's union holds `irqchip`.
        let chip = unsafe { spi.u.irqchip };
        assert_eq!((chip.irqchip, chip.pin), (0, 5));
    }
}
