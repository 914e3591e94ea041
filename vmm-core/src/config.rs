//! What a VM is asked to be: vCPUs, memory, and what to boot.

use std::path::PathBuf;

/// A guest payload: read from a file, or already in memory (the embedded default guest, tests).
#[derive(Clone, Debug)]
pub enum Payload {
    /// A file on the host, read when the VM is built.
    File(PathBuf),
    /// Bytes in memory, with a name for error messages.
    Bytes {
        /// Shown in errors in place of a file name.
        name: String,
        /// The image.
        data: Vec<u8>,
    },
}

/// Errors reading a payload: a user's file, opened without blocking and read with a bound.
pub use crate::files::FileError as PayloadError;

/// The largest kernel or initrd tetra reads (a guest cannot use more than its RAM anyway).
pub const MAX_PAYLOAD_BYTES: u64 = 4 << 30;

impl Payload {
    /// The name errors use: the path, or the given name.
    pub fn name(&self) -> String {
        match self {
            Payload::File(p) => p.display().to_string(),
            Payload::Bytes { name, .. } => name.clone(),
        }
    }

    /// Checks that a file payload can be opened and is a regular file, without reading it: bad
    /// input is reported before the hypervisor is touched.
    pub fn check(&self) -> Result<(), PayloadError> {
        match self {
            Payload::File(path) => crate::files::open_regular(path).map(drop),
            Payload::Bytes { .. } => Ok(()),
        }
    }

    /// The payload's bytes (a file's read at most [`MAX_PAYLOAD_BYTES`]); bytes in memory are
    /// borrowed, not copied.
    pub fn read(&self) -> Result<std::borrow::Cow<'_, [u8]>, PayloadError> {
        match self {
            Payload::Bytes { data, .. } => Ok(std::borrow::Cow::Borrowed(data)),
            Payload::File(path) => {
                crate::files::read_regular(path, MAX_PAYLOAD_BYTES).map(std::borrow::Cow::Owned)
            }
        }
    }

    /// A file payload's bytes read into memory, as a [`Payload::Bytes`] of the same name (read
    /// once: the build checks them and the arch loads them from there, without opening the file
    /// again); `None` for bytes already in memory.
    pub fn loaded(&self) -> Result<Option<Payload>, PayloadError> {
        match self {
            Payload::Bytes { .. } => Ok(None),
            Payload::File(path) => Ok(Some(Payload::Bytes {
                name: self.name(),
                data: crate::files::read_regular(path, MAX_PAYLOAD_BYTES)?,
            })),
        }
    }
}

/// Load a raw image at a fixed address instead of detecting its format (test payloads, firmware).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawLoad {
    /// Guest-physical load address; execution starts there.
    pub addr: u64,
    /// Arch-specific entry mode (x86: `real`, `protected` or `long`); `None` for the arch default.
    pub mode: Option<String>,
}

/// The whole description of a VM to build.
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Number of vCPUs (at least 1).
    pub cpus: u32,
    /// Guest RAM in MiB.
    pub mem_mib: u64,
    /// What to boot. `None` boots the arch's embedded default guest.
    pub kernel: Option<Payload>,
    /// Load the kernel as a raw image instead of detecting its format.
    pub raw: Option<RawLoad>,
    /// Initial ramdisk (a multiboot module on x86 multiboot kernels).
    pub initrd: Option<Payload>,
    /// Kernel command line.
    pub cmdline: String,
    /// Interrupt controller choice, for arches that have several (arm64: `gicv3`, `gicv3-its`).
    pub irqchip: Option<String>,
    /// The virtio devices.
    pub virtio: VirtioConfig,
    /// What a triple fault does (x86; other arches have none and ignore it).
    pub on_triple_fault: OnTripleFault,
    /// The CPU template spec (`--cpu-template`), resolved by an arch whose
    /// [`crate::Arch::CPU_TEMPLATES`] is set (x86: CPUID features withheld); `None` passes the
    /// host's features through. A restore takes the snapshot's template instead.
    pub cpu_template: Option<String>,
    /// Whether the machine has a PIT, the i8254 timer (x86; other arches have none and ignore
    /// it).
    pub pit: Pit,
}

