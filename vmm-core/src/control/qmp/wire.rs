//! QMP's wire format (QEMU's `docs/interop/qmp-spec.rst`): one JSON object per line each way.
//!
//! ```text
//! server: {"QMP": {"version": {...}, "capabilities": []}}          the greeting
//! client: {"execute": "qmp_capabilities"}                          negotiation, first
//! client: {"execute": CMD, "arguments": {...}, "id": ANY}          a command
//! server: {"return": VALUE, "id": ANY}                             its success
//! server: {"error": {"class": CLASS, "desc": TEXT}, "id": ANY}     or its failure
//! server: {"event": NAME, "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}
//! ```
//!
//! Parsing is total: any bytes give a [`Command`] or a [`Failure`] with QEMU's error class
//! (`GenericError` for malformed input and bad arguments, `CommandNotFound` for an unknown
//! command); `id`, when the input has one, is echoed either way.

use crate::control::status::{Event, Stamped};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// QEMU's error classes that tetra uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Everything but an unknown command.
    GenericError,
    /// An unknown command, or one before (or a second) `qmp_capabilities`.
    CommandNotFound,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::GenericError => "GenericError",
            Class::CommandNotFound => "CommandNotFound",
        }
    }
}

/// A command refused: its class and QEMU-style description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The class.
    pub class: Class,
    /// What is wrong.
    pub desc: String,
}

impl Failure {
    /// A `GenericError`.
    pub fn generic(desc: impl Into<String>) -> Self {
        Failure {
            class: Class::GenericError,
            desc: desc.into(),
        }
    }
    fn not_found(desc: impl Into<String>) -> Self {
        Failure {
            class: Class::CommandNotFound,
            desc: desc.into(),
        }
    }
}

/// A migration capability and its state (`migrate-set-capabilities`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capability {
    /// Its name.
    pub capability: String,
    /// On or off.
    pub state: bool,
}

/// The commands tetra's QMP serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `qmp_capabilities`: ends negotiation.
    Capabilities,
    /// `query-status`.
    QueryStatus,
    /// `stop`.
    Stop,
    /// `cont`.
    Cont,
    /// `system_powerdown`.
    SystemPowerdown,
    /// `system_reset`.
    SystemReset,
    /// `quit`.
    Quit,
    /// `migrate` to `uri`.
    Migrate(String),
    /// `query-migrate`.
    QueryMigrate,
    /// `migrate-set-capabilities`.
    SetCapabilities(Vec<Capability>),
    /// `query-cpus-fast`.
    QueryCpusFast,
    /// `query-commands`.
    QueryCommands,
    /// `query-version`.
    QueryVersion,
}

/// Every command's QMP name.
pub const COMMANDS: &[&str] = &[
    "qmp_capabilities",
    "query-status",
    "stop",
    "cont",
    "system_powerdown",
    "system_reset",
    "quit",
    "migrate",
    "query-migrate",
    "migrate-set-capabilities",
    "query-cpus-fast",
    "query-commands",
    "query-version",
];

