//! The BookE migration serializer: per vCPU the TLB (MMU type, geometry, the whole array) and
//! the registers as (register-table id, value) pairs; per VM the MPIC state.
//!
//! Format, version 2, every integer little-endian:
//!
//! ```text
//! magic "TBKE", u32 version = 2
//! sections, each: u32 tag, u32 length, body
//!   1 TLB:  u32 vcpu, u32 mmu_type, u32 tlb_sizes[4], u32 tlb_ways[4], u32 count,
//!           count x entry (u32 mas8, u32 mas1, u64 mas2, u64 mas7_3)
//!   2 REGS: u32 vcpu, u32 count, count x (u64 id, u32 len, len bytes)
//!   3 MPIC: u32 KVM device type, u32 cpus, u32 count, count x (u32 offset, u32 value),
//!           u32 count, count x u32 active source, u8 has_extra,
//!           [extra: u32 count, count x (u32 cpu, u32 n, n x u32 irq),
//!            u32 msir[8], u32 tccr[4], u32 ipi_dest[4]]
//! u32 CRC-32 of everything before it
//! ```
//!
//! Register ids are those of the BookE register table ([`crate::regs::table`]), the one id every
//! register has in tetra (KVM's `KVM_REG_PPC_*` for ONE_REG registers, tetra's `regs`/`sregs`
//! sets for the `struct kvm_regs` and `u.e` fields); the values are a [`VcpuState`] as
//! `vmm_core::regs::save` reads it, with each value (a host-order integer of the id's size)
//! stored little-endian, so a snapshot of a big-endian e500 host reads on any host. Version 1
//! used ids of its own for the registers KVM has no ONE_REG id for; it is not read.
//!
//! Restore validates everything: magic, version, CRC, lengths (every section consumed exactly),
//! the geometry (as KVM would), the entry count against the geometry, the MMU type, that every
//! register id is in the BookE table with a value of its size and appears once, the MPIC model
//! and CPU count, and that every vCPU has both a TLB and a REGS section. A bad input is an error,
//! never a panic; counts are checked against the bytes left before anything is allocated.

use crate::abi::kvm_book3e_206_tlb_params;
use crate::crc32::crc32;
use crate::irqchip::mpic::{MAX_CPU, MAX_IPI, MAX_IRQ, MAX_MSI, MAX_TMR};
use crate::irqchip::{MpicError, MpicExtra, MpicModel, MpicState};
use crate::mmu::array::{decode_entry, encode_entry, ENTRY_SIZE};
use crate::mmu::{
    ArrayError, ByteOrder, GeometryError, MmuType, SharedError, TlbArray, TlbGeometry,
};
use crate::wire::{Reader, Writer};
use std::collections::{BTreeMap, HashSet};
use thiserror::Error;
use vmm_core::regs::{RegId, VcpuState};

pub use crate::wire::Truncated;

/// The format's magic.
pub const MAGIC: [u8; 4] = *b"TBKE";
/// The format version this code writes and reads.
pub const VERSION: u32 = 2;
/// Section tag: a vCPU's TLB.
pub const TAG_TLB: u32 = 1;
/// Section tag: a vCPU's registers.
pub const TAG_REGS: u32 = 2;
/// Section tag: the MPIC.
pub const TAG_MPIC: u32 = 3;

