//! PCI on real KVM, from inside a guest: the `pci_probe` guest (x86_64) finds tetra's virtio-rng
//! device on the virtio-pci transport (`--transport pci`) through configuration mechanism #1
//! (ports 0xcf8/0xcfc), reads its capability list, reads it again through ECAM, sizes its BAR
//! and reads the virtio common configuration through the BAR; see the guest's header for what it
//! prints. Each line is an exit tetra answers (port I/O, ECAM MMIO, the BAR window's MMIO),
//! through the PCI root the platform built.
//!
//! The guest is x86_64 only (PCI is wired on x86 only so far); elsewhere the test is registered
//! as skipped, with that reason.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::Suite;
use integration_tests::run::run;
use tetra_host::HostArch;
use vmm_core::config::{Transport, VirtioConfig};
use vmm_core::GuestExit;

const GUEST: &str = "pci_probe";

/// What the guest prints: the host bridge at 00.0, the entropy device at 01.0
/// (`1af4:1040 + 4`, class "other"), its five virtio capabilities (common, notify, ISR, device,
/// configuration access) and MSI-X, a 32 KiB 64-bit BAR at the PCI window's start, one queue and
/// `VERSION_1`.
const LINES: &[&str] = &[
    "pci: conf1 ok",
    "pci 00:00.0 1b36:0008 class 060000",
    "pci 00:01.0 1af4:1044 class ff0000",
    "pci 00:01.0 caps: 09/1 09/2 09/3 09/4 09/5 11",
    "pci 00:01.0 ecam 1af4:1044",
    "pci 00:02.0 ecam ffffffff",
    "pci 00:01.0 bar0 size mask ffff8004",
    "pci 00:01.0 bar0 c0000004 num_queues 0001 features1 00000001",
];

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get(GUEST) else {
        s.skip(
            "pci::guest_finds_virtio_pci",
            "kvm",
            format!("no {GUEST} guest for this arch (PCI is wired on x86_64 only so far)"),
        );
        return;
    };
    s.kvm("pci::guest_finds_virtio_pci", move || {
        let mut config = g.config(1, 16);
        config.virtio = VirtioConfig {
            transport: Transport::Pci,
            rng: true,
            ..VirtioConfig::default()
        };
        let out = run::<HostArch>(config)?;
        expect(&out, GuestExit::DebugExit(0x10), LINES)
    });
}
