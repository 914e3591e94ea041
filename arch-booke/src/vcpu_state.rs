//! The BookE vCPU register state, as a list of (register id, value) pairs.
//!
//! Ids are ONE_REG ids (`KVM_REG_PPC | size | number`). Where KVM has a ONE_REG register (MAS0-7,
//! TCR, TSR, EPCR, EPR, PID, VRSAVE) its id is used; registers KVM only exposes through
//! `kvm_regs` / `kvm_sregs` (GPRs, PC, MSR, IVORs, ...) get tetra-private ids in the same shape,
//! with [`TETRA_PRIVATE`] set in the number (bit 30, which no kernel PPC register uses). This is
//! the tag/value shape vmm-core's register model uses; the serializer stores only the pairs.

use crate::abi::*;
use thiserror::Error;

/// Marks a tetra-private register number.
pub const TETRA_PRIVATE: u64 = 0x4000_0000;

const fn private32(n: u64) -> u64 {
    KVM_REG_PPC | KVM_REG_SIZE_U32 | TETRA_PRIVATE | n
}
const fn private64(n: u64) -> u64 {
    KVM_REG_PPC | KVM_REG_SIZE_U64 | TETRA_PRIVATE | n
}

/// PC (`kvm_regs.pc`).
pub const REG_PC: u64 = private64(0x00);
/// CR.
pub const REG_CR: u64 = private64(0x01);
/// CTR.
pub const REG_CTR: u64 = private64(0x02);
/// LR.
pub const REG_LR: u64 = private64(0x03);
/// XER.
pub const REG_XER: u64 = private64(0x04);
/// MSR.
pub const REG_MSR: u64 = private64(0x05);
/// SRR0.
pub const REG_SRR0: u64 = private64(0x06);
/// SRR1.
pub const REG_SRR1: u64 = private64(0x07);
/// SPRG0 (SPRGn at + n, n < 8).
pub const REG_SPRG0: u64 = private64(0x08);
/// GPR0 (GPRn at + n).
pub const REG_GPR0: u64 = private64(0x20);
/// CSRR0.
pub const REG_CSRR0: u64 = private64(0x40);
/// CSRR1.
pub const REG_CSRR1: u64 = private32(0x41);
/// MCSRR0.
pub const REG_MCSRR0: u64 = private64(0x42);
/// MCSRR1.
pub const REG_MCSRR1: u64 = private32(0x43);
/// ESR.
pub const REG_ESR: u64 = private32(0x44);
/// DEAR.
pub const REG_DEAR: u64 = private64(0x45);
/// IVPR.
pub const REG_IVPR: u64 = private64(0x46);
/// MCSR.
pub const REG_MCSR: u64 = private64(0x47);
/// DECAR.
pub const REG_DECAR: u64 = private32(0x48);
/// DEC.
pub const REG_DEC: u64 = private32(0x49);
/// SPRG8.
pub const REG_SPRG8: u64 = private64(0x4b);
/// IVOR0 (IVORn at + n, n < 16).
pub const REG_IVOR0: u64 = private32(0x50);
/// IVOR32 (IVOR32+n at + n, n < 4).
pub const REG_IVOR32: u64 = private32(0x60);

/// Errors rebuilding registers from pairs.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegsError {
    /// An id tetra does not know for BookE.
    #[error("unknown BookE register id {0:#018x}")]
    Unknown(u64),
    /// A value of the wrong size.
    #[error("register {name} ({id:#018x}) needs {want} bytes, got {got}")]
    Size {
        /// Id.
        id: u64,
        /// Name.
        name: &'static str,
        /// Expected bytes.
        want: usize,
        /// Bytes given.
        got: usize,
    },
    /// The same id twice.
    #[error("register {0:#018x} given twice")]
    Duplicate(u64),
}

