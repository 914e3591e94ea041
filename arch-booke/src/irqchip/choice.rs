//! Which MPIC a VM gets: `--irqchip` (vmm-core's `VmConfig::irqchip`) against what the host
//! kernel offers.
//!
//! - `mpic`: the in-kernel MPIC (`KVM_DEV_TYPE_FSL_MPIC_20/42` with `KVM_CAP_IRQ_MPIC`); an
//!   error if the kernel lacks it.
//! - `mpic-user`: tetra's userspace model, delivering through `KVM_INTERRUPT`.
//! - none: the in-kernel MPIC when the kernel has it, else the userspace one.
//!
//! External proxy (the guest acknowledging through the core's EPR) is offered in the device tree
//! when something answers it: the in-kernel MPIC always (`KVM_CAP_IRQ_MPIC` makes KVM fill EPR),
//! the userspace one only with `KVM_CAP_PPC_EPR` (KVM exits with `KVM_EXIT_EPR` for userspace to
//! fill it).

use thiserror::Error;

/// The interrupt controller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqChipChoice {
    /// In-kernel if available, else userspace.
    Auto,
    /// The in-kernel MPIC, or an error.
    Kernel,
    /// The userspace model.
    User,
}

/// What the kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSupport {
    /// `KVM_CREATE_DEVICE` of the core's MPIC model works and `KVM_CAP_IRQ_MPIC` is there.
    pub in_kernel_mpic: bool,
    /// `KVM_CAP_PPC_EPR`.
    pub epr: bool,
    /// `KVM_CAP_PPC_IRQ_LEVEL` (`KVM_INTERRUPT_SET_LEVEL`), which the userspace MPIC needs.
    pub irq_level: bool,
}

/// The interrupt controller a VM gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqPlan {
    /// In-kernel (true) or userspace MPIC.
    pub in_kernel: bool,
    /// Whether external proxy is offered to the guest (and, for the userspace MPIC,
    /// `KVM_CAP_PPC_EPR` enabled on every vCPU).
    pub external_proxy: bool,
}

/// An interrupt controller that cannot be had.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IrqChipError {
    /// An unknown `--irqchip` value.
    #[error("--irqchip {0:?}: BookE has \"mpic\" (in-kernel) and \"mpic-user\" (userspace)")]
    Unknown(String),
    /// `mpic` on a kernel without an in-kernel MPIC.
    #[error("--irqchip mpic: this kernel has no in-kernel MPIC (KVM_DEV_TYPE_FSL_MPIC_*, KVM_CAP_IRQ_MPIC); use mpic-user")]
    NoKernelMpic,
    /// The userspace MPIC on a kernel without level interrupts.
    #[error("the userspace MPIC needs KVM_CAP_PPC_IRQ_LEVEL, which this kernel lacks")]
    NoIrqLevel,
}

impl IrqChipChoice {
    /// Parses `--irqchip`.
    pub fn parse(s: Option<&str>) -> Result<Self, IrqChipError> {
        match s {
            None => Ok(Self::Auto),
            Some("mpic") => Ok(Self::Kernel),
            Some("mpic-user") => Ok(Self::User),
            Some(other) => Err(IrqChipError::Unknown(other.to_string())),
        }
    }

    /// The plan for a kernel offering `k`.
    pub fn plan(self, k: KernelSupport) -> Result<IrqPlan, IrqChipError> {
        let in_kernel = match self {
            Self::Kernel if !k.in_kernel_mpic => return Err(IrqChipError::NoKernelMpic),
            Self::Kernel => true,
            Self::User => false,
            Self::Auto => k.in_kernel_mpic,
        };
        if !in_kernel && !k.irq_level {
            return Err(IrqChipError::NoIrqLevel);
        }
        Ok(IrqPlan {
            in_kernel,
            external_proxy: in_kernel || k.epr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: KernelSupport = KernelSupport {
        in_kernel_mpic: true,
        epr: true,
        irq_level: true,
    };

    #[test]
    fn choices() {
        let plan = |c: Option<&str>, k| IrqChipChoice::parse(c).and_then(|c| c.plan(k));
        let user_only = KernelSupport {
            in_kernel_mpic: false,
            ..ALL
        };
        let bare = KernelSupport {
            in_kernel_mpic: false,
            epr: false,
            irq_level: true,
        };
        let kernel = IrqPlan {
            in_kernel: true,
            external_proxy: true,
        };
        assert_eq!(plan(None, ALL), Ok(kernel));
        assert_eq!(plan(Some("mpic"), ALL), Ok(kernel));
        assert_eq!(
            plan(None, user_only),
            Ok(IrqPlan {
                in_kernel: false,
                external_proxy: true
            })
        );
        assert_eq!(
            plan(Some("mpic-user"), ALL),
            Ok(IrqPlan {
                in_kernel: false,
                external_proxy: true
            })
        );
        assert_eq!(
            plan(None, bare),
            Ok(IrqPlan {
                in_kernel: false,
                external_proxy: false
            })
        );
        assert_eq!(plan(Some("mpic"), bare), Err(IrqChipError::NoKernelMpic));
        let no_level = KernelSupport {
            irq_level: false,
            ..bare
        };
        assert_eq!(plan(None, no_level), Err(IrqChipError::NoIrqLevel));
        assert_eq!(
            plan(Some("gicv3"), ALL),
            Err(IrqChipError::Unknown("gicv3".into()))
        );
    }
}
