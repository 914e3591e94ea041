//! The x86_64 parts of a VM snapshot and of a migration stream, in vmm-core's envelope (magic
//! [`SNAPSHOT_MAGIC`], see `docs/snapshot-format.md`):
//!
//! - each vCPU's **registers** (MSRs, LAPIC, XSAVE, events, MP state included): vmm-core's `VCPU`
//!   section, by the x86 register table's ids;
//! - each vCPU's **CPUID and TSC frequency**: the arch's extra bytes of its `VCPU` section
//!   ([`encode_vcpu`]);
//! - the **PIC and IOAPIC** (`KVM_GET_IRQCHIP`): section [`IRQC`]; the **PIT**
//!   (`KVM_GET_PIT2`): section [`PIT2`], present exactly when the VM has a PIT (`--pit`; every
//!   snapshot before `--pit` has one); the **KVM clock** (`KVM_GET_CLOCK`): section [`CLCK`];
//! - the **CPU template** (`--cpu-template`) and the named CPUID features the guest sees: section
//!   [`cput::CPUT`] (its format is in [`cput`]);
//! - the legacy devices: their own sections (`SERL`, `FWCF`, `KBDC`, `CMOS`, `PM1A`).
//!
//! The state is plain Rust ([`VmState`], [`VcpuExtra`]), independent of kvm-bindings; the ioctl
//! glue converts. Every integer is little-endian, every field written on its own:
//!
//! ```text
//! IRQC version 2:
//!   u32 PIC count = 2, 2 x PIC (master, slave) of 16 x u8, in struct kvm_pic_state's order:
//!     last_irr irr imr isr priority_add irq_base read_reg_select poll special_mask init_state
//!     auto_eoi rotate_on_auto_eoi special_fully_nested_mode init4 elcr elcr_mask
//!   IOAPIC: u64 base_address, u32 ioregsel, u32 id, u32 irr, u32 pin count = 24,
//!     24 x u64 redirection entry
//! PIT2 version 2:
//!   u32 channel count = 3, 3 x channel (u32 count, u16 latched_count, u8 count_latched,
//!     u8 status_latched, u8 status, u8 read_state, u8 write_state, u8 write_latch, u8 rw_mode,
//!     u8 mode, u8 bcd, u8 gate, i64 count_load_time), u32 flags
//! CLCK version 1:
//!   u64 clock
//! vCPU extra version 2:
//!   "XVCP", u16 version = 2, u32 count, count x CPUID entry (u32 function, index, flags, eax,
//!   ebx, ecx, edx), u32 TSC kHz (0: unknown)
//! ```
//!
//! # Version 1 (tetra 1.0), still read
//!
//! tetra 1.0 wrote `IRQC` and `PIT2` as copies of x86_64 kvm-bindings structs (the uapi layout,
//! little-endian); the snapshot files it left, such as the suite's 1.0 fixture, must restore. They
//! are decoded here field by field at the structs' offsets, into the same plain types:
//!
//! ```text
//! IRQC version 1:
//!   u32 chip count = 3, 3 x (u32 chip id = 0, 1, 2 in order, u32 length = 520,
//!     struct kvm_irqchip: u32 chip_id (the same), u32 pad, 512-byte union:
//!       chips 0, 1: the 16 PIC bytes as above;
//!       chip 2: u64 base_address, u32 ioregsel, u32 id, u32 irr, u32 pad, 24 x u64 entry;
//!       the rest of the union unused)
//! PIT2 version 1 (112 bytes, struct kvm_pit_state2):
//!   3 x channel (24 bytes, as above), u32 flags, 9 x u32 reserved
//! vCPU extra version 1: the version 2 bytes without "XVCP" and the version
//! ```
//!
//! A v1 vCPU extra starts with its CPUID count (at most 256), which can never read as "XVCP".
//! `CLCK` kept version 1: it always held the one u64, written as such. Pads, reserved words and
//! the unused part of the union are skipped, not checked (KVM ignores them).
//!
//! # Validation
//!
//! Decoding checks the section version ([`vmm_core::snapshot::SectionSpec`]), every count (2
//! PICs, [`IOAPIC_PINS`] pins, [`PIT_CHANNELS`] channels, at most [`MAX_CPUID_ENTRIES`] CPUID
//! entries, checked against the bytes left before anything is allocated), every field whose range
//! KVM's own devices keep (the ranges are in [`IrqchipState::check`], [`PitState::check`] and
//! [`VcpuExtra::check`]), and that every byte is consumed. A bad input is an
//! [`X86SnapshotError`] naming the field, never a panic. (The envelope adds its CRC and caps.)

