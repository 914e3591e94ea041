//! The `Arch` trait: what every architecture supplies to the shared core (after crosvm's
//! `LinuxArch`). One context struct per call keeps the signatures stable as the core grows.

use crate::config::{Payload, VmConfig};
use crate::console::ConsoleSetup;
use crate::devices::{DeviceWindows, Devices, InterruptRouter, PlacedDevice};
use crate::exit::ExitNotifier;
use crate::hypervisor::{VcpuExit, VcpuOps, VmOps};
use crate::memory::GuestRam;
pub use crate::vcpu::VcpuWaker;
use std::sync::Arc;
use vm_memory::GuestAddress;

/// Whose fault an error is: the binary exits 2 for bad input and 4 for a failing host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad configuration or input: a usage error, a malformed kernel, RAM too small.
    Input,
    /// The host failed: no /dev/kvm, an ioctl error, out of memory.
    Host,
}

/// Errors that know whose fault they are.
pub trait Classify {
    /// Input or host.
    fn kind(&self) -> ErrorKind;
}

/// What the vCPU loop does after the arch handled an exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// Enter the guest again.
    Continue,
    /// This vCPU thread ends (the VM goes on unless an ending was recorded).
    Stop,
    /// The guest crashed: the VM ends with [`GuestExit::Crash`](crate::GuestExit::Crash), its
    /// message followed by [`Arch::vcpu_summary`].
    Crash(String),
    /// This vCPU waits outside the guest until another one wakes it through
    /// [`ExitContext::vcpus`] (a stopped secondary CPU, RTAS `stop-self`); then
    /// [`Arch::vcpu_woken`] runs on this vCPU's own thread.
    Park,
    /// The machine resets (an x86 triple fault with `--on-triple-fault reset`): this vCPU stays
    /// out of the guest while the VMM's thread pauses every vCPU, puts the VM back to its boot
    /// state and lets it run again ([`Vmm`](crate::Vmm)'s reset). The message says why.
    Reset(String),
    /// The arch needs the vCPU itself (its registers) to finish handling the exit: once the
    /// exit's borrow of `kvm_run` ends, [`Arch::exit_with_vcpu`] is called with this tag.
    WithVcpu(u64),
}

/// What every arch's layout tells the core: guest RAM and where devices may go.
pub trait MachineLayout: Send + Sync + 'static {
    /// Guest RAM regions (guest address, size).
    fn ram_regions(&self) -> Vec<(GuestAddress, usize)>;
    /// Where the device layer places devices.
    fn device_windows(&self) -> DeviceWindows;
}

/// Everything an arch needs while building its platform, before any vCPU exists.
pub struct PlatformContext<'a, A: Arch> {
    /// The VM's configuration.
    pub config: &'a VmConfig,
    /// The layout [`Arch::layout`] computed.
    pub layout: &'a A::Layout,
    /// The VM.
    pub vm: &'a Arc<A::Vm>,
    /// Guest RAM, already registered with KVM.
    pub memory: &'a GuestRam,
    /// The device layer: place devices here (their state is saved with snapshots).
    pub devices: &'a mut Devices,
    /// Ends the VM (for devices such as the debug exit or a reset port).
    pub exit: &'a ExitNotifier,
    /// The console to wire to the arch's UART or hypervisor console.
    pub console: &'a mut ConsoleSetup,
}

/// Everything an arch needs to create and initialise one vCPU (for a fresh boot and a restore
/// alike: the boot vCPU's entry state is [`Arch::load`]'s).
pub struct VcpuContext<'a, A: Arch> {
    /// The VM's configuration.
    pub config: &'a VmConfig,
    /// The layout.
    pub layout: &'a A::Layout,
    /// The VM.
    pub vm: &'a Arc<A::Vm>,
    /// Guest RAM.
    pub memory: &'a GuestRam,
    /// The platform the arch built in [`Arch::platform`].
    pub platform: &'a A::Platform,
    /// The vCPU index (0 is the boot vCPU).
    pub id: u32,
}

/// Everything [`Arch::finish`] and [`Arch::load`] see: the whole VM before it first runs.
pub struct BuildContext<'a, A: Arch> {
    /// The VM's configuration.
    pub config: &'a VmConfig,
    /// The layout.
    pub layout: &'a A::Layout,
    /// The VM.
    pub vm: &'a Arc<A::Vm>,
    /// Guest RAM.
    pub memory: &'a GuestRam,
    /// The platform.
    pub platform: &'a A::Platform,
    /// The placed devices, for the firmware description.
    pub devices: &'a [PlacedDevice],
    /// Every vCPU, in index order.
    pub vcpus: &'a mut [A::Vcpu],
}

