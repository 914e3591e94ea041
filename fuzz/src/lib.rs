//! What tetra's fuzz targets share: a cursor that reads a target's option bytes off the front of
//! its input, small guest memories, and the decoding of a whole x86 state envelope as a restore
//! (or a migration's destination) does it, short of KVM.
//!
//! Each target (`fuzz_targets/*.rs`) feeds the input to the real decoder and asserts only what
//! must hold: no panic, no hang, no allocation beyond what the input can account for, and, where
//! the decoder has an encoder, that what decoded encodes and decodes to the same value.

use std::sync::Arc;
use vm_memory::GuestAddress;
use vmm_core::bus::BusDevice;
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::snapshot::sections::{self, TAG_CONF, TAG_MEMS, TAG_VCPU};
use vmm_core::snapshot::{Envelope, Stateful};

/// Reads option fields off the front of an input; once the input is used up every field reads as
/// zero, so that any input is a valid set of options.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor on `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Cursor { data }
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    /// A byte.
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> u16 {
        let mut b = [0u8; 2];
        let t = self.take(2);
        b[..t.len()].copy_from_slice(t);
        u16::from_le_bytes(b)
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let t = self.take(4);
        b[..t.len()].copy_from_slice(t);
        u32::from_le_bytes(b)
    }

    /// A little-endian u64.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let t = self.take(8);
        b[..t.len()].copy_from_slice(t);
        u64::from_le_bytes(b)
    }

    /// The bytes up to the next `\n` (which is consumed), or all that is left.
    pub fn line(&mut self) -> &'a [u8] {
        match self.data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let l = &self.data[..i];
                self.data = &self.data[i + 1..];
                l
            }
            None => self.rest(),
        }
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Guest memory of one region of `size` bytes at `base`.
pub fn memory(base: u64, size: usize) -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(base), size)]).expect("mapping fuzz guest memory")
}

/// A device with registers and state.
pub trait Device: Stateful + BusDevice {}
impl<T: Stateful + BusDevice> Device for T {}

/// Reads the first 16 registers of `d`, then, as through an index/data register pair at offsets
/// 0 and 1, selects each of 128 indices and reads its data: a restored state must not make the
/// device fail later.
pub fn poke(d: &mut dyn Device) {
    let mut b = [0u8];
    for off in 0..16 {
        d.read(off, &mut b);
    }
    let mut w = [0u8; 4];
    for off in (0..0x140).step_by(4) {
        d.read(off, &mut w);
    }
    for i in 0..128u16 {
        d.write(0, &[i as u8]);
        d.read(1, &mut b);
        d.write(0, &i.to_le_bytes());
        d.read(1, &mut b);
    }
}

/// A fresh instance of every x86 device that keeps state in a snapshot, by its section tag.
pub fn x86_devices() -> Vec<([u8; 4], Box<dyn Device>)> {
    use arch_x86_64::devices::{cmos::Cmos, i8042::I8042, pm::Pm1a};
    use vmm_core::devices::irq::EventLine;
    use vmm_core::devices::{FwCfg, Serial16550};
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
    let exit = || vmm_core::ExitNotifier::new().expect("an eventfd");
    let serial = Serial16550::new(
        Arc::new(EventLine::new().expect("an eventfd")),
        Arc::new(EventFd::new(EFD_NONBLOCK).expect("an eventfd")),
        Box::new(std::io::sink()),
    );
    vec![
        (*b"SERL", Box::new(serial)),
        (*b"FWCF", Box::new(FwCfg::new(2, 64 << 20, "console=ttyS0"))),
        (*b"KBDC", Box::new(I8042::new(exit()))),
        (*b"CMOS", Box::new(Cmos::new(64 << 20, 64 << 20))),
        (
            *b"PM1A",
            Box::new(Pm1a::new(exit(), Arc::new(vmm_core::devices::irq::Unwired))),
        ),
    ]
}

/// Decodes every section of an x86 state envelope the way a restore does before it touches KVM:
/// vmm-core's `CONF`, `MEMS` and `VCPU` (with the x86 extra bytes), the x86 VM-wide sections, and
/// each legacy device's state restored into a fresh device. Errors are the expected outcome of
/// most inputs; only a panic is a finding.
pub fn decode_x86_state(env: &Envelope) {
    use arch_x86_64::snapshot as x86;
    let mut devices = x86_devices();
    for s in &env.sections {
        match s.tag {
            TAG_CONF => {
                let _ = sections::read_conf(s);
            }
            TAG_MEMS => {
                let _ = sections::read_mems(s);
            }
            TAG_VCPU => {
                if let Ok(v) = sections::read_vcpu(s) {
                    let _ = x86::decode_vcpu(&v.extra);
                }
            }
            t if t == x86::IRQC.tag => {
                let _ = x86::decode_irqchip(s);
            }
            t if t == x86::PIT2.tag => {
                let _ = x86::decode_pit(s);
            }
            t if t == x86::cput::CPUT.tag => {
                if let Ok(t) = x86::cput::decode_template(s) {
                    let again = x86::cput::template_section(&t);
                    assert_eq!(x86::cput::decode_template(&again).ok(), Some(t));
                }
            }
            t if t == x86::CLCK.tag => {
                let _ = x86::decode_clock(s);
            }
            t => {
                if let Some((_, d)) = devices.iter_mut().find(|(tag, _)| *tag == t) {
                    let _ = d.restore_state(s.version, &s.data);
                }
            }
        }
    }
    let _ = x86::decode_vm(env);
}

/// Frames `(kind, length, payload)` records as the migration stream does, each with its CRC:
/// lets a target reach what lies behind the checksums. A record is a kind byte, a u16 length and
/// that many bytes (fewer at the end).
pub fn frames_with_crc(data: &[u8]) -> Vec<u8> {
    let mut c = Cursor::new(data);
    let mut out = Vec::new();
    while !c.rest_is_empty() {
        let kind = c.u8();
        let len = usize::from(c.u16());
        let payload = c.take(len);
        let mut head = [0u8; 5];
        head[0] = kind;
        head[1..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&head);
        h.update(payload);
        out.extend_from_slice(&head);
        out.extend_from_slice(payload);
        out.extend_from_slice(&h.finalize().to_le_bytes());
    }
    out
}

impl Cursor<'_> {
    /// Whether everything was read.
    pub fn rest_is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
