//! `drover bench console`: what a console costs its coordinator, and how fast it answers keys,
//! with many runs in the store. A real coordinator process holds N finished runs; its CPU is
//! measured alone, under a console idle on `:runs` (the real console loop over QUIC, drawing
//! into an 80x24 buffer), and under the request set the console used to send every second.
//! Key presses are timed from the event to the finished frame, next to drawing an empty frame.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use drover_coordinator::store::{FinishedRun, NewRun, Store};
use drover_protocol::hash::ContentHash;
use drover_protocol::msg::{Event, OperatorRequest};
use drover_protocol::run::{DatasetPin, RunStatus};
use drover_protocol::spec::TrainSpec;
use drover_protocol::types::unix_ms;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use serde::Serialize;
use tokio::sync::mpsc;

use super::bench_proc::{clock_ticks, cpu_percent, start_coordinator};
use crate::client::{OperatorClient, OperatorLink};
use crate::console::app::App;
use crate::console::event::{self, ConsoleEvent};
use crate::console::{Driver, session, views};

/// The issue's budget for an idle console, percent of a core.
const IDLE_BUDGET_PERCENT: f64 = 0.5;
/// The issue's budget for a key press to redraw, milliseconds.
const REDRAW_BUDGET_MS: f64 = 50.0;

const SPEC: &str = r#"
experiment = "bench"
model = "bench"
dataset = "bench"
target = "y"
task = "classification"
algorithm = "logistic_regression"
"#;

/// Percentiles of a set of timings, milliseconds.
#[derive(Debug, Serialize)]
pub struct Timings {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Timings {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Self {
            count: samples.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// What one console benchmark measured.
#[derive(Debug, Serialize)]
pub struct ConsoleReport {
    pub runs: usize,
    pub seconds: f64,
    pub fill_seconds: f64,
    /// The coordinator with nobody attached.
    pub alone_cpu_percent: f64,
    /// With a console idle on `:runs`.
    pub console_cpu_percent: f64,
    /// With the old console's requests: agents, 1,000 runs, datasets and models every second.
    pub polling_cpu_percent: f64,
    /// Frames the idle console drew during its window.
    pub idle_frames: u64,
    /// A key press (moves, pages, views, sort) to its frame drawn.
    pub key_redraw: Timings,
    /// Drawing an empty console, the floor of any redraw.
    pub bare_redraw: Timings,
    /// A jump to the far end of the runs (`G`, `g`) until the rows there are on screen,
    /// fetch included.
    pub jump: Timings,
}

/// Stores `runs` finished runs in a fresh store at `data`.
fn fill(data: &Path, runs: usize) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data)?;
    let store = Store::open(&data.join("drover.db"))?;
    let spec = TrainSpec::from_toml(SPEC).map_err(anyhow::Error::msg)?;
    let pin = DatasetPin {
        name: "bench".into(),
        version: 1,
        hash: ContentHash::of(b"bench"),
        size_bytes: 1,
    };
    let start = unix_ms() - runs as u64 * 1000;
    for i in 0..runs {
        let id = format!("run-{i:012x}");
        let run = NewRun {
            id: &id,
            spec: &spec,
            spec_hash: "bench",
            dataset: &pin,
            trials_total: 1,
            created_ms: start + i as u64 * 1000,
            cause: None,
        };
        store.insert_run(&run)?;
        let metrics = [("accuracy".to_string(), (i % 997) as f64 / 997.0)].into();
        let end = FinishedRun {
            status: RunStatus::Succeeded,
            params: None,
            metrics: Some(&metrics),
            gates_passed: Some(true),
            gate_failures: Vec::new(),
            artifact_hash: None,
            rows: None,
            error: None,
            finished_ms: start + i as u64 * 1000 + 500,
        };
        let event = Event::RunFinished {
            id: id.clone(),
            status: RunStatus::Succeeded,
            detail: String::new(),
        };
        store.finish_run(&id, &end, event)?;
    }
    Ok(())
}

/// The console loop without a terminal: events in, frames into an 80x24 buffer.
struct Headless {
    driver: Driver,
    rx: mpsc::Receiver<ConsoleEvent>,
    terminal: Terminal<TestBackend>,
    frames: u64,
}

impl Headless {
    fn draw(&mut self) -> anyhow::Result<()> {
        let app = &self.driver.app;
        self.terminal.draw(|f| views::render(app, f))?;
        self.frames += 1;
        Ok(())
    }

