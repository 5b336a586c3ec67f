//! The README's endpoint table, made from the registry: `plugs-media readme-endpoints` writes
//! it between two marker lines of README.md, and deploy-checks fails while the README holds
//! anything else there, so the table is never edited by hand.

use super::functions;

/// The line above the table in README.md (an HTML comment: Markdown does not show it).
pub const README_TABLE_BEGIN: &str = "<!-- The endpoint table is made from the registry (shared/src/endpoint.rs) by `plugs-media readme-endpoints`: edit the registry, then run it. -->";
/// The line below the table.
pub const README_TABLE_END: &str = "<!-- End of the endpoint table. -->";

/// README.md does not have the two marker lines, in order, around its endpoint table.
#[derive(Debug, thiserror::Error)]
#[error(
    "no endpoint table markers: the table goes between a line `{}` and a line `{}`",
    README_TABLE_BEGIN,
    README_TABLE_END
)]
pub struct MissingMarkers;

/// Every function as one Markdown row: method, path, function, what it answers.
pub fn readme_endpoint_table() -> String {
    let mut table =
        String::from("| Method | Path | Function | Answer |\n| --- | --- | --- | --- |\n");
    for spec in functions() {
        let (method, path) = match spec.route {
            Some(route) => (route.method, format!("`{}`", route.path)),
            None => ("(schedule)", "–".to_owned()),
        };
        table.push_str(&format!(
            "| {method} | {path} | `{}` | {} |\n",
            spec.name, spec.answer
        ));
    }
    table
}

/// `readme` with the lines between its marker lines replaced by [`readme_endpoint_table`];
/// everything else is kept byte for byte.
pub fn readme_with_endpoint_table(readme: &str) -> Result<String, MissingMarkers> {
    let table_start = line_end_after(readme, README_TABLE_BEGIN, 0).ok_or(MissingMarkers)?;
    let table_end = line_start_of(readme, README_TABLE_END, table_start).ok_or(MissingMarkers)?;
    Ok(format!(
        "{}{}{}",
        &readme[..table_start],
        readme_endpoint_table(),
        &readme[table_end..]
    ))
}

/// Where the line after the first line equal to `line` (from `from` on) begins.
fn line_end_after(text: &str, line: &str, from: usize) -> Option<usize> {
    let start = line_start_of(text, line, from)?;
    Some(start + line.len() + 1).filter(|&end| end <= text.len())
}

/// Where the first line equal to `line` (from `from` on) begins.
fn line_start_of(text: &str, line: &str, from: usize) -> Option<usize> {
    let mut offset = from;
    for candidate in text[from..].split_inclusive('\n') {
        if candidate.trim_end_matches(['\n', '\r']) == line {
            return Some(offset);
        }
        offset += candidate.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readme(table: &str) -> String {
        format!("# Title\n\nIntro.\n\n{README_TABLE_BEGIN}\n{table}{README_TABLE_END}\n\nMore.\n")
    }

    #[test]
    fn the_table_replaces_whatever_is_between_the_markers_and_nothing_else() {
        let stale = readme("| Method | Path | Function | Answer |\n| old | row |\n");
        let fresh = readme_with_endpoint_table(&stale).unwrap();
        assert_eq!(fresh, readme(&readme_endpoint_table()));
        assert_eq!(readme_with_endpoint_table(&fresh).unwrap(), fresh);
    }

    #[test]
    fn the_table_has_a_row_per_function_with_its_answer() {
        let table = readme_endpoint_table();
        assert_eq!(table.lines().count(), 2 + functions().count());
        for spec in functions() {
            let row = table
                .lines()
                .find(|row| row.contains(&format!("| `{}` |", spec.name)))
                .unwrap_or_else(|| panic!("no row for {}", spec.name));
            assert!(row.ends_with(&format!("| {} |", spec.answer)), "{row}");
        }
    }

    #[test]
    fn an_answer_cannot_break_its_row() {
        for spec in functions() {
            assert!(
                !spec.answer.is_empty() && !spec.answer.contains(['|', '\n']),
                "{}: {:?}",
                spec.name,
                spec.answer
            );
        }
    }

    #[test]
    fn a_readme_without_both_markers_is_refused() {
        let table = readme_endpoint_table();
        let no_end = format!("{README_TABLE_BEGIN}\n{table}");
        let no_begin = format!("{table}{README_TABLE_END}\n");
        let reversed = format!("{README_TABLE_END}\n{table}{README_TABLE_BEGIN}\n");
        for text in [no_end, no_begin, reversed] {
            assert!(readme_with_endpoint_table(&text).is_err(), "{text}");
        }
    }
}