use crate::cpuid::CpuidEntry;
use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, Envelope, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

/// The magic of x86_64 snapshots and migration streams.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRAX86";
/// The PIC pair and the IOAPIC.
pub const IRQC: SectionSpec = SectionSpec::new(*b"IRQC", 1, 2);
/// The PIT.
pub const PIT2: SectionSpec = SectionSpec::new(*b"PIT2", 1, 2);
/// The KVM clock.
pub const CLCK: SectionSpec = SectionSpec::new(*b"CLCK", 1, 1);
/// The tags of the VM-wide sections.
pub const VM_STATE_TAGS: [[u8; 4]; 4] = [IRQC.tag, PIT2.tag, CLCK.tag, cput::CPUT.tag];
const _: () = check_tags(&[IRQC, PIT2, CLCK, cput::CPUT]);
/// The header of a vCPU's extra bytes from version 2 on (version 1 has none).
pub const VCPU_EXTRA: SectionSpec = SectionSpec::new(*b"XVCP", 2, 2);

/// The IOAPIC's pins (`KVM_IOAPIC_NUM_PINS`).
pub const IOAPIC_PINS: usize = 24;
/// The PIT's channels.
pub const PIT_CHANNELS: usize = 3;
/// The largest PIT channel count (a programmed 0 counts 65536).
pub const PIT_MAX_COUNT: u32 = 0x1_0000;
/// `KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON`.
pub const PIT_FLAGS: u32 = 0b11;
/// The most CPUID entries KVM takes (`KVM_MAX_CPUID_ENTRIES`).
pub const MAX_CPUID_ENTRIES: usize = 256;
/// `KVM_CPUID_FLAG_SIGNIFCANT_INDEX | KVM_CPUID_FLAG_STATEFUL_FUNC | KVM_CPUID_FLAG_STATE_READ_NEXT`.
pub const CPUID_FLAGS: u32 = 0b111;

const PIC_BYTES: usize = 16;
const PIT_CHANNEL_BYTES: usize = 24;
const CPUID_ENTRY_BYTES: usize = 28;
/// `sizeof(struct kvm_irqchip)`.
const V1_IRQCHIP_BYTES: usize = 520;
/// `sizeof(struct kvm_pit_state2)`.
const V1_PIT_BYTES: usize = 112;

/// Why x86 snapshot state was refused.
#[derive(Debug, Error)]
pub enum X86SnapshotError {
    /// Truncated, trailing bytes, a section missing or of an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A list of the wrong length.
    #[error("{count} {what}, where x86 has {expected}")]
    Count {
        /// What is counted.
        what: &'static str,
        /// The count read.
        count: usize,
        /// The only count x86 has.
        expected: usize,
    },
    /// More CPUID entries than KVM takes.
    #[error("{0} CPUID entries, more than the {MAX_CPUID_ENTRIES} KVM takes")]
    CpuidCount(usize),
    /// A field outside the range KVM's device keeps it in.
    #[error("{field} is {value:#x}, which is not {allowed}")]
    Field {
        /// The field, e.g. `PIT channel 2 mode`.
        field: String,
        /// Its value.
        value: u64,
        /// What it may be.
        allowed: &'static str,
    },
    /// A version-1 irqchip out of place.
    #[error("version-1 irqchip entry {index} names chip {id}, not {index}")]
    V1ChipId {
        /// The entry's position.
        index: usize,
        /// The chip it names.
        id: u32,
    },
    /// A version-1 struct copy of the wrong size.
    #[error("{what} in a version-1 section is {len} bytes, not {expected}")]
    V1Length {
        /// Which struct.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The struct's size.
        expected: usize,
    },
}
vmm_core::codec_error_from!(X86SnapshotError);

