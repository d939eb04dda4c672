//! Words of MLflow's search grammar: identifiers (backquoted when they hold spaces), quoted
//! strings, numbers, comparison operators and keywords.

/// Why a filter or order clause was refused (MLflow: 400 INVALID_PARAMETER_VALUE).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

pub(super) fn err<T>(message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    Quoted(String),
    Number(f64),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => (tokens.push(Token::Open), i += 1).1,
            ')' => (tokens.push(Token::Close), i += 1).1,
            ',' => (tokens.push(Token::Comma), i += 1).1,
            '\'' | '"' | '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .map(|p| i + 1 + p)
                    .ok_or_else(|| FilterError(format!("unclosed {c} in {text:?}")))?;
                let inner: String = chars[i + 1..end].iter().collect();
                tokens.push(if c == '`' {
                    Token::Word(format!("`{inner}`"))
                } else {
                    Token::Quoted(inner)
                });
                i = end + 1;
            }
            '=' => (tokens.push(Token::Op("=")), i += 1).1,
            '!' | '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                tokens.push(Token::Op(match (c, two) {
                    ('!', true) => "!=",
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => return err(format!("unexpected '!' in {text:?}")),
                }));
                i += if two { 2 } else { 1 };
            }
            _ if c.is_ascii_digit() || ((c == '-' || c == '.') && next_is_digit(&chars, i)) => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-'))
                {
                    i += 1;
                }
                let literal: String = chars[start..i].iter().collect();
                let value = literal
                    .parse::<f64>()
                    .map_err(|_| FilterError(format!("{literal:?} is not a number")))?;
                tokens.push(Token::Number(value));
            }
            _ if c.is_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.'))
                {
                    if chars[i] == '.' && chars.get(i + 1) == Some(&'`') {
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                let mut word: String = chars[start..i].iter().collect();
                if word.ends_with('.') && chars.get(i) == Some(&'`') {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&d| d == '`')
                        .map(|p| i + 1 + p)
                        .ok_or_else(|| FilterError(format!("unclosed ` in {text:?}")))?;
                    let inner: String = chars[i + 1..end].iter().collect();
                    word.push_str(&format!("`{inner}`"));
                    i = end + 1;
                }
                tokens.push(Token::Word(word));
            }
            _ => return err(format!("unexpected {c:?} in {text:?}")),
        }
    }
    Ok(tokens)
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars
        .get(i + 1)
        .is_some_and(|c| c.is_ascii_digit() || *c == '.')
}
