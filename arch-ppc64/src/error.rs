//! The ppc64 backend's error, and whose fault each kind is.

use crate::boot::BootError;
use crate::cpu::CpuError;
use crate::fdt::FdtError;
use crate::irqchip::{IrqChipError, SourceError};
use crate::layout::LayoutError;
use crate::mmu::MmuError;
use thiserror::Error;
use vmm_core::{Classify, CoreError, ErrorKind};

/// Errors of the ppc64 backend.
#[derive(Debug, Error)]
pub enum Ppc64Error {
    /// What every arch can meet: KVM, payloads, guest memory, devices, eventfds.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The payload could not be loaded.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// Guest memory could not be laid out.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The device tree could not be built.
    #[error(transparent)]
    Fdt(#[from] FdtError),
    /// The process table could not be encoded.
    #[error(transparent)]
    Mmu(#[from] MmuError),
    /// The host CPU could not be read.
    #[error(transparent)]
    Cpu(#[from] CpuError),
    /// The processor model asked for (`--cpu-template`) cannot be had.
    #[error(transparent)]
    CpuModel(#[from] crate::cpu_model::CpuModelError),
    /// The interrupt controller asked for cannot be had.
    #[error(transparent)]
    IrqChip(#[from] IrqChipError),
    /// An interrupt source could not be set up.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Snapshot state was refused, or the VM has none to save.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::Ppc64SnapshotError),
}
vmm_core::core_error_from!(Ppc64Error);

impl Classify for Ppc64Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Ppc64Error::Core(e) => e.kind(),
            Ppc64Error::Boot(_)
            | Ppc64Error::Layout(_)
            | Ppc64Error::IrqChip(_)
            | Ppc64Error::CpuModel(_)
            | Ppc64Error::Snapshot(_) => ErrorKind::Input,
            Ppc64Error::Fdt(FdtError::NulInCmdline) => ErrorKind::Input,
            Ppc64Error::Fdt(_)
            | Ppc64Error::Mmu(_)
            | Ppc64Error::Cpu(_)
            | Ppc64Error::Source(_) => ErrorKind::Host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whose_fault() {
        use ErrorKind::{Host, Input};
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        vmm_core::error::assert_kinds::<Ppc64Error>(vec![
            (BootError::NoKernel.into(), Input),
            (LayoutError::RamTooSmall(1 << 20).into(), Input),
            (IrqChipError::NoKernelXics.into(), Input),
            (
                crate::cpu_model::CpuModelError::Unknown("x".into()).into(),
                Input,
            ),
            (IrqChipError::Unknown("gicv3".into()).into(), Input),
            (FdtError::NulInCmdline.into(), Input),
            (FdtError::NoCpus.into(), Host),
            (MmuError::Size(3).into(), Host),
            (
                CpuError::Read {
                    path: "/proc/cpuinfo",
                    source: enoent,
                }
                .into(),
                Host,
            ),
        ]);
    }
}
