//! Which interrupt controller a pseries VM gets: `--irqchip` against what the host kernel
//! offers.
//!
//! - `xics`: the in-kernel XICS (`KVM_CAP_IRQ_XICS`, `KVM_CREATE_DEVICE` of
//!   `KVM_DEV_TYPE_XICS`); an error if the kernel lacks it;
//! - `none`: no interrupt controller (the console is polled, no device gets an interrupt);
//! - not given: the in-kernel XICS when the kernel has it, else none.

use thiserror::Error;

/// The interrupt controller asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqChipChoice {
    /// The in-kernel XICS if the kernel has it, else none.
    Auto,
    /// The in-kernel XICS, or an error.
    Xics,
    /// None.
    None,
}

/// What the kernel offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSupport {
    /// `KVM_CAP_IRQ_XICS` and a `KVM_DEV_TYPE_XICS` device can be created.
    pub xics: bool,
}

/// An interrupt controller that cannot be had.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IrqChipError {
    /// An unknown `--irqchip` value.
    #[error("--irqchip {0}: ppc64 has \"xics\" (in-kernel) and \"none\"")]
    Unknown(String),
    /// `xics` on a kernel without an in-kernel XICS.
    #[error(
        "--irqchip xics: this kernel has no in-kernel XICS (KVM_CAP_IRQ_XICS, KVM_DEV_TYPE_XICS)"
    )]
    NoKernelXics,
}

impl IrqChipChoice {
    /// Parses `--irqchip`.
    pub fn parse(s: Option<&str>) -> Result<Self, IrqChipError> {
        match s {
            None => Ok(Self::Auto),
            Some("xics") => Ok(Self::Xics),
            Some("none") => Ok(Self::None),
            Some(other) => Err(IrqChipError::Unknown(other.to_string())),
        }
    }

    /// Whether the VM gets the in-kernel XICS, on a kernel offering `k`.
    pub fn in_kernel_xics(self, k: KernelSupport) -> Result<bool, IrqChipError> {
        match self {
            Self::Auto => Ok(k.xics),
            Self::Xics if k.xics => Ok(true),
            Self::Xics => Err(IrqChipError::NoKernelXics),
            Self::None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        let yes = KernelSupport { xics: true };
        let no = KernelSupport { xics: false };
        let plan = |s: Option<&str>, k| IrqChipChoice::parse(s).and_then(|c| c.in_kernel_xics(k));
        assert_eq!(plan(None, yes), Ok(true));
        assert_eq!(plan(None, no), Ok(false));
        assert_eq!(plan(Some("xics"), yes), Ok(true));
        assert_eq!(plan(Some("xics"), no), Err(IrqChipError::NoKernelXics));
        assert_eq!(plan(Some("none"), yes), Ok(false));
        assert_eq!(
            plan(Some("gicv3"), yes),
            Err(IrqChipError::Unknown("gicv3".into()))
        );
    }
}