/// The BookE vCPU registers tetra saves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookeRegs {
    /// GPR0-31.
    pub gpr: [u64; 32],
    /// Program counter.
    pub pc: u64,
    /// CR.
    pub cr: u64,
    /// CTR.
    pub ctr: u64,
    /// LR.
    pub lr: u64,
    /// XER.
    pub xer: u64,
    /// MSR.
    pub msr: u64,
    /// SRR0.
    pub srr0: u64,
    /// SRR1.
    pub srr1: u64,
    /// PID.
    pub pid: u64,
    /// SPRG0-7.
    pub sprg: [u64; 8],
    /// SPRG8.
    pub sprg8: u64,
    /// CSRR0.
    pub csrr0: u64,
    /// CSRR1.
    pub csrr1: u32,
    /// MCSRR0.
    pub mcsrr0: u64,
    /// MCSRR1.
    pub mcsrr1: u32,
    /// ESR.
    pub esr: u32,
    /// DEAR.
    pub dear: u64,
    /// IVPR.
    pub ivpr: u64,
    /// MCSR.
    pub mcsr: u64,
    /// TCR.
    pub tcr: u32,
    /// TSR.
    pub tsr: u32,
    /// DECAR.
    pub decar: u32,
    /// DEC.
    pub dec: u32,
    /// MAS0.
    pub mas0: u32,
    /// MAS1.
    pub mas1: u32,
    /// MAS2.
    pub mas2: u64,
    /// MAS7 || MAS3.
    pub mas7_3: u64,
    /// MAS4.
    pub mas4: u32,
    /// MAS6.
    pub mas6: u32,
    /// IVOR0-15.
    pub ivor: [u32; 16],
    /// IVOR32-35.
    pub ivor_high: [u32; 4],
    /// EPCR.
    pub epcr: u32,
    /// EPR.
    pub epr: u32,
    /// VRSAVE.
    pub vrsave: u32,
}

