//! Checks of a VM description against what the arm64 machine offers. [`check_early`] runs before
//! the VM exists, in the layout phase (so bad input is an input error even without /dev/kvm);
//! the vCPU count is checked in the platform phase, once vmm-core has compared it with KVM's own
//! limit (`layout::check`). [`check`] is everything at once, for tools and tests.

use crate::error::Arm64Error;
use crate::irqchip::IrqChipKind;
use crate::layout;
use vmm_core::config::Transport;
use vmm_core::VmConfig;

/// Checks everything about `config`; returns the interrupt controller it asks for.
pub fn check(config: &VmConfig) -> Result<IrqChipKind, Arm64Error> {
    let kind = check_early(config)?;
    layout::check(config.cpus, config.mem_bytes())?;
    if config.kernel.is_none() {
        return Err(Arm64Error::NoKernel);
    }
    Ok(kind)
}

/// Checks what can be checked before the VM is created: `--irqchip`, RAM size, `--raw`.
///
/// virtio-pci functions signal MSI-X, which arm64 delivers through the ITS: a VM with virtio-pci
/// devices and no `--irqchip` gets `gicv3-its`, and refuses a plain `gicv3`.
pub fn check_early(config: &VmConfig) -> Result<IrqChipKind, Arm64Error> {
    let pci = config.virtio.any() && config.virtio.transport == Transport::Pci;
    let kind = match config.irqchip.as_deref() {
        None if pci => IrqChipKind::GicV3Its,
        name => IrqChipKind::parse(name)?,
    };
    if pci && !kind.has_its() {
        return Err(Arm64Error::PciWithoutIts);
    }
    layout::check(1, config.mem_bytes())?;
    if let Some(raw) = &config.raw {
        // The image size is known only once it is read; mode and alignment can be checked now.
        if let Some(mode) = &raw.mode {
            return Err(crate::boot::BootError::RawMode {
                addr: raw.addr,
                mode: mode.clone(),
            }
            .into());
        }
        if raw.addr % crate::boot::RAW_ALIGN != 0 {
            return Err(crate::boot::BootError::Misaligned(raw.addr).into());
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::Classify;
    use vmm_core::{ErrorKind, Payload, RawLoad};

    fn cfg() -> VmConfig {
        VmConfig {
            kernel: Some(Payload::Bytes {
                name: "k".into(),
                data: vec![0; 4],
            }),
            raw: Some(RawLoad {
                addr: layout::RAM_BASE,
                mode: None,
            }),
            ..VmConfig::default()
        }
    }

    #[test]
    fn accepts_a_good_config() {
        assert_eq!(check(&cfg()).unwrap(), IrqChipKind::GicV3);
        let mut c = cfg();
        c.irqchip = Some("gicv3-its".into());
        c.cpus = 4;
        assert_eq!(check(&c).unwrap(), IrqChipKind::GicV3Its);
    }

    #[test]
    fn virtio_pci_gets_the_its() {
        let mut c = cfg();
        c.virtio.rng = true;
        c.virtio.transport = Transport::Pci;
        assert_eq!(check(&c).unwrap(), IrqChipKind::GicV3Its);
        c.irqchip = Some("gicv3-its".into());
        assert_eq!(check(&c).unwrap(), IrqChipKind::GicV3Its);
        c.irqchip = Some("gicv3".into());
        let e = check(&c).unwrap_err();
        assert!(matches!(e, Arm64Error::PciWithoutIts), "{e}");
        assert_eq!(e.kind(), ErrorKind::Input);
        // virtio-mmio, or no virtio device: the default stays gicv3.
        c.irqchip = None;
        c.virtio.transport = Transport::Mmio;
        assert_eq!(check(&c).unwrap(), IrqChipKind::GicV3);
        c.virtio.rng = false;
        c.virtio.transport = Transport::Pci;
        assert_eq!(check(&c).unwrap(), IrqChipKind::GicV3);
    }

    #[test]
    fn vcpu_count_and_kernel_are_checked_late() {
        // vmm-core compares --cpus with KVM's limit between the two checks, and reports that.
        let mut c = cfg();
        c.cpus = 4096;
        assert!(check_early(&c).is_ok());
        assert!(matches!(check(&c), Err(Arm64Error::Layout(_))));
        let mut c = cfg();
        c.kernel = None;
        assert!(check_early(&c).is_ok());
        assert!(matches!(check(&c), Err(Arm64Error::NoKernel)));
        let mut c = cfg();
        c.mem_mib = 1;
        assert!(matches!(check_early(&c), Err(Arm64Error::Layout(_))));
    }

    #[test]
    fn refuses_bad_input() {
        let mut bad = Vec::new();
        let mut c = cfg();
        c.irqchip = Some("gicv2".into());
        bad.push(c);
        let mut c = cfg();
        c.raw.as_mut().unwrap().mode = Some("real".into());
        bad.push(c);
        let mut c = cfg();
        c.raw.as_mut().unwrap().addr += 4;
        bad.push(c);
        let mut c = cfg();
        c.kernel = None;
        bad.push(c);
        let mut c = cfg();
        c.cpus = 513;
        bad.push(c);
        let mut c = cfg();
        c.mem_mib = 2;
        bad.push(c);
        for c in bad {
            let e = check(&c).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Input, "{e}");
        }
    }
}
