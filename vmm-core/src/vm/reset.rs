//! A machine reset (`--on-triple-fault reset`): the guest runs again from its boot state, as a
//! PC does after a triple fault, without tetra starting over.
//!
//! tetra has no firmware to run again, so "the boot state" is what the build left before the VM
//! first ran, captured then ([`BootState`]): every vCPU's registers through the register table
//! (x86: registers, segments, MSRs, LAPIC, events, MP state: the APs waiting for their SIPI
//! again), the arch's VM-wide state ([`Arch::save_vm_state`]: the interrupt controllers, timers
//! and clock), every device's state, and the guest pages tetra itself wrote while building (the
//! payload and its boot data, which the userspace dirty bitmap marks). A reset pauses every vCPU,
//! writes all of that back, and lets the vCPUs run again. Kept across it: the rest of guest RAM
//! (a warm reset clears no memory) and the devices that [survive a
//! reset](crate::snapshot::Stateful::survives_reset) (the x86 CMOS RAM and clock, battery-backed).
//!
//! The boot state is captured for every fresh boot of an arch that can suspend to RAM, too
//! (without the payload pages unless `--on-triple-fault reset`): a wake from S3 resets the vCPUs
//! and devices to it ([`super::sleep`]).
//! It is on the way to vCPU 0's first instruction, so it reads no more than it must: of the
//! third and later vCPUs, only what differs between application processors at boot
//! ([`Vmm::save_vcpus_at_boot`], [`Arch::AP_BOOT_ALIKE_BLOCKS`]).
//!
//! A guest that resets over and over (one that triple-faults at once, for ever) is stopped: more
//! than [`STORM_RESETS`] resets within [`STORM_WINDOW`] end the VM as crashed (exit status 6).

use super::{VmState, Vmm, VmmError, PAUSE_LIMIT};
use crate::arch::Arch;
use crate::exit::GuestExit;
use crate::regs::{RegTable, VcpuState};
use crate::snapshot::{Envelope, Section};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most resets a VM may make within [`STORM_WINDOW`]; one more ends it as crashed.
pub const STORM_RESETS: usize = 8;

/// The window [`STORM_RESETS`] counts in.
pub const STORM_WINDOW: Duration = Duration::from_secs(10);

/// Errors resetting a VM (each ends it as crashed).
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The VM was not built to reset: no boot state was captured.
    #[error("this VM cannot reset: it was not booted with --on-triple-fault reset")]
    NoBootState,
    /// Too many resets too fast.
    #[error(
        "{count} resets within {}s: a reset storm (at most {STORM_RESETS}); taken as a crash",
        STORM_WINDOW.as_secs()
    )]
    Storm {
        /// The resets in the window, this one included.
        count: usize,
    },
    /// A step of the reset failed.
    #[error("resetting {step}")]
    Step {
        /// What was being reset.
        step: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn step<E: std::error::Error + Send + Sync + 'static>(
    step: &'static str,
) -> impl FnOnce(E) -> ResetError {
    move |e| ResetError::Step {
        step,
        source: Box::new(e),
    }
}

/// What a VM is reset to: its state as built, before it first ran.
pub(crate) struct BootState {
    pub(super) table: RegTable,
    pub(super) vcpus: Vec<VcpuState>,
    /// The arch's VM-wide sections, in an envelope for [`Arch::restore_vm_state`]: captured for
    /// a machine reset only (a wake from S3 leaves the interrupt controllers, timers and clock
    /// as they are, and a fresh boot saves their four ioctls on the way to vCPU 0's start).
    vm: Option<Envelope>,
    pub(super) devices: Vec<Section>,
    /// Runs of guest pages tetra wrote while building: guest address, contents.
    pages: Vec<(u64, Vec<u8>)>,
    counter: ResetCounter,
}

/// Counts resets and bounds a storm of them.
#[derive(Default)]
struct ResetCounter {
    /// When the recent resets happened (within [`STORM_WINDOW`]).
    recent: VecDeque<Instant>,
    /// Resets so far.
    count: u64,
}

impl ResetCounter {
    /// Records a reset at `now`; fails when it is one too many within [`STORM_WINDOW`].
    fn count_reset(&mut self, now: Instant) -> Result<(), ResetError> {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= STORM_WINDOW)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if self.recent.len() > STORM_RESETS {
            return Err(ResetError::Storm {
                count: self.recent.len(),
            });
        }
        self.count += 1;
        Ok(())
    }
}