/// Fails with [`X86SnapshotError::Field`] unless `ok`.
fn field(
    ok: bool,
    name: impl FnOnce() -> String,
    value: impl Into<u64>,
    allowed: &'static str,
) -> Result<(), X86SnapshotError> {
    if ok {
        Ok(())
    } else {
        Err(X86SnapshotError::Field {
            field: name(),
            value: value.into(),
            allowed,
        })
    }
}

/// Fails with [`X86SnapshotError::Count`] unless `count == expected`.
fn exactly(what: &'static str, count: usize, expected: usize) -> Result<(), X86SnapshotError> {
    if count == expected {
        Ok(())
    } else {
        Err(X86SnapshotError::Count {
            what,
            count,
            expected,
        })
    }
}

/// One 8259A (`struct kvm_pic_state`, whose field names these are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PicState {
    /// The IRR at the last edge check.
    pub last_irr: u8,
    /// Interrupt request register.
    pub irr: u8,
    /// Interrupt mask register.
    pub imr: u8,
    /// In-service register.
    pub isr: u8,
    /// The line of highest priority (rotation), 0 to 7.
    pub priority_add: u8,
    /// The vector of line 0, a multiple of 8.
    pub irq_base: u8,
    /// OCW3: read ISR (1) or IRR (0).
    pub read_reg_select: u8,
    /// OCW3 poll command pending.
    pub poll: u8,
    /// Special mask mode.
    pub special_mask: u8,
    /// Which ICW comes next: 0 (initialised) to 3.
    pub init_state: u8,
    /// Automatic EOI.
    pub auto_eoi: u8,
    /// Rotate on automatic EOI.
    pub rotate_on_auto_eoi: u8,
    /// Special fully nested mode.
    pub special_fully_nested_mode: u8,
    /// ICW4 expected.
    pub init4: u8,
    /// Edge/level control (PIIX ELCR).
    pub elcr: u8,
    /// The ELCR bits this chip has.
    pub elcr_mask: u8,
}

impl PicState {
    /// The fields in `struct kvm_pic_state`'s order (the wire order).
    pub fn to_bytes(&self) -> [u8; PIC_BYTES] {
        [
            self.last_irr,
            self.irr,
            self.imr,
            self.isr,
            self.priority_add,
            self.irq_base,
            self.read_reg_select,
            self.poll,
            self.special_mask,
            self.init_state,
            self.auto_eoi,
            self.rotate_on_auto_eoi,
            self.special_fully_nested_mode,
            self.init4,
            self.elcr,
            self.elcr_mask,
        ]
    }

