//! Device state (`Stateful::restore_state`): the 16550, fw_cfg, the i8042, the CMOS RTC, PM1a,
//! and the virtio-mmio transport with the entropy and the block device behind it.
//!
//! Input: a selector byte, the section version (u16), then the state. A state that restores
//! must save to bytes that restore (and, unless a virtio device was running, to the same state),
//! and the device must keep working: its registers are read after the restore.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tetra_fuzz::{poke, x86_devices, Cursor, Device};
use virtio_bindings::virtio_config::VIRTIO_CONFIG_S_DRIVER_OK;
use virtio_bindings::virtio_mmio::VIRTIO_MMIO_STATUS;
use vm_memory::GuestMemoryAtomic;
use vmm_core::config::DiskConfig;
use vmm_core::devices::irq::EventLine;
use vmm_core::devices::virtio::{block::Block, rng::Rng, MmioTransport, VirtioDevice};
use vmm_core::devices::virtio::{VirtioInterrupt, Worker};
use vmm_core::memory::GuestMemoryMmap;

struct Virtio {
    worker: Arc<Worker>,
    mem: GuestMemoryAtomic<GuestMemoryMmap>,
    image: std::path::PathBuf,
}

fn virtio() -> &'static Virtio {
    static V: OnceLock<Virtio> = OnceLock::new();
    V.get_or_init(|| {
        let image = std::env::temp_dir().join(format!("tetra-fuzz-{}.img", std::process::id()));
        std::fs::write(&image, vec![0u8; 64 << 10]).expect("writing the fuzz disk image");
        Virtio {
            worker: Arc::new(Worker::spawn(None).expect("the virtio worker")),
            mem: GuestMemoryAtomic::new(tetra_fuzz::memory(0, 1 << 20)),
            image,
        }
    })
}

fn transport(device: Box<dyn VirtioDevice>) -> MmioTransport {
    let v = virtio();
    let irq = Arc::new(VirtioInterrupt::new(
        "fuzz",
        Arc::new(EventLine::new().expect("an eventfd")),
    ));
    MmioTransport::new(device, v.mem.clone(), v.worker.clone(), irq).expect("a transport")
}

fn block(read_only: bool) -> Box<dyn VirtioDevice> {
    let config = DiskConfig {
        read_only,
        ..DiskConfig::new(&virtio().image)
    };
    Box::new(Block::open(&config).expect("opening the fuzz disk image"))
}

/// The selector of PM1a (its place in [`x86_devices`]).
const PM1A: u8 = 4;

fn fresh(which: u8) -> Box<dyn Device> {
    match which {
        0..=4 => x86_devices().swap_remove(usize::from(which)).1,
        5 => Box::new(transport(Box::new(Rng))),
        6 => Box::new(transport(block(false))),
        _ => Box::new(transport(block(true))),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let which = c.u8() % 8;
    let version = c.u16();
    let state = c.rest();
    let mut d = fresh(which);
    if d.restore_state(version, state).is_err() {
        reset(which, &mut *d);
        return;
    }
    let (saved, saved_version) = (d.save_state(), d.state_version());
    poke(&mut *d);
    reset(which, &mut *d);
    // A block device's image is locked: one device at a time.
    drop(d);
    let mut e = fresh(which);
    e.restore_state(saved_version, &saved)
        .expect("a saved state restores");
    // A virtio device that was running is running again: its worker thread may serve its queues
    // (and find them broken, in the fuzzer's memory) between the restore and the save.
    let running = which >= 5 && saved[0] & VIRTIO_CONFIG_S_DRIVER_OK as u8 != 0;
    if !running {
        let again = e.save_state();
        // PM1a's last four bytes (section version 2) are its PM timer's count, which runs on
        // between the two saves: the rest must be the same, the count a little further on.
        let clock = if which == PM1A && saved_version >= 2 {
            4
        } else {
            0
        };
        let (n, m) = (saved.len() - clock, again.len().saturating_sub(clock));
        assert_eq!(again[..m], saved[..n], "save, restore, save differs");
        if clock > 0 {
            let count = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("four bytes"));
            let ran = count(&again[m..]).wrapping_sub(count(&saved[n..]));
            assert!(
                ran < 1 << 30,
                "the PM timer went back by {}",
                ran.wrapping_neg()
            );
        }
    }
    reset(which, &mut *e);
});

/// A virtio transport is reset, so that its handler leaves the worker.
fn reset(which: u8, d: &mut dyn Device) {
    if which >= 5 {
        d.write(u64::from(VIRTIO_MMIO_STATUS), &0u32.to_le_bytes());
    }
}
