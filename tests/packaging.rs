//! Packaging for the Kubernetes case: the image `packaging/image-from-binary.sh` builds
//! FROM scratch around the binary under test (checked from the outside: podman cannot
//! run containers on the CI machine, so the image is mounted and its binary run under
//! chroot), and the manifests of `deploy/` (only NET_RAW; a command line spandump
//! accepts).

mod common;

use common::netns::is_root;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use yaml_rust2::{Yaml, YamlLoader};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Whether podman can be used: root and podman. Missing under CI=true fails the test;
/// elsewhere the test is skipped with a message.
fn podman_or_skip() -> bool {
    let ci = std::env::var_os("CI").is_some();
    if !is_root() {
        assert!(
            !ci,
            "the image test needs root (rootful podman), and CI is set"
        );
        eprintln!("note: not root, skipping the image test");
        return false;
    }
    let found = Command::new("podman").arg("--version").output().is_ok();
    if !found {
        assert!(
            !ci,
            "podman is not installed but CI is set: .ci/test must install it"
        );
        eprintln!("note: podman not found, skipping the image test (apt-get install podman)");
    }
    found
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The image, removed (with its mount) when the test ends.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        for args in [["image", "unmount", &self.0], ["rmi", "--force", &self.0]] {
            let _ = Command::new("podman").args(args).output();
        }
    }
}

#[test]
fn image_from_binary_holds_what_spandump_needs_and_nothing_else() {
    if !podman_or_skip() {
        return;
    }
    let binary = common::spandump_bin();
    let image = Image(format!("localhost/spandump-test:{}", std::process::id()));
    let out = Command::new("bash")
        .arg(repo("packaging/image-from-binary.sh"))
        .args([binary, &image.0])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "image-from-binary.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = podman(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}}",
        &image.0,
    ]);
    assert_eq!(config, r#"65534:65534 ["/usr/bin/spandump"]"#);
    let root = PathBuf::from(podman(&["image", "mount", &image.0]));
    assert_eq!(
        fs::read(root.join("usr/bin/spandump")).unwrap(),
        fs::read(binary).unwrap(),
        "the image holds the binary under test"
    );
    for absent in ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/apt-get"] {
        assert!(!root.join(absent).exists(), "{absent} in a minimal image");
    }
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nobody:x:65534:65534:"), "{passwd}");
    // The binary runs from the image's root alone, as nobody, and finds libpcap there.
    let out = Command::new("chroot")
        .args(["--userspec=65534:65534"])
        .arg(&root)
        .args(["/usr/bin/spandump", "--version"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let want = format!("spandump {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&want), "{text}");
    assert!(text.contains("\nlibpcap: found (libpcap.so"), "{text}");
    // And it works there: a capture in, frames out (the mount is read-only: pipes).
    let input = fs::read(common::testdata("ovn-mirrors.pcap")).unwrap();
    let mut child = Command::new("chroot")
        .arg(&root)
        .args(["/usr/bin/spandump", "-r", "-", "-c", "3", "-w", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let capture = common::read_capture_bytes(&out.stdout).unwrap();
    assert_eq!(capture.records.len(), 3);
}

/// Every flag `--help` lists.
fn help_flags() -> BTreeSet<String> {
    let help = common::run(&["--help"]).stdout_text();
    help.lines()
        // Option lines start in the first columns; wrapped descriptions are indented.
        .filter(|l| l.len() - l.trim_start().len() <= 8)
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| {
            l.split([',', ' '])
                .filter(|t| t.starts_with('-'))
                .map(|t| {
                    // `-v...` (a counted flag), `--listen <ADDR>`.
                    t.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect()
                })
                .collect::<Vec<String>>()
        })
        .collect()
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .unwrap_or_else(|| panic!("not a list: {y:?}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn containers(doc: &Yaml) -> &Vec<Yaml> {
    let spec = match doc["kind"].as_str() {
        Some("Pod") => &doc["spec"],
        Some("DaemonSet") => &doc["spec"]["template"]["spec"],
        other => panic!("unexpected kind {other:?}"),
    };
    spec["containers"].as_vec().expect("containers")
}

#[test]
fn deploy_manifests_grant_net_raw_only_and_a_valid_command_line() {
    let flags = help_flags();
    let mut seen = BTreeSet::new();
    for name in ["pod.yaml", "daemonset.yaml"] {
        let text = fs::read_to_string(repo("deploy").join(name)).unwrap();
        let docs = YamlLoader::load_from_str(&text).unwrap();
        assert_eq!(docs.len(), 1, "{name}");
        seen.insert(docs[0]["kind"].as_str().unwrap().to_string());
        for c in containers(&docs[0]) {
            let sc = &c["securityContext"];
            assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
            assert_eq!(strings(&sc["capabilities"]["add"]), ["NET_RAW"], "{name}");
            assert_eq!(sc["privileged"].as_bool(), Some(false), "{name}");
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{name}"
            );
            // The image's entry point (packaging/collect-root.sh).
            assert_eq!(strings(&c["command"]), ["/usr/bin/spandump"], "{name}");
            // $(VAR) comes from the container's env; a documentation address stands in.
            let env: BTreeSet<String> = c["env"]
                .as_vec()
                .map(|v| {
                    v.iter()
                        .filter_map(|e| e["name"].as_str())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let args: Vec<String> = strings(&c["args"])
                .into_iter()
                .map(
                    |a| match a.strip_prefix("$(").and_then(|v| v.strip_suffix(')')) {
                        Some(var) => {
                            assert!(env.contains(var), "{name}: $({var}) is not in env");
                            "198.51.100.21".to_string()
                        }
                        None => a,
                    },
                )
                .collect();
            for arg in args.iter().filter(|a| a.starts_with('-')) {
                assert!(
                    flags.contains(arg),
                    "{name}: {arg} is not in spandump --help"
                );
            }
            // clap parses every value before it meets --help: exit 0 means every flag
            // and value is one spandump accepts.
            let mut argv = args.clone();
            argv.push("--help".into());
            let r = common::run(&argv);
            assert_eq!(r.code(), Some(0), "{name}: {args:?}: {}", r.stderr);
            // Mounted paths the command writes to are on a volume.
            for path in args.iter().filter(|a| a.starts_with('/')) {
                let mounted = c["volumeMounts"].as_vec().is_some_and(|m| {
                    m.iter()
                        .filter_map(|v| v["mountPath"].as_str())
                        .any(|p| path.starts_with(p))
                });
                assert!(mounted, "{name}: {path} is not on a volume");
            }
        }
    }
    assert_eq!(seen, BTreeSet::from(["Pod".into(), "DaemonSet".into()]));
}
