//! The PL061 GPIO controller on the MMIO bus, as QEMU's `virt` machine has it: eight lines, one
//! interrupt (an SPI) for all of them. tetra wires one input: the power button on line
//! [`POWER_KEY_LINE`], which the device tree's `gpio-keys` node names as KEY_POWER.
//!
//! Registers (8 bits each; Linux's `gpio-pl061` uses byte accesses, 32-bit ones work too):
//!
//! ```text
//! 0x000-0x3fc DATA   the lines; address bits 9:2 mask the access (a write changes only the
//!                    masked lines that are outputs)
//! 0x400 DIR          1: output          0x404 IS   1: level-sensitive, 0: edge
//! 0x408 IBE          1: both edges      0x40c IEV  1: rising edge / high level
//! 0x410 IE           1: unmasked        0x414 RIS  raw interrupt status (read only)
//! 0x418 MIS          RIS & IE (read)    0x41c IC   write 1: clear an edge's status
//! 0x420 AFSEL        stored
//! 0xfe0-0xffc        PrimeCell ids: periph 0x00041061, cell 0xb105f00d
//! ```
//!
//! The interrupt reaches the GIC as an edge (an irqfd, declared edge-rising in the device
//! tree): a pulse whenever the masked status gains a line it did not have, so that a status
//! still set after the guest's handler read it is signalled again when it is re-armed (an
//! unmask of a level line). A line level held past a snapshot is kept in it; the restored VM
//! lets the power button go one hold after it starts (`Arch::POWER_BUTTON_HOLD`).

use vmm_core::bus::BusDevice;
use vmm_core::devices::InterruptLine;
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

use std::sync::Arc;

/// The register window's size.
pub const PL061_SIZE: u64 = 0x1000;
/// The line the power button drives (as on QEMU's `virt`).
pub const POWER_KEY_LINE: u8 = 3;
/// Linux's KEY_POWER input code (`linux,code` of the key).
pub const KEY_POWER: u32 = 116;

const DIR: u64 = 0x400;
const IS: u64 = 0x404;
const IBE: u64 = 0x408;
const IEV: u64 = 0x40c;
const IE: u64 = 0x410;
const RIS: u64 = 0x414;
const MIS: u64 = 0x418;
const IC: u64 = 0x41c;
const AFSEL: u64 = 0x420;
/// The PrimeCell id bytes at 0xfe0, 0xfe4, ... 0xffc.
const ID: [u8; 8] = [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// The registers, as the guest sees them, plus the levels the host drives on the lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pl061Regs {
    /// The output latch (DATA as last written).
    pub data: u8,
    /// The levels driven on the lines from outside (the power button).
    pub input: u8,
    /// DIR.
    pub dir: u8,
    /// IS.
    pub is: u8,
    /// IBE.
    pub ibe: u8,
    /// IEV.
    pub iev: u8,
    /// IE.
    pub ie: u8,
    /// RIS.
    pub ris: u8,
    /// AFSEL.
    pub afsel: u8,
}

impl Pl061Regs {
    /// The lines' levels: outputs read their latch, inputs what drives them.
    pub fn levels(&self) -> u8 {
        (self.data & self.dir) | (self.input & !self.dir)
    }

    /// The masked status (the interrupt output is up while it is not 0).
    pub fn mis(&self) -> u8 {
        self.ris & self.ie
    }

    /// Level-sensitive lines' status follows their level; `old` is the lines' levels before a
    /// change, whose edges set the status of edge-sensitive lines.
    fn update(&mut self, old: u8) {
        let new = self.levels();
        let changed = old ^ new;
        let edges = changed & !self.is;
        let rising = edges & new;
        let falling = edges & !new;
        self.ris |= edges & self.ibe;
        self.ris |= rising & !self.ibe & self.iev;
        self.ris |= falling & !self.ibe & !self.iev;
        let level_hit = !(new ^ self.iev) & self.is;
        self.ris = (self.ris & !self.is) | level_hit;
    }

    /// A guest read of the register at `offset` (a byte; 0 for unknown or write-only ones).
    pub fn read(&self, offset: u64) -> u8 {
        match offset {
            0..DIR => self.levels() & ((offset >> 2) as u8),
            DIR => self.dir,
            IS => self.is,
            IBE => self.ibe,
            IEV => self.iev,
            IE => self.ie,
            RIS => self.ris,
            MIS => self.mis(),
            AFSEL => self.afsel,
            0xfe0..=0xffc if offset.is_multiple_of(4) => ID[((offset - 0xfe0) / 4) as usize],
            _ => 0,
        }
    }

