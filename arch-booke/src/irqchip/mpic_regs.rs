//! The MPIC register file, at the offsets the in-kernel FSL MPIC exposes through
//! `KVM_DEV_MPIC_GRP_REGISTER` (offsets from the MPIC base; the guest sees the same layout at
//! CCSR + 0x40000):
//!
//! | offset | registers |
//! |---|---|
//! | 0x00000 | BRR1; 0x40..0xB0: the current CPU's IPIDR0-3, CTPR, WHOAMI, IACK, EOI |
//! | 0x01000 | FRR, 0x1020 GCR, 0x1080 VIR, 0x1090 PIR, 0x10A0-0x10D0 IPI IVPRs, 0x10E0 SPVE |
//! | 0x010F0 | TFRR; timer n at 0x1100 + 0x40 n: TCCR, TBCR, TVPR, TDR (0x10 apart) |
//! | 0x01600 | MSIR0-7 (read clears), 0x1720 MSISR, 0x1740 MSIIR |
//! | 0x03800 | summary registers (read 0) |
//! | 0x10000 | source n at 0x10000 + 0x20 n: IVPR, +0x10 IDR, +0x18 ILR (MPIC 4.2) |
//! | 0x20000 | CPU n at 0x20000 + 0x1000 n: IPIDR0-3 (0x40..0x70), CTPR 0x80, WHOAMI 0x90, IACK 0xA0, EOI 0xB0 |
//!
//! Registers are 32 bits. Inside a block, an undefined or misaligned register reads as
//! 0xffffffff and ignores writes, as in the kernel; an offset outside every block is an error
//! (the kernel's -ENXIO).

use super::mpic::*;

/// Size of the MPIC register window.
pub const MPIC_WINDOW: u64 = 0x40000;
/// BRR1.
pub const BRR1: u64 = 0x0;
/// FRR: feature reporting.
pub const FRR: u64 = 0x1000;
/// GCR: global configuration.
pub const GCR: u64 = 0x1020;
/// VIR: vendor identification.
pub const VIR: u64 = 0x1080;
/// PIR: processor initialization (core reset; handled by userspace).
pub const PIR: u64 = 0x1090;
/// IPI n vector/priority at `IPI_IVPR0 + 0x10 n`.
pub const IPI_IVPR0: u64 = 0x10a0;
/// SPVE: spurious vector.
pub const SPVE: u64 = 0x10e0;
/// TFRR: timer frequency.
pub const TFRR: u64 = 0x10f0;
/// Timer n registers at `TIMER0 + 0x40 n`.
pub const TIMER0: u64 = 0x1100;
/// Offset of TCCR (current count) in a timer block.
pub const TMR_TCCR: u64 = 0x00;
/// Offset of TBCR (base count) in a timer block.
pub const TMR_TBCR: u64 = 0x10;
/// Offset of TVPR (vector/priority) in a timer block.
pub const TMR_TVPR: u64 = 0x20;
/// Offset of TDR (destination) in a timer block.
pub const TMR_TDR: u64 = 0x30;
/// MSI block.
pub const MSI_BASE: u64 = 0x1600;
/// MSISR (relative to the MSI block).
pub const MSISR: u64 = 0x120;
/// MSIIR (relative to the MSI block): a write raises an MSI.
pub const MSIIR: u64 = 0x140;
/// Summary block.
pub const SUMMARY_BASE: u64 = 0x3800;
/// Source n registers at `SRC_BASE + 0x20 n`.
pub const SRC_BASE: u64 = 0x10000;
/// Offset of IVPR in a source block.
pub const SRC_IVPR: u64 = 0x00;
/// Offset of IDR in a source block.
pub const SRC_IDR: u64 = 0x10;
/// Offset of ILR in a source block (MPIC 4.2).
pub const SRC_ILR: u64 = 0x18;
/// CPU n registers at `CPU_BASE + 0x1000 n`.
pub const CPU_BASE: u64 = 0x20000;
/// Offset of IPIDR0 (IPI dispatch) in a CPU block; IPIDR n at + 0x10 n.
pub const CPU_IPIDR0: u64 = 0x40;
/// Offset of CTPR (current task priority) in a CPU block.
pub const CPU_CTPR: u64 = 0x80;
/// Offset of WHOAMI in a CPU block.
pub const CPU_WHOAMI: u64 = 0x90;
/// Offset of IACK (interrupt acknowledge) in a CPU block.
pub const CPU_IACK: u64 = 0xa0;
/// Offset of EOI in a CPU block.
pub const CPU_EOI: u64 = 0xb0;

