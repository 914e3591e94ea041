//! Kernel loading and entry state.
//!
//! Two kinds of payload:
//! - a Linux arm64 `Image` ([`image`]): recognised by its header when no `--raw` is given, and
//!   loaded (by linux-loader's PE loader, in the KVM glue) at the start of RAM, which is 2 MiB
//!   aligned, plus the `text_offset` its header gives. Its `image_size` (BSS included) must fit
//!   below the initrd and the device tree. A gzip-compressed kernel (`Image.gz`) is refused
//!   with a message that says to gunzip it;
//! - a raw image: `--raw ADDR` puts it at ADDR (4 KiB aligned, inside RAM) and starts the boot
//!   vCPU there. arm64 has a single entry mode, so `--raw ADDR:MODE` is refused.
//!
//! The boot vCPU enters as the arm64 Linux boot protocol (`Documentation/arch/arm64/booting.rst`)
//! prescribes: PC at the image, x0 = the device tree's address, x1-x3 = 0, EL1h with D, A, I and F
//! masked, MMU off. The device tree sits in the top 2 MiB slot of RAM
//! ([`dtb_addr`]); an initrd just below it, page aligned.
//! Secondary vCPUs start powered off and enter where the guest's PSCI `CPU_ON` says.

pub mod image;

use crate::layout::{dtb_addr, RAM_BASE};
use crate::regs::core;
use image::{ImageError, ImageHeader};
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
    /// Not a Linux `Image` (and no `--raw`).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// linux-loader's PE loader refused the image.
    #[error("loading {name} with linux-loader failed")]
    Loader {
        /// The payload's name.
        name: String,
        /// What linux-loader said.
        #[source]
        source: linux_loader::loader::Error,
    },
    /// linux-loader put the image somewhere else than the plan (tetra and linux-loader read
    /// the header differently).
    #[error("linux-loader loaded {name} at {got:#x}, not at {want:#x} where tetra planned it")]
    LoaderDisagrees {
        /// The payload's name.
        name: String,
        /// Where the plan put it.
        want: u64,
        /// Where linux-loader put it.
        got: u64,
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
    /// A Linux `Image` whose size (BSS included) does not fit in RAM below the device tree.
    #[error(
        "{name} needs {size} bytes (its header's image_size) from {addr:#x}, which does not fit \
         in RAM below the device tree at {limit:#x}: give more --mem"
    )]
    KernelTooBig {
        /// The payload's name.
        name: String,
        /// Its load address.
        addr: u64,
        /// The memory it needs.
        size: u64,
        /// The device tree's address.
        limit: u64,
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
    /// The payload's first bytes (all of it is fine): a Linux `Image`'s header, when there is
    /// no `--raw`.
    pub head: &'a [u8],
    /// Its size in bytes.
    pub image_len: u64,
    /// `--raw`: load raw at that address; `None`: a Linux `Image`.
    pub raw: Option<&'a RawLoad>,
    /// The initrd's name and size, if one is given.
    pub initrd: Option<(&'a str, u64)>,
    /// Guest RAM in bytes.
    pub mem_bytes: u64,
}

/// What kind of payload a plan loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// A raw image (`--raw`).
    Raw,
    /// A Linux arm64 `Image`, with its header.
    Linux(ImageHeader),
}

/// Where everything goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// What is loaded.
    pub kernel: Kernel,
    /// The image's load address, also the entry point.
    pub load_addr: u64,
    /// The image's size (the file's).
    pub image_len: u64,
    /// The end of the memory the kernel uses (a Linux `Image`'s BSS included): the initrd goes
    /// above it.
    pub kernel_end: u64,
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
    let dtb = dtb_addr(req.mem_bytes);
    let (kernel, load_addr, kernel_end) = match req.raw {
        Some(raw) => {
            let end = plan_raw(req, raw, dtb)?;
            (Kernel::Raw, raw.addr, end)
        }
        None => {
            let header = ImageHeader::parse(req.name, req.head)?;
            // RAM_BASE is 2 MiB aligned: the slot the boot protocol asks for, as low as it goes.
            let addr = RAM_BASE + header.text_offset;
            let size = header.image_size.max(req.image_len);
            let end = addr
                .checked_add(size)
                .filter(|&end| end <= dtb)
                .ok_or_else(|| BootError::KernelTooBig {
                    name: req.name.to_string(),
                    addr,
                    size,
                    limit: dtb,
                })?;
            (Kernel::Linux(header), addr, end)
        }
    };
    let initrd = match req.initrd {
        None => None,
        Some((name, len)) => {
            // Page aligned, right below the device tree, above the kernel.
            let too_big = || BootError::InitrdDoesNotFit {
                name: name.to_string(),
                len,
            };
            let start = dtb
                .checked_sub(len)
                .map(|s| s & !(RAW_ALIGN - 1))
                .filter(|&s| s >= RAM_BASE && s >= kernel_end)
                .ok_or_else(too_big)?;
            Some((start, start + len))
        }
    };
    Ok(BootPlan {
        kernel,
        load_addr,
        image_len: req.image_len,
        kernel_end,
        dtb_addr: dtb,
        initrd,
    })
}