/// Whether an x86 machine has the in-kernel PIT (`--pit`). A VM with one waits an SRCU grace
/// period (about 14 ms) more at exit, in KVM's PIT teardown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pit {
    /// The arch decides from the payload: x86 gives a PIT to every guest that may need one
    /// (`arch_x86_64::pit`).
    #[default]
    Auto,
    /// Always a PIT.
    On,
    /// Never a PIT.
    Off,
}

impl Pit {
    /// The name the command line and the VM file use.
    pub fn name(self) -> &'static str {
        match self {
            Pit::Auto => "auto",
            Pit::On => "on",
            Pit::Off => "off",
        }
    }

    /// The choice named `s` (`auto`, `on` or `off`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Pit::Auto),
            "on" => Some(Pit::On),
            "off" => Some(Pit::Off),
            _ => None,
        }
    }
}

/// What a guest's triple fault does (`--on-triple-fault`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnTripleFault {
    /// The VM ends as crashed (exit status 6).
    #[default]
    Crash,
    /// The machine resets, as a PC does: every vCPU and device back to its boot state (the CMOS
    /// RAM kept), the payload loaded again, and the guest runs from its entry again.
    Reset,
}

impl OnTripleFault {
    /// The name the command line and the VM file use.
    pub fn name(self) -> &'static str {
        match self {
            OnTripleFault::Crash => "crash",
            OnTripleFault::Reset => "reset",
        }
    }

    /// The policy named `s` (`crash` or `reset`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "crash" => Some(OnTripleFault::Crash),
            "reset" => Some(OnTripleFault::Reset),
            _ => None,
        }
    }
}

/// How virtio devices reach the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Each device on its own virtio-mmio window (every arch).
    #[default]
    Mmio,
    /// Each device a virtio-pci function with MSI-X, on the arch's PCI host bridge.
    Pci,
}

/// The virtio devices a VM gets (each on its own transport).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtioConfig {
    /// Their transport.
    pub transport: Transport,
    /// An entropy device (virtio-rng, the guest's `/dev/hwrng`).
    pub rng: bool,
    /// The console on a virtio-console device (the guest's `hvc0`) instead of the serial port:
    /// tetra's stdin feeds it (the serial port still writes to the same output).
    pub console: bool,
    /// Block devices (virtio-blk), in the order the guest finds them.
    pub disks: Vec<DiskConfig>,
    /// Network cards (virtio-net), in the order the guest finds them.
    pub nets: Vec<NetConfig>,
    /// A vsock device (virtio-vsock).
    pub vsock: Option<VsockConfig>,
}

impl VirtioConfig {
    /// Whether the VM has any virtio device.
    pub fn any(&self) -> bool {
        self.rng
            || self.console
            || !self.disks.is_empty()
            || !self.nets.is_empty()
            || self.vsock.is_some()
    }

    /// Checks the number of disks and their ids against tetra's limits.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        if self.disks.len() > MAX_DISKS {
            return Err(LimitError::Disks(self.disks.len()));
        }
        for d in &self.disks {
            d.check_limits()?;
        }
        if self.nets.len() > MAX_NETS {
            return Err(LimitError::Nets(self.nets.len()));
        }
        if let Some(v) = &self.vsock {
            check_vsock_cid(v.cid)?;
        }
        Ok(())
    }
}

/// A virtio-blk device on a raw disk image (a regular file or a block device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    /// The image. A snapshot or a migration records it (as UTF-8) and the restored VM opens it
    /// again: the image itself is never copied.
    pub path: PathBuf,
    /// The guest may only read it (the image is opened read-only and locked shared).
    pub read_only: bool,
    /// The serial the guest reads with `VIRTIO_BLK_T_GET_ID` (at most [`MAX_DISK_ID`] bytes);
    /// `None` for an empty one.
    pub id: Option<String>,
}

impl DiskConfig {
    /// A read-write disk on `path` with no id.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        DiskConfig {
            path: path.into(),
            read_only: false,
            id: None,
        }
    }

    /// Checks the id's length.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        match &self.id {
            Some(id) if id.len() > MAX_DISK_ID => Err(LimitError::DiskId(id.len())),
            _ => Ok(()),
        }
    }
}

/// The most disks a VM may have.
pub const MAX_DISKS: usize = 16;

/// The longest disk id, in bytes (virtio's `VIRTIO_BLK_ID_BYTES`).
pub const MAX_DISK_ID: usize = 20;

/// The most network cards a VM may have.
pub const MAX_NETS: usize = 8;