enum Slot<'a> {
    U32(&'a mut u32),
    U64(&'a mut u64),
}

const GPR_NAMES: [&str; 32] = [
    "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "r16", "r17", "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27",
    "r28", "r29", "r30", "r31",
];
const SPRG_NAMES: [&str; 8] = [
    "sprg0", "sprg1", "sprg2", "sprg3", "sprg4", "sprg5", "sprg6", "sprg7",
];
const IVOR_NAMES: [&str; 20] = [
    "ivor0", "ivor1", "ivor2", "ivor3", "ivor4", "ivor5", "ivor6", "ivor7", "ivor8", "ivor9",
    "ivor10", "ivor11", "ivor12", "ivor13", "ivor14", "ivor15", "ivor32", "ivor33", "ivor34",
    "ivor35",
];

impl BookeRegs {
    /// Every register: id, name and a reference to its value.
    fn slots(&mut self) -> Vec<(u64, &'static str, Slot<'_>)> {
        use Slot::{U32, U64};
        let mut v = Vec::with_capacity(100);
        for (i, g) in self.gpr.iter_mut().enumerate() {
            v.push((REG_GPR0 + i as u64, GPR_NAMES[i], U64(g)));
        }
        v.extend([
            (REG_PC, "pc", U64(&mut self.pc)),
            (REG_CR, "cr", U64(&mut self.cr)),
            (REG_CTR, "ctr", U64(&mut self.ctr)),
            (REG_LR, "lr", U64(&mut self.lr)),
            (REG_XER, "xer", U64(&mut self.xer)),
            (REG_MSR, "msr", U64(&mut self.msr)),
            (REG_SRR0, "srr0", U64(&mut self.srr0)),
            (REG_SRR1, "srr1", U64(&mut self.srr1)),
            (KVM_REG_PPC_PID, "pid", U64(&mut self.pid)),
        ]);
        for (i, s) in self.sprg.iter_mut().enumerate() {
            v.push((REG_SPRG0 + i as u64, SPRG_NAMES[i], U64(s)));
        }
        v.extend([
            (REG_SPRG8, "sprg8", U64(&mut self.sprg8)),
            (REG_CSRR0, "csrr0", U64(&mut self.csrr0)),
            (REG_CSRR1, "csrr1", U32(&mut self.csrr1)),
            (REG_MCSRR0, "mcsrr0", U64(&mut self.mcsrr0)),
            (REG_MCSRR1, "mcsrr1", U32(&mut self.mcsrr1)),
            (REG_ESR, "esr", U32(&mut self.esr)),
            (REG_DEAR, "dear", U64(&mut self.dear)),
            (REG_IVPR, "ivpr", U64(&mut self.ivpr)),
            (REG_MCSR, "mcsr", U64(&mut self.mcsr)),
            (KVM_REG_PPC_TCR, "tcr", U32(&mut self.tcr)),
            (KVM_REG_PPC_TSR, "tsr", U32(&mut self.tsr)),
            (REG_DECAR, "decar", U32(&mut self.decar)),
            (REG_DEC, "dec", U32(&mut self.dec)),
            (KVM_REG_PPC_MAS0, "mas0", U32(&mut self.mas0)),
            (KVM_REG_PPC_MAS1, "mas1", U32(&mut self.mas1)),
            (KVM_REG_PPC_MAS2, "mas2", U64(&mut self.mas2)),
            (KVM_REG_PPC_MAS7_3, "mas7_3", U64(&mut self.mas7_3)),
            (KVM_REG_PPC_MAS4, "mas4", U32(&mut self.mas4)),
            (KVM_REG_PPC_MAS6, "mas6", U32(&mut self.mas6)),
        ]);
        for (i, r) in self.ivor.iter_mut().enumerate() {
            v.push((REG_IVOR0 + i as u64, IVOR_NAMES[i], U32(r)));
        }
        for (i, r) in self.ivor_high.iter_mut().enumerate() {
            v.push((REG_IVOR32 + i as u64, IVOR_NAMES[16 + i], U32(r)));
        }
        v.extend([
            (KVM_REG_PPC_EPCR, "epcr", U32(&mut self.epcr)),
            (KVM_REG_PPC_EPR, "epr", U32(&mut self.epr)),
            (KVM_REG_PPC_VRSAVE, "vrsave", U32(&mut self.vrsave)),
        ]);
        v
    }

    /// Ids and names of every register, in save order.
    pub fn table() -> Vec<(u64, &'static str)> {
        Self::default()
            .slots()
            .into_iter()
            .map(|(id, name, _)| (id, name))
            .collect()
    }

    /// The name of register `id`.
    pub fn name_of(id: u64) -> Option<&'static str> {
        Self::table()
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }

    /// (id, little-endian value bytes) for every register.
    pub fn to_pairs(&self) -> Vec<(u64, Vec<u8>)> {
        let mut copy = self.clone();
        copy.slots()
            .into_iter()
            .map(|(id, _, s)| {
                let bytes = match s {
                    Slot::U32(v) => v.to_le_bytes().to_vec(),
                    Slot::U64(v) => v.to_le_bytes().to_vec(),
                };
                (id, bytes)
            })
            .collect()
    }

    /// Rebuilds registers from pairs; registers not listed stay 0.
    pub fn from_pairs(pairs: &[(u64, Vec<u8>)]) -> Result<Self, RegsError> {
        let mut regs = Self::default();
        let mut seen = std::collections::HashSet::new();
        {
            let mut slots = regs.slots();
            for (id, bytes) in pairs {
                if !seen.insert(*id) {
                    return Err(RegsError::Duplicate(*id));
                }
                let (_, name, slot) = slots
                    .iter_mut()
                    .find(|(i, _, _)| i == id)
                    .ok_or(RegsError::Unknown(*id))?;
                let size_err = |want| RegsError::Size {
                    id: *id,
                    name,
                    want,
                    got: bytes.len(),
                };
                match slot {
                    Slot::U32(v) => {
                        **v = u32::from_le_bytes(bytes[..].try_into().map_err(|_| size_err(4))?)
                    }
                    Slot::U64(v) => {
                        **v = u64::from_le_bytes(bytes[..].try_into().map_err(|_| size_err(8))?)
                    }
                }
            }
        }
        Ok(regs)
    }

    /// Takes the BookE special registers from `u.e` of `KVM_GET_SREGS`.
    pub fn read_sregs(&mut self, e: &kvm_sregs_e) {
        self.sprg8 = e.sprg8;
        self.csrr0 = e.csrr0;
        self.csrr1 = e.csrr1;
        self.mcsrr0 = e.mcsrr0;
        self.mcsrr1 = e.mcsrr1;
        self.esr = e.esr;
        self.dear = e.dear;
        self.ivpr = e.ivpr;
        self.mcsr = e.mcsr;
        self.tcr = e.tcr;
        self.tsr = e.tsr;
        self.decar = e.decar;
        self.dec = e.dec;
        self.mas0 = e.mas0;
        self.mas1 = e.mas1;
        self.mas2 = e.mas2;
        self.mas7_3 = e.mas7_3;
        self.mas4 = e.mas4;
        self.mas6 = e.mas6;
        self.ivor = e.ivor_low;
        self.ivor_high.copy_from_slice(&e.ivor_high[..4]);
        self.epcr = e.epcr;
        self.epr = e.epr;
        self.vrsave = e.vrsave;
    }

    /// Writes the BookE special registers into `u.e` for `KVM_SET_SREGS`, starting from what
    /// `KVM_GET_SREGS` returned (reserved fields must be kept). Sets every feature section these
    /// registers belong to and asks KVM to update MCSR, TSR and DEC as well.
    pub fn write_sregs(&self, e: &mut kvm_sregs_e) {
        e.sprg8 = self.sprg8;
        e.csrr0 = self.csrr0;
        e.csrr1 = self.csrr1;
        e.mcsrr0 = self.mcsrr0;
        e.mcsrr1 = self.mcsrr1;
        e.esr = self.esr;
        e.dear = self.dear;
        e.ivpr = self.ivpr;
        e.mcsr = self.mcsr;
        e.tcr = self.tcr;
        e.tsr = self.tsr;
        e.decar = self.decar;
        e.dec = self.dec;
        e.mas0 = self.mas0;
        e.mas1 = self.mas1;
        e.mas2 = self.mas2;
        e.mas7_3 = self.mas7_3;
        e.mas4 = self.mas4;
        e.mas6 = self.mas6;
        e.ivor_low = self.ivor;
        e.ivor_high[..4].copy_from_slice(&self.ivor_high);
        e.epcr = self.epcr;
        e.epr = self.epr;
        e.vrsave = self.vrsave;
        e.features |= KVM_SREGS_E_BASE
            | KVM_SREGS_E_ARCH206
            | KVM_SREGS_E_64
            | KVM_SREGS_E_SPRG8
            | KVM_SREGS_E_IVOR
            | KVM_SREGS_E_ARCH206_MMU;
        e.update_special =
            KVM_SREGS_E_UPDATE_MCSR | KVM_SREGS_E_UPDATE_TSR | KVM_SREGS_E_UPDATE_DEC;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BookeRegs {
        let mut r = BookeRegs::default();
        for (i, g) in r.gpr.iter_mut().enumerate() {
            *g = 0x1111_0000_0000_0000 * (i as u64 % 15) + i as u64;
        }
        r.pc = 0xc000_0000_0000_1234;
        r.msr = 0x8002_9000;
        r.mas1 = 0xc000_0500;
        r.mas7_3 = 0x1_0000_0015;
        r.ivor[15] = 0x1f0;
        r.ivor_high[3] = 0x360;
        r.tcr = 0x0440_0000;
        r.epr = 42;
        r
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let t = BookeRegs::table();
        let ids: std::collections::HashSet<_> = t.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids.len(), t.len());
        let names: std::collections::HashSet<_> = t.iter().map(|(_, n)| *n).collect();
        assert_eq!(names.len(), t.len());
        for (id, name) in &t {
            assert_eq!(id & 0xff00_0000_0000_0000, KVM_REG_PPC, "{name}");
            let size = id & 0x00f0_0000_0000_0000;
            assert!(
                size == KVM_REG_SIZE_U32 || size == KVM_REG_SIZE_U64,
                "{name}"
            );
        }
        assert_eq!(BookeRegs::name_of(KVM_REG_PPC_MAS0), Some("mas0"));
        assert_eq!(BookeRegs::name_of(REG_GPR0 + 31), Some("r31"));
        assert_eq!(BookeRegs::name_of(REG_IVOR32 + 3), Some("ivor35"));
    }

    #[test]
    fn pairs_round_trip_little_endian() {
        let r = sample();
        let pairs = r.to_pairs();
        assert_eq!(pairs.len(), BookeRegs::table().len());
        let pc = pairs.iter().find(|(i, _)| *i == REG_PC).unwrap();
        assert_eq!(pc.1, 0xc000_0000_0000_1234u64.to_le_bytes());
        let tcr = pairs.iter().find(|(i, _)| *i == KVM_REG_PPC_TCR).unwrap();
        assert_eq!(tcr.1.len(), 4);
        assert_eq!(BookeRegs::from_pairs(&pairs).unwrap(), r);
    }

    #[test]
    fn from_pairs_rejects() {
        assert_eq!(
            BookeRegs::from_pairs(&[(0x1234, vec![0; 8])]),
            Err(RegsError::Unknown(0x1234))
        );
        assert!(matches!(
            BookeRegs::from_pairs(&[(REG_PC, vec![0; 4])]),
            Err(RegsError::Size {
                want: 8,
                got: 4,
                ..
            })
        ));
        assert!(matches!(
            BookeRegs::from_pairs(&[(KVM_REG_PPC_MAS0, vec![0; 8])]),
            Err(RegsError::Size {
                want: 4,
                got: 8,
                ..
            })
        ));
        assert_eq!(
            BookeRegs::from_pairs(&[(REG_PC, vec![0; 8]), (REG_PC, vec![1; 8])]),
            Err(RegsError::Duplicate(REG_PC))
        );
    }

    #[test]
    fn sregs_round_trip() {
        let r = sample();
        let mut e = kvm_sregs_e::default();
        e.ivor_high[10] = 99; // beyond what tetra saves: kept
        r.write_sregs(&mut e);
        assert_eq!(e.ivor_high[10], 99);
        assert!(e.features & KVM_SREGS_E_ARCH206_MMU != 0);
        let mut back = BookeRegs::default();
        back.read_sregs(&e);
        assert_eq!(
            (back.mas1, back.mas7_3, back.ivor, back.tcr),
            (r.mas1, r.mas7_3, r.ivor, r.tcr)
        );
    }
}