/// Why a snapshot was refused.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// Not a BookE snapshot.
    #[error("not a tetra BookE snapshot (magic {0:02x?}, expected \"TBKE\")")]
    BadMagic(Vec<u8>),
    /// A version this code cannot read.
    #[error("BookE snapshot version {0} is not supported (this tetra reads version {VERSION})")]
    Version(u32),
    /// CRC mismatch.
    #[error(
        "BookE snapshot CRC is {stored:#010x}, computed {computed:#010x}: corrupt or truncated"
    )]
    Crc {
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// Shorter than header + trailer.
    #[error("BookE snapshot is {0} bytes, too short for a header and CRC")]
    TooShort(usize),
    /// A read past the end.
    #[error("malformed BookE snapshot")]
    Truncated(#[source] Truncated),
    /// A section not read to its end.
    #[error("section {tag} has {extra} unread bytes")]
    SectionLength {
        /// Tag.
        tag: u32,
        /// Bytes left over.
        extra: usize,
    },
    /// Unknown section.
    #[error("unknown section tag {0}")]
    UnknownSection(u32),
    /// Bad TLB geometry.
    #[error("vCPU {vcpu}: invalid TLB geometry")]
    Geometry {
        /// vCPU.
        vcpu: u32,
        /// Why.
        #[source]
        source: GeometryError,
    },
    /// Entry count does not match the geometry.
    #[error("vCPU {vcpu}: TLB array does not match its geometry")]
    TlbLength {
        /// vCPU.
        vcpu: u32,
        /// Why.
        #[source]
        source: ArrayError,
    },
    /// Unknown MMU type.
    #[error("vCPU {vcpu}: bad MMU type")]
    MmuType {
        /// vCPU.
        vcpu: u32,
        /// Why.
        #[source]
        source: SharedError,
    },
    /// A register id the BookE register table does not have.
    #[error("vCPU {vcpu}: register id {id} is not in the BookE register table")]
    UnknownRegister {
        /// vCPU.
        vcpu: u32,
        /// Id.
        id: RegId,
    },
    /// A register value whose length is not its id's size.
    #[error("vCPU {vcpu}: register {name} ({id}) has {len} bytes, its id says {expected}")]
    RegSize {
        /// vCPU.
        vcpu: u32,
        /// Name.
        name: String,
        /// Id.
        id: RegId,
        /// Length.
        len: usize,
        /// The id's size.
        expected: usize,
    },
    /// A register given twice.
    #[error("vCPU {vcpu}: register {name} ({id}) given twice")]
    DuplicateRegister {
        /// vCPU.
        vcpu: u32,
        /// Name.
        name: String,
        /// Id.
        id: RegId,
    },
    /// A section given twice.
    #[error("{what} section given twice{}", .vcpu.map(|v| format!(" for vCPU {v}")).unwrap_or_default())]
    Duplicate {
        /// Which section.
        what: &'static str,
        /// vCPU, for per-vCPU sections.
        vcpu: Option<u32>,
    },
    /// A vCPU with only one of its two sections.
    #[error("vCPU {vcpu} has no {missing} section")]
    Incomplete {
        /// vCPU.
        vcpu: u32,
        /// The missing section.
        missing: &'static str,
    },
    /// Bad MPIC model.
    #[error("bad MPIC model")]
    MpicModel(#[source] MpicError),
    /// Bad MPIC CPU count.
    #[error("MPIC serves {0} CPUs (1 to {MAX_CPU})")]
    MpicCpus(u32),
    /// An MPIC list longer than possible.
    #[error("MPIC {what} has {count} items, more than {max}")]
    MpicCount {
        /// Which list.
        what: &'static str,
        /// Count.
        count: usize,
        /// Limit.
        max: usize,
    },
}

impl From<Truncated> for SnapshotError {
    fn from(t: Truncated) -> Self {
        SnapshotError::Truncated(t)
    }
}

/// One vCPU's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuSnapshot {
    /// vCPU index.
    pub id: u32,
    /// MMU type of its shared TLB.
    pub mmu_type: MmuType,
    /// The TLB (for HV, as exported: TLB0 invalidated).
    pub tlb: TlbArray,
    /// Registers: BookE register-table ids and host-order values, as `vmm_core::regs::save`
    /// returns them and `vmm_core::regs::restore` takes them.
    pub regs: VcpuState,
}

/// The BookE part of a VM snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookeSnapshot {
    /// Every vCPU, by ascending id.
    pub vcpus: Vec<VcpuSnapshot>,
    /// The MPIC, if the VM has one.
    pub mpic: Option<MpicState>,
}

/// A register value between host order and the snapshot's little-endian order (the same swap
/// both ways: a byte reversal on a big-endian host, nothing on a little-endian one).
fn swap_host_le(value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if cfg!(target_endian = "big") {
        v.reverse();
    }
    v
}