    /// The inverse of [`PicState::to_bytes`].
    pub fn from_bytes(b: [u8; PIC_BYTES]) -> Self {
        PicState {
            last_irr: b[0],
            irr: b[1],
            imr: b[2],
            isr: b[3],
            priority_add: b[4],
            irq_base: b[5],
            read_reg_select: b[6],
            poll: b[7],
            special_mask: b[8],
            init_state: b[9],
            auto_eoi: b[10],
            rotate_on_auto_eoi: b[11],
            special_fully_nested_mode: b[12],
            init4: b[13],
            elcr: b[14],
            elcr_mask: b[15],
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, X86SnapshotError> {
        Ok(PicState::from_bytes(r.array("a PIC state")?))
    }

    fn check(&self, chip: &str) -> Result<(), X86SnapshotError> {
        let flag = |v: u8| (v, v <= 1, "0 or 1");
        for (f, (v, ok, allowed)) in [
            (
                "priority_add",
                (self.priority_add, self.priority_add <= 7, "0 to 7"),
            ),
            (
                "irq_base",
                (self.irq_base, self.irq_base & 7 == 0, "a multiple of 8"),
            ),
            (
                "init_state",
                (self.init_state, self.init_state <= 3, "0 to 3"),
            ),
            ("read_reg_select", flag(self.read_reg_select)),
            ("poll", flag(self.poll)),
            ("special_mask", flag(self.special_mask)),
            ("auto_eoi", flag(self.auto_eoi)),
            ("rotate_on_auto_eoi", flag(self.rotate_on_auto_eoi)),
            (
                "special_fully_nested_mode",
                flag(self.special_fully_nested_mode),
            ),
            ("init4", flag(self.init4)),
        ] {
            field(ok, || format!("{chip} PIC {f}"), v, allowed)?;
        }
        Ok(())
    }
}

/// The IOAPIC (`struct kvm_ioapic_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoapicState {
    /// Its MMIO base.
    pub base_address: u64,
    /// The register select (IOREGSEL), 8 bits.
    pub ioregsel: u32,
    /// The IOAPIC id, 4 bits.
    pub id: u32,
    /// Pending level interrupts, one bit a pin.
    pub irr: u32,
    /// The redirection table, as the 64-bit entries the guest reads.
    pub redirtbl: [u64; IOAPIC_PINS],
}

impl IoapicState {
    /// Reads the IOAPIC; in version 1 the word after `irr` is the struct's pad, in version 2 the
    /// pin count.
    fn read(r: &mut Reader<'_>, version: u16) -> Result<Self, X86SnapshotError> {
        let mut s = IoapicState {
            base_address: r.u64("the IOAPIC base address")?,
            ioregsel: r.u32("the IOAPIC ioregsel")?,
            id: r.u32("the IOAPIC id")?,
            irr: r.u32("the IOAPIC irr")?,
            ..IoapicState::default()
        };
        if version == 1 {
            r.u32("the IOAPIC pad")?;
        } else {
            let pins = r.count("the IOAPIC pin count", 8)?;
            exactly("IOAPIC pins", pins, IOAPIC_PINS)?;
        }
        for e in s.redirtbl.iter_mut() {
            *e = r.u64("an IOAPIC redirection entry")?;
        }
        Ok(s)
    }

    fn check(&self) -> Result<(), X86SnapshotError> {
        for (f, v, ok, allowed) in [
            ("ioregsel", self.ioregsel, self.ioregsel <= 0xff, "8 bits"),
            ("id", self.id, self.id <= 0xf, "4 bits"),
            (
                "irr",
                self.irr,
                self.irr >> IOAPIC_PINS == 0,
                "one bit a pin",
            ),
        ] {
            field(ok, || format!("IOAPIC {f}"), v, allowed)?;
        }
        Ok(())
    }
}

/// The in-kernel PIC pair and IOAPIC (`KVM_GET_IRQCHIP` chips 0, 1 and 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqchipState {
    /// The master and the slave 8259A.
    pub pic: [PicState; 2],
    /// The IOAPIC.
    pub ioapic: IoapicState,
}

impl IrqchipState {
    /// Checks every field against the range KVM's PIC and IOAPIC keep it in: PIC `priority_add`
    /// 0 to 7, `irq_base` a multiple of 8, `init_state` 0 to 3, its mode flags 0 or 1; IOAPIC
    /// `ioregsel` 8 bits, `id` 4 bits, `irr` one bit for each of the 24 pins.
    pub fn check(&self) -> Result<(), X86SnapshotError> {
        self.pic[0].check("master")?;
        self.pic[1].check("slave")?;
        self.ioapic.check()
    }
}

/// One PIT channel (`struct kvm_pit_channel_state`, whose field names these are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PitChannel {
    /// The count loaded, 1 to 0x10000 (0 is read as 0x10000).
    pub count: u32,
    /// The count latched for reading.
    pub latched_count: u16,
    /// Which bytes of the latched count remain to be read (a read/write mode), 0 if none.
    pub count_latched: u8,
    /// A status byte is latched.
    pub status_latched: u8,
    /// The latched status byte.
    pub status: u8,
    /// The read access state (`RW_STATE_*`, 1 to 4).
    pub read_state: u8,
    /// The write access state (`RW_STATE_*`, 1 to 4).
    pub write_state: u8,
    /// The low byte of a count written in two halves.
    pub write_latch: u8,
    /// The access mode programmed, 1 to 3.
    pub rw_mode: u8,
    /// The counter mode, 0 to 5; 0xff for a channel never programmed.
    pub mode: u8,
    /// BCD counting.
    pub bcd: u8,
    /// The gate input.
    pub gate: u8,
    /// When the count was loaded (host ktime, nanoseconds).
    pub count_load_time: i64,
}

