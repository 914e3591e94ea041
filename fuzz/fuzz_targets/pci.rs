//! The PCI bus as a guest drives it: configuration mechanism #1, ECAM and the MMIO window, on a
//! root with its host bridge and one virtio-pci function (the entropy device, MSI-X on a
//! recording router), then the function's state saved, restored into a fresh function and saved
//! again (the same bytes), and a state from the input restored (refused or taken, never a panic).
//!
//! Input: a count of accesses (u8), then each access: a kind byte (bits 0-1: 0 the 0xcf8 ports,
//! 1 ECAM, 2 the MMIO window, 3 the function's BAR 0 directly; bit 2: a write; bits 3-5: the
//! length, 1 to 8 bytes; bits 6-7: how far past the usual range the offset may fall), an offset
//! (u32) and a value (u64, its low bytes written). What is left is a state for the function.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex};
use tetra_fuzz::Cursor;
use vm_memory::GuestMemoryAtomic;
use vmm_core::bus::BusDevice;
use vmm_core::devices::pci::msi::RecordingRouter;
use vmm_core::devices::pci::{PciConfigIo, PciEcam, PciFunction, PciMmio, PciRoot};
use vmm_core::devices::virtio::pci::{PciTransport, Placement, BAR_LEN};
use vmm_core::devices::virtio::{rng::Rng, Worker};
use vmm_core::snapshot::Stateful;

/// The window as x86 has it.
const WINDOW: (u64, u64) = (0xc000_0000, 0x1000_0000);

fn transport(worker: &Arc<Worker>, bar: u64) -> PciTransport {
    let mem = GuestMemoryAtomic::new(tetra_fuzz::memory(0, 64 << 10));
    PciTransport::new(
        "fuzz",
        Box::new(Rng),
        mem,
        worker.clone(),
        Arc::new(RecordingRouter::default()),
        Placement {
            bdf: 1 << 3,
            bar,
            window: WINDOW,
        },
        None,
    )
    .expect("a virtio-pci function")
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let worker = Arc::new(Worker::spawn(None).expect("the virtio worker"));
    let mut root = PciRoot::new(WINDOW).expect("the PCI root");
    let slot = root.free_slot("fuzz").expect("a slot");
    let bar = root.allocate_bar("fuzz", BAR_LEN).expect("a BAR");
    let t = Arc::new(Mutex::new(transport(&worker, bar)));
    root.add(slot, t.clone());
    let root = Arc::new(Mutex::new(root));
    let (mut io, mut ecam, mut mmio) = (
        PciConfigIo(root.clone()),
        PciEcam(root.clone()),
        PciMmio(root.clone()),
    );

    for _ in 0..c.u8() {
        let kind = c.u8();
        let offset = u64::from(c.u32());
        let value = c.u64().to_le_bytes();
        let len = usize::from(kind >> 3 & 7) + 1;
        let spill = u64::from(kind >> 6);
        let write = kind & 4 != 0;
        let mut buf = [0u8; 8];
        let buf = &mut buf[..len];
        let dev: &mut dyn BusDevice = match kind & 3 {
            0 => {
                // Eight ports, and a few offsets past them.
                let at = offset % (8 + spill * 8);
                if write {
                    io.write(at, &value[..len]);
                } else {
                    io.read(at, buf);
                }
                continue;
            }
            1 => &mut ecam,
            2 => &mut mmio,
            _ => {
                let at = offset % (BAR_LEN << spill);
                let mut f = t.lock().unwrap();
                if write {
                    f.write_bar(0, at, &value[..len]);
                } else {
                    f.read_bar(0, at, buf);
                }
                continue;
            }
        };
        // ECAM: bus 0 is 1 MiB; the window 256 MiB; spill reaches past both.
        let at = if spill == 3 {
            offset << 32 | offset
        } else {
            offset
        };
        if write {
            dev.write(at, &value[..len]);
        } else {
            dev.read(at, buf);
            // Function 1 of any device, and every device past the one added, reads as absent.
            if kind & 3 == 1 && at < 1 << 20 && (at >> 12 & 7 != 0 || (at >> 15) > 1) {
                assert!(buf.iter().all(|&b| b == 0xff), "absent function at {at:#x}");
            }
        }
    }

    // Saved, restored into a fresh function, saved again: the same bytes.
    let saved = t.lock().unwrap().save_state();
    let mut fresh = transport(&worker, bar);
    fresh
        .restore_state(1, &saved)
        .expect("a state the function saved restores");
    assert_eq!(fresh.save_state(), saved, "state round trip");

    // A state from the input: refused, or taken and then saved and restored the same way.
    let rest = c.rest();
    let mut other = transport(&worker, bar);
    if other.restore_state(1, rest).is_ok() {
        let again = other.save_state();
        let mut third = transport(&worker, bar);
        third
            .restore_state(1, &again)
            .expect("a state the function saved restores");
        assert_eq!(
            third.save_state(),
            again,
            "state round trip after an input state"
        );
        let mut b = [0u8; 4];
        other.read_bar(0, 0, &mut b);
        other.read_config(0, &mut b);
    }
});