/// The runs of pages of guest RAM that tetra wrote (the userspace dirty bitmap; left as it is),
/// with their contents.
fn written_pages(memory: &crate::memory::GuestRam) -> Vec<(u64, Vec<u8>)> {
    use vm_memory::{Address, Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};
    let mem = memory.memory();
    let page = crate::memory::page_size() as usize;
    let mut runs: Vec<(u64, usize)> = Vec::new();
    for r in mem.iter() {
        let m: &vm_memory::MmapRegion<crate::memory::AtomicBitmap> = r;
        let base = r.start_addr().raw_value();
        for off in (0..r.len() as usize).step_by(page) {
            if !m.bitmap().is_addr_set(off) {
                continue;
            }
            let addr = base + off as u64;
            match runs.last_mut() {
                Some((start, len)) if *start + *len as u64 == addr => *len += page,
                _ => runs.push((addr, page)),
            }
        }
    }
    runs.into_iter()
        .filter_map(|(addr, len)| {
            let mut data = vec![0u8; len];
            mem.read_slice(&mut data, GuestAddress(addr))
                .ok()
                .map(|()| (addr, data))
        })
        .collect()
}

impl<A: Arch> Vmm<A> {
    /// Captures what a reset goes back to; the VM must be built and not started.
    /// With `pages`, the payload pages too (what a machine reset writes back; a wake from S3
    /// keeps RAM as it is).
    pub(super) fn capture_boot_state(&mut self, pages: bool) -> Result<(), VmmError> {
        let magic = A::SNAPSHOT_MAGIC.ok_or_else(|| {
            VmmError::Config(format!(
                "--on-triple-fault reset: {} cannot capture its boot state yet",
                A::NAME
            ))
        })?;
        let table = self.register_table()?;
        let vcpus = self.save_vcpus_at_boot(&table)?;
        let vm = if pages {
            let mut vm = Envelope::new(magic);
            for s in
                A::save_vm_state(&self.shared.vm, &self.shared.platform).map_err(VmmError::arch)?
            {
                vm.push(s);
            }
            Some(vm)
        } else {
            None
        };
        let devices = self.shared.devices.state().save();
        let pages = if pages {
            written_pages(&self.shared.memory)
        } else {
            Vec::new()
        };
        tracing::debug!(
            pages = pages.iter().map(|(_, d)| d.len()).sum::<usize>()
                / crate::memory::page_size() as usize,
            "boot state captured for resets"
        );
        self.boot = Some(BootState {
            table,
            vcpus,
            vm,
            devices,
            pages,
            counter: ResetCounter::default(),
        });
        Ok(())
    }

    /// Saves every vCPU's registers before the VM first runs, as [`Vmm::save_vcpus`] does, but
    /// reads of the third and later vCPUs only the registers outside the arch's
    /// [`Arch::AP_BOOT_ALIKE_BLOCKS`], and takes the rest from the second vCPU's: 2 of x86's 9
    /// `KVM_GET_*` per further vCPU. What a fresh boot keeps for a reset or a wake from S3.
    pub fn save_vcpus_at_boot(
        &mut self,
        table: &crate::regs::RegTable,
    ) -> Result<Vec<crate::regs::VcpuState>, VmmError> {
        use crate::regs::{RegId, RegLoc, VcpuState};
        if self.state != VmState::Created {
            return Err(VmmError::State(
                "the boot state is only readable before the VM first runs",
            ));
        }
        let alike = A::AP_BOOT_ALIKE_BLOCKS;
        if alike.is_empty() || self.shared.config.cpus < 3 {
            return self.save_vcpus(table);
        }
        let own: Vec<RegId> = table
            .saved_ids()
            .into_iter()
            .filter(|id| {
                !table.get(*id).is_some_and(|r| match r.loc {
                    RegLoc::Field { block, .. } | RegLoc::Indexed { block } => {
                        alike.contains(&block)
                    }
                    RegLoc::OneReg => false,
                })
            })
            .collect();
        let own_ids: std::collections::HashSet<RegId> = own.iter().copied().collect();
        let t = table.clone();
        let read: Vec<VcpuState> = self
            .on_vcpus(move |id, vcpu| {
                match id {
                    0 | 1 => crate::regs::save(&t, vcpu),
                    _ => crate::regs::read(&t, vcpu, &own),
                }
                .map(|o| o.state)
                .map_err(|source| VmmError::Regs { vcpu: id, source })
            })?
            .into_iter()
            .collect::<Result<_, _>>()?;
        // Both states list registers in table order (`regs::read` keeps the order of the ids
        // it is given, and `own` is in table order), so one walk merges them.
        let mut read = read.into_iter();
        let (first, template) = match (read.next(), read.next()) {
            (Some(a), Some(b)) => (a, b),
            _ => return Err(VmmError::State("fewer vCPU states than vCPUs")),
        };
        let own_in_template: Vec<bool> = template.iter().map(|v| own_ids.contains(&v.id)).collect();
        let in_template: std::collections::HashSet<RegId> = template.iter().map(|v| v.id).collect();
        let mut states = Vec::with_capacity(self.shared.config.cpus as usize);
        states.push(first);
        for part in read {
            // The second vCPU's state, in its order, with this vCPU's own registers.
            let mut s = VcpuState::new();
            // Its own registers the second vCPU lacks (an optional one absent there) go last.
            let mut extra = Vec::new();
            let mut mine = part.iter().peekable();
            for (v, own) in template.iter().zip(&own_in_template) {
                if !own {
                    s.push(v.id, v.bytes.clone());
                    continue;
                }
                while let Some(m) = mine.next_if(|m| !in_template.contains(&m.id)) {
                    extra.push(m);
                }
                if let Some(m) = mine.next_if(|m| m.id == v.id) {
                    s.push(m.id, m.bytes.clone());
                }
            }
            for m in extra.into_iter().chain(mine) {
                if !in_template.contains(&m.id) {
                    s.push(m.id, m.bytes.clone());
                }
            }
            states.push(s);
        }
        states.insert(1, template);
        Ok(states)
    }

