//! Snapshot and migration glue: moves the pseries machine and the in-kernel XICS sources in and
//! out of the codec of `crate::snapshot`, which decides and checks everything.
//!
//! Restore order (vmm-core calls this after the vCPUs' extra bytes and before their registers):
//! the radix MMU (`KVM_PPC_CONFIGURE_V3_MMU` with the saved process table, which also sets the
//! LPCR's HR and GTSE bits of every vCPU before their saved LPCR is written), the machine's
//! RTAS and console state, then the XICS sources; each vCPU's `ICP_STATE` comes with its
//! registers, after the sources, as the kernel checks that a presented source exists.

use super::platform::{configure_v3_mmu, BootData, Platform};
use crate::error::Ppc64Error;
use crate::mmu::radix_config;
use crate::snapshot::{self, MachineState, Ppc64SnapshotError, XicsState};
use kvm_ppc::PpcVm;
use vmm_core::snapshot::{Envelope, Section};

/// The VM-wide sections: `PSER` and `XICS`.
pub(super) fn save_vm(platform: &Platform) -> Result<Vec<Section>, Ppc64Error> {
    let boot = platform.boot.get().ok_or(Ppc64SnapshotError::NotBooted)?;
    let m = &platform.machine;
    let machine = MachineState {
        // The guest's own table once it registered one, else tetra's.
        proc_table: m.proc_table().unwrap_or(boot.proc_table),
        fdt_addr: boot.fdt_addr,
        lpcr: m.shared_lpcr(),
        cpus: m.cpu_snapshots(),
        console_input: m.vty().unread_input(),
    };
    let xics = match m.xics() {
        Some(x) => Some(XicsState {
            servers: x.servers(),
            sources: x.attributes()?,
        }),
        None => None,
    };
    Ok(vec![
        snapshot::machine_section(&machine),
        snapshot::xics_section(xics.as_ref()),
    ])
}

/// Restores [`save_vm`]'s sections into a VM built from the same configuration.
pub(super) fn restore_vm(
    vm: &PpcVm,
    platform: &Platform,
    env: &Envelope,
) -> Result<(), Ppc64Error> {
    let (machine, xics) = snapshot::decode_vm(env)?;
    let m = &platform.machine;
    machine.check(m.cpu_count())?;
    snapshot::check_xics_presence(xics.is_some(), m.xics().is_some())?;
    if let (Some(saved), Some(ics)) = (&xics, m.xics()) {
        let saved_irqs: Vec<u32> = saved.sources.iter().map(|(i, _)| *i).collect();
        let claimed = crate::events::sources_to_check(&saved_irqs, ics.claimed());
        saved.check(ics.servers(), &claimed)?;
    }
    let (base, size) = machine.proc_table;
    if platform.mmu.is_radix() {
        configure_v3_mmu(vm, &radix_config(base, size)?)?;
    }
    let _ = platform.boot.set(BootData {
        fdt_addr: machine.fdt_addr,
        proc_table: machine.proc_table,
    });
    m.set_proc_table(Some(machine.proc_table));
    m.restore(&machine.cpus, machine.lpcr);
    m.vty().restore_input(&machine.console_input);
    if let (Some(saved), Some(ics)) = (&xics, m.xics()) {
        ics.restore(&saved.sources)?;
    }
    Ok(())
}
