//! `drover demo`: the whole model lifecycle on this machine in about a minute, with an
//! in-process coordinator and agent in a fresh temporary data dir: data, training, a
//! deployment under traffic with feedback, a bad candidate rolled back and a better one
//! promoted by the rollout analysis, then the customers change: drift alerts on the features
//! that moved and the model is retrained on the newest data. The console shows it happen; `--headless` prints the
//! story with every decision and its numbers, and exits 0 only when it ended as told.

pub mod cluster;
pub mod drift;
pub mod story;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use drover_protocol::registry::Stage;

use self::cluster::Cluster;
use crate::client::OperatorLink;

/// `drover demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Print the story instead of showing it in the console.
    #[arg(long)]
    pub headless: bool,
    /// Requests a second the demo's customers send.
    #[arg(long, default_value_t = 1000)]
    pub rps: u32,
    /// Keep the demo's data dir afterwards (it is removed otherwise).
    #[arg(long)]
    pub keep: bool,
}

impl DemoArgs {
    /// The demo's own data dir, fresh for each run: it never touches the operator's.
    pub fn data_dir(&self) -> PathBuf {
        std::env::temp_dir().join(format!("drover-demo-{}", std::process::id()))
    }

    /// Runs the demo.
    pub async fn run(self) -> anyhow::Result<()> {
        let data_dir = self.data_dir();
        let result = self.run_in(&data_dir).await;
        if self.keep {
            println!("the demo's data dir is kept: {}", data_dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&data_dir) {
            tracing::warn!(cause = %e, dir = %data_dir.display(), "could not remove the demo's data dir");
        }
        result
    }

    async fn run_in(&self, data_dir: &std::path::Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let cluster = Cluster::start(data_dir, Duration::from_secs(1), drift::monitoring()).await?;
        let (handle, http, ctx) = (cluster.handle(), cluster.http, &cluster.ctx);
        let headless = self.headless;
        let say: Arc<dyn Fn(String) + Send + Sync> = Arc::new(move |line: String| {
            if headless {
                println!("[{:6.1}s] {line}", started.elapsed().as_secs_f64());
            } else {
                tracing::info!("demo: {line}");
            }
        });
        say(format!(
            "drover demo: a coordinator and an agent in this process (data dir {}, coordinator {}, agent http://{http})",
            data_dir.display(),
            handle.quic_addr()
        ));
        let scene = story::Scene {
            handle: &handle,
            ctx,
            http,
            feedback_token: &cluster.feedback_token,
            rps: self.rps,
            say: say.clone(),
        };
        let result = if self.headless {
            whole(&scene).await.map(Some)
        } else {
            let link = OperatorLink::Local(handle.clone());
            let look = crate::console::Look {
                keys: Default::default(),
                read_only: false,
            };
            let console = crate::console::run(
                link.clone(),
                crate::console::session::same(link),
                "demo".into(),
                look,
            );
            let story = whole(&scene);
            tokio::pin!(console, story);
            tokio::select! {
                quit = &mut console => quit.map(|()| None),
                told = &mut story => {
                    if let Err(e) = &told {
                        tracing::error!(cause = %format!("{e:#}"), "the demo's story stopped");
                    }
                    // The story is over; the operator looks around until they quit.
                    console.await?;
                    told.map(Some)
                }
            }
        };
        let ending = match result {
            Ok(ending) => ending,
            Err(e) => {
                cluster.stop().await;
                return Err(e);
            }
        };
        if let Some(ending) = ending {
            let t = &ending.traffic;
            let versions: Vec<String> =
                t.versions.iter().map(|(v, n)| format!("{v} {n}")).collect();
            say(format!(
                "traffic: {} requests, {} failed; answered by {}; live accuracy {:.3} over {} labels",
                t.requests,
                t.failed(),
                versions.join(", "),
                t.correct as f64 / t.judged.max(1) as f64,
                t.judged
            ));
            let (now, before) = (
                story::stage_of(&handle, 3).await,
                story::stage_of(&handle, 1).await,
            );
            say(format!(
                "registry: churn@3 {}, churn@1 {}; done in {:.0}s",
                now.map_or("?".into(), |s| s.to_string()),
                before.map_or("?".into(), |s| s.to_string()),
                started.elapsed().as_secs_f64()
            ));
            anyhow::ensure!(t.failed() == 0, "{} requests failed", t.failed());
            anyhow::ensure!(
                now == Some(Stage::Production) && before == Some(Stage::Archived),
                "the registry did not end as told"
            );
        }
        cluster.stop().await;
        Ok(())
    }
}

/// The story, then its last act: the customers change and the monitor acts on it.
async fn whole(scene: &story::Scene<'_>) -> anyhow::Result<story::Ending> {
    let mut ending = story::tell(scene).await?;
    ending.traffic.add(&drift::tell(scene, story::ROWS).await?);
    Ok(ending)
}
