//! The answers the QMP thread gives by itself, from the status model, in QEMU's shapes
//! (`qapi/run-state.json` `StatusInfo`, `qapi/migration.json` `MigrationInfo`,
//! `qapi/machine.json` `CpuInfoFast`).

use super::wire::COMMANDS;
use crate::control::status::{MigrationStatus, RunState, Status};
use serde_json::{json, Value};

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// `query-status`.
pub fn status(s: &Status) -> Value {
    let run = s.run();
    json!({
        "running": run == RunState::Running,
        "singlestep": false,
        "status": run.name(),
    })
}

/// `query-migrate`: `{}` before any migration, as QEMU.
pub fn migration(s: &Status) -> Value {
    let page = crate::memory::page_size();
    let total = s.machine().ram_bytes;
    match s.migration() {
        MigrationStatus::None => json!({}),
        MigrationStatus::Setup { since } => json!({
            "status": "setup",
            "total-time": ms(since.elapsed()),
        }),
        MigrationStatus::Active { since, progress } => {
            let mut v = json!({
                "status": "active",
                "total-time": ms(since.elapsed()),
            });
            if let Some(p) = progress {
                v["expected-downtime"] = json!(ms(p.expected_downtime));
                v["ram"] = json!({
                    "transferred": p.bytes,
                    "remaining": p.dirty_pages * page,
                    "total": total,
                    "duplicate": 0,
                    "normal": p.pages,
                    "normal-bytes": p.pages * page,
                    "dirty-pages-rate": p.dirty_rate as u64,
                    "mbps": p.bandwidth * 8.0 / 1e6,
                    "dirty-sync-count": p.round,
                    "page-size": page,
                });
            }
            v
        }
        MigrationStatus::Completed(st) => json!({
            "status": "completed",
            "total-time": ms(st.total),
            "downtime": ms(st.downtime),
            "ram": {
                "transferred": st.bytes,
                "remaining": 0,
                "total": total,
                "duplicate": 0,
                "normal": st.pages,
                "normal-bytes": st.pages * page,
                "mbps": st.bytes as f64 * 8.0 / 1e6 / st.total.as_secs_f64().max(1e-6),
                "dirty-sync-count": st.rounds,
                "page-size": page,
            },
        }),
        MigrationStatus::Failed(e) => json!({ "status": "failed", "error-desc": e }),
    }
}

/// QEMU's target name for a tetra arch (`SysEmuTarget`).
fn target(arch: &str) -> &str {
    match arch {
        "arm64" => "aarch64",
        "booke" => "ppc",
        other => other,
    }
}

/// `query-cpus-fast` (without `thread-id`: tetra does not keep its vCPU threads' ids).
pub fn cpus(s: &Status) -> Value {
    let m = s.machine();
    let list: Vec<Value> = (0..m.cpus)
        .map(|i| {
            json!({
                "cpu-index": i,
                "qom-path": format!("/machine/unattached/device[{i}]"),
                "target": target(m.arch),
            })
        })
        .collect();
    json!(list)
}

/// `query-version`.
pub fn version() -> Value {
    let g: Value = serde_json::from_str(&super::wire::greeting()).unwrap_or_default();
    g["QMP"]["version"].clone()
}

/// `query-commands`.
pub fn commands() -> Value {
    json!(COMMANDS
        .iter()
        .map(|c| json!({ "name": c }))
        .collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::status::Machine;

    #[test]
    fn status_and_migration_follow_the_model() {
        let s = Status::new(RunState::InMigrate);
        assert_eq!(
            status(&s),
            json!({"running": false, "singlestep": false, "status": "inmigrate"})
        );
        s.set_run(RunState::Running);
        assert_eq!(status(&s)["running"], json!(true));
        assert_eq!(migration(&s), json!({}));
        s.begin_migration();
        assert_eq!(migration(&s)["status"], json!("setup"));
        s.migration_progress(None);
        assert_eq!(migration(&s)["status"], json!("active"));
        s.end_migration(Err("link down".into()));
        assert_eq!(
            migration(&s),
            json!({"status": "failed", "error-desc": "link down"})
        );
        s.set_machine(Machine {
            arch: "arm64",
            cpus: 2,
            ram_bytes: 1 << 20,
        });
        let c = cpus(&s);
        assert_eq!(c.as_array().unwrap().len(), 2);
        assert_eq!(c[1]["cpu-index"], json!(1));
        assert_eq!(c[0]["target"], json!("aarch64"));
    }
}
