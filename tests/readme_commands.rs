//! Every `mcla ...` command in the README's `sh` code blocks still runs (exit 0, no error), so
//! the README cannot drift into commands that no longer work (issue 18.6).  The "From R" and
//! Python sections are checked by their own packages' tests.  Commands run with the built binary
//! from a scratch directory beside a link to `../shared`, so `../shared/data/...` paths resolve as
//! they do from a checkout and files the commands write (`--ranef ranef.csv`) stay out of the tree.

mod common;

use common::shared_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands run shortened or not at all: (text that identifies them, what is done, why).
const SHORTENED: [(&str, &str, &str, &str); 2] = [
    (
        "--confint profile",
        "",
        "run without --confint profile",
        "profiling six parameters re-maximises the likelihood about 200 times (about 2 minutes); the profile code has its own tests in tests/cli_inference.rs",
    ),
    (
        "--effect x --nsim 1000",
        "--effect x --nsim 20",
        "run with --nsim 20",
        "1,000 simulated studies of 800 rows take minutes; tests/cli_bootstrap.rs and tests/bootstrap.rs test power itself",
    ),
];

/// Files the README's commands read that the README describes rather than ships: the planned
/// design of the `mcla power` example (40 subjects x 20 items, `x` = 0/1 by item).
fn prepare_files(dir: &Path) {
    let mut csv = String::from("subject,item,x\n");
    for s in 1..=40 {
        for i in 1..=20 {
            csv.push_str(&format!("s{s},i{i},{}\n", i % 2));
        }
    }
    std::fs::write(dir.join("subjects_items.csv"), csv).expect("write the planned design");
}

/// `cargo ...` lines are not `mcla` commands: `cargo run --release -- example` is checked as
/// `mcla example`, and `cargo test` is what runs this test.
fn as_mcla_command(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("cargo run --release -- ") {
        return Some(format!("mcla {rest}"));
    }
    line.starts_with("mcla ").then(|| line.to_string())
}

/// The commands of the README's ```sh blocks outside "From R" and the Python section, with
/// backslash continuations joined, in order.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut section = String::new();
    let mut in_block: Option<bool> = None; // Some(is sh block)
    let mut pending = String::new();
    for line in readme.lines() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            in_block = match in_block {
                None => Some(matches!(lang.trim(), "sh" | "bash" | "shell")),
                Some(_) => None,
            };
            continue;
        }
        match in_block {
            None => {
                if let Some(h) = line.strip_prefix("## ") {
                    section = h.trim().to_string();
                }
            }
            Some(true) if !(section.starts_with("From R") || section.contains("Python")) => {
                let part = line.trim_end();
                if let Some(head) = part.strip_suffix('\\') {
                    pending.push_str(head.trim());
                    pending.push(' ');
                    continue;
                }
                pending.push_str(part.trim_start());
                let full = std::mem::take(&mut pending);
                if let Some(cmd) = as_mcla_command(&full) {
                    commands.push(cmd);
                }
            }
            Some(_) => {}
        }
    }
    commands
}

/// A scratch `root/repo` working directory with `root/shared` linking to the reference data.
fn scratch(shared: &Path) -> PathBuf {
    let root = std::env::temp_dir().join(format!("mcla-readme-{}", std::process::id()));
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).expect("scratch directory");
    let link = root.join("shared");
    if !link.exists() {
        std::os::unix::fs::symlink(shared.canonicalize().expect("shared path"), &link)
            .expect("link to ../shared");
    }
    repo
}

#[test]
fn readme_commands_are_found_outside_the_r_and_python_sections() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let cmds = readme_commands(&readme);
    // the worked example, the inference section's fit, emmeans, compare, and `example`
    for needle in [
        "mcla example",
        "mcla fit --data ../shared/data/salamander.csv",
        "mcla compare",
    ] {
        assert!(
            cmds.iter().any(|c| c.starts_with(needle)),
            "no README command starting {needle:?} in {cmds:#?}"
        );
    }
    assert!(cmds.iter().all(|c| !c.ends_with('\\')), "{cmds:#?}");
    let sample = "## A\n```sh\nmcla fit --a \\\n    --b c\ncargo test\n```\n```text\nmcla not-run\n```\n## From R\n```sh\nmcla skipped\n```\n";
    assert_eq!(readme_commands(sample), ["mcla fit --a --b c"]);
}

#[test]
fn every_readme_command_runs_with_the_built_binary() {
    let Some(shared) = shared_dir() else { return };
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let cwd = scratch(&shared);
    prepare_files(&cwd);
    let bin = env!("CARGO_BIN_EXE_mcla");
    for cmd in readme_commands(&readme) {
        let mut run = cmd.clone();
        for (needle, replacement, what, why) in SHORTENED {
            if run.contains(needle) {
                eprintln!("README command shortened ({what}): {why}");
                run = run.replace(needle, replacement);
            }
        }
        let script = format!("mcla() {{ \"$MCLA_BIN\" \"$@\"; }}\n{run}\n");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("MCLA_BIN", bin)
            .current_dir(&cwd)
            .output()
            .expect("sh runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !err.contains("panicked"),
            "README command failed ({}):\n{cmd}\nstderr:\n{err}",
            out.status
        );
        if !cmd.contains("--out") {
            assert!(
                !out.stdout.is_empty(),
                "README command printed nothing: {cmd}"
            );
        }
    }
}
