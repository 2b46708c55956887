//! The `synack watch` dashboard (ratatui): alerts on top, the listeners
//! table sorted by trouble, socket states, and counter rates with
//! sparklines of the last minute. `draw` renders one report into any
//! backend (the tests use `TestBackend`); `run` refreshes it on the
//! terminal until q, Esc or Ctrl-C. Colour only without NO_COLOR.

use anyhow::Result;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use synack_host::Watcher;
use synack_host::health::{self, Severity};
use synack_host::names::counter;
use synack_host::{Rates, STATE_NAMES};
use synack_render::host::{self, Report};

/// Counters drawn as sparklines: the handshake trouble signals.
pub const SPARK_COUNTERS: [&str; 5] = [
    counter::LISTEN_DROPS,
    counter::SYNCOOKIES_SENT,
    counter::TCP_REQ_Q_FULL_DROP,
    counter::TCP_SYN_RETRANS,
    counter::TCP_PASSIVE_OPENS,
];
const HISTORY: usize = 60;

/// Rates of the sparkline counters over the last refreshes.
#[derive(Default)]
pub struct History {
    series: [VecDeque<u64>; SPARK_COUNTERS.len()],
}

impl History {
    pub fn push(&mut self, rates: &Rates) {
        for (s, name) in self.series.iter_mut().zip(SPARK_COUNTERS) {
            if s.len() == HISTORY {
                s.pop_front();
            }
            s.push_back(rates.counter(name).round() as u64);
        }
    }
}

pub fn draw(frame: &mut Frame, report: &Report, history: &History, color: bool) {
    let paint = |c: Color| {
        if color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let alert_lines = report.alerts.len().max(1) as u16;
    let [title, alerts, listeners, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(alert_lines + 2),
        Constraint::Min(5),
        Constraint::Length(SPARK_COUNTERS.len() as u16 * 2 + 2),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(format!("{}  (q to quit)", report.title())).style(bold),
        title,
    );
    let lines: Vec<Line> = if report.alerts.is_empty() {
        vec![Line::styled("none", paint(Color::Green))]
    } else {
        report
            .alerts
            .iter()
            .map(|a| {
                let c = if a.severity == Severity::Critical {
                    Color::Red
                } else {
                    Color::Yellow
                };
                Line::styled(
                    format!("{:<8} {}", a.severity.as_str(), a.message),
                    paint(c),
                )
            })
            .collect()
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title("Alerts")),
        alerts,
    );
    let s = report.snap;
    let rows: Vec<Row> = report
        .listeners()
        .into_iter()
        .map(|(l, drops)| {
            let hot = health::trouble(l, drops.unwrap_or(0.0)) >= 90.0;
            Row::new(vec![
                Cell::from(l.local.to_string()),
                Cell::from(format!("{}/{}", l.accept_queue, health::capacity(l))),
                Cell::from(format!("{:.0}%", health::accept_fill(l))),
                Cell::from(format!("{}/{}", l.syn_recv, health::capacity(l))),
                Cell::from(format!("{:.0}%", health::syn_fill(l))),
                Cell::from(l.drops.map_or("-".into(), |d| d.to_string())),
                Cell::from(drops.map_or("-".into(), |d| format!("{d:.1}"))),
                Cell::from(l.owners()),
            ])
            .style(if hot {
                paint(Color::Red)
            } else {
                Style::default()
            })
        })
        .collect();
    let widths = [
        Constraint::Length(28),
        Constraint::Length(11),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Min(8),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new([
                    "LOCAL", "ACCEPT Q", "FILL", "SYN-RECV", "FILL", "DROPS", "DROPS/S", "PROCESS",
                ])
                .style(bold),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("Listeners (most troubled first)"),
            ),
        listeners,
    );
    let [states, sparks] =
        Layout::horizontal([Constraint::Length(24), Constraint::Min(20)]).areas(bottom);
    let mut state_lines: Vec<Line> = match s.states {
        Some(counts) => (1..counts.len())
            .map(|i| Line::from(format!("{:<12}{:>10}", STATE_NAMES[i], counts[i])))
            .collect(),
        None => vec![Line::from("not counted")],
    };
    // The other resources a handshake uses: the conntrack table and the
    // ephemeral ports of the busiest destination.
    if let Some(ct) = &s.conntrack {
        state_lines.push(Line::from(format!(
            "{:<12}{:>9.0}%",
            "conntrack",
            ct.fill()
        )));
    }
    if let Some((p, d)) = s
        .ports
        .as_ref()
        .and_then(|p| p.destinations.first().map(|d| (p, d)))
    {
        state_lines.push(Line::from(format!("{:<12}{:>9.1}%", "ports", p.fill(d))));
        state_lines.push(Line::from(format!(" {}", d.remote)));
    }
    frame.render_widget(
        Paragraph::new(state_lines).block(Block::default().borders(Borders::ALL).title("States")),
        states,
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title("Counters /s (last minute)");
    let inner = block.inner(sparks);
    frame.render_widget(block, sparks);
    let rows = Layout::vertical([Constraint::Length(2); SPARK_COUNTERS.len()]).split(inner);
    for ((name, series), area) in SPARK_COUNTERS.iter().zip(&history.series).zip(rows.iter()) {
        let [label, line] =
            Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(*area);
        let now = report
            .rates
            .map_or("-".to_string(), |r| format!("{:.1}", r.counter(name)));
        let total = s.counters.get(name).unwrap_or(0);
        frame.render_widget(
            Paragraph::new(format!("{name}  {now}/s  (total {total})")),
            label,
        );
        let data: Vec<u64> = series.iter().copied().collect();
        frame.render_widget(
            Sparkline::default().data(&data).style(paint(Color::Cyan)),
            line,
        );
    }
}

