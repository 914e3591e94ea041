//! A TAP interface (`/dev/net/tun`, `IFF_TAP`): Ethernet frames, each read or written whole, with
//! a 12-byte virtio-net header in front (`IFF_VNET_HDR`, `TUNSETVNETHDRSZ`), little-endian
//! (`TUNSETVNETLE`, as virtio 1.x has it on every host). It opens with no offloads
//! (`TUNSETOFFLOAD` 0: the kernel segments and checksums every frame before tetra reads it);
//! [`set_offload`] lets it pass checksum and TSO work through to a guest that accepts it.
//!
//! The interface is attached by name: one a user made beforehand (`ip tuntap add NAME mode tap`,
//! perhaps owned by an unprivileged user) or, for root, a new one that lives as long as tetra
//! holds it. The descriptor is non-blocking and close-on-exec.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use vmm_sys_util::ioctl::{ioctl_with_ref, ioctl_with_val};

/// The header tetra and the guest put before every frame: `struct virtio_net_hdr_v1` (a 1.x
/// device's header always has `num_buffers`).
pub const VNET_HDR_LEN: usize = 12;

/// The longest interface name Linux takes (`IFNAMSIZ` less the terminating NUL).
pub const MAX_NAME: usize = 15;

/// The `if_tun.h` ioctls (`_IOW('T', nr, int)`), numbered for the target by libc: the direction
/// bits of `_IOW` are the arch's (`_IOC_WRITE` is 4 on powerpc, 1 on x86 and arm64), which
/// vmm-sys-util's `ioctl_iow_nr!` does not know (it has the asm-generic values only: on ppc64
/// the kernel took its `TUNSETIFF` for an unknown request and answered `EBADFD`).
mod ioctls {
    pub const TUNSETIFF: libc::Ioctl = libc::TUNSETIFF;
    pub const TUNSETOFFLOAD: libc::Ioctl = libc::TUNSETOFFLOAD;
    pub const TUNSETVNETHDRSZ: libc::Ioctl = libc::TUNSETVNETHDRSZ;
    pub const TUNSETQUEUE: libc::Ioctl = libc::TUNSETQUEUE;
    pub const TUNSETVNETLE: libc::Ioctl = libc::TUNSETVNETLE;
}
use ioctls::{TUNSETIFF, TUNSETOFFLOAD, TUNSETQUEUE, TUNSETVNETHDRSZ, TUNSETVNETLE};

/// `TUNSETOFFLOAD` flags (`if_tun.h`): frames may come with a partial checksum.
pub const TUN_F_CSUM: u32 = libc::TUN_F_CSUM;
/// Frames may come as TCP/IPv4 segmentation work (needs [`TUN_F_CSUM`]).
pub const TUN_F_TSO4: u32 = libc::TUN_F_TSO4;
/// Frames may come as TCP/IPv6 segmentation work (needs [`TUN_F_CSUM`]).
pub const TUN_F_TSO6: u32 = libc::TUN_F_TSO6;

