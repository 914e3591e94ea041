//! A VM's lifecycle: build, start, pause, resume, run to its end, stop.

use crate::arch::{Arch, BuildContext, MachineLayout, PlatformContext, VcpuContext};
use crate::config::{Payload, VmConfig};
use crate::console::{ConsoleSetup, ConsoleSink};
use crate::control::status::RunState;
use crate::devices::Devices;
use crate::event_loop::{ConsoleIn, EventLoop, ExitWatch};
use crate::exit::{ExitNotifier, GuestExit};
use crate::hypervisor::VmOps;
use crate::memory::GuestRam;
use crate::vcpu::{install_kick_handler, kick_signal, RunControl, Shared};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vmm_sys_util::signal::Killable;

mod dirty_log;
mod error;
mod requests;
mod reset;
mod sleep;
mod vcpu_threads;

pub use error::{ArchFailure, VmmError};
pub use reset::{ResetError, STORM_RESETS, STORM_WINDOW};
pub use sleep::SleepError;

/// How the VMM's host side is wired.
#[derive(Clone)]
pub struct VmmOptions {
    /// Where guest console output goes.
    pub console: ConsoleSink,
    /// Feed the process's stdin to the guest console.
    pub stdin: bool,
    /// Serve a control socket at this path.
    pub api_socket: Option<std::path::PathBuf>,
    /// Share the request queue and status model with a control server on another thread (the
    /// QMP server, [`crate::control::qmp::Qmp::link`]); without one the VM has its own.
    pub link: Option<crate::control::Link>,
    /// How migrations requested on the control socket run.
    pub migrate: crate::migration::MigrateOptions,
    /// What a syscall outside a thread's seccomp allow-list does ([`crate::sandbox`]): the
    /// threads the VM starts (vCPUs, the device worker, the console output, a lazy memory check)
    /// install their filters themselves; the caller's own thread only through
    /// [`Vmm::enter_sandbox`].
    pub seccomp: crate::sandbox::SeccompMode,
    /// The sandbox's test hook ([`crate::sandbox::Sandbox::probe`]).
    pub seccomp_probe: Option<crate::sandbox::ThreadKind>,
}

impl Default for VmmOptions {
    fn default() -> Self {
        VmmOptions {
            console: ConsoleSink::Stdout,
            stdin: true,
            api_socket: None,
            link: None,
            migrate: crate::migration::MigrateOptions::default(),
            seccomp: crate::sandbox::SeccompMode::default(),
            seccomp_probe: None,
        }
    }
}

/// Lifecycle states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmState {
    /// Built, vCPUs not started.
    Created,
    /// vCPUs running.
    Running,
    /// vCPUs parked outside `KVM_RUN`.
    Paused,
    /// vCPUs stopped and joined.
    Stopped,
}

/// A VM of arch `A`.
pub struct Vmm<A: Arch> {
    /// The request queue and status model the control sockets share.
    link: crate::control::Link,
    migrate_options: crate::migration::MigrateOptions,
    /// What the control socket's `config` answers ([`Vmm::set_description`]).
    description: Option<String>,
    /// The last migration started here, for the control socket's `GET /vm/migration`.
    last_migration: Option<requests::MigrationRecord>,
    dirty: Option<crate::dirty::DirtyLog>,
    shared: Arc<Shared<A>>,
    vcpus: Vec<A::Vcpu>,
    /// The boot vCPU's thread until [`Vmm::start`] hands it its vCPU.
    waiting: Option<vcpu_threads::Waiting<A>>,
    threads: Vec<JoinHandle<()>>,
    events: EventLoop,
    state: VmState,
    /// The lazy check of the memory file a restored VM runs on.
    memory_check: Option<crate::snapshot::verify::MemoryCheck>,
    /// The disk images, for the lock hand-off of a migration on one host.
    disks: Vec<Arc<crate::devices::virtio::block::Disk>>,
    /// The TAP interfaces' queues, for the queue hand-off of a migration on one host.
    taps: Vec<Arc<std::fs::File>>,
    /// The seccomp filters of this VM's threads.
    sandbox: crate::sandbox::Sandbox,
    /// What a machine reset goes back to (`--on-triple-fault reset`), and the resets so far.
    boot: Option<reset::BootState>,
    /// Suspended to RAM (ACPI S3): the vCPUs are parked until a wake source fires.
    asleep: Option<sleep::Asleep>,
    /// Wakes from a suspend to RAM so far.
    wakes: u64,
    /// When the power button a press holds down is released ([`Arch::POWER_BUTTON_HOLD`]).
    pub(crate) button_release: Option<Instant>,
}

