//! The command line as a packaged tool: `--version` (version, git revision, libpcap),
//! the man page and the shell completions of `--generate`, checked against `--help`.

mod common;

use common::run;
use std::collections::BTreeSet;
use std::process::Command;

/// Every flag `--help` lists (`-r`, `--listen`, `-h`, `--help`, ...).
fn help_flags() -> BTreeSet<String> {
    let help = run(&["--help"]);
    help.expect_code(0);
    let mut flags = BTreeSet::new();
    for line in help.stdout_text().lines() {
        // An option's line starts in the first columns; its description's wrapped lines
        // (which may start with a dash) are indented to the description column.
        let indent = line.len() - line.trim_start().len();
        let line = line.trim_start();
        if !line.starts_with('-') || indent > 8 {
            continue;
        }
        for token in line
            .split([',', ' ', '='])
            .take_while(|t| t.starts_with('-') || t.is_empty())
        {
            let flag: String = token
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if flag.len() > 1 {
                flags.insert(flag);
            }
        }
    }
    flags
}

fn generate(what: &str) -> String {
    let r = run(&["--generate", what]);
    r.expect_code(0);
    r.stdout_text()
}

#[test]
fn every_flag_of_help_is_in_the_man_page() {
    let flags = help_flags();
    for must in [
        "-r",
        "--listen",
        "-C",
        "-G",
        "-W",
        "-z",
        "-Z",
        "--stats-json",
        "--help",
    ] {
        assert!(flags.contains(must), "--help lists {must}: {flags:?}");
    }
    // roff writes a minus as \-.
    let man = generate("man").replace("\\-", "-");
    assert!(
        man.starts_with(".ie") || man.contains(".TH spandump 1"),
        "{man}"
    );
    for flag in &flags {
        // A flag in the man page's option list: `.TP`, then `\fB-r\fR` or
        // `\fB-i\fR, \fB--interface\fR`.
        assert!(
            man.contains(&format!("\\fB{flag}\\fR")),
            "{flag} is not in the man page's options"
        );
    }
}

#[test]
fn completions_know_every_long_flag() {
    let flags = help_flags();
    let bash = generate("bash");
    let zsh = generate("zsh");
    let fish = generate("fish");
    assert!(zsh.starts_with("#compdef spandump"), "{zsh}");
    for flag in flags.iter().filter(|f| f.starts_with("--")) {
        assert!(bash.contains(flag.as_str()), "bash completion lacks {flag}");
        assert!(zsh.contains(flag.as_str()), "zsh completion lacks {flag}");
        let long = format!("-l {}", &flag[2..]);
        assert!(fish.contains(&long), "fish completion lacks {flag}");
    }
    // The bash script loads and registers itself.
    let dir = tempfile::tempdir().unwrap();
    let script = common::write_file(dir.path(), "spandump.bash", bash.as_bytes());
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p spandump",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("spandump"));
    // Not in --help's options, and a bad value is a usage error.
    assert!(!run(&["--help"]).stdout_text().contains("--generate <"));
    run(&["--generate", "csh"]).expect_code(2);
    run(&["--generate", "man", "-r", "x"]).expect_code(2);
}

#[test]
fn version_names_the_revision_and_libpcap() {
    let r = run(&["--version"]);
    r.expect_code(0);
    let text = r.stdout_text();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let want = format!("spandump {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(first.starts_with(&want), "{text}");
    let revision = first[want.len()..].trim_end_matches(')');
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match head {
        Ok(out) if out.status.success() && std::env::var_os("SPANDUMP_GIT_REVISION").is_none() => {
            let head = String::from_utf8_lossy(&out.stdout);
            assert!(
                revision.len() >= 7 && head.starts_with(revision),
                "revision {revision} is not HEAD {head}"
            );
        }
        _ => assert!(!revision.is_empty()),
    }
    // The oracle for libpcap: the loader's cache.
    let ldconfig = Command::new("ldconfig").arg("-p").output();
    let libpcap = lines.next().unwrap_or_default();
    if let Ok(out) = ldconfig {
        let installed = String::from_utf8_lossy(&out.stdout).contains("libpcap.so");
        assert_eq!(libpcap.starts_with("libpcap: found ("), installed, "{text}");
    }
    assert!(libpcap.starts_with("libpcap: "), "{text}");
}
