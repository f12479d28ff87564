//! Option parsing as GNU `getopt_long` does it.

// ---------------------------------------------------------------------------
// getopt_long

/// Whether a long option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    /// `no_argument`
    No,
    /// `required_argument`
    Req,
    /// `optional_argument` (only as `--name=value` or `-xvalue`)
    Opt,
}

/// One long option: its name, argument kind and the code it returns.
#[derive(Debug, Clone, Copy)]
pub struct LongOpt {
    /// name without the dashes
    pub name: &'static str,
    /// argument kind
    pub has_arg: HasArg,
    /// the code returned, as a short option's letter
    pub val: char,
}

/// What [`Getopt::next_opt`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// an option and its argument
    Opt(char, Option<String>),
    /// getopt's diagnostic (without the program name)
    Bad(String),
}

/// GNU `getopt_long` with argument permutation: options are returned in
/// order; operands are collected in [`Getopt::operands`].
#[derive(Debug)]
pub struct Getopt<'a> {
    args: Vec<String>,
    idx: usize,
    short: &'a str,
    longs: &'a [LongOpt],
    cluster: Option<(String, usize)>,
    /// the non-option arguments, in order
    pub operands: Vec<String>,
}

impl<'a> Getopt<'a> {
    /// Parses `args` (without the program name).
    pub fn new(args: Vec<String>, short: &'a str, longs: &'a [LongOpt]) -> Getopt<'a> {
        Getopt {
            args,
            idx: 0,
            short,
            longs,
            cluster: None,
            operands: Vec::new(),
        }
    }

    fn short_kind(&self, c: char) -> Option<HasArg> {
        if c == ':' {
            return None;
        }
        let pos = self.short.find(c)?;
        let rest = &self.short[pos + c.len_utf8()..];
        Some(if rest.starts_with("::") {
            HasArg::Opt
        } else if rest.starts_with(':') {
            HasArg::Req
        } else {
            HasArg::No
        })
    }

    /// The next option, or None at the end (operands are then complete).
    pub fn next_opt(&mut self) -> Option<Parsed> {
        if let Some((s, pos)) = self.cluster.take() {
            return Some(self.short_opt(s, pos));
        }
        while self.idx < self.args.len() {
            let a = self.args[self.idx].clone();
            self.idx += 1;
            if a == "--" {
                self.operands.extend(self.args[self.idx..].iter().cloned());
                self.idx = self.args.len();
                return None;
            }
            if let Some(body) = a.strip_prefix("--") {
                return Some(self.long_opt(body));
            }
            if a.len() > 1 && a.starts_with('-') {
                return Some(self.short_opt(a, 1));
            }
            self.operands.push(a);
        }
        None
    }

    fn short_opt(&mut self, s: String, pos: usize) -> Parsed {
        let c = s[pos..].chars().next().unwrap_or('?');
        let next = pos + c.len_utf8();
        let rest = &s[next..];
        match self.short_kind(c) {
            None => {
                if !rest.is_empty() {
                    self.cluster = Some((s.clone(), next));
                }
                Parsed::Bad(format!("invalid option -- '{c}'"))
            }
            Some(HasArg::No) => {
                if !rest.is_empty() {
                    self.cluster = Some((s.clone(), next));
                }
                Parsed::Opt(c, None)
            }
            Some(HasArg::Opt) => Parsed::Opt(c, (!rest.is_empty()).then(|| rest.to_string())),
            Some(HasArg::Req) => {
                if !rest.is_empty() {
                    Parsed::Opt(c, Some(rest.to_string()))
                } else if self.idx < self.args.len() {
                    self.idx += 1;
                    Parsed::Opt(c, Some(self.args[self.idx - 1].clone()))
                } else {
                    Parsed::Bad(format!("option requires an argument -- '{c}'"))
                }
            }
        }
    }

    fn long_opt(&mut self, body: &str) -> Parsed {
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let opt = match self.longs.iter().find(|o| o.name == name) {
            Some(o) => *o,
            None => {
                let m: Vec<&LongOpt> = self
                    .longs
                    .iter()
                    .filter(|o| o.name.starts_with(name))
                    .collect();
                match m.len() {
                    0 => return Parsed::Bad(format!("unrecognized option '--{name}'")),
                    1 => *m[0],
                    _ => {
                        let all: Vec<String> =
                            m.iter().map(|o| format!("'--{}'", o.name)).collect();
                        return Parsed::Bad(format!(
                            "option '--{name}' is ambiguous; possibilities: {}",
                            all.join(" ")
                        ));
                    }
                }
            }
        };
        match opt.has_arg {
            HasArg::No if value.is_some() => {
                Parsed::Bad(format!("option '--{}' doesn't allow an argument", opt.name))
            }
            HasArg::No | HasArg::Opt => Parsed::Opt(opt.val, value),
            HasArg::Req => match value {
                Some(v) => Parsed::Opt(opt.val, Some(v)),
                None if self.idx < self.args.len() => {
                    self.idx += 1;
                    Parsed::Opt(opt.val, Some(self.args[self.idx - 1].clone()))
                }
                None => Parsed::Bad(format!("option '--{}' requires an argument", opt.name)),
            },
        }
    }
}
