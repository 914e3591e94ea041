//! The x86_64 register table.
//!
//! KVM (before Linux 6.18) has no ONE_REG on x86, so every id here is tetra's own, in the
//! `KVM_REG_X86` (0x20) space (see `vmm_core::regs::id`): `0x20 | size << 52 | set << 32 |
//! number`. Sets with bit 15 set are tetra's; MSRs use set 2 with the MSR index as number, which
//! is the id Linux 6.18 gives an MSR (`KVM_X86_REG_MSR`). The backend serves the ids with batched
//! calls: each register is a field of one of the [`BLOCKS`] (`KVM_GET_REGS`, `KVM_GET_SREGS`,
//! `KVM_GET_XCRS`, `KVM_GET_XSAVE`, `KVM_GET_FPU`, `KVM_GET_LAPIC`, `KVM_GET_VCPU_EVENTS`,
//! `KVM_GET_MP_STATE`, `KVM_GET_DEBUGREGS`) or an entry of `KVM_GET_MSRS`.
//!
//! | set | name | registers | value |
//! |---|---|---|---|
//! | 0x8000 | `gpr` | rax..r15 | U64 |
//! | 0x8001 | `ip` | rip, rflags (a "fake set") | U64 |
//! | 0x8002 | `segment` | cs, ds, es, fs, gs, ss, tr, ldt; gdt, idt | U256 `struct kvm_segment` + zero pad; U128 `struct kvm_dtable` ([`Segment`], [`DTable`]) |
//! | 0x8003 | `control` | cr0, cr2, cr3, cr4, cr8, efer, apic_base | U64 |
//! | 0x8004 | `debug` | dr0-dr3, dr6, dr7 | U64 |
//! | 0x8005 | `xcr` | xcr0 | U64 |
//! | 0x8006 | `blob` | fpu (`struct kvm_fpu`, alias of xsave), xsave (4 KiB), lapic (1 KiB) | sized blobs |
//! | 0x8007 | `events` | pending exception/interrupt/NMI/SMI, interrupt shadow, SIPI vector, event flags, mp_state, the sregs interrupt bitmap (the seed's "fake set") | U8..U256 |
//! | 2 | `msr` | a curated MSR set; more from `KVM_GET_MSR_INDEX_LIST` with [`table_with_msrs`] | U64 |
//!
//! A restore writes blocks in the order of [`BLOCKS`]: regs, xcrs, fpu, xsave, sregs, MSRs,
//! mp_state, lapic, events, debugregs (after QEMU's order: MSRs after sregs, events after the
//! LAPIC).

mod msr;
mod segment;

pub use msr::{add_msrs, msr_name, CURATED_MSRS};
pub use segment::{DTable, Segment, SegmentError};

use std::sync::LazyLock;
use vmm_core::regs::abi::{table_facts, AbiFact};
use vmm_core::regs::id::X86_SET_MSR;
use vmm_core::regs::{
    BlockKind, RegArch, RegAttrs, RegBlock, RegDesc, RegId, RegSetInfo, RegSize, RegTable,
    TableError, PRIVATE_SET,
};

/// Block: `struct kvm_regs` (`KVM_GET_REGS`/`KVM_SET_REGS`).
pub const BLOCK_REGS: u8 = 0;
/// Block: `struct kvm_sregs` (`KVM_GET_SREGS`/`KVM_SET_SREGS`).
pub const BLOCK_SREGS: u8 = 1;
/// Block: `struct kvm_xcrs` (`KVM_GET_XCRS`/`KVM_SET_XCRS`).
pub const BLOCK_XCRS: u8 = 2;
/// Block: `struct kvm_xsave`, the legacy 4 KiB (`KVM_GET_XSAVE`/`KVM_SET_XSAVE`).
pub const BLOCK_XSAVE: u8 = 3;
/// Block: `struct kvm_fpu` (`KVM_GET_FPU`/`KVM_SET_FPU`).
pub const BLOCK_FPU: u8 = 4;
/// Block: MSRs, indexed (`KVM_GET_MSRS`/`KVM_SET_MSRS`).
pub const BLOCK_MSRS: u8 = 5;
/// Block: `struct kvm_mp_state` (`KVM_GET_MP_STATE`/`KVM_SET_MP_STATE`).
pub const BLOCK_MP_STATE: u8 = 6;
/// Block: `struct kvm_lapic_state` (`KVM_GET_LAPIC`/`KVM_SET_LAPIC`).
pub const BLOCK_LAPIC: u8 = 7;
/// Block: `struct kvm_vcpu_events` (`KVM_GET_VCPU_EVENTS`/`KVM_SET_VCPU_EVENTS`).
pub const BLOCK_EVENTS: u8 = 8;
/// Block: `struct kvm_debugregs` (`KVM_GET_DEBUGREGS`/`KVM_SET_DEBUGREGS`).
pub const BLOCK_DEBUGREGS: u8 = 9;