/// [`Origin`] without its data.
#[derive(Clone, Copy)]
enum OriginKind {
    Boot,
    Restore,
    Incoming,
}

/// Where a VM's memory and state come from.
pub(crate) enum Origin {
    /// A fresh boot: a kernel is loaded.
    Boot,
    /// A snapshot: RAM is its memory file's mapping.
    Restore(crate::memory::GuestMemoryMmap),
    /// A migration stream: fresh RAM the stream fills.
    Incoming,
}

/// How long a pause that tetra takes on its own (for a snapshot, a migration's stop-and-copy, a
/// control-socket request) waits for the vCPUs to leave the guest before it gives up and lets the
/// VM run on. Leaving takes microseconds; only a vCPU the kernel never lets go reaches it.
pub const PAUSE_LIMIT: Duration = Duration::from_secs(10);

pub use crate::config::MAX_CPUS;

impl<A: Arch> Vmm<A> {
    /// Lets every disk image's lock go: a migration's source, paused for good, hands the images
    /// to its destination.
    pub(crate) fn release_disk_locks(&self) {
        for d in &self.disks {
            d.release_lock();
        }
    }

    /// Takes every disk image's lock, waiting `wait` at most for each (a migration's
    /// destination at the hand-off; a source whose migration failed after it let them go).
    pub(crate) fn take_disk_locks(
        &self,
        wait: Duration,
    ) -> Result<(), crate::devices::virtio::block::DiskError> {
        self.disks.iter().try_for_each(|d| d.take_lock(wait))
    }

    /// Puts every TAP queue of a migration's destination (detached since it was opened) back
    /// into the kernel's choice, at the hand-off: frames for the guest come here from now on. A
    /// queue that cannot be attached is reported, and the VM goes on (its source has stopped).
    pub(crate) fn attach_tap_queues(&self) {
        for (t, c) in self.taps.iter().zip(&self.shared.config.virtio.nets) {
            if let Err(e) = crate::devices::virtio::net::tap::set_queue(t, true) {
                // EINVAL: a single-queue interface (never detached) or a queue already attached.
                if e.raw_os_error() != Some(libc::EINVAL) {
                    eprintln!(
                        "tetra: warning: attaching this VM's queue of the TAP interface {}: {e}",
                        c.tap
                    );
                }
            }
        }
    }

    /// Builds the VM: KVM VM, guest RAM, platform, kernel, vCPUs. Nothing runs yet.
    pub fn new(config: VmConfig, options: VmmOptions) -> Result<Self, VmmError> {
        let reset = config.on_triple_fault == crate::config::OnTripleFault::Reset;
        let mut vmm = Self::build(config, options, Origin::Boot)?;
        // A wake from S3 resets the vCPUs and devices too (not the payload: RAM is kept).
        if reset || A::SUSPEND_TO_RAM {
            vmm.capture_boot_state(reset)?;
        }
        Ok(vmm)
    }

