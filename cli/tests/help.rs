//! Every subcommand's `--help` carries examples and the exit codes; usage errors exit 2.

mod support;

use support::retrace_raw;

const SUBCOMMANDS: [&str; 9] = [
    "ls",
    "show",
    "export",
    "replay",
    "gc",
    "stats",
    "verify",
    "audit",
    "admin-key",
];

#[test]
fn every_help_has_examples_and_exit_codes() {
    for args in
        std::iter::once(vec!["--help"]).chain(SUBCOMMANDS.iter().map(|s| vec![*s, "--help"]))
    {
        let run = retrace_raw(&args);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(
            run.stdout.contains("\nExamples:\n  retrace "),
            "{args:?}:\n{}",
            run.stdout
        );
        for code in [
            "Exit status:",
            "  0  success",
            "  1  problems found",
            "  2  usage error",
            "  3  no recording matches the id, or the prefix matches several",
            "  4  the recording directory is missing or unreadable",
            "  5  a recording asked for is damaged and cannot be read",
            "  6  an output file could not be written",
            "  7  replay: an answer differed from its recording, or a request failed",
            "  8  replay: the target could not be reached",
        ] {
            assert!(
                run.stdout.contains(code),
                "{args:?} lacks {code:?}:\n{}",
                run.stdout
            );
        }
        assert!(run.stdout.contains("--path <DIR>"), "{args:?}");
    }
}

#[test]
fn the_top_level_help_lists_every_subcommand() {
    let run = retrace_raw(&["--help"]);
    for sub in SUBCOMMANDS {
        assert!(
            run.stdout.contains(&format!("\n  {sub} ")),
            "{sub}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2_on_one_line_plus_a_hint() {
    let run = retrace_raw(&["frobnicate"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("error: unrecognized subcommand 'frobnicate'"),
        "{}",
        run.stderr
    );
    let run = retrace_raw(&["show"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<ID>"), "{}", run.stderr);
}
