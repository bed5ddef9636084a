//! `scripts/capacity.py` on the committed sample tables (the benchmark's,
//! the backends', the fleet run's): it must read them all and plan every
//! target rate, and `deploy/capacity.md` must show what it prints, so
//! neither the script nor the document can drift from the tables.

use std::process::Command;

fn capacity(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg("scripts/capacity.py")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs")
}

/// The cells of the row named `name` in the fleet table.
fn row<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{text}"));
    line.trim_matches('|')
        .split('|')
        .map(str::trim)
        .skip(1)
        .collect()
}

#[test]
fn the_model_plans_every_rate_from_the_sample_tables() {
    let out = capacity(&[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rate in ["10 k req/s", "100 k req/s", "1 M req/s"] {
        assert!(text.contains(rate), "{text}");
    }
    // Inputs come from the tables, named with their commands.
    for source in [
        "scripts/bench.sh",
        "scripts/bench-backends.sh",
        "cargo test --test multihost fleet",
    ] {
        assert!(text.contains(source), "{source}: {text}");
    }
    // More load never needs fewer hosts, masters or MongoDB members.
    for name in ["hosts", "Redis masters"] {
        let cells: Vec<u64> = row(&text, name)
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        assert_eq!(cells.len(), 3);
        assert!(cells.windows(2).all(|w| w[0] <= w[1]), "{name}: {cells:?}");
    }
    let hosts: Vec<u64> = row(&text, "hosts")
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(hosts[2] > hosts[0], "{hosts:?}");
    // The document holds this very output.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/capacity.md"))
        .unwrap();
    for line in text.lines().filter(|l| l.starts_with("| ")) {
        assert!(
            doc.contains(line),
            "deploy/capacity.md lacks the line {line:?}: re-run scripts/capacity.py"
        );
    }
}

#[test]
fn a_table_that_is_not_the_benchmark_is_refused_in_one_line() {
    let out = capacity(&["--bench", "README.md"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("capacity.py: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
