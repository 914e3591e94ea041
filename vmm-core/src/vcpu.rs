//! The vCPU runtime: one thread per vCPU, kicked out of `KVM_RUN` by a signal, with exit dispatch.
//!
//! A kick is `pthread_kill` with [`kick_signal`]; its handler sets the running vCPU's
//! `kvm_run.immediate_exit`, so a kick that lands just before `KVM_RUN` is not lost: the run returns
//! `EINTR` at once and the loop sees the request. Requests (pause, stop) are set before the kick.

use crate::arch::{Arch, ExitAction, ExitContext};
use crate::config::VmConfig;
use crate::devices::Devices;
use crate::exit::{ExitNotifier, GuestExit};
use crate::hypervisor::{VcpuExit, VcpuOps};
use crate::memory::GuestRam;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

const RUN: u8 = 0;
const PAUSE: u8 = 1;
const STOP: u8 = 2;

thread_local! {
    static IMMEDIATE_EXIT: Cell<*mut u8> = const { Cell::new(std::ptr::null_mut()) };
}

/// The signal that kicks a vCPU thread out of `KVM_RUN`.
pub fn kick_signal() -> i32 {
    SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let p = IMMEDIATE_EXIT.with(|c| c.get());
    if !p.is_null() {
        // SAFETY: a non-null pointer is only installed by this thread's vCPU loop and points to the
        // `immediate_exit` byte of the kvm_run page it owns; it is cleared before the vCPU is dropped.
        unsafe { std::ptr::write_volatile(p, 1) };
    }
}

/// Installs the kick handler once per process.
pub(crate) fn install_kick_handler() -> Result<(), vmm_sys_util::errno::Error> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| result = register_signal_handler(kick_signal(), on_kick));
    result
}

/// Work posted to a parked vCPU thread: it runs with the thread's vCPU (as `dyn Any`).
pub(crate) type VcpuTask = Box<dyn FnOnce(&mut dyn std::any::Any) + Send>;

/// Counts and flags guarded by [`RunControl`]'s mutex.
#[derive(Default)]
struct RunState {
    /// Per vCPU: its thread is running its loop.
    alive: Vec<bool>,
    /// Per vCPU: a task to run while parked.
    tasks: Vec<Option<VcpuTask>>,
    /// Tasks posted and not yet run.
    pending: u32,
    /// vCPU threads still running their loop.
    live: u32,
    /// Of those, how many are outside the guest: paused, or parked until woken.
    parked: u32,
    /// Per vCPU: parked until woken ([`ExitAction::Park`]).
    stopped: Vec<bool>,
    /// Per vCPU: a wake-up is pending.
    wake: Vec<bool>,
}

/// Where a vCPU thread is, as [`VcpuActivity::place`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuPlace {
    /// Its thread has not started, or has ended.
    Gone,
    /// In `KVM_RUN`: running guest code (or inside the kernel on the guest's behalf).
    InGuest,
    /// Out of the guest, handling an exit or deciding what to do next.
    Handling,
    /// Parked by a pause.
    Paused,
    /// Parked until woken (a halted or powered-off vCPU).
    Parked,
}

/// What one vCPU has done so far: a cheap, lock-free view for statistics and for telling a stuck
/// guest from a stuck VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuActivity {
    /// `KVM_RUN` calls that returned (exits, interrupted runs and errors alike).
    pub runs: u64,
    /// Where the vCPU thread is now.
    pub place: VcpuPlace,
}

/// Per-vCPU counters, written by the vCPU's thread only.
struct Counters {
    runs: AtomicU64,
    place: AtomicU8,
}

impl Counters {
    fn new() -> Self {
        Counters {
            runs: AtomicU64::new(0),
            place: AtomicU8::new(VcpuPlace::Gone as u8),
        }
    }

    fn set(&self, place: VcpuPlace) {
        self.place.store(place as u8, Ordering::Relaxed);
    }

    fn get(&self) -> VcpuActivity {
        const PLACES: [VcpuPlace; 5] = [
            VcpuPlace::Gone,
            VcpuPlace::InGuest,
            VcpuPlace::Handling,
            VcpuPlace::Paused,
            VcpuPlace::Parked,
        ];
        VcpuActivity {
            runs: self.runs.load(Ordering::Relaxed),
            place: PLACES[self.place.load(Ordering::Relaxed) as usize % PLACES.len()],
        }
    }
}

