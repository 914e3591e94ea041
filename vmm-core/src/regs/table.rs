//! An arch's register table: every register it knows, by name and by id.
//!
//! Each arch crate builds its table once (a `LazyLock` in its `regs` module) from plain Rust, so
//! it is unit-tested on any host. What only the running kernel knows (the x86 MSRs of
//! `KVM_GET_MSR_INDEX_LIST`, the arm64 `KVM_GET_REG_LIST`) is added to a clone with
//! [`RegTable::push`].

use super::desc::{BlockKind, RegBlock, RegDesc, RegLoc, RegSetInfo};
use super::id::{RegArch, RegId};
use std::borrow::Cow;
use std::collections::HashMap;

/// A register the table refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TableError {
    /// Two registers with one name.
    #[error("{table}: duplicate register name {name}")]
    DuplicateName {
        /// The table.
        table: &'static str,
        /// The name.
        name: String,
    },
    /// Two registers with one id.
    #[error("{table}: register {name} has the id {id} of {other}")]
    DuplicateId {
        /// The table.
        table: &'static str,
        /// The new register.
        name: String,
        /// The id.
        id: RegId,
        /// The register that already has it.
        other: String,
    },
    /// The id is not of the table's arch.
    #[error("{table}: register {name} has id {id} of another arch")]
    WrongArch {
        /// The table.
        table: &'static str,
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
    },
    /// The location does not fit the table's blocks or the id's size.
    #[error("{table}: register {name} ({id}): {why}")]
    BadLocation {
        /// The table.
        table: &'static str,
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
        /// What is wrong.
        why: String,
    },
    /// The id's set is not one of the table's sets.
    #[error("{table}: register {name} ({id}) is in unknown set {set:#x}")]
    UnknownSet {
        /// The table.
        table: &'static str,
        /// The register.
        name: String,
        /// Its id.
        id: RegId,
        /// Its set.
        set: u16,
    },
}

/// The register table of one arch (or one flavour: ppc64 and BookE have separate tables).
#[derive(Clone, Debug)]
pub struct RegTable {
    name: &'static str,
    arch: RegArch,
    sets: &'static [RegSetInfo],
    blocks: &'static [RegBlock],
    regs: Vec<RegDesc>,
    by_name: HashMap<Cow<'static, str>, usize>,
    by_id: HashMap<RegId, usize>,
    withdrawn: HashMap<RegId, RegDesc>,
    open_sets: Vec<u16>,
}

impl RegTable {
    /// An empty table named `name` (the CLI's arch name) with its sets and blocks. The order of
    /// `blocks` is the order in which a restore writes them; ONE_REG registers come last.
    pub fn new(
        name: &'static str,
        arch: RegArch,
        sets: &'static [RegSetInfo],
        blocks: &'static [RegBlock],
    ) -> Self {
        RegTable {
            name,
            arch,
            sets,
            blocks,
            regs: Vec::new(),
            by_name: HashMap::new(),
            by_id: HashMap::new(),
            withdrawn: HashMap::new(),
            open_sets: Vec::new(),
        }
    }

    /// Keeps only the registers for which `keep` is true (e.g. the optional registers the running
    /// kernel actually offers). The others are remembered as withdrawn: state saved where they
    /// existed still names them (see [`RegTable::withdrawn`]).
    pub fn retain(&mut self, mut keep: impl FnMut(&RegDesc) -> bool) {
        let (kept, gone): (Vec<RegDesc>, Vec<RegDesc>) = std::mem::take(&mut self.regs)
            .into_iter()
            .partition(|r| keep(r));
        self.regs = kept;
        self.withdrawn.extend(gone.into_iter().map(|r| (r.id, r)));
        self.by_name = self
            .regs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        self.by_id = self
            .regs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
    }

