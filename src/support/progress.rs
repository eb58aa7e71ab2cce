//! Progress lines on stderr for long work (indicatif): drawn only when
//! stderr is a terminal, so logs, pipes and CI stay clean.

/// A spinner saying `message`, ticking until `finish_and_clear`.
pub fn spinner(message: String) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_message(message);
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    progress
}

/// A bar over `total` bytes saying `message` (wrap a reader with
/// `wrap_read` to advance it).
pub fn bytes(total: u64, message: String) -> indicatif::ProgressBar {
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {msg}: {bytes}/{total_bytes} {wide_bar} {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let progress = indicatif::ProgressBar::new(total).with_style(style);
    progress.set_message(message);
    progress
}
