//! A driver played by hand against the virtio-pci transport and the entropy device, on plain
//! guest memory: the configuration space and its capabilities as Linux's virtio-pci driver walks
//! them, the common configuration, a request answered on the queue's MSI-X vector, masking, state
//! save and restore with the routes given again, and a guest's odd accesses.

use super::pci::{PciTransport, Placement, BAR_LEN};
use super::{rng, Worker};
use crate::devices::pci::msi::{MsiMessage, RecordingRouter};
use crate::devices::pci::PciFunction;
use crate::memory::GuestMemoryMmap;
use crate::snapshot::Stateful;
use std::sync::Arc;
use std::time::Duration;

use virtio_bindings::virtio_config::*;
use vm_memory::endian::{Le16, Le32, Le64};
use vm_memory::{Bytes, GuestAddress, GuestMemoryAtomic};

/// How long a test waits for the device's worker thread: generous, since the lanes run these
/// tests under TCG emulation where a thread can wait seconds for its turn.
const WAIT: Duration = Duration::from_secs(20);

const BAR: u64 = 0xc000_0000;
const DESC: u64 = 0x1000;
const AVAIL: u64 = 0x2000;
const USED: u64 = 0x3000;
const BUF: u64 = 0x10000;
const READY: u8 =
    (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK) as u8;

struct Rig {
    mem: GuestMemoryMmap,
    t: PciTransport,
    router: Arc<RecordingRouter>,
    worker: Arc<Worker>,
}

fn rig() -> Rig {
    rig_on(GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap())
}

/// A rig on `mem` (a restored transport on the memory of the one saved).
fn rig_on(mem: GuestMemoryMmap) -> Rig {
    let atomic = GuestMemoryAtomic::new(mem.clone());
    let worker = Arc::new(Worker::spawn(None).unwrap());
    let router = Arc::new(RecordingRouter::default());
    let t = PciTransport::new(
        "test",
        Box::new(rng::Rng),
        atomic.clone(),
        worker.clone(),
        router.clone(),
        Placement {
            bdf: 1 << 3,
            bar: BAR,
            window: (BAR, 0x1000_0000),
        },
        None,
    )
    .unwrap();
    Rig {
        mem,
        t,
        router,
        worker,
    }
}

