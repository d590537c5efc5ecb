//! The public VXLAN / GENEVE captures in `testdata/` (copied from
//! `shared/captures/cloud/`, see `testdata/MANIFEST.md`): one table of frames per
//! filter and skip counters, tshark's decode of the written frames against tshark's
//! decode of the inner layer of the input, and the session names in text lines,
//! `--list-sessions`, `--stats-json` and pcapng interfaces.
//!
//! The numbers are facts about the files, from `capinfos -c` and tshark 4.0.17:
//!
//! * V1 = `tshark -n -r F [-d udp.port==8472,vxlan] -Y "vxlan or geneve" -T fields -E occurrence=f -e vxlan.vni -e geneve.vni -e ip.src | sort | uniq -c`
//! * V2 = `tshark -n -r F -Y "vxlan && arp" | wc -l` (and other display filters, named in the row)
//! * X  = `tshark -x -r F` (hex read by hand)

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;

struct Row {
    file: &'static str,
    args: &'static [&'static str],
    read: u64,
    written: u64,
    filtered: u64,
    rejected: u64,
    skips: &'static [(&'static str, u64)],
    notes: &'static [(&'static str, u64)],
}

const fn row(file: &'static str, read: u64, written: u64) -> Row {
    Row {
        file,
        args: &[],
        read,
        written,
        filtered: 0,
        rejected: 0,
        skips: &[],
        notes: &[],
    }
}

const ROWS: &[Row] = &[
    // V1: 10 x VXLAN VNI 100 on 4789 (5 from each VTEP).
    row("tcpdump-vxlan.pcap", 10, 10),
    Row {
        args: &["--vni", "100", "--from", "192.168.203.1"],
        filtered: 5,
        ..row("tcpdump-vxlan.pcap", 10, 5)
    },
    Row {
        args: &["--vni", "101"],
        filtered: 10,
        ..row("tcpdump-vxlan.pcap", 10, 0)
    },
    // V2: 2 ARP frames inside; the expression sees the mirrored frame.
    Row {
        args: &["arp"],
        rejected: 8,
        ..row("tcpdump-vxlan.pcap", 10, 2)
    },
    // The same frames on 8472: UDP to no mirror port unless asked for.
    Row {
        skips: &[("not-gre", 10)],
        ..row("tcpdump-vxlan_port_8472.pcap", 10, 0)
    },
    Row {
        args: &["--vxlan-port", "8472"],
        ..row("tcpdump-vxlan_port_8472.pcap", 10, 10)
    },
    // V1: GENEVE VNI 0xa from 20.0.0.1 (19, with an 8-byte critical option), VNI 0xb
    // from 20.0.0.2 (20).
    row("tcpdump-geneve.pcap", 39, 39),
    Row {
        args: &["--vni", "10"],
        filtered: 20,
        ..row("tcpdump-geneve.pcap", 39, 19)
    },
    Row {
        args: &["--vni", "0xb", "--vni", "10"],
        ..row("tcpdump-geneve.pcap", 39, 39)
    },
    // V2 `-Y "geneve && tcp.port == 22"`: 33 frames of the SSH session.
    Row {
        args: &["tcp", "port", "22"],
        rejected: 6,
        ..row("tcpdump-geneve.pcap", 39, 33)
    },
    // Google mirroring: VNI 0, bare IPv4, three class 0x0132 options.
    row("tcpdump-geneve-gcp.pcap", 1, 1),
    Row {
        args: &["--vni", "0"],
        ..row("tcpdump-geneve-gcp.pcap", 1, 1)
    },
    // One GSO super-frame each (4-7 kB inner frames), every outer / inner family.
    row("tcpdump-gso-ipv4-geneve-ipv4.pcap", 1, 1),
    row("tcpdump-gso-ipv4-geneve-ipv6.pcap", 1, 1),
    row("tcpdump-gso-ipv4-vxlan-ipv4.pcap", 1, 1),
    row("tcpdump-gso-ipv4-vxlan-ipv6.pcap", 1, 1),
    row("tcpdump-gso-ipv6-geneve-ipv4.pcap", 1, 1),
    row("tcpdump-gso-ipv6-geneve-ipv6.pcap", 1, 1),
    row("tcpdump-gso-ipv6-vxlan-ipv4.pcap", 1, 1),
    row("tcpdump-gso-ipv6-vxlan-ipv6.pcap", 1, 1),
    Row {
        args: &["--from", "2001:db8::/32"],
        filtered: 1,
        ..row("tcpdump-gso-ipv6-vxlan-ipv6.pcap", 1, 0)
    },
    // GENEVE 0x86DD (bare IPv6) and 0x0806 (bare ARP).
    row("zeek-geneve-ipv6.pcap", 2, 2),
    row("zeek-geneve-arp.pcap", 1, 1),
    Row {
        args: &["arp"],
        ..row("zeek-geneve-arp.pcap", 1, 1)
    },
    // X: IP total length 44, UDP length 24 = 8 + GENEVE 8 + options 8: no inner frame.
    Row {
        skips: &[("runt-inner", 1)],
        ..row("zeek-geneve-truncated.pcapng", 1, 0)
    },
    // V1: 12 x VXLAN VNI 1; V2 `-Y "vxlan && http"`: 1.
    row("zeek-vxlan-encapsulated-http.pcap", 12, 12),
    // Three VXLAN levels: only the outer one is the mirror; X: its flags word is
    // 0x08000000 but the last byte of the VNI word (reserved) is not 0.
    Row {
        notes: &[("vxlan-reserved-bits", 1)],
        ..row("zeek-vxlan-triple-v2.pcap", 1, 1)
    },
    // V1: 10 x GENEVE VNI 0x7b, inner ICMP and ARP.
    row("suricata-verify-geneve-decoder-input.pcap", 10, 10),
    // One VXLAN packet (VNI 37 read by hand, X) and two plain DNS packets.
    Row {
        skips: &[("not-gre", 2)],
        ..row("suricata-verify-vxlan-decoder-01-input.pcap", 3, 1)
    },
];

