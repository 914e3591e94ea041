//! Reading and writing registers through an arch's table: single registers, any subset, or the
//! whole vCPU (save / restore), generic over the backend.
//!
//! A backend implements [`VcpuRegs`]: ONE_REG for arm64 and PowerPC, whole-structure block calls
//! for x86 and the PowerPC `KVM_GET_REGS`/`KVM_GET_SREGS` state, and indexed batches for x86 MSRs.
//! The functions here group a request by block so that each block costs one read (and, for a
//! write, one read-modify-write), whatever the number of registers in it: the seed's "MANY_REG".
//!
//! Restore writes the table's blocks in the table's block order, then the ONE_REG registers in
//! the order of the state. It checks the whole state before writing anything.

use super::desc::{BlockKind, RegAttrs, RegBlock, RegDesc, RegLoc};
use super::id::RegId;
use super::state::VcpuState;
use super::table::RegTable;
use crate::hypervisor::HvError;

/// The register calls a vCPU backend offers. Every method has a default that reports
/// [`HvError::Unsupported`], so a backend implements what its arch has.
pub trait VcpuRegs {
    /// `KVM_GET_ONE_REG` of `id` into `buf` (`id.bytes()` long).
    fn get_one_reg(&self, id: RegId, buf: &mut [u8]) -> Result<(), HvError> {
        let _ = (id, buf);
        Err(HvError::Unsupported("KVM_GET_ONE_REG"))
    }

    /// `KVM_SET_ONE_REG` of `id` from `buf` (`id.bytes()` long).
    fn set_one_reg(&self, id: RegId, buf: &[u8]) -> Result<(), HvError> {
        let _ = (id, buf);
        Err(HvError::Unsupported("KVM_SET_ONE_REG"))
    }

    /// Reads struct block `block` whole into `buf` (`block.size()` bytes, in the C layout).
    fn read_block(&self, block: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
        let _ = buf;
        Err(HvError::Unsupported(block.ioctls))
    }

    /// Writes struct block `block` whole from `buf`; `written` are the registers whose bytes the
    /// caller changed (PowerPC BookE sets `update_special` bits from them).
    fn write_block(
        &self,
        block: &RegBlock,
        buf: &[u8],
        written: &[&RegDesc],
    ) -> Result<(), HvError> {
        let _ = (buf, written);
        Err(HvError::Unsupported(block.ioctls))
    }

    /// Reads the entries `indices` of indexed block `block` into `values`; returns how many were
    /// read, from the start (x86 `KVM_GET_MSRS` stops at the first MSR it cannot read).
    fn read_indexed(
        &self,
        block: &RegBlock,
        indices: &[u32],
        values: &mut [u64],
    ) -> Result<usize, HvError> {
        let _ = (indices, values);
        Err(HvError::Unsupported(block.ioctls))
    }

    /// Writes the entries `indices` of indexed block `block`; returns how many were written.
    fn write_indexed(
        &self,
        block: &RegBlock,
        indices: &[u32],
        values: &[u64],
    ) -> Result<usize, HvError> {
        let _ = (indices, values);
        Err(HvError::Unsupported(block.ioctls))
    }

    /// Whether the field of `reg` holds a value in block contents `data` just read (PowerPC BookE
    /// sregs: only the sections in `u.e.features` are valid). A register that is not present is
    /// skipped by a read and refused by a write.
    fn field_present(&self, block: &RegBlock, data: &[u8], reg: &RegDesc) -> bool {
        let _ = (block, data, reg);
        true
    }
}

