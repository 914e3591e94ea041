//! vCPU entry state for each boot protocol, as plain data: the mode, the registers the protocol
//! defines, and the descriptor tables and page tables tetra writes into guest memory for it.

use crate::layout::{GDT_ADDR, IDT_ADDR, PDPT_ADDR, PD_ADDR, PML4_ADDR};
use vmm_core::memory::{write_guest, GuestMemoryMmap, MemoryError};

/// The processor mode the boot vCPU starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuMode {
    /// 16-bit real mode.
    Real,
    /// 32-bit protected mode, paging off (multiboot, PVH).
    Protected,
    /// 64-bit long mode on an identity map of the first 4 GiB (Linux 64-bit boot protocol).
    Long,
}

/// What the boot vCPU's registers hold at the first instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// Mode.
    pub mode: CpuMode,
    /// Instruction pointer (a linear address; in real mode split into CS:IP by [`real_mode_cs`]).
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// RAX (multiboot: the 0x2BADB002 magic).
    pub rax: u64,
    /// RBX (multiboot: info structure; PVH: `hvm_start_info`).
    pub rbx: u64,
    /// RSI (Linux: `boot_params`).
    pub rsi: u64,
}

impl EntryState {
    /// An entry at `rip` in `mode` with every other register zero.
    pub fn at(mode: CpuMode, rip: u64) -> Self {
        EntryState {
            mode,
            rip,
            rsp: 0,
            rax: 0,
            rbx: 0,
            rsi: 0,
        }
    }
}

/// The real-mode CS for a linear entry address: a 64 KiB-aligned segment, so CS:IP covers it.
pub fn real_mode_cs(rip: u64) -> u16 {
    ((rip >> 4) & 0xf000) as u16
}

/// Selector of the flat 32-bit code segment.
pub const SEL_CODE32: u16 = 0x08;
/// Selector of the 64-bit code segment (Linux's `__BOOT_CS`).
pub const SEL_CODE64: u16 = 0x10;
/// Selector of the flat data segment (Linux's `__BOOT_DS`).
pub const SEL_DATA: u16 = 0x18;
/// Selector of the TSS.
pub const SEL_TSS: u16 = 0x20;

/// Builds a GDT descriptor from its access/flags word (`0xF0FF` bits), base and 20-bit limit.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << 32)
        | ((flags as u64 & 0x0000_f0ff) << 40)
        | ((limit as u64 & 0x000f_0000) << 32)
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
}

/// The boot GDT: null, code32, code64, data, TSS.
pub const GDT: [u64; 5] = [
    0,
    gdt_entry(0xc09b, 0, 0xfffff),
    gdt_entry(0xa09b, 0, 0xfffff),
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x808b, 0, 0xfffff),
];

pub use crate::regs::Segment;