#[test]
fn cloud_captures_table() {
    let mut failures = Vec::new();
    for r in ROWS {
        let input = std::fs::read(testdata(r.file)).unwrap();
        let f = run_on_bytes(&input, r.file, r.args);
        let ctx = format!("spandump -r testdata/{} {}", r.file, r.args.join(" "));
        if f.run.code() != Some(0) {
            failures.push(format!("{ctx}: exit {:?}\n{}", f.run.status, f.run.stderr));
            continue;
        }
        let s = f.run.summary();
        let mut problems = Vec::new();
        let got = (s.read, s.written, s.filtered, s.rejected);
        let want = (r.read, r.written, r.filtered, r.rejected);
        if got != want {
            problems.push(format!(
                "read/written/filtered/rejected {got:?}, expected {want:?}"
            ));
        }
        let want_skips: BTreeMap<String, u64> =
            r.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        if s.skips != want_skips {
            problems.push(format!("skips {:?}, expected {:?}", s.skips, want_skips));
        }
        for (id, n) in r.notes {
            if s.note(id) != *n {
                problems.push(format!("note {id} = {}, expected {n}", s.note(id)));
            }
        }
        let records = f.capture().records.len() as u64;
        if records != r.written {
            problems.push(format!("{records} records written, expected {}", r.written));
        }
        if !problems.is_empty() {
            failures.push(format!("{ctx}:\n    {}", problems.join("\n    ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every cloud capture in testdata/ has a row.
#[test]
fn table_covers_every_cloud_capture() {
    for entry in std::fs::read_dir(testdata("")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let cloud = name.contains("vxlan") || name.contains("geneve");
        if cloud {
            assert!(
                ROWS.iter().any(|r| r.file == name),
                "{name} has no row in the table"
            );
        }
    }
}

/// Fields compared between the input's inner layer and the output.
const FIELDS: [&str; 8] = [
    "frame.time_epoch",
    "frame.protocols",
    "eth.src",
    "eth.dst",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
];
const ETH: [usize; 2] = [2, 3];

fn decode(file: &Path, decode_as: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut extra = vec!["-E", "occurrence=a", "-E", "aggregator=|"];
    extra.extend_from_slice(decode_as);
    tshark_fields(file, None, &FIELDS, &extra)
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| {
                    if c.is_empty() {
                        Vec::new()
                    } else {
                        c.split('|').map(str::to_string).collect()
                    }
                })
                .collect()
        })
        .collect()
}

/// The inner layer of an input frame as tshark decodes it: protocols after the
/// first `vxlan:` / `geneve:`, the outer Ethernet and outer IP occurrences removed.
/// Bare IP / ARP payloads get the synthesized Ethernet header spandump writes.
fn inner_of(mut frame: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let protocols = frame[1][0].clone();
    let (outer, inner) = ["vxlan:", "geneve:"]
        .iter()
        .filter_map(|m| protocols.find(m).map(|i| (i, m.len())))
        .min()
        .map(|(i, l)| (&protocols[..i], &protocols[i + l..]))
        .expect("a VXLAN or GENEVE frame");
    let bare = !inner.starts_with("eth:");
    frame[1] = vec![if bare {
        format!("eth:ethertype:{inner}")
    } else {
        inner.to_string()
    }];
    for col in ETH {
        frame[col].remove(0);
        if bare {
            frame[col].insert(0, "00:00:00:00:00:00".to_string());
        }
    }
    let outer_ip = if outer.contains(":ipv6:") { 6 } else { 4 };
    let col = if outer_ip == 4 { 4 } else { 6 };
    frame[col].remove(0);
    frame[col + 1].remove(0);
    frame
}

#[test]
fn tshark_decodes_the_inner_layer() {
    if !have_tool("tshark") {
        return;
    }
    let golden: &[(&str, &[&str], &[&str])] = &[
        ("tcpdump-vxlan.pcap", &[], &[]),
        (
            "tcpdump-vxlan_port_8472.pcap",
            &["--vxlan-port", "8472"],
            &["-d", "udp.port==8472,vxlan"],
        ),
        ("tcpdump-geneve.pcap", &[], &[]),
        ("tcpdump-geneve-gcp.pcap", &[], &[]),
        ("tcpdump-gso-ipv4-geneve-ipv4.pcap", &[], &[]),
        ("tcpdump-gso-ipv4-geneve-ipv6.pcap", &[], &[]),
        ("tcpdump-gso-ipv4-vxlan-ipv4.pcap", &[], &[]),
        ("tcpdump-gso-ipv4-vxlan-ipv6.pcap", &[], &[]),
        ("tcpdump-gso-ipv6-geneve-ipv4.pcap", &[], &[]),
        ("tcpdump-gso-ipv6-geneve-ipv6.pcap", &[], &[]),
        ("tcpdump-gso-ipv6-vxlan-ipv4.pcap", &[], &[]),
        ("tcpdump-gso-ipv6-vxlan-ipv6.pcap", &[], &[]),
        ("zeek-geneve-ipv6.pcap", &[], &[]),
        ("zeek-geneve-arp.pcap", &[], &[]),
        ("zeek-vxlan-encapsulated-http.pcap", &[], &[]),
        ("zeek-vxlan-triple-v2.pcap", &[], &[]),
        ("suricata-verify-geneve-decoder-input.pcap", &[], &[]),
    ];
    for (file, args, decode_as) in golden {
        let input = testdata(file);
        let f = run_on_bytes(&std::fs::read(&input).unwrap(), file, args);
        f.run.expect_code(0);
        let out = f.dir.path().join("out.pcap");
        let want: Vec<_> = decode(&input, decode_as)
            .into_iter()
            .map(inner_of)
            .collect();
        let got = decode(&out, &[]);
        assert_eq!(got.len(), want.len(), "{file}: frame count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{file} frame {}", i + 1);
        }
    }
}

#[test]
fn sessions_are_named_by_vni() {
    // Text lines.
    let r = run(&["-r", &testdata("tcpdump-vxlan.pcap").display().to_string()]);
    r.expect_code(0);
    let text = r.stdout_text();
    assert_eq!(text.lines().count(), 10);
    assert!(
        text.lines().all(|l| l.contains(" vxlan vni 100: ")),
        "{text}"
    );
    let r = run(&[
        "-r",
        &testdata("tcpdump-geneve-gcp.pcap").display().to_string(),
        "-v",
    ]);
    let text = r.stdout_text();
    assert!(text.contains(" geneve vni 0 ("), "{text}");
    assert!(
        text.contains("gcp network id 800000d1, gcp endpoint id 0800000dc0a8640200000000000000")
            && text.contains("gcp profile id 0000000000001234"),
        "{text}"
    );
    // --list-sessions: one row per sender, the VNI in its column.
    let r = run(&[
        "-r",
        &testdata("tcpdump-geneve.pcap").display().to_string(),
        "--list-sessions",
    ]);
    r.expect_code(0);
    let table = r.stdout_text();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][4], "VNI", "{table}");
    let mut sessions: Vec<(&str, &str, &str, &str)> =
        rows[1..].iter().map(|r| (r[0], r[1], r[4], r[9])).collect();
    sessions.sort();
    assert_eq!(
        sessions,
        [
            ("20.0.0.1", "geneve", "10", "19"),
            ("20.0.0.2", "geneve", "11", "20")
        ],
        "{table}"
    );
    // --stats-json: the VNI of each session.
    let line = common::final_stats_of(&testdata("zeek-geneve-ipv6.pcap"));
    let session = &line["sessions"][0];
    assert_eq!(session["encap"], "geneve");
    assert_eq!(session["vni"], 0x123456);
    assert_eq!(session["payload"], "ipv6");
    // pcapng: one interface per session, named after it.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.pcapng");
    run(&[
        "-r",
        &testdata("tcpdump-vxlan.pcap").display().to_string(),
        "-w",
        &out.display().to_string(),
    ])
    .expect_code(0);
    if have_tool("tshark") {
        let mut names: Vec<String> = tshark_fields(&out, None, &["frame.interface_name"], &[])
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names,
            ["vxlan 192.168.202.1 vni 100", "vxlan 192.168.203.1 vni 100"]
        );
    }
}
