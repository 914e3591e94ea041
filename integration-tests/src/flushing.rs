//! [`Flushing`]: the host's arch with one change: its [`Arch::flush_to_guest_ram`] also writes
//! [`MARKER`] into the last page of guest RAM, as an arch whose KVM keeps state in guest RAM
//! (the arm64 ITS tables) writes it there when asked. A snapshot or migration of a
//! `Flushing<HostArch>` VM shows whether the core calls the flush at the right point of its
//! stop-and-copy: the copy (a restored VM, a migration's destination, both plain `HostArch`) has
//! the marker only if the flush ran before the last pages were copied.
//!
//! Every other item delegates to the wrapped arch: a new `Arch` function with a default must be
//! delegated here too, or this arch would run the default instead.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryRegion};
use vmm_core::hypervisor::VcpuExit;
use vmm_core::memory::GuestRam;
use vmm_core::regs::RegTable;
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::{
    Arch, BuildContext, ExitAction, ExitContext, Payload, PlatformContext, VcpuContext, VmConfig,
};

/// The arch `A`, whose flush also writes [`MARKER`].
pub struct Flushing<A>(PhantomData<A>);

/// What [`Flushing`]'s flush writes.
pub const MARKER: &[u8] = b"tetra: written by Arch::flush_to_guest_ram";

/// How many flushes [`Flushing`] ran, over the process.
pub static FLUSHES: AtomicU64 = AtomicU64::new(0);

/// Where the marker goes: the start of the last host page of the last RAM region.
pub fn marker_addr(mem: &GuestRam) -> u64 {
    let m = mem.memory();
    let last = m.iter().last().expect("a VM has RAM");
    last.start_addr().0 + last.len() - vmm_core::memory::page_size()
}

/// Whether `mem` holds the marker.
pub fn has_marker(mem: &GuestRam) -> bool {
    let mut b = vec![0u8; MARKER.len()];
    mem.memory()
        .read_slice(&mut b, GuestAddress(marker_addr(mem)))
        .is_ok()
        && b == MARKER
}

fn exit_ctx<'a, A: Arch>(c: &ExitContext<'a, Flushing<A>>) -> ExitContext<'a, A> {
    ExitContext {
        id: c.id,
        config: c.config,
        layout: c.layout,
        vm: c.vm,
        memory: c.memory,
        platform: c.platform,
        exit: c.exit,
        vcpus: c.vcpus,
    }
}

fn build_ctx<'a, 'b, A: Arch>(c: &'b mut BuildContext<'a, Flushing<A>>) -> BuildContext<'b, A> {
    BuildContext {
        config: c.config,
        layout: c.layout,
        vm: c.vm,
        memory: c.memory,
        platform: c.platform,
        devices: c.devices,
        vcpus: &mut *c.vcpus,
    }
}

impl<A: Arch> Arch for Flushing<A> {
    const NAME: &'static str = A::NAME;
    const SYSCALLS: &'static vmm_core::sandbox::SyscallTable = A::SYSCALLS;
    type Error = A::Error;
    type Vm = A::Vm;
    type Vcpu = A::Vcpu;
    type Layout = A::Layout;
    type Platform = A::Platform;

    fn default_guest() -> Option<Payload> {
        A::default_guest()
    }

    fn layout(config: &VmConfig) -> Result<A::Layout, A::Error> {
        A::layout(config)
    }

    fn create_vm(config: &VmConfig, layout: &A::Layout) -> Result<A::Vm, A::Error> {
        A::create_vm(config, layout)
    }

    fn platform(c: &mut PlatformContext<'_, Self>) -> Result<A::Platform, A::Error> {
        A::platform(&mut PlatformContext {
            config: c.config,
            layout: c.layout,
            vm: c.vm,
            memory: c.memory,
            devices: &mut *c.devices,
            exit: c.exit,
            console: &mut *c.console,
        })
    }

    fn create_vcpu(c: &VcpuContext<'_, Self>) -> Result<A::Vcpu, A::Error> {
        A::create_vcpu(&VcpuContext {
            config: c.config,
            layout: c.layout,
            vm: c.vm,
            memory: c.memory,
            platform: c.platform,
            id: c.id,
        })
    }

    fn finish(c: &mut BuildContext<'_, Self>) -> Result<(), A::Error> {
        A::finish(&mut build_ctx(c))
    }

    fn load(c: &mut BuildContext<'_, Self>) -> Result<(), A::Error> {
        A::load(&mut build_ctx(c))
    }

    fn flush_to_guest_ram(
        vm: &A::Vm,
        platform: &A::Platform,
        memory: &GuestRam,
    ) -> Result<(), A::Error> {
        A::flush_to_guest_ram(vm, platform, memory)?;
        FLUSHES.fetch_add(1, Ordering::SeqCst);
        // The address is inside RAM by construction; a failed write shows as a missing marker.
        let _ = memory.write("the flush marker", marker_addr(memory), MARKER);
        Ok(())
    }

    fn register_table(vm: &A::Vm, vcpu: &A::Vcpu) -> Result<RegTable, A::Error> {
        A::register_table(vm, vcpu)
    }

    fn handle_exit(c: &ExitContext<'_, Self>, exit: VcpuExit<'_>) -> Result<ExitAction, A::Error> {
        A::handle_exit(&exit_ctx(c), exit)
    }

    fn exit_with_vcpu(
        c: &ExitContext<'_, Self>,
        vcpu: &mut A::Vcpu,
        tag: u64,
    ) -> Result<ExitAction, A::Error> {
        A::exit_with_vcpu(&exit_ctx(c), vcpu, tag)
    }

    fn vcpu_started(c: &ExitContext<'_, Self>, vcpu: &mut A::Vcpu) -> Result<ExitAction, A::Error> {
        A::vcpu_started(&exit_ctx(c), vcpu)
    }

    fn vcpu_woken(c: &ExitContext<'_, Self>, vcpu: &mut A::Vcpu) -> Result<ExitAction, A::Error> {
        A::vcpu_woken(&exit_ctx(c), vcpu)
    }

    const SNAPSHOT_MAGIC: Option<[u8; 8]> = A::SNAPSHOT_MAGIC;
    const VM_STATE_TAGS: &'static [[u8; 4]] = A::VM_STATE_TAGS;
    const DIRTY_LOG_REARM: bool = A::DIRTY_LOG_REARM;

    fn dirty_log_rearms_vcpus(platform: &A::Platform) -> bool {
        A::dirty_log_rearms_vcpus(platform)
    }

    fn dirty_log_rearmed(platform: &A::Platform, vcpu: &mut A::Vcpu) -> Result<(), A::Error> {
        A::dirty_log_rearmed(platform, vcpu)
    }

    fn save_vm_state(vm: &A::Vm, platform: &A::Platform) -> Result<Vec<Section>, A::Error> {
        A::save_vm_state(vm, platform)
    }

    fn restore_vm_state(
        vm: &A::Vm,
        platform: &A::Platform,
        snapshot: &Envelope,
    ) -> Result<(), A::Error> {
        A::restore_vm_state(vm, platform, snapshot)
    }

    fn save_vcpu_extra(vm: &A::Vm, vcpu: &A::Vcpu) -> Result<Vec<u8>, A::Error> {
        A::save_vcpu_extra(vm, vcpu)
    }

    fn restore_vcpu_extra(vm: &A::Vm, vcpu: &A::Vcpu, data: &[u8]) -> Result<(), A::Error> {
        A::restore_vcpu_extra(vm, vcpu, data)
    }

    fn vcpu_summary(vcpu: &A::Vcpu) -> String {
        A::vcpu_summary(vcpu)
    }
}
