//! The ppc64 (pseries: KVM-HV with radix, KVM-PR with a hash table) parts of a VM snapshot and of a migration stream, in
//! vmm-core's envelope (magic [`SNAPSHOT_MAGIC`], see `docs/snapshot-format.md`):
//!
//! - each vCPU's **registers and SPRs**: vmm-core's `VCPU` section, by the ppc64 register
//!   table's ids ([`crate::regs`]: `kvm_regs`, the Book3S sregs, the ONE_REG SPRs, FP/VMX/VSX
//!   and TM state; the SPRs a vCPU lacks are optional there and skipped). Three of them carry
//!   VM state worth naming: `ICP_STATE` (the vCPU's XICS presenter, restored after the sources
//!   of [`XICS`], as the kernel's ICP check wants its presented source to exist), `VPA_ADDR`,
//!   `VPA_SLB`, `VPA_DTL` (the PAPR areas the guest registered, in table order: the VPA first,
//!   as KVM requires) and `TB_OFFSET` (below). The vCPU extra bytes are empty;
//! - [`PSER`]: the pseries machine: the radix process table tetra registered with
//!   `KVM_PPC_CONFIGURE_V3_MMU` (KVM state, not guest RAM: a restore configures the same), the
//!   device tree's address, the LPCR bits `H_SET_MODE` set machine-wide, each vCPU's RTAS state
//!   (running or stopped, and a `start-cpu` not yet taken) and the console's unread input;
//! - [`XICS`]: the in-kernel XICS sources (`KVM_DEV_XICS_GRP_SOURCES`, one 64-bit word a
//!   source) the device layer handed out;
//! - [`HTAB`]: a KVM-PR guest's hashed page table, which is in tetra's memory, not in guest
//!   RAM ([`htab`]); restored first, before the machine and the vCPUs' registers.
//!
//! Every integer below is little-endian.
//!
//! ```text
//! PSER, version 1:
//!   u64 process table base, u64 process table size, u64 device tree address,
//!   u64 LPCR mask, u64 LPCR value   (H_SET_MODE's machine-wide bits)
//!   u32 vCPU count (1..=MAX_VCPUS), per vCPU:
//!     u8 RTAS state (0 stopped, 1 stopping, 2 running), u8 start flag (0 or 1),
//!     [start: u64 entry address, u64 r3]
//!   u32 console input length (0..=4096), its bytes
//! XICS, version 1:
//!   u8 present (0: the VM has no in-kernel XICS; nothing follows)
//!   [u32 server count (the vCPUs), u32 source count (0..=MAX_SOURCES),
//!    per source, in increasing number: u32 source number, u64 attribute]
//! ```
//!
//! The attribute is the kernel's word (powerpc `asm/kvm.h`): bits 0-31 the server, 32-39 the
//! priority, 40 `LEVEL_SENSITIVE`, 41 `MASKED`, 42 `PENDING`, 43 `PRESENTED`, 44 `QUEUED`; the
//! bits above are zero. A restore refuses a snapshot whose sources are not exactly the VM's (a
//! different count, or a different number at some index), or whose servers differ.
//!
//! # The timebase
//!
//! Under KVM-HV a guest reads the host's timebase plus its vcore's `TB_OFFSET` (0 for a new
//! VM; KVM rounds what is set up to a multiple of 2^24 ticks). The offset is saved in every
//! vCPU's register list (the same value on each vCPU, so every vCPU of a restored VM gets the
//! same one), after the decrementer's expiry (`DEC_EXPIRY`), in the register table's order.
//! The host timebase is the machine's, shared by every process, so a restore on the same host
//! (in a new process too) gives the guest a timebase that went on while the snapshot waited, as
//! the wall clock did, never backwards. A migration between hosts whose timebases differ would
//! need the offset rebased on the difference; tetra migrates within one host today
//! (`docs/ppc64.md`).
//!
//! Decoding validates everything: versions (vmm-core's [`SectionSpec`]), counts against the
//! bytes left before allocating, the process table's size and alignment, the RTAS states, the
//! console input's length, source numbers (increasing, below 2^20 as KVM's XICS has them),
//! servers and attribute bits, and that every byte is consumed. A bad input is an error naming
//! the field (and the vCPU or source), never a panic.

pub mod htab;

pub use htab::{HtabSnapshotError, HtabState};