impl PitChannel {
    fn write(&self, w: &mut Writer) {
        w.u32(self.count);
        w.u16(self.latched_count);
        w.bytes(&[
            self.count_latched,
            self.status_latched,
            self.status,
            self.read_state,
            self.write_state,
            self.write_latch,
            self.rw_mode,
            self.mode,
            self.bcd,
            self.gate,
        ]);
        w.u64(self.count_load_time as u64);
    }

    /// The same 24 bytes in both versions (the uapi struct has no padding).
    fn read(r: &mut Reader<'_>) -> Result<Self, X86SnapshotError> {
        let count = r.u32("a PIT channel count")?;
        let latched_count = r.u16("a PIT latched count")?;
        let b: [u8; 10] = r.array("a PIT channel's state bytes")?;
        Ok(PitChannel {
            count,
            latched_count,
            count_latched: b[0],
            status_latched: b[1],
            status: b[2],
            read_state: b[3],
            write_state: b[4],
            write_latch: b[5],
            rw_mode: b[6],
            mode: b[7],
            bcd: b[8],
            gate: b[9],
            count_load_time: r.u64("a PIT count load time")? as i64,
        })
    }

    fn check(&self, channel: usize) -> Result<(), X86SnapshotError> {
        let upto = |v: u8, max: u8, allowed| (u32::from(v), v <= max, allowed);
        let mode_ok = self.mode <= 5 || self.mode == 0xff;
        for (f, (v, ok, allowed)) in [
            (
                "count",
                (self.count, self.count <= PIT_MAX_COUNT, "0 to 0x10000"),
            ),
            (
                "mode",
                (
                    self.mode.into(),
                    mode_ok,
                    "0 to 5, or 0xff (never programmed)",
                ),
            ),
            ("count_latched", upto(self.count_latched, 3, "0 to 3")),
            ("rw_mode", upto(self.rw_mode, 3, "0 to 3")),
            ("read_state", upto(self.read_state, 4, "0 to 4")),
            ("write_state", upto(self.write_state, 4, "0 to 4")),
            ("status_latched", upto(self.status_latched, 1, "0 or 1")),
            ("bcd", upto(self.bcd, 1, "0 or 1")),
            ("gate", upto(self.gate, 1, "0 or 1")),
        ] {
            field(ok, || format!("PIT channel {channel} {f}"), v, allowed)?;
        }
        Ok(())
    }
}

/// The PIT (`struct kvm_pit_state2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PitState {
    /// Channels 0 (the timer interrupt), 1 and 2 (the speaker).
    pub channels: [PitChannel; PIT_CHANNELS],
    /// `KVM_PIT_FLAGS_*`.
    pub flags: u32,
}

impl PitState {
    /// Checks every field against the range KVM's PIT keeps it in: `count` at most 0x10000,
    /// `mode` 0 to 5 or 0xff (a channel never programmed), `rw_mode` and `count_latched` 0 to 3,
    /// `read_state` and `write_state` 0 to 4, `status_latched`, `bcd` and `gate` 0 or 1, and no
    /// flag outside [`PIT_FLAGS`].
    pub fn check(&self) -> Result<(), X86SnapshotError> {
        for (i, c) in self.channels.iter().enumerate() {
            c.check(i)?;
        }
        let known = self.flags & !PIT_FLAGS == 0;
        field(
            known,
            || "PIT flags".into(),
            self.flags,
            "KVM_PIT_FLAGS_* bits",
        )
    }
}

/// The KVM clock (`struct kvm_clock_data`'s `clock`: the guest's kvmclock in nanoseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmClock {
    /// Nanoseconds.
    pub clock: u64,
}

