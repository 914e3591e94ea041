//! Running a VM on the host's arch. The arch is picked by the workspace's one host-arch switch,
//! the `tetra-host` crate, which the suite and the benchmarks share: nothing here tests the
//! target.

use crate::cli::Launch;
use crate::failure::Failure;
use tetra_host::WithArch;
use vmm_core::{Arch, GuestExit, VmmOptions};

pub use tetra_host::HOST_ARCH;

/// One `tetra run`, to be run with the host's arch.
struct Run {
    launch: Launch,
    options: VmmOptions,
    qmp: Option<std::path::PathBuf>,
    stats: bool,
    describe: crate::launch::Describe,
}

impl WithArch for Run {
    type Output = Result<(GuestExit, Option<crate::launch::RunStats>), Failure>;

    fn call<A: Arch>(self) -> Self::Output {
        crate::launch::run::<A>(
            self.launch,
            self.options,
            self.qmp,
            self.stats,
            self.describe,
        )
    }
}

/// Runs a VM on the host's arch until it ends; returns how it ended and, with `stats`, what
/// `--stats` prints. `describe` gives the control socket's `config` answer; `qmp` is where QMP is
/// served.
pub fn run(
    launch: Launch,
    options: VmmOptions,
    qmp: Option<std::path::PathBuf>,
    stats: bool,
    describe: crate::launch::Describe,
) -> Result<(GuestExit, Option<crate::launch::RunStats>), Failure> {
    tetra_host::with_host_arch(Run {
        launch,
        options,
        qmp,
        stats,
        describe,
    })
    .unwrap_or_else(|| {
        Err(Failure::host(anyhow::anyhow!(
            "tetra has no arch backend for this host ({})",
            std::env::consts::ARCH
        )))
    })
}