    /// Handles one event and draws if it changed anything.
    fn step(&mut self, event: ConsoleEvent) -> anyhow::Result<()> {
        self.driver.handle(event);
        if self.driver.app.take_dirty() {
            self.draw()?;
        }
        Ok(())
    }

    /// Runs the loop until `done` holds or `limit` passes.
    async fn run_until(
        &mut self,
        limit: Duration,
        done: impl Fn(&App) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.driver.app) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => self.step(event)?,
                Ok(None) | Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    /// Presses `c` and returns how long until its frame was drawn.
    fn press(&mut self, code: KeyCode) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.step(ConsoleEvent::Key(KeyEvent::from(code)))?;
        Ok(started.elapsed())
    }
}

/// Runs the benchmark with `runs` runs in the store, each CPU window `window` long.
pub async fn run(runs: usize, window: Duration) -> anyhow::Result<ConsoleReport> {
    let tmp = std::env::temp_dir().join(format!("drover-bench-console-{}", std::process::id()));
    let data = tmp.join("coordinator");
    eprintln!("storing {runs} finished runs");
    let filled = Instant::now();
    let fill_dir = data.clone();
    tokio::task::spawn_blocking(move || fill(&fill_dir, runs)).await??;
    let fill_seconds = filled.elapsed().as_secs_f64();
    let coordinator = start_coordinator(&tmp, &data).await?;
    let pid = coordinator.0.id();
    let ticks = clock_ticks();
    eprintln!("waiting for the coordinator to settle (its reactions read every stored event)");
    for _ in 0..30 {
        if cpu_percent(pid, Duration::from_secs(2), ticks).await? < 1.0 {
            break;
        }
    }
    eprintln!("measuring the coordinator alone for {}s", window.as_secs());
    let alone_cpu_percent = cpu_percent(pid, window, ticks).await?;

    let client = Arc::new(OperatorClient::for_data_dir(&data, None).await?);
    let link = OperatorLink::Remote(client.clone());
    let connect = session::attached(data.clone(), None);
    let (tx, rx) = mpsc::channel(256);
    session::spawn(tx.clone(), connect, Some(link));
    event::spawn_ticker(tx.clone());
    let app = App::new("bench".into(), unix_ms(), false);
    let mut console = Headless {
        driver: Driver::new(app, tx),
        rx,
        terminal: Terminal::new(TestBackend::new(80, 24))?,
        frames: 0,
    };
    console
        .run_until(Duration::from_secs(10), |app| {
            app.connection == crate::console::app::Connection::Live
        })
        .await?;
    console.press(KeyCode::Char('2'))?;
    console
        .run_until(Duration::from_secs(10), |app| {
            app.runs.total as usize == runs
        })
        .await?;
    anyhow::ensure!(
        console.driver.app.runs.total as usize == runs,
        "the console did not show the {runs} runs"
    );
    eprintln!(
        "measuring it under a console idle on :runs for {}s",
        window.as_secs()
    );
    let before = console.frames;
    let (cpu, _) = tokio::join!(
        cpu_percent(pid, window, ticks),
        console.run_until(window + Duration::from_millis(100), |_| false)
    );
    let console_cpu_percent = cpu?;
    let idle_frames = console.frames - before;

    eprintln!("timing key presses");
    let mut key_redraw = Vec::new();
    let keys = [
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::PageDown,
        KeyCode::PageUp,
        KeyCode::Char('j'),
        KeyCode::Char('s'),
        KeyCode::Char('s'),
        KeyCode::Tab,
        KeyCode::BackTab,
    ];
    for _ in 0..20 {
        for key in keys {
            key_redraw.push(console.press(key)?);
            console
                .run_until(Duration::from_millis(20), |_| false)
                .await?;
        }
    }
    let mut jump = Vec::new();
    for _ in 0..10 {
        for (key, row) in [(KeyCode::Char('G'), runs - 1), (KeyCode::Char('g'), 0)] {
            let started = Instant::now();
            key_redraw.push(console.press(key)?);
            console
                .run_until(Duration::from_secs(10), |app| {
                    app.selected == row && app.selected_run().is_some()
                })
                .await?;
            jump.push(started.elapsed());
        }
    }
    let mut bare = Terminal::new(TestBackend::new(80, 24))?;
    let empty = App::new("bench".into(), unix_ms(), false);
    let bare_redraw = (0..200)
        .map(|_| {
            let started = Instant::now();
            bare.draw(|f| views::render(&empty, f))
                .map(|_| started.elapsed())
        })
        .collect::<Result<Vec<_>, _>>()?;
    drop(console);

    eprintln!(
        "measuring it under the old 1 s poll of everything for {}s",
        window.as_secs()
    );
    let poll = async {
        let deadline = Instant::now() + window + Duration::from_millis(100);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        while Instant::now() < deadline {
            tick.tick().await;
            for request in [
                OperatorRequest::ListAgents,
                OperatorRequest::ListRuns(Default::default()),
                OperatorRequest::ListDatasets,
                OperatorRequest::ListModels,
            ] {
                client.request(&request).await?;
            }
        }
        anyhow::Ok(())
    };
    let (cpu, polled) = tokio::join!(cpu_percent(pid, window, ticks), poll);
    polled.context("the polling client")?;
    let polling_cpu_percent = cpu?;

    drop(coordinator);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(ConsoleReport {
        runs,
        seconds: window.as_secs_f64(),
        fill_seconds,
        alone_cpu_percent,
        console_cpu_percent,
        polling_cpu_percent,
        idle_frames,
        key_redraw: Timings::of(key_redraw),
        bare_redraw: Timings::of(bare_redraw),
        jump: Timings::of(jump),
    })
}

