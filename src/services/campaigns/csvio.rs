//! CSV in and out. In: a header row, every record as many fields as the header, UTF-8 (a
//! byte-order mark is allowed); a file that breaks those rules is refused whole, with the
//! line. Out: every cell that a spreadsheet would run as a formula — one that begins with
//! `=`, `+`, `-`, `@`, a tab or a carriage return — is written with a `'` in front (OWASP's
//! CSV-injection advice); the value stored stays as it was given.

use std::borrow::Cow;

/// Names a phone column may have (case-insensitive), in order of preference.
pub const PHONE_COLUMNS: &[&str] = &["phone", "phone_number", "mobile", "number"];

/// A file as read: its header and its records, each with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column names as written.
    pub header: Vec<String>,
    /// `(line, cells)`; the header is line 1.
    pub rows: Vec<(u64, Vec<String>)>,
}

/// Why a file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// No header row.
    #[error("the file is empty; the first line must name the columns")]
    Empty,
    /// Not UTF-8 (the line where it stops being so).
    #[error("line {0} is not UTF-8 text; save the file as UTF-8 CSV")]
    NotUtf8(u64),
    /// A record with another number of fields than the header, or broken quoting.
    #[error("line {line}: {reason}")]
    Malformed {
        /// The line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// More records than allowed.
    #[error("the file has more than {0} rows")]
    TooManyRows(usize),
    /// No column the phone numbers could be in.
    #[error("no phone column: name one of phone, phone_number, mobile or number")]
    NoPhoneColumn,
}

/// Read `bytes` as a CSV file of at most `max_rows` records.
pub fn read(bytes: &[u8], max_rows: usize) -> Result<Table, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(bytes);
    // The reader's own line count skips the blank lines it passes over; the line a person
    // sees in an editor is counted from the byte offset instead — incrementally, since
    // records come in order (counting from the start each time would be quadratic).
    let counted = std::cell::Cell::new((0usize, 1u64));
    let line_at = |position: Option<&csv::Position>| {
        position.map_or(0, |p| {
            let mut end = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            // A record's position can be the blank lines before it.
            while end < bytes.len() && matches!(bytes[end], b'\n' | b'\r') {
                end += 1;
            }
            let (mut from, mut line) = counted.get();
            if end < from {
                (from, line) = (0, 1);
            }
            line += bytes[from..end].iter().filter(|b| **b == b'\n').count() as u64;
            counted.set((end, line));
            line
        })
    };
    let error = |err: csv::Error| error(err, &line_at);
    let mut records = reader.records();
    let header = match records.next() {
        None => return Err(CsvError::Empty),
        Some(record) => record.map_err(error)?,
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    if header.iter().all(String::is_empty) {
        return Err(CsvError::Empty);
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(error)?;
        let line = line_at(record.position());
        // A blank line is nothing, not a row of empty cells.
        if record.len() == 1 && record.get(0).is_some_and(|c| c.trim().is_empty()) {
            continue;
        }
        if rows.len() == max_rows {
            return Err(CsvError::TooManyRows(max_rows));
        }
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Table { header, rows })
}

fn error(err: csv::Error, line_at: &dyn Fn(Option<&csv::Position>) -> u64) -> CsvError {
    let line = line_at(err.position());
    match err.kind() {
        csv::ErrorKind::Utf8 { .. } => CsvError::NotUtf8(line),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => CsvError::Malformed {
            line,
            reason: format!("{len} fields where the header has {expected_len}"),
        },
        _ => CsvError::Malformed {
            line,
            reason: "not CSV".to_owned(),
        },
    }
}

impl Table {
    /// The index of the phone column.
    pub fn phone_column(&self) -> Result<usize, CsvError> {
        PHONE_COLUMNS
            .iter()
            .find_map(|name| {
                self.header
                    .iter()
                    .position(|h| h.eq_ignore_ascii_case(name))
            })
            .ok_or(CsvError::NoPhoneColumn)
    }
}

/// `cell` as written to a CSV file: neutralised when a spreadsheet would run it.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// A CSV file of `header` and `rows`, every cell neutralised.
pub fn write(header: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut put = |cells: &[String]| {
        // Writing to memory cannot fail.
        let _ = writer.write_record(cells.iter().map(|c| neutralize(c).into_owned()));
    };
    put(header);
    for row in rows {
        put(row);
    }
    writer.into_inner().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_with_its_line_numbers_and_blank_lines_skipped() {
        let table = read(
            b"\xEF\xBB\xBFName,Phone\nAna,+12025550143\n\n\"Bo, Jr\",2025550199\n",
            10,
        )
        .unwrap();
        assert_eq!(table.header, ["Name", "Phone"]);
        assert_eq!(table.phone_column().unwrap(), 1);
        assert_eq!(
            table.rows,
            [
                (2, vec!["Ana".to_owned(), "+12025550143".to_owned()]),
                (4, vec!["Bo, Jr".to_owned(), "2025550199".to_owned()]),
            ]
        );
    }

    #[test]
    fn broken_files_are_refused_with_the_line() {
        assert_eq!(read(b"", 10), Err(CsvError::Empty));
        assert_eq!(
            read(b"phone,name\n+1,a\n+2\n", 10),
            Err(CsvError::Malformed {
                line: 3,
                reason: "1 fields where the header has 2".to_owned()
            })
        );
        assert_eq!(
            read(b"phone\nok\n\xff\xfe\n", 10),
            Err(CsvError::NotUtf8(3))
        );
        assert_eq!(read(b"phone\n1\n2\n3\n", 2), Err(CsvError::TooManyRows(2)));
        assert_eq!(
            read(b"name,email\na,b\n", 10).unwrap().phone_column(),
            Err(CsvError::NoPhoneColumn)
        );
    }

    #[test]
    fn every_formula_opener_is_neutralised_on_output() {
        for cell in ["=1+1", "+12025550143", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralize(cell), format!("'{cell}"), "{cell:?}");
        }
        assert_eq!(neutralize("Ana"), "Ana");
        let file = write(
            &["phone".to_owned(), "note".to_owned()],
            &[vec![
                "+12025550143".to_owned(),
                "=HYPERLINK(\"http://x\")".to_owned(),
            ]],
        );
        assert_eq!(
            String::from_utf8(file).unwrap(),
            "phone,note\n'+12025550143,\"'=HYPERLINK(\"\"http://x\"\")\"\n"
        );
    }
}
