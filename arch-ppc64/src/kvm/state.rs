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

use super::htab::{Htab, KernelHtabFd};
use super::platform::{configure_v3_mmu, BootData, Platform};
use crate::error::Ppc64Error;
use crate::mmu::htab::passes;
use crate::mmu::radix_config;
use crate::snapshot::htab::{
    self as htab_codec, HtabSection, HtabSnapshotError, HtabState, HtabTracker,
};
use crate::snapshot::{self, MachineState, Ppc64SnapshotError, XicsState};
use kvm_ppc::PpcVm;
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::PrecopyPass;

fn htab_error(e: HtabSnapshotError) -> Ppc64Error {
    Ppc64SnapshotError::from(e).into()
}

/// A migration's pre-copy pass over the hash table (`Arch::precopy_state`): every valid entry
/// in the first, then the entries that changed, as a kind 2 `HTAB` section. A table in tetra's
/// memory (KVM-PR) is compared with what was sent ([`HtabTracker`]); KVM's (KVM-HV on a hash
/// host) is read through one `KVM_PPC_GET_HTAB_FD` file, whose first pass is the whole table
/// and whose later passes are the entries modified since. The first and the final pass always
/// send a section (the destination's table is built on the first; the final replaces the whole
/// table in the final state), a middle pass only when something changed.
pub(super) fn precopy(
    vm: &PpcVm,
    platform: &Platform,
    pass: PrecopyPass,
) -> Result<Option<Section>, Ppc64Error> {
    let Some(htab) = &platform.htab else {
        return Ok(None);
    };
    let g = htab.geometry();
    let mig = &platform.htab_migration;
    if pass == PrecopyPass::Cancel {
        mig.with_tracker(|t| *t = None);
        mig.with_kernel_fd(|f| *f = None);
        mig.set_final_sent(false);
        return Ok(None);
    }
    let running = pass != PrecopyPass::Final;
    let entries = match htab {
        Htab::User(t) => mig.with_tracker(|slot| {
            if pass == PrecopyPass::First {
                *slot = Some(HtabTracker::new(g.entries()));
            }
            let entries = slot.as_mut().map(|tracker| tracker.pass(t, running));
            if !running {
                *slot = None;
            }
            entries
        }),
        Htab::Kernel(_) => mig
            .with_kernel_fd(|slot| {
                if pass == PrecopyPass::First {
                    *slot = Some(KernelHtabFd::open(vm, g, false)?);
                }
                let entries = match slot.as_mut() {
                    Some(fd) => Some(passes::entries_of(
                        &fd.read_pass()?,
                        pass == PrecopyPass::First,
                    )),
                    None => None,
                };
                if !running {
                    *slot = None;
                }
                Ok::<_, HtabSnapshotError>(entries)
            })
            .map_err(htab_error)?,
    };
    // No first pass (cannot happen): the final state then carries the whole table.
    let Some(entries) = entries else {
        return Ok(None);
    };
    if entries.is_empty() && pass == PrecopyPass::Changes {
        return Ok(None);
    }
    if !running {
        mig.set_final_sent(true);
    }
    Ok(Some(htab_codec::changes_section(g.order(), &entries)))
}

/// At a migration's destination: applies a pre-copy pass's `HTAB` changes to the table, after
/// checking all of them against it. Any other section is not taken (false).
pub(super) fn apply_precopy(
    vm: &PpcVm,
    platform: &Platform,
    section: &Section,
) -> Result<bool, Ppc64Error> {
    if section.tag != htab_codec::HTAB.tag {
        return Ok(false);
    }
    let state = match htab_codec::decode_section(section).map_err(Ppc64SnapshotError::from)? {
        HtabSection::Changes(s) => s,
        HtabSection::None => return Err(htab_error(HtabSnapshotError::NotChanges(0))),
        HtabSection::Table(_) => return Err(htab_error(HtabSnapshotError::NotChanges(1))),
    };
    htab_codec::check_vm(
        Some(&state),
        platform.htab.as_ref().map(|h| h.geometry()),
        platform.machine.ram_size(),
    )
    .map_err(Ppc64SnapshotError::from)?;
    match &platform.htab {
        Some(Htab::User(t)) => t.apply(&state),
        Some(Htab::Kernel(g)) => KernelHtabFd::apply(vm, *g, &state).map_err(htab_error)?,
        None => unreachable!("check_vm refuses a table for a VM without one"),
    }
    platform.htab_migration.set_received();
    Ok(true)
}

/// The VM-wide sections: `HTAB`, `PSER` and `XICS`.
pub(super) fn save_vm(vm: &PpcVm, platform: &Platform) -> Result<Vec<Section>, Ppc64Error> {
    // The vCPUs are paused: the table holds still while it is read. In a migration's
    // stop-and-copy the final pre-copy pass, just taken, carries it: the section here is only a
    // place that vmm-core fills with that pass (`Arch::precopy_state`), and the table (RAM/128
    // bytes) is not read again while the guest waits.
    let htab = match &platform.htab {
        None => None,
        Some(_) if platform.htab_migration.take_final_sent() => None,
        Some(Htab::User(t)) => Some(HtabState::capture(t.geometry().order(), t)),
        Some(Htab::Kernel(g)) => Some(KernelHtabFd::capture(vm, *g).map_err(htab_error)?),
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
    // A migration whose pre-copy sent the table ends with its last changes (kind 2).
    let (htab, changes) = match env.section(&htab_codec::HTAB.tag) {
        None => (None, false),
        Some(s) => match htab_codec::decode_section(s).map_err(Ppc64SnapshotError::from)? {
            HtabSection::None => (None, false),
            HtabSection::Table(t) => (Some(t), false),
            HtabSection::Changes(_) if !platform.htab_migration.received() => {
                return Err(htab_error(HtabSnapshotError::NoBase))
            }
            HtabSection::Changes(t) => (Some(t), true),
        },
    };
    let m = &platform.machine;
    htab_codec::check_vm(
        htab.as_ref(),
        platform.htab.as_ref().map(|h| h.geometry()),
        m.ram_size(),
    )
    .map_err(Ppc64SnapshotError::from)?;
    machine.check(m.cpu_count())?;
    snapshot::check_xics_presence(xics.is_some(), m.xics().is_some())?;
    if let (Some(saved), Some(ics)) = (&xics, m.xics()) {
        let saved_irqs: Vec<u32> = saved.sources.iter().map(|(i, _)| *i).collect();
        let claimed = crate::events::sources_to_check(&saved_irqs, ics.claimed());
        saved.check(ics.servers(), &claimed)?;
    }
    match (&platform.htab, &htab) {
        (Some(Htab::User(t)), Some(c)) if changes => t.apply(c),
        (Some(Htab::User(t)), _) => {
            // No saved table (a radix VM's snapshot, or an older one): an empty one.
            let empty = HtabState {
                order: t.geometry().order(),
                entries: Vec::new(),
            };
            t.restore(htab.as_ref().unwrap_or(&empty));
        }
        // KVM's new table is empty: the whole table's entries or the last changes go in alike.
        (Some(Htab::Kernel(g)), Some(t)) => KernelHtabFd::apply(vm, *g, t).map_err(htab_error)?,
        (Some(Htab::Kernel(_)), None) | (None, _) => {}
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