/// Checks a `--raw` load against RAM and the device tree; returns the end of the image.
fn plan_raw(req: &BootRequest<'_>, raw: &RawLoad, dtb: u64) -> Result<u64, BootError> {
    if let Some(mode) = &raw.mode {
        return Err(BootError::RawMode {
            addr: raw.addr,
            mode: mode.clone(),
        });
    }
    if !raw.addr.is_multiple_of(RAW_ALIGN) {
        return Err(BootError::Misaligned(raw.addr));
    }
    if req.image_len == 0 {
        return Err(BootError::Empty {
            name: req.name.to_string(),
        });
    }
    raw.addr
        .checked_add(req.image_len)
        .filter(|&end| raw.addr >= RAM_BASE && end <= dtb)
        .ok_or_else(|| BootError::DoesNotFit {
            name: req.name.to_string(),
            addr: raw.addr,
            len: req.image_len,
            ram_start: RAM_BASE,
            limit: dtb,
            above: "device tree",
        })
}

/// Writes the image and the initrd where `plan` put them (the device tree is written once it is
/// built, see [`crate::fdt`]). On an arm64 host the KVM glue loads a Linux `Image` through
/// linux-loader instead, and calls [`load_initrd`].
pub fn load(
    mem: &GuestMemoryMmap,
    plan: &BootPlan,
    image: &[u8],
    initrd: Option<&[u8]>,
) -> Result<(), BootError> {
    write_guest(mem, "the kernel image", plan.load_addr, image)?;
    load_initrd(mem, plan, initrd)
}

/// Writes the initrd where `plan` put it.
pub fn load_initrd(
    mem: &GuestMemoryMmap,
    plan: &BootPlan,
    initrd: Option<&[u8]>,
) -> Result<(), BootError> {
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
            head: &[],
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
        // Without --raw the payload must be a Linux Image.
        assert!(matches!(
            plan(&req(None, 16, None)),
            Err(BootError::Image(ImageError::TooShort { .. }))
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

    fn linux<'a>(img: &'a [u8], mem_mib: u64, initrd: Option<(&'a str, u64)>) -> BootRequest<'a> {
        BootRequest {
            name: "Image",
            head: img,
            image_len: img.len() as u64,
            raw: None,
            initrd,
            mem_bytes: mem_mib << 20,
        }
    }

    #[test]
    fn a_linux_image_goes_at_the_start_of_ram_plus_its_text_offset() {
        let img = image::tests::image(0, 0x100_0000, 0xa, 0x1000);
        let p = plan(&linux(&img, 64, Some(("initrd", 0x10_0001)))).unwrap();
        let header = ImageHeader::parse("Image", &img).unwrap();
        assert_eq!(p.kernel, Kernel::Linux(header));
        assert_eq!(p.load_addr, RAM_BASE);
        assert_eq!(p.kernel_end, RAM_BASE + 0x100_0000);
        assert_eq!(p.dtb_addr, RAM_BASE + (62 << 20));
        // The initrd: page aligned, ending right below the device tree.
        assert_eq!(p.initrd, Some((0x43cf_f000, 0x43cf_f000 + 0x10_0001)));
        let e = p.entry();
        assert_eq!((e.pc, e.x0), (RAM_BASE, p.dtb_addr));

        let img = image::tests::image(0x8_0000, 0x100, 0, 0x1000);
        let p = plan(&linux(&img, 16, None)).unwrap();
        assert_eq!(p.load_addr, RAM_BASE + 0x8_0000);
        assert_eq!(p.entry().pc, RAM_BASE + 0x8_0000);
        // The file is longer than image_size says: the file counts.
        assert_eq!(p.kernel_end, RAM_BASE + 0x8_0000 + img.len() as u64);
        // --raw wins over the header.
        let r = raw(RAM_BASE + 0x1000);
        let p = plan(&BootRequest {
            raw: Some(&r),
            ..linux(&img, 16, None)
        })
        .unwrap();
        assert_eq!((p.kernel, p.load_addr), (Kernel::Raw, RAM_BASE + 0x1000));
    }

    #[test]
    fn a_linux_image_must_fit_with_its_bss() {
        // 14 MiB of image_size fits below the device tree of 16 MiB of RAM; 14 MiB + 1 does not.
        let fits = image::tests::image(0, 14 << 20, 0, 0x1000);
        plan(&linux(&fits, 16, None)).unwrap();
        let big = image::tests::image(0, (14 << 20) + 1, 0, 0x1000);
        let e = plan(&linux(&big, 16, None)).unwrap_err();
        assert!(matches!(e, BootError::KernelTooBig { .. }), "{e}");
        assert!(e.to_string().contains("--mem"), "{e}");
        let e = plan(&linux(&image::tests::image(0, u64::MAX, 0, 0), 16, None)).unwrap_err();
        assert!(matches!(e, BootError::KernelTooBig { .. }), "{e}");
        // The initrd may not reach into the kernel's BSS.
        let e = plan(&linux(&fits, 16, Some(("initrd", 0x1000)))).unwrap_err();
        assert!(matches!(e, BootError::InitrdDoesNotFit { .. }), "{e}");
        let small = image::tests::image(0, 13 << 20, 0, 0x1000);
        let p = plan(&linux(&small, 16, Some(("initrd", 1 << 20)))).unwrap();
        assert_eq!(
            p.initrd,
            Some((RAM_BASE + (13 << 20), RAM_BASE + (14 << 20)))
        );
        // Not an Image: said so.
        let e = plan(&linux(&[0x1f, 0x8b, 8, 0], 16, None)).unwrap_err();
        assert!(e.to_string().contains("gzip"), "{e}");
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
