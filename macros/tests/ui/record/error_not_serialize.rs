// Both arms of a `Result` are recorded: the error type must be serialisable too
// (or recorded as its text with `err = display`).
#[derive(Debug)]
struct DbError;

#[retrace::record]
fn balance(account: u64) -> Result<u64, DbError> {
    if account == 0 {
        Err(DbError)
    } else {
        Ok(account)
    }
}

fn main() {
    let _ = balance(1);
}
