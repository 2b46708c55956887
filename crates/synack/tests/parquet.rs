//! `analyze --format parquet -o FILE` read back by pyarrow: the rows are
//! the JSON records', the columns have their types (timestamp[ns] in UTC,
//! integer µs, booleans, strings) and the values agree with the JSON's.
//! Built with the `parquet` feature (CI builds all features); without
//! pyarrow the test says so and skips, except in CI, which installs it.
#![cfg(feature = "parquet")]

mod support;
use support::{records, sample, stderr, synack};

use std::process::Command;

fn pyarrow() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyarrow.parquet"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "pyarrow is missing in CI (.ci/run installs it)"
        );
        eprintln!("skipped: no pyarrow to read the file back (pip install pyarrow)");
    }
    ok
}

#[test]
fn parquet_reads_back_in_pyarrow_with_the_records_types_and_values() {
    if !pyarrow() {
        return;
    }
    let file = std::env::temp_dir().join(format!("synack-{}.parquet", std::process::id()));
    let o = synack(&[
        "analyze",
        &sample(),
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = r#"
import sys, json, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
types = {f.name: str(f.type) for f in t.schema}
d = t.to_pydict()
print(json.dumps({
  "rows": t.num_rows,
  "types": {k: types[k] for k in ["ts", "rtt_total_us", "client_sack", "outcome", "syn_count"]},
  "outcomes": d["outcome"],
  "rtt_total_us": d["rtt_total_us"],
  "ts_ns": [None if v is None else int(v.timestamp() * 1e6) for v in d["ts"]],
}))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = records(&synack(&["analyze", &sample(), "--format", "json"]));
    assert_eq!(got["rows"], recs.len());
    assert_eq!(got["types"]["ts"], "timestamp[ns, tz=UTC]");
    assert_eq!(got["types"]["rtt_total_us"], "int64");
    assert_eq!(got["types"]["client_sack"], "bool");
    assert_eq!(got["types"]["outcome"], "string");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(got["outcomes"][i], r["outcome"], "row {i}");
        let json_us = r["rtt_us"]["total"].as_f64().map(|v| v.floor() as i64);
        assert_eq!(got["rtt_total_us"][i].as_i64(), json_us, "row {i}: {r}");
    }
}
