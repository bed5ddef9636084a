//! The documents say what the binaries and the API do, checked against the
//! binaries and the API themselves: every flag `reviews --help` and `seed
//! --help` list is in `docs/operations.md` with the same variable and
//! default; every path and method of `/openapi.json` is in `docs/api.md`;
//! every route label `/metrics` can emit is documented; every file under
//! `tests/` has its row in the README's tests table.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{ADMIN_TOKEN, Options, TestApp};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A flag as `--help` lists it: its variable and its default, if any.
#[derive(Debug, PartialEq)]
struct Flag {
    env: Option<String>,
    default: Option<String>,
}

/// The flags `bin --help` lists (all but `--help` and `--version`).
fn help_flags(bin: &str) -> BTreeMap<String, Flag> {
    let out = common::process::without_service_env(&mut Command::new(bin))
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    // One entry per flag: its line and the description lines under it.
    let mut entries: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("--") || trimmed.starts_with("-h,") || trimmed.starts_with("-V,") {
            entries.push(trimmed.to_string());
        } else if let Some(last) = entries.last_mut() {
            last.push(' ');
            last.push_str(trimmed);
        }
    }
    let between = |entry: &str, open: &str| {
        entry.find(open).map(|at| {
            let rest = &entry[at + open.len()..];
            rest[..rest.find(']').expect("a closing bracket")].to_string()
        })
    };
    entries
        .iter()
        .filter(|e| e.starts_with("--"))
        .map(|entry| {
            let name = entry.split_whitespace().next().unwrap().to_string();
            let env = between(entry, "[env: ").map(|e| e.trim_end_matches('=').to_string());
            let default = between(entry, "[default: ");
            (name, Flag { env, default })
        })
        .collect()
}

/// The rows of the flag table under `heading` in `docs/operations.md`:
/// flag → (env column, default column), backticks removed.
fn doc_flags(heading: &str) -> BTreeMap<String, (String, String)> {
    let text = doc("operations.md");
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("docs/operations.md has no {heading:?}"));
    let table = &text[start..];
    let mut rows = BTreeMap::new();
    for line in table.lines().skip(1) {
        if line.starts_with('#') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with("`--") {
            continue;
        }
        let flag = cells[1]
            .trim_matches('`')
            .split_whitespace()
            .next()
            .unwrap();
        let plain = |c: &str| c.replace('`', "");
        rows.insert(flag.to_string(), (plain(cells[2]), plain(cells[3])));
    }
    rows
}

fn check_flags(bin: &str, heading: &str, at_least: usize) -> Vec<String> {
    let documented = doc_flags(heading);
    let listed = help_flags(bin);
    assert!(listed.len() >= at_least, "{bin} --help: {listed:?}");
    let mut problems = Vec::new();
    for (name, flag) in &listed {
        let Some((env, default)) = documented.get(name) else {
            problems.push(format!("{name} is not in the table under {heading:?}"));
            continue;
        };
        let env_shown = flag.env.clone().unwrap_or_else(|| "—".into());
        if *env != env_shown {
            problems.push(format!(
                "{name}: docs say env {env:?}, --help {env_shown:?}"
            ));
        }
        match &flag.default {
            // The machine's core count, which the docs name as such.
            Some(_) if name == "--workers" && default != "cores" => {
                problems.push(format!(
                    "--workers: docs say default {default:?}, not cores"
                ));
            }
            Some(_) if name == "--workers" => {}
            Some(d) if d != default => {
                problems.push(format!(
                    "{name}: docs say default {default:?}, --help {d:?}"
                ));
            }
            Some(_) => {}
            None if default.is_empty() => problems.push(format!("{name}: no default documented")),
            None => {}
        }
    }
    for name in documented.keys() {
        if !listed.contains_key(name) {
            problems.push(format!(
                "{name} is documented but {bin} --help has no such flag"
            ));
        }
    }
    problems
}

#[test]
fn every_flag_is_documented_with_its_variable_and_default() {
    let mut problems = check_flags(env!("CARGO_BIN_EXE_reviews"), "### Flags", 25);
    problems.extend(check_flags(env!("CARGO_BIN_EXE_seed"), "### seed flags", 9));
    assert!(
        problems.is_empty(),
        "docs/operations.md:\n{}",
        problems.join("\n")
    );
}

/// `{param}` segments as the docs write them (`:param`).
fn doc_path(openapi_path: &str) -> String {
    openapi_path
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_path_and_method_of_the_openapi_document_is_in_the_api_docs() {
    let app = TestApp::start(Options {
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Options::default()
    })
    .await;
    let openapi = app.get("/openapi.json").await.json();
    // Line breaks and indentation of the Markdown do not matter.
    let api = doc("api.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut problems = Vec::new();
    let mut operations = 0;
    for (path, item) in openapi["paths"].as_object().unwrap() {
        let shown = doc_path(path);
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if !["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
                .contains(&method.as_str())
            {
                continue;
            }
            operations += 1;
            // OPTIONS and HEAD are documented once for every path.
            let general = match method.as_str() {
                "OPTIONS" => api.contains("`OPTIONS` on any path of the API answers the preflight"),
                "HEAD" => api.contains("**HEAD** works wherever `GET` does"),
                _ => false,
            };
            let named = format!("{method} {shown}");
            // The path ends there: "`GET /products`" is not "/products/:id".
            let listed = api.match_indices(&named).any(|(at, _)| {
                api[at + named.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| matches!(c, '`' | '?' | ' ' | '.' | '|'))
            });
            if !(general || listed) {
                problems.push(format!("`{named}` is not in docs/api.md"));
            }
        }
    }
    assert!(operations > 20, "{operations} operations read");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_route_label_of_the_metrics_is_documented() {
    let ops = doc("operations.md");
    let line = ops
        .lines()
        .find(|l| l.contains("`reviews_http_requests_total{route,status}`"))
        .expect("operations.md documents reviews_http_requests_total");
    let missing: Vec<&str> = reviews::metrics::ROUTES
        .iter()
        .filter(|route| !line.contains(&format!("`{route}`")))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "route labels not documented: {missing:?}"
    );
}

#[test]
fn every_test_file_has_its_row_in_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("\n## Tests\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README's Tests section");
    let rows: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `tests/"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let mut missing = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(root.join("tests")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            files += 1;
            if !rows.contains(&name.as_str()) {
                missing.push(name);
            }
        }
    }
    assert!(files >= 20, "{files} test files found");
    assert!(
        missing.is_empty(),
        "test files without a row in the README's tests table: {missing:?}"
    );
    // And no row names a file that is gone.
    for row in rows {
        assert!(
            root.join("tests").join(row).exists(),
            "the README's tests table names tests/{row}, which does not exist"
        );
    }
}
