//! `tetra ctl` and `tetra migrate`: clients of the control socket's REST API
//! (`vmm_core::control::client`, `docs/api.yaml`). Each command is one HTTP request; what they
//! print is what they printed when they spoke the line protocol (`ok`, `ok: DETAILS`, the
//! vCPU lines, `progress:` lines), rebuilt here from the JSON answers.

use crate::progress::ProgressView;
use serde_json::Value;
use std::path::Path;
use vmm_core::control::client::{Client, ClientError};
use vmm_core::control::Request;

/// What a command printed on stdout: the lines before its end, and the end (`ok...`, or the
/// pretty description of `config`, without its newline).
#[derive(Debug, PartialEq, Eq)]
pub struct Shown {
    /// Lines before the end (`vcpu N: ...`).
    pub lines: Vec<String>,
    /// The last line(s).
    pub end: String,
}

/// Why a command failed: the message printed after `tetra: REQUEST: `.
pub type Failed = String;

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn ok(details: &str) -> String {
    if details.is_empty() {
        "ok".into()
    } else {
        format!("ok: {details}")
    }
}

/// A vCPU's place as the line protocol named it (its `Debug` form) from the API's lowercase one.
fn place(p: &str) -> String {
    match p {
        "gone" => "Gone",
        "inguest" => "InGuest",
        "handling" => "Handling",
        "paused" => "Paused",
        "parked" => "Parked",
        other => other,
    }
    .to_string()
}

/// What `request`'s answer `body` prints.
pub fn render(request: &Request, body: &Value) -> Result<Shown, Failed> {
    let end = |end: String| {
        Ok(Shown {
            lines: Vec::new(),
            end,
        })
    };
    match request {
        Request::Pause | Request::Resume => end(ok("")),
        Request::Status | Request::Info => end(ok(&text(body, "state"))),
        Request::Config => match body.get("config") {
            None | Some(Value::Null) => Err("this VM has no description to give".into()),
            Some(Value::String(s)) => end(s.clone()),
            Some(v) => end(vmm_core::json::pretty(v).trim_end().to_string()),
        },
        Request::Vcpus => {
            let list = body.get("vcpus").and_then(Value::as_array);
            let lines = list
                .into_iter()
                .flatten()
                .map(|v| {
                    let regs = match v.get("registers") {
                        Some(Value::String(r)) if !r.is_empty() => format!("; {r}"),
                        _ => String::new(),
                    };
                    format!(
                        "vcpu {}: {}, {} KVM_RUN returns{regs}",
                        text(v, "id"),
                        place(&text(v, "place")),
                        text(v, "kvm_runs"),
                    )
                })
                .collect();
            let n = list.map_or(0, Vec::len);
            Ok(Shown {
                lines,
                end: ok(&format!("{n} vCPUs, {}", text(body, "state"))),
            })
        }
        Request::Snapshot(_) => end(ok(&format!(
            "{}: {} guest pages, {} state bytes, {:.1} ms",
            text(body, "path"),
            text(body, "memory_pages"),
            text(body, "state_bytes"),
            num(body, "took_ms"),
        ))),
        Request::Migrate(_) => end(ok(&migrated(body))),
        Request::PowerButton => end(ok(
            if body.get("woke").and_then(Value::as_bool) == Some(true) {
                "pressed: the guest woke from S3"
            } else {
                "pressed"
            },
        )),
        Request::Migration | Request::Metrics | Request::Reset | Request::Quit => {
            end(ok(&body.to_string()))
        }
    }
}

/// A finished migration's summary, from `PUT /vm/migrate`'s answer.
pub fn migrated(body: &Value) -> String {
    format!(
        "migrated to {}: {} rounds, {:.1} MiB, total {:.1} ms, downtime {:.1} ms",
        text(body, "uri"),
        text(body, "rounds"),
        num(body, "bytes") / (1 << 20) as f64,
        num(body, "total_ms"),
        num(body, "downtime_ms"),
    )
}

fn failed(e: &ClientError) -> Failed {
    vmm_core::error_chain::chain(e)
}

