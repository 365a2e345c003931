//! The compile errors of `#[retrace::record]`: one case per message in
//! `tests/ui/record/`, each with the compiler's output in a `.stderr` beside it. The
//! cases share one build; after a deliberate change to a message, regenerate the
//! snapshots with `TRYBUILD=overwrite cargo test --test record_ui` and read them.

#[test]
fn compile_errors_point_at_the_offending_code() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/record/*.rs");
}