fn put_tlb(w: &mut Writer, v: &VcpuSnapshot) {
    let p = v.tlb.geometry().params();
    w.u32(v.id);
    w.u32(v.mmu_type.kvm_value());
    p.tlb_sizes
        .iter()
        .chain(&p.tlb_ways)
        .for_each(|x| w.u32(*x));
    w.u32(v.tlb.entries().len() as u32);
    for e in v.tlb.entries() {
        w.bytes(&encode_entry(e, ByteOrder::Little));
    }
}

fn put_mpic(w: &mut Writer, m: &MpicState) {
    w.u32(m.model.kvm_device_type());
    w.u32(m.nb_cpus as u32);
    w.u32(m.registers.len() as u32);
    for (o, v) in &m.registers {
        w.u32(*o);
        w.u32(*v);
    }
    w.u32(m.irq_active.len() as u32);
    m.irq_active.iter().for_each(|i| w.u32(*i));
    match &m.extra {
        None => w.u8(0),
        Some(x) => {
            w.u8(1);
            w.u32(x.in_service.len() as u32);
            for (cpu, irqs) in &x.in_service {
                w.u32(*cpu);
                w.u32(irqs.len() as u32);
                irqs.iter().for_each(|i| w.u32(*i));
            }
            x.msir
                .iter()
                .chain(&x.tccr)
                .chain(&x.ipi_dest)
                .for_each(|v| w.u32(*v));
        }
    }
}

/// Serializes a snapshot.
pub fn encode(s: &BookeSnapshot) -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(&MAGIC);
    w.u32(VERSION);
    for v in &s.vcpus {
        w.section(TAG_TLB, |w| put_tlb(w, v));
        w.section(TAG_REGS, |w| {
            w.u32(v.id);
            w.u32(v.regs.len() as u32);
            for r in &v.regs {
                w.u64(r.id.raw());
                w.u32(r.bytes.len() as u32);
                w.bytes(&swap_host_le(&r.bytes));
            }
        });
    }
    if let Some(m) = &s.mpic {
        w.section(TAG_MPIC, |w| put_mpic(w, m));
    }
    let crc = crc32(&w.buf);
    w.u32(crc);
    w.buf
}

type Tlb = (MmuType, TlbArray);

fn get_tlb(r: &mut Reader<'_>) -> Result<(u32, Tlb), SnapshotError> {
    let vcpu = r.u32("vCPU id")?;
    let mmu = r.u32("MMU type")?;
    let mmu_type =
        MmuType::from_kvm(mmu).map_err(|source| SnapshotError::MmuType { vcpu, source })?;
    let mut p = kvm_book3e_206_tlb_params::default();
    for x in p.tlb_sizes.iter_mut().chain(p.tlb_ways.iter_mut()) {
        *x = r.u32("geometry")?;
    }
    let geometry =
        TlbGeometry::from_params(&p).map_err(|source| SnapshotError::Geometry { vcpu, source })?;
    let count = r.count("TLB entries", ENTRY_SIZE)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let mut b = [0u8; ENTRY_SIZE];
        b.copy_from_slice(r.take("TLB entry", ENTRY_SIZE)?);
        entries.push(decode_entry(&b, ByteOrder::Little));
    }
    let tlb = TlbArray::from_entries(geometry, entries)
        .map_err(|source| SnapshotError::TlbLength { vcpu, source })?;
    Ok((vcpu, (mmu_type, tlb)))
}

fn get_regs(r: &mut Reader<'_>) -> Result<(u32, VcpuState), SnapshotError> {
    let vcpu = r.u32("vCPU id")?;
    let count = r.count("registers", 12)?;
    let table = crate::regs::table();
    let mut regs = VcpuState::new();
    let mut seen = HashSet::new();
    for _ in 0..count {
        let id = RegId::from_raw(r.u64("register id")?);
        let len = r.u32("register length")? as usize;
        let desc = table
            .get(id)
            .ok_or(SnapshotError::UnknownRegister { vcpu, id })?;
        if len != id.bytes() {
            return Err(SnapshotError::RegSize {
                vcpu,
                name: desc.name.to_string(),
                id,
                len,
                expected: id.bytes(),
            });
        }
        if !seen.insert(id) {
            return Err(SnapshotError::DuplicateRegister {
                vcpu,
                name: desc.name.to_string(),
                id,
            });
        }
        regs.push(id, swap_host_le(r.take("register value", len)?));
    }
    Ok((vcpu, regs))
}

