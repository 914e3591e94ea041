//! The BookE backend's error, and whose fault each kind is.

use crate::boot::BootError;
use crate::cpu::CpuInfoError;
use crate::irqchip::{IrqChipError, MpicError, MpicStateError};
use crate::layout::LayoutError;
use crate::mmu::SharedError;
use crate::snapshot::SnapshotError;
use thiserror::Error;
use vmm_core::regs::RegError;
use vmm_core::{Classify, CoreError, ErrorKind};

/// Errors of the BookE backend.
#[derive(Debug, Error)]
pub enum BookeError {
    /// What every arch can meet: KVM, payloads, guest memory, devices, eventfds.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// More than one vCPU.
    #[error("--cpus {0}: the BookE board boots one vCPU (releasing secondary CPUs through the ePAPR spin table is not emulated yet)")]
    Smp(u32),
    /// No kernel given (BookE has no built-in guest).
    #[error("BookE has no built-in guest: give a kernel (uImage or ELF)")]
    NoKernel,
    /// `--raw` given.
    #[error("BookE loads uImage and ELF kernels; raw images (--raw) are not supported")]
    Raw,
    /// The kernel could not be loaded.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// RAM size or CPU count do not fit the board.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The interrupt controller asked for cannot be had.
    #[error(transparent)]
    IrqChip(#[from] IrqChipError),
    /// `/proc/cpuinfo` could not be read.
    #[error("reading /proc/cpuinfo failed")]
    ReadCpuInfo(#[source] std::io::Error),
    /// The host CPU is not usable.
    #[error(transparent)]
    CpuInfo(#[from] CpuInfoError),
    /// The userspace MPIC refused something.
    #[error(transparent)]
    Mpic(#[from] MpicError),
    /// An MPIC state does not fit this MPIC.
    #[error(transparent)]
    MpicState(#[from] MpicStateError),
    /// A register access failed.
    #[error(transparent)]
    Regs(#[from] RegError),
    /// The shared TLB refused an image.
    #[error(transparent)]
    Tlb(#[from] SharedError),
    /// A snapshot part that does not decode.
    #[error(transparent)]
    State(#[from] SnapshotError),
    /// A snapshot that does not fit this VM.
    #[error("the snapshot does not fit this VM: {0}")]
    Snapshot(String),
}
vmm_core::core_error_from!(BookeError);

impl Classify for BookeError {
    fn kind(&self) -> ErrorKind {
        match self {
            BookeError::Core(e) => e.kind(),
            BookeError::Boot(_)
            | BookeError::Layout(_)
            | BookeError::IrqChip(_)
            | BookeError::Smp(_)
            | BookeError::NoKernel
            | BookeError::Raw
            | BookeError::State(_)
            | BookeError::Snapshot(_)
            | BookeError::MpicState(_) => ErrorKind::Input,
            BookeError::ReadCpuInfo(_)
            | BookeError::CpuInfo(_)
            | BookeError::Mpic(_)
            | BookeError::Regs(_)
            | BookeError::Tlb(_) => ErrorKind::Host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::irqchip::MpicModel;

    #[test]
    fn whose_fault() {
        use ErrorKind::{Host, Input};
        let mismatch = MpicStateError::Mismatch {
            state_model: MpicModel::Fsl42,
            state_cpus: 2,
            model: MpicModel::Fsl42,
            cpus: 1,
        };
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        vmm_core::error::assert_kinds(vec![
            (BookeError::Smp(2), Input),
            (BookeError::NoKernel, Input),
            (BookeError::Raw, Input),
            (BootError::UnknownFormat(vec![0; 4]).into(), Input),
            (LayoutError::RamTooSmall(1).into(), Input),
            (IrqChipError::NoKernelMpic.into(), Input),
            (SnapshotError::TlbVersion(9).into(), Input),
            (BookeError::Snapshot("x".into()), Input),
            (mismatch.into(), Input),
            (BookeError::ReadCpuInfo(enoent), Host),
            (CpuInfoError::Missing("cpu").into(), Host),
            (MpicError::BadCpuCount(0).into(), Host),
            (SharedError::UnknownMmuType(7).into(), Host),
        ]);
    }
}
