//! Printing a TLB and translating addresses through it, for `tetra inspect tlb <file>`.
//!
//! `<file>` is either
//! - a tetra BookE snapshot state file (vmm-core's envelope with magic "TETRABKE", see
//!   [`crate::snapshot`]): every vCPU's TLB is printed, after a line with its PC, MSR and PID (the
//!   context to translate in; the registers are readable when the snapshot was taken on a host of
//!   this host's byte order, the TLB always); or
//! - a raw dump of the shared TLB array exactly as KVM sees it (`kvm_book3e_206_tlb_entry`
//!   records in KVM's order, in the host's byte order: big-endian on an e500mc-family host). A
//!   raw dump carries no geometry, so it must be given (`512x4,64`).

use crate::mmu::entry::{size_name, wimge_name, Access, AccessKind};
use crate::mmu::{
    translate, ArrayError, ByteOrder, GeometryError, Query, Tlb, TlbArray, TlbGeometry,
};
use crate::snapshot::{self, SnapshotError};
use std::fmt::Write;
use thiserror::Error;
use vmm_core::snapshot::sections::TAG_VCPU;
use vmm_core::snapshot::{Envelope, EnvelopeError};
use vmm_core::wire::{Reader, Truncated};

/// Errors of `inspect tlb`.
#[derive(Debug, Error)]
pub enum InspectError {
    /// A snapshot whose envelope does not decode.
    #[error("cannot read the BookE snapshot")]
    Envelope(#[source] EnvelopeError),
    /// A `VCPU` section that does not decode.
    #[error("cannot read a VCPU section of the snapshot")]
    Vcpu(#[source] Truncated),
    /// A vCPU's TLB that does not decode.
    #[error("cannot read the TLB of vCPU {vcpu}")]
    Snapshot {
        /// The vCPU.
        vcpu: u32,
        /// Why.
        #[source]
        source: SnapshotError,
    },
    /// A raw dump without a geometry.
    #[error("a raw TLB array dump ({0} bytes) carries no geometry: give one, e.g. 512x4,64")]
    NeedGeometry(usize),
    /// A raw dump of the wrong size.
    #[error("the raw TLB array dump does not match the geometry")]
    Array(#[source] ArrayError),
    /// A bad geometry string.
    #[error("bad TLB geometry")]
    Geometry(#[source] GeometryError),
    /// A bad translation request.
    #[error("bad translation request {spec:?}: {why}")]
    Query {
        /// The request.
        spec: String,
        /// What is wrong.
        why: String,
    },
}

/// What to print.
#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// Geometry of a raw dump (ignored for snapshots).
    pub geometry: Option<TlbGeometry>,
    /// Byte order of a raw dump.
    pub order: ByteOrder,
    /// Addresses to translate through every TLB printed.
    pub translate: Vec<Query>,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self {
            geometry: None,
            order: ByteOrder::Big,
            translate: Vec::new(),
        }
    }
}

/// Parses a geometry (`512x4,64`).
pub fn parse_geometry(s: &str) -> Result<TlbGeometry, InspectError> {
    s.parse().map_err(InspectError::Geometry)
}

/// Parses a translation request: `EA[,pid=N][,as=0|1][,cm=0|1][,access=r|w|x][,user]`, numbers
/// in decimal or `0x` hex. Defaults: PID 0, AS 0, 64-bit mode, no permission check.
pub fn parse_query(spec: &str) -> Result<Query, InspectError> {
    let bad = |why: &str| InspectError::Query {
        spec: spec.to_string(),
        why: why.to_string(),
    };
    let num = |s: &str| -> Result<u64, InspectError> {
        let s = s.trim();
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(&h.replace('_', ""), 16),
            None => s.replace('_', "").parse(),
        }
        .map_err(|_| bad(&format!("{s:?} is not a number")))
    };
    let mut parts = spec.split(',');
    let mut q = Query {
        ea: num(parts.next().unwrap_or(""))?,
        pid: 0,
        ts: false,
        cm: true,
        access: None,
    };
    let mut kind = None;
    let mut user = false;
    for p in parts {
        match p.trim().split_once('=') {
            Some(("pid", v)) => q.pid = u32::try_from(num(v)?).map_err(|_| bad("pid too large"))?,
            Some(("as", v)) => q.ts = num(v)? != 0,
            Some(("cm", v)) => q.cm = num(v)? != 0,
            Some(("access", v)) => {
                kind = Some(match v {
                    "r" => AccessKind::Read,
                    "w" => AccessKind::Write,
                    "x" => AccessKind::Execute,
                    _ => return Err(bad("access is r, w or x")),
                })
            }
            None if p.trim() == "user" => user = true,
            _ => return Err(bad(&format!("unknown option {p:?}"))),
        }
    }
    if user && kind.is_none() {
        return Err(bad("user needs access=r|w|x"));
    }
    q.access = kind.map(|kind| Access { kind, user });
    Ok(q)
}

/// The table of valid entries of `tlb`.
pub fn format_tlb(tlb: &TlbArray) -> String {
    let g = tlb.geometry();
    let mut out = String::new();
    let valid: Vec<_> = tlb.valid_entries().collect();
    let _ = writeln!(
        out,
        "geometry {g}: TLB0 {} sets x {} ways, TLB1 {} entries; {} valid",
        g.sets(Tlb::Tlb0),
        g.ways(Tlb::Tlb0),
        g.entries(Tlb::Tlb1),
        valid.len()
    );
    if valid.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:>5} {:>4} {:>4} {:>3}  {:<18} {:<18} {:>5} {:>5} {:>2}  {:<12} {:<5} IPROT",
        "index", "tlb", "set", "way", "EPN", "RPN", "size", "TID", "TS", "perms", "WIMGE"
    );
    for (i, p, e) in valid {
        let _ = writeln!(
            out,
            "{:>5} {:>4} {:>4} {:>3}  {:#018x} {:#018x} {:>5} {:>5} {:>2}  {:<12} {:<5} {}",
            i,
            p.tlb.number(),
            p.set,
            p.way,
            e.epn(p.tlb),
            e.rpn(p.tlb),
            size_name(e.page_size(p.tlb)),
            e.tid(),
            u8::from(e.ts()),
            e.perms().to_string(),
            wimge_name(e.attrs()),
            if e.iprot() { "yes" } else { "" }
        );
    }
    let misplaced = tlb.misplaced();
    if !misplaced.is_empty() {
        let _ = writeln!(
            out,
            "warning: TLB0 entries {misplaced:?} are not 4K pages in the set their EPN hashes to \
             (the guest cannot hit them)"
        );
    }
    out
}