use crate::irqchip::SourceAttr;
use crate::machine::{CpuState, StartRequest};
use crate::mmu::{radix_config, MmuError};
use crate::vty::INPUT_CAPACITY;
use kvm_ppc::consts::KVM_XICS_QUEUED;
use thiserror::Error;
use vmm_core::snapshot::{check_tags, CodecError, Envelope, Section, SectionSpec};
use vmm_core::wire::{Reader, Writer};

/// The magic of ppc64 snapshots and migration streams.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"TETRAP64";
/// The pseries machine state.
pub const PSER: SectionSpec = SectionSpec::new(*b"PSER", 1, 1);
/// The in-kernel XICS sources.
pub const XICS: SectionSpec = SectionSpec::new(*b"XICS", 1, 1);
pub use htab::HTAB;
/// The VM-wide sections, in restore order.
pub const SECTIONS: [SectionSpec; 3] = [HTAB, PSER, XICS];
const _: () = check_tags(&SECTIONS);
/// Their tags (`Arch::VM_STATE_TAGS`).
pub const VM_STATE_TAGS: [[u8; 4]; 3] = [HTAB.tag, PSER.tag, XICS.tag];

/// The most vCPUs a snapshot may describe (vmm-core's envelope cap).
pub const MAX_VCPUS: usize = 4096;
/// The most XICS sources a snapshot may hold (the device layer hands out far fewer).
pub const MAX_SOURCES: usize = 4096;
/// Source numbers are below this (KVM's XICS: 1024 ICS of 1024 sources).
pub const SOURCE_LIMIT: u32 = 1 << 20;
/// The attribute bits the kernel defines (server, priority and five flags, `QUEUED` the last).
pub const ATTR_BITS: u64 = (KVM_XICS_QUEUED << 1) - 1;

/// Why ppc64 snapshot state was refused.
#[derive(Debug, Error)]
pub enum Ppc64SnapshotError {
    /// Truncated, trailing bytes, a section missing or of an unknown version.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A VM that never loaded its payload has no process table to save.
    #[error("the VM has no radix process table yet (it never loaded a payload)")]
    NotBooted,
    /// The process table cannot be what tetra registered.
    #[error("PSER: the radix process table")]
    ProcessTable(#[source] MmuError),
    /// A vCPU count out of range.
    #[error("PSER: {0} vCPUs (1 to {MAX_VCPUS})")]
    VcpuCount(u32),
    /// A vCPU's RTAS state is not 0, 1 or 2.
    #[error("PSER: vCPU {vcpu}'s RTAS state {state} (0 stopped, 1 stopping, 2 running)")]
    CpuState {
        /// The vCPU.
        vcpu: u32,
        /// The value read.
        state: u8,
    },
    /// A flag byte that is neither 0 nor 1.
    #[error("{what} flag {value} (0 or 1)")]
    Flag {
        /// Which flag (section, vCPU).
        what: String,
        /// The value read.
        value: u8,
    },
    /// More console input than the console holds.
    #[error("PSER: {0} bytes of console input (at most {INPUT_CAPACITY})")]
    ConsoleInput(usize),
    /// A server count out of range.
    #[error("XICS: {0} interrupt servers (1 to {MAX_VCPUS})")]
    Servers(u32),
    /// A source count out of range.
    #[error("XICS: {0} sources (at most {MAX_SOURCES})")]
    SourceCount(usize),
    /// Source numbers out of order, repeated or too large.
    #[error("XICS: source {index} is number {number:#x} (increasing, below {SOURCE_LIMIT:#x})")]
    SourceNumber {
        /// Its index in the section.
        index: usize,
        /// Its number.
        number: u32,
    },
    /// Attribute bits the kernel does not define.
    #[error("XICS: source {number:#x}'s attribute {attr:#x} has bits above bit 44")]
    SourceBits {
        /// The source.
        number: u32,
        /// The attribute.
        attr: u64,
    },
    /// A source routed to a server the VM does not have.
    #[error("XICS: source {number:#x} goes to server {server} of {servers}")]
    SourceServer {
        /// The source.
        number: u32,
        /// Its server.
        server: u32,
        /// The server count.
        servers: u32,
    },
    /// The snapshot's machine does not match the VM's in a count.
    #[error("{what}: the snapshot has {saved}, this VM {vm}")]
    Mismatch {
        /// What differs.
        what: &'static str,
        /// The snapshot's.
        saved: u64,
        /// The VM's.
        vm: u64,
    },
    /// The hash table ([`HTAB`]).
    #[error("the hash table")]
    Htab(#[from] HtabSnapshotError),
    /// A source the snapshot has where the VM has another.
    #[error("XICS: source {index} is {saved:#x} in the snapshot, {vm:#x} in this VM")]
    SourceMismatch {
        /// Its index.
        index: usize,
        /// The snapshot's number.
        saved: u32,
        /// The VM's.
        vm: u32,
    },
}
vmm_core::codec_error_from!(Ppc64SnapshotError);

/// One vCPU as RTAS sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuSnapshot {
    /// Its RTAS state.
    pub state: CpuState,
    /// A `start-cpu` request it has not taken yet.
    pub start: Option<StartRequest>,
}

/// The pseries machine state ([`PSER`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineState {
    /// The radix process table `(base, size)` registered with `KVM_PPC_CONFIGURE_V3_MMU`.
    pub proc_table: (u64, u64),
    /// Where the device tree is.
    pub fdt_addr: u64,
    /// `H_SET_MODE`'s machine-wide LPCR bits: `(mask, value)`.
    pub lpcr: (u64, u64),
    /// Each vCPU, by index.
    pub cpus: Vec<CpuSnapshot>,
    /// Console input the guest has not read.
    pub console_input: Vec<u8>,
}

