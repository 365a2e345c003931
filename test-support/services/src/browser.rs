//! A real web browser for tests and examples: headless Chromium driven over
//! WebDriver, through one private driver per test process.
//!
//! Why: a web page (the viewer of recordings) has to be tested in a browser that
//! runs its scripts, lays it out and fires its events. A mock of the DOM proves
//! nothing about what a browser does with the page, and a test that quietly skips
//! when no browser is around proves nothing at all, so this module starts one
//! itself and panics, naming the cause, when it cannot.
//!
//! How: the first call to [`webdriver_url`] runs `scripts/chromium start DIR` (see
//! that script: it installs Debian's `chromium` and `chromium-driver` packages if
//! they are missing, and runs chromedriver as an unprivileged user on a free port
//! of 127.0.0.1, open to loopback connections only), with `DIR` named after this
//! process's id under [`std::env::temp_dir`]. Test binaries run side by side get
//! one driver each. The driver, and every browser it started, is stopped when this
//! process ends, however it ends (see the crate documentation), so a session a
//! test left open goes with it.
//!
//! What a client sends: a WebDriver session request,
//! `POST {webdriver_url}/session` with
//! `{"capabilities": {"alwaysMatch": CAPABILITIES}}`, where `CAPABILITIES` is
//! [`capabilities`]: Chromium at [`chromium_binary`], headless, with the switches
//! in [`CHROMIUM_ARGS`]. The window has a fixed size and a scale factor of one, so
//! that layouts and screenshots are the same on every machine.
//!
//! Isolation: every test should open a session of its own and delete it when done;
//! chromedriver gives each session a fresh browser and profile.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::service_script::ServiceScript;

static CHROMIUM: ServiceScript = ServiceScript::new("chromium", "http://", "retrace-chromium");
static BINARY: OnceLock<String> = OnceLock::new();

/// The switches [`capabilities`] gives Chromium: headless; without the sandbox
/// (it needs user namespaces, which a container often refuses, and Chromium run
/// as root will not start with it); without a GPU or `/dev/shm` (often tiny in a
/// container); without anything it would fetch or run on its own (network
/// services, extensions, sync, the first-run pages); in a window of 1280×900 CSS
/// pixels at a scale factor of one.
pub const CHROMIUM_ARGS: [&str; 10] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--force-device-scale-factor=1",
];

/// The WebDriver endpoint of this process's driver, `http://127.0.0.1:PORT`
/// (sessions at `/session`), starting the driver on the first call. The driver
/// starts no browser until a client asks for a session with [`capabilities`].
///
/// Thread-safe: concurrent first calls start one driver.
///
/// # Panics
///
/// If the driver cannot be started; the message names `scripts/chromium` and
/// carries its stderr. A test never silently skips a missing browser.
pub fn webdriver_url() -> &'static str {
    &CHROMIUM.running().url
}

/// The path of the Chromium that [`capabilities`] names (Debian's
/// `/usr/bin/chromium`), as `scripts/chromium binary` prints it, installing
/// Chromium on the first call if it is missing.
///
/// # Panics
///
/// If Chromium is missing and cannot be installed; the message names
/// `scripts/chromium` and carries its stderr.
pub fn chromium_binary() -> &'static str {
    BINARY.get_or_init(|| CHROMIUM.query("binary", "/"))
}

/// The capabilities to ask the driver for a headless Chromium with:
/// `{"browserName": "chrome", "goog:chromeOptions": {"binary":`
/// [`chromium_binary`]`, "args":` [`CHROMIUM_ARGS`]`}}`. A client sends them as
/// `{"capabilities": {"alwaysMatch": ...}}` in `POST /session`; a WebDriver
/// crate takes them as they are (fantoccini's `ClientBuilder::capabilities`, for
/// one). Add to them before sending to ask for more.
///
/// # Panics
///
/// If Chromium is missing and cannot be installed, as [`chromium_binary`].
pub fn capabilities() -> Map<String, Value> {
    let mut chrome_options = Map::new();
    chrome_options.insert("binary".to_owned(), chromium_binary().into());
    chrome_options.insert("args".to_owned(), CHROMIUM_ARGS.to_vec().into());
    let mut capabilities = Map::new();
    capabilities.insert("browserName".to_owned(), "chrome".into());
    capabilities.insert("goog:chromeOptions".to_owned(), chrome_options.into());
    capabilities
}