/// Prints a report with each figure against its baseline and budget.
pub fn print(report: &ConsoleReport) {
    let r = report;
    let cost = |cpu: f64| (cpu - r.alone_cpu_percent).max(0.0);
    println!(
        "console benchmark: {} runs in the store, CPU windows of {:.0}s (filled in {:.1}s)",
        r.runs, r.seconds, r.fill_seconds
    );
    println!(
        "  coordinator alone            {:>7.2} % of a core",
        r.alone_cpu_percent
    );
    println!(
        "  + a console idle on :runs    {:>7.2} % of a core   (+{:.2} %; budget +{IDLE_BUDGET_PERCENT} %; {} frames drawn)",
        r.console_cpu_percent,
        cost(r.console_cpu_percent),
        r.idle_frames
    );
    println!(
        "  + the old 1 s poll           {:>7.2} % of a core   (+{:.2} %, {:.0}x the console's cost)",
        r.polling_cpu_percent,
        cost(r.polling_cpu_percent),
        cost(r.polling_cpu_percent) / cost(r.console_cpu_percent).max(0.01)
    );
    let line = |name: &str, t: &Timings| {
        println!(
            "  {name:<28} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({} samples)",
            t.p50_ms, t.p99_ms, t.max_ms, t.count
        );
    };
    line("key press to frame", &r.key_redraw);
    line("empty frame (floor)", &r.bare_redraw);
    line("jump G/g to rows shown", &r.jump);
    println!(
        "  key p99 is {:.1}x the empty frame and {:.2}x the {REDRAW_BUDGET_MS} ms budget",
        r.key_redraw.p99_ms / r.bare_redraw.p99_ms.max(0.001),
        r.key_redraw.p99_ms / REDRAW_BUDGET_MS
    );
}