    /// Adds a register after checking it against the table: unique name and id, the table's arch,
    /// a known set, and a location that fits its block and its size.
    pub fn push(&mut self, reg: RegDesc) -> Result<(), TableError> {
        let table = self.name;
        let bad = |why: String| TableError::BadLocation {
            table,
            name: reg.name.to_string(),
            id: reg.id,
            why,
        };
        if reg.id.arch() != Some(self.arch) {
            return Err(TableError::WrongArch {
                table,
                name: reg.name.to_string(),
                id: reg.id,
            });
        }
        if !self.sets.iter().any(|s| s.id == reg.id.set()) {
            return Err(TableError::UnknownSet {
                table,
                name: reg.name.to_string(),
                id: reg.id,
                set: reg.id.set(),
            });
        }
        match reg.loc {
            RegLoc::OneReg => {
                if reg.id.is_private() {
                    return Err(bad("a tetra-private id cannot be a ONE_REG register".into()));
                }
            }
            RegLoc::Field { block, offset, len } => {
                let b = self
                    .block(block)
                    .ok_or_else(|| bad(format!("unknown block {block}")))?;
                let BlockKind::Struct { size, .. } = b.kind else {
                    return Err(bad(format!("block {} is not a structure", b.name)));
                };
                let end = offset as usize + len as usize;
                if len == 0 || end > size {
                    return Err(bad(format!(
                        "field {offset}+{len} outside {} ({size} bytes)",
                        b.name
                    )));
                }
                if len as usize > reg.id.bytes() {
                    return Err(bad(format!(
                        "field of {len} bytes does not fit a {} value",
                        reg.id.size()
                    )));
                }
            }
            RegLoc::Indexed { block } => {
                let b = self
                    .block(block)
                    .ok_or_else(|| bad(format!("unknown block {block}")))?;
                if b.kind != BlockKind::Indexed {
                    return Err(bad(format!("block {} is not indexed", b.name)));
                }
                if reg.id.bytes() != 8 {
                    return Err(bad("an indexed register is a U64".into()));
                }
            }
        }
        if self.by_name.contains_key(reg.name.as_ref()) {
            return Err(TableError::DuplicateName {
                table,
                name: reg.name.to_string(),
            });
        }
        if let Some(&other) = self.by_id.get(&reg.id) {
            return Err(TableError::DuplicateId {
                table,
                name: reg.name.to_string(),
                id: reg.id,
                other: self.regs[other].name.to_string(),
            });
        }
        let idx = self.regs.len();
        self.by_name.insert(reg.name.clone(), idx);
        self.by_id.insert(reg.id, idx);
        self.regs.push(reg);
        Ok(())
    }

    /// Adds every register of `regs`.
    pub fn extend(&mut self, regs: impl IntoIterator<Item = RegDesc>) -> Result<(), TableError> {
        regs.into_iter().try_for_each(|r| self.push(r))
    }

    /// The table's name (the CLI's arch name: `x86_64`, `arm64`, `ppc64`, `booke`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The ONE_REG arch of every id in the table.
    pub fn arch(&self) -> RegArch {
        self.arch
    }

    /// The register with id `id`.
    pub fn get(&self, id: RegId) -> Option<&RegDesc> {
        self.by_id.get(&id).map(|&i| &self.regs[i])
    }

    /// A register of the arch's full table that this table left out (the host does not offer
    /// it), if `id` is one.
    pub fn withdrawn(&self, id: RegId) -> Option<&RegDesc> {
        self.withdrawn.get(&id)
    }

    /// Marks `set` as open: its members are whatever the host's kernel lists (x86 MSRs), so an id
    /// of this set and arch that the table lacks is a register this host does not offer, not an
    /// unknown one.
    pub fn mark_open(&mut self, set: u16) {
        if !self.open_sets.contains(&set) {
            self.open_sets.push(set);
        }
    }

    /// Whether `id` names a register of this arch that this host does not offer: withdrawn from
    /// the table, or a member of an open set that the host did not list.
    pub fn not_offered(&self, id: RegId) -> bool {
        self.get(id).is_none()
            && (self.withdrawn.contains_key(&id)
                || (id.arch() == Some(self.arch) && self.open_sets.contains(&id.set())))
    }

    /// The register named `name`.
    pub fn by_name(&self, name: &str) -> Option<&RegDesc> {
        self.by_name.get(name).map(|&i| &self.regs[i])
    }

    /// True if the table has a register with id `id`.
    pub fn contains(&self, id: RegId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// All registers, in table order.
    pub fn iter(&self) -> std::slice::Iter<'_, RegDesc> {
        self.regs.iter()
    }

    /// The number of registers.
    pub fn len(&self) -> usize {
        self.regs.len()
    }

    /// True if the table has no register.
    pub fn is_empty(&self) -> bool {
        self.regs.is_empty()
    }

