//! The interrupt controller, on machines with a GICv3 (a guest named `gic`): the guest finds the
//! distributor, one redistributor per vCPU, the ITS exactly when `--irqchip gicv3-its` asked for
//! it, and receives the UART's interrupt through the in-kernel vGIC (an irqfd from tetra's
//! 16550 to SPI 1). An `--irqchip` the machine does not offer is an input error.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{chain, run, TestVm};
use tetra_host::HostArch;
use vmm_core::{ErrorKind, GuestExit};

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("gic") else {
        return;
    };
    for (irqchip, cpus, its) in [
        (None, 1u32, "its: absent"),
        (Some("gicv3"), 3, "its: absent"),
        (Some("gicv3-its"), 2, "its: present"),
    ] {
        let name = irqchip.unwrap_or("default");
        s.kvm(&format!("irqchip::{name}_{cpus}_vcpus"), move || {
            let mut cfg = g.config(cpus, 16);
            cfg.irqchip = irqchip.map(str::to_string);
            let out = run::<HostArch>(cfg)?;
            let redists = format!("gic: {cpus} redistributors");
            expect(
                &out,
                GuestExit::DebugExit(0x10),
                &[
                    "gic: GICv3 distributor, 288 interrupt ids",
                    &redists,
                    its,
                    "irq: uart interrupt 33 received",
                ],
            )
        });
    }
    s.kvm("irqchip::unknown_name_is_an_input_error", move || {
        let mut cfg = g.config(1, 16);
        cfg.irqchip = Some("gicv2".into());
        match TestVm::<HostArch>::new(cfg) {
            Ok(_) => Err("--irqchip gicv2 was accepted".into()),
            Err(msg) => check(msg.contains("--irqchip gicv2"), || msg.clone()),
        }?;
        let mut cfg = g.config(1, 16);
        cfg.irqchip = Some("bogus".into());
        match vmm_core::Vmm::<HostArch>::new(cfg, Default::default()) {
            Ok(_) => Err("--irqchip bogus was accepted".into()),
            Err(e) => check(e.kind() == ErrorKind::Input, || {
                format!("{:?}: {}", e.kind(), chain(&e))
            }),
        }
    });
}