/// One input line, parsed.
#[derive(Debug, PartialEq)]
pub struct Input {
    /// The `id` to echo, if the input had one.
    pub id: Option<Value>,
    /// The command, or why there is none.
    pub command: Result<Command, Failure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapabilitiesArgs {
    #[serde(default)]
    enable: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateArgs {
    uri: String,
    /// QEMU's `detach` is ignored (a migration always runs on its own); `resume` must be false.
    #[serde(default)]
    #[allow(dead_code)]
    detach: bool,
    #[serde(default)]
    resume: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCapabilitiesArgs {
    capabilities: Vec<Capability>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

fn args<T: for<'de> Deserialize<'de>>(cmd: &str, a: &Map<String, Value>) -> Result<T, Failure> {
    T::deserialize(Value::Object(a.clone()))
        .map_err(|e| Failure::generic(format!("invalid arguments for '{cmd}': {e}")))
}

/// Parses one input line (without its newline).
pub fn parse(line: &[u8]) -> Input {
    let fail = |f| Input {
        id: None,
        command: Err(f),
    };
    let v: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return fail(Failure::generic(format!("JSON parse error, {e}"))),
    };
    let Value::Object(mut obj) = v else {
        return fail(Failure::generic("QMP input must be a JSON object"));
    };
    let id = obj.remove("id");
    let command = command(obj);
    Input { id, command }
}

fn command(mut obj: Map<String, Value>) -> Result<Command, Failure> {
    let execute = obj.remove("execute");
    let arguments = obj.remove("arguments");
    if let Some(k) = obj.keys().next() {
        return Err(Failure::generic(format!(
            "QMP input member '{k}' is unexpected"
        )));
    }
    let name = match execute {
        None => return Err(Failure::generic("QMP input lacks member 'execute'")),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(Failure::generic(
                "QMP input member 'execute' must be a string",
            ))
        }
    };
    let a = match arguments {
        None => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(Failure::generic(
                "QMP input member 'arguments' must be an object",
            ))
        }
    };
    let plain = |c: Command| args::<NoArgs>(&name, &a).map(|_| c);
    match name.as_str() {
        "qmp_capabilities" => {
            let c: CapabilitiesArgs = args(&name, &a)?;
            match c.enable.first() {
                Some(cap) => Err(Failure::generic(format!(
                    "Capability '{cap}' not available"
                ))),
                None => Ok(Command::Capabilities),
            }
        }
        "query-status" => plain(Command::QueryStatus),
        "stop" => plain(Command::Stop),
        "cont" => plain(Command::Cont),
        "system_powerdown" => plain(Command::SystemPowerdown),
        "system_reset" => plain(Command::SystemReset),
        "quit" => plain(Command::Quit),
        "query-migrate" => plain(Command::QueryMigrate),
        "query-cpus-fast" => plain(Command::QueryCpusFast),
        "query-commands" => plain(Command::QueryCommands),
        "query-version" => plain(Command::QueryVersion),
        "migrate" => {
            match a.get("uri") {
                None => return Err(Failure::generic("Parameter 'uri' is missing")),
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(Failure::generic(
                        "Invalid parameter type for 'uri', expected: string",
                    ))
                }
            }
            let m: MigrateArgs = args(&name, &a)?;
            if m.resume {
                return Err(Failure::generic(
                    "migrate: 'resume' (postcopy recovery) is not supported",
                ));
            }
            crate::migration::Uri::parse(&m.uri)
                .map_err(|e| Failure::generic(crate::error_chain::chain(&e)))?;
            Ok(Command::Migrate(m.uri))
        }
        "migrate-set-capabilities" => {
            let c: SetCapabilitiesArgs = args(&name, &a)?;
            Ok(Command::SetCapabilities(c.capabilities))
        }
        _ => Err(Failure::not_found(format!(
            "The command {name} has not been found"
        ))),
    }
}

fn with_id(mut v: Value, id: &Option<Value>) -> String {
    if let Some(id) = id {
        v["id"] = id.clone();
    }
    v.to_string()
}

/// A success line.
pub fn ret(id: &Option<Value>, value: Value) -> String {
    with_id(json!({ "return": value }), id)
}

/// A failure line.
pub fn error(id: &Option<Value>, f: &Failure) -> String {
    with_id(
        json!({ "error": { "class": f.class.name(), "desc": f.desc } }),
        id,
    )
}

/// The greeting (tetra's version in QEMU's `version` shape; no optional capabilities).
pub fn greeting() -> String {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, micro) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    json!({ "QMP": {
        "version": {
            "qemu": { "major": major, "minor": minor, "micro": micro },
            "package": format!("tetra {}", env!("CARGO_PKG_VERSION")),
        },
        "capabilities": [],
    }})
    .to_string()
}

