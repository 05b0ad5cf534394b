//! The progress spinner on stderr (only on a terminal, only after a second) and the fit it
//! watches.

use super::error::{fit_error, CliError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mcla::{Fit, FitOptions, Model, Progress};
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::Duration;

/// A spinner on stderr that appears only when the fit takes longer than a second.
pub(crate) struct ProgressUi {
    bar: ProgressBar,
    done: Option<mpsc::Sender<()>>,
    timer: Option<std::thread::JoinHandle<()>>,
}

impl ProgressUi {
    fn new(enabled: bool) -> ProgressUi {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
            bar.set_style(style);
        }
        if !enabled {
            return ProgressUi {
                bar,
                done: None,
                timer: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let shown = bar.clone();
        let timer = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(1)) {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
                let _ = rx.recv();
            }
        });
        ProgressUi {
            bar,
            done: Some(tx),
            timer: Some(timer),
        }
    }

    /// The progress callback; `warn` prints the warnings the fit announces while it runs (a long
    /// automatic-m stage) to stderr at once, above the indicator.
    fn callback(&self, data_constant: f64, warn: bool) -> impl FnMut(Progress) + Send + 'static {
        let bar = self.bar.clone();
        move |p| {
            let msg = match p {
                Progress::LongStage(w) => {
                    if warn {
                        bar.suspend(|| eprintln!("warning: {w}"));
                    }
                    return;
                }
                p => mcla::request::progress_message(p, data_constant),
            };
            bar.set_message(msg);
        }
    }

    fn finish(mut self) {
        drop(self.done.take());
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

pub(crate) fn run_fit(model: &Model, options: &FitOptions, quiet: bool) -> Result<Fit, CliError> {
    let ui = ProgressUi::new(!quiet && std::io::stderr().is_terminal());
    // with --quiet the long-stage warning is only in the fit's warnings (the report)
    let mut cb = ui.callback(model.data_constant(), !quiet);
    let res = mcla::fit_with_progress(model, options, &mut cb);
    ui.finish();
    res.map_err(fit_error)
}