const UNDEF: u32 = 0xffff_ffff;

/// Which block an offset falls in.
enum Block {
    Global(u64),
    Timer(u64),
    Msi(u64),
    Summary,
    Source(u64),
    Cpu(usize, u64),
}

fn block(offset: u64) -> Option<Block> {
    Some(match offset {
        0..0x10f0 => Block::Global(offset),
        0x10f0..0x1310 => Block::Timer(offset),
        0x1600..0x1800 => Block::Msi(offset - MSI_BASE),
        0x3800..0x4000 => Block::Summary,
        0x10000..0x12000 => Block::Source(offset - SRC_BASE),
        0x20000..0x3f100 => {
            let rel = offset - CPU_BASE;
            Block::Cpu((rel >> 12) as usize, rel & 0xfff)
        }
        _ => return None,
    })
}

impl Mpic {
    /// Reads the register at `offset`. `cpu` is the accessing CPU, used by the per-CPU aliases
    /// at 0x40..0xB0 (`None` from a device-attribute access: they read 0xffffffff). IACK and the
    /// MSIRs have side effects, as on the hardware.
    pub fn read(&mut self, offset: u64, cpu: Option<usize>) -> Result<u32, MpicError> {
        if !offset.is_multiple_of(4) {
            return Err(MpicError::Unaligned(offset));
        }
        let b = block(offset).ok_or(MpicError::NoRegister(offset))?;
        if !offset.is_multiple_of(16) && !matches!(b, Block::Source(_)) {
            return Ok(UNDEF);
        }
        Ok(match b {
            Block::Global(o) => match o {
                BRR1 => self.model.brr1(),
                0x40..=0xb0 => match cpu {
                    Some(c) => self.read_cpu(c, o),
                    None => UNDEF,
                },
                FRR => {
                    ((self.model.nb_irqs() - 1) << 16)
                        | ((self.nb_cpus as u32 - 1) << 8)
                        | VID_REVISION_1_2
                }
                GCR => self.gcr,
                VIR => 0,
                PIR => 0,
                0x10a0..=0x10d0 => self.src[IRQ_IPI0 + ((o - IPI_IVPR0) >> 4) as usize].ivpr,
                SPVE => self.spve,
                _ => UNDEF,
            },
            Block::Timer(o) => self.read_timer(o),
            Block::Msi(o) => match o {
                0x00..=0x70 => self.take_msir((o >> 4) as usize),
                MSISR => (0..MAX_MSI).fold(0, |r, i| r | (u32::from(self.msir[i] != 0) << i)),
                _ => UNDEF,
            },
            Block::Summary => 0,
            Block::Source(o) => {
                let n = (o >> 5) as usize;
                match o & 0x1f {
                    SRC_IVPR => self.src[n].ivpr,
                    SRC_IDR => self.src[n].idr,
                    SRC_ILR if self.model.has_ilr() => self.src[n].output as u32,
                    _ => UNDEF,
                }
            }
            Block::Cpu(c, o) => self.read_cpu(c, o),
        })
    }

    fn read_timer(&self, o: u64) -> u32 {
        if o == TFRR {
            return self.tfrr;
        }
        if !(TIMER0..TIMER0 + 0x40 * MAX_TMR as u64).contains(&o) {
            return UNDEF;
        }
        let t = ((o - TIMER0) >> 6) as usize;
        match o & 0x30 {
            TMR_TCCR => self.timers[t].tccr,
            TMR_TBCR => self.timers[t].tbcr,
            TMR_TVPR => self.src[IRQ_TIM0 + t].ivpr,
            _ => self.src[IRQ_TIM0 + t].idr,
        }
    }

    fn read_cpu(&mut self, cpu: usize, o: u64) -> u32 {
        if cpu >= self.nb_cpus || !o.is_multiple_of(16) {
            return UNDEF;
        }
        match o {
            CPU_CTPR => self.dst[cpu].ctpr,
            CPU_WHOAMI => cpu as u32,
            CPU_IACK => self.iack(cpu),
            CPU_EOI => 0,
            _ => UNDEF,
        }
    }

