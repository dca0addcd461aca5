//! keepalived.conf tokens and blocks (keepalived/core/parser.c `alloc_strvec()`,
//! `process_stream()`): whitespace-separated words, `{` and `}` as words of their own, `#` or
//! `!` at the start of a word begins a comment to the end of the line, `"..."` is one word
//! (without the quotes, on one line).

use super::ErrorKind;

/// One word with its 1-based line and the index of the file it came from (0 = main text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) text: String,
    pub(crate) line: usize,
    pub(crate) file: usize,
    pub(crate) quoted: bool,
}

impl Token {
    fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// One statement: the words of a line, and the block that follows it (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) words: Vec<Token>,
    pub(crate) block: Option<Vec<Node>>,
}

impl Node {
    pub(crate) fn line(&self) -> usize {
        self.words.first().map_or(0, |t| t.line)
    }
    pub(crate) fn file(&self) -> usize {
        self.words.first().map_or(0, |t| t.file)
    }
    pub(crate) fn keyword(&self) -> &str {
        self.words.first().map_or("", |t| t.text.as_str())
    }
    pub(crate) fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(|t| t.text.as_str())
    }
    pub(crate) fn nargs(&self) -> usize {
        self.words.len().saturating_sub(1)
    }
    /// The words after the keyword joined by spaces (a notify script with its arguments).
    pub(crate) fn rest(&self) -> String {
        self.words
            .iter()
            .skip(1)
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Split `src` into tokens.
///
/// # Errors
/// `(line, ErrorKind::UnterminatedQuote)`.
pub(crate) fn tokenize(src: &str, file: usize) -> Result<Vec<Token>, (usize, ErrorKind)> {
    let mut out = Vec::new();
    for (ln, line) in src.lines().enumerate() {
        let line_no = ln + 1;
        let mut chars = line.char_indices().peekable();
        while let Some(&(start, c)) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            if c == '#' || c == '!' {
                break;
            }
            if c == '{' || c == '}' {
                chars.next();
                out.push(Token {
                    text: c.to_string(),
                    line: line_no,
                    file,
                    quoted: false,
                });
                continue;
            }
            if c == '"' {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    text.push(c);
                }
                if !closed {
                    return Err((line_no, ErrorKind::UnterminatedQuote));
                }
                out.push(Token {
                    text,
                    line: line_no,
                    file,
                    quoted: true,
                });
                continue;
            }
            let mut end = line.len();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_whitespace() || c == '{' || c == '}' || c == '"' {
                    end = i;
                    break;
                }
                chars.next();
            }
            out.push(Token {
                text: line.get(start..end).unwrap_or_default().to_string(),
                line: line_no,
                file,
                quoted: false,
            });
        }
    }
    Ok(out)
}

/// Group tokens into statements and blocks. A statement is the words of one line up to a
/// brace; a `{` (on the same or a later line) opens the block of the statement before it.
///
/// # Errors
/// `(line, file, kind)` for an unbalanced brace.
pub(crate) fn build(tokens: Vec<Token>) -> Result<Vec<Node>, (usize, usize, ErrorKind)> {
    let mut it = tokens.into_iter().peekable();
    build_list(&mut it, None, 0)
}

/// Deepest block nesting accepted (keepalived's deepest real nesting is 4).
const MAX_DEPTH: usize = 32;

fn build_list(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    open: Option<(usize, usize)>,
    depth: usize,
) -> Result<Vec<Node>, (usize, usize, ErrorKind)> {
    if let Some((line, file)) = open
        && depth > MAX_DEPTH
    {
        return Err((line, file, ErrorKind::TooDeep));
    }
    let mut nodes = Vec::new();
    loop {
        let Some(t) = it.next() else {
            return match open {
                Some((line, file)) => Err((line, file, ErrorKind::MissingCloseBrace)),
                None => Ok(nodes),
            };
        };
        if t.is("}") {
            return match open {
                Some(_) => Ok(nodes),
                None => Err((t.line, t.file, ErrorKind::UnexpectedCloseBrace)),
            };
        }
        if t.is("{") {
            return Err((t.line, t.file, ErrorKind::UnexpectedOpenBrace));
        }
        let (line, file) = (t.line, t.file);
        let mut words = vec![t];
        while let Some(n) = it.peek() {
            if n.line != line || n.file != file || n.is("{") || n.is("}") {
                break;
            }
            if let Some(n) = it.next() {
                words.push(n);
            }
        }
        let block = if it.peek().is_some_and(|n| n.is("{")) {
            let ob = it.next().map_or((line, file), |b| (b.line, b.file));
            Some(build_list(it, Some(ob), depth + 1)?)
        } else {
            None
        };
        nodes.push(Node { words, block });
    }
}
