//! The shipped systemd unit: hardened (`systemd-analyze security` exposure of
//! 2.0 or lower) and shaped the way the daemon works.

use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/accessaudit.service");

#[test]
fn the_unit_is_rated_2_or_lower_by_systemd_analyze_security() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=20", UNIT])
        .output()
        .expect("systemd-analyze (Debian's systemd package) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let level = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for accessaudit.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
    assert!(out.status.success(), "above the threshold:\n{text}");
}

#[test]
fn the_unit_matches_the_daemon() {
    let unit = std::fs::read_to_string(UNIT).expect("read the unit");
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=accessaudit",
        "LoadCredential=smtp-password:",
        "WatchdogSec=",
    ] {
        assert!(unit.contains(line), "missing `{line}`");
    }
    // `config check` validates the files before the daemon is told to reload.
    let reloads: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecReload="))
        .collect();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert!(reloads[0].ends_with(" config check"), "{reloads:?}");
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    assert!(
        exec.ends_with(" serve") && exec.contains("--config "),
        "{exec}"
    );
}
