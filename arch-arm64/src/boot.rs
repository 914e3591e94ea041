//! Kernel loading and entry state.
//!
//! For now tetra loads arm64 payloads raw: `--raw ADDR` puts the image at ADDR (4 KiB aligned,
//! inside RAM) and starts the boot vCPU there. The Linux arm64 `Image` loader comes later. arm64
//! has a single entry mode, so `--raw ADDR:MODE` is refused.
//!
//! The boot vCPU enters as the arm64 Linux boot protocol (`Documentation/arm64/booting.rst`)
//! prescribes: PC at the image, x0 = the device tree's address, x1-x3 = 0, EL1h with D, A, I and F
//! masked, MMU off. The device tree sits in the top 2 MiB slot of RAM
//! ([`dtb_addr`]); an initrd just below it, page aligned.
//! Secondary vCPUs start powered off and enter where the guest's PSCI `CPU_ON` says.

use crate::layout::{dtb_addr, RAM_BASE};
use crate::regs::core;
use thiserror::Error;
use vmm_core::memory::{write_guest, GuestMemoryMmap, MemoryError};
use vmm_core::regs::id::arm64_core;
use vmm_core::regs::{RegId, RegSize};
use vmm_core::RawLoad;

/// The alignment `--raw` addresses need (a page).
pub const RAW_ALIGN: u64 = 4096;

/// PSTATE at entry: EL1h (M = 0b0101) with D, A, I and F masked.
pub const PSTATE_EL1H_DAIF_MASKED: u64 = 0x3c5;

/// Errors loading a payload. Every one is the user's input at fault.
#[derive(Debug, Error)]
pub enum BootError {
    /// No `--raw`: the Linux Image loader does not exist yet.
    #[error("{name}: arm64 boots raw images only so far: give --raw ADDR")]
    NeedRaw {
        /// The payload's name.
        name: String,
    },
    /// `--raw ADDR:MODE`: arm64 has no entry modes.
    #[error("--raw {addr:#x}:{mode}: arm64 has no entry modes; give --raw ADDR")]
    RawMode {
        /// The address.
        addr: u64,
        /// The mode given.
        mode: String,
    },
    /// A load address that is not page aligned.
    #[error("--raw {0:#x}: the load address must be 4 KiB aligned")]
    Misaligned(u64),
    /// An empty image.
    #[error("{name} is empty")]
    Empty {
        /// The payload's name.
        name: String,
    },
    /// The image does not fit in RAM below the device tree.
    #[error(
        "{name} ({len} bytes at {addr:#x}) does not fit in RAM {ram_start:#x}..{limit:#x} \
         below the {above}"
    )]
    DoesNotFit {
        /// The payload's name.
        name: String,
        /// Its load address.
        addr: u64,
        /// Its size.
        len: u64,
        /// Start of RAM.
        ram_start: u64,
        /// The first address it may not reach.
        limit: u64,
        /// What lies there.
        above: &'static str,
    },
    /// The initrd does not fit below the device tree (and above the image).
    #[error("{name} ({len} bytes) does not fit in RAM between the kernel and the device tree")]
    InitrdDoesNotFit {
        /// The initrd's name.
        name: String,
        /// Its size.
        len: u64,
    },
    /// Writing guest memory failed.
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// What to load.
#[derive(Clone, Copy, Debug)]
pub struct BootRequest<'a> {
    /// The payload's name, for errors.
    pub name: &'a str,
    /// Its size in bytes.
    pub image_len: u64,
    /// `--raw`.
    pub raw: Option<&'a RawLoad>,
    /// The initrd's name and size, if one is given.
    pub initrd: Option<(&'a str, u64)>,
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
}

/// Where everything goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// The image's load address, also the entry point.
    pub load_addr: u64,
    /// The image's size.
    pub image_len: u64,
    /// The device tree's address.
    pub dtb_addr: u64,
    /// The initrd's `[start, end)`, if any.
    pub initrd: Option<(u64, u64)>,
}

impl BootPlan {
    /// The boot vCPU's entry state.
    pub fn entry(&self) -> EntryState {
        EntryState {
            pc: self.load_addr,
            x0: self.dtb_addr,
            pstate: PSTATE_EL1H_DAIF_MASKED,
        }
    }
}