    /// Writes the register at `offset` (see [`read`](Self::read) for `cpu`). Read-only registers
    /// ignore writes; a write to PIR (core reset) is left to the board, as the kernel leaves it
    /// to userspace.
    pub fn write(&mut self, offset: u64, val: u32, cpu: Option<usize>) -> Result<(), MpicError> {
        if !offset.is_multiple_of(4) {
            return Err(MpicError::Unaligned(offset));
        }
        let b = block(offset).ok_or(MpicError::NoRegister(offset))?;
        if !offset.is_multiple_of(16) && !matches!(b, Block::Source(_)) {
            return Ok(());
        }
        match b {
            Block::Global(o) => match o {
                0x40..=0xb0 => {
                    if let Some(c) = cpu {
                        self.write_cpu(c, o, val);
                    }
                }
                GCR => {
                    if val & GCR_RESET != 0 {
                        self.reset();
                    } else {
                        let mode = self.model.mode_mask();
                        self.gcr = (self.gcr & !mode) | (val & mode);
                    }
                }
                0x10a0..=0x10d0 => self.write_ivpr(IRQ_IPI0 + ((o - IPI_IVPR0) >> 4) as usize, val),
                SPVE => self.spve = val & VECTOR_MASK,
                _ => {}
            },
            Block::Timer(o) => {
                if o == TFRR {
                    self.tfrr = val;
                } else if (TIMER0..TIMER0 + 0x40 * MAX_TMR as u64).contains(&o) {
                    let t = ((o - TIMER0) >> 6) as usize;
                    match o & 0x30 {
                        TMR_TCCR => {}
                        TMR_TBCR => self.write_tbcr(t, val),
                        TMR_TVPR => self.write_ivpr(IRQ_TIM0 + t, val),
                        _ => self.write_idr(IRQ_TIM0 + t, val),
                    }
                }
            }
            Block::Msi(MSIIR) => {
                self.msi((val >> 29) as usize, (val >> 24) & 0x1f);
            }
            Block::Msi(_) | Block::Summary => {}
            Block::Source(o) => {
                let n = (o >> 5) as usize;
                match o & 0x1f {
                    SRC_IVPR => self.write_ivpr(n, val),
                    SRC_IDR => self.write_idr(n, val),
                    SRC_ILR => self.write_ilr(n, val),
                    _ => {}
                }
            }
            Block::Cpu(c, o) => self.write_cpu(c, o, val),
        }
        Ok(())
    }

    fn write_cpu(&mut self, cpu: usize, o: u64, val: u32) {
        if cpu >= self.nb_cpus {
            return;
        }
        match o {
            0x40 | 0x50 | 0x60 | 0x70 => self.send_ipi(((o - CPU_IPIDR0) >> 4) as usize, val),
            CPU_CTPR => self.write_ctpr(cpu, val),
            CPU_EOI => self.eoi(cpu),
            _ => {}
        }
    }

    /// A guest load from the MMIO window: 4-byte, big-endian (the MPIC is a big-endian device).
    /// Other sizes and offsets outside the registers read all ones.
    pub fn mmio_read(&mut self, offset: u64, cpu: usize, data: &mut [u8]) {
        let v = match data.len() {
            4 => self.read(offset, Some(cpu)).unwrap_or(UNDEF),
            _ => UNDEF,
        };
        for (i, b) in data.iter_mut().enumerate() {
            *b = v.to_be_bytes().get(i).copied().unwrap_or(0xff);
        }
    }

    /// A guest store to the MMIO window (4-byte, big-endian; other sizes are ignored).
    pub fn mmio_write(&mut self, offset: u64, cpu: usize, data: &[u8]) {
        if let Ok(b) = <[u8; 4]>::try_from(data) {
            let _ = self.write(offset, u32::from_be_bytes(b), Some(cpu));
        }
    }
}

/// Per-CPU register offset (in the CPU block of `cpu`).
pub fn cpu_reg(cpu: usize, reg: u64) -> u64 {
    CPU_BASE + 0x1000 * cpu as u64 + reg
}

/// Source register offset.
pub fn src_reg(n: usize, reg: u64) -> u64 {
    SRC_BASE + 0x20 * n as u64 + reg
}

/// Timer register offset.
pub fn timer_reg(t: usize, reg: u64) -> u64 {
    TIMER0 + 0x40 * t as u64 + reg
}