fn get_mpic(r: &mut Reader<'_>) -> Result<MpicState, SnapshotError> {
    let model =
        MpicModel::from_kvm_device_type(r.u32("MPIC model")?).map_err(SnapshotError::MpicModel)?;
    let cpus = r.u32("MPIC CPUs")?;
    if cpus == 0 || cpus as usize > MAX_CPU {
        return Err(SnapshotError::MpicCpus(cpus));
    }
    let n = r.count("MPIC registers", 8)?;
    let mut registers = Vec::with_capacity(n);
    for _ in 0..n {
        registers.push((r.u32("MPIC offset")?, r.u32("MPIC value")?));
    }
    let n = r.count("MPIC active lines", 4)?;
    if n > MAX_IRQ {
        return Err(SnapshotError::MpicCount {
            what: "active lines",
            count: n,
            max: MAX_IRQ,
        });
    }
    let irq_active = (0..n)
        .map(|_| r.u32("MPIC line"))
        .collect::<Result<_, _>>()?;
    let extra = match r.u8("MPIC extra flag")? {
        0 => None,
        _ => {
            let n = r.count("MPIC in-service CPUs", 8)?;
            if n > MAX_CPU {
                return Err(SnapshotError::MpicCount {
                    what: "in-service CPUs",
                    count: n,
                    max: MAX_CPU,
                });
            }
            let mut in_service = Vec::with_capacity(n);
            for _ in 0..n {
                let cpu = r.u32("MPIC CPU")?;
                let k = r.count("MPIC in-service interrupts", 4)?;
                let irqs = (0..k)
                    .map(|_| r.u32("MPIC irq"))
                    .collect::<Result<_, _>>()?;
                in_service.push((cpu, irqs));
            }
            let mut x = MpicExtra {
                in_service,
                ..MpicExtra::default()
            };
            let words = x
                .msir
                .iter_mut()
                .chain(x.tccr.iter_mut())
                .chain(x.ipi_dest.iter_mut());
            for v in words {
                *v = r.u32("MPIC extra")?;
            }
            debug_assert_eq!(MAX_MSI + MAX_TMR + MAX_IPI, 16);
            Some(x)
        }
    };
    Ok(MpicState {
        model,
        nb_cpus: cpus as usize,
        registers,
        irq_active,
        extra,
    })
}