pub fn run(
    mut watcher: Watcher,
    interval: Duration,
    netns: Option<&str>,
    ports: &[u16],
    stop: &AtomicBool,
) -> Result<ExitCode> {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut terminal = ratatui::init();
    let result = (|| -> Result<ExitCode> {
        let mut history = History::default();
        // The first frame shows the first sample without rates; rates come
        // one interval later (over a near-zero interval they would be noise
        // blown up by the division).
        let first = Report {
            snap: watcher.current(),
            rates: None,
            alerts: &[],
            netns,
            ports,
        };
        terminal.draw(|f| draw(f, &first, &history, color))?;
        let mut due = Instant::now() + interval;
        loop {
            if Instant::now() >= due {
                let sample = watcher.sample()?;
                history.push(&sample.rates);
                let report = host::report(&sample, netns, ports);
                terminal.draw(|f| draw(f, &report, &history, color))?;
                due += interval;
            }
            let wait = due
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            if event::poll(wait)?
                && let Event::Key(k) = event::read()?
            {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            if stop.load(Ordering::SeqCst) {
                return Ok(ExitCode::SUCCESS);
            }
        }
    })();
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::{Terminal, backend::TestBackend};
    use synack_host::{Alerts, Counters, Listener, Snapshot, Sysctls};

    fn snapshot(at: Instant, syn_recv: u32, cookies: u64) -> Snapshot {
        let mut counters = Counters::default();
        counters
            .values
            .insert("TcpExt.SyncookiesSent".into(), cookies);
        counters.values.insert("Tcp.PassiveOpens".into(), 10);
        let listener = |local: &str, accept_queue, syn_recv| Listener {
            local: local.parse().unwrap(),
            accept_queue,
            accept_limit: 128,
            syn_recv,
            drops: Some(0),
            inode: 1,
            processes: vec![(42, "server".into())],
        };
        Snapshot {
            taken: at,
            wall: std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            listeners: vec![
                listener("127.0.0.1:22", 0, 0),
                listener("10.0.0.1:8080", 3, syn_recv),
            ],
            states: Some([0, 5, 0, u64::from(syn_recv), 0, 0, 2, 0, 0, 0, 2, 0]),
            counters,
            conntrack: None,
            ports: None,
            sysctls: Sysctls {
                values: vec![("net.ipv4.tcp_syncookies".into(), "1".into())],
                problems: Vec::new(),
            },
            problems: Vec::new(),
        }
    }

    /// The dashboard's first refresh came at once after the first sample and
    /// showed rates over ~0 s (a counter moving by 1 in 50 µs read as
    /// 20,000/s); the first frame now has no rates.
    #[test]
    fn first_dashboard_frame_shows_no_rates_over_zero_seconds() {
        let snap = snapshot(Instant::now(), 0, 1000);
        let report = Report {
            snap: &snap,
            rates: None,
            alerts: &[],
            netns: None,
            ports: &[],
        };
        let text = screen(&report, &History::default());
        assert!(
            text.contains("TcpExt.SyncookiesSent  -/s  (total 1000)"),
            "{text}"
        );
        assert!(!text.contains("rates over"), "{text}");
    }

    /// Regression: the alert said "6/6 ... the limit is 5", the table's
    /// LIMIT column 5 and the dashboard n/6. Every view now gives a queue
    /// as used/capacity, the capacity the kernel's backlog + 1.
    #[test]
    fn queue_sizes_read_the_same_in_the_table_the_dashboard_and_the_alert() {
        let mut snap = snapshot(Instant::now(), 0, 0);
        snap.listeners[1].accept_limit = 5;
        snap.listeners[1].accept_queue = 6;
        let alerts = Alerts::default().update(&snap, None);
        let alert = alerts
            .iter()
            .find(|a| a.listener == Some("10.0.0.1:8080".parse().unwrap()))
            .expect("a full accept queue alert");
        assert!(
            alert.message.contains("accept queue 6/6"),
            "{}",
            alert.message
        );
        assert!(alert.message.contains("= 5 + 1"), "{}", alert.message);
        let report = Report {
            snap: &snap,
            rates: None,
            alerts: &alerts,
            netns: None,
            ports: &[],
        };
        let table = report.text();
        let row = table
            .lines()
            .find(|l| l.starts_with("  10.0.0.1:8080 "))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains("6/6"), "{row}");
        assert!(
            row.contains("0/6"),
            "SYN-RECV against the same capacity: {row}"
        );
        let screen = screen(&report, &History::default());
        assert!(screen.contains("6/6"), "{screen}");
    }

    fn screen(report: &Report, history: &History) -> String {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|f| draw(f, report, history, false)).unwrap();
        terminal
            .backend()
            .buffer()
            .content
            .chunks(120)
            .map(|row| {
                row.iter()
                    .map(|c| c.symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The whole screen under a flood: the alert names the port, the
    /// flooded listener is listed first, and the cookie rate is drawn.
    #[test]
    fn dashboard_under_a_flood() {
        let t0 = Instant::now();
        let before = snapshot(t0, 0, 1000);
        let now = snapshot(t0 + Duration::from_secs(1), 129, 1500);
        let rates = Rates::between(&before, &now);
        let alerts = Alerts::default().update(&now, Some(&rates));
        let mut history = History::default();
        history.push(&rates);
        let report = Report {
            snap: &now,
            rates: Some(&rates),
            alerts: &alerts,
            netns: Some("blue"),
            ports: &[],
        };
        let text = screen(&report, &history);
        let screen: Vec<&str> = text.lines().collect();
        assert!(text.contains("namespace blue"), "{text}");
        assert!(
            text.contains("warning  10.0.0.1:8080: SYN flood suspected: 129 half-open"),
            "{text}"
        );
        let flooded = screen
            .iter()
            .position(|l| l.contains("10.0.0.1:8080  "))
            .unwrap();
        let calm = screen
            .iter()
            .position(|l| l.contains("127.0.0.1:22"))
            .unwrap();
        assert!(flooded < calm, "the flooded listener comes first:\n{text}");
        assert!(
            screen[flooded].contains("129") && screen[flooded].contains("server(42)"),
            "{text}"
        );
        assert!(
            text.contains("TcpExt.SyncookiesSent  500.0/s  (total 1500)"),
            "{text}"
        );
        assert!(text.contains("SYN-RECV           129"), "{text}");
    }
}