const fn block(
    id: u8,
    name: &'static str,
    ioctls: &'static str,
    c_type: &'static str,
    size: usize,
) -> RegBlock {
    RegBlock {
        id,
        name,
        ioctls,
        kind: BlockKind::Struct { c_type, size },
    }
}

/// The x86 register blocks, in restore order. Sizes are the x86_64 uapi ones (checked by the ABI
/// check against the headers, and against kvm-bindings by a unit test on x86 hosts).
pub static BLOCKS: [RegBlock; 10] = [
    block(
        BLOCK_REGS,
        "regs",
        "KVM_GET_REGS/KVM_SET_REGS",
        "struct kvm_regs",
        144,
    ),
    block(
        BLOCK_XCRS,
        "xcrs",
        "KVM_GET_XCRS/KVM_SET_XCRS",
        "struct kvm_xcrs",
        392,
    ),
    block(
        BLOCK_FPU,
        "fpu",
        "KVM_GET_FPU/KVM_SET_FPU",
        "struct kvm_fpu",
        416,
    ),
    block(
        BLOCK_XSAVE,
        "xsave",
        "KVM_GET_XSAVE/KVM_SET_XSAVE",
        "struct kvm_xsave",
        4096,
    ),
    block(
        BLOCK_SREGS,
        "sregs",
        "KVM_GET_SREGS/KVM_SET_SREGS",
        "struct kvm_sregs",
        312,
    ),
    RegBlock {
        id: BLOCK_MSRS,
        name: "msrs",
        ioctls: "KVM_GET_MSRS/KVM_SET_MSRS",
        kind: BlockKind::Indexed,
    },
    block(
        BLOCK_MP_STATE,
        "mp_state",
        "KVM_GET_MP_STATE/KVM_SET_MP_STATE",
        "struct kvm_mp_state",
        4,
    ),
    block(
        BLOCK_LAPIC,
        "lapic",
        "KVM_GET_LAPIC/KVM_SET_LAPIC",
        "struct kvm_lapic_state",
        1024,
    ),
    block(
        BLOCK_EVENTS,
        "events",
        "KVM_GET_VCPU_EVENTS/KVM_SET_VCPU_EVENTS",
        "struct kvm_vcpu_events",
        64,
    ),
    block(
        BLOCK_DEBUGREGS,
        "debugregs",
        "KVM_GET_DEBUGREGS/KVM_SET_DEBUGREGS",
        "struct kvm_debugregs",
        128,
    ),
];

/// Set: general-purpose registers.
pub const SET_GPR: u16 = PRIVATE_SET;
/// Set: RIP and RFLAGS.
pub const SET_IP: u16 = PRIVATE_SET | 1;
/// Set: segment and descriptor-table registers.
pub const SET_SEGMENT: u16 = PRIVATE_SET | 2;
/// Set: control registers, EFER, APIC base.
pub const SET_CONTROL: u16 = PRIVATE_SET | 3;
/// Set: debug registers.
pub const SET_DEBUG: u16 = PRIVATE_SET | 4;
/// Set: extended control registers.
pub const SET_XCR: u16 = PRIVATE_SET | 5;
/// Set: sized blobs (FPU, XSAVE, LAPIC page).
pub const SET_BLOB: u16 = PRIVATE_SET | 6;
/// Set: pending events, interrupt shadow, MP state (a "fake set").
pub const SET_EVENTS: u16 = PRIVATE_SET | 7;
/// Set: MSRs (number = MSR index).
pub const SET_MSR: u16 = X86_SET_MSR;