/// An event line.
pub fn event(e: &Stamped) -> String {
    let (name, data) = match &e.event {
        Event::Stop => ("STOP", json!({})),
        Event::Resume => ("RESUME", json!({})),
        Event::Shutdown { guest, reason } => {
            ("SHUTDOWN", json!({ "guest": guest, "reason": reason }))
        }
        Event::Migration(status) => ("MIGRATION", json!({ "status": status })),
    };
    json!({
        "event": name,
        "data": data,
        "timestamp": { "seconds": e.at.as_secs(), "microseconds": e.at.subsec_micros() },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Result<Command, Failure> {
        parse(s.as_bytes()).command
    }

    #[test]
    fn an_id_too_large_for_an_integer_comes_back_as_it_went_in() {
        // The fuzz target `qmp` found it: an integer id past u64 is a float, and a float parsed
        // from its integer text must be the one parsed from the reply's float text (serde_json's
        // `float_roundtrip`), or the client gets back another id than it sent.
        for id in [
            "188888888888180016004989433705672703",
            "1e400000000000000000000000000000000000000",
            "-0.30000000000000004",
            "123456789012345678901234567890.123456789e-5",
        ] {
            let i = parse(format!(r#"{{"execute":"system_reset","id":{id}}}"#).as_bytes());
            let reply: Value = serde_json::from_str(&ret(&i.id, json!({}))).unwrap();
            assert_eq!(reply.get("id"), i.id.as_ref(), "{id}");
        }
    }

    #[test]
    fn parses_commands_and_echoes_ids() {
        let i = parse(br#"{"execute":"query-status","id":{"a":[1]}}"#);
        assert_eq!(i.command, Ok(Command::QueryStatus));
        assert_eq!(i.id, Some(json!({"a":[1]})));
        assert_eq!(
            cmd(r#"{"execute":"migrate","arguments":{"uri":"unix:/x","detach":true}}"#),
            Ok(Command::Migrate("unix:/x".into()))
        );
        assert_eq!(
            cmd(
                r#"{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"xbzrle","state":true}]}}"#
            ),
            Ok(Command::SetCapabilities(vec![Capability {
                capability: "xbzrle".into(),
                state: true
            }]))
        );
        assert_eq!(
            cmd(r#"{"execute":"qmp_capabilities","arguments":{}}"#),
            Ok(Command::Capabilities)
        );
        for name in COMMANDS {
            let r = cmd(&format!(r#"{{"execute":"{name}"}}"#));
            assert!(
                r.is_ok() || r.as_ref().unwrap_err().class == Class::GenericError,
                "{name}: {r:?}"
            );
        }
    }

    #[test]
    fn refuses_with_qemus_classes() {
        let generic = |s: &str, want: &str| {
            let f = cmd(s).unwrap_err();
            assert_eq!(f.class, Class::GenericError, "{s}");
            assert!(f.desc.contains(want), "{s}: {}", f.desc);
        };
        generic("{", "JSON parse error");
        generic("[1]", "must be a JSON object");
        generic("{}", "lacks member 'execute'");
        generic(r#"{"execute":1}"#, "must be a string");
        generic(r#"{"execute":"stop","arguments":[]}"#, "must be an object");
        generic(r#"{"execute":"stop","bogus":1}"#, "'bogus' is unexpected");
        generic(r#"{"execute":"stop","arguments":{"now":1}}"#, "now");
        generic(r#"{"execute":"migrate"}"#, "uri");
        generic(r#"{"execute":"migrate","arguments":{"uri":5}}"#, "uri");
        generic(
            r#"{"execute":"migrate","arguments":{"uri":"exec:cat"}}"#,
            "exec:cat",
        );
        generic(
            r#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#,
            "oob",
        );
        let f = cmd(r#"{"execute":"human-monitor-command"}"#).unwrap_err();
        assert_eq!(f.class, Class::CommandNotFound);
        // The id is echoed even when the command is refused.
        let i = parse(br#"{"execute":"nope","id":7}"#);
        assert_eq!(i.id, Some(json!(7)));
        assert!(error(&i.id, &i.command.unwrap_err()).contains(r#""id":7"#));
    }

    #[test]
    fn lines_have_qemus_shape() {
        let g: Value = serde_json::from_str(&greeting()).unwrap();
        assert!(g["QMP"]["version"]["qemu"]["major"].is_u64());
        assert!(g["QMP"]["capabilities"].is_array());
        let r: Value = serde_json::from_str(&ret(&Some(json!("x")), json!({}))).unwrap();
        assert_eq!(r, json!({"return": {}, "id": "x"}));
        let e = event(&Stamped {
            event: Event::Migration("completed"),
            at: std::time::Duration::from_micros(1_500_002),
        });
        let e: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(
            e,
            json!({"event":"MIGRATION","data":{"status":"completed"},
                   "timestamp":{"seconds":1,"microseconds":500002}})
        );
    }
}