    /// A guest write of `v` to the register at `offset` (unknown and read-only ones ignore it).
    pub fn write(&mut self, offset: u64, v: u8) {
        let old = self.levels();
        match offset {
            0..DIR => {
                let mask = (offset >> 2) as u8;
                self.data = (self.data & !mask) | (v & mask);
            }
            DIR => self.dir = v,
            IS => self.is = v,
            IBE => self.ibe = v,
            IEV => self.iev = v,
            IE => self.ie = v,
            IC => self.ris &= !(v & !self.is),
            AFSEL => self.afsel = v,
            _ => {}
        }
        self.update(old);
    }

    /// Drives input line `line` (0-7) to `high`.
    pub fn set_input(&mut self, line: u8, high: bool) {
        let old = self.levels();
        let bit = 1u8 << (line & 7);
        self.input = if high {
            self.input | bit
        } else {
            self.input & !bit
        };
        self.update(old);
    }
}

/// A PL061 on the bus, its interrupt on `irq`.
pub struct Pl061 {
    regs: Pl061Regs,
    irq: Arc<dyn InterruptLine>,
}

impl Pl061 {
    /// A controller in its reset state (every line an input, every interrupt masked).
    pub fn new(irq: Arc<dyn InterruptLine>) -> Self {
        Pl061 {
            regs: Pl061Regs::default(),
            irq,
        }
    }

    /// The registers.
    pub fn regs(&self) -> &Pl061Regs {
        &self.regs
    }

    /// Drives input `line` to `high` (the power button: [`POWER_KEY_LINE`]), interrupting if the
    /// guest unmasked what that changes.
    pub fn set_input(&mut self, line: u8, high: bool) {
        self.change(|r| r.set_input(line, high));
    }

    /// Runs `f` on the registers; a pulse on the interrupt if the masked status gained a line.
    fn change(&mut self, f: impl FnOnce(&mut Pl061Regs)) {
        let before = self.regs.mis();
        f(&mut self.regs);
        if self.regs.mis() & !before != 0 {
            // An eventfd write fails only when its counter is full: an edge is pending then.
            let _ = self.irq.trigger();
        }
    }
}

/// A byte or 32-bit access at a byte offset that is a multiple of 4: its offset.
fn register(offset: u64, len: usize) -> Option<u64> {
    (matches!(len, 1 | 4) && offset.is_multiple_of(4) && offset < PL061_SIZE).then_some(offset)
}

impl BusDevice for Pl061 {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if let Some(off) = register(offset, data.len()) {
            data[0] = self.regs.read(off);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let Some(off) = register(offset, data.len()) {
            let v = data[0];
            self.change(|r| r.write(off, v));
        }
    }
}