/// The in-kernel XICS's sources ([`XICS`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XicsState {
    /// The interrupt servers (one per vCPU).
    pub servers: u32,
    /// `(source number, attribute)`, by increasing number.
    pub sources: Vec<(u32, u64)>,
}

fn state_byte(s: CpuState) -> u8 {
    s as u8
}

fn flag(r: &mut Reader<'_>, what: &'static str, at: String) -> Result<bool, Ppc64SnapshotError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(Ppc64SnapshotError::Flag { what: at, value }),
    }
}

/// The [`PSER`] section.
pub fn machine_section(m: &MachineState) -> Section {
    let mut w = Writer::new();
    w.u64(m.proc_table.0);
    w.u64(m.proc_table.1);
    w.u64(m.fdt_addr);
    w.u64(m.lpcr.0);
    w.u64(m.lpcr.1);
    w.u32(m.cpus.len() as u32);
    for c in &m.cpus {
        w.u8(state_byte(c.state));
        match c.start {
            None => w.u8(0),
            Some(s) => {
                w.u8(1);
                w.u64(s.nip);
                w.u64(s.r3);
            }
        }
    }
    w.u32(m.console_input.len() as u32);
    w.bytes(&m.console_input);
    PSER.section(w.into_bytes())
}

/// Decodes and validates the [`PSER`] section.
pub fn decode_machine(s: &Section) -> Result<MachineState, Ppc64SnapshotError> {
    PSER.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let base = r.u64("PSER: the process table base")?;
    let size = r.u64("PSER: the process table size")?;
    radix_config(base, size).map_err(Ppc64SnapshotError::ProcessTable)?;
    let fdt_addr = r.u64("PSER: the device tree address")?;
    let lpcr = (
        r.u64("PSER: the LPCR mask")?,
        r.u64("PSER: the LPCR value")?,
    );
    // Each vCPU takes at least two bytes.
    let n = r.count("PSER: the vCPU count", 2)?;
    if n == 0 || n > MAX_VCPUS {
        return Err(Ppc64SnapshotError::VcpuCount(n as u32));
    }
    let mut cpus = Vec::with_capacity(n);
    for vcpu in 0..n as u32 {
        let state = match r.u8("PSER: a vCPU's RTAS state")? {
            0 => CpuState::Stopped,
            1 => CpuState::Stopping,
            2 => CpuState::Running,
            state => return Err(Ppc64SnapshotError::CpuState { vcpu, state }),
        };
        let start = if flag(
            &mut r,
            "PSER: a vCPU's start flag",
            format!("PSER: vCPU {vcpu}'s start"),
        )? {
            Some(StartRequest {
                nip: r.u64("PSER: a start-cpu entry")?,
                r3: r.u64("PSER: a start-cpu r3")?,
            })
        } else {
            None
        };
        cpus.push(CpuSnapshot { state, start });
    }
    let len = r.u32("PSER: the console input length")? as usize;
    if len > INPUT_CAPACITY {
        return Err(Ppc64SnapshotError::ConsoleInput(len));
    }
    let console_input = r.take("PSER: the console input", len)?.to_vec();
    r.finish("PSER")?;
    Ok(MachineState {
        proc_table: (base, size),
        fdt_addr,
        lpcr,
        cpus,
        console_input,
    })
}

