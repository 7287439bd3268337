//! The kernel's result line and how we show it.

use serde_json::Value;

/// Prefix of the kernel's result line (see kernel/src/report.rs).
pub const RESULT_PREFIX: &str = "FAULTLINE-RESULT ";
/// Prefix of the kernel's error line.
pub const ERROR_PREFIX: &str = "FAULTLINE-ERROR ";
/// Prefix of the line after an error line: the kind of failure (its
/// `status`) and the counters the run reached.
pub const PARTIAL_PREFIX: &str = "FAULTLINE-PARTIAL ";

/// The parsed result object, or `None` if the kernel printed none.
pub fn find_result(serial: &str) -> Result<Option<Value>, String> {
    let Some(line) = serial.lines().find_map(|l| l.strip_prefix(RESULT_PREFIX)) else {
        return Ok(None);
    };
    serde_json::from_str(line)
        .map(Some)
        .map_err(|e| format!("the kernel's result line is not valid JSON: {e}"))
}

/// The kernel's error message, if it printed one.
pub fn find_error(serial: &str) -> Option<String> {
    serial
        .lines()
        .find_map(|l| l.strip_prefix(ERROR_PREFIX))
        .map(str::to_string)
}

/// The partial result after an error line, if the kernel printed one
/// whole: `{"status": KIND, "elapsed_cycles": N, "vmstat": {...}}`.
pub fn find_partial(serial: &str) -> Option<Value> {
    let line = serial
        .lines()
        .find_map(|l| l.strip_prefix(PARTIAL_PREFIX))?;
    // A line cut short (the run killed while it printed) is no partial.
    serde_json::from_str(line).ok()
}

/// Is this result a success by the kernel's own integrity checks?
pub fn is_ok(result: &Value) -> bool {
    result["status"] == "ok" && result["integrity"]["corrupt_pages"] == 0
}

/// Renders a byte count the way the knobs accept it, when it is exact.
pub fn human_size(n: u64) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

fn show(key: &str, v: &Value) -> String {
    match v {
        Value::Number(n) if key.ends_with("size") || key.ends_with(".max") => {
            human_size(n.as_u64().unwrap_or(0))
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ring-3 programs of `workload=user`/`usertests`: one line each,
/// the process figures, and every kill.
fn render_user(user: &Value, out: &mut String) {
    let Some(programs) = user["programs"].as_array() else {
        return;
    };
    out.push_str("user programs\n");
    for p in programs {
        let how = match (p["exit_code"].as_u64(), p["signal"].as_str()) {
            (Some(code), _) => format!("exit {code}"),
            (None, Some(sig)) => format!("killed by {sig}"),
            _ => "?".into(),
        };
        out.push_str(&format!(
            "  {:<29} {:<4} {how} (pid {})\n",
            show("", &p["name"]),
            show("", &p["result"]),
            p["pid"]
        ));
    }
    out.push_str(&format!(
        "user            forks={} max_processes={} peak_swap_count={} nr_killed={}\n",
        user["forks"], user["max_processes"], user["peak_swap_count"], user["nr_killed"]
    ));
    for k in user["killed"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  killed        {} (pid {}) by {} at {:#x}\n",
            show("", &k["name"]),
            k["pid"],
            show("", &k["signal"]),
            k["address"].as_u64().unwrap_or(0)
        ));
    }
}

/// A readable table of a result.
pub fn render_table(result: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "status          {}\n",
        show("", &result["status"])
    ));
    out.push_str("config\n");
    if let Some(cfg) = result["config"].as_object() {
        for (k, v) in cfg {
            out.push_str(&format!("  {k:<31} {}\n", show(k, v)));
        }
    }
    out.push_str("vmstat\n");
    if let Some(vm) = result["vmstat"].as_object() {
        for (k, v) in vm {
            out.push_str(&format!("  {k:<31} {v}\n"));
        }
    }
    out.push_str(&format!("elapsed_cycles  {}\n", result["elapsed_cycles"]));
    let integ = &result["integrity"];
    out.push_str(&format!(
        "integrity       {} pages checked, {} corrupt\n",
        integ["checked_pages"], integ["corrupt_pages"]
    ));
    render_user(&result["user"], &mut out);
    for section in [
        "meminfo",
        "files",
        "trace",
        "memcg",
        "swap",
        "calibration",
        "sched",
    ] {
        if let Some(obj) = result[section].as_object() {
            let items: Vec<String> = obj
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    Value::Null => format!("{k}=max"),
                    other => format!("{k}={other}"),
                })
                .collect();
            out.push_str(&format!("{section:<15} {}\n", items.join(" ")));
        }
    }
    if let Some(lat) = result["fault_latency"].as_object() {
        out.push_str("fault_latency   (cycles)   count       mean        p50        p99\n");
        for (kind, h) in lat {
            out.push_str(&format!(
                "  {kind:<22} {:>9} {:>10} {:>10} {:>10}\n",
                h["count"], h["mean_cycles"], h["p50_cycles"], h["p99_cycles"]
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "noise\nFAULTLINE-RESULT {\"status\":\"ok\",\"config\":{\"workload.size\":67108864},\"vmstat\":{\"pgfault\":3},\"elapsed_cycles\":5,\"integrity\":{\"checked_pages\":3,\"corrupt_pages\":0}}\n";

    #[test]
    fn parses_and_renders() {
        let r = find_result(LINE).unwrap().unwrap();
        assert!(is_ok(&r));
        let t = render_table(&r);
        assert!(t.contains("workload.size                   64M"), "{t}");
        assert!(t.contains("pgfault"));
    }

    #[test]
    fn corrupt_is_not_ok() {
        let r: Value = serde_json::from_str(
            r#"{"status":"corrupt","integrity":{"checked_pages":3,"corrupt_pages":1}}"#,
        )
        .unwrap();
        assert!(!is_ok(&r));
    }

    #[test]
    fn error_line() {
        assert_eq!(
            find_error("a\nFAULTLINE-ERROR config: bad\n").as_deref(),
            Some("config: bad")
        );
        assert!(find_result("nothing").unwrap().is_none());
        let p = find_partial(
            "FAULTLINE-ERROR x\nFAULTLINE-PARTIAL {\"status\":\"oom\",\"elapsed_cycles\":7,\"vmstat\":{\"pgfault\":3}}\n",
        )
        .unwrap();
        assert_eq!(p["status"], "oom");
        assert_eq!(p["vmstat"]["pgfault"], 3);
        assert!(find_partial("FAULTLINE-PARTIAL {\"status\":\"oo").is_none());
    }
}
