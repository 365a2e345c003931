//! Progress for work that can take more than a second (verifying every frame, exporting
//! many recordings). Drawn on stderr only when it is a terminal, so scripts and tests
//! see clean output.

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