/// The x86 sets.
pub static SETS: [RegSetInfo; 9] = [
    RegSetInfo {
        id: SET_GPR,
        name: "gpr",
    },
    RegSetInfo {
        id: SET_IP,
        name: "ip",
    },
    RegSetInfo {
        id: SET_SEGMENT,
        name: "segment",
    },
    RegSetInfo {
        id: SET_CONTROL,
        name: "control",
    },
    RegSetInfo {
        id: SET_DEBUG,
        name: "debug",
    },
    RegSetInfo {
        id: SET_XCR,
        name: "xcr",
    },
    RegSetInfo {
        id: SET_BLOB,
        name: "blob",
    },
    RegSetInfo {
        id: SET_EVENTS,
        name: "events",
    },
    RegSetInfo {
        id: SET_MSR,
        name: "msr",
    },
];

/// An x86 register id.
pub const fn id(set: u16, number: u32, size: RegSize) -> RegId {
    RegId::new(RegArch::X86, set, number, size)
}

/// The id of MSR `index`.
pub const fn msr_id(index: u32) -> RegId {
    id(SET_MSR, index, RegSize::U64)
}

fn build() -> Result<RegTable, TableError> {
    let mut t = RegTable::new("x86_64", RegArch::X86, &SETS, &BLOCKS);
    let rw = RegAttrs::RW;
    // Numbers count from 0 within each set, in table order.
    let mut next = std::collections::BTreeMap::<u16, u32>::new();
    let mut field = |t: &mut RegTable,
                     set: u16,
                     name: &'static str,
                     block: u8,
                     offset: usize,
                     len: usize,
                     attrs: RegAttrs,
                     member: &'static str|
     -> Result<(), TableError> {
        let size = RegSize::for_bytes(len).expect("x86 fields are at most 4 KiB");
        let n = next.entry(set).or_insert(0);
        *n += 1;
        t.push(RegDesc::field(
            name,
            id(set, *n - 1, size),
            attrs,
            (block, offset, len),
            member,
        ))
    };
    const GPRS: [&str; 16] = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15",
    ];
    for (i, &g) in GPRS.iter().enumerate() {
        field(&mut t, SET_GPR, g, BLOCK_REGS, 8 * i, 8, rw, g)?;
    }
    field(&mut t, SET_IP, "rip", BLOCK_REGS, 128, 8, rw, "rip")?;
    field(&mut t, SET_IP, "rflags", BLOCK_REGS, 136, 8, rw, "rflags")?;
    for (i, s) in ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"]
        .into_iter()
        .enumerate()
    {
        field(&mut t, SET_SEGMENT, s, BLOCK_SREGS, 24 * i, 24, rw, s)?;
    }
    field(&mut t, SET_SEGMENT, "gdt", BLOCK_SREGS, 192, 16, rw, "gdt")?;
    field(&mut t, SET_SEGMENT, "idt", BLOCK_SREGS, 208, 16, rw, "idt")?;
    for (i, c) in ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"]
        .into_iter()
        .enumerate()
    {
        field(&mut t, SET_CONTROL, c, BLOCK_SREGS, 224 + 8 * i, 8, rw, c)?;
    }
    for (i, (dr, member)) in [
        ("dr0", "db[0]"),
        ("dr1", "db[1]"),
        ("dr2", "db[2]"),
        ("dr3", "db[3]"),
    ]
    .into_iter()
    .enumerate()
    {
        field(&mut t, SET_DEBUG, dr, BLOCK_DEBUGREGS, 8 * i, 8, rw, member)?;
    }
    field(&mut t, SET_DEBUG, "dr6", BLOCK_DEBUGREGS, 32, 8, rw, "dr6")?;
    field(&mut t, SET_DEBUG, "dr7", BLOCK_DEBUGREGS, 40, 8, rw, "dr7")?;
    // KVM_GET_XCRS fills xcrs[0] with XCR0 (nr_xcrs = 1); it fails on hosts without XSAVE.
    field(
        &mut t,
        SET_XCR,
        "xcr0",
        BLOCK_XCRS,
        16,
        8,
        rw | RegAttrs::OPTIONAL,
        "xcrs[0].value",
    )?;
    // The FPU view is the legacy part of XSAVE: an alias, outside the default save set.
    field(
        &mut t,
        SET_BLOB,
        "fpu",
        BLOCK_FPU,
        0,
        416,
        rw | RegAttrs::ALIAS,
        "",
    )?;
    field(
        &mut t,
        SET_BLOB,
        "xsave",
        BLOCK_XSAVE,
        0,
        4096,
        rw | RegAttrs::OPTIONAL,
        "region",
    )?;
    // KVM_GET_LAPIC needs the in-kernel irqchip.
    field(
        &mut t,
        SET_BLOB,
        "lapic",
        BLOCK_LAPIC,
        0,
        1024,
        rw | RegAttrs::OPTIONAL,
        "regs",
    )?;
    for (name, off, len, member) in [
        ("exception_injected", 0, 1, "exception.injected"),
        ("exception_nr", 1, 1, "exception.nr"),
        ("exception_has_error_code", 2, 1, "exception.has_error_code"),
        ("exception_pending", 3, 1, "exception.pending"),
        ("exception_error_code", 4, 4, "exception.error_code"),
        ("interrupt_injected", 8, 1, "interrupt.injected"),
        ("interrupt_nr", 9, 1, "interrupt.nr"),
        ("interrupt_soft", 10, 1, "interrupt.soft"),
        ("interrupt_shadow", 11, 1, "interrupt.shadow"),
        ("nmi_injected", 12, 1, "nmi.injected"),
        ("nmi_pending", 13, 1, "nmi.pending"),
        ("nmi_masked", 14, 1, "nmi.masked"),
        ("sipi_vector", 16, 4, "sipi_vector"),
        // KVM_VCPUEVENT_VALID_*: which fields KVM_SET_VCPU_EVENTS applies; KVM_GET sets the
        // ones this VM supports, so restoring it as read restores the rest.
        ("events_flags", 20, 4, "flags"),
        ("smi_smm", 24, 1, "smi.smm"),
        ("smi_pending", 25, 1, "smi.pending"),
        ("smi_inside_nmi", 26, 1, "smi.smm_inside_nmi"),
        ("smi_latched_init", 27, 1, "smi.latched_init"),
        ("triple_fault_pending", 28, 1, "triple_fault.pending"),
        ("exception_has_payload", 55, 1, "exception_has_payload"),
        ("exception_payload", 56, 8, "exception_payload"),
    ] {
        field(&mut t, SET_EVENTS, name, BLOCK_EVENTS, off, len, rw, member)?;
    }
    field(
        &mut t,
        SET_EVENTS,
        "mp_state",
        BLOCK_MP_STATE,
        0,
        4,
        rw,
        "mp_state",
    )?;
    // Pending external interrupts without an in-kernel irqchip.
    field(
        &mut t,
        SET_EVENTS,
        "interrupt_bitmap",
        BLOCK_SREGS,
        280,
        32,
        rw,
        "interrupt_bitmap",
    )?;
    for &(index, name, attrs) in CURATED_MSRS {
        t.push(RegDesc::indexed(name, msr_id(index), attrs, BLOCK_MSRS))?;
    }
    Ok(t)
}