/// Everything an arch sees while handling an exit the core does not handle itself.
pub struct ExitContext<'a, A: Arch> {
    /// The vCPU index.
    pub id: u32,
    /// The VM's configuration.
    pub config: &'a VmConfig,
    /// The layout.
    pub layout: &'a A::Layout,
    /// The VM.
    pub vm: &'a A::Vm,
    /// Guest RAM.
    pub memory: &'a GuestRam,
    /// The platform.
    pub platform: &'a A::Platform,
    /// Ends the VM.
    pub exit: &'a ExitNotifier,
    /// Wakes parked vCPUs and tells which are parked.
    pub vcpus: VcpuWaker<'a>,
}

/// One architecture's half of a VM.
pub trait Arch: Sized + 'static {
    /// The arch's name as the CLI spells it (`x86_64`, `arm64`, `ppc64`, `booke`).
    const NAME: &'static str;
    /// The host ABI the seccomp filters of tetra's threads are built for (the arch crate's
    /// `seccomp.rs`).
    const SYSCALLS: &'static crate::sandbox::SyscallTable;
    /// The arch's error type.
    type Error: std::error::Error + Classify + Send + Sync + 'static;
    /// The backend VM.
    type Vm: VmOps + 'static;
    /// The backend vCPU; its registers are reachable through the arch's register table.
    type Vcpu: VcpuOps + crate::regs::VcpuRegs + 'static;
    /// The guest-physical map, computed once by [`Arch::layout`].
    type Layout: MachineLayout;
    /// Per-VM arch state shared with the vCPU threads (interrupt controller, boot state).
    type Platform: Send + Sync + 'static;

    /// The guest booted when no kernel is given, built into the binary.
    fn default_guest() -> Option<Payload>;

    /// The guest-physical map for `config`: RAM, device windows, interrupt ranges. Computed once;
    /// every later phase receives it.
    fn layout(config: &VmConfig) -> Result<Self::Layout, Self::Error>;

    /// Opens the hypervisor and creates an empty VM for `layout`.
    fn create_vm(config: &VmConfig, layout: &Self::Layout) -> Result<Self::Vm, Self::Error>;

    /// Builds the platform: interrupt controller, devices, console wiring. Writes nothing into
    /// guest RAM (a restore keeps the snapshot's).
    fn platform(ctx: &mut PlatformContext<'_, Self>) -> Result<Self::Platform, Self::Error>;

    /// How the platform routes device interrupts, for the devices vmm-core adds itself (virtio);
    /// `None` while the arch has no interrupt controller to route them to (vmm-core then refuses
    /// such devices by name).
    fn interrupt_router(_platform: &Self::Platform) -> Option<&dyn InterruptRouter> {
        None
    }

    /// The platform's PCI host bridge and MSI router, for virtio-pci devices (`--transport pci`);
    /// `None` where the arch has none (vmm-core then refuses the transport by name).
    fn pci(_platform: &Self::Platform) -> Option<&crate::devices::pci::PciHost> {
        None
    }

    /// Creates vCPU `ctx.id` with the state every vCPU starts from (fresh or restored).
    fn create_vcpu(ctx: &VcpuContext<'_, Self>) -> Result<Self::Vcpu, Self::Error>;

    /// Runs once every vCPU exists, for a fresh boot and a restore alike: what needs them all
    /// (arm64 initialises its GIC here).
    fn finish(_ctx: &mut BuildContext<'_, Self>) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A fresh boot only, after [`Arch::finish`]: loads the kernel and its boot data (device tree,
    /// ACPI tables, boot parameters) into guest RAM and sets the boot vCPU's entry state. A
    /// restore never calls it.
    fn load(ctx: &mut BuildContext<'_, Self>) -> Result<(), Self::Error>;

    /// Whether [`Self::dirty_log_rearmed`] has work on this platform: only then does a re-arm
    /// visit every vCPU's thread. False by default.
    fn dirty_log_rearms_vcpus(_platform: &Self::Platform) -> bool {
        false
    }

    /// Runs on each vCPU's thread, with every vCPU out of the guest, after the dirty log was armed
    /// again ([`Arch::DIRTY_LOG_REARM`]): an arch whose KVM logs only the writes that fault
    /// drops the writable mappings it made before (KVM-PR's shadow MMU). Nothing by default.
    fn dirty_log_rearmed(
        _platform: &Self::Platform,
        _vcpu: &mut Self::Vcpu,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Writes state that KVM keeps for the guest into guest RAM (the arm64 ITS tables, ...), with
    /// every vCPU paused, before the final dirty harvest of a snapshot or a migration: pages
    /// written here reach the copy.
    fn flush_to_guest_ram(
        _vm: &Self::Vm,
        _platform: &Self::Platform,
        _memory: &GuestRam,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The register table of this VM's vCPUs: the arch's static table plus what the kernel
    /// reports at run time (x86 MSRs, arm64 `KVM_GET_REG_LIST`).
    fn register_table(
        vm: &Self::Vm,
        vcpu: &Self::Vcpu,
    ) -> Result<crate::regs::RegTable, Self::Error>;

    /// Handles an exit that is not port I/O or MMIO.
    fn handle_exit(
        ctx: &ExitContext<'_, Self>,
        exit: VcpuExit<'_>,
    ) -> Result<ExitAction, Self::Error>;

    /// Finishes an exit for which [`Arch::handle_exit`] returned [`ExitAction::WithVcpu`].
    fn exit_with_vcpu(
        _ctx: &ExitContext<'_, Self>,
        _vcpu: &mut Self::Vcpu,
        tag: u64,
    ) -> Result<ExitAction, Self::Error> {
        Ok(ExitAction::Crash(format!(
            "the arch asked for the vCPU (tag {tag}) but does not handle it"
        )))
    }

    /// Runs on the vCPU's thread before its first entry: return [`ExitAction::Park`] for a vCPU
    /// that starts stopped.
    fn vcpu_started(
        _ctx: &ExitContext<'_, Self>,
        _vcpu: &mut Self::Vcpu,
    ) -> Result<ExitAction, Self::Error> {
        Ok(ExitAction::Continue)
    }

    /// Runs on a parked vCPU's own thread after another vCPU woke it: set the state it resumes
    /// with (an RTAS `start-cpu` entry point, say).
    fn vcpu_woken(
        _ctx: &ExitContext<'_, Self>,
        _vcpu: &mut Self::Vcpu,
    ) -> Result<ExitAction, Self::Error> {
        Ok(ExitAction::Continue)
    }

    /// The register blocks (ids of the arch's [`crate::regs::RegBlock`]s) that every application
    /// processor (each vCPU but the first) has alike before the VM first runs, as KVM creates it
    /// and [`Arch::create_vcpu`] builds it. A fresh boot's boot state ([`crate::Vmm::new`]) takes
    /// these blocks of the third and later vCPUs from the second's, and reads only their other
    /// registers ([`crate::Vmm::save_vcpus_at_boot`]). Empty (the default): each vCPU is read
    /// whole.
    const AP_BOOT_ALIKE_BLOCKS: &'static [u8] = &[];

    /// Whether the platform can suspend to RAM (ACPI S3 on x86): a fresh boot then captures the
    /// vCPUs' and devices' boot state ([`crate::Vmm::new`]), which a wake resets them to.
    const SUSPEND_TO_RAM: bool = false;

    /// While the VM is suspended: when its armed wake source fires (the x86 RTC alarm, with the
    /// PM1 RTC_EN and the RTC's AIE set), in wall-clock time; `None` while none is armed (the VM
    /// then sleeps until it is ended). Called on the VMM's thread, vCPUs parked.
    fn wake_time(_platform: &Self::Platform) -> Option<std::time::SystemTime> {
        None
    }

    /// A wake: records it in the devices (x86: PM1 WAK_STS; for the alarm, RTC_STS and the RTC's
    /// register C), after they were reset. The vCPUs are parked.
    fn woken(_platform: &Self::Platform, _reason: crate::exit::WakeReason) {}

    /// Whether the guest has a power button the host can press ([`Self::press_power_button`]:
    /// x86's ACPI fixed-feature button, arm64's GPIO key, ppc64's EPOW event). Without one,
    /// `PUT /vm/shutdown`, QMP `system_powerdown` and `tetra ctl powerdown` are refused
    /// (HTTP 501).
    const POWER_BUTTON: bool = false;

    /// Presses the guest's power button (only called when [`Self::POWER_BUTTON`]): the guest's
    /// interrupt, if it enabled it. Called on the VMM's thread, the vCPUs running; a press while
    /// suspended to RAM is a wake instead ([`crate::WakeReason::PowerButton`]).
    fn press_power_button(_platform: &Self::Platform) {}

    /// How long a press holds the button down before the VMM's thread releases it
    /// ([`Self::release_power_button`]): arm64's GPIO key is a level the guest samples after its
    /// debounce delay (100 ms, as QEMU's `gpio-key`). `None`: a press is an event with nothing to
    /// release (x86's status bit, ppc64's EPOW log).
    const POWER_BUTTON_HOLD: Option<std::time::Duration> = None;

    /// Releases the button [`Self::press_power_button`] pressed, [`Self::POWER_BUTTON_HOLD`]
    /// later (on the VMM's thread, the vCPUs running or paused).
    fn release_power_button(_platform: &Self::Platform) {}

    /// A wake: puts the boot vCPU, just reset to its boot state, where the guest's firmware
    /// interface says a wake resumes (x86: the FACS waking vector), on its own thread. Returns
    /// false when the guest left no place to resume at (a zero waking vector): the wake is then
    /// a machine reset.
    fn wake_vcpu(_memory: &GuestRam, _vcpu: &mut Self::Vcpu) -> Result<bool, Self::Error> {
        Ok(false)
    }

    /// Whether the arch takes `--cpu-template` ([`crate::VmConfig::cpu_template`]); vmm-core
    /// refuses a template for an arch that does not, before any KVM call.
    const CPU_TEMPLATES: bool = false;

    /// The magic of this arch's snapshots, or `None` while it cannot snapshot yet (vmm-core then
    /// refuses to snapshot or migrate rather than lose state).
    const SNAPSHOT_MAGIC: Option<[u8; 8]> = None;

    /// Whether KVM's dirty log can miss guest writes made after a harvest cleared it, so that
    /// each harvest must be made with the vCPUs out of the guest and be followed by switching
    /// every slot's logging off and on again. ppc64: KVM-HV radix clears a page's change bit and
    /// relies on a TLB invalidation to see the next write; a nested host whose hypervisor does
    /// not invalidate the running guest's TLB (QEMU's nested-HV does it only when a vCPU leaves
    /// or enters the guest) loses those writes. Switching the log re-arms it: KVM-HV unmaps the
    /// slot, and every later write faults and is logged. Costs a short pause per pre-copy round.
    const DIRTY_LOG_REARM: bool = false;

    /// Tags of the sections [`Arch::save_vm_state`] writes (a restore refuses unknown ones).
    const VM_STATE_TAGS: &'static [[u8; 4]] = &[];

    /// VM-wide arch state (interrupt controller, timers, clock), taken while paused.
    fn save_vm_state(
        _vm: &Self::Vm,
        _platform: &Self::Platform,
    ) -> Result<Vec<crate::snapshot::Section>, Self::Error> {
        Ok(Vec::new())
    }

    /// Restores what [`Arch::save_vm_state`] saved, after the vCPUs' extra state and before their
    /// registers.
    fn restore_vm_state(
        _vm: &Self::Vm,
        _platform: &Self::Platform,
        _snapshot: &crate::snapshot::Envelope,
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// Arch state the guest changes while it runs, outside guest RAM and so outside the dirty
    /// log (ppc64: a KVM-PR guest's hash table, in tetra's memory), sent during a migration's
    /// pre-copy as memory is: everything in the first round, then each round what changed
    /// ([`PrecopyPass`]). The section goes in an ARCH frame, which the destination gives to
    /// [`Arch::apply_precopy_state`]; the [`PrecopyPass::Final`] section replaces the section of
    /// the same tag in the final state, so that the guest's pause carries only the last changes.
    /// `None`: nothing to send (the default: the arch has no such state).
    fn precopy_state(
        _vm: &Self::Vm,
        _platform: &Self::Platform,
        _pass: PrecopyPass,
    ) -> Result<Option<crate::snapshot::Section>, Self::Error> {
        Ok(None)
    }

    /// At a migration's destination, before the final state: applies one section that
    /// [`Arch::precopy_state`] sent, in stream order. Returns false for a section this arch
    /// does not take during pre-copy (the default), which vmm-core refuses by name.
    fn apply_precopy_state(
        _vm: &Self::Vm,
        _platform: &Self::Platform,
        _section: &crate::snapshot::Section,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    /// Per-vCPU state outside the register table (x86: CPUID), on the vCPU's thread.
    fn save_vcpu_extra(_vm: &Self::Vm, _vcpu: &Self::Vcpu) -> Result<Vec<u8>, Self::Error> {
        Ok(Vec::new())
    }

    /// Restores [`Arch::save_vcpu_extra`]'s bytes, before the vCPU's registers.
    fn restore_vcpu_extra(
        _vm: &Self::Vm,
        _vcpu: &Self::Vcpu,
        _data: &[u8],
    ) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A one-line register summary of a vCPU (program counter, mode), for crash reports.
    fn vcpu_summary(_vcpu: &Self::Vcpu) -> String {
        String::new()
    }
}

/// Which pass of a migration's pre-copy [`Arch::precopy_state`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrecopyPass {
    /// The first round, the guest running: all of the state; tracking of changes starts.
    First,
    /// A later round, the guest running: what changed since the last pass.
    Changes,
    /// Stop-and-copy, the vCPUs paused: what changed since the last pass; tracking ends.
    Final,
    /// The migration failed: tracking ends, nothing is sent.
    Cancel,
}