/// Sends `request` (a `tetra ctl` command line) to the API at `api` and prints its answer on
/// stdout. A snapshot draws its progress on stderr ([`ProgressView`]); a migration prints its
/// `progress:` lines on stdout, as `tetra ctl` always has.
pub fn ctl(api: &Path, request: &str) -> Result<(), Failed> {
    let req = Request::parse(request)?;
    let (method, target, body) = vmm_core::control::http::request_of(&req)
        .ok_or_else(|| format!("{request} is not a control-socket request"))?;
    let client = Client::new(api);
    let answer = match &req {
        Request::Snapshot(_) => {
            let mut view = ProgressView::stderr();
            let mut on = |t: &str| view.line(&format!("progress: {t}"));
            let r = client.request(method, target, body.as_ref(), Some(&mut on));
            view.finish();
            r
        }
        Request::Migrate(_) => {
            let mut on = |t: &str| println!("progress: {t}");
            client.request(method, target, body.as_ref(), Some(&mut on))
        }
        _ => client.request(method, target, body.as_ref(), None),
    }
    .map_err(|e| failed(&e))?;
    let shown = render(&req, &answer)?;
    for l in &shown.lines {
        println!("{l}");
    }
    println!("{}", shown.end);
    Ok(())
}

/// `tetra migrate`: migrates the VM at `api` to `to`, its progress on stderr; returns the
/// summary.
pub fn migrate(api: &Path, to: &str) -> Result<String, Failed> {
    let req = Request::Migrate(to.to_string());
    let (method, target, body) =
        vmm_core::control::http::request_of(&req).ok_or("migrate has no HTTP request")?;
    let mut view = ProgressView::stderr();
    let mut on = |t: &str| view.line(&format!("progress: {t}"));
    let r = Client::new(api).request(method, target, body.as_ref(), Some(&mut on));
    view.finish();
    r.map(|b| migrated(&b)).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn end(r: &Request, body: Value) -> String {
        render(r, &body).unwrap().end
    }

    #[test]
    fn answers_print_as_the_line_protocol_printed_them() {
        assert_eq!(end(&Request::Pause, json!({"state": "paused"})), "ok");
        assert_eq!(
            end(&Request::Status, json!({"state": "paused", "config": null})),
            "ok: paused"
        );
        assert_eq!(
            end(
                &Request::Snapshot("/s".into()),
                json!({"path": "/s", "memory_pages": 12, "state_bytes": 3400, "took_ms": 5.25})
            ),
            "ok: /s: 12 guest pages, 3400 state bytes, 5.2 ms"
        );
        assert_eq!(
            end(
                &Request::Migrate("unix:/m".into()),
                json!({"uri": "unix:/m", "state": "succeeded", "rounds": 3, "bytes": 3 << 20,
                       "pages": 768, "total_ms": 100.04, "downtime_ms": 2.0})
            ),
            "ok: migrated to unix:/m: 3 rounds, 3.0 MiB, total 100.0 ms, downtime 2.0 ms"
        );
        assert_eq!(
            end(
                &Request::PowerButton,
                json!({"state": "running", "woke": false})
            ),
            "ok: pressed"
        );
        assert_eq!(
            end(
                &Request::PowerButton,
                json!({"state": "running", "woke": true})
            ),
            "ok: pressed: the guest woke from S3"
        );
    }

    #[test]
    fn vcpus_print_a_line_each_then_the_count() {
        let body = json!({"state": "paused", "vcpus": [
            {"id": 0, "place": "paused", "kvm_runs": 41, "registers": "rip=0x10"},
            {"id": 1, "place": "inguest", "kvm_runs": 7, "registers": null},
        ]});
        let s = render(&Request::Vcpus, &body).unwrap();
        assert_eq!(
            s.lines,
            [
                "vcpu 0: Paused, 41 KVM_RUN returns; rip=0x10",
                "vcpu 1: InGuest, 7 KVM_RUN returns"
            ]
        );
        assert_eq!(s.end, "ok: 2 vCPUs, paused");
    }

    #[test]
    fn config_is_the_description_or_an_error() {
        let s = end(
            &Request::Config,
            json!({"state": "running", "config": {"mem": 16}}),
        );
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, json!({"mem": 16}));
        let e = render(
            &Request::Config,
            &json!({"state": "running", "config": null}),
        );
        assert_eq!(e.unwrap_err(), "this VM has no description to give");
    }
}
