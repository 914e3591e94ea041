//! Test registration on libtest-mimic: a test that cannot run here (no /dev/kvm, an arch backend
//! that cannot run guests yet, a missing input) is reported as ignored and says why on stderr.
//! `TETRA_REQUIRE_KVM=1` (set by CI and the emulated lanes) turns a missing /dev/kvm into a failure.

use libtest_mimic::{Arguments, Failed, Trial};

/// Why KVM tests cannot run here, or `None` when they can.
pub fn kvm_unavailable() -> Option<String> {
    if !tetra_host::CAN_RUN_GUESTS {
        return Some("this arch's backend cannot run guests yet".into());
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => None,
        Err(e) => Some(format!("cannot open /dev/kvm: {e}")),
    }
}

/// The suite under construction.
#[derive(Default)]
pub struct Suite {
    trials: Vec<Trial>,
}

type Body = Box<dyn FnOnce() -> Result<(), String> + Send>;

impl Suite {
    /// An empty suite.
    pub fn new() -> Self {
        Suite::default()
    }

    fn push(&mut self, name: &str, kind: &str, skip: Option<String>, body: Body) {
        let mut t = Trial::test(name, move || body().map_err(Failed::from)).with_kind(kind);
        if let Some(why) = skip {
            eprintln!("skipped {name}: {why}");
            t = t.with_ignored_flag(true);
        }
        self.trials.push(t);
    }

    /// A test that needs no KVM.
    pub fn host(&mut self, name: &str, body: impl FnOnce() -> Result<(), String> + Send + 'static) {
        self.push(name, "host", None, Box::new(body));
    }

    /// A test that runs real guests on /dev/kvm.
    pub fn kvm(&mut self, name: &str, body: impl FnOnce() -> Result<(), String> + Send + 'static) {
        let skip = kvm_unavailable();
        let required = std::env::var("TETRA_REQUIRE_KVM").is_ok_and(|v| v == "1");
        match skip {
            Some(why) if required => self.push(
                name,
                "kvm",
                None,
                Box::new(move || Err(format!("TETRA_REQUIRE_KVM=1 but {why}"))),
            ),
            skip => self.push(name, "kvm", skip, Box::new(body)),
        }
    }

    /// A test that cannot run here, with the reason.
    pub fn skip(&mut self, name: &str, kind: &str, why: impl Into<String>) {
        self.push(name, kind, Some(why.into()), Box::new(|| Ok(())));
    }

    /// Runs the suite with the process's arguments and exits.
    pub fn run(self) -> ! {
        libtest_mimic::run(&Arguments::from_args(), self.trials).exit()
    }
}

/// `Err` with `msg` unless `cond`.
pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
