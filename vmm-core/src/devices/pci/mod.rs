//! PCI, arch-neutral: bus 0 behind a host bridge ([`root`]), type-0 configuration spaces with
//! capabilities and 64-bit memory BARs ([`config`]), MSI-X tables ([`msix`]) and MSI delivery
//! through KVM's GSI routing and irqfds ([`msi`]).
//!
//! An arch that offers PCI builds a [`PciHost`] in its platform phase: the root on its buses
//! (configuration mechanism #1 on x86's ports 0xcf8-0xcff, ECAM at a window of its layout, the
//! PCI MMIO window where BARs decode) and an MSI router; the virtio-pci transport
//! ([`super::virtio::pci`]) puts functions on it.

pub mod config;
pub mod msi;
pub mod msix;
pub mod root;

pub use config::{ConfigSpace, PciId};
pub use msi::{KvmMsiRouter, MsiMessage, MsiRouter};
pub use msix::Msix;
pub use root::{
    PciConfigIo, PciEcam, PciError, PciFunction, PciHost, PciMmio, PciRoot, CONFIG_IO_TAG,
};
