//! A switch the writer checks before each batch: a test hook that holds the writer
//! still, as a stalled disk would ([`Recorder::pause_writer`](crate::Recorder::pause_writer)).

use parking_lot::{Condvar, Mutex};

/// A switch the writer checks before each batch; a test hook to simulate a stalled disk.
#[derive(Debug, Default)]
pub(crate) struct WriterPause {
    paused: Mutex<bool>,
    resumed: Condvar,
}

impl WriterPause {
    pub(crate) fn wait_while_paused(&self) {
        let mut paused = self.paused.lock();
        while *paused {
            self.resumed.wait(&mut paused);
        }
    }

    pub(crate) fn set(&self, value: bool) {
        *self.paused.lock() = value;
        self.resumed.notify_all();
    }
}
