// `err = display` replays an error as `E::from(RecordedError)`: `E` must provide it.
#[derive(Debug)]
struct DbError;

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("database error")
    }
}

#[retrace::record(err = display)]
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