/// Parses and validates a snapshot.
pub fn decode(bytes: &[u8]) -> Result<BookeSnapshot, SnapshotError> {
    if bytes.len() >= 4 && bytes[..4] != MAGIC {
        return Err(SnapshotError::BadMagic(bytes[..4].to_vec()));
    }
    if bytes.len() < 12 {
        return Err(SnapshotError::TooShort(bytes.len()));
    }
    let (body, trailer) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let computed = crc32(body);
    let mut r = Reader::new(&body[4..]);
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(SnapshotError::Version(version));
    }
    if stored != computed {
        return Err(SnapshotError::Crc { stored, computed });
    }
    let mut tlbs: BTreeMap<u32, Tlb> = BTreeMap::new();
    let mut regs: BTreeMap<u32, VcpuState> = BTreeMap::new();
    let mut mpic = None;
    while !r.is_empty() {
        let tag = r.u32("section tag")?;
        let len = r.u32("section length")? as usize;
        let mut s = Reader::new(r.take("section", len)?);
        match tag {
            TAG_TLB => {
                let (vcpu, t) = get_tlb(&mut s)?;
                if tlbs.insert(vcpu, t).is_some() {
                    return Err(SnapshotError::Duplicate {
                        what: "TLB",
                        vcpu: Some(vcpu),
                    });
                }
            }
            TAG_REGS => {
                let (vcpu, v) = get_regs(&mut s)?;
                if regs.insert(vcpu, v).is_some() {
                    return Err(SnapshotError::Duplicate {
                        what: "REGS",
                        vcpu: Some(vcpu),
                    });
                }
            }
            TAG_MPIC => {
                if mpic.replace(get_mpic(&mut s)?).is_some() {
                    return Err(SnapshotError::Duplicate {
                        what: "MPIC",
                        vcpu: None,
                    });
                }
            }
            t => return Err(SnapshotError::UnknownSection(t)),
        }
        if !s.is_empty() {
            return Err(SnapshotError::SectionLength {
                tag,
                extra: s.remaining(),
            });
        }
    }
    if let Some(vcpu) = regs.keys().find(|v| !tlbs.contains_key(v)) {
        return Err(SnapshotError::Incomplete {
            vcpu: *vcpu,
            missing: "TLB",
        });
    }
    let mut vcpus = Vec::with_capacity(tlbs.len());
    for (id, (mmu_type, tlb)) in tlbs {
        let regs = regs.remove(&id).ok_or(SnapshotError::Incomplete {
            vcpu: id,
            missing: "REGS",
        })?;
        vcpus.push(VcpuSnapshot {
            id,
            mmu_type,
            tlb,
            regs,
        });
    }
    Ok(BookeSnapshot { vcpus, mpic })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::irqchip::Mpic;
    use crate::mmu::entry::{Mapping, Perms};
    use crate::mmu::{SharedTlb, TlbStore};
    use crate::test_util::Rng;

    /// `v` as the host-order bytes of an `n`-byte integer (what KVM returns for a register).
    pub(crate) fn host_bytes(v: u128, n: usize) -> Vec<u8> {
        if cfg!(target_endian = "big") {
            v.to_be_bytes()[16 - n..].to_vec()
        } else {
            v.to_le_bytes()[..n].to_vec()
        }
    }

    /// Registers of every kind the table has: `struct kvm_regs` fields, `u.e` fields of several
    /// sizes, 32/64/128-bit ONE_REG registers.
    pub(crate) fn sample_regs(pc: u64) -> VcpuState {
        let t = crate::regs::table();
        let mut s = VcpuState::new();
        for (name, v) in [
            ("nip", u128::from(pc)),
            ("gpr3", 0xdead_beef),
            ("msr", 0x8002_9000),
            ("ivor5", 0x500),
            ("mcsr", 0x1234_5678_9abc_def0),
            ("mas1", 0xc000_0500),
            ("mas7_3", 0x1_0000_0015),
            ("vr0", 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        ] {
            let id = t.by_name(name).unwrap().id;
            s.push(id, host_bytes(v, id.bytes()));
        }
        s
    }

    pub(crate) fn sample() -> BookeSnapshot {
        let mut vcpus = Vec::new();
        for (id, mmu) in [(0, MmuType::Hv), (1, MmuType::NoHv)] {
            let mut t = SharedTlb::new(TlbGeometry::new(32, 4, 8).unwrap(), mmu);
            for i in 0..4u64 {
                let e = crate::abi::kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
                    ea: 0xc000_0000 + (i << 24),
                    ra: i << 24,
                    tsize: 14,
                    tid: i as u32,
                    ts: false,
                    iprot: i == 0,
                    attrs: 0x4,
                    perms: Perms::ALL,
                });
                t.write(32 + i as usize, e).unwrap();
                t.write(i as usize * 4, e).unwrap();
            }
            vcpus.push(VcpuSnapshot {
                id,
                mmu_type: mmu,
                tlb: t.export(),
                regs: sample_regs(0x100 * (id as u64 + 1)),
            });
        }
        let mut m = Mpic::new(MpicModel::Fsl42, 2).unwrap();
        m.write(0x10000, 0x0005_0042, None).unwrap();
        m.set_irq(0, true).unwrap();
        BookeSnapshot {
            vcpus,
            mpic: Some(m.save()),
        }
    }

    /// Re-seals a modified blob with a correct CRC (to reach the checks behind the CRC).
    fn reseal(b: &mut Vec<u8>) {
        b.truncate(b.len() - 4);
        let c = crc32(b);
        b.extend_from_slice(&c.to_le_bytes());
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let blob = encode(&s);
        assert_eq!(&blob[..4], b"TBKE");
        assert_eq!(blob[4..8], 2u32.to_le_bytes());
        let back = decode(&blob).unwrap();
        assert_eq!(back, s);
        assert_eq!(encode(&back), blob);
        // HV exported TLB0 as invalidated, NOHV kept it.
        assert!(!back.vcpus[0].tlb.entries()[0].valid());
        assert!(back.vcpus[1].tlb.entries()[0].valid());
        assert!(back.vcpus[0].tlb.entries()[32].valid());
        // Restores into a shared TLB and an MPIC.
        let mut t = SharedTlb::new(*back.vcpus[1].tlb.geometry(), MmuType::NoHv);
        t.import(&back.vcpus[1].tlb).unwrap();
        assert_eq!(t.to_array(), back.vcpus[1].tlb);
        let mut m = Mpic::new(MpicModel::Fsl42, 2).unwrap();
        m.restore(back.mpic.as_ref().unwrap()).unwrap();
        let nip = crate::regs::table().by_name("nip").unwrap().id;
        assert_eq!(back.vcpus[1].regs.get(nip).unwrap(), host_bytes(0x200, 8));
        // Without an MPIC too.
        let none = BookeSnapshot { mpic: None, ..s };
        assert_eq!(decode(&encode(&none)).unwrap(), none);
    }

    #[test]
    fn entries_are_little_endian_on_the_wire() {
        let s = sample();
        let blob = encode(&s);
        // First entry: header, tag and length, vCPU, MMU type, 8 geometry words, count.
        let first = 8 + 8 + 4 + 4 + 32 + 4;
        let e = s.vcpus[0].tlb.entries()[0];
        assert_eq!(blob[first + 4..first + 8], e.mas1.to_le_bytes());
    }

    /// The blob of one vCPU whose registers are `regs` (a small TLB, no MPIC).
    fn one_vcpu(regs: VcpuState) -> Vec<u8> {
        let t = SharedTlb::new(TlbGeometry::new(8, 2, 2).unwrap(), MmuType::NoHv);
        encode(&BookeSnapshot {
            vcpus: vec![VcpuSnapshot {
                id: 0,
                mmu_type: MmuType::NoHv,
                tlb: t.export(),
                regs,
            }],
            mpic: None,
        })
    }

    #[test]
    fn register_values_are_little_endian_on_the_wire() {
        let t = crate::regs::table();
        let mut regs = VcpuState::new();
        let nip = t.by_name("nip").unwrap().id;
        let mas1 = t.by_name("mas1").unwrap().id;
        regs.push(nip, host_bytes(0x0123_4567_89ab_cdef, 8));
        regs.push(mas1, host_bytes(0xc000_0500, 4));
        let blob = one_vcpu(regs.clone());
        let mut want = nip.raw().to_le_bytes().to_vec();
        want.extend_from_slice(&8u32.to_le_bytes());
        want.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_le_bytes());
        want.extend_from_slice(&mas1.raw().to_le_bytes());
        want.extend_from_slice(&4u32.to_le_bytes());
        want.extend_from_slice(&0xc000_0500u32.to_le_bytes());
        assert!(blob.windows(want.len()).any(|w| w == want));
        assert_eq!(decode(&blob).unwrap().vcpus[0].regs, regs);
    }

    #[test]
    fn registers_are_checked_against_the_table() {
        let t = crate::regs::table();
        let nip = t.by_name("nip").unwrap().id;
        // An id of no BookE register: Book3S's ICP_STATE, and an old tetra-private id.
        for raw in [kvm_ppc::one_reg::ICP_STATE.raw(), 0x1030_0000_4000_0000] {
            let mut r = VcpuState::new();
            r.push(RegId::from_raw(raw), vec![0; 8]);
            let e = decode(&one_vcpu(r)).unwrap_err();
            assert!(
                matches!(e, SnapshotError::UnknownRegister { vcpu: 0, .. }),
                "{e}"
            );
        }
        // A value of the wrong size.
        let mut r = VcpuState::new();
        r.push(nip, vec![0; 4]);
        let e = decode(&one_vcpu(r)).unwrap_err();
        assert!(
            matches!(&e, SnapshotError::RegSize { len: 4, expected: 8, name, .. } if name == "nip"),
            "{e}"
        );
        // The same register twice.
        let mut r = VcpuState::new();
        r.push(nip, vec![0; 8]);
        r.push(nip, vec![1; 8]);
        let e = decode(&one_vcpu(r)).unwrap_err();
        assert!(matches!(e, SnapshotError::DuplicateRegister { .. }), "{e}");
        assert!(e.to_string().contains("nip"), "{e}");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let blob = encode(&sample());
        for n in 0..blob.len() {
            assert!(decode(&blob[..n]).is_err(), "length {n}");
        }
    }

    #[test]
    fn every_bit_flip_is_an_error() {
        let blob = encode(&sample());
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 1 << (i % 8);
            assert!(decode(&b).is_err(), "byte {i}");
        }
    }

    #[test]
    fn structural_checks_behind_the_crc() {
        let s = sample();
        let blob = encode(&s);
        let geo = 8 + 8 + 8; // tlb_sizes[0] of the first TLB section
                             // Bad geometry: 3 ways.
        let mut b = blob.clone();
        b[geo + 16..geo + 20].copy_from_slice(&3u32.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(
            decode(&b),
            Err(SnapshotError::Geometry { vcpu: 0, .. })
        ));
        // Geometry that no longer matches the entry count: TLB1 of 4 instead of 8.
        let mut b = blob.clone();
        b[geo + 4..geo + 8].copy_from_slice(&4u32.to_le_bytes());
        b[geo + 20..geo + 24].copy_from_slice(&4u32.to_le_bytes());
        reseal(&mut b);
        let e = decode(&b).unwrap_err();
        assert!(matches!(e, SnapshotError::TlbLength { vcpu: 0, .. }), "{e}");
        // Unknown MMU type.
        let mut b = blob.clone();
        b[8 + 8 + 4] = 7;
        reseal(&mut b);
        assert!(matches!(decode(&b), Err(SnapshotError::MmuType { .. })));
        // A count far larger than the input.
        let count_at = geo + 32;
        let mut b = blob.clone();
        b[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(decode(&b), Err(SnapshotError::Truncated(_))));
        // Version 1 (tetra-private register ids) and a future version 3.
        for v in [1, 3] {
            let mut b = blob.clone();
            b[4] = v;
            reseal(&mut b);
            assert!(matches!(decode(&b), Err(SnapshotError::Version(x)) if x == u32::from(v)));
        }
        // Unknown section appended.
        let mut b = blob[..blob.len() - 4].to_vec();
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        reseal(&mut b);
        assert!(matches!(decode(&b), Err(SnapshotError::UnknownSection(9))));
        // A vCPU without registers.
        let mut only_tlb = Writer::default();
        only_tlb.bytes(&MAGIC);
        only_tlb.u32(VERSION);
        only_tlb.section(TAG_TLB, |w| put_tlb(w, &s.vcpus[0]));
        let c = crc32(&only_tlb.buf);
        only_tlb.u32(c);
        assert!(matches!(
            decode(&only_tlb.buf),
            Err(SnapshotError::Incomplete {
                vcpu: 0,
                missing: "REGS"
            })
        ));
        assert!(matches!(
            decode(b"ELF!xxxxxxxxxxxx"),
            Err(SnapshotError::BadMagic(_))
        ));
    }

    #[test]
    fn random_mutations_behind_the_crc_never_panic() {
        let blob = encode(&sample());
        let mut rng = Rng::new(77);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut b = blob.clone();
            for _ in 0..1 + rng.below(3) {
                let at = 8 + rng.below((b.len() - 12) as u64) as usize;
                b[at] = rng.next() as u8;
            }
            reseal(&mut b);
            if let Ok(s) = decode(&b) {
                // Whatever decodes is self-consistent.
                accepted += 1;
                for v in &s.vcpus {
                    assert_eq!(v.tlb.entries().len(), v.tlb.geometry().total_entries());
                }
            }
        }
        assert!(
            accepted > 0,
            "mutating entry bytes yields valid snapshots too"
        );
    }
}
