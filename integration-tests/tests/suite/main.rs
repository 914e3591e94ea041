//! tetra's shared suite: real guests on this host's /dev/kvm, written once against vmm-core.
//! Each module registers its tests; a test whose guest this target lacks is not registered.

mod api_doc;
mod boot;
mod cli;
mod cli_state;
mod cli_status;
mod contract;
mod control;
mod cpu_template;
mod devices;
mod dirty;
mod entry;
#[cfg(target_arch = "aarch64")]
mod gic_state;
mod irqchip;
mod its;
mod lifecycle;
mod migration;
mod pause_exit;
mod pci;
mod power;
mod power_button;
mod pseries;
mod pseries_hpt;
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
mod pseries_regs;
mod pseries_xics;
mod qmp;
mod regs;
mod rest;
mod rest_client;
mod sandbox;
mod sleep;
mod smp;
mod smp_report;
mod snapshot;
mod snapshot_integrity;
mod stop_and_copy;
mod triple_fault;
mod virtio;

use integration_tests::harness::Suite;
use integration_tests::run::Outcome;
use vmm_core::GuestExit;

/// Checks that a run ended with `exit` and that its console contains every line of `lines`.
pub fn expect(out: &Outcome, exit: GuestExit, lines: &[&str]) -> Result<(), String> {
    if out.exit != exit {
        return Err(format!(
            "guest ended with {:?}, expected {exit:?}; console:\n{}",
            out.exit, out.console
        ));
    }
    for l in lines {
        if !out.console.lines().any(|c| c == *l) {
            return Err(format!(
                "console lacks the line {l:?}; console:\n{}",
                out.console
            ));
        }
    }
    Ok(())
}

fn main() {
    let mut s = Suite::new();
    boot::register(&mut s);
    entry::register(&mut s);
    smp::register(&mut s);
    smp_report::register(&mut s);
    devices::register(&mut s);
    irqchip::register(&mut s);
    its::register(&mut s);
    power::register(&mut s);
    power_button::register(&mut s);
    triple_fault::register(&mut s);
    cpu_template::register(&mut s);
    sleep::register(&mut s);
    dirty::register(&mut s);
    lifecycle::register(&mut s);
    pause_exit::register(&mut s);
    migration::register(&mut s);
    regs::register(&mut s);
    snapshot::register(&mut s);
    #[cfg(target_arch = "aarch64")]
    gic_state::register(&mut s);
    snapshot_integrity::register(&mut s);
    stop_and_copy::register(&mut s);
    virtio::register(&mut s);
    pci::register(&mut s);
    cli::register(&mut s);
    cli_state::register(&mut s);
    cli_status::register(&mut s);
    contract::register(&mut s);
    control::register(&mut s);
    rest::register(&mut s);
    qmp::register(&mut s);
    sandbox::register(&mut s);
    pseries::register(&mut s);
    pseries_hpt::register(&mut s);
    #[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
    pseries_regs::register(&mut s);
    pseries_xics::register(&mut s);
    s.run()
}