impl Stateful for Pl061 {
    fn save_state(&self) -> Vec<u8> {
        let r = &self.regs;
        let mut w = Writer::new();
        for b in [
            r.data, r.input, r.dir, r.is, r.ibe, r.iev, r.ie, r.ris, r.afsel,
        ] {
            w.u8(b);
        }
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let regs = Pl061Regs {
            data: r.u8("the PL061 data latch")?,
            input: r.u8("the PL061 input levels")?,
            dir: r.u8("the PL061 DIR")?,
            is: r.u8("the PL061 IS")?,
            ibe: r.u8("the PL061 IBE")?,
            iev: r.u8("the PL061 IEV")?,
            ie: r.u8("the PL061 IE")?,
            ris: r.u8("the PL061 RIS")?,
            afsel: r.u8("the PL061 AFSEL")?,
        };
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        // Pending status re-signals: the GIC's edge may not have been delivered yet.
        self.regs = Pl061Regs::default();
        self.change(|r| *r = regs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::devices::irq::EventLine;

    fn rig() -> (Pl061, Arc<EventLine>) {
        let line = Arc::new(EventLine::new().unwrap());
        (Pl061::new(line.clone()), line)
    }

    fn pulses(l: &EventLine) -> u64 {
        l.0.read().unwrap_or(0)
    }

    fn rd(d: &mut Pl061, off: u64) -> u8 {
        let mut b = [0xffu8; 1];
        d.read(off, &mut b);
        b[0]
    }

    /// What Linux's gpio-keys asks for a key: both edges, unmasked.
    fn arm_both_edges(d: &mut Pl061) {
        let bit = 1 << POWER_KEY_LINE;
        d.write(IBE, &[bit]);
        d.write(IE, &[bit]);
    }

    #[test]
    fn a_press_and_release_interrupt_on_both_edges_and_read_on_data() {
        let (mut d, l) = rig();
        arm_both_edges(&mut d);
        assert_eq!(pulses(&l), 0);
        d.set_input(POWER_KEY_LINE, true);
        assert_eq!(pulses(&l), 1);
        assert_eq!(rd(&mut d, MIS), 1 << 3);
        // DATA masked by address bits 9:2: line 3 is address bit 5.
        assert_eq!(rd(&mut d, 0x3fc), 1 << 3);
        assert_eq!(rd(&mut d, 0x20), 1 << 3);
        assert_eq!(rd(&mut d, 0x10), 0);
        d.write(IC, &[1 << 3]);
        assert_eq!(rd(&mut d, RIS), 0);
        d.set_input(POWER_KEY_LINE, false);
        assert_eq!(pulses(&l), 1);
        assert_eq!(rd(&mut d, MIS), 1 << 3);
        assert_eq!(rd(&mut d, 0x3fc), 0);
    }

    #[test]
    fn masked_or_wrong_edge_lines_do_not_interrupt_until_unmasked() {
        let (mut d, l) = rig();
        // Rising only, masked.
        d.write(IEV, &[1 << 3]);
        d.set_input(3, true);
        assert_eq!(pulses(&l), 0);
        assert_eq!(rd(&mut d, RIS), 1 << 3);
        assert_eq!(rd(&mut d, MIS), 0);
        d.write(IE, &[1 << 3]);
        assert_eq!(pulses(&l), 1);
        d.write(IC, &[0xff]);
        // The falling edge is not one it asked for.
        d.set_input(3, false);
        assert_eq!(rd(&mut d, RIS), 0);
        assert_eq!(pulses(&l), 0);
    }

    #[test]
    fn a_level_line_stays_pending_while_high_and_ic_does_not_clear_it() {
        let (mut d, l) = rig();
        d.write(IS, &[1 << 3]);
        d.write(IEV, &[1 << 3]);
        d.write(IE, &[1 << 3]);
        d.set_input(3, true);
        assert_eq!(pulses(&l), 1);
        d.write(IC, &[1 << 3]);
        assert_eq!(rd(&mut d, MIS), 1 << 3);
        // Masked and unmasked again (Linux's level flow): a new pulse.
        d.write(IE, &[0]);
        d.write(IE, &[1 << 3]);
        assert_eq!(pulses(&l), 1);
        d.set_input(3, false);
        assert_eq!(rd(&mut d, RIS), 0);
    }

    #[test]
    fn outputs_read_their_latch_and_ids_identify_a_pl061() {
        let (mut d, _l) = rig();
        d.write(DIR, &[0x0f]);
        d.write(0x3fc, &[0xff]);
        assert_eq!(rd(&mut d, 0x3fc), 0x0f);
        // A masked write changes only the addressed lines.
        d.write(0x4, &[0]);
        assert_eq!(rd(&mut d, 0x3fc), 0x0e);
        let ids: Vec<u8> = (0..8).map(|i| rd(&mut d, 0xfe0 + 4 * i)).collect();
        assert_eq!(ids, ID);
        // 32-bit accesses work; 2-byte and unaligned ones read 0 and change nothing.
        let mut w = [0xffu8; 4];
        d.read(DIR, &mut w);
        assert_eq!(w, [0x0f, 0, 0, 0]);
        let mut h = [0xffu8; 2];
        d.read(DIR, &mut h);
        assert_eq!(h, [0, 0]);
        d.write(DIR + 1, &[0]);
        d.write(DIR, &[0, 0]);
        assert_eq!(rd(&mut d, DIR), 0x0f);
        assert_eq!(rd(&mut d, PL061_SIZE), 0, "outside the window: 0");
    }

    #[test]
    fn state_survives_a_save_and_restore_and_a_pending_status_pulses_again() {
        let (mut d, _l) = rig();
        arm_both_edges(&mut d);
        d.set_input(POWER_KEY_LINE, true);
        let saved = d.save_state();
        let (mut e, l2) = rig();
        e.restore_state(1, &saved).unwrap();
        assert_eq!(e.regs(), d.regs());
        assert_eq!(pulses(&l2), 1);
        assert!(e.restore_state(2, &saved).is_err());
        assert!(e.restore_state(1, &saved[..saved.len() - 1]).is_err());
        let mut long = saved.clone();
        long.push(0);
        assert!(matches!(
            e.restore_state(1, &long),
            Err(StateError::Trailing(1))
        ));
    }
}
