//! A pause that lands while a vCPU is handling an MMIO exit, arch-neutral (the `mmio` guest and
//! its probe device at 0xd0000000, see devices.rs): KVM finishes such an exit only when the vCPU
//! re-enters (arm64 steps the PC past the access then; an MMIO read's value reaches its register
//! then), so the pause must complete it before the vCPU parks. The state saved at that pause,
//! restored into a second VM, goes on after the store: the second probe sees the byte write and
//! the reads, never the 32-bit store again.

use crate::expect;
use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::host::HostArch;
use integration_tests::run::{chain, TestVm};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vmm_core::bus::BusDevice;
use vmm_core::GuestExit;

const DEV: u64 = 0xd000_0000;

/// The probe of devices.rs (a 32-bit read at +4 answers the NOT of the last 32-bit write at +0,
/// a byte read at +8 the last byte written there plus one), whose first write at +0 can be held
/// until the test lets it go.
struct Probe {
    writes: Vec<(u64, Vec<u8>)>,
    word: u32,
    byte: u8,
    entered: Option<mpsc::Sender<()>>,
    release: Option<mpsc::Receiver<()>>,
}

impl Probe {
    fn new(word: u32) -> Self {
        Probe {
            writes: Vec::new(),
            word,
            byte: 0,
            entered: None,
            release: None,
        }
    }
}

impl BusDevice for Probe {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        match (offset, data.len()) {
            (4, 4) => data.copy_from_slice(&(!self.word).to_le_bytes()),
            (8, 1) => data[0] = self.byte.wrapping_add(1),
            _ => data.fill(0),
        }
    }
    fn write(&mut self, offset: u64, data: &[u8]) {
        self.writes.push((offset, data.to_vec()));
        match (offset, data.len()) {
            (0, 4) => self.word = u32::from_le_bytes(data.try_into().unwrap()),
            (8, 1) => self.byte = data[0],
            _ => {}
        }
        if offset == 0 {
            if let (Some(entered), Some(release)) = (self.entered.take(), self.release.take()) {
                let _ = entered.send(());
                // Held here, on the vCPU thread, until the pause has been requested.
                let _ = release.recv_timeout(Duration::from_secs(30));
            }
        }
    }
}

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("mmio") else {
        return;
    };
    s.kvm(
        "lifecycle::pause_completes_a_pending_mmio_exit",
        move || {
            let (entered_tx, entered_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel();
            let mut first = Probe::new(0);
            first.entered = Some(entered_tx);
            first.release = Some(release_rx);
            let first = Arc::new(Mutex::new(first));
            let mut a = TestVm::<HostArch>::new(g.config(1, 16))?;
            a.vmm
                .add_mmio_device(DEV, 0x10, first.clone())
                .map_err(|e| chain(&e))?;
            a.vmm.start().map_err(|e| chain(&e))?;
            entered_rx
                .recv_timeout(integration_tests::run::timeout())
                .map_err(|_| "the guest never wrote to the probe")?;
            // The vCPU is inside the MMIO exit: request the pause, then let the exit return.
            let releaser = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                let _ = release_tx.send(());
            });
            a.vmm.pause().map_err(|e| chain(&e))?;
            releaser
                .join()
                .map_err(|_| "the releasing thread panicked")?;
            let t = a.vmm.register_table().map_err(|e| chain(&e))?;
            let saved = a.vmm.save_vcpus(&t).map_err(|e| chain(&e))?;
            drop(a);

            // The second VM's probe already holds the first store's value, as the first one does.
            let second = Arc::new(Mutex::new(Probe::new(0xdead_beef)));
            let mut b = TestVm::<HostArch>::new(g.config(1, 16))?;
            b.vmm
                .add_mmio_device(DEV, 0x10, second.clone())
                .map_err(|e| chain(&e))?;
            b.vmm.restore_vcpus(&t, saved).map_err(|e| chain(&e))?;
            let out = b.finish()?;
            expect(&out, GuestExit::DebugExit(0x10), &["mmio: ok"])?;
            let w = &second.lock().unwrap().writes;
            check(*w == vec![(8, vec![0x41])], || {
                format!("the moved guest wrote {w:x?}: the paused store was not completed")
            })
        },
    );
}
