//! The kernel's vhost ioctls (`include/uapi/linux/vhost.h`, `vhost_types.h`), for the vhost
//! devices tetra hands to the kernel (today vhost-vsock, [`super::vsock::vhost`]).
//!
//! Why tetra issues these itself instead of through rust-vmm's `vhost` crate: that crate builds
//! its request numbers with vmm-sys-util's `ioctl_io_nr!` family, which hard-codes the generic
//! ioctl layout. powerpc packs ioctl numbers differently (a 3-bit direction at bit 29,
//! `_IOC_NONE` = 1, `_IOC_WRITE` = 4), so on ppc64 the crate's `VHOST_SET_OWNER` was `0xaf01`
//! where the kernel expects `0x2000af01`. The kernel took it for some other request, which must
//! come from the device's owner, and answered `EPERM` (`vhost_dev_check_owner`): the ppc64 lane
//! saw exactly that. Here the numbers come from libc's `_IO`/`_IOR`/`_IOW`/`_IOWR`, which follow
//! each arch's layout, and [`abi_facts`] checks the type, number, size and direction of every
//! one, and the structs' layouts, against the uapi headers of all four targets.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// `VHOST_VIRTIO`, the ioctl type byte of every vhost request.
const VHOST_VIRTIO: u32 = 0xaf;

/// `struct vhost_vring_state`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct VringState {
    index: u32,
    num: u32,
}

/// `struct vhost_vring_file`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct VringFile {
    index: u32,
    fd: i32,
}

/// `struct vhost_vring_addr`: the ring's parts by their addresses in this process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct VringAddr {
    index: u32,
    flags: u32,
    desc_user_addr: u64,
    used_user_addr: u64,
    avail_user_addr: u64,
    log_guest_addr: u64,
}

/// `struct vhost_memory` without its flexible array of regions.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct MemoryHeader {
    nregions: u32,
    padding: u32,
}

/// `struct vhost_memory_region`: one range of guest memory and where this process maps it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Its guest-physical address.
    pub guest_phys_addr: u64,
    /// Its length in bytes.
    pub memory_size: u64,
    /// Where this process maps it.
    pub userspace_addr: u64,
    /// Must be 0.
    pub flags_padding: u64,
}

/// The requests, by the uapi name (for messages and the ABI facts) and number.
mod nr {
    use super::*;
    use libc::Ioctl;

    pub const GET_FEATURES: Ioctl = libc::_IOR::<u64>(VHOST_VIRTIO, 0x00);
    pub const SET_FEATURES: Ioctl = libc::_IOW::<u64>(VHOST_VIRTIO, 0x00);
    pub const SET_OWNER: Ioctl = libc::_IO(VHOST_VIRTIO, 0x01);
    pub const SET_MEM_TABLE: Ioctl = libc::_IOW::<MemoryHeader>(VHOST_VIRTIO, 0x03);
    pub const SET_VRING_NUM: Ioctl = libc::_IOW::<VringState>(VHOST_VIRTIO, 0x10);
    pub const SET_VRING_ADDR: Ioctl = libc::_IOW::<VringAddr>(VHOST_VIRTIO, 0x11);
    pub const SET_VRING_BASE: Ioctl = libc::_IOW::<VringState>(VHOST_VIRTIO, 0x12);
    pub const GET_VRING_BASE: Ioctl = libc::_IOWR::<VringState>(VHOST_VIRTIO, 0x12);
    pub const SET_VRING_KICK: Ioctl = libc::_IOW::<VringFile>(VHOST_VIRTIO, 0x20);
    pub const SET_VRING_CALL: Ioctl = libc::_IOW::<VringFile>(VHOST_VIRTIO, 0x21);
    pub const VSOCK_SET_GUEST_CID: Ioctl = libc::_IOW::<u64>(VHOST_VIRTIO, 0x60);
    pub const VSOCK_SET_RUNNING: Ioctl = libc::_IOW::<libc::c_int>(VHOST_VIRTIO, 0x61);
}

/// The direction of a request, as `_IOC_DIR` gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    None,
    Read,
    Write,
    ReadWrite,
}

