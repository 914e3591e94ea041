//! Kernel loading and entry state. tetra recognises, in this order: ELF (PVH note -> PVH; a
//! multiboot header -> multiboot; else a 64-bit Linux vmlinux), a bzImage (boot sector signature
//! 0xAA55), and a multiboot image using the a.out kludge. `--raw ADDR[:MODE]` skips detection.

pub mod elf;
pub mod entry;
#[cfg(target_arch = "x86_64")]
pub mod linux;
pub mod multiboot;

use crate::layout::{CMDLINE_ADDR, CMDLINE_MAX};
pub use entry::{CpuMode, EntryState};
use vmm_core::devices::PlacedDevice;
use vmm_core::memory::{write_guest, GuestMemoryMmap, MemoryError};
use vmm_core::RawLoad;

/// Errors loading a kernel. Every one is the user's input at fault.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// An ELF that is malformed or not an x86 kernel.
    #[error("{name}")]
    Elf {
        /// The kernel's name.
        name: String,
        /// What is wrong.
        #[source]
        source: elf::ElfError,
    },
    /// A multiboot kernel that cannot be loaded.
    #[error("{name}")]
    Multiboot {
        /// The kernel's name.
        name: String,
        /// What is wrong.
        #[source]
        source: multiboot::MultibootError,
    },
    /// An ELF32 without a multiboot header: tetra boots 32-bit kernels only through multiboot.
    #[error("{name}: a 32-bit ELF without a multiboot header (32-bit kernels must be multiboot)")]
    NoMultibootHeader {
        /// The kernel's name.
        name: String,
    },
    /// A boot sector without the bzImage setup header.
    #[error("{name}: bzImage setup header magic 'HdrS' missing at offset 0x202")]
    BzImageMagic {
        /// The kernel's name.
        name: String,
    },
    /// Not an image tetra knows.
    #[error("{name}: not a kernel image tetra can boot (expected ELF, bzImage or multiboot)")]
    Unrecognised {
        /// The kernel's name.
        name: String,
    },
    /// A Linux boot protocol failed.
    #[error("{name}")]
    Linux {
        /// The kernel's name.
        name: String,
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The command line does not fit.
    #[error("--cmdline is {0} bytes; at most {max} fit", max = CMDLINE_MAX - 1)]
    CmdlineTooLong(usize),
    /// Unknown `--raw` entry mode.
    #[error("--raw mode '{0}': expected real, protected or long")]
    RawMode(String),
    /// `--initrd` given with a raw image.
    #[error("--initrd needs a multiboot, PVH or Linux kernel, not a --raw image")]
    InitrdWithRaw,
    /// The ACPI tables could not be built or written.
    #[error(transparent)]
    Acpi(#[from] crate::acpi::AcpiError),
    /// The image or its data do not fit in guest RAM.
    #[error("{name}")]
    Memory {
        /// The kernel's name.
        name: String,
        /// What did not fit.
        #[source]
        source: MemoryError,
    },
}

/// A kernel to load.
pub struct BootRequest<'a> {
    /// The image.
    pub kernel: &'a [u8],
    /// Its name, for errors.
    pub name: &'a str,
    /// Load raw at an address instead of detecting the format.
    pub raw: Option<&'a RawLoad>,
    /// The initrd and its name.
    pub initrd: Option<(&'a [u8], &'a str)>,
    /// Kernel command line.
    pub cmdline: &'a str,
    /// Guest RAM size in bytes.
    pub mem_bytes: u64,
    /// vCPUs, for the ACPI tables (MADT).
    pub cpus: u32,
    /// The placed devices, for the ACPI tables (DSDT).
    pub devices: &'a [PlacedDevice],
}

/// The formats tetra recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Multiboot v1 (ELF or a.out kludge).
    Multiboot,
    /// ELF with a PVH entry note.
    Pvh,
    /// 64-bit ELF without PVH note (a Linux vmlinux).
    Elf64,
    /// A Linux bzImage.
    BzImage,
}

/// Detects the format of `image`.
pub fn detect(image: &[u8], name: &str) -> Result<Format, BootError> {
    if elf::is_elf(image) {
        let img = elf::parse(image).map_err(|source| BootError::Elf {
            name: name.into(),
            source,
        })?;
        return Ok(if img.pvh_entry.is_some() && img.is64 {
            Format::Pvh
        } else if multiboot::find_header(image).is_some() {
            Format::Multiboot
        } else if img.is64 {
            Format::Elf64
        } else {
            return Err(BootError::NoMultibootHeader { name: name.into() });
        });
    }
    if image.get(0x1fe..0x200) == Some(&[0x55, 0xaa]) {
        return if image.get(0x202..0x206) == Some(b"HdrS") {
            Ok(Format::BzImage)
        } else {
            Err(BootError::BzImageMagic { name: name.into() })
        };
    }
    if multiboot::find_header(image).is_some() {
        return Ok(Format::Multiboot);
    }
    Err(BootError::Unrecognised { name: name.into() })
}

fn raw_mode(mode: Option<&str>) -> Result<CpuMode, BootError> {
    match mode.unwrap_or("real") {
        "real" => Ok(CpuMode::Real),
        "protected" => Ok(CpuMode::Protected),
        "long" => Ok(CpuMode::Long),
        other => Err(BootError::RawMode(other.into())),
    }
}

