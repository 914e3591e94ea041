//! The QMP subset (issue 16 item 3) on real guests: a live migration between two `tetra`
//! processes driven only over QMP, as QEMU-based tooling drives one (source `migrate`,
//! `query-migrate` until `completed`, the destination's RESUME), with `query-status` checked on
//! both sides at each step; and malformed, oversized, premature, half-closed and too many
//! clients refused while the VM runs on.

use integration_tests::guests::{self, Guest};
use integration_tests::harness::{check, Suite};
use integration_tests::process::{wait_for_path, Tetra};
use integration_tests::run::Scratch;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use tetra_host::HostArch;
use vmm_core::Arch;

/// A QMP client: replies come back in order; events met on the way are kept.
struct Client {
    out: UnixStream,
    input: BufReader<UnixStream>,
    events: Vec<Value>,
}

impl Client {
    /// Connects and reads the greeting (not negotiated yet).
    fn connect(path: &Path) -> Result<Client, String> {
        let s =
            UnixStream::connect(path).map_err(|e| format!("connect {}: {e}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let input = BufReader::new(s.try_clone().map_err(|e| e.to_string())?);
        let mut c = Client {
            out: s,
            input,
            events: Vec::new(),
        };
        let g = c.line()?;
        check(g["QMP"]["version"]["qemu"]["major"].is_u64(), || {
            format!("greeting: {g}")
        })?;
        Ok(c)
    }

    /// Connects and negotiates.
    fn negotiated(path: &Path) -> Result<Client, String> {
        let mut c = Client::connect(path)?;
        let r = c.execute("qmp_capabilities", None)?;
        check(r == json!({"return": {}}), || {
            format!("qmp_capabilities: {r}")
        })?;
        Ok(c)
    }

    fn line(&mut self) -> Result<Value, String> {
        let mut l = String::new();
        let n = self
            .input
            .read_line(&mut l)
            .map_err(|e| format!("reading QMP: {e}"))?;
        if n == 0 {
            return Err("the QMP server closed the connection".into());
        }
        serde_json::from_str(&l).map_err(|e| format!("{e}: {l:?}"))
    }

    /// Sends `raw` (a newline is added) and returns the next reply (`return` or `error`).
    fn raw(&mut self, raw: &str) -> Result<Value, String> {
        writeln!(self.out, "{raw}").map_err(|e| format!("sending: {e}"))?;
        self.reply()
    }

    fn reply(&mut self) -> Result<Value, String> {
        loop {
            let v = self.line()?;
            if v.get("event").is_some() {
                self.events.push(v);
            } else {
                return Ok(v);
            }
        }
    }

    fn execute(&mut self, cmd: &str, args: Option<Value>) -> Result<Value, String> {
        let mut m = json!({ "execute": cmd });
        if let Some(a) = args {
            m["arguments"] = a;
        }
        self.raw(&m.to_string())
    }

    /// `cmd`'s `return` value; an error is a failure.
    fn ok(&mut self, cmd: &str, args: Option<Value>) -> Result<Value, String> {
        let r = self.execute(cmd, args)?;
        r.get("return")
            .cloned()
            .ok_or_else(|| format!("{cmd}: {r}"))
    }

    /// `query-status` must say `status` (and `running` accordingly).
    fn status_is(&mut self, status: &str, side: &str) -> Result<(), String> {
        let r = self.ok("query-status", None)?;
        check(
            r["status"] == status && r["running"] == (status == "running"),
            || format!("{side}: query-status {r}, wanted {status}"),
        )
    }

    /// Waits for event `name` (already met, or coming).
    fn event(&mut self, name: &str) -> Result<Value, String> {
        loop {
            if let Some(i) = self.events.iter().position(|e| e["event"] == name) {
                return Ok(self.events.remove(i));
            }
            let v = self.line()?;
            check(v.get("event").is_some(), || format!("not an event: {v}"))?;
            self.events.push(v);
        }
    }

    /// The error class and description of `raw`'s reply (it must be an error).
    fn error(&mut self, raw: &str) -> Result<(String, String), String> {
        let r = self.raw(raw)?;
        let class = r["error"]["class"].as_str().map(String::from);
        let desc = r["error"]["desc"].as_str().map(String::from);
        match (class, desc) {
            (Some(c), Some(d)) => Ok((c, d)),
            _ => Err(format!("{raw}: not an error: {r}")),
        }
    }
}

fn kernel_args(g: &Guest, kernel: &str) -> Vec<String> {
    let mut a = vec!["run".to_string(), "--kernel".into(), kernel.to_string()];
    if let Some(raw) = g.boot.strip_prefix("raw:") {
        a.extend(["--raw".to_string(), raw.to_string()]);
    }
    a
}

pub fn register(s: &mut Suite) {
    if HostArch::SNAPSHOT_MAGIC.is_some() {
        if let Some(dirtier) = guests::get("dirtier") {
            s.kvm("qmp::a_live_migration_driven_only_over_qmp", move || {
                migration_over_qmp(dirtier)
            });
        }
    }
    let Some(echo) = guests::get("echo") else {
        s.skip("qmp::malformed_input", "kvm", "no echo guest for this arch");
        return;
    };
    s.kvm(
        "qmp::malformed_input_is_refused_and_the_vm_runs_on",
        move || malformed(echo),
    );
    s.kvm("qmp::quit_ends_a_destination_still_waiting", || {
        let dir = Scratch::new("qmp-quit-incoming");
        let (mig, q) = (dir.0.join("mig.sock"), dir.0.join("dest.qmp"));
        let uri = format!("unix:{}", mig.display());
        let qa = format!("unix:{}", q.display());
        let dest = Tetra::spawn(&["run", "--incoming", &uri, "--qmp", &qa])?;
        wait_for_path(&q)?;
        wait_for_path(&mig)?;
        let mut d = Client::negotiated(&q)?;
        d.status_is("inmigrate", "destination")?;
        // cont is QEMU's autostart (tetra's destination always starts); stop cannot be kept.
        d.ok("cont", None)?;
        let r = d.execute("stop", None)?;
        check(r["error"]["class"] == "GenericError", || {
            format!("stop while arriving: {r}")
        })?;
        d.status_is("inmigrate", "destination after cont and stop")?;
        d.ok("quit", None)?;
        let e = d.event("SHUTDOWN")?;
        check(e["data"]["reason"] == "host-qmp-quit", || format!("{e}"))?;
        let (st, _, err) = dest.wait()?;
        check(st.code() == Some(0), || {
            format!("quit while arriving: {st} {err}")
        })?;
        check(!q.exists(), || "the QMP socket file was left".into())
    });
    s.kvm("qmp::system_reset_boots_the_guest_again", move || {
        system_reset(echo)
    });
    match guests::get("power_button") {
        Some(g) => s.kvm("qmp::system_powerdown_powers_the_guest_off", move || {
            system_powerdown(g)
        }),
        None => s.skip(
            "qmp::system_powerdown_powers_the_guest_off",
            "kvm",
            "this arch has no guest power button (x86 only: ACPI fixed-feature button)",
        ),
    }
}

/// `system_powerdown` on the `power_button` guest (it enabled PWRBTN_EN): its SCI handler sees
/// the press and it powers off: SHUTDOWN (guest-shutdown), status 0.
fn system_powerdown(g: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("qmp-powerdown");
    let q = dir.0.join("vm.qmp");
    let kernel = g.write_to(&dir.0).display().to_string();
    let mut args = kernel_args(g, &kernel);
    args.extend(["--qmp".into(), format!("unix:{}", q.display())]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut vm = Tetra::spawn(&args)?;
    wait_for_path(&q)?;
    vm.wait_for("power button: waiting\n", false)?;
    let mut c = Client::negotiated(&q)?;
    c.ok("system_powerdown", None)?;
    let e = c.event("SHUTDOWN")?;
    check(
        e["data"]["guest"] == true && e["data"]["reason"] == "guest-shutdown",
        || format!("{e}"),
    )?;
    let (st, out, err) = vm.wait()?;
    check(st.code() == Some(0), || format!("{st}: {out} {err}"))?;
    check(out.contains("power button pressed\n"), || out.clone())
}

/// `system_reset` on a VM that keeps its boot state (`--on-triple-fault reset`): the guest boots
/// again (its banner twice), the VM pauses and resumes around it, and runs on.
fn system_reset(echo: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("qmp-reset");
    let q = dir.0.join("vm.qmp");
    let kernel = echo.write_to(&dir.0).display().to_string();
    let mut args = kernel_args(echo, &kernel);
    args.extend([
        "--on-triple-fault".into(),
        "reset".into(),
        "--qmp".into(),
        format!("unix:{}", q.display()),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut vm = Tetra::spawn(&args)?;
    wait_for_path(&q)?;
    vm.wait_for("echo: ready", false)?;
    let mut c = Client::negotiated(&q)?;
    let banners = |vm: &Tetra| vm.stdout().matches("echo: ready").count();
    check(banners(&vm) == 1, || vm.stdout())?;
    c.ok("system_reset", None)?;
    c.event("STOP")?;
    c.event("RESUME")?;
    let t = Instant::now();
    while banners(&vm) < 2 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    check(banners(&vm) == 2, || {
        format!("no second boot: {}", vm.stdout())
    })?;
    c.status_is("running", "after system_reset")?;
    c.ok("quit", None)?;
    let (st, _, err) = vm.wait()?;
    check(st.code() == Some(0), || format!("quit: {st} {err}"))
}

fn migration_over_qmp(dirtier: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("qmp-migration");
    let path = |n: &str| dir.0.join(n);
    let (mig, dq, sq) = (path("mig.sock"), path("dest.qmp"), path("src.qmp"));
    let uri = format!("unix:{}", mig.display());

    // The destination: waiting for the stream, it says inmigrate.
    let mut dest = Tetra::spawn_with_stdin(&[
        "run",
        "--incoming",
        &uri,
        "--qmp",
        &format!("unix:{}", dq.display()),
    ])?;
    wait_for_path(&dq)?;
    let mut d = Client::negotiated(&dq)?;
    d.status_is("inmigrate", "destination before the migration")?;

    // The source: the dirtier guest, sweeping its memory.
    let kernel = dirtier.write_to(&dir.0).display().to_string();
    let mut args = kernel_args(dirtier, &kernel);
    let sqa = format!("unix:{}", sq.display());
    args.extend(["--mem".into(), "32".into(), "--qmp".into(), sqa]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut src = Tetra::spawn_with_stdin(&args)?;
    src.wait_for("sweep 100\n", false)?;
    let mut s = Client::negotiated(&sq)?;
    s.status_is("running", "source before the migration")?;
    let r = s.ok("query-migrate", None)?;
    check(r == json!({}), || format!("query-migrate before any: {r}"))?;
    let cpus = s.ok("query-cpus-fast", None)?;
    check(
        cpus.as_array().map(Vec::len) == Some(1) && cpus[0]["cpu-index"] == 0,
        || format!("query-cpus-fast: {cpus}"),
    )?;
    // Capabilities QEMU tooling sets: accepted (and ignored).
    let caps = json!({"capabilities": [
        {"capability": "events", "state": true},
        {"capability": "no-such-capability", "state": true}]});
    s.ok("migrate-set-capabilities", Some(caps))?;

    // migrate answers at once; query-migrate follows the migration while it runs.
    let t = Instant::now();
    let r = s.ok("migrate", Some(json!({ "uri": uri })))?;
    check(r == json!({}), || format!("migrate: {r}"))?;
    let mut seen = Vec::new();
    let mut during = Vec::new();
    let done = loop {
        let r = s.ok("query-migrate", None)?;
        let st = r["status"].as_str().unwrap_or("?").to_string();
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        match st.as_str() {
            "completed" => break r,
            "setup" | "active" => {
                // While it runs the source tells the truth: it runs (or is paused for the
                // stop-and-copy).
                let q = s.ok("query-status", None)?;
                let qs = q["status"].as_str().unwrap_or("?").to_string();
                // (Or it completed between the two questions: then it is postmigrate.)
                check(
                    qs == "running" || qs == "paused" || qs == "postmigrate",
                    || format!("source during the migration: {q}"),
                )?;
                if during.last() != Some(&qs) {
                    during.push(qs);
                }
                // And the destination is still arriving (or just started).
                let q = d.ok("query-status", None)?;
                check(
                    q["status"] == "inmigrate" || q["status"] == "running",
                    || format!("destination during the migration: {q}"),
                )?;
            }
            _ => return Err(format!("query-migrate: {r} (seen {seen:?})")),
        }
        check(t.elapsed() < Duration::from_secs(60), || {
            format!("no completion in 60 s: {seen:?}")
        })?;
        std::thread::sleep(Duration::from_millis(5));
    };
    check(seen.iter().any(|s| s == "active"), || {
        format!("query-migrate never answered active during the migration: {seen:?}")
    })?;
    check(
        during.first().map(String::as_str) == Some("running"),
        || format!("the source ran during the pre-copy: {during:?}"),
    )?;
    check(
        done["ram"]["transferred"].as_u64() > Some(0) && done["downtime"].is_u64(),
        || format!("completed without figures: {done}"),
    )?;
    // After completion: the source stays, in postmigrate; its events told the story.
    s.status_is("postmigrate", "source after completion")?;
    for status in ["setup", "active", "completed"] {
        let e = s.event("MIGRATION")?;
        check(e["data"]["status"] == status, || {
            format!("MIGRATION events out of order: {e}, wanted {status}")
        })?;
    }
    let stop = s.event("STOP")?;
    check(stop["timestamp"]["seconds"].as_u64() > Some(0), || {
        format!("STOP: {stop}")
    })?;
    let r = s.execute("cont", None)?;
    check(r["error"]["class"] == "GenericError", || {
        format!("cont after the guest left: {r}")
    })?;

    // The destination: RESUME, then running.
    d.event("RESUME")?;
    d.status_is("running", "destination after RESUME")?;

    // quit ends the source (exit 0, SHUTDOWN).
    s.ok("quit", None)?;
    let e = s.event("SHUTDOWN")?;
    check(e["data"]["guest"] == false, || format!("{e}"))?;
    let (st, _, err) = src.wait()?;
    check(st.code() == Some(0), || format!("source ended {st}: {err}"))?;

    // The guest carries on at the destination; a key ends its sweeps and it checks every page.
    dest.wait_for("sweep ", false)?;
    dest.type_in(b"q")?;
    let e = d.event("SHUTDOWN")?;
    check(e["data"]["guest"] == true, || format!("{e}"))?;
    let (dst, dout, derr) = dest.wait()?;
    check(dst.code() == Some((0x10 << 1) | 1), || {
        format!("destination ended {dst}: {derr}\n{dout}")
    })?;
    check(dout.contains("every page agrees"), || dout.clone())
}

fn malformed(echo: &'static Guest) -> Result<(), String> {
    let dir = Scratch::new("qmp-malformed");
    let q = dir.0.join("vm.qmp");
    let kernel = echo.write_to(&dir.0).display().to_string();
    let mut args = kernel_args(echo, &kernel);
    args.extend(["--qmp".into(), format!("unix:{}", q.display())]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut vm = Tetra::spawn(&args)?;
    wait_for_path(&q)?;
    vm.wait_for("echo: ready", false)?;

    // More idle clients than the server keeps: the oldest un-negotiated ones make room.
    let idle: Vec<UnixStream> = (0..vmm_core::control::qmp::MAX_CLIENTS + 8)
        .map(|_| UnixStream::connect(&q))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;

    let mut c = Client::connect(&q)?;
    // Before negotiation every command is CommandNotFound, as QEMU.
    let (class, desc) = c.error(r#"{"execute":"query-status","id":1}"#)?;
    check(
        class == "CommandNotFound" && desc.contains("qmp_capabilities"),
        || format!("before negotiation: {class} {desc}"),
    )?;
    let r = c.execute("qmp_capabilities", None)?;
    check(r == json!({"return": {}}), || format!("{r}"))?;
    let (class, _) = c.error(r#"{"execute":"qmp_capabilities"}"#)?;
    check(class == "CommandNotFound", || {
        format!("second negotiation: {class}")
    })?;

    let cases: &[(&str, &str, &str)] = &[
        ("{", "GenericError", "JSON parse error"),
        ("[1,2]", "GenericError", "JSON object"),
        (r#""text""#, "GenericError", "JSON object"),
        (r#"{"arguments":{}}"#, "GenericError", "execute"),
        (r#"{"execute":["stop"]}"#, "GenericError", "string"),
        (r#"{"execute":"nope-cmd"}"#, "CommandNotFound", "nope-cmd"),
        (r#"{"execute":"migrate"}"#, "GenericError", "uri"),
        (
            r#"{"execute":"migrate","arguments":{"uri":7}}"#,
            "GenericError",
            "uri",
        ),
        (
            r#"{"execute":"migrate","arguments":{"uri":"exec:cat"}}"#,
            "GenericError",
            "exec",
        ),
        (
            r#"{"execute":"stop","arguments":{"force":true}}"#,
            "GenericError",
            "force",
        ),
        (
            r#"{"execute":"query-status","arguments":[]}"#,
            "GenericError",
            "object",
        ),
        (
            r#"{"execute":"system_reset"}"#,
            "GenericError",
            "boot state",
        ),
    ];
    for (raw, want_class, want) in cases {
        let (class, desc) = c.error(raw)?;
        check(class == *want_class && desc.contains(want), || {
            format!("{raw}: {class} {desc} (wanted {want_class} with {want:?})")
        })?;
    }
    // system_powerdown presses the button (the echo guest never enabled it: nothing happens),
    // or fails where the arch has none.
    if HostArch::POWER_BUTTON {
        c.ok("system_powerdown", None)?;
    } else {
        let raw = r#"{"execute":"system_powerdown"}"#;
        let (class, desc) = c.error(raw)?;
        check(
            class == "GenericError" && desc.contains("power button"),
            || format!("{raw}: {class} {desc}"),
        )?;
    }
    // The id is echoed, on success and failure alike.
    let r = c.raw(r#"{"execute":"nope","id":{"n":[1,"x"]}}"#)?;
    check(r["id"] == json!({"n":[1,"x"]}), || {
        format!("id not echoed: {r}")
    })?;
    let r = c.raw(r#"{"execute":"query-status","id":"abc"}"#)?;
    check(r["id"] == "abc" && r["return"]["running"] == true, || {
        format!("{r}")
    })?;

    // A line past the limit: an error, and the connection closes.
    let mut huge = Client::negotiated(&q)?;
    let big = vec![b'x'; vmm_core::control::qmp::MAX_LINE + 4096];
    huge.out.write_all(&big).map_err(|e| e.to_string())?;
    let r = huge.reply()?;
    check(
        r["error"]["desc"]
            .as_str()
            .is_some_and(|d| d.contains("longer")),
        || format!("huge line: {r}"),
    )?;
    // (Closed with our bytes unread, the socket may report a reset instead of the end.)
    let mut rest = Vec::new();
    match huge.input.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => return Err(format!("after the huge line: {e}")),
    }

    // A half-closed client gets the replies to what it sent, then the end.
    let mut half = UnixStream::connect(&q).map_err(|e| e.to_string())?;
    half.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    half.write_all(
        b"{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\",\"id\":9}\n",
    )
    .map_err(|e| e.to_string())?;
    half.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut all = String::new();
    half.read_to_string(&mut all).map_err(|e| e.to_string())?;
    check(
        all.lines().count() == 3 && all.contains(r#""id":9"#) && all.contains("\"running\""),
        || format!("half-closed: {all:?}"),
    )?;

    // stop and cont, each idempotent, with their events; query-status tells the truth.
    check(c.ok("stop", None)? == json!({}), || "stop".into())?;
    c.event("STOP")?;
    c.status_is("paused", "after stop")?;
    c.ok("stop", None)?;
    c.status_is("paused", "after a second stop")?;
    c.ok("cont", None)?;
    c.event("RESUME")?;
    c.status_is("running", "after cont")?;
    c.ok("cont", None)?;

    // The oldest idle client was let go; the VM runs on and answers.
    let mut first = idle.into_iter().next().ok_or("no idle client")?;
    first
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    first
        .read_to_end(&mut got)
        .map_err(|e| format!("the oldest idle client: {e}"))?;
    check(String::from_utf8_lossy(&got).contains("\"QMP\""), || {
        format!("the oldest idle client got {got:?}")
    })?;
    check(vm.running(), || "tetra ended".into())?;
    let mut fresh = Client::negotiated(&q)?;
    fresh.status_is("running", "at the end")?;

    // quit: exit 0, SHUTDOWN (not by the guest) to every client.
    fresh.ok("quit", None)?;
    let e = c.event("SHUTDOWN")?;
    check(
        e["data"] == json!({"guest": false, "reason": "host-qmp-quit"}),
        || format!("{e}"),
    )?;
    let (st, _, err) = vm.wait()?;
    check(st.code() == Some(0), || format!("quit: {st} {err}"))
}