/// The pause/stop/park protocol between the VMM and its vCPU threads.
pub(crate) struct RunControl {
    request: AtomicU8,
    state: Mutex<RunState>,
    cv: Condvar,
    counters: Vec<Counters>,
}

impl RunControl {
    pub(crate) fn new(vcpus: usize) -> Self {
        RunControl {
            request: AtomicU8::new(RUN),
            state: Mutex::new(RunState {
                alive: vec![false; vcpus],
                tasks: (0..vcpus).map(|_| None).collect(),
                stopped: vec![false; vcpus],
                wake: vec![false; vcpus],
                ..RunState::default()
            }),
            cv: Condvar::new(),
            counters: (0..vcpus).map(|_| Counters::new()).collect(),
        }
    }

    /// Each vCPU's activity, in vCPU order.
    pub(crate) fn activity(&self) -> Vec<VcpuActivity> {
        self.counters.iter().map(Counters::get).collect()
    }

    fn place(&self, id: usize, place: VcpuPlace) {
        if let Some(c) = self.counters.get(id) {
            c.set(place);
        }
    }

    /// Runs `KVM_RUN` for vCPU `id`, counting it and marking it in the guest meanwhile.
    fn counted_run<T>(&self, id: usize, run: impl FnOnce() -> T) -> T {
        self.place(id, VcpuPlace::InGuest);
        let r = run();
        if let Some(c) = self.counters.get(id) {
            c.runs.fetch_add(1, Ordering::Relaxed);
            c.set(VcpuPlace::Handling);
        }
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn thread_started(&self, id: usize) {
        let mut g = self.lock();
        g.live += 1;
        g.alive[id] = true;
        self.place(id, VcpuPlace::Handling);
    }

    pub(crate) fn thread_ended(&self, id: usize) {
        let mut g = self.lock();
        g.live -= 1;
        g.alive[id] = false;
        self.place(id, VcpuPlace::Gone);
        if g.tasks[id].take().is_some() {
            g.pending -= 1;
        }
        self.cv.notify_all();
    }

    /// Runs the task posted for vCPU `id`, if any, without holding the lock.
    fn run_task<'a>(
        &'a self,
        mut g: std::sync::MutexGuard<'a, RunState>,
        id: usize,
        vcpu: &mut dyn std::any::Any,
    ) -> (std::sync::MutexGuard<'a, RunState>, bool) {
        match g.tasks[id].take() {
            Some(task) => {
                drop(g);
                task(vcpu);
                let mut g = self.lock();
                g.pending -= 1;
                self.cv.notify_all();
                (g, true)
            }
            None => (g, false),
        }
    }

