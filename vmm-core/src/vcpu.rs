//! The vCPU runtime: one thread per vCPU, kicked out of `KVM_RUN` by a signal, with exit dispatch.
//!
//! A kick is `pthread_kill` with [`kick_signal`]; its handler sets the running vCPU's
//! `kvm_run.immediate_exit`, so a kick that lands just before `KVM_RUN` is not lost: the run returns
//! `EINTR` at once and the loop sees the request. Requests (pause, stop) are set before the kick.

use crate::arch::{Arch, ExitAction, ExitContext};
use crate::bus::Bus;
use crate::config::VmConfig;
use crate::exit::{ExitNotifier, GuestExit};
use crate::hypervisor::{VcpuExit, VcpuOps};
use crate::memory::GuestRam;
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
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

/// The pause/stop protocol between the VMM and its vCPU threads.
pub(crate) struct RunControl {
    request: AtomicU8,
    /// (vCPU threads still running their loop, of which parked in pause)
    counts: Mutex<(u32, u32)>,
    cv: Condvar,
}

impl RunControl {
    pub(crate) fn new() -> Self {
        RunControl {
            request: AtomicU8::new(RUN),
            counts: Mutex::new((0, 0)),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u32, u32)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn thread_started(&self) {
        self.lock().0 += 1;
    }

    fn thread_ended(&self) {
        self.lock().0 -= 1;
        self.cv.notify_all();
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

    /// Waits until every live vCPU thread is parked.
    pub(crate) fn wait_all_parked(&self) {
        let mut g = self.lock();
        while g.1 < g.0 && self.request.load(Ordering::SeqCst) == PAUSE {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Parks the calling vCPU thread while a pause is requested.
    fn park(&self) {
        let mut g = self.lock();
        g.1 += 1;
        self.cv.notify_all();
        while self.request.load(Ordering::SeqCst) == PAUSE {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.1 -= 1;
    }
}

/// What the vCPU threads share.
pub(crate) struct Shared<A: Arch> {
    pub(crate) vm: Arc<A::Vm>,
    pub(crate) memory: Arc<GuestRam>,
    pub(crate) pio: Bus,
    pub(crate) mmio: Bus,
    pub(crate) platform: A::Platform,
    pub(crate) exit: ExitNotifier,
    pub(crate) config: VmConfig,
    pub(crate) control: RunControl,
}

/// The body of a vCPU thread.
pub(crate) fn run_vcpu<A: Arch>(mut vcpu: A::Vcpu, id: u32, sh: Arc<Shared<A>>) {
    let ie = vcpu.immediate_exit_ptr();
    IMMEDIATE_EXIT.with(|c| c.set(ie));
    let ctx = ExitContext::<A> {
        id,
        config: &sh.config,
        vm: &sh.vm,
        memory: &sh.memory,
        platform: &sh.platform,
        exit: &sh.exit,
    };
    loop {
        // Clear a previous kick before looking at requests, so a kick after this point is seen.
        // SAFETY: `ie` points into this vCPU's kvm_run page, alive while `vcpu` is.
        unsafe { std::ptr::write_volatile(ie, 0) };
        match sh.control.request.load(Ordering::SeqCst) {
            STOP => break,
            PAUSE => {
                sh.control.park();
                continue;
            }
            _ => {}
        }
        if sh.exit.is_ending() {
            break;
        }
        let action = match vcpu.run() {
            Ok(exit) => dispatch::<A>(&ctx, &sh, exit),
            Err(e) if matches!(e.errno(), Some(libc::EINTR) | Some(libc::EAGAIN)) => {
                Ok(ExitAction::Continue)
            }
            Err(e) => {
                sh.exit.end(GuestExit::Crash(format!("vCPU {id}: {e}")));
                break;
            }
        };
        match action {
            Ok(ExitAction::Continue) => {}
            Ok(ExitAction::Stop) => break,
            Ok(ExitAction::Crash(why)) => {
                let regs = A::vcpu_summary(&vcpu);
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
    }
    IMMEDIATE_EXIT.with(|c| c.set(std::ptr::null_mut()));
    sh.control.thread_ended();
}

fn dispatch<A: Arch>(
    ctx: &ExitContext<'_, A>,
    sh: &Shared<A>,
    exit: VcpuExit<'_>,
) -> Result<ExitAction, A::Error> {
    match exit {
        VcpuExit::IoIn { port, size, data } => {
            for elem in data.chunks_mut(size.max(1)) {
                if !sh.pio.read(port.into(), elem) {
                    elem.fill(0xff);
                }
            }
        }
        VcpuExit::IoOut { port, size, data } => {
            for elem in data.chunks(size.max(1)) {
                sh.pio.write(port.into(), elem);
            }
        }
        VcpuExit::MmioRead { addr, data } => {
            if !sh.mmio.read(addr, data) {
                data.fill(0xff);
            }
        }
        VcpuExit::MmioWrite { addr, data } => {
            sh.mmio.write(addr, data);
        }
        VcpuExit::Intr => {}
        other => return A::handle_exit(ctx, other),
    }
    Ok(ExitAction::Continue)
}
