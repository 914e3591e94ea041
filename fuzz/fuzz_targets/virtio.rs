//! Virtio descriptor chains: a guest memory image from the input drives one queue of the entropy,
//! the block or the vsock device, served by the device's own handler (`chain::serve`, then the
//! device's request code) as the worker thread would, here on this thread's event loop.
//!
//! Input: flags (bit 0: block, else bit 3: vsock, else entropy; bit 1: a read-only disk; bit 2:
//! guest RAM in two regions with a hole between them), the accepted device features (u32), the queue size as a
//! power of two (u8), the descriptor table, available and used ring addresses (u16 each), the
//! next available and next used indices (u16 each), then guest memory from address 0. The vsock
//! device gets the queue as its transmit queue (the guest's packets) and copies of it as its
//! receive and event queues (the same rings: what a malicious driver may set up).
#![no_main]

use event_manager::{EventManager, SubscriberOps};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock};
use tetra_fuzz::Cursor;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemoryAtomic};
use vmm_core::config::{DiskConfig, VsockConfig};
use vmm_core::devices::irq::EventLine;
use vmm_core::devices::virtio::{block::Block, rng::Rng, vsock::Vsock, F_VERSION_1};
use vmm_core::devices::virtio::{Activation, ActiveQueue, Handler, VirtioDevice, VirtioInterrupt};
use vmm_core::memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

const REGION: usize = 64 << 10;

fn image() -> &'static std::path::Path {
    static P: OnceLock<std::path::PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("tetra-fuzz-virtio-{}.img", std::process::id()));
        std::fs::write(&p, vec![0u8; 64 << 10]).expect("writing the fuzz disk image");
        p
    })
}

fn socket() -> &'static std::path::Path {
    static P: OnceLock<std::path::PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("tetra-fuzz-vsock-{}.sock", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let features = u64::from(c.u32());
    let size = 1u16 << (c.u8() % 9);
    let (desc, avail, used) = (c.u16(), c.u16(), c.u16());
    let (next_avail, next_used) = (c.u16(), c.u16());
    let ram = c.rest();

    let mut device: Box<dyn VirtioDevice> = if flags & 1 != 0 {
        let config = DiskConfig {
            read_only: flags & 2 != 0,
            ..DiskConfig::new(image())
        };
        Box::new(Block::open(&config).expect("opening the fuzz disk image"))
    } else if flags & 8 != 0 {
        let config = VsockConfig {
            cid: 3,
            uds: Some(socket().into()),
        };
        Box::new(Vsock::open(&config).expect("listening on the fuzz vsock socket"))
    } else {
        Box::new(Rng)
    };
    let m = if flags & 4 != 0 {
        // Two regions: a buffer crossing from one into the hole must be refused.
        GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), REGION / 2),
            (GuestAddress(REGION as u64), REGION / 2),
        ])
        .expect("guest memory")
    } else {
        tetra_fuzz::memory(0, REGION)
    };
    let first = ram
        .len()
        .min(if flags & 4 != 0 { REGION / 2 } else { REGION });
    m.write_slice(&ram[..first], GuestAddress(0))
        .expect("the image fits");
    if flags & 4 != 0 {
        let second = &ram[first..];
        let n = second.len().min(REGION / 2);
        m.write_slice(&second[..n], GuestAddress(REGION as u64))
            .expect("the image fits");
    }

    // The queue as the transport hands it over at DRIVER_OK: a valid size, ready, its rings
    // inside RAM and aligned (the transport refuses to start the device otherwise).
    let max = device.queue_max_sizes()[0];
    let ring = || {
        let mut q = Queue::new(max).expect("a queue");
        q.try_set_size(size).ok()?;
        q.set_desc_table_address(Some(u32::from(desc)), Some(0));
        q.set_avail_ring_address(Some(u32::from(avail)), Some(0));
        q.set_used_ring_address(Some(u32::from(used)), Some(0));
        q.set_next_avail(next_avail);
        q.set_next_used(next_used);
        q.set_ready(true);
        Some(q)
    };
    let Some(q) = ring() else {
        return;
    };
    if !q.is_valid(&m) {
        return;
    }
    let notify = EventFd::new(EFD_NONBLOCK).expect("an eventfd");
    let kick = notify.try_clone().expect("an eventfd");
    let irq = Arc::new(VirtioInterrupt::new(
        "fuzz",
        Arc::new(EventLine::new().expect("an eventfd")),
    ));
    let queue = |index: u16, q: Queue, notify: EventFd| ActiveQueue {
        index,
        queue: Arc::new(Mutex::new(q)),
        notify,
    };
    let queues = if device.queue_max_sizes().len() == 3 {
        let other = || EventFd::new(EFD_NONBLOCK).expect("an eventfd");
        vec![
            queue(0, ring().expect("as the first"), other()),
            queue(1, q, notify),
            queue(2, ring().expect("as the first"), other()),
        ]
    } else {
        vec![queue(0, q, notify)]
    };
    let a = Activation {
        mem: GuestMemoryAtomic::new(m),
        queues,
        interrupt: irq.clone(),
        // What the transport lets the driver accept: what the device offers.
        features: features & (device.features() | F_VERSION_1),
    };
    let handler = device.activate(a).expect("the device starts");
    let mut em = EventManager::<Box<dyn Handler>>::new().expect("an event loop");
    let id = em.add_subscriber(handler);
    kick.write(1).expect("a notification");
    em.run_with_timeout(0).expect("the event loop runs");
    let _ = em.remove_subscriber(id);
});
