//! The arm64 backend's error, and whose fault each kind is.

use crate::boot::BootError;
use crate::fdt::FdtError;
use crate::irqchip::UnknownIrqChip;
use crate::layout::LayoutError;
use thiserror::Error;
use vmm_core::bus::BusError;
use vmm_core::config::PayloadError;
use vmm_core::hypervisor::HvError;
use vmm_core::memory::MemoryError;
use vmm_core::regs::{RegId, TableError};
use vmm_core::{Classify, ErrorKind};

/// Errors of the arm64 backend.
#[derive(Debug, Error)]
pub enum Arm64Error {
    /// A KVM call failed.
    #[error(transparent)]
    Hv(#[from] HvError),
    /// The payload could not be placed or loaded.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The device tree could not be built.
    #[error(transparent)]
    Fdt(#[from] FdtError),
    /// The vCPU count or RAM size does not fit the machine.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// An `--irqchip` arm64 does not offer.
    #[error(transparent)]
    IrqChip(#[from] UnknownIrqChip),
    /// A payload could not be read.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// Guest memory could not be written.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// A device could not be placed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// An eventfd could not be created.
    #[error("creating an eventfd failed")]
    EventFd(#[source] std::io::Error),
    /// No payload: arm64 has no embedded default guest.
    #[error("no --kernel given, and arm64 has no embedded default guest")]
    NoKernel,
    /// RAM ends beyond the guest physical address size this host's KVM supports.
    #[error(
        "--mem {mem_mib}: RAM would end past 2^{needed}, but this host's KVM maps guest \
         addresses up to 2^{limit} only"
    )]
    IpaTooSmall {
        /// MiB asked for.
        mem_mib: u64,
        /// Address bits needed.
        needed: u32,
        /// Address bits the host supports.
        limit: u32,
    },
    /// The device layer refused a device.
    #[error(transparent)]
    Devices(#[from] vmm_core::devices::DeviceError),
    /// The register table could not be built from KVM's list.
    #[error("building the register table from KVM_GET_REG_LIST failed")]
    Table(#[from] TableError),
    /// KVM lists registers of groups tetra does not know: a save would miss them.
    #[error("KVM_GET_REG_LIST names registers tetra cannot save: {}", ids(.0))]
    UnknownRegisters(Vec<RegId>),
}

fn ids(ids: &[RegId]) -> String {
    ids.iter()
        .map(|id| format!("{:#x}", id.raw()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Classify for Arm64Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Arm64Error::Boot(_)
            | Arm64Error::Layout(_)
            | Arm64Error::IrqChip(_)
            | Arm64Error::Payload(_)
            | Arm64Error::NoKernel
            | Arm64Error::IpaTooSmall { .. }
            | Arm64Error::Memory(MemoryError::OutOfRange { .. }) => ErrorKind::Input,
            Arm64Error::Fdt(FdtError::Writer(_)) => ErrorKind::Host,
            Arm64Error::Fdt(_) => ErrorKind::Input,
            _ => ErrorKind::Host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whose_fault() {
        let input = [
            Arm64Error::NoKernel,
            Arm64Error::IrqChip(UnknownIrqChip("x".into())),
            Arm64Error::Layout(LayoutError::TooManyCpus { cpus: 999 }),
            Arm64Error::Boot(BootError::Misaligned(1)),
            Arm64Error::Fdt(FdtError::NulInCmdline),
            Arm64Error::IpaTooSmall {
                mem_mib: 1,
                needed: 44,
                limit: 40,
            },
        ];
        for e in input {
            assert_eq!(e.kind(), ErrorKind::Input, "{e}");
        }
        let host = [
            Arm64Error::Hv(HvError::Unsupported("x")),
            Arm64Error::UnknownRegisters(vec![RegId::from_raw(0x6030_0000_0099_0000)]),
            Arm64Error::EventFd(std::io::Error::from_raw_os_error(libc::EMFILE)),
        ];
        for e in host {
            assert_eq!(e.kind(), ErrorKind::Host, "{e}");
        }
    }
}
