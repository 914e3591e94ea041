//! The BookE parts of a VM snapshot and of a migration stream, in vmm-core's envelope (magic
//! [`SNAPSHOT_MAGIC`], see `docs/snapshot-format.md`):
//!
//! - each vCPU's **registers**: vmm-core's `VCPU` section, by the BookE register table's ids
//!   ([`crate::regs::table`]; the one id every register has in tetra);
//! - each vCPU's **TLB**: the arch's extra bytes of its `VCPU` section ([`encode_tlb`]);
//! - the **MPIC**: section [`MPIC`] ([`mpic_section`]), the same for the in-kernel and the userspace
//!   MPIC, so a VM saved with one restores with the other;
//! - the DUART ports: sections `SER0` and `SER1` (vmm-core's 16550 state).
//!
//! Every integer below is little-endian.
//!
//! ```text
//! TLB (vCPU extra), version 1:
//!   u32 version = 1, u32 mmu_type, u32 tlb_sizes[4], u32 tlb_ways[4], u32 count,
//!   count x entry (u32 mas8, u32 mas1, u64 mas2, u64 mas7_3)
//! MPIC section, version 1:
//!   u32 KVM device type, u32 cpus, u32 count, count x (u32 offset, u32 value),
//!   u32 count, count x u32 active source, u8 has_extra,
//!   [extra: u32 count, count x (u32 cpu, u32 n, n x u32 irq),
//!    u32 msir[8], u32 tccr[4], u32 ipi_dest[4]]
//! ```
//!
//! Decoding validates everything: the versions (the section's through vmm-core's
//! [`SectionSpec`]), the MMU type, the geometry (as KVM would), the
//! entry count against the geometry, the MPIC model, CPU count and list lengths, and that every
//! byte is consumed. A bad input is an error, never a panic; counts are checked against the bytes
//! left before anything is allocated. (The envelope adds its own CRC and size caps.)

use crate::abi::kvm_book3e_206_tlb_params;
use crate::irqchip::mpic::{MAX_CPU, MAX_IPI, MAX_IRQ, MAX_MSI, MAX_TMR};
use crate::irqchip::{MpicError, MpicExtra, MpicModel, MpicState};
use crate::mmu::array::{decode_entry, encode_entry, ENTRY_SIZE};
use crate::mmu::{
    ArrayError, ByteOrder, GeometryError, MmuType, SharedError, TlbArray, TlbGeometry,
};
use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

pub use vmm_core::wire::Truncated;

/// The magic of BookE snapshots and migration streams.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRABKE";
/// The MPIC section.
pub const MPIC: SectionSpec = SectionSpec::new(*b"MPIC", 1, 1);
const _: () = check_tags(&[MPIC]);
/// The version of the TLB bytes this code writes and reads.
pub const TLB_VERSION: u32 = 1;