impl Rig {
    fn cfg(&self, at: u64, len: usize) -> u64 {
        let mut b = [0u8; 8];
        self.t.config().read(at, &mut b[..len]);
        u64::from_le_bytes(b)
    }
    fn set_cfg(&mut self, at: u64, v: u64, len: usize) {
        self.t.write_config(at, &v.to_le_bytes()[..len]);
    }
    fn r(&mut self, at: u64, len: usize) -> u64 {
        let mut b = [0u8; 8];
        self.t.read_bar(0, at, &mut b[..len]);
        u64::from_le_bytes(b)
    }
    fn w(&mut self, at: u64, v: u64, len: usize) {
        self.t.write_bar(0, at, &v.to_le_bytes()[..len]);
    }
    /// The capabilities: (offset, id, virtio cfg_type, BAR offset).
    fn caps(&self) -> Vec<(u64, u8, u8, u32)> {
        let mut out = Vec::new();
        let mut at = self.cfg(0x34, 1);
        while at != 0 {
            let id = self.cfg(at, 1) as u8;
            out.push((
                at,
                id,
                self.cfg(at + 3, 1) as u8,
                self.cfg(at + 8, 4) as u32,
            ));
            at = self.cfg(at + 1, 1);
        }
        out
    }
    fn msix_cap(&self) -> u64 {
        self.caps().iter().find(|c| c.1 == 0x11).unwrap().0
    }
    /// Memory decoding on, MSI-X enabled, vectors 0 and 1 programmed and unmasked.
    fn enable_msix(&mut self) {
        self.set_cfg(4, 2, 2);
        let cap = self.msix_cap();
        self.set_cfg(cap + 2, 0x8000, 2);
        for v in 0..2u64 {
            let e = 0x4000 + 16 * v;
            self.w(e, 0xfee0_0000, 4);
            self.w(e + 4, 0, 4);
            self.w(e + 8, 0x40 + v, 4);
            self.w(e + 12, 0, 4);
        }
    }
    fn setup(&mut self) {
        self.w(0x14, 0, 1);
        self.w(0x14, 3, 1);
        self.w(0x00, 1, 4);
        assert_eq!(self.r(0x04, 4), 1, "VERSION_1");
        self.w(0x08, 1, 4);
        self.w(0x0c, 1, 4);
        self.w(0x14, u64::from(READY), 1);
        assert_eq!(self.r(0x14, 1), u64::from(READY));
        assert_eq!(self.r(0x12, 2), 1, "one queue");
        self.w(0x10, 0, 2);
        assert_eq!(self.r(0x10, 2), 0);
        self.w(0x16, 0, 2);
        assert_eq!(self.r(0x18, 2), 256);
        self.w(0x18, 16, 2);
        self.w(0x1a, 1, 2);
        assert_eq!(self.r(0x1a, 2), 1);
        assert_eq!(self.r(0x1e, 2), 0, "queue 0 notifies at offset 0");
        self.w(0x20, DESC, 4);
        self.w(0x24, 0, 4);
        self.w(0x28, AVAIL, 8);
        self.w(0x30, USED, 4);
        self.w(0x1c, 1, 2);
        assert_eq!(self.r(0x1c, 2), 1);
        self.w(
            0x14,
            u64::from(READY) | u64::from(VIRTIO_CONFIG_S_DRIVER_OK),
            1,
        );
    }
    /// Offers a 16-byte buffer as request `n` (0, 1, ...) and notifies.
    fn request(&mut self, n: u16) {
        let at = GuestAddress(DESC);
        self.mem.write_obj(Le64::from(BUF), at).unwrap();
        self.mem
            .write_obj(Le32::from(16), GuestAddress(DESC + 8))
            .unwrap();
        self.mem
            .write_obj(Le16::from(2), GuestAddress(DESC + 12))
            .unwrap();
        self.mem
            .write_obj(
                Le16::from(0),
                GuestAddress(AVAIL + 4 + 2 * u64::from(n % 16)),
            )
            .unwrap();
        self.mem
            .write_obj(Le16::from(n + 1), GuestAddress(AVAIL + 2))
            .unwrap();
        self.w(0x3000, 0, 2);
    }
    fn used_idx(&self) -> u16 {
        self.mem
            .read_obj::<Le16>(GuestAddress(USED + 2))
            .unwrap()
            .into()
    }
    fn wait_used(&self, n: u16) -> bool {
        let end = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < end {
            if self.used_idx() == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }
}

#[test]
fn the_header_and_capabilities_are_what_linux_looks_for() {
    let r = rig();
    assert_eq!(r.cfg(0, 4), 0x1044_1af4, "vendor 1af4, device 1040 + 4");
    assert_eq!(r.cfg(8, 1), 1, "revision 1");
    assert_eq!(r.cfg(0x2c, 4), 0x0004_1af4);
    assert_eq!(r.cfg(0x3d, 1), 0, "no INTx pin");
    assert_eq!(r.cfg(0x10, 4), BAR | 4, "a 64-bit memory BAR");
    let caps = r.caps();
    let virtio: Vec<(u8, u32)> = caps
        .iter()
        .filter(|c| c.1 == 0x09)
        .map(|c| (c.2, c.3))
        .collect();
    assert_eq!(
        virtio,
        vec![(1, 0), (2, 0x3000), (3, 0x1000), (4, 0x2000), (5, 0)]
    );
    let notify = caps.iter().find(|c| c.2 == 2).unwrap().0;
    assert_eq!(r.cfg(notify + 16, 4), 4, "notify_off_multiplier");
    let msix = r.msix_cap();
    assert_eq!(r.cfg(msix + 2, 2), 1, "two vectors, disabled");
    assert_eq!(r.cfg(msix + 4, 4), 0x4000, "the table in BAR 0");
    assert_eq!(r.cfg(msix + 8, 4), 0x5000, "the PBA in BAR 0");
    // Every structure fits the BAR.
    for c in caps.iter().filter(|c| c.1 == 0x09 && c.2 != 5) {
        assert!(u64::from(c.3) + r.cfg(c.0 + 12, 4) <= BAR_LEN);
    }
}

#[test]
fn a_request_is_answered_on_its_queue_vector() {
    let mut r = rig();
    r.enable_msix();
    let routes = r.router.routes.lock().unwrap().clone();
    assert_eq!(routes.len(), 2);
    assert_eq!(
        routes[1].1,
        MsiMessage {
            address: 0xfee0_0000,
            data: 0x41,
            devid: 8
        }
    );
    r.setup();
    r.request(0);
    assert!(r.wait_used(1), "the device answered");
    // The worker publishes the used index before it signals: wait for the vector too.
    assert!(
        r.wait_until(|r| r.t.msix_fired(1) >= 1),
        "the queue's vector"
    );
    assert_eq!(r.t.msix_fired(0), 0, "not the configuration vector");
    // Masked, the vector pends and shows in the PBA; unmasking sends it.
    r.w(0x4000 + 16 + 12, 1, 4);
    r.request(1);
    assert!(r.wait_used(2));
    assert!(r.wait_until(|r| r.r(0x5000, 8) == 0b10), "pending bit");
    r.w(0x4000 + 16 + 12, 0, 4);
    assert_eq!(r.r(0x5000, 8), 0);
    assert_eq!(r.t.msix_fired(1), 1);
    // A vector the table does not have reads back as none.
    r.w(0x10, 7, 2);
    assert_eq!(r.r(0x10, 2), 0xffff);
    // A reset clears the vectors and the status.
    r.w(0x14, 0, 1);
    assert_eq!(r.r(0x14, 1), 0);
    r.w(0x16, 0, 2);
    assert_eq!(r.r(0x1a, 2), 0xffff);
}

impl Rig {
    fn wait_until(&mut self, f: impl Fn(&mut Self) -> bool) -> bool {
        let end = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < end {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }
}

#[test]
fn state_round_trip_routes_the_vectors_again() {
    let mut r = rig();
    r.enable_msix();
    r.setup();
    r.request(0);
    assert!(r.wait_used(1));
    r.worker.pause(Duration::from_secs(5)).unwrap();
    let state = r.t.save_state();
    r.worker.resume();
    let mut s = rig_on(r.mem.clone());
    s.t.restore_state(1, &state).unwrap();
    // The BAR, the command register, MSI-X and its routes, the vectors, the running device.
    assert_eq!(s.cfg(4, 2) & 2, 2);
    assert_eq!(s.cfg(s.msix_cap() + 2, 2), 0x8001);
    let routes = s.router.routes.lock().unwrap().clone();
    assert_eq!(routes.len(), 2, "{routes:?}");
    assert_eq!(s.r(0x1a, 2), 1);
    assert_eq!(
        s.r(0x14, 1),
        u64::from(READY | VIRTIO_CONFIG_S_DRIVER_OK as u8)
    );
    // The restored device goes on where the first stopped, on the restored vector.
    s.request(1);
    assert!(s.wait_used(2));
    assert!(s.t.msix_fired(1) >= 1);
    // A state with trailing bytes, a cut one, one with a vector past the table: refused.
    let mut long = state.clone();
    long.push(0);
    assert!(s.t.restore_state(1, &long).is_err());
    assert!(s.t.restore_state(1, &state[..state.len() - 1]).is_err());
    let mut bad = state.clone();
    let n = bad.len();
    bad[n - 2..].copy_from_slice(&9u16.to_le_bytes());
    assert!(s.t.restore_state(1, &bad).is_err());
    assert!(s.t.restore_state(2, &state).is_err());
}

#[test]
fn the_pci_cfg_window_reaches_bar_0() {
    let mut r = rig();
    let cap = r.caps().iter().find(|c| c.2 == 5).unwrap().0;
    // num_queues (common configuration 0x12, 2 bytes) through the window.
    r.set_cfg(cap + 8, 0x12, 4);
    r.set_cfg(cap + 12, 2, 4);
    let mut b = [0u8; 4];
    r.t.read_config(cap + 16, &mut b);
    assert_eq!(u32::from_le_bytes(b) & 0xffff, 1);
    // A status write (0x14, 1 byte) through it.
    r.set_cfg(cap + 8, 0x14, 4);
    r.set_cfg(cap + 12, 1, 4);
    r.set_cfg(cap + 16, 1, 4);
    assert_eq!(r.r(0x14, 1), 1);
    // A length of 3, an offset past the BAR, another BAR: nothing reaches it.
    r.set_cfg(cap + 12, 3, 4);
    r.set_cfg(cap + 16, 3, 4);
    assert_eq!(r.r(0x14, 1), 1);
    r.set_cfg(cap + 12, 4, 4);
    r.set_cfg(cap + 8, 0xffff_fffc, 4);
    r.set_cfg(cap + 16, 0, 4);
    r.t.read_config(cap + 16, &mut b);
    r.set_cfg(cap + 4, 1, 1);
    r.set_cfg(cap + 8, 0x14, 4);
    r.set_cfg(cap + 16, 0, 4);
    assert_eq!(r.r(0x14, 1), 1);
}

#[test]
fn odd_accesses_get_clear_answers() {
    let mut r = rig();
    r.set_cfg(4, 2, 2);
    // Common configuration: a 3-byte read of the status, a read straddling its end, writes of
    // the wrong width, far past the BAR, another BAR.
    let mut b3 = [0u8; 3];
    r.t.read_bar(0, 0x14, &mut b3);
    r.t.read_bar(0, 0x36, &mut [0u8; 4]);
    r.w(0x14, 0x0303, 2);
    assert_eq!(r.r(0x14, 1), 0, "a 2-byte status write is ignored");
    r.w(0x16, 5, 4);
    assert_eq!(r.r(0x16, 2), 0);
    r.w(0x16, 5, 2);
    assert_eq!(r.r(0x18, 2), 0, "no queue 5: its fields read as zero");
    assert_eq!(r.r(0x1a, 2), 0);
    r.w(0x18, 64, 2);
    r.w(0x1c, 1, 2);
    r.w(0x3000 + 4 * 9, 0, 2);
    r.w(0x3001, 0, 2);
    r.t.write_bar(0, u64::MAX - 1, &[1, 2]);
    r.t.write_bar(3, 0, &[1, 2, 3, 4]);
    let mut b = [0xaau8; 4];
    r.t.read_bar(0, u64::MAX - 1, &mut b[..2]);
    assert_eq!(b[..2], [0, 0]);
    r.t.read_bar(5, 0, &mut b);
    assert_eq!(b, [0; 4]);
    // The MSI-X table: an index past its end, odd sizes.
    r.w(0x4000 + 16 * 2, 0xfee0_0000, 4);
    assert_eq!(r.r(0x4000 + 16 * 2, 4), 0);
    r.w(0x4000, 0xfee0_0000, 2);
    assert_eq!(r.r(0x4000, 4), 0);
    // Configuration space: past 256 bytes, past 4 KiB, MSI-X control's reserved bits.
    r.set_cfg(0x200, 0xffff_ffff, 4);
    assert_eq!(r.cfg(0x200, 4), 0);
    let cap = r.msix_cap();
    r.set_cfg(cap + 2, 0x3fff, 2);
    assert_eq!(r.cfg(cap + 2, 2), 1, "only enable and mask are the guest's");
    // The BAR moved over RAM (address 0): the transport takes it (the root decodes nothing
    // there).
    r.set_cfg(0x10, 0, 4);
    assert_eq!(r.cfg(0x10, 4), 4);
}

#[test]
fn driver_ok_without_accepted_features_restores_as_it_ran() {
    // A legacy driver: no VERSION_1, so FEATURES_OK is refused; its DRIVER_OK starts nothing.
    let mut r = rig();
    r.set_cfg(4, 2, 2);
    r.w(0x14, 3, 1);
    r.w(0x14, u64::from(READY), 1);
    assert_eq!(r.r(0x14, 1), 3, "FEATURES_OK refused without VERSION_1");
    r.w(0x14, 3 | u64::from(VIRTIO_CONFIG_S_DRIVER_OK), 1);
    let saved = r.t.save_state();
    // Restored, it is not started either: not a device needing a reset (the fuzz target's
    // round trip found this one marked broken, with a configuration interrupt).
    let mut back = rig();
    back.t.restore_state(1, &saved).unwrap();
    assert_eq!(back.r(0x14, 1) & u64::from(VIRTIO_CONFIG_S_NEEDS_RESET), 0);
    assert_eq!(back.t.save_state(), saved);
}
