//! The dirty log and memory map changes of a [`Vmm`]: what the copies of guest RAM in a snapshot
//! or a migration and a change of the memory map need, run with the vCPUs out of the guest where
//! KVM requires it.

use super::{VmState, Vmm, VmmError, PAUSE_LIMIT};
use crate::arch::Arch;

impl<A: Arch> Vmm<A> {
    /// Turns on dirty logging of all guest RAM (a no-op if it is on).
    pub fn start_dirty_log(&mut self) -> Result<(), VmmError> {
        if self.dirty.is_none() {
            self.dirty = Some(crate::dirty::DirtyLog::start(
                &*self.shared.vm,
                &self.shared.memory,
            )?);
        }
        Ok(())
    }

    /// Turns on the classic dirty log, without manual protection (for comparisons; tetra itself
    /// uses [`Vmm::start_dirty_log`]).
    pub fn start_classic_dirty_log(&mut self) -> Result<(), VmmError> {
        if self.dirty.is_none() {
            self.dirty = Some(crate::dirty::DirtyLog::start_with(
                &*self.shared.vm,
                &self.shared.memory,
                false,
            )?);
        }
        Ok(())
    }

    /// Turns dirty logging off, dropping what was pending.
    pub fn stop_dirty_log(&mut self) -> Result<(), VmmError> {
        if let Some(log) = self.dirty.take() {
            log.stop(&*self.shared.vm, &self.shared.memory)?;
        }
        Ok(())
    }

    /// The dirty log, while logging is on.
    pub fn dirty_log(&mut self) -> Option<&mut crate::dirty::DirtyLog> {
        self.dirty.as_mut()
    }

    /// Has the arch write the state KVM keeps for the guest into guest RAM
    /// ([`Arch::flush_to_guest_ram`]). The VM must be paused (or not started): the step before
    /// the final copy of guest RAM in a snapshot or migration.
    pub fn flush_to_guest_ram(&mut self) -> Result<(), VmmError> {
        if self.state == VmState::Running {
            return Err(VmmError::State(
                "guest RAM is flushed only while the VM is paused",
            ));
        }
        let sh = &self.shared;
        A::flush_to_guest_ram(&sh.vm, &sh.platform, &sh.memory).map_err(VmmError::arch)
    }

    /// Moves KVM's dirty logs into the pending set; returns the pages newly dirty.
    pub fn harvest_dirty(&mut self) -> Result<u64, VmmError> {
        if self.dirty.is_none() {
            return Err(VmmError::State("dirty logging is off"));
        }
        if !A::DIRTY_LOG_REARM {
            let log = self.dirty.as_mut().expect("checked above");
            return Ok(log.harvest(&*self.shared.vm, &self.shared.memory)?);
        }
        // The arch's log must be re-armed after each harvest (Arch::DIRTY_LOG_REARM): with the
        // vCPUs out of the guest, harvest, then switch every slot's logging off and on, and let
        // the arch see each vCPU (Arch::dirty_log_rearmed).
        self.paused(|vmm| {
            let new = {
                let (vm, ram) = (&*vmm.shared.vm, &vmm.shared.memory);
                let log = vmm.dirty.as_mut().expect("checked above");
                let new = log.harvest(vm, ram)?;
                ram.set_dirty_logging(vm, false)?;
                ram.set_dirty_logging(vm, true)?;
                new
            };
            if A::dirty_log_rearms_vcpus(&vmm.shared.platform) {
                let sh = vmm.shared.clone();
                vmm.on_vcpus(move |_, vcpu| A::dirty_log_rearmed(&sh.platform, vcpu))?
                    .into_iter()
                    .collect::<Result<Vec<()>, _>>()
                    .map_err(VmmError::arch)?;
            }
            Ok(new)
        })
    }

    /// Changes the memory map as one step: a running VM is paused, the dirty log (if on) is
    /// harvested so that no slot takes its log with it, the new map replaces the old one, and the
    /// VM resumes.
    pub fn change_memory(&mut self, changes: &[crate::memory::MapChange]) -> Result<(), VmmError> {
        self.paused(|vmm| {
            if let Some(log) = vmm.dirty.as_mut() {
                log.harvest(&*vmm.shared.vm, &vmm.shared.memory)?;
            }
            vmm.shared.memory.apply(&*vmm.shared.vm, changes)?;
            if let Some(log) = vmm.dirty.as_mut() {
                log.remap(&vmm.shared.memory);
            }
            Ok(())
        })
    }

    /// Runs `f` with the vCPUs out of the guest: a running VM is paused for it and resumed
    /// after it, whatever `f` returns.
    fn paused<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, VmmError>,
    ) -> Result<R, VmmError> {
        let resume = self.state == VmState::Running;
        if resume {
            self.pause_within(Some(PAUSE_LIMIT))?;
        }
        let r = f(self);
        if resume {
            self.resume()?;
        }
        r
    }
}