/// The [`XICS`] section; `None` for a VM without the in-kernel XICS.
pub fn xics_section(x: Option<&XicsState>) -> Section {
    let mut w = Writer::new();
    match x {
        None => w.u8(0),
        Some(x) => {
            w.u8(1);
            w.u32(x.servers);
            w.u32(x.sources.len() as u32);
            for (n, a) in &x.sources {
                w.u32(*n);
                w.u64(*a);
            }
        }
    }
    XICS.section(w.into_bytes())
}

/// Decodes and validates the [`XICS`] section (whether it fits the VM is [`XicsState::check`]'s
/// business).
pub fn decode_xics(s: &Section) -> Result<Option<XicsState>, Ppc64SnapshotError> {
    XICS.check(s.version)?;
    let mut r = Reader::new(&s.data);
    if !flag(&mut r, "XICS: the present flag", "XICS: present".into())? {
        r.finish("XICS")?;
        return Ok(None);
    }
    let servers = r.u32("XICS: the server count")?;
    if servers == 0 || servers as usize > MAX_VCPUS {
        return Err(Ppc64SnapshotError::Servers(servers));
    }
    let n = r.count("XICS: the source count", 12)?;
    if n > MAX_SOURCES {
        return Err(Ppc64SnapshotError::SourceCount(n));
    }
    let mut sources: Vec<(u32, u64)> = Vec::with_capacity(n);
    for index in 0..n {
        let number = r.u32("XICS: a source number")?;
        let attr = r.u64("XICS: a source attribute")?;
        let after = sources.last().is_none_or(|(prev, _)| number > *prev);
        if !after || number >= SOURCE_LIMIT {
            return Err(Ppc64SnapshotError::SourceNumber { index, number });
        }
        if attr & !ATTR_BITS != 0 {
            return Err(Ppc64SnapshotError::SourceBits { number, attr });
        }
        let server = SourceAttr::decode(attr).server;
        if server >= servers {
            return Err(Ppc64SnapshotError::SourceServer {
                number,
                server,
                servers,
            });
        }
        sources.push((number, attr));
    }
    r.finish("XICS")?;
    Ok(Some(XicsState { servers, sources }))
}

impl MachineState {
    /// Checks the state against a VM of `cpus` vCPUs.
    pub fn check(&self, cpus: u32) -> Result<(), Ppc64SnapshotError> {
        if self.cpus.len() != cpus as usize {
            return Err(Ppc64SnapshotError::Mismatch {
                what: "PSER: vCPUs",
                saved: self.cpus.len() as u64,
                vm: cpus.into(),
            });
        }
        Ok(())
    }
}

impl XicsState {
    /// Checks the state against the VM's XICS: `servers` servers and the sources `claimed`
    /// (increasing), the same as the snapshot's.
    pub fn check(&self, servers: u32, claimed: &[u32]) -> Result<(), Ppc64SnapshotError> {
        if self.servers != servers {
            return Err(Ppc64SnapshotError::Mismatch {
                what: "XICS: interrupt servers",
                saved: self.servers.into(),
                vm: servers.into(),
            });
        }
        if self.sources.len() != claimed.len() {
            return Err(Ppc64SnapshotError::Mismatch {
                what: "XICS: sources",
                saved: self.sources.len() as u64,
                vm: claimed.len() as u64,
            });
        }
        for (index, ((saved, _), vm)) in self.sources.iter().zip(claimed).enumerate() {
            if saved != vm {
                return Err(Ppc64SnapshotError::SourceMismatch {
                    index,
                    saved: *saved,
                    vm: *vm,
                });
            }
        }
        Ok(())
    }
}

/// Whether the snapshot's interrupt controller is the VM's: both have the in-kernel XICS or
/// neither has.
pub fn check_xics_presence(saved: bool, vm: bool) -> Result<(), Ppc64SnapshotError> {
    if saved != vm {
        return Err(Ppc64SnapshotError::Mismatch {
            what: "XICS: in-kernel XICS devices",
            saved: saved.into(),
            vm: vm.into(),
        });
    }
    Ok(())
}

/// The VM-wide state of a snapshot: [`PSER`] and [`XICS`], both required.
pub fn decode_vm(env: &Envelope) -> Result<(MachineState, Option<XicsState>), Ppc64SnapshotError> {
    let m = decode_machine(PSER.require(env)?)?;
    let x = decode_xics(XICS.require(env)?)?;
    Ok((m, x))
}

#[cfg(test)]
mod tests;
