//! The x86_64 backend's error, and whose fault each kind is.

use crate::boot::BootError;
use crate::snapshot::X86SnapshotError;
use thiserror::Error;
use vmm_core::{Classify, CoreError, ErrorKind};

/// Errors of the x86_64 backend.
#[derive(Debug, Error)]
pub enum X86Error {
    /// What every arch can meet: KVM, payloads, guest memory, devices, eventfds.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The kernel could not be loaded.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The register table could not be built.
    #[error("building the x86 register table")]
    Regs(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Snapshot state that cannot be restored.
    #[error("x86 snapshot state")]
    State(#[from] X86SnapshotError),
    /// `--irqchip` on x86, which has one interrupt controller.
    #[error("--irqchip {0}: x86 has one interrupt controller (KVM's in-kernel PIC, IOAPIC and LAPICs); --irqchip chooses on arm64 and BookE")]
    IrqChip(String),
    /// `--cpu-template` names an unknown template or feature, or its file is unreadable.
    #[error("--cpu-template")]
    CpuTemplate(#[from] crate::cpu_template::TemplateError),
    /// A snapshot's CPU template leaves features this host's KVM does not offer.
    #[error("the snapshot's CPU template '{template}' leaves {} which this host's KVM does not offer", .missing.join(", "))]
    TemplateUnsupported {
        /// The template's name (its spec).
        template: String,
        /// The features the host lacks.
        missing: Vec<&'static str>,
    },
    /// This host's KVM kept CPUID bits the template withholds (it fixes those leaves itself).
    #[error("--cpu-template '{template}': this host's KVM does not withhold {} (KVM_GET_CPUID2 still offers them after KVM_SET_CPUID2)", .kept.join(", "))]
    TemplateNotHonoured {
        /// The template's name (its spec).
        template: String,
        /// What KVM kept.
        kept: Vec<String>,
    },
    /// A snapshot without a PIT, restored into a VM that has one (a VM's reset state is always
    /// its own, so only a damaged or foreign state gets here).
    #[error("the state has no PIT, but this VM has one")]
    PitMismatch,
}
vmm_core::core_error_from!(X86Error);

impl Classify for X86Error {
    fn kind(&self) -> ErrorKind {
        match self {
            X86Error::Core(e) => e.kind(),
            X86Error::Boot(_)
            | X86Error::State(_)
            | X86Error::IrqChip(_)
            | X86Error::CpuTemplate(_)
            | X86Error::TemplateUnsupported { .. }
            | X86Error::PitMismatch => ErrorKind::Input,
            X86Error::Regs(_) | X86Error::TemplateNotHonoured { .. } => ErrorKind::Host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::hypervisor::HvError;

    #[test]
    fn whose_fault() {
        use ErrorKind::{Host, Input};
        vmm_core::error::assert_kinds(vec![
            (
                BootError::NoMultibootHeader { name: "k".into() }.into(),
                Input,
            ),
            (X86SnapshotError::CpuidCount(999).into(), Input),
            (X86Error::IrqChip("bogus".into()), Input),
            (
                crate::cpu_template::TemplateError::UnknownFeature("avx513".into()).into(),
                Input,
            ),
            (
                X86Error::TemplateUnsupported {
                    template: "none".into(),
                    missing: vec!["avx512f"],
                },
                Input,
            ),
            (
                X86Error::TemplateNotHonoured {
                    template: "-avx2".into(),
                    kept: vec!["avx2".into()],
                },
                Host,
            ),
            (X86Error::Regs("no MSR list".into()), Host),
        ]);
    }

    #[test]
    fn messages_chain_as_before() {
        let e = X86Error::State(X86SnapshotError::CpuidCount(300));
        assert_eq!(
            vmm_core::error_chain::chain(&e),
            "x86 snapshot state: 300 CPUID entries, more than the 256 KVM takes"
        );
        let e = X86Error::from(HvError::Unsupported("x"));
        assert_eq!(e.to_string(), "the hypervisor does not support x");
    }
}
