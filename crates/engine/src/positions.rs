//! Byte offsets in a file the user wrote (a model, a mapping) turned into
//! the 1-based line and column an error message names.

/// The start of each line of a text, to place offsets in it.
pub(crate) struct Positions<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Positions<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(offset, _)| offset + 1)).collect();
        Positions { text, line_starts }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub(crate) fn of(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(0);
        let column = match self.text.get(line_start..offset) {
            Some(before) => before.chars().count(),
            // Spans from the TOML parser always fall on character
            // boundaries; counting bytes keeps a wrong one from panicking.
            None => offset - line_start,
        };
        (line.max(1), column + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::Positions;

    #[test]
    fn lines_and_columns_count_from_one_and_columns_count_characters() {
        let positions = Positions::new("ab\nçd\n\nx");
        assert_eq!(positions.of(0), (1, 1));
        assert_eq!(positions.of(3), (2, 1));
        assert_eq!(positions.of(5), (2, 2)); // after the two bytes of "ç"
        assert_eq!(positions.of(7), (3, 1)); // the empty line
        assert_eq!(positions.of(8), (4, 1));
        assert_eq!(positions.of(100), (4, 2)); // past the end: its end
    }
}
