//! `synack report` in a real browser (Debian's chromium, headless): the
//! page loads without console errors, holds a row per server of the sample
//! and its four charts and a ladder per listed attempt, and its screenshot
//! is far from blank. Without chromium the test says so and skips, except
//! in CI (which installs it), where that is a failure.

mod support;
use support::{records, sample, stderr, synack};

use std::path::Path;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI (.ci/run installs it)"
        );
        eprintln!("skipped: no chromium to load the report in (apt-get install chromium)");
    }
    found
}

fn headless(browser: &str) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-extensions",
    ]);
    c
}

/// A screenshot's size in bytes (PNG: a blank page compresses to little).
fn screenshot(browser: &str, url: &str, dir: &Path, name: &str) -> u64 {
    let png = dir.join(name);
    let o = headless(browser)
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1200,2400")
        .arg(url)
        .output()
        .unwrap();
    assert!(png.exists(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::metadata(&png).unwrap().len()
}

#[test]
fn the_report_loads_in_a_browser_with_its_tables_and_charts() {
    let Some(browser) = chromium() else { return };
    let dir = std::env::temp_dir().join(format!("synack-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let o = synack(&["report", &sample(), "-o", html.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        !text.contains("http://") && !text.contains("https://"),
        "the page fetches nothing"
    );

    let url = format!("file://{}", html.display());
    let o = headless(browser)
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let log = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // The numbers the page must show, from the same records as JSON.
    let recs = records(&synack(&["analyze", &sample(), "--format", "json"]));
    let mut servers: Vec<&str> = recs
        .iter()
        .filter(|r| r["outcome"] != "midstream")
        .map(|r| r["server"].as_str().unwrap())
        .collect();
    servers.sort();
    servers.dedup();
    let failed = recs
        .iter()
        .filter(|r| {
            ["refused", "unreachable", "timeout", "half_open", "reset"]
                .contains(&r["outcome"].as_str().unwrap())
        })
        .count();
    let section = |id: &str| {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let end = start + dom[start..].find("</table>").unwrap();
        dom[start..end].to_string()
    };
    let rows = |id: &str| section(id).matches("<tr>").count() - 1;
    assert_eq!(rows("servers"), servers.len(), "{}", section("servers"));
    assert_eq!(rows("failed"), failed.min(20));
    // RTT CDF per server, the three legs, the histogram, outcomes and SYN
    // retransmissions over time.
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 5);
    let listed = rows("slowest") + rows("failed");
    assert_eq!(dom.matches("<svg class=\"ladder\"").count(), listed);
    assert!(dom.contains(&format!(
        "{} attempts",
        recs.iter().filter(|r| r["outcome"] != "midstream").count()
    )));

    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!doctype html><html><body></body></html>").unwrap();
    let empty = screenshot(
        browser,
        &format!("file://{}", blank.display()),
        &dir,
        "blank.png",
    );
    let shot = screenshot(browser, &url, &dir, "report.png");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        shot > empty * 10,
        "screenshot {shot} bytes, a blank page {empty}"
    );
}

/// `probe --report`: records of another source make the same page (no
/// browser needed to count them).
#[test]
fn probe_report_counts_its_attempts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let html =
        std::env::temp_dir().join(format!("synack-probe-report-{}.html", std::process::id()));
    let o = synack(&[
        "probe",
        &target,
        "-c",
        "3",
        "-i",
        "0",
        "--report",
        html.to_str().unwrap(),
    ]);
    drop(listener);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_file(&html);
    assert!(
        text.contains("3 attempts, 3 established, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<td class=\"l\">{target}</td><td>3</td>")),
        "{text}"
    );
}
