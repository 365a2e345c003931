//! The attribute's options: `name = "..."`, `skip(...)`, `skip_all`, `err = display`.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Ident, LitStr};

/// What the attribute asked for.
#[derive(Default)]
pub(crate) struct Options {
    /// The boundary's name, when given.
    pub(crate) name: Option<LitStr>,
    /// Arguments left out of the key, as written (`self` included).
    pub(crate) skip: Vec<Ident>,
    /// `skip_all`: no argument is recorded.
    pub(crate) skip_all: Option<Span>,
    /// `err = display`: the error is recorded as its text.
    pub(crate) err_display: Option<Span>,
}

impl Options {
    pub(crate) fn parse(attr: TokenStream) -> syn::Result<Self> {
        let mut options = Options::default();
        let mut skip_seen: Option<Span> = None;
        let parser = syn::meta::parser(|meta| {
            let path = &meta.path;
            if path.is_ident("name") {
                if options.name.is_some() {
                    return Err(meta.error("`name` is given twice"));
                }
                let name: LitStr = meta.value()?.parse()?;
                if name.value().is_empty() {
                    return Err(syn::Error::new(name.span(), "the name must not be empty"));
                }
                options.name = Some(name);
            } else if path.is_ident("skip") {
                if skip_seen.is_some() {
                    return Err(meta.error("`skip` is given twice: list every argument in one"));
                }
                skip_seen = Some(meta.path.span());
                meta.parse_nested_meta(|arg| match arg.path.get_ident() {
                    Some(ident) if arg.input.is_empty() || arg.input.peek(syn::Token![,]) => {
                        options.skip.push(ident.clone());
                        Ok(())
                    }
                    _ => Err(arg.error("expected an argument's name, as in `skip(pool, self)`")),
                })?;
            } else if path.is_ident("skip_all") {
                if options.skip_all.is_some() {
                    return Err(meta.error("`skip_all` is given twice"));
                }
                options.skip_all = Some(meta.path.span());
            } else if path.is_ident("err") {
                if options.err_display.is_some() {
                    return Err(meta.error("`err` is given twice"));
                }
                let value: Ident = meta.value()?.parse()?;
                if value != "display" {
                    return Err(syn::Error::new(
                        value.span(),
                        "the only error option is `err = display`: record the error as its text",
                    ));
                }
                options.err_display = Some(value.span());
            } else {
                return Err(meta.error(
                    "unknown option: #[retrace::record] takes `name = \"...\"`, `skip(...)`, `skip_all` and `err = display`",
                ));
            }
            Ok(())
        });
        parser.parse2(attr)?;
        if let (Some(span), Some(_)) = (skip_seen, options.skip_all) {
            return Err(syn::Error::new(
                span,
                "`skip_all` already leaves every argument out: drop the `skip(...)`",
            ));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn error(attr: TokenStream) -> String {
        match Options::parse(attr) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_option_parses() {
        let options = Options::parse(quote!(
            name = "users.by_email",
            skip(pool, self),
            err = display
        ))
        .expect("valid");
        assert_eq!(
            options.name.map(|n| n.value()).as_deref(),
            Some("users.by_email")
        );
        let skipped: Vec<String> = options.skip.iter().map(ToString::to_string).collect();
        assert_eq!(skipped, ["pool", "self"]);
        assert!(options.err_display.is_some() && options.skip_all.is_none());
        assert!(Options::parse(quote!(skip_all)).unwrap().skip_all.is_some());
        assert!(Options::parse(quote!()).unwrap().name.is_none());
    }

    #[test]
    fn misuses_are_named() {
        assert!(error(quote!(name = "")).contains("must not be empty"));
        assert!(error(quote!(name = "a", name = "b")).contains("given twice"));
        assert!(error(quote!(skip(a), skip(b))).contains("one"));
        assert!(error(quote!(skip(a::b))).contains("argument's name"));
        assert!(error(quote!(skip(a), skip_all)).contains("already leaves every argument"));
        assert!(error(quote!(err = debug)).contains("err = display"));
        assert!(error(quote!(level = "info")).contains("unknown option"));
        assert!(error(quote!(name = 3)).contains("expected string literal"));
    }
}