/// Decodes GDT descriptor `entry` as the segment register loaded with `selector` would hold it.
pub fn segment(entry: u64, selector: u16) -> Segment {
    let g = ((entry >> 55) & 1) as u8;
    let raw_limit = ((entry & 0xffff) | ((entry >> 32) & 0xf_0000)) as u32;
    Segment {
        base: ((entry >> 16) & 0xff_ffff) | ((entry >> 32) & 0xff00_0000),
        limit: if g == 1 {
            (raw_limit << 12) | 0xfff
        } else {
            raw_limit
        },
        selector,
        type_: ((entry >> 40) & 0xf) as u8,
        s: ((entry >> 44) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        present: ((entry >> 47) & 1) as u8,
        avl: ((entry >> 52) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        db: ((entry >> 54) & 1) as u8,
        g,
        unusable: 0,
    }
}

/// A real-mode segment at paragraph `selector`.
pub fn real_segment(selector: u16, code: bool) -> Segment {
    Segment {
        base: u64::from(selector) << 4,
        limit: 0xffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        s: 1,
        ..Segment::default()
    }
}

/// CR0.PE
pub const CR0_PE: u64 = 1;
/// CR0.ET
pub const CR0_ET: u64 = 1 << 4;
/// CR0.PG
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE
pub const CR4_PAE: u64 = 1 << 5;
/// EFER.LME
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA
pub const EFER_LMA: u64 = 1 << 10;

/// The special registers of an entry state, as `kvm_sregs` needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialRegs {
    /// CS.
    pub cs: Segment,
    /// DS, ES, FS, GS and SS.
    pub data: Segment,
    /// TR.
    pub tr: Segment,
    /// GDTR (base, limit).
    pub gdt: (u64, u16),
    /// IDTR (base, limit).
    pub idt: (u64, u16),
    /// CR0.
    pub cr0: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// EFER.
    pub efer: u64,
}

/// The special registers for `entry`.
pub fn special_regs(entry: &EntryState) -> SpecialRegs {
    let gdt = (GDT_ADDR, (GDT.len() * 8 - 1) as u16);
    let idt = (IDT_ADDR, 0);
    let tr = segment(GDT[(SEL_TSS >> 3) as usize], SEL_TSS);
    let data = segment(GDT[(SEL_DATA >> 3) as usize], SEL_DATA);
    match entry.mode {
        CpuMode::Real => {
            let cs = real_mode_cs(entry.rip);
            SpecialRegs {
                cs: real_segment(cs, true),
                data: real_segment(0, false),
                tr,
                gdt,
                idt: (0, 0x3ff),
                cr0: CR0_ET,
                cr3: 0,
                cr4: 0,
                efer: 0,
            }
        }
        CpuMode::Protected => SpecialRegs {
            cs: segment(GDT[(SEL_CODE32 >> 3) as usize], SEL_CODE32),
            data,
            tr,
            gdt,
            idt,
            cr0: CR0_PE | CR0_ET,
            cr3: 0,
            cr4: 0,
            efer: 0,
        },
        CpuMode::Long => SpecialRegs {
            cs: segment(GDT[(SEL_CODE64 >> 3) as usize], SEL_CODE64),
            data,
            tr,
            gdt,
            idt,
            cr0: CR0_PE | CR0_ET | CR0_PG,
            cr3: PML4_ADDR,
            cr4: CR4_PAE,
            efer: EFER_LME | EFER_LMA,
        },
    }
}

/// The instruction pointer register value: the offset from CS in real mode, else linear.
pub fn instruction_pointer(entry: &EntryState) -> u64 {
    match entry.mode {
        CpuMode::Real => entry.rip - (u64::from(real_mode_cs(entry.rip)) << 4),
        _ => entry.rip,
    }
}

/// Writes the GDT and the empty IDT.
pub fn write_descriptor_tables(mem: &GuestMemoryMmap) -> Result<(), MemoryError> {
    let gdt: Vec<u8> = GDT.iter().flat_map(|e| e.to_le_bytes()).collect();
    write_guest(mem, "boot GDT", GDT_ADDR, &gdt)?;
    write_guest(mem, "boot IDT", IDT_ADDR, &[0u8; 8])
}

/// Writes an identity map of 0..4 GiB with 2 MiB pages (PML4 -> PDPT -> 4 page directories).
pub fn write_identity_map(mem: &GuestMemoryMmap) -> Result<(), MemoryError> {
    const PRESENT_RW: u64 = 0x3;
    const HUGE: u64 = 0x80;
    write_guest(
        mem,
        "boot PML4",
        PML4_ADDR,
        &(PDPT_ADDR | PRESENT_RW).to_le_bytes(),
    )?;
    for i in 0..4u64 {
        let pd = PD_ADDR + i * 0x1000;
        write_guest(
            mem,
            "boot PDPT",
            PDPT_ADDR + i * 8,
            &(pd | PRESENT_RW).to_le_bytes(),
        )?;
        let entries: Vec<u8> = (0..512u64)
            .flat_map(|j| ((((i << 9) | j) << 21) | PRESENT_RW | HUGE).to_le_bytes())
            .collect();
        write_guest(mem, "boot page directory", pd, &entries)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestAddress};

    #[test]
    fn gdt_entries_decode_to_flat_segments() {
        let code32 = segment(GDT[1], SEL_CODE32);
        assert_eq!((code32.base, code32.limit), (0, 0xffff_ffff));
        assert_eq!(
            (code32.type_, code32.db, code32.l, code32.s),
            (0xb, 1, 0, 1)
        );
        let code64 = segment(GDT[2], SEL_CODE64);
        assert_eq!((code64.l, code64.db), (1, 0));
        let data = segment(GDT[3], SEL_DATA);
        assert_eq!((data.type_, data.present, data.g), (3, 1, 1));
        let tss = segment(GDT[4], SEL_TSS);
        assert_eq!((tss.type_, tss.s), (0xb, 0));
        // A descriptor with a non-zero base round-trips through the encoding.
        let s = segment(gdt_entry(0x4093, 0x1234_5678, 0xabcde), 0);
        assert_eq!((s.base, s.limit, s.g), (0x1234_5678, 0xabcde, 0));
    }

    #[test]
    fn real_mode_entry_splits_into_cs_ip() {
        let e = EntryState::at(CpuMode::Real, 0x1_2345);
        let sr = special_regs(&e);
        assert_eq!(sr.cs.selector, 0x1000);
        assert_eq!(sr.cs.base + instruction_pointer(&e), 0x1_2345);
        assert_eq!(sr.cr0 & CR0_PE, 0);
    }

    #[test]
    fn long_mode_map_is_identity() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        write_identity_map(&mem).unwrap();
        let walk = |va: u64| -> u64 {
            let pml4e: u64 = mem
                .read_obj(GuestAddress(PML4_ADDR + ((va >> 39) & 511) * 8))
                .unwrap();
            let pdpte: u64 = mem
                .read_obj(GuestAddress((pml4e & !0xfff) + ((va >> 30) & 511) * 8))
                .unwrap();
            let pde: u64 = mem
                .read_obj(GuestAddress((pdpte & !0xfff) + ((va >> 21) & 511) * 8))
                .unwrap();
            assert_eq!(pde & 0x81, 0x81);
            (pde & !0x1f_ffff & 0x000f_ffff_ffff_f000) | (va & 0x1f_ffff)
        };
        for va in [0u64, 0x1234_5678, 0xfee0_0000, 0xffff_ffff] {
            assert_eq!(walk(va), va);
        }
        let sr = special_regs(&EntryState::at(CpuMode::Long, 0x10_0000));
        assert_eq!(sr.efer, EFER_LME | EFER_LMA);
        assert_eq!(sr.cr3, PML4_ADDR);
    }
}