/// The VM-wide x86 state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmState {
    /// The PICs and the IOAPIC.
    pub irqchip: IrqchipState,
    /// The PIT, if the VM has one (`--pit`).
    pub pit: Option<PitState>,
    /// The KVM clock.
    pub clock: KvmClock,
}

/// A vCPU's state outside the register table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VcpuExtra {
    /// Its CPUID, as `KVM_GET_CPUID2` gives it.
    pub cpuid: Vec<CpuidEntry>,
    /// Its TSC frequency in kHz; 0 when KVM could not tell.
    pub tsc_khz: u32,
}

impl VcpuExtra {
    /// Checks the CPUID: at most [`MAX_CPUID_ENTRIES`] entries, no flag outside [`CPUID_FLAGS`].
    pub fn check(&self) -> Result<(), X86SnapshotError> {
        if self.cpuid.len() > MAX_CPUID_ENTRIES {
            return Err(X86SnapshotError::CpuidCount(self.cpuid.len()));
        }
        for (i, e) in self.cpuid.iter().enumerate() {
            let name = || format!("CPUID entry {i} (leaf {:#x}) flags", e.function);
            field(
                e.flags & !CPUID_FLAGS == 0,
                name,
                e.flags,
                "KVM_CPUID_FLAG_* bits",
            )?;
        }
        Ok(())
    }
}

/// The VM-wide sections, at their current versions.
pub fn encode_vm(s: &VmState) -> Vec<Section> {
    let mut sections = vec![irqchip_section(&s.irqchip)];
    sections.extend(s.pit.as_ref().map(pit_section));
    sections.push(clock_section(&s.clock));
    sections
}

/// Decodes and checks the VM-wide sections of `env`.
pub fn decode_vm(env: &Envelope) -> Result<VmState, X86SnapshotError> {
    Ok(VmState {
        irqchip: decode_irqchip(IRQC.require(env)?)?,
        pit: env.section(&PIT2.tag).map(decode_pit).transpose()?,
        clock: decode_clock(CLCK.require(env)?)?,
    })
}

/// Section `IRQC`.
pub fn irqchip_section(s: &IrqchipState) -> Section {
    let mut w = Writer::new();
    w.u32(s.pic.len() as u32);
    for p in &s.pic {
        w.bytes(&p.to_bytes());
    }
    let io = &s.ioapic;
    w.u64(io.base_address);
    w.u32(io.ioregsel);
    w.u32(io.id);
    w.u32(io.irr);
    w.u32(IOAPIC_PINS as u32);
    io.redirtbl.iter().for_each(|e| w.u64(*e));
    IRQC.section(w.into_bytes())
}

/// Decodes and checks section `IRQC`, version 1 or 2.
pub fn decode_irqchip(s: &Section) -> Result<IrqchipState, X86SnapshotError> {
    let version = IRQC.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let state = if version == 1 {
        irqchip_v1(&mut r)?
    } else {
        let pics = r.count("the PIC count", PIC_BYTES)?;
        exactly("PICs", pics, 2)?;
        IrqchipState {
            pic: [PicState::read(&mut r)?, PicState::read(&mut r)?],
            ioapic: IoapicState::read(&mut r, version)?,
        }
    };
    r.finish("the IRQC section")?;
    state.check()?;
    Ok(state)
}

/// tetra 1.0's `IRQC`: three `struct kvm_irqchip` copies.
fn irqchip_v1(r: &mut Reader<'_>) -> Result<IrqchipState, X86SnapshotError> {
    let chips = r.count("the irqchip count", 8)?;
    exactly("irqchips", chips, 3)?;
    let mut state = IrqchipState::default();
    for index in 0..3 {
        let id = r.u32("an irqchip id")?;
        let blob = r.blob("an irqchip")?;
        if blob.len() != V1_IRQCHIP_BYTES {
            return Err(X86SnapshotError::V1Length {
                what: "struct kvm_irqchip",
                len: blob.len(),
                expected: V1_IRQCHIP_BYTES,
            });
        }
        let mut c = Reader::new(blob);
        for id in [id, c.u32("the irqchip's chip_id")?] {
            if id as usize != index {
                return Err(X86SnapshotError::V1ChipId { index, id });
            }
        }
        c.u32("the irqchip pad")?;
        match index {
            0 | 1 => state.pic[index] = PicState::read(&mut c)?,
            _ => state.ioapic = IoapicState::read(&mut c, 1)?,
        }
        // The rest of the 512-byte union is unused.
    }
    Ok(state)
}

