//! `synack probe --cures`: the table of what each cure saves on the
//! user's path, and the same as one JSON document.

use crate::human_ns;
use serde_json::{Value, json};
use std::io::{self, Write};
use std::time::Duration;
use synack_probe::cures::{Cure, Pattern, Row, median};
use synack_probe::url::HttpUrl;

fn ns(d: Duration) -> i64 {
    d.as_nanos() as i64
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1000.0
}

/// The baseline's total time: a new connection for every request.
fn baseline(rows: &[Row]) -> Option<Duration> {
    rows.iter()
        .find(|r| r.cure == Cure::NewEach)
        .and_then(|r| r.result.as_ref().ok())
        .map(|m| m.total)
}

/// What the server and path support, in words.
fn support(row: &Row) -> String {
    match (&row.result, row.supported()) {
        (_, None) => "-".into(),
        (Err(e), _) => format!("no: {e}"),
        (Ok(_), Some(true)) => "yes".into(),
        (Ok(m), Some(false)) => {
            let what = match row.cure {
                Cure::FastOpen => "SYNs carried data",
                Cure::Resumption => "resumed",
                Cure::EarlyData | Cure::FastOpenEarlyData => "took the early data",
                _ => "took effect",
            };
            format!("no: {} of {} {what}", m.took_effect, m.connections)
        }
    }
}

pub fn table(out: &mut impl Write, url: &HttpUrl, p: &Pattern, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "{} requests to {url}, {} at a time{}",
        p.requests,
        p.concurrency,
        if rows.iter().any(|r| matches!(
            r.cure,
            Cure::FastOpen | Cure::Resumption | Cure::EarlyData | Cure::FastOpenEarlyData
        ) && r.result.is_ok())
        {
            " (cookies and tickets from one uncounted warm-up connection per worker)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "{:<22}{:>12}{:>13}{:>11}  {:<22}{:>7}  supported",
        "cure", "first byte", "per request", "total", "saved vs new each", "conns"
    )?;
    let base = baseline(rows);
    for row in rows {
        let label = row.cure.label(url.tls);
        match &row.result {
            Ok(m) => {
                let saved = match (base, row.cure) {
                    (_, Cure::NewEach) | (None, _) => "-".to_string(),
                    (Some(b), _) => {
                        let saved = ns(b) - ns(m.total);
                        format!(
                            "{} ({:.0}%)",
                            human_ns(saved),
                            100.0 * saved as f64 / ns(b).max(1) as f64
                        )
                    }
                };
                writeln!(
                    out,
                    "{label:<22}{:>12}{:>13}{:>11}  {saved:<22}{:>7}  {}{}",
                    human_ns(ns(median(&m.first_bytes))),
                    human_ns(ns(median(&m.requests))),
                    human_ns(ns(m.total)),
                    m.connections,
                    support(row),
                    if m.errors > 0 {
                        format!(" ({} HTTP errors)", m.errors)
                    } else {
                        String::new()
                    }
                )?;
            }
            Err(_) => writeln!(
                out,
                "{label:<22}{:>12}{:>13}{:>11}  {:<22}{:>7}  {}",
                "-",
                "-",
                "-",
                "-",
                "-",
                support(row)
            )?,
        }
    }
    Ok(())
}

pub fn json(url: &HttpUrl, p: &Pattern, rows: &[Row]) -> Value {
    let base = baseline(rows);
    let cures: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut o = json!({
                "cure": row.cure.key(),
                "supported": row.supported(),
            });
            match &row.result {
                Ok(m) => {
                    let saved = base.filter(|_| row.cure != Cure::NewEach).map(|b| {
                        let saved = ns(b) - ns(m.total);
                        (
                            saved as f64 / 1000.0,
                            100.0 * saved as f64 / ns(b).max(1) as f64,
                        )
                    });
                    o["first_byte_p50_us"] = json!(us(median(&m.first_bytes)));
                    o["request_p50_us"] = json!(us(median(&m.requests)));
                    o["total_us"] = json!(us(m.total));
                    o["saved_us"] = json!(saved.map(|s| s.0));
                    o["saved_pct"] = json!(saved.map(|s| (s.1 * 10.0).round() / 10.0));
                    o["connections"] = json!(m.connections);
                    o["took_effect"] = json!(m.took_effect);
                    o["http_errors"] = json!(m.errors);
                    o["requests_us"] = json!(m.requests.iter().map(|d| us(*d)).collect::<Vec<_>>());
                }
                Err(e) => o["error"] = json!(e),
            }
            o
        })
        .collect();
    json!({
        "url": url.to_string(),
        "requests": p.requests,
        "concurrency": p.concurrency,
        "cures": cures,
    })
}