/// Places the image, initrd and device tree in RAM, checking that each fits.
pub fn plan(req: &BootRequest<'_>) -> Result<BootPlan, BootError> {
    let raw = req.raw.ok_or_else(|| BootError::NeedRaw {
        name: req.name.to_string(),
    })?;
    if let Some(mode) = &raw.mode {
        return Err(BootError::RawMode {
            addr: raw.addr,
            mode: mode.clone(),
        });
    }
    if raw.addr % RAW_ALIGN != 0 {
        return Err(BootError::Misaligned(raw.addr));
    }
    if req.image_len == 0 {
        return Err(BootError::Empty {
            name: req.name.to_string(),
        });
    }
    let dtb = dtb_addr(req.mem_bytes);
    let below = |limit: u64| {
        raw.addr >= RAM_BASE
            && raw
                .addr
                .checked_add(req.image_len)
                .is_some_and(|end| end <= limit)
    };
    if !below(dtb) {
        return Err(BootError::DoesNotFit {
            name: req.name.to_string(),
            addr: raw.addr,
            len: req.image_len,
            ram_start: RAM_BASE,
            limit: dtb,
            above: "device tree",
        });
    }
    let initrd = match req.initrd {
        None => None,
        Some((name, len)) => {
            // Page aligned, right below the device tree, above the image.
            let too_big = || BootError::InitrdDoesNotFit {
                name: name.to_string(),
                len,
            };
            let start = dtb
                .checked_sub(len)
                .map(|s| s & !(RAW_ALIGN - 1))
                .filter(|&s| s >= RAM_BASE && below(s))
                .ok_or_else(too_big)?;
            Some((start, start + len))
        }
    };
    Ok(BootPlan {
        load_addr: raw.addr,
        image_len: req.image_len,
        dtb_addr: dtb,
        initrd,
    })
}

/// Writes the image and the initrd where `plan` put them (the device tree is written once it is
/// built, see [`crate::fdt`]).
pub fn load(
    mem: &GuestMemoryMmap,
    plan: &BootPlan,
    image: &[u8],
    initrd: Option<&[u8]>,
) -> Result<(), BootError> {
    write_guest(mem, "the kernel image", plan.load_addr, image)?;
    if let (Some((start, _)), Some(data)) = (plan.initrd, initrd) {
        write_guest(mem, "the initrd", start, data)?;
    }
    Ok(())
}

/// The boot vCPU's entry registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// The program counter.
    pub pc: u64,
    /// x0: the device tree's address.
    pub x0: u64,
    /// PSTATE.
    pub pstate: u64,
}

