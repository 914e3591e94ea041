//! What a table says about one register: its name, id, attributes and where the backend finds it.

use super::id::RegId;
use std::borrow::Cow;
use std::fmt;

/// A register's attributes (seed 001: rw / ro / ro-for-guest-rw-for-host), plus what save and
/// restore need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RegAttrs(u16);

impl RegAttrs {
    /// The host can read it.
    pub const READ: RegAttrs = RegAttrs(1 << 0);
    /// The host can write it.
    pub const WRITE: RegAttrs = RegAttrs(1 << 1);
    /// The guest cannot change it, the host sets it (PVR, MIDR, TLBnCFG): informational.
    pub const GUEST_RO: RegAttrs = RegAttrs(1 << 2);
    /// The same state as another register of the table (an sregs copy of a ONE_REG register, the
    /// x86 FPU view of XSAVE): readable and writable, but not part of the default save set.
    pub const ALIAS: RegAttrs = RegAttrs(1 << 3);
    /// Changes without a guest write while the vCPU runs (time base, counters): informational.
    pub const VOLATILE: RegAttrs = RegAttrs(1 << 4);
    /// Only some CPUs or kernels have it: a save skips it when the backend refuses it, instead of
    /// failing.
    pub const OPTIONAL: RegAttrs = RegAttrs(1 << 5);
    /// State of one hypervisor flavour only (KVM-HV's SPRs and vCPU bookkeeping, which KVM-PR
    /// lacks): a restore on a host whose table withdrew the register (see
    /// [`RegTable::retain`](super::RegTable::retain)) drops a saved value instead of refusing
    /// it. Changes nothing where the host offers the register.
    pub const DROPPABLE: RegAttrs = RegAttrs(1 << 6);

    /// Read-write.
    pub const RW: RegAttrs = RegAttrs(Self::READ.0 | Self::WRITE.0);
    /// Read-only for the host (never restored).
    pub const RO: RegAttrs = Self::READ;
    /// Write-only (an action such as PowerPC's OR_TSR): never saved.
    pub const WO: RegAttrs = Self::WRITE;

    /// No attribute.
    pub const fn empty() -> Self {
        RegAttrs(0)
    }

    /// The union of `self` and `other`.
    pub const fn with(self, other: RegAttrs) -> Self {
        RegAttrs(self.0 | other.0)
    }

    /// True if every attribute of `other` is set.
    pub const fn contains(self, other: RegAttrs) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True if a default save includes it: readable, writable and not an alias.
    pub const fn is_saved(self) -> bool {
        self.contains(Self::RW) && !self.contains(Self::ALIAS)
    }

    /// The attribute names: `rw`, `ro` or `wo`, then `guest-ro`, `alias`, `volatile`, `optional`,
    /// `droppable`.
    pub fn names(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        out.push(
            match (self.contains(Self::READ), self.contains(Self::WRITE)) {
                (true, true) => "rw",
                (true, false) => "ro",
                (false, true) => "wo",
                (false, false) => "none",
            },
        );
        for (flag, name) in [
            (Self::GUEST_RO, "guest-ro"),
            (Self::ALIAS, "alias"),
            (Self::VOLATILE, "volatile"),
            (Self::OPTIONAL, "optional"),
            (Self::DROPPABLE, "droppable"),
        ] {
            if self.contains(flag) {
                out.push(name);
            }
        }
        out
    }
}

impl std::ops::BitOr for RegAttrs {
    type Output = RegAttrs;
    fn bitor(self, rhs: RegAttrs) -> RegAttrs {
        self.with(rhs)
    }
}

impl fmt::Display for RegAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// How a backend reaches one of an arch's register blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A fixed-layout C structure read and written whole (`KVM_GET_REGS`/`KVM_SET_REGS`, ...).
    Struct {
        /// The C type as the uapi headers spell it, e.g. `struct kvm_sregs`.
        c_type: &'static str,
        /// Its size in bytes on this arch.
        size: usize,
    },
    /// A batch call over a list of indices with a `u64` value each (x86 `KVM_GET_MSRS`).
    Indexed,
}

/// One of an arch's register blocks: the unit a batched ("MANY_REG") call moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegBlock {
    /// The arch's number for the block (what the backend dispatches on).
    pub id: u8,
    /// Short name, e.g. `regs`, `sregs`, `msrs`.
    pub name: &'static str,
    /// The ioctls that read and write it, for people (e.g. `KVM_GET_SREGS/KVM_SET_SREGS`).
    pub ioctls: &'static str,
    /// Structure or indexed batch.
    pub kind: BlockKind,
}