/// Section `PIT2`.
pub fn pit_section(s: &PitState) -> Section {
    let mut w = Writer::new();
    w.u32(PIT_CHANNELS as u32);
    s.channels.iter().for_each(|c| c.write(&mut w));
    w.u32(s.flags);
    PIT2.section(w.into_bytes())
}

/// Decodes and checks section `PIT2`, version 1 or 2.
pub fn decode_pit(s: &Section) -> Result<PitState, X86SnapshotError> {
    let version = PIT2.check(s.version)?;
    if version == 1 && s.data.len() != V1_PIT_BYTES {
        return Err(X86SnapshotError::V1Length {
            what: "struct kvm_pit_state2",
            len: s.data.len(),
            expected: V1_PIT_BYTES,
        });
    }
    let mut r = Reader::new(&s.data);
    if version != 1 {
        let n = r.count("the PIT channel count", PIT_CHANNEL_BYTES)?;
        exactly("PIT channels", n, PIT_CHANNELS)?;
    }
    let state = PitState {
        channels: [
            PitChannel::read(&mut r)?,
            PitChannel::read(&mut r)?,
            PitChannel::read(&mut r)?,
        ],
        flags: r.u32("the PIT flags")?,
    };
    if version == 1 {
        r.take("the PIT reserved words", 36)?;
    }
    r.finish("the PIT2 section")?;
    state.check()?;
    Ok(state)
}

/// Section `CLCK`.
pub fn clock_section(c: &KvmClock) -> Section {
    let mut w = Writer::new();
    w.u64(c.clock);
    CLCK.section(w.into_bytes())
}

/// Decodes section `CLCK`.
pub fn decode_clock(s: &Section) -> Result<KvmClock, X86SnapshotError> {
    CLCK.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let clock = r.u64("the KVM clock")?;
    r.finish("the CLCK section")?;
    Ok(KvmClock { clock })
}

/// A vCPU's extra bytes, at the current version.
pub fn encode_vcpu(x: &VcpuExtra) -> Vec<u8> {
    let mut w = Writer::new();
    w.bytes(&VCPU_EXTRA.tag);
    w.u16(VCPU_EXTRA.current);
    w.u32(x.cpuid.len() as u32);
    for e in &x.cpuid {
        for v in [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx] {
            w.u32(v);
        }
    }
    w.u32(x.tsc_khz);
    w.into_bytes()
}

/// Decodes and checks a vCPU's extra bytes, version 1 (no header) or 2.
pub fn decode_vcpu(bytes: &[u8]) -> Result<VcpuExtra, X86SnapshotError> {
    let mut r = Reader::new(bytes);
    if bytes.starts_with(&VCPU_EXTRA.tag) {
        r.take("the vCPU state tag", 4)?;
        VCPU_EXTRA.check(r.u16("the vCPU state version")?)?;
    }
    let n = r.count("the CPUID entry count", CPUID_ENTRY_BYTES)?;
    if n > MAX_CPUID_ENTRIES {
        return Err(X86SnapshotError::CpuidCount(n));
    }
    let mut cpuid = Vec::with_capacity(n);
    for _ in 0..n {
        let mut v = [0u32; 7];
        for x in v.iter_mut() {
            *x = r.u32("a CPUID entry")?;
        }
        let [function, index, flags, eax, ebx, ecx, edx] = v;
        cpuid.push(CpuidEntry {
            function,
            index,
            flags,
            eax,
            ebx,
            ecx,
            edx,
        });
    }
    let x = VcpuExtra {
        cpuid,
        tsc_khz: r.u32("the TSC frequency")?,
    };
    r.finish("the vCPU state")?;
    x.check()?;
    Ok(x)
}

pub mod cput;

#[cfg(test)]
mod tests;