impl EntryState {
    /// The ONE_REG writes that set this state: pc, x0, x1-x3 (zero, as the boot protocol
    /// requires), pstate.
    pub fn registers(&self) -> Vec<(RegId, u64)> {
        let x = |n: u16| arm64_core(core::X0 + 2 * n, RegSize::U64);
        vec![
            (arm64_core(core::PC, RegSize::U64), self.pc),
            (x(0), self.x0),
            (x(1), 0),
            (x(2), 0),
            (x(3), 0),
            (arm64_core(core::PSTATE, RegSize::U64), self.pstate),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{Bytes, GuestAddress};

    fn raw(addr: u64) -> RawLoad {
        RawLoad { addr, mode: None }
    }

    fn req<'a>(
        r: Option<&'a RawLoad>,
        len: u64,
        initrd: Option<(&'a str, u64)>,
    ) -> BootRequest<'a> {
        BootRequest {
            name: "guest.img",
            image_len: len,
            raw: r,
            initrd,
            mem_bytes: 16 << 20,
        }
    }

    #[test]
    fn raw_at_any_aligned_ram_address() {
        for addr in [
            RAM_BASE,
            RAM_BASE + 0x1000,
            RAM_BASE + 0x20_0000,
            0x40d0_0000,
        ] {
            let r = raw(addr);
            let p = plan(&req(Some(&r), 0x1000, None)).unwrap();
            assert_eq!(p.load_addr, addr);
            assert_eq!(p.dtb_addr, 0x40e0_0000);
            assert_eq!(p.initrd, None);
            let e = p.entry();
            assert_eq!((e.pc, e.x0, e.pstate), (addr, 0x40e0_0000, 0x3c5));
        }
        // Right up to the device tree.
        let r = raw(0x40df_f000);
        plan(&req(Some(&r), 0x1000, None)).unwrap();
    }

    #[test]
    fn refuses_bad_raw_loads() {
        let r = raw(RAM_BASE);
        assert!(matches!(
            plan(&req(None, 16, None)),
            Err(BootError::NeedRaw { .. })
        ));
        let m = RawLoad {
            addr: RAM_BASE,
            mode: Some("long".into()),
        };
        let e = plan(&req(Some(&m), 16, None)).unwrap_err();
        assert!(matches!(e, BootError::RawMode { .. }));
        assert!(e.to_string().contains("no entry modes"), "{e}");
        assert!(matches!(
            plan(&req(Some(&raw(RAM_BASE + 0x800)), 16, None)),
            Err(BootError::Misaligned(_))
        ));
        assert!(matches!(
            plan(&req(Some(&r), 0, None)),
            Err(BootError::Empty { .. })
        ));
        for (addr, len) in [
            (0x0, 16),                   // below RAM (the MMIO area)
            (RAM_BASE - 0x1000, 0x2000), // straddles the start of RAM
            (0x40df_f000, 0x1001),       // runs into the device tree
            (0x40e0_0000, 16),           // on the device tree
            (0x4100_0000, 16),           // past RAM
            (!0xfff, 0x2000),            // wraps
        ] {
            let r = raw(addr);
            let e = plan(&req(Some(&r), len, None)).unwrap_err();
            assert!(matches!(e, BootError::DoesNotFit { .. }), "{addr:#x}: {e}");
        }
    }

    #[test]
    fn initrd_goes_below_the_device_tree() {
        let r = raw(RAM_BASE);
        let p = plan(&req(Some(&r), 0x1000, Some(("initrd", 0x1801)))).unwrap();
        assert_eq!(p.initrd, Some((0x40df_e000, 0x40df_f801)));
        assert!(p.initrd.unwrap().1 <= p.dtb_addr);
        // An image that runs into the initrd.
        let e = plan(&req(
            Some(&raw(0x40df_d000)),
            0x2000,
            Some(("initrd", 0x1801)),
        ))
        .unwrap_err();
        assert!(matches!(e, BootError::InitrdDoesNotFit { .. }), "{e}");
        let e = plan(&req(
            Some(&raw(0x40de_0000)),
            0x10_0000,
            Some(("initrd", 0x1801)),
        ))
        .unwrap_err();
        assert!(matches!(e, BootError::DoesNotFit { .. }), "{e}");
        // An initrd larger than RAM.
        let e = plan(&req(Some(&r), 0x1000, Some(("initrd", 64 << 20)))).unwrap_err();
        assert!(matches!(e, BootError::InitrdDoesNotFit { .. }), "{e}");
    }

    #[test]
    fn load_writes_image_and_initrd() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(RAM_BASE), 16 << 20)]).unwrap();
        let r = raw(RAM_BASE + 0x8000);
        let p = plan(&req(Some(&r), 4, Some(("initrd", 3)))).unwrap();
        load(&mem, &p, &[1, 2, 3, 4], Some(&[9, 8, 7])).unwrap();
        let mut b = [0u8; 4];
        mem.read_slice(&mut b, GuestAddress(RAM_BASE + 0x8000))
            .unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        let mut b = [0u8; 3];
        mem.read_slice(&mut b, GuestAddress(p.initrd.unwrap().0))
            .unwrap();
        assert_eq!(b, [9, 8, 7]);
    }

    #[test]
    fn entry_registers() {
        let e = EntryState {
            pc: 0x4000_0000,
            x0: 0x47e0_0000,
            pstate: PSTATE_EL1H_DAIF_MASKED,
        };
        let regs = e.registers();
        let raw: Vec<(u64, u64)> = regs.iter().map(|(id, v)| (id.raw(), *v)).collect();
        assert_eq!(
            raw,
            vec![
                (0x6030_0000_0010_0040, 0x4000_0000),
                (0x6030_0000_0010_0000, 0x47e0_0000),
                (0x6030_0000_0010_0002, 0),
                (0x6030_0000_0010_0004, 0),
                (0x6030_0000_0010_0006, 0),
                (0x6030_0000_0010_0042, 0x3c5),
            ]
        );
        // EL1h, and every DAIF bit set.
        assert_eq!(PSTATE_EL1H_DAIF_MASKED & 0xf, 0b0101);
        assert_eq!(PSTATE_EL1H_DAIF_MASKED & 0x3c0, 0x3c0);
    }
}
