//! Running a VM in-process with its console captured, and running the `tetra` binary.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vmm_core::console::ConsoleSink;
use vmm_core::{Arch, GuestExit, VmConfig, Vmm, VmmOptions};

/// How long a test guest may run: `TETRA_TEST_TIMEOUT` seconds (default 30; emulated hosts are
/// slower and raise it).
pub fn timeout() -> Duration {
    let secs = std::env::var("TETRA_TEST_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// What a finished run left.
#[derive(Debug)]
pub struct Outcome {
    /// How the guest ended.
    pub exit: GuestExit,
    /// Everything it wrote to its console.
    pub console: String,
}

/// A VM with its console going to a buffer.
pub struct TestVm<A: Arch> {
    /// The VM.
    pub vmm: Vmm<A>,
    console: Arc<Mutex<Vec<u8>>>,
}

impl<A: Arch> TestVm<A> {
    /// Builds a VM for `config` with a captured console and no stdin.
    pub fn new(config: VmConfig) -> Result<Self, String> {
        let console = Arc::new(Mutex::new(Vec::new()));
        let vmm = Vmm::<A>::new(
            config,
            VmmOptions {
                console: ConsoleSink::Buffer(console.clone()),
                stdin: false,
                ..VmmOptions::default()
            },
        )
        .map_err(|e| format!("building the VM: {}", chain(&e)))?;
        Ok(TestVm { vmm, console })
    }

    /// Wraps a VM built elsewhere (a migration's destination) whose console goes to `console`.
    pub fn from_parts(vmm: Vmm<A>, console: Arc<Mutex<Vec<u8>>>) -> Self {
        TestVm { vmm, console }
    }

    /// The VM and its captured console (the reverse of [`TestVm::from_parts`]).
    pub fn into_parts(self) -> (Vmm<A>, Arc<Mutex<Vec<u8>>>) {
        (self.vmm, self.console)
    }

    /// Restores the snapshot at `path` in this process, its console captured.
    pub fn restore(path: &std::path::Path) -> Result<Self, String> {
        let console = Arc::new(Mutex::new(Vec::new()));
        let vmm = Vmm::<A>::restore(
            path,
            VmmOptions {
                console: ConsoleSink::Buffer(console.clone()),
                stdin: false,
                ..VmmOptions::default()
            },
        )
        .map_err(|e| chain(&e))?;
        Ok(TestVm { vmm, console })
    }

    /// Tells a running `dirtier` guest to stop sweeping and check itself (it watches
    /// [`DIRTIER_STOP`] bytes into its RAM).
    pub fn stop_dirtier(&self) -> Result<(), String> {
        use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};
        let m = self.vmm.memory().memory();
        let base = m.iter().next().map_or(0, |r| r.start_addr().0);
        drop(m);
        self.vmm
            .memory()
            .write(
                "the dirtier's stop word",
                base + DIRTIER_STOP,
                &1u32.to_le_bytes(),
            )
            .map_err(|e| chain(&e))
    }

    /// The console output so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    /// Waits until the console contains `text`, or fails after the test timeout.
    pub fn wait_for(&mut self, text: &str) -> Result<(), String> {
        let deadline = std::time::Instant::now() + timeout();
        while !self.console().contains(text) {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "timed out waiting for {text:?} ({}); console:\n{}",
                    self.activity_report(),
                    self.console()
                ));
            }
            if let Ok(Some(end)) = self.vmm.wait(Some(Duration::from_millis(5))) {
                return Err(format!(
                    "guest ended ({end:?}) before printing {text:?}; console:\n{}",
                    self.console()
                ));
            }
        }
        Ok(())
    }

    /// The VM's state and each vCPU's activity sampled twice, half a second apart: enough to tell
    /// a guest that runs but does not get on (runs grow) from a vCPU that is stuck parked or in
    /// the kernel (runs stay). A running VM whose vCPUs made no exit is then paused (for at most
    /// 2 s), its registers read and resumed, and sampled again: did a kick unstick it?
    pub fn activity_report(&mut self) -> String {
        let sample = |vmm: &Vmm<A>| {
            let before = vmm.vcpu_activity();
            std::thread::sleep(Duration::from_millis(500));
            let after = vmm.vcpu_activity();
            let stalled = after.iter().zip(&before).all(|(a, b)| a.runs == b.runs);
            let cpus: Vec<String> = before
                .iter()
                .zip(&after)
                .enumerate()
                .map(|(id, (b, a))| {
                    format!(
                        "vCPU {id}: {:?}, {} KVM_RUN returns (+{} in 0.5 s)",
                        a.place,
                        a.runs,
                        a.runs - b.runs
                    )
                })
                .collect();
            (stalled, cpus.join("; "))
        };
        let (stalled, first) = sample(&self.vmm);
        let mut report = format!("VM {:?}; {first}", self.vmm.state());
        if stalled && self.vmm.state() == vmm_core::VmState::Running {
            match self.vmm.pause_within(Some(Duration::from_secs(2))) {
                Err(e) => report += &format!("; a pause failed: {}", chain(&e)),
                Ok(()) => {
                    let regs = self
                        .vmm
                        .on_vcpus(|_, v| A::vcpu_summary(v))
                        .unwrap_or_default();
                    report += &format!("; paused: {}", regs.join(" | "));
                    if let Err(e) = self.vmm.resume() {
                        report += &format!("; resume failed: {}", chain(&e));
                    }
                    let (_, again) = sample(&self.vmm);
                    report += &format!("; after resuming: {again}");
                }
            }
        }
        report
    }

    /// Runs (or goes on running) until the guest ends; a timeout is an error.
    pub fn finish(mut self) -> Result<Outcome, String> {
        if self.vmm.state() == vmm_core::VmState::Created {
            self.vmm.start().map_err(|e| chain(&e))?;
        }
        let end = self.vmm.wait(Some(timeout())).map_err(|e| chain(&e))?;
        self.vmm.stop();
        match end {
            Some(exit) => Ok(Outcome {
                exit,
                console: self.console(),
            }),
            None => Err(format!(
                "the guest did not end within {:?}; console:\n{}",
                timeout(),
                self.console()
            )),
        }
    }
}