    /// Builds a VM in the [`Arch`] phases: layout, VM, guest RAM, platform, vCPUs, finish, and
    /// for a fresh boot the kernel ([`Arch::load`]). A restored or incoming VM gets its memory
    /// and state from its origin; the caller applies the state before starting it.
    pub(crate) fn build(
        mut config: VmConfig,
        options: VmmOptions,
        origin: Origin,
    ) -> Result<Self, VmmError> {
        config
            .check_limits()
            .map_err(|e| VmmError::Config(e.to_string()))?;
        let origin_kind = match &origin {
            Origin::Boot => OriginKind::Boot,
            Origin::Restore(_) => OriginKind::Restore,
            Origin::Incoming => OriginKind::Incoming,
        };
        let (boot, restored) = match origin {
            Origin::Boot => (true, None),
            Origin::Restore(map) => (false, Some(map)),
            Origin::Incoming => (false, None),
        };
        // A fresh boot reads its payload files here, once: bad input is reported before the
        // hypervisor is touched, and the arch loads the bytes without opening the files again.
        // The configuration keeps naming the files (the original payloads go back after the
        // load).
        let mut files = None;
        if boot {
            if config.kernel.is_none() {
                config.kernel = A::default_guest();
            }
            let mut originals = (None, None);
            for (p, original) in [
                (&mut config.kernel, &mut originals.0),
                (&mut config.initrd, &mut originals.1),
            ] {
                if let Some(bytes) = p.as_ref().map(Payload::loaded).transpose()?.flatten() {
                    *original = p.replace(bytes);
                }
            }
            files = Some(originals);
        }
        // The disk images are the user's input too: opened and locked before anything else.
        // The configuration then records them absolute, so that a snapshot or a migration finds
        // them from any directory.
        // A migration's destination may find its images locked by the source on this host: it
        // takes the locks at the hand-off, before it says READY.
        let backends = crate::devices::virtio::Backends::open(
            &config.virtio,
            matches!(origin_kind, OriginKind::Incoming),
        )?;
        for (c, d) in config.virtio.disks.iter_mut().zip(backends.disks()) {
            c.path = d.path().to_path_buf();
        }
        let disks = backends.shared_disks();
        let taps = backends.shared_taps();
        if matches!(origin_kind, OriginKind::Incoming) {
            // A migration's destination takes no frames before the hand-off: on the same host
            // its source's queue of each interface gets them all meanwhile. (A single-queue
            // interface refuses; its queue stays attached.)
            for t in &taps {
                let _ = crate::devices::virtio::net::tap::set_queue(t, false);
            }
        }
        let sandbox = crate::sandbox::Sandbox {
            mode: options.seccomp,
            table: A::SYSCALLS,
            probe: options.seccomp_probe,
        };
        // Each thread compiles its kind's program as it enters the sandbox, the boot vCPU's and
        // the console-out thread beside this one's build: every list resolves against every
        // arch's syscall table (`cargo test -p abi-check`), so none fails here at run time.
        install_kick_handler().map_err(|e| VmmError::Host {
            what: "installing the vCPU kick handler",
            source: std::io::Error::from_raw_os_error(e.errno()),
        })?;
        // The boot vCPU's thread enters its sandbox while the VM is made.
        let waiting = vcpu_threads::Waiting::<A>::spawn(sandbox)?;

        if let (Some(t), false) = (&config.cpu_template, A::CPU_TEMPLATES) {
            return Err(VmmError::Config(format!(
                "--cpu-template {t}: {} has no CPU templates",
                A::NAME
            )));
        }
        let layout = A::layout(&config).map_err(VmmError::arch)?;
        let vm = Arc::new(A::create_vm(&config, &layout).map_err(VmmError::arch)?);
        let max = vm.max_vcpus();
        if config.cpus > max {
            return Err(VmmError::Config(format!(
                "--cpus {}: KVM allows at most {max} vCPUs here",
                config.cpus
            )));
        }
        let ram = layout.ram_regions();
        let memory = match restored {
            None => GuestRam::new(&ram)?,
            Some(map) => {
                use vm_memory::{Address, GuestMemoryBackend, GuestMemoryRegion};
                let got: Vec<(u64, u64)> = map
                    .iter()
                    .map(|r| (r.start_addr().raw_value(), r.len()))
                    .collect();
                let want: Vec<(u64, u64)> = ram.iter().map(|(a, s)| (a.0, *s as u64)).collect();
                if got != want {
                    return Err(VmmError::Config(format!(
                        "the snapshot's memory layout {got:x?} is not what {} MiB gives here ({want:x?})",
                        config.mem_mib
                    )));
                }
                GuestRam::from_map(map)
            }
        };
        let memory = Arc::new(memory);
        memory.register(&*vm)?;

        let exit = ExitNotifier::new().map_err(|source| VmmError::Host {
            what: "creating the exit eventfd",
            source,
        })?;
        let mut console =
            ConsoleSetup::new(options.console.clone()).map_err(|source| VmmError::Host {
                what: "creating the console eventfd",
                source,
            })?;
        if let ConsoleSink::Stdout = options.console {
            // The console-out thread starts here, under its filter, and not later from a
            // filtered vCPU thread.
            crate::console::start_stdout_writer(Some(sandbox));
        }
        let mut devices = Devices::new(&layout.device_windows())?;
        devices.set_sandbox(sandbox);
        let platform = A::platform(&mut PlatformContext {
            config: &config,
            layout: &layout,
            vm: &vm,
            memory: &memory,
            devices: &mut devices,
            exit: &exit,
            console: &mut console,
        })
        .map_err(VmmError::arch)?;
        if config.virtio.any() {
            let router = A::interrupt_router(&platform).ok_or_else(|| {
                VmmError::Config(format!(
                    "virtio devices need an interrupt controller, and {} has none yet",
                    A::NAME
                ))
            })?;
            let pci = match config.virtio.transport {
                crate::config::Transport::Mmio => None,
                crate::config::Transport::Pci => Some(A::pci(&platform).ok_or_else(|| {
                    VmmError::Config(format!(
                        "the pci transport needs a PCI host bridge, and {} has none yet",
                        A::NAME
                    ))
                })?),
            };
            let vm_ops: Arc<dyn crate::hypervisor::VmOps> = vm.clone();
            crate::devices::virtio::attach(
                &mut devices,
                router,
                pci,
                &vm_ops,
                &memory,
                &mut console,
                backends,
            )?;
        }

        let mut vcpus = Vec::with_capacity(config.cpus as usize);
        for id in 0..config.cpus {
            let ctx = VcpuContext::<A> {
                config: &config,
                layout: &layout,
                vm: &vm,
                memory: &memory,
                platform: &platform,
                id,
            };
            vcpus.push(A::create_vcpu(&ctx).map_err(VmmError::arch)?);
        }
        let mut build = BuildContext::<A> {
            config: &config,
            layout: &layout,
            vm: &vm,
            memory: &memory,
            platform: &platform,
            devices: devices.list(),
            vcpus: &mut vcpus,
        };
        A::finish(&mut build).map_err(VmmError::arch)?;
        if boot {
            A::load(&mut build).map_err(VmmError::arch)?;
        }
        if let Some((kernel, initrd)) = files {
            for (p, original) in [(&mut config.kernel, kernel), (&mut config.initrd, initrd)] {
                if original.is_some() {
                    *p = original;
                }
            }
        }

        let mut events = EventLoop::new()?;
        events.add(Box::new(ExitWatch::new(exit.clone())));
        let link = match options.link.clone() {
            Some(l) => l,
            None => crate::control::Link::new(crate::control::status::Status::default()).map_err(
                |source| VmmError::Host {
                    what: "creating the control bell",
                    source,
                },
            )?,
        };
        link.status.set_machine(crate::control::status::Machine {
            arch: A::NAME,
            cpus: config.cpus,
            ram_bytes: config.mem_mib << 20,
        });
        events.add(Box::new(crate::event_loop::BellWatch::new(
            link.bell.clone(),
        )));
        if let Some(path) = &options.api_socket {
            let server = crate::control::ControlServer::bind(path, link.queue.clone())
                .map_err(|e| VmmError::Control(Box::new(e)))?;
            events.add(Box::new(server));
        }
        if let (true, Some(input)) = (options.stdin, console.input.clone()) {
            events.add(Box::new(ConsoleIn::new(input, console.space.clone(), 0)));
        }

        let shared = Arc::new(Shared {
            vm,
            memory,
            devices,
            layout,
            platform,
            exit,
            config,
            control: RunControl::new(vcpus.len()),
        });
        Ok(Vmm {
            link,
            migrate_options: options.migrate.clone(),
            description: None,
            last_migration: None,
            dirty: None,
            shared,
            vcpus,
            waiting: Some(waiting),
            threads: Vec::new(),
            events,
            state: VmState::Created,
            memory_check: None,
            disks,
            taps,
            sandbox,
            boot: None,
            asleep: None,
            wakes: 0,
            button_release: None,
        })
    }

