//! Progress for work that can take more than a second (verifying every frame, exporting
//! many recordings, replaying traffic). Drawn on stderr only when it is a terminal, so
//! scripts and tests see clean output.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting bytes.
pub(crate) fn bytes(total: u64, message: &'static str) -> ProgressBar {
    bar(
        total,
        message,
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({eta} left)",
    )
}

/// A bar counting items.
pub(crate) fn items(total: u64, message: &'static str) -> ProgressBar {
    bar(total, message, "{msg} [{bar:30}] {pos}/{len}")
}

fn bar(total: u64, message: &'static str, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// Replay's live counts: requests done with their rate and the match counts (set as
/// the message), on a bar when the total is known, a spinner for a loop bounded by
/// time.
pub(crate) fn sends(total: Option<u64>) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "replaying [{bar:30}] {pos}/{len} sent, {per_sec}, {msg}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "replaying {spinner} {pos} sent in {elapsed}, {per_sec}, {msg}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
