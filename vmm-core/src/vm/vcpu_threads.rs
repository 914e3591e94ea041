//! The vCPU threads. The boot vCPU's is made before the VM: it enters its sandbox while the
//! VMM's thread creates the VM and its vCPUs, and then waits for its vCPU, which
//! [`super::Vmm::start`] hands it. The others are made at the start, once the boot vCPU runs.
//!
//! A thread's creation and its seccomp filter (the kernel compiles it; on a nested host that
//! costs IPIs) take a few hundred microseconds. Made at the start of the build, they run beside
//! `KVM_CREATE_VM`, the memory slot, the irqchip and `KVM_GET_SUPPORTED_CPUID` on another host
//! CPU, and not between the built VM and vCPU 0's first `KVM_RUN` (issue 19). The other vCPUs'
//! threads are not made early: on a host with few CPUs, their filters would compete with the
//! build for them (measured: 8 vCPUs on 2 host CPUs start later so). An application processor
//! runs only once the guest sends it a SIPI, which waits in KVM until its thread runs it.
//!
//! A thread whose VM never starts (a build that fails, a VM dropped unstarted) sees its hand-off
//! closed and ends; [`Waiting`]'s drop joins it.

use super::VmmError;
use crate::arch::Arch;
use crate::sandbox::{Sandbox, ThreadKind};
use crate::vcpu::{run_vcpu, Shared};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a vCPU thread is handed: its vCPU and the VM's shared state.
type Handoff<A> = (<A as Arch>::Vcpu, Arc<Shared<A>>);

/// Spawns the thread of vCPU `id`: it enters the vCPU sandbox, then runs the vCPU `rx` brings
/// (or ends if none comes).
fn spawn<A: Arch>(
    id: u32,
    sandbox: Sandbox,
    rx: Receiver<Handoff<A>>,
) -> Result<JoinHandle<()>, VmmError> {
    std::thread::Builder::new()
        .name(format!("vcpu{id}"))
        .spawn(move || {
            sandbox.enter_or_exit(ThreadKind::Vcpu);
            if let Ok((vcpu, sh)) = rx.recv() {
                run_vcpu::<A>(vcpu, id, sh);
            }
        })
        .map_err(|source| VmmError::Host {
            what: "spawning a vCPU thread",
            source,
        })
}

/// The boot vCPU's thread, in its sandbox, waiting for its vCPU; the VM is not started yet.
pub(super) struct Waiting<A: Arch> {
    sandbox: Sandbox,
    handoff: Option<SyncSender<Handoff<A>>>,
    thread: Option<JoinHandle<()>>,
}

impl<A: Arch> Waiting<A> {
    /// Spawns the boot vCPU's thread, `vcpu0`.
    pub(super) fn spawn(sandbox: Sandbox) -> Result<Self, VmmError> {
        let (tx, rx) = sync_channel::<Handoff<A>>(1);
        let thread = spawn::<A>(0, sandbox, rx)?;
        Ok(Waiting {
            sandbox,
            handoff: Some(tx),
            thread: Some(thread),
        })
    }

    /// Hands vCPU 0 of `vcpus` to the waiting thread and spawns one thread for each other
    /// vCPU, each running its vCPU; moves the threads to `threads` (for the VM's stop to kick
    /// and join), whatever the outcome.
    pub(super) fn start(
        mut self,
        vcpus: Vec<A::Vcpu>,
        sh: &Arc<Shared<A>>,
        threads: &mut Vec<JoinHandle<()>>,
    ) -> Result<(), VmmError> {
        threads.extend(self.thread.take());
        for (id, vcpu) in vcpus.into_iter().enumerate() {
            sh.control.thread_started(id);
            let sent = match id {
                0 => self
                    .handoff
                    .take()
                    .is_some_and(|tx| tx.send((vcpu, sh.clone())).is_ok()),
                _ => {
                    let (tx, rx) = sync_channel::<Handoff<A>>(1);
                    let sent = tx.send((vcpu, sh.clone())).is_ok();
                    match spawn::<A>(id as u32, self.sandbox, rx) {
                        Ok(t) => threads.push(t),
                        Err(e) => {
                            sh.control.thread_ended(id);
                            return Err(e);
                        }
                    }
                    sent
                }
            };
            if !sent {
                // The boot vCPU's thread ends unhanded only after its sandbox failed, which
                // ends the process; counted as ended all the same.
                sh.control.thread_ended(id);
                return Err(VmmError::State("a vCPU thread ended before its vCPU came"));
            }
        }
        Ok(())
    }
}

impl<A: Arch> Drop for Waiting<A> {
    fn drop(&mut self) {
        // A closed hand-off ends the thread if it still waits.
        self.handoff = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