    fn buses_mut(&mut self) -> Result<&mut Shared<A>, VmmError> {
        Arc::get_mut(&mut self.shared).ok_or(VmmError::State(
            "devices can only be added before the VM starts",
        ))
    }

    /// Maps an extra device on the MMIO bus. Only before [`Vmm::start`].
    pub fn add_mmio_device(
        &mut self,
        base: u64,
        len: u64,
        device: crate::bus::SharedDevice,
    ) -> Result<(), VmmError> {
        Ok(self.buses_mut()?.devices.insert_mmio(base, len, device)?)
    }

    /// Maps an extra device on the port-I/O bus. Only before [`Vmm::start`].
    pub fn add_pio_device(
        &mut self,
        base: u64,
        len: u64,
        device: crate::bus::SharedDevice,
    ) -> Result<(), VmmError> {
        Ok(self.buses_mut()?.devices.insert_pio(base, len, device)?)
    }

    /// Starts one thread per vCPU.
    pub fn start(&mut self) -> Result<(), VmmError> {
        if self.state != VmState::Created {
            return Err(VmmError::State("the VM was already started"));
        }
        let waiting = self
            .waiting
            .take()
            .ok_or(VmmError::State("the vCPU threads are gone"))?;
        let vcpus = std::mem::take(&mut self.vcpus);
        let r = waiting.start(vcpus, &self.shared, &mut self.threads);
        self.state = VmState::Running;
        self.link.status.set_run(RunState::Running);
        r
    }