/// One line translating `q` through `tlb`.
pub fn format_translation(tlb: &TlbArray, q: &Query) -> String {
    let what = format!(
        "EA {:#x} (PID {}, AS {}{}{})",
        q.ea,
        q.pid,
        u8::from(q.ts),
        if q.cm { "" } else { ", 32-bit" },
        q.access.map(|a| format!(", {a}")).unwrap_or_default()
    );
    match translate(tlb, q) {
        Ok(t) => format!(
            "{what} -> RA {:#x} via index {} ({} set {} way {}, {} page, {})",
            t.ra,
            t.index,
            t.pos.tlb,
            t.pos.set,
            t.pos.way,
            size_name(t.page_size),
            t.entry.perms()
        ),
        Err(e) => format!("{what}: {e}"),
    }
}

/// "registers: nip=0x... msr=0x... pid=0x... (N saved)" for a vCPU of a snapshot.
fn registers_line(regs: &vmm_core::regs::VcpuState) -> String {
    let t = crate::regs::table();
    let mut out = String::from("registers:");
    for name in ["nip", "msr", "pid"] {
        let value = t
            .by_name(name)
            .and_then(|r| regs.iter().find(|v| v.id == r.id))
            .and_then(|v| v.as_u128());
        match value {
            Some(v) => {
                let _ = write!(out, " {name}={v:#x}");
            }
            None => {
                let _ = write!(out, " {name}=?");
            }
        }
    }
    let _ = write!(out, " ({} saved)", regs.len());
    out
}