/// Where the `dirtier` guest looks for its stop word, from the start of its RAM (x86: RAM at 0;
/// arm64: at 1 GiB): a non-zero value ends its sweeps (a byte on its console does too).
pub const DIRTIER_STOP: u64 = 0x1ff000;

/// Boots `config` to its end.
pub fn run<A: Arch>(config: VmConfig) -> Result<Outcome, String> {
    TestVm::<A>::new(config)?.finish()
}

/// An error and its sources on one line.
pub use vmm_core::error_chain::chain;

/// The `tetra` binary: `TETRA_BIN`, else `tetra` in the Cargo target directory this test
/// executable was built into.
pub fn tetra_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("TETRA_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // <target>/<profile>/deps/suite-<hash>
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|d| d.join("tetra"))
        .ok_or("cannot locate the target directory")?;
    if bin.exists() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: build it first (`cargo build`), or set TETRA_BIN",
            bin.display()
        ))
    }
}

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory named after `test`.
    pub fn new(test: &str) -> Self {
        let p = std::env::temp_dir().join(format!("tetra-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("creating a scratch directory");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Why arch `A` refuses virtio devices (its layout refuses a VM with one before any KVM call),
/// or `None` when it takes them (every arch today).
pub fn virtio_refused<A: Arch>() -> Option<String> {
    let mut c = VmConfig {
        cpus: 1,
        mem_mib: 64,
        ..VmConfig::default()
    };
    c.virtio.rng = true;
    A::layout(&c).err().map(|e| chain(&e))
}

/// A migration destination being received on its own thread: the VM and its console buffer.
pub type Incoming<A> = std::thread::JoinHandle<Result<(Vmm<A>, Arc<Mutex<Vec<u8>>>), String>>;

/// A destination listening at `uri` (`Vmm::incoming`, console into a buffer, no stdin); returns
/// once it listens (or after 10 s), with the TCP port it bound, if any.
pub fn incoming<A: Arch>(uri: String) -> (Incoming<A>, Option<u16>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let opts = VmmOptions {
            console: ConsoleSink::Buffer(buf.clone()),
            stdin: false,
            ..VmmOptions::default()
        };
        let r = Vmm::<A>::incoming(&uri, opts, Duration::from_secs(10), &mut |l| {
            let _ = tx.send(l.port());
        });
        r.map(|v| (v, buf)).map_err(|e| chain(&e))
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).ok().flatten();
    (t, port)
}