    fn kick_all(&self) {
        for t in &self.threads {
            // ESRCH: the thread already left; nothing to kick.
            let _ = t.kill(kick_signal());
        }
    }

    /// Parks every vCPU outside `KVM_RUN`; returns once all are parked.
    pub fn pause(&mut self) -> Result<(), VmmError> {
        self.pause_within(None)
    }

    /// Like [`Vmm::pause`], but gives up after `limit` (kicking again meanwhile) when a vCPU
    /// does not leave `KVM_RUN`: the pause is withdrawn, the VM runs on, and the error names the
    /// vCPUs still in the guest.
    pub fn pause_within(&mut self, limit: Option<Duration>) -> Result<(), VmmError> {
        if self.state != VmState::Running {
            return Err(VmmError::State("only a running VM can be paused"));
        }
        let start = Instant::now();
        self.shared.control.request_pause();
        self.kick_all();
        // One kick is enough (vcpu.rs: the request is set first, and a kick that lands before
        // KVM_RUN makes it return at once); the limit is for a vCPU the kernel never lets go.
        let until = limit.map(|l| start + l);
        if !self.shared.control.wait_all_parked_until(until) {
            self.shared.control.request_run();
            // Every vCPU that is not stopped, wherever it is: in the guest, or stuck handling an
            // exit (a device blocked on the host).
            use crate::vcpu::VcpuPlace;
            let vcpus = (0u32..)
                .zip(self.shared.control.activity())
                .filter(|(_, a)| matches!(a.place, VcpuPlace::InGuest | VcpuPlace::Handling))
                .map(|(id, a)| (id, a.place))
                .collect();
            return Err(VmmError::PauseTimeout {
                waited: start.elapsed(),
                vcpus,
            });
        }
        // The devices' worker parks too: with the vCPUs out of the guest, nothing moves a queue.
        if let Err(e) = self.shared.devices.pause(limit.unwrap_or(PAUSE_LIMIT)) {
            self.shared.control.request_run();
            return Err(e.into());
        }
        self.state = VmState::Paused;
        self.link.status.set_run(RunState::Paused);
        Ok(())
    }

    /// What each vCPU has done so far and where its thread is (lock-free; any state).
    pub fn vcpu_activity(&self) -> Vec<crate::vcpu::VcpuActivity> {
        self.shared.control.activity()
    }

    /// Lets parked vCPUs run again (not those of a guest suspended to RAM: its wake does).
    pub fn resume(&mut self) -> Result<(), VmmError> {
        self.refuse_if_asleep("the guest is suspended to RAM (S3): its wake source wakes it")?;
        if self.state != VmState::Paused {
            return Err(VmmError::State("only a paused VM can be resumed"));
        }
        self.shared.devices.resume();
        self.shared.control.request_run();
        self.state = VmState::Running;
        self.link.status.set_run(RunState::Running);
        Ok(())
    }