/// Why a BookE snapshot part was refused.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// Truncated, trailing bytes, the MPIC section missing or of an unknown version.
    #[error("malformed BookE state")]
    Codec(#[from] CodecError),
    /// A TLB version this code cannot read.
    #[error("TLB state version {0} is not supported (this tetra reads version {TLB_VERSION})")]
    TlbVersion(u32),
    /// Bad TLB geometry.
    #[error("invalid TLB geometry")]
    Geometry(#[source] GeometryError),
    /// Entry count does not match the geometry.
    #[error("TLB array does not match its geometry")]
    TlbLength(#[source] ArrayError),
    /// Unknown MMU type.
    #[error("bad MMU type")]
    MmuType(#[source] SharedError),
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

vmm_core::codec_error_from!(SnapshotError);

/// A vCPU's TLB as migration carries it (`tlb` as `SharedTlb::export` gives it: for HV, TLB0
/// invalidated).
pub fn encode_tlb(mmu_type: MmuType, tlb: &TlbArray) -> Vec<u8> {
    let p = tlb.geometry().params();
    let mut w = Writer::new();
    w.u32(TLB_VERSION);
    w.u32(mmu_type.kvm_value());
    p.tlb_sizes
        .iter()
        .chain(&p.tlb_ways)
        .for_each(|x| w.u32(*x));
    w.u32(tlb.entries().len() as u32);
    for e in tlb.entries() {
        w.bytes(&encode_entry(e, ByteOrder::Little));
    }
    w.into_bytes()
}

/// Decodes and validates [`encode_tlb`]'s bytes.
pub fn decode_tlb(bytes: &[u8]) -> Result<(MmuType, TlbArray), SnapshotError> {
    let mut r = Reader::new(bytes);
    let version = r.u32("the TLB state version")?;
    if version != TLB_VERSION {
        return Err(SnapshotError::TlbVersion(version));
    }
    let mmu_type = MmuType::from_kvm(r.u32("the MMU type")?).map_err(SnapshotError::MmuType)?;
    let mut p = kvm_book3e_206_tlb_params::default();
    for x in p.tlb_sizes.iter_mut().chain(p.tlb_ways.iter_mut()) {
        *x = r.u32("the TLB geometry")?;
    }
    let geometry = TlbGeometry::from_params(&p).map_err(SnapshotError::Geometry)?;
    let count = r.count("the TLB entry count", ENTRY_SIZE)?;
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push(decode_entry(&r.array("a TLB entry")?, ByteOrder::Little));
    }
    r.finish("the TLB entries")?;
    let tlb = TlbArray::from_entries(geometry, entries).map_err(SnapshotError::TlbLength)?;
    Ok((mmu_type, tlb))
}

/// The MPIC section.
pub fn mpic_section(m: &MpicState) -> Section {
    let mut w = Writer::new();
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
    MPIC.section(w.into_bytes())
}

/// Decodes and validates the MPIC section (whether the state fits a given MPIC is
/// [`MpicState::check`]'s business).
pub fn decode_mpic(s: &Section) -> Result<MpicState, SnapshotError> {
    MPIC.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let model = MpicModel::from_kvm_device_type(r.u32("the MPIC model")?)
        .map_err(SnapshotError::MpicModel)?;
    let cpus = r.u32("the MPIC CPU count")?;
    if cpus == 0 || cpus as usize > MAX_CPU {
        return Err(SnapshotError::MpicCpus(cpus));
    }
    let n = r.count("the MPIC register count", 8)?;
    let mut registers = Vec::with_capacity(n);
    for _ in 0..n {
        registers.push((r.u32("an MPIC offset")?, r.u32("an MPIC value")?));
    }
    let limit = |what, count, max| {
        if count > max {
            Err(SnapshotError::MpicCount { what, count, max })
        } else {
            Ok(())
        }
    };
    let n = r.count("the MPIC active line count", 4)?;
    limit("active lines", n, MAX_IRQ)?;
    let irq_active = (0..n)
        .map(|_| r.u32("an MPIC line"))
        .collect::<Result<_, _>>()?;
    let extra = match r.u8("the MPIC extra flag")? {
        0 => None,
        _ => {
            let n = r.count("the MPIC in-service CPU count", 8)?;
            limit("in-service CPUs", n, MAX_CPU)?;
            let mut in_service = Vec::with_capacity(n);
            for _ in 0..n {
                let cpu = r.u32("an MPIC CPU")?;
                let k = r.count("the MPIC in-service count", 4)?;
                limit("in-service interrupts", k, MAX_IRQ)?;
                let irqs = (0..k)
                    .map(|_| r.u32("an MPIC interrupt"))
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
                *v = r.u32("the MPIC extras")?;
            }
            const { assert!(MAX_MSI + MAX_TMR + MAX_IPI == 16) };
            Some(x)
        }
    };
    r.finish("the MPIC state")?;
    Ok(MpicState {
        model,
        nb_cpus: cpus as usize,
        registers,
        irq_active,
        extra,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::irqchip::Mpic;
    use crate::mmu::entry::{Mapping, Perms};
    use crate::mmu::{SharedTlb, TlbStore};
    use crate::test_util::Rng;
    use vmm_core::regs::VcpuState;
    use vmm_core::snapshot::sections::vcpu_section;
    use vmm_core::snapshot::Envelope;
    use vmm_core::wire::Trailing;

    /// `v` as the host-order bytes of an `n`-byte integer (what KVM returns for a register).
    pub(crate) fn host_bytes(v: u128, n: usize) -> Vec<u8> {
        if cfg!(target_endian = "big") {
            v.to_be_bytes()[16 - n..].to_vec()
        } else {
            v.to_le_bytes()[..n].to_vec()
        }
    }

    /// Registers of every kind the table has: `struct kvm_regs` fields, `u.e` fields, 32/64/128-
    /// bit ONE_REG registers.
    pub(crate) fn sample_regs(pc: u64) -> VcpuState {
        let t = crate::regs::table();
        let mut s = VcpuState::new();
        for (name, v) in [
            ("nip", u128::from(pc)),
            ("gpr3", 0xdead_beef),
            ("msr", 0x8002_9000),
            ("ivor5", 0x500),
            ("mas1", 0xc000_0500),
            ("vr0", 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        ] {
            let id = t.by_name(name).unwrap().id;
            s.push(id, host_bytes(v, id.bytes()));
        }
        s
    }

    /// A shared TLB with four TLB0 and four TLB1 entries, exported as migration carries it.
    pub(crate) fn sample_tlb(mmu: MmuType) -> TlbArray {
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
        t.export()
    }

    pub(crate) fn sample_mpic() -> MpicState {
        let mut m = Mpic::new(MpicModel::Fsl42, 2).unwrap();
        m.write(0x10000, 0x0005_0042, None).unwrap();
        m.set_irq(0, true).unwrap();
        m.save()
    }

    /// A BookE VM snapshot envelope as vmm-core writes it: two vCPUs (HV and NOHV TLBs) and the
    /// MPIC.
    pub(crate) fn sample_envelope() -> Vec<u8> {
        let mut env = Envelope::new(SNAPSHOT_MAGIC);
        for (id, mmu) in [(0u32, MmuType::Hv), (1, MmuType::NoHv)] {
            let extra = encode_tlb(mmu, &sample_tlb(mmu));
            env.push(vcpu_section(
                id,
                &sample_regs(0x100 * (u64::from(id) + 1)),
                &extra,
            ));
        }
        env.push(mpic_section(&sample_mpic()));
        env.encode()
    }

    #[test]
    fn tlb_round_trip() {
        for mmu in [MmuType::Hv, MmuType::NoHv] {
            let tlb = sample_tlb(mmu);
            let bytes = encode_tlb(mmu, &tlb);
            assert_eq!(bytes[..4], 1u32.to_le_bytes());
            assert_eq!(decode_tlb(&bytes).unwrap(), (mmu, tlb.clone()));
            // HV exported TLB0 as invalidated, NOHV kept it.
            assert_eq!(tlb.entries()[0].valid(), mmu == MmuType::NoHv);
            assert!(tlb.entries()[32].valid());
            // And it restores into a shared TLB.
            let mut t = SharedTlb::new(*tlb.geometry(), mmu);
            t.import(&tlb).unwrap();
            assert_eq!(t.to_array(), tlb);
        }
    }

    #[test]
    fn entries_are_little_endian_on_the_wire() {
        let tlb = sample_tlb(MmuType::NoHv);
        let bytes = encode_tlb(MmuType::NoHv, &tlb);
        // Version, MMU type, 8 geometry words, count.
        let first = 4 + 4 + 32 + 4;
        let e = tlb.entries()[0];
        assert_eq!(bytes[first + 4..first + 8], e.mas1.to_le_bytes());
        assert_eq!(bytes[first + 8..first + 16], e.mas2.to_le_bytes());
    }

    #[test]
    fn mpic_round_trip() {
        let m = sample_mpic();
        assert_eq!(decode_mpic(&mpic_section(&m)).unwrap(), m);
        let kernel_view = MpicState { extra: None, ..m };
        assert_eq!(
            decode_mpic(&mpic_section(&kernel_view)).unwrap(),
            kernel_view
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let tlb = encode_tlb(MmuType::Hv, &sample_tlb(MmuType::Hv));
        for n in 0..tlb.len() {
            assert!(decode_tlb(&tlb[..n]).is_err(), "TLB length {n}");
        }
        let s = mpic_section(&sample_mpic());
        for n in 0..s.data.len() {
            let cut = Section::new(&MPIC.tag, 1, s.data[..n].to_vec());
            assert!(decode_mpic(&cut).is_err(), "MPIC length {n}");
        }
    }

    #[test]
    fn structural_checks() {
        let blob = encode_tlb(MmuType::Hv, &sample_tlb(MmuType::Hv));
        let geo = 8; // tlb_sizes[0]
        let patched = |at: usize, v: u32| {
            let mut b = blob.clone();
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            b
        };
        // Bad geometry: 3 ways.
        assert!(matches!(
            decode_tlb(&patched(geo + 16, 3)),
            Err(SnapshotError::Geometry(_))
        ));
        // A geometry that no longer matches the entry count: TLB1 of 4 instead of 8.
        let mut b = patched(geo + 4, 4);
        b[geo + 20..geo + 24].copy_from_slice(&4u32.to_le_bytes());
        let e = decode_tlb(&b).unwrap_err();
        assert!(matches!(e, SnapshotError::TlbLength(_)), "{e}");
        assert!(matches!(
            decode_tlb(&patched(4, 7)),
            Err(SnapshotError::MmuType(_))
        ));
        assert!(matches!(
            decode_tlb(&patched(0, 2)),
            Err(SnapshotError::TlbVersion(2))
        ));
        // A count far larger than the input.
        assert!(matches!(
            decode_tlb(&patched(geo + 32, u32::MAX)),
            Err(SnapshotError::Codec(CodecError::Truncated(_)))
        ));
        let mut long = blob.clone();
        long.push(0);
        assert!(matches!(
            decode_tlb(&long),
            Err(SnapshotError::Codec(CodecError::Trailing(Trailing {
                left: 1,
                ..
            })))
        ));

        let s = mpic_section(&sample_mpic());
        let mut bad = s.clone();
        bad.version = 2;
        assert!(matches!(
            decode_mpic(&bad),
            Err(SnapshotError::Codec(CodecError::Newer { version: 2, .. }))
        ));
        let mut bad = s.clone();
        bad.data[..4].copy_from_slice(&9u32.to_le_bytes());
        assert!(matches!(
            decode_mpic(&bad),
            Err(SnapshotError::MpicModel(_))
        ));
        let mut bad = s.clone();
        bad.data[4..8].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(decode_mpic(&bad), Err(SnapshotError::MpicCpus(0))));
        let mut bad = s;
        bad.data.push(0);
        assert!(matches!(
            decode_mpic(&bad),
            Err(SnapshotError::Codec(CodecError::Trailing(Trailing {
                left: 1,
                ..
            })))
        ));
    }

    #[test]
    fn random_mutations_never_panic() {
        let tlb = encode_tlb(MmuType::NoHv, &sample_tlb(MmuType::NoHv));
        let mpic = mpic_section(&sample_mpic());
        let mut rng = Rng::new(77);
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut b = tlb.clone();
            let mut m = mpic.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next() as u8;
                let at = rng.below(m.data.len() as u64) as usize;
                m.data[at] = rng.next() as u8;
            }
            if let Ok((_, t)) = decode_tlb(&b) {
                // Whatever decodes is self-consistent.
                accepted += 1;
                assert_eq!(t.entries().len(), t.geometry().total_entries());
            }
            let _ = decode_mpic(&m);
        }
        assert!(accepted > 0, "mutating entry bytes yields valid TLBs too");
    }

    #[test]
    fn the_envelope_carries_every_part() {
        let env = Envelope::decode(&sample_envelope(), Some((SNAPSHOT_MAGIC, "booke"))).unwrap();
        let vcpus: Vec<_> = env
            .all(&vmm_core::snapshot::sections::TAG_VCPU)
            .map(|s| vmm_core::snapshot::sections::read_vcpu(s).unwrap())
            .collect();
        assert_eq!(vcpus.len(), 2);
        let nip = crate::regs::table().by_name("nip").unwrap().id;
        assert_eq!(vcpus[1].regs.get(nip).unwrap(), host_bytes(0x200, 8));
        assert_eq!(decode_tlb(&vcpus[1].extra).unwrap().0, MmuType::NoHv);
        let m = decode_mpic(MPIC.require(&env).unwrap()).unwrap();
        let mut restored = Mpic::new(MpicModel::Fsl42, 2).unwrap();
        restored.restore(&m).unwrap();
        assert_eq!(restored.save(), m);
    }
}