/// Every request: uapi name, number, direction, `_IOC_NR`, argument size.
const REQUESTS: &[(&str, libc::Ioctl, Dir, u32, usize)] = &[
    ("VHOST_GET_FEATURES", nr::GET_FEATURES, Dir::Read, 0x00, 8),
    ("VHOST_SET_FEATURES", nr::SET_FEATURES, Dir::Write, 0x00, 8),
    ("VHOST_SET_OWNER", nr::SET_OWNER, Dir::None, 0x01, 0),
    (
        "VHOST_SET_MEM_TABLE",
        nr::SET_MEM_TABLE,
        Dir::Write,
        0x03,
        8,
    ),
    (
        "VHOST_SET_VRING_NUM",
        nr::SET_VRING_NUM,
        Dir::Write,
        0x10,
        8,
    ),
    (
        "VHOST_SET_VRING_ADDR",
        nr::SET_VRING_ADDR,
        Dir::Write,
        0x11,
        40,
    ),
    (
        "VHOST_SET_VRING_BASE",
        nr::SET_VRING_BASE,
        Dir::Write,
        0x12,
        8,
    ),
    (
        "VHOST_GET_VRING_BASE",
        nr::GET_VRING_BASE,
        Dir::ReadWrite,
        0x12,
        8,
    ),
    (
        "VHOST_SET_VRING_KICK",
        nr::SET_VRING_KICK,
        Dir::Write,
        0x20,
        8,
    ),
    (
        "VHOST_SET_VRING_CALL",
        nr::SET_VRING_CALL,
        Dir::Write,
        0x21,
        8,
    ),
    (
        "VHOST_VSOCK_SET_GUEST_CID",
        nr::VSOCK_SET_GUEST_CID,
        Dir::Write,
        0x60,
        8,
    ),
    (
        "VHOST_VSOCK_SET_RUNNING",
        nr::VSOCK_SET_RUNNING,
        Dir::Write,
        0x61,
        4,
    ),
];

/// Most regions a memory table may have (the kernel's `max_mem_regions` default is 64).
pub const MAX_REGIONS: usize = 64;

/// Errors of the vhost requests.
#[derive(Debug, thiserror::Error)]
pub enum VhostKernError {
    /// The device node could not be opened.
    #[error("opening {path}")]
    Open {
        /// The node.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The kernel refused a request.
    #[error("{request}")]
    Request {
        /// Its uapi name.
        request: &'static str,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
    },
    /// A memory table the kernel would refuse.
    #[error("a memory table of {0} regions (at most {MAX_REGIONS})")]
    TooManyRegions(usize),
}

impl VhostKernError {
    /// The errno of a refused request.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            VhostKernError::Request { source, .. } | VhostKernError::Open { source, .. } => {
                source.raw_os_error()
            }
            VhostKernError::TooManyRegions(_) => None,
        }
    }
}

/// One open vhost device node (`/dev/vhost-vsock`, ...).
#[derive(Debug)]
pub struct VhostKern {
    file: File,
}