    /// Runs the event loop, serving control requests, until the guest ends or `timeout` passes;
    /// returns the ending, or `None` on timeout (the VM keeps running).
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Option<GuestExit>, VmmError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let requests = self.link.queue.clone();
            let exit = self.shared.exit.clone();
            let pending = move || {
                exit.reset_requested()
                    || exit.sleep_requested()
                    || !requests
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .is_empty()
            };
            // Asleep, the loop wakes when the armed wake source fires, too.
            let wake_at = self.wake_deadline();
            // A held power button wakes it to be released, too.
            let until = [deadline, wake_at, self.button_release]
                .into_iter()
                .flatten()
                .min();
            let ended = self.events.run_until(&self.shared.exit, until, &pending)?;
            if self.button_release.is_some_and(|r| Instant::now() >= r) {
                self.button_release = None;
                A::release_power_button(&self.shared.platform);
            }
            if !ended && self.shared.exit.reset_requested() {
                self.serve_reset();
                continue;
            }
            if !ended && self.shared.exit.sleep_requested() {
                self.serve_sleep();
                continue;
            }
            if !ended && wake_at.is_some_and(|w| Instant::now() >= w) {
                self.serve_wake(crate::exit::WakeReason::Alarm);
                continue;
            }
            let next = self
                .link
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front();
            match next {
                Some((request, reply)) => self.serve(request, reply),
                // Woken by the wake source's deadline before it passed (a changed alarm).
                None if !ended && deadline.is_none_or(|d| Instant::now() < d) => continue,
                None if ended => {
                    let reason = self.shared.exit.reason();
                    if let Some(r) = &reason {
                        self.announce_end(r);
                    }
                    return Ok(reason);
                }
                None => return Ok(None),
            }
        }
    }

    /// Sets the one-line description (the caller's own format: tetra's is its VM file as
    /// compact JSON) that the control socket's `config` request answers with.
    pub fn set_description(&mut self, description: String) {
        self.description = Some(description);
    }

    /// Runs `f` with each vCPU, on that vCPU's own thread (KVM state is read and written where the
    /// vCPU runs), and returns the results in vCPU order. The VM must be created but not started,
    /// or paused.
    pub fn on_vcpus<R, F>(&mut self, f: F) -> Result<Vec<R>, VmmError>
    where
        F: Fn(u32, &mut A::Vcpu) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        match self.state {
            VmState::Created => Ok(self
                .vcpus
                .iter_mut()
                .enumerate()
                .map(|(id, v)| f(id as u32, v))
                .collect()),
            VmState::Paused => {
                let n = self.shared.config.cpus as usize;
                let f = Arc::new(f);
                let results: Arc<std::sync::Mutex<Vec<Option<R>>>> =
                    Arc::new(std::sync::Mutex::new((0..n).map(|_| None).collect()));
                let tasks = (0..n)
                    .map(|id| -> crate::vcpu::VcpuTask {
                        let (f, results) = (f.clone(), results.clone());
                        Box::new(move |any: &mut dyn std::any::Any| {
                            let vcpu = any
                                .downcast_mut::<A::Vcpu>()
                                .expect("a vCPU thread runs tasks with its own vCPU");
                            let r = f(id as u32, vcpu);
                            results.lock().unwrap_or_else(|e| e.into_inner())[id] = Some(r);
                        })
                    })
                    .collect();
                self.shared
                    .control
                    .run_on_parked(tasks)
                    .map_err(|_| VmmError::State("a vCPU thread has ended"))?;
                let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                Ok(results
                    .iter_mut()
                    .map(|r| r.take().expect("every task ran"))
                    .collect())
            }
            _ => Err(VmmError::State(
                "vCPU state is only reachable before start or while paused",
            )),
        }
    }

    /// The register table of this VM's vCPUs (the arch's table plus what KVM reports).
    pub fn register_table(&mut self) -> Result<crate::regs::RegTable, VmmError> {
        let vm = self.shared.vm.clone();
        let tables = self.on_vcpus(move |id, vcpu| {
            (id == 0).then(|| A::register_table(&vm, vcpu).map_err(VmmError::arch))
        })?;
        tables
            .into_iter()
            .flatten()
            .next()
            .expect("a VM has vCPU 0")
    }

    /// Saves every vCPU's registers (before start, or paused).
    pub fn save_vcpus(
        &mut self,
        table: &crate::regs::RegTable,
    ) -> Result<Vec<crate::regs::VcpuState>, VmmError> {
        let table = table.clone();
        self.on_vcpus(move |id, vcpu| {
            crate::regs::save(&table, vcpu)
                .map(|o| o.state)
                .map_err(|source| VmmError::Regs { vcpu: id, source })
        })?
        .into_iter()
        .collect()
    }

    /// Writes `states[i]` into vCPU `i` (before start, or paused). Every state is checked against
    /// the table before anything is written to a vCPU.
    pub fn restore_vcpus(
        &mut self,
        table: &crate::regs::RegTable,
        states: Vec<crate::regs::VcpuState>,
    ) -> Result<(), VmmError> {
        if states.len() != self.shared.config.cpus as usize {
            return Err(VmmError::Config(format!(
                "{} vCPU states for {} vCPUs",
                states.len(),
                self.shared.config.cpus
            )));
        }
        let table = table.clone();
        let states = Arc::new(states);
        self.on_vcpus(move |id, vcpu| {
            crate::regs::restore(&table, vcpu, &states[id as usize])
                .map_err(|source| VmmError::Regs { vcpu: id, source })
        })?
        .into_iter()
        .collect()
    }

    /// Stops and joins every vCPU thread.
    pub fn stop(&mut self) {
        if self.state == VmState::Stopped {
            return;
        }
        // Threads whose VM never started end (and are joined) here.
        self.waiting = None;
        self.shared.control.request_stop();
        self.kick_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.state = VmState::Stopped;
    }

    /// Starts the VM, waits for it to end (or `timeout`), stops it; `None` means it timed out.
    pub fn run(&mut self, timeout: Option<Duration>) -> Result<Option<GuestExit>, VmmError> {
        self.start()?;
        let r = self.wait(timeout);
        self.stop();
        r
    }

    /// Puts the calling thread under the main thread's seccomp filter ([`crate::sandbox`]): what
    /// serving the VM needs ([`Vmm::wait`]: control requests, snapshots, migrations, the
    /// teardown) and nothing else, for the rest of the thread's life. Call it once the VM is
    /// started (threads created afterwards inherit the filter). The binary does; a program that
    /// embeds tetra decides for its own thread.
    pub fn enter_sandbox(&self) -> Result<(), VmmError> {
        Ok(self.sandbox.enter(crate::sandbox::ThreadKind::Main)?)
    }

    /// The seccomp filters of this VM's threads.
    pub fn sandbox(&self) -> crate::sandbox::Sandbox {
        self.sandbox
    }

    pub(crate) fn set_memory_check(&mut self, check: crate::snapshot::verify::MemoryCheck) {
        self.memory_check = Some(check);
    }

    /// For a VM restored with lazy verification: waits until its memory file is checked, and
    /// fails if the file did not match its digests (the VM was then ended). `Ok(None)` for any
    /// other VM (booted, incoming, restored eagerly or without digests).
    pub fn verified_memory(
        &mut self,
    ) -> Result<Option<crate::snapshot::digest::CheckStats>, crate::snapshot::SnapshotError> {
        let Some(check) = self.memory_check.as_mut() else {
            return Ok(None);
        };
        check
            .wait()
            .map(Some)
            .map_err(|e| crate::snapshot::SnapshotError::Memory {
                path: check.path().display().to_string(),
                source: e.into(),
            })
    }

    /// The lifecycle state.
    pub fn state(&self) -> VmState {
        self.state
    }

    /// Guest RAM.
    pub fn memory(&self) -> &GuestRam {
        &self.shared.memory
    }

    /// The VM's ending notifier.
    pub fn exit_notifier(&self) -> &ExitNotifier {
        &self.shared.exit
    }

    /// The VM.
    pub fn vm(&self) -> &A::Vm {
        &self.shared.vm
    }

    pub(crate) fn shared(&self) -> &Shared<A> {
        &self.shared
    }

    /// The platform the arch built.
    pub fn platform(&self) -> &A::Platform {
        &self.shared.platform
    }

    /// The configuration the VM was built from.
    pub fn config(&self) -> &VmConfig {
        &self.shared.config
    }
}

impl<A: Arch> Drop for Vmm<A> {
    fn drop(&mut self) {
        self.stop();
    }
}
