//! The in-kernel vGICv3 (and ITS): `KVM_CREATE_DEVICE`, frame addresses, interrupt count, and
//! `KVM_DEV_ARM_VGIC_CTRL_INIT` once every vCPU exists.

use crate::error::Arm64Error;
use crate::irqchip::GicLayout;
use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS,
    kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, KVM_DEV_ARM_VGIC_CTRL_INIT,
    KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
    KVM_VGIC_ITS_ADDR_TYPE, KVM_VGIC_V3_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::DeviceFd;
use vmm_core::hypervisor::ioctls::KvmVm;

fn hv(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Arm64Error {
    move |e| KvmVm::error(op, e).into()
}

/// Sets a device attribute whose value is the `T` at `value`.
fn set_attr<T>(
    fd: &DeviceFd,
    group: u32,
    attr: u64,
    value: &T,
    op: &'static str,
) -> Result<(), Arm64Error> {
    let a = kvm_device_attr {
        group,
        attr,
        // The kernel reads size_of::<T>() bytes there during the call; `value` outlives it.
        addr: value as *const T as u64,
        flags: 0,
    };
    fd.set_device_attr(&a).map_err(hv(op))
}

fn ctrl_init(fd: &DeviceFd, op: &'static str) -> Result<(), Arm64Error> {
    let a = kvm_device_attr {
        group: KVM_DEV_ARM_VGIC_GRP_CTRL,
        attr: u64::from(KVM_DEV_ARM_VGIC_CTRL_INIT),
        addr: 0,
        flags: 0,
    };
    fd.set_device_attr(&a).map_err(hv(op))
}

/// The VM's vGICv3 and, if asked for, its ITS.
pub struct Gic {
    dist: DeviceFd,
    its: Option<DeviceFd>,
    layout: GicLayout,
}

impl Gic {
    /// Creates the devices and places their frames (before the vCPUs exist is fine; the
    /// redistributors are sized from the vCPU count at [`Gic::init`]).
    pub fn create(vm: &KvmVm, layout: &GicLayout) -> Result<Self, Arm64Error> {
        let mut dev = kvm_create_device {
            type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
            fd: 0,
            flags: 0,
        };
        let dist = vm
            .fd()
            .create_device(&mut dev)
            .map_err(hv("KVM_CREATE_DEVICE(VGIC_V3)"))?;
        set_attr(
            &dist,
            KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
            0,
            &layout.nr_irqs,
            "KVM_SET_DEVICE_ATTR(VGIC_GRP_NR_IRQS)",
        )?;
        set_attr(
            &dist,
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_DIST),
            &layout.dist,
            "KVM_SET_DEVICE_ATTR(VGIC_V3_ADDR_TYPE_DIST)",
        )?;
        set_attr(
            &dist,
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST),
            &layout.redist,
            "KVM_SET_DEVICE_ATTR(VGIC_V3_ADDR_TYPE_REDIST)",
        )?;
        let its = match layout.its {
            None => None,
            Some(base) => {
                let mut dev = kvm_create_device {
                    type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS,
                    fd: 0,
                    flags: 0,
                };
                let its = vm
                    .fd()
                    .create_device(&mut dev)
                    .map_err(hv("KVM_CREATE_DEVICE(VGIC_ITS)"))?;
                set_attr(
                    &its,
                    KVM_DEV_ARM_VGIC_GRP_ADDR,
                    u64::from(KVM_VGIC_ITS_ADDR_TYPE),
                    &base,
                    "KVM_SET_DEVICE_ATTR(VGIC_ITS_ADDR_TYPE)",
                )?;
                Some(its)
            }
        };
        Ok(Gic {
            dist,
            its,
            layout: *layout,
        })
    }

    /// Initialises the distributor and redistributors, then the ITS. Every vCPU must exist.
    pub fn init(&self) -> Result<(), Arm64Error> {
        ctrl_init(&self.dist, "KVM_DEV_ARM_VGIC_CTRL_INIT(VGIC_V3)")?;
        if let Some(its) = &self.its {
            ctrl_init(its, "KVM_DEV_ARM_VGIC_CTRL_INIT(VGIC_ITS)")?;
        }
        Ok(())
    }

    /// Where the frames are.
    pub fn layout(&self) -> &GicLayout {
        &self.layout
    }

    /// The distributor's device fd.
    pub fn dist_fd(&self) -> &DeviceFd {
        &self.dist
    }

    /// The ITS's device fd, if the VM has one.
    pub fn its_fd(&self) -> Option<&DeviceFd> {
        self.its.as_ref()
    }
}
