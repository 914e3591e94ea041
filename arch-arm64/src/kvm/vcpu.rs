//! vCPU creation (`KVM_ARM_PREFERRED_TARGET`, `KVM_ARM_VCPU_INIT` with PSCI 0.2 and, where the
//! host has one, the vPMU; secondaries powered off), the vPMU's interrupt and initialisation, and
//! `KVM_GET_REG_LIST`.

use crate::error::Arm64Error;
use kvm_bindings::{
    kvm_device_attr, kvm_vcpu_init, RegList, KVM_ARM_VCPU_PMU_V3, KVM_ARM_VCPU_PMU_V3_CTRL,
    KVM_ARM_VCPU_PMU_V3_INIT, KVM_ARM_VCPU_PMU_V3_IRQ, KVM_ARM_VCPU_POWER_OFF,
    KVM_ARM_VCPU_PSCI_0_2,
};
use vmm_core::hypervisor::ioctls::{KvmVcpu, KvmVm};
use vmm_core::hypervisor::HvError;

fn hv(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Arm64Error {
    move |e| KvmVm::error(op, e).into()
}

/// The host's preferred vCPU target (`KVM_ARM_PREFERRED_TARGET`), with no feature set.
pub fn preferred_target(vm: &KvmVm) -> Result<kvm_vcpu_init, Arm64Error> {
    let mut kvi = kvm_vcpu_init::default();
    vm.fd()
        .get_preferred_target(&mut kvi)
        .map_err(hv("KVM_ARM_PREFERRED_TARGET"))?;
    Ok(kvi)
}

/// Creates vCPU `id` and initialises it for `target` with PSCI 0.2; `powered_off` makes it wait
/// for a PSCI `CPU_ON` (every secondary); `pmu` gives it a vPMU (`KVM_ARM_VCPU_PMU_V3`, which
/// [`init_pmu`] completes once the GIC is initialised).
pub fn create_vcpu(
    vm: &KvmVm,
    id: u32,
    target: &kvm_vcpu_init,
    powered_off: bool,
    pmu: bool,
) -> Result<KvmVcpu, Arm64Error> {
    let vcpu = vm.create_vcpu(u64::from(id))?;
    let mut kvi = *target;
    kvi.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
    if powered_off {
        kvi.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
    }
    if pmu {
        kvi.features[0] |= 1 << KVM_ARM_VCPU_PMU_V3;
    }
    vcpu.fd().vcpu_init(&kvi).map_err(hv("KVM_ARM_VCPU_INIT"))?;
    Ok(vcpu)
}

/// Gives a vCPU created with the vPMU its overflow interrupt (`intid`, a PPI, the same on every
/// vCPU) and initialises the vPMU. The in-kernel GIC must be initialised.
pub fn init_pmu(vcpu: &KvmVcpu, intid: u32) -> Result<(), Arm64Error> {
    let irq = intid as i32;
    let set = |attr: u32, addr: u64, op: &'static str| {
        let a = kvm_device_attr {
            group: KVM_ARM_VCPU_PMU_V3_CTRL,
            attr: u64::from(attr),
            addr,
            flags: 0,
        };
        vcpu.fd().set_device_attr(&a).map_err(hv(op))
    };
    // The kernel reads an int at `addr` during the call; `irq` outlives it.
    set(
        KVM_ARM_VCPU_PMU_V3_IRQ,
        &irq as *const i32 as u64,
        "KVM_SET_DEVICE_ATTR(ARM_VCPU_PMU_V3_IRQ)",
    )?;
    set(
        KVM_ARM_VCPU_PMU_V3_INIT,
        0,
        "KVM_SET_DEVICE_ATTR(ARM_VCPU_PMU_V3_INIT)",
    )
}

/// The most ids kvm-bindings' `RegList` holds (without SVE, KVM lists about 250-450).
pub const REG_LIST_MAX: usize = 500;

/// The vCPU's register ids (`KVM_GET_REG_LIST`), in the kernel's order.
pub fn reg_list(vcpu: &KvmVcpu) -> Result<Vec<u64>, Arm64Error> {
    let mut list = RegList::new(REG_LIST_MAX)
        .map_err(|_| Arm64Error::from(HvError::Unsupported("a KVM_GET_REG_LIST buffer")))?;
    match vcpu.fd().get_reg_list(&mut list) {
        Ok(()) => Ok(list.as_slice().to_vec()),
        // The kernel wrote the count it needs into `n`.
        Err(e) if e.errno() == libc::E2BIG => Err(Arm64Error::from(HvError::Unsupported(
            "more than REG_LIST_MAX registers in KVM_GET_REG_LIST",
        ))),
        Err(e) => Err(hv("KVM_GET_REG_LIST")(e)),
    }
}
