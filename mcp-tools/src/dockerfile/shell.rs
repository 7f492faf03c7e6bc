//! A `RUN` line split into the commands a shell would run (at `&&`, `||`, `;`, `|` and
//! newlines, outside quotes) and each command into words (quotes removed, leading
//! `NAME=value` assignments dropped). Enough to find a program and its arguments; not a
//! shell interpreter.

/// One command: its words, the first being the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) words: Vec<String>,
}

impl Command {
    pub(crate) fn program(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// The words after the first occurrence of `sub` (e.g. `install`), if it occurs.
    pub(crate) fn after(&self, sub: &str) -> Option<&[String]> {
        let at = self.words.iter().position(|w| w == sub)?;
        Some(&self.words[at + 1..])
    }

    pub(crate) fn has(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }
}

/// The commands of `script`.
pub(crate) fn commands(script: &str) -> Vec<Command> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let end_cmd = |out: &mut Vec<Command>, words: &mut Vec<String>| {
        let w: Vec<String> = std::mem::take(words)
            .into_iter()
            .skip_while(|w| is_assignment(w))
            .collect();
        if !w.is_empty() {
            out.push(Command { words: w });
        }
    };
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            Some(_) => word.push(c),
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    in_word = true;
                }
                '\\' => {
                    if let Some(n) = chars.next() {
                        if n != '\n' {
                            word.push(n);
                            in_word = true;
                        }
                    }
                }
                '&' | '|' | ';' | '\n' | '(' | ')' => {
                    end_word(&mut words, &mut word, &mut in_word);
                    end_cmd(&mut out, &mut words);
                    if (c == '&' || c == '|') && chars.peek() == Some(&c) {
                        chars.next();
                    }
                }
                c if c.is_whitespace() => end_word(&mut words, &mut word, &mut in_word),
                c => {
                    word.push(c);
                    in_word = true;
                }
            },
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    end_cmd(&mut out, &mut words);
    out
}

fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Whether `script` pipes one command into another (a `|` outside quotes that is not `||`).
pub(crate) fn has_pipe(script: &str) -> bool {
    let mut quote: Option<char> = None;
    let b: Vec<char> = script.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '\\' => i += 1,
            None if c == '|' => {
                if b.get(i + 1) == Some(&'|') {
                    i += 1;
                } else {
                    return true;
                }
            }
            None => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_commands_and_words() {
        let c = commands(
            "DEBIAN_FRONTEND=x apt-get update && apt-get install -y 'a b' c || true; cd /x | tee",
        );
        let w: Vec<Vec<&str>> = c
            .iter()
            .map(|c| c.words.iter().map(String::as_str).collect())
            .collect();
        assert_eq!(
            w,
            vec![
                vec!["apt-get", "update"],
                vec!["apt-get", "install", "-y", "a b", "c"],
                vec!["true"],
                vec!["cd", "/x"],
                vec!["tee"]
            ]
        );
        assert!(has_pipe("a | b"));
        assert!(!has_pipe("a || b"));
        assert!(!has_pipe("echo 'a|b'"));
    }
}