impl VhostKern {
    /// Opens `path` read-write, close-on-exec.
    pub fn open(path: &Path) -> Result<Self, VhostKernError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| VhostKernError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(VhostKern { file })
    }

    fn call(
        &self,
        request: &'static str,
        nr: libc::Ioctl,
        arg: *mut libc::c_void,
    ) -> Result<(), VhostKernError> {
        // SAFETY: `file` is an open vhost device; every caller passes the request's argument as
        // the uapi defines it (a pointer to a live value of the request's type and size, or a
        // null pointer for `VHOST_SET_OWNER`), which the kernel reads or writes only during the
        // call.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), nr, arg) };
        if rc < 0 {
            return Err(VhostKernError::Request {
                request,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    fn call_with<T>(
        &self,
        request: &'static str,
        nr: libc::Ioctl,
        arg: &mut T,
    ) -> Result<(), VhostKernError> {
        self.call(request, nr, (arg as *mut T).cast())
    }

    /// `VHOST_SET_OWNER`: this process owns the device (its memory is the guest's).
    pub fn set_owner(&self) -> Result<(), VhostKernError> {
        self.call("VHOST_SET_OWNER", nr::SET_OWNER, std::ptr::null_mut())
    }

    /// `VHOST_GET_FEATURES`.
    pub fn get_features(&self) -> Result<u64, VhostKernError> {
        let mut f = 0u64;
        self.call_with("VHOST_GET_FEATURES", nr::GET_FEATURES, &mut f)?;
        Ok(f)
    }

    /// `VHOST_SET_FEATURES`.
    pub fn set_features(&self, features: u64) -> Result<(), VhostKernError> {
        let mut f = features;
        self.call_with("VHOST_SET_FEATURES", nr::SET_FEATURES, &mut f)
    }

    /// `VHOST_SET_MEM_TABLE`: the guest's memory, region by region.
    pub fn set_mem_table(&self, regions: &[MemoryRegion]) -> Result<(), VhostKernError> {
        if regions.len() > MAX_REGIONS {
            return Err(VhostKernError::TooManyRegions(regions.len()));
        }
        // The header then the regions, in u64s so the buffer is aligned for both.
        let words = 1 + regions.len() * 4;
        let mut buf = vec![0u64; words];
        let header = MemoryHeader {
            nregions: regions.len() as u32,
            padding: 0,
        };
        // SAFETY: `buf` holds `words` u64s: one for the 8-byte header, four for each 32-byte
        // region; both types are plain `repr(C)` data and `buf` is 8-byte aligned.
        unsafe {
            let p = buf.as_mut_ptr();
            std::ptr::write(p.cast::<MemoryHeader>(), header);
            std::ptr::copy_nonoverlapping(
                regions.as_ptr(),
                p.add(1).cast::<MemoryRegion>(),
                regions.len(),
            );
        }
        self.call(
            "VHOST_SET_MEM_TABLE",
            nr::SET_MEM_TABLE,
            buf.as_mut_ptr().cast(),
        )
    }

    /// `VHOST_SET_VRING_NUM`: ring `index` has `num` entries.
    pub fn set_vring_num(&self, index: u32, num: u16) -> Result<(), VhostKernError> {
        let mut s = VringState {
            index,
            num: u32::from(num),
        };
        self.call_with("VHOST_SET_VRING_NUM", nr::SET_VRING_NUM, &mut s)
    }

    /// `VHOST_SET_VRING_ADDR`: ring `index`'s descriptor table, used and available rings, by
    /// their addresses in this process.
    pub fn set_vring_addr(
        &self,
        index: u32,
        desc: u64,
        used: u64,
        avail: u64,
    ) -> Result<(), VhostKernError> {
        let mut a = VringAddr {
            index,
            flags: 0,
            desc_user_addr: desc,
            used_user_addr: used,
            avail_user_addr: avail,
            log_guest_addr: 0,
        };
        self.call_with("VHOST_SET_VRING_ADDR", nr::SET_VRING_ADDR, &mut a)
    }

    /// `VHOST_SET_VRING_BASE`: the next available index the kernel reads on ring `index`.
    pub fn set_vring_base(&self, index: u32, base: u16) -> Result<(), VhostKernError> {
        let mut s = VringState {
            index,
            num: u32::from(base),
        };
        self.call_with("VHOST_SET_VRING_BASE", nr::SET_VRING_BASE, &mut s)
    }

    /// `VHOST_GET_VRING_BASE`: where the kernel stopped on ring `index` (it stops that ring).
    pub fn get_vring_base(&self, index: u32) -> Result<u16, VhostKernError> {
        let mut s = VringState { index, num: 0 };
        self.call_with("VHOST_GET_VRING_BASE", nr::GET_VRING_BASE, &mut s)?;
        Ok(s.num as u16)
    }

    /// `VHOST_SET_VRING_KICK`: the eventfd the guest's notifications of ring `index` arrive on.
    pub fn set_vring_kick(&self, index: u32, fd: RawFd) -> Result<(), VhostKernError> {
        let mut f = VringFile { index, fd };
        self.call_with("VHOST_SET_VRING_KICK", nr::SET_VRING_KICK, &mut f)
    }

    /// `VHOST_SET_VRING_CALL`: the eventfd the kernel signals when it used ring `index`.
    pub fn set_vring_call(&self, index: u32, fd: RawFd) -> Result<(), VhostKernError> {
        let mut f = VringFile { index, fd };
        self.call_with("VHOST_SET_VRING_CALL", nr::SET_VRING_CALL, &mut f)
    }

    /// `VHOST_VSOCK_SET_GUEST_CID`.
    pub fn vsock_set_guest_cid(&self, cid: u64) -> Result<(), VhostKernError> {
        let mut c = cid;
        self.call_with("VHOST_VSOCK_SET_GUEST_CID", nr::VSOCK_SET_GUEST_CID, &mut c)
    }

    /// `VHOST_VSOCK_SET_RUNNING`.
    pub fn vsock_set_running(&self, running: bool) -> Result<(), VhostKernError> {
        let mut r: libc::c_int = running.into();
        self.call_with("VHOST_VSOCK_SET_RUNNING", nr::VSOCK_SET_RUNNING, &mut r)
    }
}

/// The facts `abi-check` compiles against each target's `linux/vhost.h`: every request's type,
/// number, size and direction (the layout of the number is libc's, per arch), and the structs.
pub fn abi_facts() -> Vec<crate::regs::abi::AbiFact> {
    use crate::regs::abi::AbiFact;
    let origin = "vmm_core::devices::virtio::vhost_kern";
    let mut facts = Vec::new();
    for &(name, _, dir, nr, size) in REQUESTS {
        facts.push(AbiFact::new(
            format!("_IOC_TYPE({name})"),
            u64::from(VHOST_VIRTIO),
            origin,
        ));
        facts.push(AbiFact::new(
            format!("_IOC_NR({name})"),
            u64::from(nr),
            origin,
        ));
        facts.push(AbiFact::new(
            format!("_IOC_SIZE({name})"),
            size as u64,
            origin,
        ));
        let c_dir = match dir {
            Dir::None => "_IOC_NONE",
            Dir::Read => "_IOC_READ",
            Dir::Write => "_IOC_WRITE",
            Dir::ReadWrite => "(_IOC_READ | _IOC_WRITE)",
        };
        facts.push(AbiFact::new(
            format!("_IOC_DIR({name}) == {c_dir}"),
            1,
            origin,
        ));
    }
    crate::abi_struct!(facts, VringState => "struct vhost_vring_state" { index, num });
    crate::abi_struct!(facts, VringFile => "struct vhost_vring_file" { index, fd });
    crate::abi_struct!(facts, VringAddr => "struct vhost_vring_addr" {
        index, flags, desc_user_addr, used_user_addr, avail_user_addr, log_guest_addr
    });
    crate::abi_struct!(facts, MemoryHeader => "struct vhost_memory" { nregions, padding });
    crate::abi_struct!(facts, MemoryRegion => "struct vhost_memory_region" {
        guest_phys_addr, memory_size, userspace_addr, flags_padding
    });
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libc's numbers decode, in this host's layout, to the type, number, size and direction the
    /// table says (and the ABI check holds the table to the headers of every target).
    #[test]
    // `libc::Ioctl` is `c_ulong` on glibc and `c_int` on musl: the casts are not always no-ops.
    #[allow(clippy::unnecessary_cast)]
    fn every_request_number_decodes_to_its_table_entry_in_this_hosts_layout() {
        // This host's layout, read off libc's own numbers: powerpc puts a 3-bit direction at
        // bit 29 (`_IOC_NONE` = 1), the generic layout a 2-bit one at bit 30 (`_IOC_NONE` = 0).
        let powerpc = libc::_IO(0, 0) != 0;
        let (dir_shift, size_mask, none, read, write) = if powerpc {
            (29, 0x1fff, 1, 2, 4)
        } else {
            (30, 0x3fff, 0, 2, 1)
        };
        for &(name, n, dir, nr, size) in REQUESTS {
            let n = n as u64;
            assert_eq!(n & 0xff, u64::from(nr), "{name} {n:#x}");
            assert_eq!((n >> 8) & 0xff, u64::from(VHOST_VIRTIO), "{name} {n:#x}");
            assert_eq!((n >> 16) & size_mask, size as u64, "{name} {n:#x}");
            let want = match dir {
                Dir::None => none,
                Dir::Read => read,
                Dir::Write => write,
                Dir::ReadWrite => read | write,
            };
            assert_eq!(n >> dir_shift, want, "{name} {n:#x}");
        }
        if powerpc {
            assert_eq!(nr::SET_OWNER as u64, 0x2000_af01);
        } else {
            assert_eq!(nr::SET_OWNER as u64, 0xaf01);
        }
    }

    #[test]
    fn the_structs_have_the_uapi_sizes() {
        assert_eq!(std::mem::size_of::<VringState>(), 8);
        assert_eq!(std::mem::size_of::<VringFile>(), 8);
        assert_eq!(std::mem::size_of::<VringAddr>(), 40);
        assert_eq!(std::mem::size_of::<MemoryHeader>(), 8);
        assert_eq!(std::mem::size_of::<MemoryRegion>(), 32);
        let facts = abi_facts();
        assert_eq!(
            facts.len(),
            REQUESTS.len() * 4 + 5 + 2 * (2 + 2 + 6 + 2 + 4)
        );
    }

    #[test]
    fn a_memory_table_too_large_for_the_kernel_is_refused_before_any_call() {
        // /dev/null stands in for the device: the refusal must come before the ioctl.
        let k = VhostKern::open(Path::new("/dev/null")).unwrap();
        let regions = vec![MemoryRegion::default(); MAX_REGIONS + 1];
        assert!(matches!(
            k.set_mem_table(&regions),
            Err(VhostKernError::TooManyRegions(65))
        ));
        // A request the node does not know: the kernel's answer, with the request's name.
        let e = k.set_owner().unwrap_err();
        assert_eq!(e.to_string(), "VHOST_SET_OWNER");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
    }
}