/// A register access that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegError {
    /// The id is not in the table.
    #[error("register id {id} is not in the {table} register table")]
    UnknownId {
        /// The table.
        table: &'static str,
        /// The id.
        id: RegId,
    },
    /// The name is not in the table.
    #[error("no register named {name:?} in the {table} register table")]
    UnknownName {
        /// The table.
        table: &'static str,
        /// The name.
        name: String,
    },
    /// A write to a read-only register.
    #[error("register {name} ({id}) is read-only and cannot be written")]
    ReadOnly {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// A read of a write-only register.
    #[error("register {name} ({id}) is write-only and cannot be read")]
    WriteOnly {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// A value of the wrong length.
    #[error("register {name} ({id}) takes {expected} bytes, the value has {got}")]
    Size {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
        /// Its size.
        expected: usize,
        /// The value's length.
        got: usize,
    },
    /// A value with non-zero bytes past the field it is stored in.
    #[error("register {name} ({id}): bytes {len}.. of the value must be zero")]
    Padding {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
        /// The field length.
        len: usize,
    },
    /// A register given twice in one write.
    #[error("register {name} ({id}) appears twice")]
    Duplicate {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// A write to a register this vCPU does not have.
    #[error("register {name} ({id}) is not available on this vCPU")]
    Absent {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// A register the state holds with a non-zero value, which this host's KVM does not offer.
    #[error("register {name} ({id}) holds a value, but this host's KVM does not offer it")]
    NotOffered {
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// The backend failed.
    #[error("{op} {what}")]
    Backend {
        /// `reading` or `writing`.
        op: &'static str,
        /// The register or block.
        what: String,
        /// The hypervisor error.
        #[source]
        source: HvError,
    },
    /// The backend answered something impossible (more entries than asked).
    #[error("the backend reported {got} entries of {what}, {asked} were asked")]
    BadCount {
        /// The block.
        what: &'static str,
        /// Entries asked.
        asked: usize,
        /// Entries reported.
        got: usize,
    },
}

/// What a read returned: the values, and the optional registers this vCPU does not have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The values read, in the order asked.
    pub state: VcpuState,
    /// Registers skipped: [`RegAttrs::OPTIONAL`] ones the backend refused, and fields the block
    /// marks as not present.
    pub absent: Vec<RegId>,
}

fn lookup(table: &RegTable, id: RegId) -> Result<&RegDesc, RegError> {
    table.get(id).ok_or(RegError::UnknownId {
        table: table.name(),
        id,
    })
}

fn backend(op: &'static str, what: impl Into<String>, source: HvError) -> RegError {
    RegError::Backend {
        op,
        what: what.into(),
        source,
    }
}

/// Reads the registers `ids` (any subset of the table, in any order). Each block is read once.
/// An [`RegAttrs::OPTIONAL`] register the backend refuses is listed in
/// [`ReadOutcome::absent`]; any other failure is an error.
pub fn read(table: &RegTable, vcpu: &dyn VcpuRegs, ids: &[RegId]) -> Result<ReadOutcome, RegError> {
    let regs: Vec<&RegDesc> = ids
        .iter()
        .map(|&id| lookup(table, id))
        .collect::<Result<_, _>>()?;
    for r in &regs {
        if !r.attrs.contains(RegAttrs::READ) {
            return Err(RegError::WriteOnly {
                name: r.name.to_string(),
                id: r.id,
            });
        }
    }
    let mut values: Vec<Option<Vec<u8>>> = vec![None; regs.len()];
    let mut absent = Vec::new();

    for block in table.blocks() {
        let members: Vec<usize> = (0..regs.len())
            .filter(|&i| match regs[i].loc {
                RegLoc::Field { block: b, .. } | RegLoc::Indexed { block: b } => b == block.id,
                RegLoc::OneReg => false,
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        match block.kind {
            BlockKind::Struct { size, .. } => {
                let mut buf = vec![0u8; size];
                if let Err(e) = vcpu.read_block(block, &mut buf) {
                    if members
                        .iter()
                        .all(|&i| regs[i].attrs.contains(RegAttrs::OPTIONAL))
                    {
                        absent.extend(members.iter().map(|&i| regs[i].id));
                        continue;
                    }
                    return Err(backend("reading", block.ioctls, e));
                }
                for &i in &members {
                    let RegLoc::Field { offset, len, .. } = regs[i].loc else {
                        continue;
                    };
                    if !vcpu.field_present(block, &buf, regs[i]) {
                        absent.push(regs[i].id);
                        continue;
                    }
                    let mut v = vec![0u8; regs[i].bytes()];
                    let (o, l) = (offset as usize, len as usize);
                    v[..l].copy_from_slice(&buf[o..o + l]);
                    values[i] = Some(v);
                }
            }
            BlockKind::Indexed => {
                let mut pending: Vec<usize> = members;
                while !pending.is_empty() {
                    let indices: Vec<u32> = pending.iter().map(|&i| regs[i].id.number()).collect();
                    let mut vals = vec![0u64; indices.len()];
                    let n = vcpu
                        .read_indexed(block, &indices, &mut vals)
                        .map_err(|e| backend("reading", block.ioctls, e))?;
                    if n > indices.len() {
                        return Err(RegError::BadCount {
                            what: block.ioctls,
                            asked: indices.len(),
                            got: n,
                        });
                    }
                    for (k, &i) in pending[..n].iter().enumerate() {
                        values[i] = Some(vals[k].to_ne_bytes().to_vec());
                    }
                    if n == pending.len() {
                        break;
                    }
                    let failed = regs[pending[n]];
                    if !failed.attrs.contains(RegAttrs::OPTIONAL) {
                        return Err(backend(
                            "reading",
                            format!("{} (index {:#x})", failed.name, failed.id.number()),
                            HvError::Unsupported(block.ioctls),
                        ));
                    }
                    absent.push(failed.id);
                    pending.drain(..=n);
                }
            }
        }
    }

    for (i, r) in regs.iter().enumerate() {
        if r.loc != RegLoc::OneReg {
            continue;
        }
        let mut v = vec![0u8; r.bytes()];
        match vcpu.get_one_reg(r.id, &mut v) {
            Ok(()) => values[i] = Some(v),
            Err(_) if r.attrs.contains(RegAttrs::OPTIONAL) => absent.push(r.id),
            Err(e) => return Err(backend("reading", r.name.to_string(), e)),
        }
    }

    let mut state = VcpuState::new();
    for (r, v) in regs.iter().zip(values) {
        if let Some(v) = v {
            state.push(r.id, v);
        }
    }
    Ok(ReadOutcome { state, absent })
}

/// Saves the vCPU: every register a default save includes ([`RegTable::saved_ids`]).
pub fn save(table: &RegTable, vcpu: &dyn VcpuRegs) -> Result<ReadOutcome, RegError> {
    read(table, vcpu, &table.saved_ids())
}

/// Reads every readable register, read-only and aliases included (for inspection).
pub fn read_all(table: &RegTable, vcpu: &dyn VcpuRegs) -> Result<ReadOutcome, RegError> {
    read(table, vcpu, &table.readable_ids())
}

/// Checks one value against its register: known, writable, right size, zero padding.
fn check_write<'t>(table: &'t RegTable, id: RegId, value: &[u8]) -> Result<&'t RegDesc, RegError> {
    let r = lookup(table, id)?;
    let name = || r.name.to_string();
    if !r.attrs.contains(RegAttrs::WRITE) {
        return Err(RegError::ReadOnly { name: name(), id });
    }
    if value.len() != r.bytes() {
        return Err(RegError::Size {
            name: name(),
            id,
            expected: r.bytes(),
            got: value.len(),
        });
    }
    if let RegLoc::Field { len, .. } = r.loc {
        if value[len as usize..].iter().any(|&b| b != 0) {
            return Err(RegError::Padding {
                name: name(),
                id,
                len: len as usize,
            });
        }
    }
    Ok(r)
}

/// Writes the registers of `state` (restore, or any subset). The whole state is checked first:
/// an unknown id, a read-only register, a wrong size or a duplicate fails before anything is
/// written. Blocks are written in table order (one read-modify-write each), then ONE_REG
/// registers in state order.
pub fn write(table: &RegTable, vcpu: &dyn VcpuRegs, state: &VcpuState) -> Result<(), RegError> {
    let mut regs: Vec<(&RegDesc, &[u8])> = Vec::with_capacity(state.len());
    let mut seen = std::collections::HashSet::new();
    for e in state {
        if table.not_offered(e.id) {
            // Saved on a host that offers this register, restored on one that does not: its
            // reset value (zero) is what this host's vCPU has anyway; anything else would be
            // lost, which only a register of another hypervisor flavour may be.
            let droppable = table
                .withdrawn(e.id)
                .is_some_and(|r| r.attrs.contains(RegAttrs::DROPPABLE));
            if droppable || e.bytes.iter().all(|b| *b == 0) {
                continue;
            }
            let name = table.withdrawn(e.id).map_or_else(
                || format!("{:#x} of set {}", e.id.number(), e.id.set()),
                |r| r.name.to_string(),
            );
            return Err(RegError::NotOffered { name, id: e.id });
        }
        let r = check_write(table, e.id, &e.bytes)?;
        if !seen.insert(e.id) {
            return Err(RegError::Duplicate {
                name: r.name.to_string(),
                id: e.id,
            });
        }
        regs.push((r, &e.bytes));
    }

    for block in table.blocks() {
        let members: Vec<&(&RegDesc, &[u8])> = regs
            .iter()
            .filter(|(r, _)| match r.loc {
                RegLoc::Field { block: b, .. } | RegLoc::Indexed { block: b } => b == block.id,
                RegLoc::OneReg => false,
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        match block.kind {
            BlockKind::Struct { size, .. } => {
                let mut buf = vec![0u8; size];
                vcpu.read_block(block, &mut buf)
                    .map_err(|e| backend("reading", block.ioctls, e))?;
                for (r, _) in &members {
                    if !vcpu.field_present(block, &buf, r) {
                        return Err(RegError::Absent {
                            name: r.name.to_string(),
                            id: r.id,
                        });
                    }
                }
                for (r, v) in &members {
                    if let RegLoc::Field { offset, len, .. } = r.loc {
                        let (o, l) = (offset as usize, len as usize);
                        buf[o..o + l].copy_from_slice(&v[..l]);
                    }
                }
                let written: Vec<&RegDesc> = members.iter().map(|(r, _)| *r).collect();
                vcpu.write_block(block, &buf, &written)
                    .map_err(|e| backend("writing", block.ioctls, e))?;
            }
            BlockKind::Indexed => {
                let indices: Vec<u32> = members.iter().map(|(r, _)| r.id.number()).collect();
                let values: Vec<u64> = members
                    .iter()
                    .map(|(_, v)| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(v);
                        u64::from_ne_bytes(b)
                    })
                    .collect();
                let n = vcpu
                    .write_indexed(block, &indices, &values)
                    .map_err(|e| backend("writing", block.ioctls, e))?;
                if n > indices.len() {
                    return Err(RegError::BadCount {
                        what: block.ioctls,
                        asked: indices.len(),
                        got: n,
                    });
                }
                if n < indices.len() {
                    let failed = members[n].0;
                    return Err(backend(
                        "writing",
                        format!("{} (index {:#x})", failed.name, failed.id.number()),
                        HvError::Unsupported(block.ioctls),
                    ));
                }
            }
        }
    }

    for (r, v) in &regs {
        if r.loc == RegLoc::OneReg {
            vcpu.set_one_reg(r.id, v)
                .map_err(|e| backend("writing", r.name.to_string(), e))?;
        }
    }
    Ok(())
}

/// Restores a saved state (same as [`write`]).
pub fn restore(table: &RegTable, vcpu: &dyn VcpuRegs, state: &VcpuState) -> Result<(), RegError> {
    write(table, vcpu, state)
}

/// Reads one register by name.
pub fn get_by_name(table: &RegTable, vcpu: &dyn VcpuRegs, name: &str) -> Result<Vec<u8>, RegError> {
    let r = table.by_name(name).ok_or_else(|| RegError::UnknownName {
        table: table.name(),
        name: name.to_string(),
    })?;
    let out = read(table, vcpu, &[r.id])?;
    match out.state.iter().next() {
        Some(v) => Ok(v.bytes.clone()),
        None => Err(RegError::Absent {
            name: r.name.to_string(),
            id: r.id,
        }),
    }
}

/// Writes one register by name.
pub fn set_by_name(
    table: &RegTable,
    vcpu: &dyn VcpuRegs,
    name: &str,
    value: &[u8],
) -> Result<(), RegError> {
    let r = table.by_name(name).ok_or_else(|| RegError::UnknownName {
        table: table.name(),
        name: name.to_string(),
    })?;
    let mut s = VcpuState::new();
    s.push(r.id, value.to_vec());
    write(table, vcpu, &s)
}