/// vmm-core's `VCPU` section: u32 id, blob registers, blob arch extra (the TLB). Read here rather
/// than with `read_vcpu`, which also decodes the register list: that only works on a host of the
/// snapshot's byte order, and the TLB is readable everywhere.
fn vcpu_parts(data: &[u8]) -> Result<(u32, &[u8], &[u8]), Truncated> {
    let mut r = Reader::new(data);
    Ok((
        r.u32("the vCPU index")?,
        r.blob("the registers")?,
        r.blob("the TLB")?,
    ))
}

/// The report for a snapshot or raw dump: every TLB, then the requested translations.
pub fn inspect_tlb(bytes: &[u8], opts: &InspectOptions) -> Result<String, InspectError> {
    let mut tlbs = Vec::new();
    if bytes.starts_with(&snapshot::SNAPSHOT_MAGIC) {
        let env = Envelope::decode(bytes, Some((snapshot::SNAPSHOT_MAGIC, crate::BookE::NAME)))
            .map_err(InspectError::Envelope)?;
        for s in env.all(&TAG_VCPU) {
            let (id, regs, extra) = vcpu_parts(&s.data).map_err(InspectError::Vcpu)?;
            let (mmu, tlb) = snapshot::decode_tlb(extra)
                .map_err(|source| InspectError::Snapshot { vcpu: id, source })?;
            let mmu = match mmu {
                crate::mmu::MmuType::Hv => "KVM_MMU_FSL_BOOKE_HV, TLB0 not migrated",
                crate::mmu::MmuType::NoHv => "KVM_MMU_FSL_BOOKE_NOHV",
            };
            let regs = match vmm_core::regs::VcpuState::decode(regs) {
                Ok(state) => registers_line(&state),
                Err(e) => format!("registers: not shown ({e})"),
            };
            tlbs.push((format!("vCPU {id} ({mmu})\n{regs}"), tlb));
        }
    } else {
        let g = opts
            .geometry
            .ok_or(InspectError::NeedGeometry(bytes.len()))?;
        let a = TlbArray::decode(g, bytes, opts.order).map_err(InspectError::Array)?;
        tlbs.push((format!("raw array ({:?}-endian)", opts.order), a));
    }
    let mut out = String::new();
    for (title, tlb) in &tlbs {
        let _ = writeln!(out, "{title}");
        out.push_str(&format_tlb(tlb));
        for q in &opts.translate {
            let _ = writeln!(out, "{}", format_translation(tlb, q));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::kvm_book3e_206_tlb_entry;
    use crate::mmu::entry::{Mapping, Perms, MAS2_M};
    use crate::mmu::{MmuType, TlbStore};

    fn array() -> TlbArray {
        let mut a = TlbArray::new(TlbGeometry::E500MC);
        let e = kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
            ea: 0xc000_0000,
            ra: 0,
            tsize: 16, // 64 MiB
            tid: 0,
            ts: false,
            iprot: true,
            attrs: MAS2_M,
            perms: Perms::SX | Perms::SW | Perms::SR,
        });
        a.write(512, e).unwrap();
        a
    }

    #[test]
    fn raw_dump_report() {
        let a = array();
        let opts = InspectOptions {
            geometry: Some(parse_geometry("512x4,64").unwrap()),
            order: ByteOrder::Big,
            translate: vec![
                parse_query("0xc0123456").unwrap(),
                parse_query("0xc0123456,access=w,user").unwrap(),
                parse_query("0xd0000000,pid=3,as=1").unwrap(),
            ],
        };
        let out = inspect_tlb(&a.encode(ByteOrder::Big), &opts).unwrap();
        if std::env::var_os("TETRA_DUMP_INSPECT").is_some() {
            eprintln!("{out}");
        }
        assert!(
            out.contains("geometry 512x4,64: TLB0 128 sets x 4 ways, TLB1 64 entries; 1 valid"),
            "{out}"
        );
        let row = out
            .lines()
            .find(|l| l.trim_start().starts_with("512"))
            .unwrap();
        for col in [
            "0x00000000c0000000",
            "0x0000000000000000",
            "64M",
            "--SX--SW--SR",
            "--M--",
            "yes",
        ] {
            assert!(row.contains(col), "{col} missing in {row:?}");
        }
        assert!(out.contains(
            "EA 0xc0123456 (PID 0, AS 0) -> RA 0x123456 via index 512 (TLB1 set 0 way 0, 64M page, --SX--SW--SR)"
        ), "{out}");
        assert!(
            out.contains("user write of EA 0xc0123456 denied by TLB entry 512"),
            "{out}"
        );
        assert!(
            out.contains("no TLB entry maps EA 0xd0000000 for PID 3, AS 1"),
            "{out}"
        );
        // The wrong byte order reads garbage, not the entry.
        let le = inspect_tlb(&a.encode(ByteOrder::Little), &opts).unwrap();
        assert!(!le.contains("0x00000000c0000000"));
    }

    #[test]
    fn snapshot_report() {
        let blob = snapshot::tests::sample_envelope();
        let out = inspect_tlb(&blob, &InspectOptions::default()).unwrap();
        assert!(out.contains("vCPU 0 (KVM_MMU_FSL_BOOKE_HV, TLB0 not migrated)"));
        assert!(out.contains("vCPU 1 (KVM_MMU_FSL_BOOKE_NOHV)"));
        assert!(
            out.contains("registers: nip=0x200 msr=0x80029000 pid=? (6 saved)"),
            "{out}"
        );
        assert_eq!(out.matches("geometry 32x4,8").count(), 2);
        // Registers saved on a host of the other byte order are named, the TLB still printed.
        let mut regs = snapshot::tests::sample_regs(0x100).encode();
        regs[5] = if regs[5] == b'L' { b'B' } else { b'L' };
        let tlb = snapshot::encode_tlb(MmuType::NoHv, &snapshot::tests::sample_tlb(MmuType::NoHv));
        let mut w = vmm_core::wire::Writer::new();
        w.u32(0);
        w.blob(&regs);
        w.blob(&tlb);
        let mut env = Envelope::new(snapshot::SNAPSHOT_MAGIC);
        env.push(vmm_core::snapshot::Section::new(
            &TAG_VCPU,
            1,
            w.into_bytes(),
        ));
        let other = inspect_tlb(&env.encode(), &InspectOptions::default()).unwrap();
        assert!(
            other.contains("registers: not shown (register state has byte order"),
            "{other}"
        );
        assert!(other.contains("; 8 valid"), "{other}");
        assert!(
            out.contains("; 4 valid") && out.contains("; 8 valid"),
            "{out}"
        );
    }

    #[test]
    fn errors() {
        let a = array().encode(ByteOrder::Big);
        assert!(matches!(
            inspect_tlb(&a, &InspectOptions::default()),
            Err(InspectError::NeedGeometry(13824))
        ));
        let opts = InspectOptions {
            geometry: Some(TlbGeometry::E6500),
            ..InspectOptions::default()
        };
        assert!(matches!(
            inspect_tlb(&a, &opts),
            Err(InspectError::Array(_))
        ));
        let mut blob = snapshot::tests::sample_envelope();
        blob.pop();
        assert!(matches!(
            inspect_tlb(&blob, &InspectOptions::default()),
            Err(InspectError::Envelope(_))
        ));
        // A VCPU section whose TLB does not decode.
        let mut env = Envelope::new(snapshot::SNAPSHOT_MAGIC);
        env.push(vmm_core::snapshot::sections::vcpu_section(
            3,
            &vmm_core::regs::VcpuState::new(),
            &[1, 0, 0, 0],
        ));
        assert!(matches!(
            inspect_tlb(&env.encode(), &InspectOptions::default()),
            Err(InspectError::Snapshot { vcpu: 3, .. })
        ));
        assert!(parse_query("zz").is_err());
        assert!(parse_query("0x10,colour=red").is_err());
        assert!(parse_query("0x10,user").is_err());
        assert!(parse_query("0x10,access=q").is_err());
        assert!(parse_geometry("512x3,64").is_err());
        let q = parse_query("4096,pid=0x2a,as=1,cm=0,access=x").unwrap();
        assert_eq!((q.ea, q.pid, q.ts, q.cm), (4096, 42, true, false));
        assert_eq!(q.access.unwrap().kind, AccessKind::Execute);
    }
}