    /// The table's sets.
    pub fn sets(&self) -> &'static [RegSetInfo] {
        self.sets
    }

    /// The name of set `set`, if the table has it.
    pub fn set_name(&self, set: u16) -> Option<&'static str> {
        self.sets.iter().find(|s| s.id == set).map(|s| s.name)
    }

    /// The table's blocks, in restore order.
    pub fn blocks(&self) -> &'static [RegBlock] {
        self.blocks
    }

    /// Block `id`.
    pub fn block(&self, id: u8) -> Option<&'static RegBlock> {
        self.blocks.iter().find(|b| b.id == id)
    }

    /// The ids of the registers a default save includes ([`RegAttrs::is_saved`]), in table order.
    ///
    /// [`RegAttrs::is_saved`]: super::RegAttrs::is_saved
    pub fn saved_ids(&self) -> Vec<RegId> {
        self.regs
            .iter()
            .filter(|r| r.attrs.is_saved())
            .map(|r| r.id)
            .collect()
    }

    /// The ids of every readable register (for inspection), in table order.
    pub fn readable_ids(&self) -> Vec<RegId> {
        self.regs
            .iter()
            .filter(|r| r.attrs.contains(super::RegAttrs::READ))
            .map(|r| r.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::desc::RegAttrs;
    use super::super::id::{RegSize, PRIVATE_SET};
    use super::*;

    static SETS: &[RegSetInfo] = &[
        RegSetInfo {
            id: 0,
            name: "one_reg",
        },
        RegSetInfo {
            id: PRIVATE_SET,
            name: "regs",
        },
    ];
    static BLOCKS: &[RegBlock] = &[
        RegBlock {
            id: 0,
            name: "regs",
            ioctls: "KVM_GET_REGS/KVM_SET_REGS",
            kind: BlockKind::Struct {
                c_type: "struct kvm_regs",
                size: 16,
            },
        },
        RegBlock {
            id: 1,
            name: "msrs",
            ioctls: "KVM_GET_MSRS/KVM_SET_MSRS",
            kind: BlockKind::Indexed,
        },
    ];

    fn table() -> RegTable {
        RegTable::new("test", RegArch::Ppc, SETS, BLOCKS)
    }

    fn id(set: u16, n: u32, size: RegSize) -> RegId {
        RegId::new(RegArch::Ppc, set, n, size)
    }

    #[test]
    fn lookup_by_name_and_id() {
        let mut t = table();
        let a = RegDesc::one_reg("a", id(0, 1, RegSize::U64), RegAttrs::RW, "");
        let b = RegDesc::field(
            "b",
            id(PRIVATE_SET, 0, RegSize::U64),
            RegAttrs::RO,
            (0, 8, 8),
            "b",
        );
        t.push(a.clone()).unwrap();
        t.push(b.clone()).unwrap();
        assert_eq!(t.by_name("a"), Some(&a));
        assert_eq!(t.get(b.id), Some(&b));
        assert_eq!(t.by_name("c"), None);
        assert_eq!(t.len(), 2);
        assert_eq!(t.saved_ids(), vec![a.id]);
        assert_eq!(t.readable_ids(), vec![a.id, b.id]);
        assert_eq!(t.set_name(PRIVATE_SET), Some("regs"));
    }

    #[test]
    fn refuses_duplicates_and_bad_locations() {
        let mut t = table();
        t.push(RegDesc::one_reg(
            "a",
            id(0, 1, RegSize::U64),
            RegAttrs::RW,
            "",
        ))
        .unwrap();
        assert!(matches!(
            t.push(RegDesc::one_reg(
                "a",
                id(0, 2, RegSize::U64),
                RegAttrs::RW,
                ""
            )),
            Err(TableError::DuplicateName { .. })
        ));
        assert!(matches!(
            t.push(RegDesc::one_reg("z", id(0, 1, RegSize::U64), RegAttrs::RW, "")),
            Err(TableError::DuplicateId { other, .. }) if other == "a"
        ));
        // Same number, other size: a different register (PowerPC 0x8c).
        t.push(RegDesc::one_reg(
            "a32",
            id(0, 1, RegSize::U32),
            RegAttrs::RW,
            "",
        ))
        .unwrap();
        let x86 = RegId::new(RegArch::X86, 0, 1, RegSize::U64);
        assert!(matches!(
            t.push(RegDesc::one_reg("x", x86, RegAttrs::RW, "")),
            Err(TableError::WrongArch { .. })
        ));
        assert!(matches!(
            t.push(RegDesc::one_reg(
                "s",
                id(7, 1, RegSize::U64),
                RegAttrs::RW,
                ""
            )),
            Err(TableError::UnknownSet { set: 7, .. })
        ));
        let private = id(PRIVATE_SET, 5, RegSize::U64);
        assert!(matches!(
            t.push(RegDesc::one_reg("p", private, RegAttrs::RW, "")),
            Err(TableError::BadLocation { .. })
        ));
        for (loc, size) in [
            ((0u8, 12usize, 8usize), RegSize::U64), // past the 16-byte block
            ((0, 0, 16), RegSize::U64),             // larger than the value
            ((0, 0, 0), RegSize::U64),              // empty
            ((9, 0, 8), RegSize::U64),              // unknown block
            ((1, 0, 8), RegSize::U64),              // indexed block
        ] {
            let r = RegDesc::field("f", id(PRIVATE_SET, 9, size), RegAttrs::RW, loc, "");
            assert!(
                matches!(t.push(r), Err(TableError::BadLocation { .. })),
                "{loc:?}"
            );
        }
        let r = RegDesc::indexed("m", id(PRIVATE_SET, 9, RegSize::U32), RegAttrs::RW, 1);
        assert!(matches!(t.push(r), Err(TableError::BadLocation { .. })));
        let r = RegDesc::indexed("m", id(PRIVATE_SET, 9, RegSize::U64), RegAttrs::RW, 0);
        assert!(matches!(t.push(r), Err(TableError::BadLocation { .. })));
        let r = RegDesc::indexed("m", id(PRIVATE_SET, 9, RegSize::U64), RegAttrs::RW, 1);
        t.push(r).unwrap();
        assert_eq!(t.len(), 3);
    }
}
