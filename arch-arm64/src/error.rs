//! The arm64 backend's error, and whose fault each kind is.

use crate::boot::BootError;
use crate::fdt::FdtError;
use crate::irqchip::UnknownIrqChip;
use crate::layout::LayoutError;
use crate::snapshot::Arm64SnapshotError;
use thiserror::Error;
use vmm_core::regs::{RegId, TableError};
use vmm_core::{Classify, CoreError, ErrorKind};

/// Errors of the arm64 backend.
#[derive(Debug, Error)]
pub enum Arm64Error {
    /// What every arch can meet: KVM, payloads, guest memory, devices, eventfds.
    #[error(transparent)]
    Core(#[from] CoreError),
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
    /// virtio-pci asked for on a GIC without an ITS, which its MSI-X needs.
    #[error("--transport pci: arm64 delivers MSI-X through the ITS, and --irqchip gicv3 has none (use gicv3-its, or --transport mmio)")]
    PciWithoutIts,
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
    /// The register table could not be built from KVM's list.
    #[error("building the register table from KVM_GET_REG_LIST failed")]
    Table(#[from] TableError),
    /// Snapshot state that does not fit this VM, or is malformed.
    #[error(transparent)]
    Snapshot(#[from] Arm64SnapshotError),
    /// A vGIC or ITS register or control could not be read or written.
    #[error("{access} {what} through the {device} device failed")]
    GicAttr {
        /// `reading`, `writing` or `running`.
        access: &'static str,
        /// The register (with the vCPU's MPIDR) or the control.
        what: String,
        /// `vGICv3` or `ITS`.
        device: &'static str,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
    },
    /// KVM lists registers of groups tetra does not know: a save would miss them.
    #[error("KVM_GET_REG_LIST names registers tetra cannot save: {}", ids(.0))]
    UnknownRegisters(Vec<RegId>),
    /// The ITS tables in a snapshot's or a migration stream's guest memory are corrupt.
    #[error("the ITS tables in guest memory are refused")]
    ItsTables(#[from] crate::its_tables::ItsTableError),
}
vmm_core::core_error_from!(Arm64Error);

fn ids(ids: &[RegId]) -> String {
    ids.iter()
        .map(|id| format!("{:#x}", id.raw()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Classify for Arm64Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Arm64Error::Core(e) => e.kind(),
            Arm64Error::Boot(_)
            | Arm64Error::Layout(_)
            | Arm64Error::IrqChip(_)
            | Arm64Error::NoKernel
            | Arm64Error::PciWithoutIts
            | Arm64Error::IpaTooSmall { .. }
            | Arm64Error::Snapshot(_)
            | Arm64Error::ItsTables(_) => ErrorKind::Input,
            Arm64Error::Fdt(FdtError::Writer(_)) => ErrorKind::Host,
            Arm64Error::Fdt(_) => ErrorKind::Input,
            Arm64Error::Table(_) | Arm64Error::UnknownRegisters(_) | Arm64Error::GicAttr { .. } => {
                ErrorKind::Host
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whose_fault() {
        use ErrorKind::{Host, Input};
        let ipa = Arm64Error::IpaTooSmall {
            mem_mib: 1,
            needed: 44,
            limit: 40,
        };
        let unknown = vec![RegId::from_raw(0x6030_0000_0099_0000)];
        vmm_core::error::assert_kinds(vec![
            (Arm64Error::NoKernel, Input),
            (UnknownIrqChip("x".into()).into(), Input),
            (LayoutError::TooManyCpus { cpus: 999 }.into(), Input),
            (BootError::Misaligned(1).into(), Input),
            (FdtError::NulInCmdline.into(), Input),
            (ipa, Input),
            (FdtError::Writer(vm_fdt::Error::InvalidString).into(), Host),
            (Arm64Error::UnknownRegisters(unknown), Host),
            (
                Arm64SnapshotError::NrIrqs {
                    snapshot: 64,
                    vm: 288,
                }
                .into(),
                Input,
            ),
            (
                Arm64Error::GicAttr {
                    access: "writing",
                    what: "GITS_CTLR".into(),
                    device: "ITS",
                    source: std::io::Error::from_raw_os_error(libc::EINVAL),
                },
                Host,
            ),
        ]);
    }
}
