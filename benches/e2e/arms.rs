//! Arms as data.

/// The service under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Service {
    Realistic,
    Hello,
}

impl Service {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Realistic => "realistic (axum + upstream call, ~1 KiB JSON)",
            Self::Hello => "hello-world (worst case)",
        }
    }
}

/// How Retrace is set up in an arm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum RetraceMode {
    /// `Config::builder().enabled(false)`.
    Off,
    /// On, ratio sampling at this rate.
    Sampled(f64),
    /// Everything tentative, kept on 5xx or a failed handler (none here).
    Tentative,
    /// 100% with the writer held still and a small in-flight budget.
    Stalled,
}

/// What records the traffic in an arm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Capture {
    Nothing,
    Retrace(RetraceMode),
    TraceLogs,
    Naive,
}

/// One arm of the benchmark.
pub(super) struct Arm {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) capture: Capture,
    pub(super) realistic_only: bool,
}

pub(super) const ARMS: &[Arm] = &[
    Arm {
        key: "1",
        label: "no layer",
        capture: Capture::Nothing,
        realistic_only: false,
    },
    Arm {
        key: "2",
        label: "layer, RETRACE off",
        capture: Capture::Retrace(RetraceMode::Off),
        realistic_only: false,
    },
    Arm {
        key: "3",
        label: "layer on, rate 0",
        capture: Capture::Retrace(RetraceMode::Sampled(0.0)),
        realistic_only: false,
    },
    Arm {
        key: "4",
        label: "rate 10%",
        capture: Capture::Retrace(RetraceMode::Sampled(0.1)),
        realistic_only: false,
    },
    Arm {
        key: "5",
        label: "rate 100%",
        capture: Capture::Retrace(RetraceMode::Sampled(1.0)),
        realistic_only: false,
    },
    Arm {
        key: "6",
        label: "tentative, nothing kept",
        capture: Capture::Retrace(RetraceMode::Tentative),
        realistic_only: false,
    },
    Arm {
        key: "7",
        label: "TraceLayer + JSON body logs",
        capture: Capture::TraceLogs,
        realistic_only: false,
    },
    Arm {
        key: "8",
        label: "naive Mutex<BufWriter> + serde_json",
        capture: Capture::Naive,
        realistic_only: false,
    },
    Arm {
        key: "5s",
        label: "100%, writer stalled, 16 MiB budget",
        capture: Capture::Retrace(RetraceMode::Stalled),
        realistic_only: true,
    },
];