/// Lets the interface hand tetra frames that still need the work `flags` name (checksums, TCP
/// segmentation: the guest does it, or its stack accepts frames without it), or, with 0,
/// none. Frames written to the interface may carry such work whatever this says.
pub fn set_offload(file: &File, flags: u32) -> std::io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its flags by value; the fd is a TUN descriptor we hold.
    let rc = unsafe { ioctl_with_val(file, TUNSETOFFLOAD, libc::c_ulong::from(flags)) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this interface takes every offload a card offers: a probe that turns them on and
/// off again.
pub fn offloads_work(file: &File) -> bool {
    set_offload(file, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6).is_ok() && set_offload(file, 0).is_ok()
}

/// Errors opening a TAP interface.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is empty, too long or has a character Linux refuses in an interface name.
    #[error("TAP interface name {name:?}: at most {MAX_NAME} bytes, none of them '/', ':', whitespace or NUL")]
    Name {
        /// The name given.
        name: String,
    },
    /// `/dev/net/tun` cannot be opened.
    #[error("opening /dev/net/tun (is the tun module loaded?)")]
    Open(#[source] std::io::Error),
    /// The kernel refused the interface.
    #[error("attaching to the TAP interface {name} (it needs CAP_NET_ADMIN, or an interface made beforehand that this user owns, and no other process attached to it)")]
    Attach {
        /// The interface.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The interface would not take the virtio-net header or the offload setting.
    #[error("setting up the TAP interface {name}: {what}")]
    Setup {
        /// The interface.
        name: String,
        /// The step.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// `struct ifreq` as `TUNSETIFF` reads it: the name, then the flags (a `short`) at the start of
/// the union; 40 bytes on every 64-bit arch.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

/// Checks an interface name as Linux's `dev_valid_name` does.
pub fn check_name(name: &str) -> Result<(), TapError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(TapError::Name {
            name: name.to_string(),
        })
    }
}

/// Attaches to the TAP interface `name` (creating it if this process may): frames with the
/// virtio-net header, no offloads, non-blocking.
///
/// As a queue of a multi-queue interface where it can (`IFF_MULTI_QUEUE`: one tetra makes it so,
/// and `ip tuntap add NAME mode tap multi_queue` does): a migration's destination on the same
/// host then attaches while its source still holds its own queue. An interface made without it
/// is attached as it is.
pub fn open(name: &str) -> Result<File, TapError> {
    check_name(name)?;
    match attach(name, true) {
        Err(TapError::Attach { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
            attach(name, false)
        }
        r => r,
    }
}

/// Takes queue `file` of a multi-queue interface out of the kernel's choice (`enabled` false:
/// `TUNSETQUEUE` with `IFF_DETACH_QUEUE`) or puts it back (`IFF_ATTACH_QUEUE`). The kernel
/// spreads the frames for the guest over the attached queues (by the queue each flow last came
/// from, else by a hash of the flow): a migration's destination on the same host keeps its queue
/// detached until it takes over, so that no frame goes to a VM that is not running yet while its
/// source still is. Refused (`EINVAL`) by an interface made without `IFF_MULTI_QUEUE`, and for a
/// queue already in the state asked for.
pub fn set_queue(file: &File, enabled: bool) -> std::io::Result<()> {
    let flag = if enabled {
        libc::IFF_ATTACH_QUEUE
    } else {
        libc::IFF_DETACH_QUEUE
    };
    let req = IfReq {
        name: [0; 16],
        flags: flag as i16,
        _pad: [0; 22],
    };
    // SAFETY: TUNSETQUEUE reads a `struct ifreq` (IfReq has its layout and size) from a live
    // reference; the fd is ours.
    if unsafe { ioctl_with_ref(file, TUNSETQUEUE, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn attach(name: &str, multi_queue: bool) -> Result<File, TapError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .map_err(TapError::Open)?;
    let mq = if multi_queue {
        libc::IFF_MULTI_QUEUE
    } else {
        0
    };
    let mut req = IfReq {
        name: [0; 16],
        flags: (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR | mq) as i16,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads a `struct ifreq` (IfReq has its layout and size) from a live
    // reference and writes the name back into it; the fd is ours.
    let rc = unsafe { ioctl_with_ref(&file, TUNSETIFF, &req) };
    if rc < 0 {
        return Err(TapError::Attach {
            name: name.to_string(),
            source: std::io::Error::last_os_error(),
        });
    }
    let setup = |what, rc: i32| {
        if rc < 0 {
            Err(TapError::Setup {
                name: name.to_string(),
                what,
                source: std::io::Error::last_os_error(),
            })
        } else {
            Ok(())
        }
    };
    let hdr: std::os::raw::c_int = VNET_HDR_LEN as i32;
    // SAFETY: TUNSETVNETHDRSZ reads an int from a live reference; the fd is ours.
    setup("the header size", unsafe {
        ioctl_with_ref(&file, TUNSETVNETHDRSZ, &hdr)
    })?;
    let le: std::os::raw::c_int = 1;
    // SAFETY: TUNSETVNETLE reads an int from a live reference; the fd is ours.
    setup("the header's byte order (little-endian)", unsafe {
        ioctl_with_ref(&file, TUNSETVNETLE, &le)
    })?;
    setup("the offloads", set_offload(&file, 0).map_or(-1, |()| 0))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernels_layout_and_the_ioctl_numbers_are_the_uapi_ones() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(std::mem::offset_of!(IfReq, flags), 16);
        // include/uapi/linux/if_tun.h: _IOW('T', 202 / 208 / 216, int / unsigned int). The
        // direction bits are the arch's (libc's _IOC_WRITE); type, number and size are the same
        // everywhere.
        for (n, nr) in [
            (TUNSETIFF, 202),
            (TUNSETOFFLOAD, 208),
            (TUNSETVNETHDRSZ, 216),
            (TUNSETQUEUE, 217),
            (TUNSETVNETLE, 220),
        ] {
            assert_eq!(n & 0xffff, (u64::from(b'T') << 8) | nr, "{n:#x}");
            assert_eq!((n >> 16) & 0x1fff, 4, "{n:#x}");
        }
    }

    /// Where this process may make a TAP interface (root, or CAP_NET_ADMIN, and the tun module):
    /// a second queue of it is detached and attached again; a queue already detached (or
    /// attached) is refused.
    #[test]
    fn a_second_queue_is_detached_and_attached_again() {
        let name = format!("tetraq{}", std::process::id() % 100_000);
        let first = match open(&name) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("skipped: cannot make a TAP interface here: {e}");
                return;
            }
        };
        assert!(
            offloads_work(&first),
            "a TAP interface takes checksum and TSO offloads"
        );
        let second = open(&name).unwrap();
        set_queue(&second, false).unwrap();
        let again = set_queue(&second, false).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(libc::EINVAL), "{again}");
        set_queue(&second, true).unwrap();
        assert_eq!(
            set_queue(&first, true).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn names_are_checked_as_linux_does() {
        for good in ["tap0", "tetra-net.1", "a", "fifteen-chars-x"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "sixteen-chars-xy",
            "t\0",
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.to_string().contains("TAP interface name"), "{bad}: {e}");
        }
    }
}