    /// Posts `tasks[i]` to vCPU `i` (every vCPU must be parked) and waits until all have run.
    /// Fails, posting nothing, when a vCPU thread has ended.
    pub(crate) fn run_on_parked(&self, tasks: Vec<VcpuTask>) -> Result<(), usize> {
        let mut g = self.lock();
        if let Some(dead) = (0..tasks.len()).find(|&i| !g.alive[i]) {
            return Err(dead);
        }
        for (i, t) in tasks.into_iter().enumerate() {
            g.tasks[i] = Some(t);
            g.pending += 1;
        }
        self.cv.notify_all();
        while g.pending > 0 {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }

    pub(crate) fn request(&self, r: u8) {
        let _g = self.lock();
        self.request.store(r, Ordering::SeqCst);
        self.cv.notify_all();
    }

    pub(crate) fn request_pause(&self) {
        self.request(PAUSE)
    }
    pub(crate) fn request_run(&self) {
        self.request(RUN)
    }
    pub(crate) fn request_stop(&self) {
        self.request(STOP)
    }

    /// Waits until every live vCPU thread is outside the guest, or `until` (if any) passes; true
    /// when all are (or the pause was withdrawn).
    pub(crate) fn wait_all_parked_until(&self, until: Option<std::time::Instant>) -> bool {
        let mut g = self.lock();
        while g.parked < g.live && self.request.load(Ordering::SeqCst) == PAUSE {
            g = match until {
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(t) => {
                    let left = t.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.cv
                        .wait_timeout(g, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        true
    }

    /// Parks vCPU `id`'s thread while a pause is requested, running tasks posted to it.
    fn pause_park(&self, id: usize, vcpu: &mut dyn std::any::Any) {
        let mut g = self.lock();
        self.place(id, VcpuPlace::Paused);
        g.parked += 1;
        self.cv.notify_all();
        loop {
            let (g2, ran) = self.run_task(g, id, vcpu);
            g = g2;
            if ran {
                continue;
            }
            if self.request.load(Ordering::SeqCst) != PAUSE {
                break;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.parked -= 1;
        self.place(id, VcpuPlace::Handling);
    }

    /// Keeps a vCPU that asked for a machine reset out of the guest until the VMM's thread acts
    /// on it: returns once a pause (the reset's first step) or a stop is requested.
    fn hold_for_reset(&self) {
        let mut g = self.lock();
        while self.request.load(Ordering::SeqCst) == RUN {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Parks vCPU `id` until it is woken (true) or the VM stops (false), running tasks posted to
    /// it meanwhile.
    fn park_until_woken(&self, id: usize, vcpu: &mut dyn std::any::Any) -> bool {
        let mut g = self.lock();
        self.place(id, VcpuPlace::Parked);
        g.parked += 1;
        g.stopped[id] = true;
        self.cv.notify_all();
        let woken = loop {
            let (g2, ran) = self.run_task(g, id, vcpu);
            g = g2;
            if ran {
                continue;
            }
            if self.request.load(Ordering::SeqCst) == STOP {
                break false;
            }
            if std::mem::take(&mut g.wake[id]) {
                break true;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        };
        g.parked -= 1;
        g.stopped[id] = false;
        self.place(id, VcpuPlace::Handling);
        woken
    }
}

/// Wakes parked vCPUs ([`ExitAction::Park`]) and tells which are parked.
#[derive(Clone, Copy)]
pub struct VcpuWaker<'a> {
    control: &'a RunControl,
}

impl VcpuWaker<'_> {
    /// Wakes vCPU `id` if it is parked (or makes its next park return at once). False when there
    /// is no such vCPU.
    pub fn wake(&self, id: u32) -> bool {
        let mut g = self.control.lock();
        match g.wake.get_mut(id as usize) {
            Some(w) => {
                *w = true;
                self.control.cv.notify_all();
                true
            }
            None => false,
        }
    }

    /// Whether vCPU `id` is parked until woken; `None` when there is no such vCPU.
    pub fn is_parked(&self, id: u32) -> Option<bool> {
        self.control.lock().stopped.get(id as usize).copied()
    }

    /// The number of vCPUs.
    pub fn count(&self) -> u32 {
        self.control.lock().stopped.len() as u32
    }
}

/// What the vCPU threads share.
pub(crate) struct Shared<A: Arch> {
    pub(crate) vm: Arc<A::Vm>,
    pub(crate) memory: Arc<GuestRam>,
    pub(crate) devices: Devices,
    pub(crate) layout: A::Layout,
    pub(crate) platform: A::Platform,
    pub(crate) exit: ExitNotifier,
    pub(crate) config: VmConfig,
    pub(crate) control: RunControl,
}

/// The body of a vCPU thread, in its sandbox already (`vm/vcpu_threads.rs`).
pub(crate) fn run_vcpu<A: Arch>(mut vcpu: A::Vcpu, id: u32, sh: Arc<Shared<A>>) {
    // Every event of this thread carries its vCPU (`vcpu{id=N}` in the log).
    let _span = tracing::info_span!("vcpu", id).entered();
    tracing::info!("vCPU thread started");
    let ie = vcpu.immediate_exit_ptr();
    IMMEDIATE_EXIT.with(|c| c.set(ie));
    let ctx = ExitContext::<A> {
        id,
        config: &sh.config,
        layout: &sh.layout,
        vm: &sh.vm,
        memory: &sh.memory,
        platform: &sh.platform,
        exit: &sh.exit,
        vcpus: VcpuWaker {
            control: &sh.control,
        },
    };
    let mut next = A::vcpu_started(&ctx, &mut vcpu);
    // Whether the last KVM_RUN returned an exit: KVM finishes some exits only when the vCPU
    // re-enters (the value of an MMIO or port read, the PC step past an arm64 MMIO access), so
    // registers read before that are not the guest's (api.rst, KVM_RUN). A pause completes it.
    let mut exit_pending = false;
    loop {
        match next {
            Ok(ExitAction::Continue) => {}
            Ok(ExitAction::Stop) => break,
            Ok(ExitAction::Park) => {
                tracing::debug!("parked until another vCPU wakes it");
                if !sh.control.park_until_woken(id as usize, &mut vcpu) {
                    break;
                }
                next = A::vcpu_woken(&ctx, &mut vcpu);
                continue;
            }
            Ok(ExitAction::WithVcpu(tag)) => {
                next = A::exit_with_vcpu(&ctx, &mut vcpu, tag);
                continue;
            }
            Ok(ExitAction::Reset(why)) => {
                tracing::info!(why, "the guest asks for a machine reset");
                sh.exit.request_reset(format!("vCPU {id}: {why}"));
                // The exit needs no completion: the reset rewrites every register.
                exit_pending = false;
                sh.control.hold_for_reset();
                next = Ok(ExitAction::Continue);
                continue;
            }
            Ok(ExitAction::Crash(why)) => {
                let regs = A::vcpu_summary(&vcpu);
                tracing::warn!(why, regs, "guest crashed");
                let sep = if regs.is_empty() { "" } else { "; " };
                sh.exit
                    .end(GuestExit::Crash(format!("vCPU {id}: {why}{sep}{regs}")));
                break;
            }
            Err(e) => {
                sh.exit.end(GuestExit::Crash(format!("vCPU {id}: {e}")));
                break;
            }
        }
        // Clear a previous kick before looking at requests, so a kick after this point is seen.
        // SAFETY: `ie` points into this vCPU's kvm_run page, alive while `vcpu` is.
        unsafe { std::ptr::write_volatile(ie, 0) };
        match sh.control.request.load(Ordering::SeqCst) {
            STOP => break,
            PAUSE if exit_pending => {
                // Re-enter with immediate_exit set: KVM finishes the exit and returns EINTR
                // without running guest code (or, rarely, exits again: that exit is handled and
                // completed the same way). A failure shows again at the next KVM_RUN.
                // SAFETY: `ie` points into this vCPU's kvm_run page, alive while `vcpu` is.
                unsafe { std::ptr::write_volatile(ie, 1) };
                next = match sh.control.counted_run(id as usize, || vcpu.run()) {
                    Ok(exit) => dispatch::<A>(&ctx, &sh, exit),
                    Err(_) => {
                        exit_pending = false;
                        Ok(ExitAction::Continue)
                    }
                };
                continue;
            }
            PAUSE => {
                sh.control.pause_park(id as usize, &mut vcpu);
                next = Ok(ExitAction::Continue);
                continue;
            }
            _ => {}
        }
        if sh.exit.is_ending() {
            break;
        }
        next = match sh.control.counted_run(id as usize, || vcpu.run()) {
            Ok(exit) => {
                exit_pending = true;
                dispatch::<A>(&ctx, &sh, exit)
            }
            Err(e) if matches!(e.errno(), Some(libc::EINTR) | Some(libc::EAGAIN)) => {
                exit_pending = false;
                Ok(ExitAction::Continue)
            }
            Err(e) => {
                sh.exit
                    .end(GuestExit::Crash(format!("vCPU {id}: KVM_RUN: {e}")));
                break;
            }
        };
    }
    IMMEDIATE_EXIT.with(|c| c.set(std::ptr::null_mut()));
    let runs = sh.control.counters.get(id as usize).map(|c| c.get().runs);
    tracing::info!(runs, "vCPU thread ended");
    sh.control.thread_ended(id as usize);
}

fn dispatch<A: Arch>(
    ctx: &ExitContext<'_, A>,
    sh: &Shared<A>,
    exit: VcpuExit<'_>,
) -> Result<ExitAction, A::Error> {
    match exit {
        VcpuExit::IoIn { port, size, data } => {
            for elem in data.chunks_mut(size.max(1)) {
                if !sh.devices.pio().read(port.into(), elem) {
                    elem.fill(0xff);
                }
            }
        }
        VcpuExit::IoOut { port, size, data } => {
            for elem in data.chunks(size.max(1)) {
                sh.devices.pio().write(port.into(), elem);
            }
        }
        VcpuExit::MmioRead { addr, data } => {
            if !sh.devices.mmio().read(addr, data) {
                data.fill(0xff);
            }
        }
        VcpuExit::MmioWrite { addr, data } => {
            sh.devices.mmio().write(addr, data);
        }
        VcpuExit::Intr => {}
        other => return A::handle_exit(ctx, other),
    }
    Ok(ExitAction::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn park_until_woken_by_another_thread() {
        let c = Arc::new(RunControl::new(2));
        c.thread_started(1);
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.park_until_woken(1, &mut ()));
        let waker = VcpuWaker { control: &c };
        while waker.is_parked(1) != Some(true) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(waker.is_parked(0), Some(false));
        assert_eq!(waker.is_parked(2), None);
        assert!(waker.wake(1));
        assert!(t.join().unwrap(), "woken, not stopped");
        assert_eq!(waker.is_parked(1), Some(false));
        assert!(!waker.wake(7));
    }

    #[test]
    fn stop_releases_a_parked_vcpu_and_pause_counts_it() {
        let c = Arc::new(RunControl::new(1));
        c.thread_started(0);
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.park_until_woken(0, &mut ()));
        // A pause completes although the vCPU is parked rather than pause-parked.
        c.request_pause();
        assert!(c.wait_all_parked_until(None));
        c.request_stop();
        assert!(!t.join().unwrap(), "a stop, not a wake");
    }

    #[test]
    fn activity_tells_where_each_vcpu_is_and_counts_its_runs() {
        let c = Arc::new(RunControl::new(2));
        assert_eq!(c.activity()[0].place, VcpuPlace::Gone);
        c.thread_started(0);
        assert_eq!(
            c.counted_run(0, || c.activity()[0].place),
            VcpuPlace::InGuest
        );
        c.counted_run(0, || ());
        let a = c.activity();
        assert_eq!((a[0].runs, a[0].place), (2, VcpuPlace::Handling));
        assert_eq!((a[1].runs, a[1].place), (0, VcpuPlace::Gone));
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.park_until_woken(0, &mut ()));
        while c.activity()[0].place != VcpuPlace::Parked {
            std::thread::sleep(Duration::from_millis(1));
        }
        VcpuWaker { control: &c }.wake(0);
        assert!(t.join().unwrap());
        assert_eq!(c.activity()[0].place, VcpuPlace::Handling);
        c.thread_ended(0);
        assert_eq!(c.activity()[0].place, VcpuPlace::Gone);
    }

    #[test]
    fn a_pause_wait_gives_up_on_a_vcpu_that_never_parks() {
        let c = RunControl::new(1);
        c.thread_started(0);
        c.request_pause();
        let t = std::time::Instant::now();
        assert!(!c.wait_all_parked_until(Some(t + Duration::from_millis(50))));
        assert!(t.elapsed() >= Duration::from_millis(50));
        // Withdrawn: the wait ends at once, whatever the vCPU does.
        c.request_run();
        assert!(c.wait_all_parked_until(Some(t)));
    }

    #[test]
    fn a_wake_before_the_park_is_not_lost() {
        let c = RunControl::new(1);
        VcpuWaker { control: &c }.wake(0);
        assert!(c.park_until_woken(0, &mut ()));
    }

    #[test]
    fn tasks_run_on_the_parked_thread_with_its_vcpu() {
        let c = Arc::new(RunControl::new(2));
        let mut threads = Vec::new();
        c.request_pause();
        for id in 0..2usize {
            c.thread_started(id);
            let c2 = c.clone();
            threads.push(std::thread::spawn(move || {
                let mut vcpu = id as u32 * 10;
                c2.pause_park(id, &mut vcpu);
                vcpu
            }));
        }
        assert!(c.wait_all_parked_until(None));
        let tasks: Vec<VcpuTask> = (0..2)
            .map(|_| -> VcpuTask {
                Box::new(|v: &mut dyn std::any::Any| *v.downcast_mut::<u32>().unwrap() += 1)
            })
            .collect();
        c.run_on_parked(tasks).unwrap();
        c.request_run();
        let got: Vec<u32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(got, vec![1, 11]);
        // A vCPU whose thread ended cannot take a task: nothing is posted, no hang.
        c.thread_ended(0);
        c.thread_ended(1);
        assert_eq!(
            c.run_on_parked(vec![Box::new(|_: &mut dyn std::any::Any| {})]),
            Err(0)
        );
    }
}
