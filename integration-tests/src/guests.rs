//! The test guests assembled by `build.rs` for this target.

use vmm_core::config::Pit;
use vmm_core::{Payload, RawLoad, VmConfig};

/// The test guests that use the PIT (x86 `pmtimer` measures the PM timer against its channel 2);
/// [`Guest::config`] gives every other one none.
pub const PIT_GUESTS: &[&str] = &["pmtimer"];

/// A test guest.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    /// Its name (the source file's stem).
    pub name: &'static str,
    /// How it boots: `auto`, or `raw:ADDR[:MODE]` as `--raw` takes it.
    pub boot: &'static str,
    /// The image.
    pub image: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The guest called `name`, if this target has one.
pub fn get(name: &str) -> Option<&'static Guest> {
    GUESTS.iter().find(|g| g.name == name)
}

impl Guest {
    /// The `--raw` setting of this guest, if it boots raw.
    pub fn raw(&self) -> Option<RawLoad> {
        let spec = self.boot.strip_prefix("raw:")?;
        let (addr, mode) = match spec.split_once(':') {
            Some((a, m)) => (a, Some(m.to_string())),
            None => (spec, None),
        };
        let addr =
            u64::from_str_radix(addr.trim_start_matches("0x"), 16).expect("guest table address");
        Some(RawLoad { addr, mode })
    }

    /// Where a `counter` guest keeps its count: 0xff0 bytes past its load address (the shared
    /// counter contract). `None` for a guest that does not boot raw.
    pub fn count_addr(&self) -> Option<u64> {
        self.raw().map(|r| r.addr + 0xff0)
    }

    /// A VM configuration booting this guest with `cpus` vCPUs and `mem_mib` MiB; on x86 without
    /// a PIT unless the guest is one of [`PIT_GUESTS`] (a PIT costs a VM ~14 ms at exit).
    pub fn config(&self, cpus: u32, mem_mib: u64) -> VmConfig {
        VmConfig {
            cpus,
            mem_mib,
            pit: match PIT_GUESTS.contains(&self.name) {
                true => Pit::On,
                false => Pit::Off,
            },
            kernel: Some(Payload::Bytes {
                name: format!("test guest {}", self.name),
                data: self.image.to_vec(),
            }),
            raw: self.raw(),
            ..VmConfig::default()
        }
    }

    /// Writes the image to a file in `dir` (for tests that drive the `tetra` binary).
    pub fn write_to(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let p = dir.join(format!("{}.img", self.name));
        std::fs::write(&p, self.image).expect("writing a guest image");
        p
    }
}
