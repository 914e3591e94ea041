//! Snapshot and migration glue: moves the pseries machine and the in-kernel XICS sources in and
//! out of the codec of `crate::snapshot`, which decides and checks everything.
//!
//! Restore order (vmm-core calls this after the vCPUs' extra bytes and before their registers):
//! a KVM-PR VM's hash table (`HTAB`, written into this process's table, whose address each
//! vCPU's SDR1 gets when it starts: the saved SDR1 is the saving process's), the radix MMU
//! (`KVM_PPC_CONFIGURE_V3_MMU` with the saved process table, which also sets the LPCR's HR and
//! GTSE bits of every vCPU before their saved LPCR is written), the machine's
//! RTAS and console state, then the XICS sources; each vCPU's `ICP_STATE` comes with its
//! registers, after the sources, as the kernel checks that a presented source exists.

use super::htab::Htab;
use super::platform::{configure_v3_mmu, BootData, Platform};
use crate::error::Ppc64Error;
use crate::mmu::radix_config;
use crate::snapshot::htab::{self as htab_codec, HtabSnapshotError, HtabState};
use crate::snapshot::{self, MachineState, Ppc64SnapshotError, XicsState};
use kvm_ppc::PpcVm;
use vmm_core::snapshot::{Envelope, Section};

/// The VM-wide sections: `HTAB`, `PSER` and `XICS`.
pub(super) fn save_vm(platform: &Platform) -> Result<Vec<Section>, Ppc64Error> {
    // The vCPUs are paused: the table holds still while it is read.
    let htab = match &platform.htab {
        None => None,
        Some(Htab::User(t)) => Some(HtabState::capture(t.geometry().order(), t)),
        Some(Htab::Kernel(_)) => {
            return Err(Ppc64SnapshotError::from(HtabSnapshotError::KernelTable).into())
        }
    };
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
        htab_codec::htab_section(htab.as_ref()),
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
    let htab = htab_codec::decode_env(env).map_err(Ppc64SnapshotError::from)?;
    let m = &platform.machine;
    let user = platform.htab.as_ref().and_then(|h| h.user());
    if let Some(Htab::Kernel(_)) = &platform.htab {
        return Err(Ppc64SnapshotError::from(HtabSnapshotError::KernelTable).into());
    }
    htab_codec::check_vm(htab.as_ref(), user.map(|t| t.geometry()), m.ram_size())
        .map_err(Ppc64SnapshotError::from)?;
    machine.check(m.cpu_count())?;
    snapshot::check_xics_presence(xics.is_some(), m.xics().is_some())?;
    if let (Some(saved), Some(ics)) = (&xics, m.xics()) {
        let saved_irqs: Vec<u32> = saved.sources.iter().map(|(i, _)| *i).collect();
        let claimed = crate::events::sources_to_check(&saved_irqs, ics.claimed());
        saved.check(ics.servers(), &claimed)?;
    }
    if let Some(t) = user {
        // No saved table (a radix VM's snapshot, or an older one): an empty one.
        let empty = HtabState {
            order: t.geometry().order(),
            entries: Vec::new(),
        };
        t.restore(htab.as_ref().unwrap_or(&empty));
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