static TABLE: LazyLock<RegTable> =
    LazyLock::new(|| build().expect("the x86_64 register table is consistent (unit-tested)"));

/// The x86_64 register table (the static part: no run-time MSRs).
pub fn table() -> &'static RegTable {
    &TABLE
}

/// A VM's table: the static one, less the optional MSRs `KVM_GET_MSR_INDEX_LIST` does not report
/// (KVM may read those but refuse to restore them), plus the listed MSRs it lacks (see
/// [`add_msrs`]).
pub fn table_with_msrs(indices: &[u32]) -> Result<RegTable, TableError> {
    let mut t = table().clone();
    t.retain(|r| {
        let optional_msr = r.id.set() == X86_SET_MSR && r.attrs.contains(RegAttrs::OPTIONAL);
        !optional_msr || indices.contains(&r.id.number())
    });
    add_msrs(&mut t, indices)?;
    // The MSRs are what the kernel lists: state saved on another host may name others.
    t.mark_open(X86_SET_MSR);
    Ok(t)
}

/// The ABI facts of the x86 table: block sizes, every field's offset and size in its struct,
/// and the `struct kvm_segment`/`struct kvm_dtable` layout [`Segment`] and [`DTable`] decode.
pub fn abi_facts() -> Vec<AbiFact> {
    let mut f = table_facts(table());
    f.extend(segment::abi_facts());
    f
}

#[cfg(test)]
mod tests;