impl RegBlock {
    /// The structure size, or 0 for an indexed block.
    pub const fn size(&self) -> usize {
        match self.kind {
            BlockKind::Struct { size, .. } => size,
            BlockKind::Indexed => 0,
        }
    }
}

/// A named register set of an arch's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegSetInfo {
    /// The set as encoded in the id (see [`RegId::set`]).
    pub id: u16,
    /// Short name, e.g. `gpr`, `sysreg`, `one_reg`.
    pub name: &'static str,
}

/// Where a backend finds a register's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegLoc {
    /// `KVM_GET_ONE_REG`/`KVM_SET_ONE_REG` with the register's id.
    OneReg,
    /// `len` bytes at `offset` in struct block `block`. The value (`1 << size` bytes) holds them
    /// first, followed by zero padding: x86 `struct kvm_segment` (24 bytes) is a U256 value.
    Field {
        /// The block's [`RegBlock::id`].
        block: u8,
        /// Byte offset in the structure.
        offset: u32,
        /// Byte length in the structure.
        len: u32,
    },
    /// One entry of indexed block `block`; the index is the id's number. The value is a `u64`.
    Indexed {
        /// The block's [`RegBlock::id`].
        block: u8,
    },
}

/// One register of an arch's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegDesc {
    /// The name tetra uses (lower case, e.g. `rax`, `x0`, `mas0`, `cntv_cval_el0`).
    pub name: Cow<'static, str>,
    /// The id: arch, set, number and size.
    pub id: RegId,
    /// Attributes.
    pub attrs: RegAttrs,
    /// Where the backend finds it.
    pub loc: RegLoc,
    /// How the kernel's uapi headers name it, for the ABI check (empty: nothing to check). For a
    /// [`RegLoc::OneReg`] register a C expression for its id (`KVM_REG_PPC_MAS0`); for a
    /// [`RegLoc::Field`] register the member designator in the block's C type (`u.e.mas0`); for
    /// an [`RegLoc::Indexed`] register a C expression for its index.
    pub uapi: Cow<'static, str>,
}

impl RegDesc {
    /// A ONE_REG register.
    pub fn one_reg(
        name: impl Into<Cow<'static, str>>,
        id: RegId,
        attrs: RegAttrs,
        uapi: impl Into<Cow<'static, str>>,
    ) -> Self {
        RegDesc {
            name: name.into(),
            id,
            attrs,
            loc: RegLoc::OneReg,
            uapi: uapi.into(),
        }
    }

    /// A register stored in `len` bytes at `offset` of struct block `block`.
    pub fn field(
        name: impl Into<Cow<'static, str>>,
        id: RegId,
        attrs: RegAttrs,
        (block, offset, len): (u8, usize, usize),
        member: impl Into<Cow<'static, str>>,
    ) -> Self {
        RegDesc {
            name: name.into(),
            id,
            attrs,
            loc: RegLoc::Field {
                block,
                offset: offset as u32,
                len: len as u32,
            },
            uapi: member.into(),
        }
    }

    /// An entry of indexed block `block` (index = the id's number).
    pub fn indexed(
        name: impl Into<Cow<'static, str>>,
        id: RegId,
        attrs: RegAttrs,
        block: u8,
    ) -> Self {
        RegDesc {
            name: name.into(),
            id,
            attrs,
            loc: RegLoc::Indexed { block },
            uapi: Cow::Borrowed(""),
        }
    }

    /// The value size in bytes.
    pub fn bytes(&self) -> usize {
        self.id.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_names_and_save_rule() {
        assert_eq!(RegAttrs::RW.to_string(), "rw");
        assert_eq!(RegAttrs::RO.to_string(), "ro");
        assert_eq!(RegAttrs::WO.to_string(), "wo");
        assert_eq!(
            (RegAttrs::RW | RegAttrs::GUEST_RO | RegAttrs::OPTIONAL).to_string(),
            "rw,guest-ro,optional"
        );
        assert!(RegAttrs::RW.is_saved());
        assert!((RegAttrs::RW | RegAttrs::VOLATILE).is_saved());
        assert!(!(RegAttrs::RW | RegAttrs::ALIAS).is_saved());
        assert!(!RegAttrs::RO.is_saved());
        assert!(!RegAttrs::WO.is_saved());
        assert!(!RegAttrs::empty().contains(RegAttrs::READ));
        assert_eq!(RegAttrs::empty().to_string(), "none");
    }
}