/// A virtio-net card on a host TAP interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The TAP interface's name (at most 15 bytes). A snapshot or a migration records it and the
    /// restored VM attaches to the interface of that name again.
    pub tap: String,
    /// The card's MAC address.
    pub mac: [u8; 6],
}

impl NetConfig {
    /// Card number `index` on `tap`, with tetra's default address for it: `52:54:00:12:34:56`
    /// plus `index` (a locally administered unicast address).
    pub fn new(tap: impl Into<String>, index: u8) -> Self {
        NetConfig {
            tap: tap.into(),
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56u8.wrapping_add(index)],
        }
    }
}

/// A virtio-vsock device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsockConfig {
    /// The guest's CID ([`MIN_VSOCK_CID`] to [`MAX_VSOCK_CID`]).
    pub cid: u64,
    /// The host side's Unix socket: host processes connect there, and a guest's connection to
    /// host port P goes to `PATH_P`. A snapshot or a migration records it and the restored VM
    /// listens there again. `None` asks for the kernel's vhost-vsock, which tetra does not have
    /// yet.
    pub uds: Option<PathBuf>,
}

/// The smallest guest CID (0 to 2 are the hypervisor, the local host and the host).
pub const MIN_VSOCK_CID: u64 = 3;
/// The largest guest CID (`u32::MAX` is `VMADDR_CID_ANY`; Linux keeps CIDs to 32 bits).
pub const MAX_VSOCK_CID: u64 = u32::MAX as u64 - 1;

/// `cid` as a guest CID, if it is one.
pub fn check_vsock_cid(cid: u64) -> Result<u64, LimitError> {
    if (MIN_VSOCK_CID..=MAX_VSOCK_CID).contains(&cid) {
        Ok(cid)
    } else {
        Err(LimitError::VsockCid(cid))
    }
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            cpus: 1,
            mem_mib: 128,
            kernel: None,
            raw: None,
            initrd: None,
            cmdline: String::new(),
            irqchip: None,
            virtio: VirtioConfig::default(),
            on_triple_fault: OnTripleFault::default(),
            cpu_template: None,
            pit: Pit::default(),
        }
    }
}

/// The most vCPUs tetra accepts before asking KVM (whose own limit is usually lower).
pub const MAX_CPUS: u32 = 4096;

/// The most guest RAM tetra accepts, in MiB (16 TiB).
pub const MAX_MEM_MIB: u64 = 1 << 24;

/// A vCPU count or RAM size outside tetra's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A vCPU count.
    #[error("{0} vCPUs: must be between 1 and {MAX_CPUS}")]
    Cpus(u64),
    /// A RAM size.
    #[error("{0} MiB of RAM: must be between 1 and {MAX_MEM_MIB} MiB")]
    Mem(u64),
    /// A number of disks.
    #[error("{0} disks: at most {MAX_DISKS}")]
    Disks(usize),
    /// A disk id's length.
    #[error("a disk id of {0} bytes: at most {MAX_DISK_ID}")]
    DiskId(usize),
    /// A network card count.
    #[error("{0} network cards: at most {MAX_NETS}")]
    Nets(usize),
    /// A guest vsock CID.
    #[error("vsock CID {0}: must be between {MIN_VSOCK_CID} and {MAX_VSOCK_CID}")]
    VsockCid(u64),
}

/// `n` as a vCPU count, if it is within [`MAX_CPUS`].
pub fn check_cpus(n: u64) -> Result<u32, LimitError> {
    if n == 0 || n > u64::from(MAX_CPUS) {
        return Err(LimitError::Cpus(n));
    }
    Ok(n as u32)
}

/// `n` as a RAM size in MiB, if it is within [`MAX_MEM_MIB`].
pub fn check_mem_mib(n: u64) -> Result<u64, LimitError> {
    if n == 0 || n > MAX_MEM_MIB {
        return Err(LimitError::Mem(n));
    }
    Ok(n)
}

impl VmConfig {
    /// Checks the vCPU count, RAM size and virtio devices against tetra's limits.
    pub fn check_limits(&self) -> Result<(), LimitError> {
        check_cpus(u64::from(self.cpus))?;
        check_mem_mib(self.mem_mib)?;
        self.virtio.check_limits()
    }

    /// Guest RAM in bytes.
    pub fn mem_bytes(&self) -> u64 {
        self.mem_mib << 20
    }
}
