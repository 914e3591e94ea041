//! The in-kernel MPIC (`KVM_DEV_TYPE_FSL_MPIC_20/42`, Linux `Documentation/virt/kvm/devices/
//! mpic.rst`) and the `KVM_INTERRUPT` input through which the userspace MPIC drives a vCPU.

use crate::abi::{KVM_DEV_MPIC_BASE_ADDR, KVM_DEV_MPIC_GRP_IRQ_ACTIVE, KVM_DEV_MPIC_GRP_MISC};
use crate::error::BookeError;
use crate::irqchip::mpic_state::KERNEL_LINES;
use crate::irqchip::{CpuIrq, MpicModel, MpicState};
use kvm_ppc::consts::{KVM_CAP_IRQ_MPIC, KVM_INTERRUPT_SET_LEVEL, KVM_INTERRUPT_UNSET};
use kvm_ppc::ioctl::POWERPC;
use kvm_ppc::structs::{KvmEnableCap, KvmInterrupt, KvmIrqRoutingEntry};
use kvm_ppc::{Device, PpcVcpu, PpcVm};
use std::fs::File;
use std::os::fd::AsRawFd;
use vmm_core::hypervisor::HvError;
use vmm_sys_util::ioctl::ioctl_with_ref;

/// The in-kernel MPIC of a VM.
pub struct KernelMpic {
    dev: Device,
    model: MpicModel,
    cpus: usize,
}

impl KernelMpic {
    /// Creates the device, maps its registers at `base` (`KVM_DEV_MPIC_BASE_ADDR`) and routes
    /// GSI n to source n for every source, so that an irqfd on GSI n raises source n (the
    /// kernel's default routing for the MPIC is empty).
    pub fn create(vm: &PpcVm, model: MpicModel, base: u64, cpus: usize) -> Result<Self, HvError> {
        let dev = vm.create_device(model.kvm_device_type())?;
        dev.set_attr_u64(KVM_DEV_MPIC_GRP_MISC, KVM_DEV_MPIC_BASE_ADDR, base)?;
        let routes: Vec<KvmIrqRoutingEntry> = (0..KERNEL_LINES as u32)
            .map(|n| KvmIrqRoutingEntry::irqchip(n, 0, n))
            .collect();
        vm.set_gsi_routing(&routes)?;
        Ok(KernelMpic { dev, model, cpus })
    }

    /// Connects a vCPU as MPIC CPU `id` (`KVM_ENABLE_CAP(KVM_CAP_IRQ_MPIC)`: `args[0]` the device
    /// fd, `args[1]` the CPU number). KVM then also answers the vCPU's EPR in proxy mode.
    pub fn connect(&self, vcpu: &PpcVcpu, id: u32) -> Result<(), HvError> {
        let fd = self.dev.fd().as_raw_fd() as u64;
        vcpu.enable_cap(&KvmEnableCap::new(KVM_CAP_IRQ_MPIC, [fd, id.into(), 0, 0]))
    }

    /// Sets the level of source `irq` (`KVM_DEV_MPIC_GRP_IRQ_ACTIVE`).
    pub fn set_line(&self, irq: u32, level: bool) -> Result<(), HvError> {
        self.dev
            .set_attr_u32(KVM_DEV_MPIC_GRP_IRQ_ACTIVE, irq.into(), level.into())
    }

    /// Reads the state through `KVM_DEV_MPIC_GRP_REGISTER` and `KVM_DEV_MPIC_GRP_IRQ_ACTIVE`.
    pub fn save(&self) -> Result<MpicState, HvError> {
        MpicState::read_attrs(self.model, self.cpus, |g, a| self.dev.get_attr_u32(g, a))
    }

    /// Writes a state of the same model and CPU count back (checked first).
    pub fn restore(&self, s: &MpicState) -> Result<(), BookeError> {
        s.check(self.model, self.cpus)?;
        Ok(s.write_attrs(|g, a, v| self.dev.set_attr_u32(g, a, v))?)
    }
}

/// A vCPU's external-interrupt input for the userspace MPIC: `KVM_INTERRUPT` with
/// `KVM_INTERRUPT_SET_LEVEL` or `KVM_INTERRUPT_UNSET` on (a duplicate of) the vCPU fd. PowerPC
/// KVM takes `KVM_INTERRUPT` from any thread (an asynchronous vCPU ioctl) and kicks the vCPU.
pub struct VcpuIrq(pub File);

impl CpuIrq for VcpuIrq {
    fn set_external(&self, level: bool) -> std::io::Result<()> {
        let irq = KvmInterrupt {
            irq: if level {
                KVM_INTERRUPT_SET_LEVEL
            } else {
                KVM_INTERRUPT_UNSET
            },
        };
        // SAFETY: `irq` is a live struct kvm_interrupt the kernel only reads; the fd is a vCPU fd.
        let r = unsafe { ioctl_with_ref(&self.0, POWERPC.interrupt as _, &irq) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