    /// Whether the VM keeps a whole boot state to reset to, its payload included
    /// (`--on-triple-fault reset`; the one kept for a wake from S3 has no payload).
    pub(super) fn has_boot_state(&self) -> bool {
        self.boot.as_ref().is_some_and(|b| !b.pages.is_empty())
    }

    /// How many times the machine has reset (`--on-triple-fault reset`).
    pub fn resets(&self) -> u64 {
        self.boot.as_ref().map_or(0, |b| b.counter.count)
    }

    /// Serves a reset a vCPU asked for ([`crate::ExitAction::Reset`]); a reset that cannot be
    /// made ends the VM as crashed, saying why.
    pub(super) fn serve_reset(&mut self) {
        let Some(why) = self.shared.exit.take_reset() else {
            return;
        };
        let run = self.state == VmState::Running;
        match self.reset(&why, run) {
            Ok(()) => tracing::info!(why, resets = self.resets(), "the machine was reset"),
            Err(e) => {
                let msg = format!("{why}; {}", crate::error_chain::chain(&e));
                tracing::warn!(msg, "the machine could not reset");
                self.shared.exit.end(GuestExit::Crash(msg));
            }
        }
    }

    /// Resets the machine; with `run`, the vCPUs run afterwards (else they stay paused).
    pub(super) fn reset(&mut self, why: &str, run: bool) -> Result<(), ResetError> {
        // A boot state kept for a wake from S3 only is not one to reset to.
        let boot = self
            .boot
            .as_mut()
            .filter(|b| b.vm.is_some())
            .ok_or(ResetError::NoBootState)?;
        boot.counter.count_reset(Instant::now())?;
        if self.state == VmState::Running {
            self.pause_within(Some(PAUSE_LIMIT))
                .map_err(step("the vCPUs (pausing them)"))?;
        }
        // Every vCPU is out of the guest: another one's request made before the pause is this
        // same reset.
        if let Some(other) = self.shared.exit.take_reset() {
            tracing::debug!(other, why, "a reset asked for while another was served");
        }
        let boot = self.boot.as_ref().ok_or(ResetError::NoBootState)?;
        // Only a boot state captured for resets has the VM-wide sections (and the payload).
        let vm = boot.vm.as_ref().ok_or(ResetError::NoBootState)?;
        A::restore_vm_state(&self.shared.vm, &self.shared.platform, vm)
            .map_err(step("the interrupt controllers and timers"))?;
        let (table, vcpus) = (boot.table.clone(), boot.vcpus.clone());
        for (addr, data) in &boot.pages {
            self.shared
                .memory
                .write("the payload", *addr, data)
                .map_err(step("the payload in guest RAM"))?;
        }
        self.restore_vcpus(&table, vcpus)
            .map_err(step("the vCPUs' registers"))?;
        // A virtio device's reset takes its queues off the device worker, which must run for
        // that; the vCPUs are still paused.
        self.shared.devices.resume();
        let boot = self.boot.as_ref().ok_or(ResetError::NoBootState)?;
        let r = self.shared.devices.state().reset_to(&boot.devices);
        if run {
            self.shared.control.request_run();
            self.state = VmState::Running;
            self.link
                .status
                .set_run(crate::control::status::RunState::Running);
        } else if let Err(e) = self.shared.devices.pause(PAUSE_LIMIT) {
            return Err(step("the devices (pausing them again)")(e));
        }
        r.map_err(step("the devices"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_storm_is_bounded_and_slow_resets_are_not_one() {
        let mut b = ResetCounter::default();
        let t0 = Instant::now();
        for i in 0..STORM_RESETS {
            b.count_reset(t0 + Duration::from_millis(i as u64)).unwrap();
        }
        assert!(matches!(
            b.count_reset(t0 + Duration::from_millis(100)),
            Err(ResetError::Storm { count }) if count == STORM_RESETS + 1
        ));
        assert_eq!(b.count, STORM_RESETS as u64);
        // Spread out, any number of resets is fine.
        let mut b = ResetCounter::default();
        for i in 0..3 * STORM_RESETS as u32 {
            b.count_reset(t0 + STORM_WINDOW * i / 4).unwrap();
        }
        assert_eq!(b.count, 3 * STORM_RESETS as u64);
    }
}