/// Loads the kernel (and initrd and command line) into `mem`; returns the boot vCPU's entry state.
///
/// Every format but `--raw` also gets the ACPI tables ([`crate::acpi`]), written first so that a
/// kernel loaded over the BIOS area wins; Linux is handed the RSDP address as well.
pub fn load(mem: &GuestMemoryMmap, req: &BootRequest<'_>) -> Result<EntryState, BootError> {
    let name = req.name;
    let mem_err = |source| BootError::Memory {
        name: name.into(),
        source,
    };
    if req.cmdline.len() >= CMDLINE_MAX {
        return Err(BootError::CmdlineTooLong(req.cmdline.len()));
    }
    let mut cmdline = req.cmdline.as_bytes().to_vec();
    cmdline.push(0);
    write_guest(mem, "the command line", CMDLINE_ADDR, &cmdline).map_err(mem_err)?;

    if let Some(raw) = req.raw {
        let mode = raw_mode(raw.mode.as_deref())?;
        if req.initrd.is_some() {
            return Err(BootError::InitrdWithRaw);
        }
        write_guest(mem, "the raw image", raw.addr, req.kernel).map_err(mem_err)?;
        let mut e = EntryState::at(mode, raw.addr);
        e.rsp = match mode {
            CpuMode::Real => raw.addr & 0xffff,
            _ => crate::layout::BOOT_STACK,
        };
        return Ok(e);
    }

    let format = detect(req.kernel, name)?;
    let rsdp = crate::acpi::write(mem, req.cpus, req.devices)?;
    match format {
        Format::Multiboot => {
            // As GRUB and QEMU: the kernel's path first, then the arguments (kernels parse it
            // as argv).
            let line = match req.cmdline {
                "" => name.to_string(),
                args => format!("{name} {args}"),
            };
            if line.len() >= CMDLINE_MAX {
                return Err(BootError::CmdlineTooLong(line.len()));
            }
            let mut line = line.into_bytes();
            line.push(0);
            write_guest(mem, "the command line", CMDLINE_ADDR, &line).map_err(mem_err)?;
            let hdr = multiboot::find_header(req.kernel).expect("detected as multiboot");
            multiboot::load(
                mem,
                req.kernel,
                &hdr,
                CMDLINE_ADDR,
                req.initrd,
                req.mem_bytes,
            )
            .map_err(|source| match source {
                multiboot::MultibootError::Memory(m) => mem_err(m),
                source => BootError::Multiboot {
                    name: name.into(),
                    source,
                },
            })
        }
        format => load_linux(mem, req, format, rsdp),
    }
}

#[cfg(target_arch = "x86_64")]
fn load_linux(
    mem: &GuestMemoryMmap,
    req: &BootRequest<'_>,
    format: Format,
    rsdp: u64,
) -> Result<EntryState, BootError> {
    // Refuse images larger than RAM before linux-loader starts copying them.
    if req.kernel.len() as u64 > req.mem_bytes {
        return Err(BootError::Memory {
            name: req.name.into(),
            source: MemoryError::OutOfRange {
                what: "the kernel".into(),
                addr: crate::layout::HIMEM_START,
                len: req.kernel.len() as u64,
                ram_mib: req.mem_bytes >> 20,
            },
        });
    }
    let r = match format {
        Format::BzImage => linux::load_bzimage(
            mem,
            req.kernel,
            req.cmdline,
            req.initrd.map(|i| i.0),
            req.mem_bytes,
            rsdp,
        ),
        _ => linux::load_elf(
            mem,
            req.kernel,
            req.cmdline,
            req.initrd,
            req.mem_bytes,
            rsdp,
        ),
    };
    r.map_err(|e| match e {
        linux::LinuxError::Memory(source) => BootError::Memory {
            name: req.name.into(),
            source,
        },
        e => BootError::Linux {
            name: req.name.into(),
            source: Box::new(e),
        },
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn load_linux(
    _: &GuestMemoryMmap,
    req: &BootRequest<'_>,
    _: Format,
    _: u64,
) -> Result<EntryState, BootError> {
    Err(BootError::Linux {
        name: req.name.into(),
        source: "Linux x86 boot protocols are only built on x86_64 hosts".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestAddress;

    #[test]
    fn detection_names_what_is_wrong() {
        assert!(matches!(
            detect(b"garbage garbage", "k"),
            Err(BootError::Unrecognised { .. })
        ));
        let mut bz = vec![0u8; 0x300];
        bz[0x1fe] = 0x55;
        bz[0x1ff] = 0xaa;
        let e = detect(&bz, "bz").unwrap_err();
        assert!(e.to_string().contains("HdrS"), "{e}");
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        assert_eq!(detect(&bz, "bz").unwrap(), Format::BzImage);
        let e32 = elf::tests::elf32(0x10_0000, &[0xf4; 8]);
        assert!(matches!(
            detect(&e32, "k"),
            Err(BootError::NoMultibootHeader { .. })
        ));
        let e = detect(&e32[..60], "k").unwrap_err();
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(e.to_string(), "k");
        assert!(cause.starts_with("truncated ELF"), "{cause}");
    }

    #[test]
    fn raw_loads_in_the_requested_mode() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap();
        let raw = RawLoad {
            addr: 0x8000,
            mode: None,
        };
        let req = BootRequest {
            kernel: &[0xf4],
            name: "r",
            raw: Some(&raw),
            initrd: None,
            cmdline: "",
            mem_bytes: 2 << 20,
            cpus: 1,
            devices: &[],
        };
        assert_eq!(load(&mem, &req).unwrap().mode, CpuMode::Real);
        let bad = RawLoad {
            addr: 0x8000,
            mode: Some("unreal".into()),
        };
        let req = BootRequest {
            raw: Some(&bad),
            ..req
        };
        assert!(matches!(load(&mem, &req), Err(BootError::RawMode(_))));
        let far = RawLoad {
            addr: 4 << 20,
            mode: Some("long".into()),
        };
        let req = BootRequest {
            raw: Some(&far),
            ..req
        };
        assert!(matches!(load(&mem, &req), Err(BootError::Memory { .. })));
    }
}
